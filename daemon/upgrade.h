/*
 * upgrade.h -- a new binary without dropping a session (HAProxy's -x/-sf,
 * nginx's USR2).
 *
 * The running process listens on UPG_SOCK_NAME in its state_dir (a Unix
 * socket, mode 0600, made by the user poolgate runs as). SIGUSR2 or POST
 * /api/v1/upgrade makes it save its state (synchronously) and fork+exec the
 * binary now at the path of /proc/self/exe (a file replaced on disk is the
 * new binary) with its own arguments plus --upgrade-from SOCKET. The new
 * process connects, receives the listening sockets (services and admin
 * endpoint) with their addresses (upgmsg.h) and hands them to sockact.h,
 * which matches them to its services by address; it loads the state as at
 * a start, and says READY. The old one then tells systemd the new MAINPID,
 * stops polling its listeners (the sockets stay open in the new process:
 * nothing in the kernel's queue is lost), answers GO and keeps relaying its
 * sessions until they end or shutdown_grace, reporting their count on the
 * connection every second (the new one's /status: upgraded_from). A new
 * process that fails before READY (bad configuration, crash) closes the
 * connection: the old one logs it and serves on, as if nothing happened.
 */
#ifndef POOLGATE_UPGRADE_H
#define POOLGATE_UPGRADE_H

#include <stdbool.h>
#include <stddef.h>

#define UPG_SOCK_NAME "upgrade.sock"

struct pg_server;

/* The command line, kept for the re-exec (borrowed: main's argv). */
void upg_set_argv(int argc, char **argv);

/*
 * New process, before srv_init(): connect to path and take the old
 * process's listeners into sockact.h. Returns the connection (for
 * upg_took_over), or -1 when there is nothing to take over from (logged).
 */
int  upg_receive(const char *path);

/* Whether upg_receive() succeeded and upg_took_over() was not called yet. */
bool upg_taking_over(void);

/*
 * New process, once srv_init() succeeded: accept nothing until every VM's
 * health is known (up, or a check failed; 20 s at most), then tell the old
 * one we accept, wait (5 s at most) until it stopped accepting and passed
 * MAINPID to systemd, accept, send READY=1 (notify_start) and follow its
 * draining sessions. fd is upg_receive()'s and is owned by this module from
 * now on, even on failure. Returns 0, or -1 out of memory.
 */
int  upg_took_over(struct pg_server *srv, int fd);

/*
 * Listen on state_dir/UPG_SOCK_NAME for the next upgrade. Returns 0, or -1
 * (logged: upgrades are then refused; poolgate runs on).
 */
int  upg_listen(struct pg_server *srv);

/*
 * Start an upgrade. Returns 0 when the new process was started, -1 with why
 * (one is running, stopping, no socket, no binary, fork failed).
 */
int  upg_start(struct pg_server *srv, char *why, size_t len);

/*
 * Once a second: reap a new process that died, give up on one that did not
 * take over in time; after a hand-over, report the sessions left.
 */
void upg_tick(struct pg_server *srv);

/* Close everything (the socket's file stays: the new process owns it). */
void upg_free(void);

#endif
