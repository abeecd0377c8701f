/*
 * evhttp_harness.h -- the one way unit tests drive an evhttp handler: an
 * event_base with an evhttp server on 127.0.0.1 (port chosen by the
 * kernel), and a raw HTTP/1.1 client on the same base that sends bytes as
 * given and reads the reply by its framing (Content-Length, chunked, or
 * until close), running the loop until the reply is complete or the
 * timeout passes.
 *
 * Why TCP and not a socketpair: libevent 2.1's evhttp takes connections
 * only from a listening socket (no public call hands it a connected fd),
 * and the admin handlers read the client's address (logs, sign-in bound to
 * the address), which a socketpair does not have.
 *
 * Single-threaded: every call runs on the caller's thread. One server per
 * test; requests run one at a time, each on a fresh connection.
 */
#ifndef POOLGATE_EVHTTP_HARNESS_H
#define POOLGATE_EVHTTP_HARNESS_H

#include <stddef.h>

struct event_base;
struct evhttp;
struct evhttp_request;

#define EH_TIMEOUT_MS  5000             /* default wait for one reply */
#define EH_REPLY_MAX   ((size_t)8 << 20) /* bytes of one reply, head included */
#define EH_HEADERS_MAX 64               /* header lines of one reply */

struct eh_server {
	struct event_base *base;        /* owned */
	struct evhttp     *http;        /* owned; a test may set caps on it */
	int                port;        /* where it listens on 127.0.0.1 */
	int                timeout_ms;  /* per request; EH_TIMEOUT_MS after eh_start */
};

struct eh_header {
	const char *name;               /* as sent; points into eh_reply.head */
	const char *value;              /* spaces around it removed */
};

struct eh_reply {
	int              status;        /* the code; -1 when no complete reply */
	char             error[256];    /* why status is -1, else "" */
	char            *head;          /* owned: the status line, split in place */
	const char      *reason;        /* points into head; "" when none */
	struct eh_header h[EH_HEADERS_MAX];
	size_t           nheaders;
	char            *body;          /* owned, NUL-terminated, de-chunked; never NULL after a call */
	size_t           body_len;      /* without the NUL */
};

/*
 * Make s: a new event_base and an evhttp on it bound to 127.0.0.1:0 that
 * hands every request to cb(req, arg) (evhttp_set_gencb) and allows GET,
 * HEAD, POST, PUT and DELETE. Also ignores SIGPIPE for the whole process
 * (a server may close while the client still writes). Returns 0, or -1
 * with s zeroed (nothing to free).
 */
int  eh_start(struct eh_server *s, void (*cb)(struct evhttp_request *, void *),
    void *arg);

/* Free the evhttp and the base of s and zero s; s may be zeroed already. */
void eh_stop(struct eh_server *s);

/*
 * Send req[0..len) exactly as given on a new connection to s, from local
 * address `from` (numeric IPv4, e.g. "127.0.0.2"; NULL: the kernel's
 * choice, 127.0.0.1), and run s->base until the reply is complete: after
 * the head for a request starting "HEAD " and for 1xx, 204 and 304; after
 * the last chunk for chunked; after Content-Length bytes; else when the
 * server closes. At most s->timeout_ms. Other events of the base run
 * meanwhile. Only the first reply is read.
 *
 * r is overwritten (not freed first); free it with eh_reply_free() after
 * either result. Returns 0 with r filled, or -1 with r->status -1 and
 * r->error saying why (connect failed, timeout, closed early, malformed
 * or over EH_REPLY_MAX / EH_HEADERS_MAX); r->body is "" then.
 */
int  eh_exchange(struct eh_server *s, const char *from, const char *req,
    size_t len, struct eh_reply *r);

/*
 * Build a request and eh_exchange() it: "METHOD URI HTTP/1.1", then
 * "Host: 127.0.0.1:PORT" unless headers has a Host line, then headers as
 * given (zero or more lines each ending "\r\n"; may be NULL), then
 * "Content-Length" when body is not NULL or the method is POST or PUT (as
 * libevent's client does), then "Connection: close", then body[0..bodylen)
 * (body may be NULL). Same result and contract as eh_exchange().
 */
int  eh_request(struct eh_server *s, const char *from, const char *method,
    const char *uri, const char *headers, const char *body, size_t bodylen,
    struct eh_reply *r);

/*
 * The value of the first header of r named `name` (case-insensitive), or
 * NULL when there is none. Borrowed: it dies with eh_reply_free(r).
 */
const char *eh_header(const struct eh_reply *r, const char *name);

/* Free what r owns and zero it; r may be zeroed already. */
void eh_reply_free(struct eh_reply *r);

#endif
