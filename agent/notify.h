/*
 * notify.h -- messages to users' terminals, as wall(1) writes them.
 *
 * The agent writes to dev_root/<tty> of the sessions itself rather than run
 * wall(1): it can then reach one user (a stale-work notice) or everyone (an
 * Azure eviction), and it needs only write access to the terminals (group
 * tty, which the unit grants; a terminal with `mesg n` is skipped, as wall
 * does for a user who is not root).
 */
#ifndef POOLGATE_AGENT_NOTIFY_H
#define POOLGATE_AGENT_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

#include "agent/sessions.h"

#define NT_TEXT_MAX 1024    /* bytes of a message, banner included */

/*
 * Pure. The message as written to a terminal: a bell and a banner line
 * ("Broadcast message from poolgate-agent@HOST (TIME UTC):"), a blank line,
 * text, each line ended by CR LF; control bytes of text other than LF
 * dropped; cut to NT_TEXT_MAX. Returns the length written to buf.
 */
size_t nt_format(const char *host, uint64_t wall_ms, const char *text,
    char *buf, size_t size);

/*
 * Write msg (len bytes) once to each distinct safe tty among s[0..n) of
 * user (NULL: every session). Only character devices are written, opened
 * without following links, without becoming a controlling terminal and
 * without blocking (a full terminal loses the message). Returns the number
 * of terminals written.
 */
size_t nt_send(const char *dev_root, const struct ag_session *s, size_t n,
    const char *user, const char *msg, size_t len);

#endif
