/*
 * sockact.h -- socket activation: listening sockets systemd opened for us
 * (a .socket unit; sd_listen_fds(3): LISTEN_PID, LISTEN_FDS, fds from 3).
 * Each is matched to a service's listen address by the address it is bound
 * to, so the order of ListenStream= lines does not matter. A socket no
 * service names is kept (a reload may name it later) and logged.
 *
 * A binary upgrade (upgrade.h) passes the old process's listeners the same
 * way (sa_add), so they are matched to services by the same rule.
 */
#ifndef POOLGATE_SOCKACT_H
#define POOLGATE_SOCKACT_H

#include <stddef.h>
#include <sys/socket.h>

/*
 * Take the sockets passed to this process, once, at start: each must be a
 * listening TCP socket; anything else is logged and closed. Clears the
 * variables, so that hooks do not inherit them. Returns how many were kept.
 */
size_t sa_init(void);

/*
 * Keep fd, a socket passed to this process (`from` names who passed it, for
 * the log), to be matched by sa_take(). Returns 0, or -1 when it is not a
 * listening TCP socket or too many were passed (then it is closed, logged).
 */
int    sa_add(int fd, const char *from);

/*
 * The passed socket bound to sa (same family, address and port), now the
 * caller's (non-blocking, close-on-exec), or -1 when there is none.
 */
int    sa_take(const struct sockaddr_storage *sa);

/* Passed sockets no sa_take() claimed yet. */
size_t sa_left(void);

/* Close the passed sockets no sa_take() claimed; returns how many. */
size_t sa_close_left(void);

#endif
