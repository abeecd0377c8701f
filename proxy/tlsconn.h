/*
 * tlsconn.h -- a tcp service with TLS: terminate TLS, learn the user from
 * the server name (user_from "sni"), route, relay the decrypted stream.
 *
 * This is how SSH is routed by user name and stays end to end encrypted:
 * the client wraps its untouched SSH stream in TLS (OpenSSH's
 * `ProxyCommand openssl s_client -servername %r.SUFFIX ...`), poolgate
 * reads only the TLS server name, and the SSH bytes inside go to the VM's
 * sshd as they are. A server name that is not <user><sni_suffix> is
 * refused in the handshake with an unrecognized_name alert; a client that
 * sends none is routed by its address, like a plain tcp service.
 *
 * Everything here runs on the main thread; the relay is proxy/relay.c.
 * A connection is counted like a tcp session (mbr_session_start/end under
 * `user:<name>` or `ip:<addr>`) from the moment its VM is picked.
 */
#ifndef POOLGATE_TLSCONN_H
#define POOLGATE_TLSCONN_H

#include <sys/socket.h>

#include <event2/util.h>

#include "proxy/proxy.h"

/*
 * Take an accepted client socket of a tcp service with svc->ssl_server
 * (ownership of fd passes here). Limits were applied and counted by the
 * caller (px->nconns, px->lim), as for session_accept().
 */
void   tconn_accept(struct px_ctx *px, struct service *svc,
    evutil_socket_t fd, const struct sockaddr *sa, socklen_t salen);

/* End every TLS connection now (shutdown). */
void   tconn_stop_all(struct px_ctx *px);

/* Live TLS connections. */
size_t tconn_count(const struct px_ctx *px);

/* px_foreach_live() over the TLS tcp sessions (mode "tls-ssh"). */
void   tconn_foreach_live(const struct px_ctx *px,
    void (*fn)(const struct px_live *l, void *arg), void *arg);

#endif
