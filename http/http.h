/*
 * http.h -- a strict, bounded HTTP/1.1 message-head parser and a streaming
 * chunked-body tracker (pure: no I/O, no allocation, no globals).
 *
 * poolgate forwards each message verbatim; it parses a head only to route
 * the request, to know where the message ends (so the next head can be
 * parsed) and to see an Upgrade to websocket. So the parser does not copy:
 * every string it reports is a slice (pointer, length) into the caller's
 * buffer, valid as long as that buffer is unchanged. Field values are
 * trimmed of surrounding spaces and tabs.
 *
 * The caller may call a parse function again with the same, longer buffer
 * each time more bytes arrive: the parse starts from scratch (O(len), len is
 * at most HTTP_HEAD_MAX) and a verdict never changes as bytes are appended.
 * HTTP_AGAIN is only returned while the buffer is under every cap, so the
 * caller never needs to buffer more than HTTP_HEAD_MAX bytes for a head.
 *
 * Strictness, for a proxy that must see message boundaries exactly as the
 * JupyterHub behind it does (request smuggling): lines end in CRLF only (a
 * bare CR or bare LF is refused); no control character other than HTAB (in
 * field values only) anywhere in a head; no obsolete line folding; no
 * whitespace between a field name and its colon; Content-Length with
 * Transfer-Encoding is refused; several Content-Length values are accepted
 * only when they are all the same number (as repeated fields or as a comma
 * list) and are then treated as one; a request's Transfer-Encoding must be
 * exactly `chunked`.
 */
#ifndef POOLGATE_HTTP_H
#define POOLGATE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_AGAIN          0      /* parse: the head is not complete yet */
#define HTTP_LINE_MAX       8192   /* request/status line, without its CRLF */
#define HTTP_HEAD_MAX       16384  /* whole head, with every CRLF */
#define HTTP_FIELDS_MAX     100    /* header fields in a head, trailer fields */
#define HTTP_CHUNK_LINE_MAX 4096   /* chunk-size line (with extensions) and
                                      each trailer line, without CRLF */

/* Statuses a parse can ask the caller to answer (as -status). */
#define HTTP_ERR_BAD_REQUEST      400
#define HTTP_ERR_URI_TOO_LONG     414
#define HTTP_ERR_FIELDS_TOO_LARGE 431
#define HTTP_ERR_NOT_IMPLEMENTED  501
#define HTTP_ERR_BAD_GATEWAY      502  /* every response-parse error */
#define HTTP_ERR_VERSION          505

/* A piece of the caller's buffer; {NULL, 0} when absent. */
struct http_slice {
	const char *p;
	size_t      len;
};

struct http_field {
	struct http_slice name;   /* a token, as sent (compare case-insensitively) */
	struct http_slice value;  /* without leading/trailing SP and HTAB; may be empty */
};

/* The header fields of one head, in the order received. */
struct http_fields {
	size_t            n;
	struct http_field f[HTTP_FIELDS_MAX];
};

enum http_method {
	HTTP_M_OTHER = 0,  /* any other valid token (methods are case-sensitive) */
	HTTP_M_GET,
	HTTP_M_HEAD,
	HTTP_M_POST,
	HTTP_M_PUT,
	HTTP_M_DELETE,
	HTTP_M_OPTIONS,
	HTTP_M_PATCH,
	HTTP_M_CONNECT,    /* recognised, then refused with 501 */
};

/* Where the body after a head ends. */
enum http_body {
	HTTP_BODY_NONE = 0,  /* no body: the next message starts right after the head */
	HTTP_BODY_LENGTH,    /* exactly content_length (> 0) bytes */
	HTTP_BODY_CHUNKED,   /* chunked: track it with http_chunked_feed() */
	HTTP_BODY_CLOSE,     /* responses only: everything until the server closes */
};

struct http_req {
	enum http_method   method;
	struct http_slice  method_name;    /* the token as sent */
	struct http_slice  target;         /* origin-form ("/path?query"), or "*" for OPTIONS */
	int                version;        /* 10 or 11 (HTTP/1.0, HTTP/1.1) */
	struct http_fields fields;

	enum http_body     body;           /* NONE, LENGTH or CHUNKED */
	uint64_t           content_length; /* declared value, 0 when absent */
	bool               keep_alive;     /* the connection may carry another request */
	bool               upgrade_websocket; /* HTTP/1.1 GET with Connection: upgrade,
	                                      Upgrade: websocket, a Sec-WebSocket-Key
	                                      and Sec-WebSocket-Version: 13 */
	bool               expect_continue;/* HTTP/1.1 with Expect: 100-continue */
	struct http_slice  host;           /* the Host value; {NULL,0} only in HTTP/1.0 without Host */
	struct http_slice  cookie;         /* the first Cookie field's value */
	size_t             ncookies;       /* Cookie fields (iterate with http_field_next) */
	struct http_slice  content_type;   /* the first Content-Type value */
	struct http_slice  ws_key;         /* Sec-WebSocket-Key, when upgrade_websocket */

	const char        *why;            /* after an error: a static reason for the log */
};

struct http_resp {
	int                version;        /* 10 or 11 */
	int                status;         /* 100..599 */
	struct http_slice  reason;         /* may be empty */
	struct http_fields fields;

	enum http_body     body;
	uint64_t           content_length; /* declared value, 0 when absent (even
	                                      when body is NONE, as for HEAD) */
	bool               keep_alive;     /* the connection may carry another response */
	bool               upgrade_websocket; /* 101 with Connection: upgrade and
	                                      Upgrade: websocket */
	struct http_slice  content_type;

	const char        *why;
};

/*
 * Parse the request head at the start of buf[0..len).
 *
 * Returns HTTP_AGAIN (0) when the head is incomplete and no cap is reached
 * yet (then len < HTTP_HEAD_MAX); the head's length in bytes (> 0, through
 * the blank line; the body, if any, starts at buf + that length) when it is
 * complete and valid; or -status when the caller should answer status and
 * close: -400 malformed, -414 request line over HTTP_LINE_MAX, -431 head
 * over HTTP_HEAD_MAX or more than HTTP_FIELDS_MAX fields, -501 CONNECT or a
 * transfer coding other than chunked, -505 an HTTP version other than 1.0 or
 * 1.1. Empty lines before the request line are skipped (RFC 9112 2.2) and
 * count in the head's length.
 *
 * `out` is always written: on success every member is set, and its slices
 * point into buf; on error out->why says why (a static string); on
 * HTTP_AGAIN its contents are unspecified. buf may be NULL only when len is
 * 0; out must not be NULL.
 */
int http_parse_request(const char *buf, size_t len, struct http_req *out);

/*
 * Point every slice of req, the result of a successful parse of a buffer
 * starting at `from`, at the same bytes of `to`, a copy of that buffer (at
 * least as long as the head): req is then what a parse of `to` would give,
 * without parsing again.
 */
void http_req_rebase(struct http_req *req, const char *from, const char *to);

/*
 * Parse the response head at the start of buf[0..len), the answer to a
 * request made with req_method (HEAD responses have no body). Returns like
 * http_parse_request(), except that every error is -502: the caller answers
 * the client 502 and closes both sides. A 1xx other than 101 is an interim
 * response: another response to the same request follows it. After a 101,
 * the connection carries raw bytes both ways.
 */
int http_parse_response(const char *buf, size_t len, enum http_method req_method,
    struct http_resp *out);

/*
 * The next field called `name` (compared case-insensitively; NUL-terminated)
 * in fs, starting at index *pos (0 to start; pos may be NULL to get the
 * first). On a match *pos is set past it, so a loop walks every occurrence.
 * Returns a pointer into fs, or NULL when there is no further match.
 */
const struct http_field *http_field_next(const struct http_fields *fs,
    const char *name, size_t *pos);

/*
 * Whether the comma-separated list value[0..len) (a Connection or Upgrade
 * value) has an element equal to token, case-insensitively; spaces around
 * elements are ignored. value may be NULL only when len is 0.
 */
bool http_list_has(const char *value, size_t len, const char *token);

/*
 * May a request with method m be sent again on a fresh connection when the
 * VM closed the old one before answering? True for GET, HEAD and OPTIONS
 * only: a retried POST, PUT, DELETE or PATCH could act twice.
 */
bool http_method_idempotent(enum http_method m);

/* The reason phrase for status ("Bad Request"), "Unknown" for others. */
const char *http_reason(int status);

/*
 * Chunked body tracker. The proxy forwards chunked bodies as they come and
 * never de-chunks; the tracker only walks the framing to find where the
 * message ends: chunk-size lines (hex, leading zeros allowed, value at most
 * 2^63-1, optional `;extensions`), chunk data and its CRLF, the zero-size
 * last chunk, optional trailer fields and the final CRLF. It keeps all its
 * state in the struct, so a body may be fed split at any byte.
 */
enum http_chunked_result {
	HTTP_CHUNKED_ERROR = -1,  /* malformed; close the connection */
	HTTP_CHUNKED_MORE  = 0,   /* every byte fed is body; the message goes on */
	HTTP_CHUNKED_DONE  = 1,   /* the message ended */
};

struct http_chunked {
	int         state;
	uint64_t    size;       /* chunk size being read, then data bytes left */
	size_t      ndigits;
	size_t      line;       /* bytes in the current size or trailer line */
	size_t      trailer;    /* bytes in the trailer section so far */
	size_t      ntrailers;
	const char *why;        /* after HTTP_CHUNKED_ERROR: a static reason */
};

/* Set up c for the first byte of a chunked body. */
void http_chunked_init(struct http_chunked *c);

/*
 * Feed the next len bytes of the body. *consumed is set to the number of
 * bytes of buf that belong to the body: len with HTTP_CHUNKED_MORE; up to
 * and including the final CRLF with HTTP_CHUNKED_DONE (what follows is the
 * next message); the offset of the offending byte with HTTP_CHUNKED_ERROR
 * (c->why says why). Once DONE or ERROR, further calls return the same with
 * *consumed = 0. buf may be NULL only when len is 0.
 */
int http_chunked_feed(struct http_chunked *c, const char *buf, size_t len,
    size_t *consumed);

#endif
