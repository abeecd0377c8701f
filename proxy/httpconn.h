/*
 * httpconn.h -- a client connection of a mode "http" service (JupyterHub).
 *
 * Requests are parsed one at a time and each is routed on its own: by the
 * user it names (/user/<name>/, the login form), then by poolgate's signed
 * cookie, then by client address, then by load. Responses carry the cookie
 * naming the VM. An Upgrade to websocket turns the connection into a plain
 * relay. Jupyter sessions (a user active on a VM) are counted through
 * mbr_user_seen(), not per connection.
 */
#ifndef POOLGATE_HTTPCONN_H
#define POOLGATE_HTTPCONN_H

#include <sys/socket.h>

#include <event2/util.h>

#include "proxy/proxy.h"

/*
 * Take an accepted client socket of an http service (ownership of fd passes
 * here). As for session_accept(), the caller already counted it in
 * px->nconns and px->lim; the connection releases both when it ends.
 */
void   hconn_accept(struct px_ctx *px, struct service *svc,
    evutil_socket_t fd, const struct sockaddr *sa, socklen_t salen);

/* Close every HTTP connection now (end of the shutdown grace). */
void   hconn_stop_all(struct px_ctx *px);

/* Open HTTP connections. */
size_t hconn_count(const struct px_ctx *px);

#endif
