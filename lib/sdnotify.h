/*
 * sdnotify.h -- tell systemd how the service is doing (Type=notify) without
 * libsystemd: one datagram to $NOTIFY_SOCKET, as sd_notify(3) documents
 * (a path, or an abstract socket written "@name"). Used by poolgate and the
 * agent.
 */
#ifndef POOLGATE_SDNOTIFY_H
#define POOLGATE_SDNOTIFY_H

/*
 * Send state ("READY=1", "STOPPING=1", "RELOADING=1\nMONOTONIC_USEC=...",
 * "STATUS=...") when NOTIFY_SOCKET is set. Returns 1 when sent, 0 when not
 * under systemd, -1 on an error (nothing else to do about it).
 */
int sd_notify_text(const char *state);

/*
 * The watchdog period systemd asks for (WatchdogSec=): WATCHDOG_USEC in
 * microseconds, when WATCHDOG_PID is absent or this process. Returns it, or
 * 0 when there is no watchdog for us.
 */
unsigned long long sd_watchdog_usec(void);

#endif
