/*
 * serve.h -- the agent's port on the event loop: one listener per `listen`
 * address, each connection sniffed (proto.h) and answered with the
 * agent-check line or one HTTP/1.1 response, then closed.
 *
 * Timing, per connection: the line goes out as soon as the first bytes are
 * not an HTTP method, or line_wait after the accept when nothing came (a
 * silent checker: poolgate's check_agent.c, HAProxy's agent-check). An HTTP
 * client has http_timeout from the accept to send its head (else 408) and
 * again to read the answer. At most max_connections at once; more are
 * closed on accept.
 */
#ifndef POOLGATE_AGENT_SERVE_H
#define POOLGATE_AGENT_SERVE_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "agent/collect.h"
#include "agent/conf.h"

struct srv;

/*
 * Bind every listen address of cfg and serve on base; the report and the
 * pending-event drain come from col (borrowed; outlives the server). cfg is
 * borrowed until srv_set_config() or srv_free(). Returns NULL with a
 * message in err when an address cannot be bound.
 */
struct srv *srv_new(struct event_base *base, struct col *col,
    const struct acf *cfg, char *err, size_t errlen);

/* Use cfg (borrowed) for new connections; the listeners stay as they are. */
void srv_set_config(struct srv *s, const struct acf *cfg);

/* The port listener i is bound to (for tests that listen on port 0). */
int  srv_port(const struct srv *s, size_t i);

/* Close the listeners and every connection. s may be NULL. */
void srv_free(struct srv *s);

/*
 * The agent-check line as it would be sent now (LF included) into buf, from
 * cfg's proc_root, ncpu and drain file and col's pending event. Returns its
 * length.
 */
size_t srv_line(const struct acf *cfg, struct col *col, char *buf, size_t size);

#endif
