/*
 * sdnotify.h -- tell systemd how the service is doing (Type=notify) without
 * libsystemd: one datagram to $NOTIFY_SOCKET, as sd_notify(3) documents.
 */
#ifndef POOLGATE_AGENT_SDNOTIFY_H
#define POOLGATE_AGENT_SDNOTIFY_H

/*
 * Send state ("READY=1", "STOPPING=1", "RELOADING=1\nMONOTONIC_USEC=...",
 * "STATUS=...") when NOTIFY_SOCKET is set. Returns 1 when sent, 0 when not
 * under systemd, -1 on an error (nothing else to do about it).
 */
int sd_notify_text(const char *state);

#endif
