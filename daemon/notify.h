/*
 * notify.h -- poolgate under systemd (Type=notify): READY=1 once the
 * listeners accept and the checks started, RELOADING=1 (with
 * MONOTONIC_USEC) and READY=1 around a reload, STOPPING=1, STATUS= lines
 * with the VMs up and the sessions, and WATCHDOG=1 from the event loop when
 * systemd asks for a watchdog (WatchdogSec=). Nothing when NOTIFY_SOCKET is
 * not set. One per process: the notify socket is the process's.
 */
#ifndef POOLGATE_NOTIFY_H
#define POOLGATE_NOTIFY_H

#include <stdbool.h>

struct pg_server;

/*
 * After srv_init() succeeded: send READY=1 with a status, start the
 * watchdog timer (every third of WATCHDOG_USEC, so at least twice per
 * period even when the loop is busy) and a status refresh, both on the
 * server's event base. Returns 0, or -1 out of memory.
 */
int  notify_start(struct pg_server *srv);

/* Before a reload is read: RELOADING=1 and MONOTONIC_USEC=now. */
void notify_reloading(void);

/* After a reload: READY=1, with a status saying whether it was refused. */
void notify_reloaded(struct pg_server *srv, bool ok);

/* Stopping (SIGTERM): STOPPING=1 with the sessions still running. */
void notify_stopping(struct pg_server *srv);

/*
 * A binary upgrade handed over to pid (upgrade.h): MAINPID=pid, so that
 * systemd follows the new process, and nothing more from this one.
 */
void notify_handover(int pid);

/* Free the timers (before the event base goes). */
void notify_free(void);

#endif
