/*
 * session.h -- one client connection: choose a VM, connect, relay, account.
 *
 * A session is counted on its VM (backend->sessions) and under its affinity
 * key from the moment the VM is picked, so a burst of logins spreads out
 * before any of them has connected; a failed connect takes the count back and
 * tries the next choice (at most SESSION_MAX_TRIES VMs).
 */
#ifndef POOLGATE_SESSION_H
#define POOLGATE_SESSION_H

#include <sys/socket.h>

#include <event2/util.h>

#include "proxy/proxy.h"

#define SESSION_MAX_TRIES 3
/* A relayed session gets TCP keepalive on its VM socket after this long. */
#define SESSION_KEEPALIVE_AFTER_MS 1000

/*
 * Take an accepted client socket (ownership of fd passes here; it is closed
 * on every failure) for service svc and start its session. Limits must have
 * been applied by the caller, which already counted the connection in
 * px->nconns and in px->lim; the session releases both when it ends.
 */
void session_accept(struct px_ctx *px, struct service *svc,
    evutil_socket_t fd, const struct sockaddr *sa, socklen_t salen);

/*
 * Give the oldest connection waiting in svc's queue to a VM if one can take
 * it. Returns true when one left the queue (call again for the next).
 */
bool session_dequeue(struct px_ctx *px, struct service *svc);

/* Once a second: keepalive for the sessions that lasted (see session.c). */
void session_tick(struct px_ctx *px, uint64_t now);

/* Close queued connections whose wait is over. */
void session_queue_expire(struct px_ctx *px, struct service *svc,
    uint64_t now);

/*
 * Start the relay threads (`workers`; 0: relay on the main thread). Returns
 * 0, or -1 with errno set.
 */
int  session_workers_start(struct px_ctx *px, size_t nthreads);

/*
 * End every live session (end of the shutdown grace). Sessions on worker
 * threads end there; their ends reach the main loop as messages.
 */
void session_stop_all(struct px_ctx *px);

/*
 * After the main loop returned: end every session, stop and join the relay
 * threads, and account every session's end. No session is left after it.
 */
void session_workers_stop(struct px_ctx *px);

/* Number of live sessions. */
size_t session_count(const struct px_ctx *px);

#endif
