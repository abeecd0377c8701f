/*
 * proto.h -- what poolgate-agent says on its port, and how it reads what a
 * client sends there (pure: no sockets, no clock).
 *
 * One port, two protocols. A connection whose first bytes are an HTTP
 * method and a space ("GET ", "HEAD ", "POST ", ...) is HTTP/1.1: one
 * request head, bounded in bytes and lines, answered and closed. Any other
 * first bytes, or none within the line wait, get the HAProxy agent-check
 * line at once:
 *
 *   [<percent>% ](ready|drain) up[ #<reason>]\n
 *
 * the grammar backends/agent.c reads (poolgate's check_agent.c connects and
 * sends nothing; HAProxy's agent-check sends nothing unless agent-send is
 * set, and then sends something that is not an HTTP method).
 */
#ifndef POOLGATE_AGENT_PROTO_H
#define POOLGATE_AGENT_PROTO_H

#include <stdbool.h>
#include <stddef.h>

#define AP_HEAD_MAX      8192   /* bytes of a request head, CRLFCRLF included */
#define AP_FIELDS_MAX    64     /* header fields of a request */
#define AP_TARGET_MAX    1024   /* bytes of a request target */
#define AP_REASON_MAX    100    /* bytes of the line's #reason */
#define AP_LINE_MAX      (4 + 1 + 5 + 1 + 2 + 2 + AP_REASON_MAX + 1)

enum ap_sniff {
	AP_SNIFF_MORE = 0,  /* a proper prefix of a method so far: wait */
	AP_SNIFF_HTTP,      /* an HTTP method and a space */
	AP_SNIFF_LINE,      /* anything else: answer the agent-check line */
};

/*
 * Classify the first len bytes a client sent. len 0 gives AP_SNIFF_MORE
 * (the caller's line wait decides). Methods are the RFC 9110 ones, upper
 * case, as HTTP requires.
 */
enum ap_sniff ap_sniff(const char *buf, size_t len);

/* What a request head says, when ap_parse_head() returns 200. */
struct ap_request {
	char method[8];                  /* "GET", "HEAD", ... */
	char path[AP_TARGET_MAX + 1];    /* the target up to '?' or '#' */
	int  minor;                      /* HTTP/1.<minor>: 0 or 1 */
};

/*
 * Length of the head at the start of buf (up to and including the blank
 * line that ends it, CRLF or bare LF), or 0 when it is not complete yet.
 * Looks at no more than AP_HEAD_MAX bytes.
 */
size_t ap_head_len(const char *buf, size_t len);

/*
 * Parse a complete head (len bytes, as ap_head_len() measured it; not
 * NUL-terminated). Returns the HTTP status of the answer: 200 for a well
 * formed request of /v1/report with GET or HEAD (then *req is filled), 404
 * for another path, 405 for another method, 400 for anything malformed
 * (request line, version other than HTTP/1.0 or 1.1, a field without a
 * name or colon, obs-fold, a control byte, more than AP_FIELDS_MAX fields,
 * HTTP/1.1 without exactly one Host), 414 for a target over AP_TARGET_MAX,
 * 431 for a head over AP_HEAD_MAX. *why gets a static reason for the log.
 */
int  ap_parse_head(const char *buf, size_t len, struct ap_request *req,
    const char **why);

/* The path the report is served at. */
#define AP_REPORT_PATH "/v1/report"

/* Reason phrase of the statuses the agent sends ("OK", "Not Found", ...). */
const char *ap_status_text(int status);

/*
 * Write the head of an answer with `status`, Content-Type ctype and a body
 * of body_len bytes, with Connection: close (and Allow: GET, HEAD for 405,
 * Retry-After: 1 for 503), into buf of size bytes. Returns its length, or
 * 0 when it does not fit.
 */
size_t ap_response_head(int status, const char *ctype, size_t body_len,
    char *buf, size_t size);

/*
 * The agent-check line, LF included, into buf (at least AP_LINE_MAX + 1
 * bytes): pct -1 leaves the percent out (poolgate then keeps its last one),
 * else 1..100 is written; drain chooses drain over ready; reason (NULL or
 * "" for none) is written after '#', its non-printable bytes dropped and
 * cut to AP_REASON_MAX. Returns the length.
 */
size_t ap_line(int pct, bool drain, const char *reason, char *buf, size_t size);

#endif
