/*
 * http.c -- strict, bounded HTTP/1.1 head parser and chunked-body tracker.
 *
 * A head is read in two passes. The first walks it line by line from the
 * start, checking each line's bytes and syntax in order, so that whichever
 * defect comes first decides the answer and appending bytes never changes a
 * verdict already reached (the fuzz targets check this). The second pass
 * looks at the fields that decide framing and connection handling.
 */
#include <string.h>

#include "http/http.h"

enum line_rc {
	LN_OK = 0,
	LN_AGAIN,
	LN_BAD,        /* why is set */
	LN_LONG_LINE,  /* more than maxline content bytes */
	LN_LONG_HEAD,  /* the head would pass HTTP_HEAD_MAX */
};

enum ck_state {
	CK_SIZE = 0,   /* hex digits of a chunk size */
	CK_SIZE_WS,    /* spaces after the size: only ';' may follow */
	CK_EXT,        /* chunk extensions, up to CR */
	CK_SIZE_LF,
	CK_DATA,
	CK_DATA_CR,
	CK_DATA_LF,
	CK_TR_START,   /* start of a trailer line, or the final CRLF */
	CK_TR_NAME,
	CK_TR_VALUE,
	CK_TR_LF,
	CK_FINAL_LF,
	CK_DONE,
	CK_ERROR,
};

/* What the fields of a head say, before request/response rules apply. */
struct finfo {
	size_t   ncl;            /* Content-Length fields */
	uint64_t cl;
	bool     te;             /* a Transfer-Encoding field was present */
	size_t   te_codings;     /* non-empty codings, all fields together */
	size_t   te_chunked;     /* how many of them are "chunked" */
	bool     te_last_chunked;
	bool     te_bad;         /* a coding that is not a bare token */
	bool     conn_close, conn_keep_alive, conn_upgrade;
	bool     upgrade_ws;
	bool     expect_continue;
	size_t   nhost;
	struct http_slice host;
	size_t   ncookie;
	struct http_slice cookie;
	size_t   nctype;
	struct http_slice ctype;
	size_t   nws_key;
	struct http_slice ws_key;
	size_t   nws_version;
	bool     ws_version_13;
};

static bool
is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

static bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* RFC 9110 5.6.2 tchar */
static bool
is_tchar(unsigned char c)
{
	if (is_alpha(c) || is_digit(c))
		return true;
	/* A switch, not strchr(): this runs for every byte of a field name. */
	switch (c) {
	case '!': case '#': case '$': case '%': case '&': case '\'':
	case '*': case '+': case '-': case '.': case '^': case '_':
	case '`': case '|': case '~':
		return true;
	default:
		return false;
	}
}

static bool
is_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static int
hexval(unsigned char c)
{
	if (is_digit(c))
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static unsigned char
lower(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') ? (unsigned char)(c - 'A' + 'a') : c;
}

/*
 * s[0..len) equals the NUL-terminated lit, ignoring ASCII case. The lengths
 * are compared first: most calls pass a literal, whose strlen() the
 * compiler folds, and most names differ in length from the one sought.
 */
static bool
ieq(const char *s, size_t len, const char *lit)
{
	if (len != strlen(lit))
		return false;
	for (size_t i = 0; i < len; i++)
		if (lower((unsigned char)s[i]) != lower((unsigned char)lit[i]))
			return false;
	return true;
}

static bool
is_token(const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++)
		if (!is_tchar((unsigned char)s[i]))
			return false;
	return true;
}

/*
 * The next element of a comma-separated list, trimmed of OWS; empty
 * elements are returned too (with elen 0). *pos starts at 0; returns false
 * once the list is exhausted.
 */
static bool
list_next(const char *v, size_t len, size_t *pos, const char **e, size_t *elen)
{
	const char *comma;
	size_t start = *pos, end;

	if (start > len)
		return false;
	comma = start < len ? memchr(v + start, ',', len - start) : NULL;
	end = comma != NULL ? (size_t)(comma - v) : len;
	*pos = end + 1;
	while (start < end && is_ows((unsigned char)v[start]))
		start++;
	while (end > start && is_ows((unsigned char)v[end - 1]))
		end--;
	*e = v + start;
	*elen = end - start;
	return true;
}

bool
http_list_has(const char *value, size_t len, const char *token)
{
	const char *e;
	size_t elen, pos = 0;

	if (value == NULL)
		return false;
	while (list_next(value, len, &pos, &e, &elen))
		if (ieq(e, elen, token))
			return true;
	return false;
}

const struct http_field *
http_field_next(const struct http_fields *fs, const char *name, size_t *pos)
{
	size_t i;

	for (i = pos != NULL ? *pos : 0; i < fs->n; i++) {
		if (ieq(fs->f[i].name.p, fs->f[i].name.len, name)) {
			if (pos != NULL)
				*pos = i + 1;
			return &fs->f[i];
		}
	}
	if (pos != NULL)
		*pos = fs->n;
	return NULL;
}

bool
http_method_idempotent(enum http_method m)
{
	/*
	 * RFC 9110 9.2.2 counts PUT and DELETE as idempotent too, but a VM
	 * may have acted on them before it closed; only methods that change
	 * nothing are sent twice.
	 */
	return m == HTTP_M_GET || m == HTTP_M_HEAD || m == HTTP_M_OPTIONS;
}

const char *
http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 101: return "Switching Protocols";
	case 200: return "OK";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 417: return "Expectation Failed";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default:  return "Unknown";
	}
}

/*
 * Do the 8 bytes at p hold a control character (a byte below 0x20, or
 * 0x7f)? Word-at-a-time ("determine if a word has a byte less than n",
 * Bit Twiddling Hacks); exact, no false negatives or positives.
 */
static bool
word_has_ctl(const char *p)
{
	const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
	uint64_t x, del;

	memcpy(&x, p, sizeof(x));
	del = x ^ (ones * 0x7f);   /* 0x7f bytes become zero */
	return (((x - ones * 0x20) & ~x) | ((del - ones) & ~del)) & highs;
}

/*
 * Find the CRLF that ends the line starting at buf[start]. Checks bytes in
 * order and stops at the first problem: a control character other than
 * HTAB, a bare CR or LF, a line longer than maxline, or a head that would
 * pass HTTP_HEAD_MAX. The head cap is checked before "need more bytes", so
 * LN_AGAIN always means len < HTTP_HEAD_MAX.
 */
static enum line_rc
scan_line(const char *buf, size_t len, size_t start, size_t maxline,
    size_t *eol, const char **why)
{
	size_t i, lim = len < HTTP_HEAD_MAX ? len : HTTP_HEAD_MAX;

	/* Below lim none of the length checks can stop the scan. */
	if (lim > start && lim - start > maxline)
		lim = start + maxline;
	for (i = start;; i++) {
		unsigned char c;

		/*
		 * Skip, in a tight loop, the bytes that pass every check
		 * below (neither CR, LF nor another control but HTAB); the
		 * checks then run, in their order, on the first other byte.
		 */
		while (i + 8 <= lim && !word_has_ctl(buf + i))
			i += 8;
		while (i < lim && (!is_ctl((unsigned char)buf[i]) || buf[i] == '\t'))
			i++;
		if (i >= HTTP_HEAD_MAX)
			return LN_LONG_HEAD;
		if (i >= len)
			return LN_AGAIN;
		c = (unsigned char)buf[i];
		if (c == '\r') {
			if (i + 1 >= HTTP_HEAD_MAX)
				return LN_LONG_HEAD;
			if (i + 1 >= len)
				return LN_AGAIN;
			if (buf[i + 1] != '\n') {
				*why = "bare CR in head";
				return LN_BAD;
			}
			*eol = i;
			return LN_OK;
		}
		if (i - start >= maxline)
			return LN_LONG_LINE;
		if (c == '\n') {
			*why = "bare LF in head (lines must end in CRLF)";
			return LN_BAD;
		}
		if (is_ctl(c) && c != '\t') {
			*why = "control character in head";
			return LN_BAD;
		}
	}
}

/* "HTTP/d.d": 0 and *version on 1.0/1.1, -505 other digits, -400 garbage. */
static int
parse_version(const char *s, size_t len, int *version, const char **why)
{
	if (len != 8 || memcmp(s, "HTTP/", 5) != 0 || !is_digit((unsigned char)s[5]) ||
	    s[6] != '.' || !is_digit((unsigned char)s[7])) {
		*why = "malformed HTTP version";
		return -HTTP_ERR_BAD_REQUEST;
	}
	if (s[5] != '1' || (s[7] != '0' && s[7] != '1')) {
		*why = "HTTP version not supported";
		return -HTTP_ERR_VERSION;
	}
	*version = s[7] == '0' ? 10 : 11;
	return 0;
}

static enum http_method
method_of(const char *s, size_t len)
{
	static const struct {
		const char      *name;
		enum http_method m;
	} tab[] = {
		{ "GET", HTTP_M_GET },         { "HEAD", HTTP_M_HEAD },
		{ "POST", HTTP_M_POST },       { "PUT", HTTP_M_PUT },
		{ "DELETE", HTTP_M_DELETE },   { "OPTIONS", HTTP_M_OPTIONS },
		{ "PATCH", HTTP_M_PATCH },     { "CONNECT", HTTP_M_CONNECT },
	};
	size_t i;

	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++)
		if (strlen(tab[i].name) == len && memcmp(tab[i].name, s, len) == 0)
			return tab[i].m;
	return HTTP_M_OTHER;
}

/* method SP request-target SP HTTP-version; returns 0 or -status. */
static int
parse_request_line(const char *l, size_t len, struct http_req *out)
{
	const char *sp1, *sp2, *t;
	size_t mlen, tlen, i;
	int rc;

	sp1 = memchr(l, ' ', len);
	mlen = sp1 != NULL ? (size_t)(sp1 - l) : len;
	if (!is_token(l, mlen)) {
		out->why = "invalid method";
		return -HTTP_ERR_BAD_REQUEST;
	}
	if (sp1 == NULL) {
		out->why = "request line without target and version";
		return -HTTP_ERR_BAD_REQUEST;
	}
	t = sp1 + 1;
	sp2 = memchr(t, ' ', len - mlen - 1);
	if (sp2 == NULL) {
		out->why = "request line without HTTP version";
		return -HTTP_ERR_BAD_REQUEST;
	}
	tlen = (size_t)(sp2 - t);
	rc = parse_version(sp2 + 1, len - mlen - 1 - tlen - 1, &out->version, &out->why);
	if (rc != 0)
		return rc;
	out->method = method_of(l, mlen);
	out->method_name.p = l;
	out->method_name.len = mlen;
	if (out->method == HTTP_M_CONNECT) {
		out->why = "CONNECT is not supported";
		return -HTTP_ERR_NOT_IMPLEMENTED;
	}
	if (tlen == 0) {
		out->why = "empty request target";
		return -HTTP_ERR_BAD_REQUEST;
	}
	/* Only origin-form, and asterisk-form for OPTIONS: a reverse proxy in
	 * front of JupyterHub has no use for absolute-form, and refusing it
	 * keeps "the path" unambiguous for user extraction. Targets are
	 * visible ASCII (RFC 3986 needs no more; clients percent-encode). */
	if (tlen == 1 && t[0] == '*') {
		if (out->method != HTTP_M_OPTIONS) {
			out->why = "asterisk target outside OPTIONS";
			return -HTTP_ERR_BAD_REQUEST;
		}
	} else if (t[0] != '/') {
		out->why = "request target is not origin-form";
		return -HTTP_ERR_BAD_REQUEST;
	}
	for (i = 0; i < tlen; i++) {
		unsigned char c = (unsigned char)t[i];

		if (c <= 0x20 || c >= 0x7f) {
			out->why = "invalid byte in request target";
			return -HTTP_ERR_BAD_REQUEST;
		}
	}
	out->target.p = t;
	out->target.len = tlen;
	return 0;
}

/* name ":" OWS value OWS; the bytes were already checked by scan_line. */
static int
parse_field_line(const char *l, size_t len, struct http_field *f, const char **why)
{
	size_t i, vs, ve;

	if (is_ows((unsigned char)l[0])) {
		*why = "obsolete line folding or whitespace before a field";
		return -HTTP_ERR_BAD_REQUEST;
	}
	for (i = 0; i < len && is_tchar((unsigned char)l[i]); i++)
		;
	if (i == len) {
		*why = "header field without colon";
		return -HTTP_ERR_BAD_REQUEST;
	}
	if (l[i] != ':') {
		*why = is_ows((unsigned char)l[i]) ? "whitespace before colon in header field" :
		    "invalid character in header field name";
		return -HTTP_ERR_BAD_REQUEST;
	}
	if (i == 0) {
		*why = "empty header field name";
		return -HTTP_ERR_BAD_REQUEST;
	}
	vs = i + 1;
	ve = len;
	while (vs < ve && is_ows((unsigned char)l[vs]))
		vs++;
	while (ve > vs && is_ows((unsigned char)l[ve - 1]))
		ve--;
	f->name.p = l;
	f->name.len = i;
	f->value.p = l + vs;
	f->value.len = ve - vs;
	return 0;
}

/*
 * The header lines from pos to the blank line. Returns the head length,
 * HTTP_AGAIN or -status (line-level errors only: 400 or 431).
 */
static int
parse_fields(const char *buf, size_t len, size_t pos, struct http_fields *fs,
    const char **why)
{
	size_t eol;

	fs->n = 0;
	for (;;) {
		/* A line that starts with anything but CR is one more field:
		 * refuse it as soon as its first byte is here. */
		if (pos < len && pos < HTTP_HEAD_MAX && buf[pos] != '\r' &&
		    fs->n == HTTP_FIELDS_MAX) {
			*why = "too many header fields";
			return -HTTP_ERR_FIELDS_TOO_LARGE;
		}
		switch (scan_line(buf, len, pos, HTTP_HEAD_MAX, &eol, why)) {
		case LN_OK:
			break;
		case LN_AGAIN:
			return HTTP_AGAIN;
		case LN_BAD:
			return -HTTP_ERR_BAD_REQUEST;
		case LN_LONG_LINE:
		case LN_LONG_HEAD:
			*why = "head too large";
			return -HTTP_ERR_FIELDS_TOO_LARGE;
		}
		if (eol == pos)
			return (int)(pos + 2);
		if (parse_field_line(buf + pos, eol - pos, &fs->f[fs->n], why) != 0)
			return -HTTP_ERR_BAD_REQUEST;
		fs->n++;
		pos = eol + 2;
	}
}

/* Content-Length: 1*DIGIT, or a list of the same number. 0 or -1. */
static int
parse_content_length(const struct http_slice *v, struct finfo *fi, const char **why)
{
	const char *e;
	size_t elen, pos = 0, i;

	while (list_next(v->p, v->len, &pos, &e, &elen)) {
		uint64_t n = 0;

		if (elen == 0) {
			*why = "invalid Content-Length";
			return -1;
		}
		for (i = 0; i < elen; i++) {
			unsigned d;

			if (!is_digit((unsigned char)e[i])) {
				*why = "invalid Content-Length";
				return -1;
			}
			d = (unsigned)(e[i] - '0');
			if (n > ((uint64_t)INT64_MAX - d) / 10) {
				*why = "Content-Length too large";
				return -1;
			}
			n = n * 10 + d;
		}
		if (fi->ncl > 0 && n != fi->cl) {
			*why = "conflicting Content-Length values";
			return -1;
		}
		fi->cl = n;
		fi->ncl++;
	}
	return 0;
}

static void
parse_transfer_encoding(const struct http_slice *v, struct finfo *fi)
{
	const char *e;
	size_t elen, pos = 0;

	fi->te = true;
	while (list_next(v->p, v->len, &pos, &e, &elen)) {
		if (elen == 0)
			continue;
		fi->te_codings++;
		if (!is_token(e, elen))
			fi->te_bad = true;
		fi->te_last_chunked = ieq(e, elen, "chunked");
		if (fi->te_last_chunked)
			fi->te_chunked++;
	}
}

static int
parse_connection(const struct http_slice *v, struct finfo *fi, const char **why)
{
	const char *e;
	size_t elen, pos = 0;

	while (list_next(v->p, v->len, &pos, &e, &elen)) {
		if (elen == 0)
			continue;
		if (!is_token(e, elen)) {
			*why = "invalid Connection header";
			return -1;
		}
		if (ieq(e, elen, "close"))
			fi->conn_close = true;
		else if (ieq(e, elen, "keep-alive"))
			fi->conn_keep_alive = true;
		else if (ieq(e, elen, "upgrade"))
			fi->conn_upgrade = true;
	}
	return 0;
}

static void
set_first(struct http_slice *dst, size_t *count, const struct http_slice *v)
{
	if ((*count)++ == 0)
		*dst = *v;
}

/* Pass two: the fields that matter for framing and routing. 0 or -1. */
static int
scan_fields(const struct http_fields *fs, struct finfo *fi, const char **why)
{
	size_t i;

	memset(fi, 0, sizeof(*fi));
	for (i = 0; i < fs->n; i++) {
		const struct http_slice *n = &fs->f[i].name, *v = &fs->f[i].value;

		if (ieq(n->p, n->len, "content-length")) {
			if (parse_content_length(v, fi, why) != 0)
				return -1;
		} else if (ieq(n->p, n->len, "transfer-encoding")) {
			parse_transfer_encoding(v, fi);
		} else if (ieq(n->p, n->len, "connection")) {
			if (parse_connection(v, fi, why) != 0)
				return -1;
		} else if (ieq(n->p, n->len, "upgrade")) {
			if (http_list_has(v->p, v->len, "websocket"))
				fi->upgrade_ws = true;
		} else if (ieq(n->p, n->len, "expect")) {
			if (http_list_has(v->p, v->len, "100-continue"))
				fi->expect_continue = true;
		} else if (ieq(n->p, n->len, "host")) {
			set_first(&fi->host, &fi->nhost, v);
		} else if (ieq(n->p, n->len, "cookie")) {
			set_first(&fi->cookie, &fi->ncookie, v);
		} else if (ieq(n->p, n->len, "content-type")) {
			set_first(&fi->ctype, &fi->nctype, v);
		} else if (ieq(n->p, n->len, "sec-websocket-key")) {
			set_first(&fi->ws_key, &fi->nws_key, v);
		} else if (ieq(n->p, n->len, "sec-websocket-version")) {
			fi->nws_version++;
			fi->ws_version_13 = v->len == 2 && memcmp(v->p, "13", 2) == 0;
		}
	}
	if (fi->te && fi->te_codings == 0) {
		*why = "empty Transfer-Encoding";
		return -1;
	}
	return 0;
}

/* uri-host [ ":" port ] characters (RFC 3986 reg-name, IP literals). */
static bool
host_valid(const struct http_slice *h)
{
	size_t i;

	if (h->len == 0)
		return false;
	for (i = 0; i < h->len; i++) {
		unsigned char c = (unsigned char)h->p[i];

		if (!is_alpha(c) && !is_digit(c) && strchr("-._~!$&'()*+,;=:[]%", c) == NULL)
			return false;
	}
	return true;
}

/* Request rules on top of the fields; returns head_len or -status. */
static int
request_semantics(struct http_req *out, int head_len)
{
	struct finfo fi;

	if (scan_fields(&out->fields, &fi, &out->why) != 0)
		return -HTTP_ERR_BAD_REQUEST;
	if (fi.nhost > 1) {
		out->why = "more than one Host";
		return -HTTP_ERR_BAD_REQUEST;
	}
	if (fi.nhost == 0 && out->version == 11) {
		out->why = "HTTP/1.1 request without Host";
		return -HTTP_ERR_BAD_REQUEST;
	}
	if (fi.nhost == 1 && !host_valid(&fi.host)) {
		out->why = "invalid Host";
		return -HTTP_ERR_BAD_REQUEST;
	}
	if (fi.te) {
		/* RFC 9112 6.1: Transfer-Encoding in HTTP/1.0, or beside a
		 * Content-Length, is a framing that two parties may read two
		 * ways: refuse it rather than pick one. */
		if (out->version == 10) {
			out->why = "Transfer-Encoding in an HTTP/1.0 request";
			return -HTTP_ERR_BAD_REQUEST;
		}
		if (fi.ncl > 0) {
			out->why = "both Content-Length and Transfer-Encoding";
			return -HTTP_ERR_BAD_REQUEST;
		}
		if (fi.te_bad || fi.te_chunked != 1 || !fi.te_last_chunked) {
			out->why = "chunked is not the final transfer coding, exactly once";
			return -HTTP_ERR_BAD_REQUEST;
		}
		if (fi.te_codings != 1) {
			out->why = "transfer coding other than chunked";
			return -HTTP_ERR_NOT_IMPLEMENTED;
		}
		out->body = HTTP_BODY_CHUNKED;
	} else if (fi.ncl > 0 && fi.cl > 0) {
		out->body = HTTP_BODY_LENGTH;
	} else {
		out->body = HTTP_BODY_NONE;
	}
	out->content_length = fi.cl;
	out->keep_alive = out->version == 11 ? !fi.conn_close :
	    fi.conn_keep_alive && !fi.conn_close;
	/* RFC 9110 7.8 and 10.1.1: an HTTP/1.0 request's Upgrade and
	 * Expect: 100-continue are ignored. */
	out->expect_continue = out->version == 11 && fi.expect_continue;
	if (out->version == 11 && fi.conn_upgrade && fi.upgrade_ws) {
		if (out->method != HTTP_M_GET) {
			out->why = "websocket upgrade with a method other than GET";
			return -HTTP_ERR_BAD_REQUEST;
		}
		if (fi.nws_key != 1 || fi.ws_key.len == 0) {
			out->why = "websocket upgrade without one Sec-WebSocket-Key";
			return -HTTP_ERR_BAD_REQUEST;
		}
		if (fi.nws_version != 1 || !fi.ws_version_13) {
			out->why = "websocket upgrade without Sec-WebSocket-Version: 13";
			return -HTTP_ERR_BAD_REQUEST;
		}
		out->upgrade_websocket = true;
		out->ws_key = fi.ws_key;
	}
	out->host = fi.host;
	out->cookie = fi.cookie;
	out->ncookies = fi.ncookie;
	out->content_type = fi.ctype;
	return head_len;
}

/* The answer to a scan_line() verdict other than LN_OK, for a request. */
static int
req_line_error(enum line_rc lr, bool start_line, const char **why)
{
	switch (lr) {
	case LN_AGAIN:
		return HTTP_AGAIN;
	case LN_LONG_LINE:
		if (start_line) {
			*why = "request line too long";
			return -HTTP_ERR_URI_TOO_LONG;
		}
		/* FALLTHROUGH */
	case LN_LONG_HEAD:
		*why = "head too large";
		return -HTTP_ERR_FIELDS_TOO_LARGE;
	case LN_OK:
	case LN_BAD:
		break;
	}
	return -HTTP_ERR_BAD_REQUEST;
}

int
http_parse_request(const char *buf, size_t len, struct http_req *out)
{
	enum line_rc lr;
	size_t pos = 0, eol;
	int rc;

	memset(out, 0, sizeof(*out));
	/* RFC 9112 2.2: ignore empty lines before the request line (some
	 * clients send a CRLF after a POST body). With maxline 0, a line
	 * that has content comes back as LN_LONG_LINE. */
	while ((lr = scan_line(buf, len, pos, 0, &eol, &out->why)) == LN_OK)
		pos = eol + 2;
	if (lr != LN_LONG_LINE) {
		rc = req_line_error(lr, false, &out->why);
		goto out;
	}
	lr = scan_line(buf, len, pos, HTTP_LINE_MAX, &eol, &out->why);
	if (lr != LN_OK) {
		rc = req_line_error(lr, true, &out->why);
		goto out;
	}
	rc = parse_request_line(buf + pos, eol - pos, out);
	if (rc != 0)
		goto out;
	rc = parse_fields(buf, len, eol + 2, &out->fields, &out->why);
	if (rc <= 0)
		goto out;
	rc = request_semantics(out, rc);
out:
	return rc;
}

static void
rebase(struct http_slice *sl, const char *from, const char *to)
{
	if (sl->p != NULL)
		sl->p = to + (sl->p - from);
}

void
http_req_rebase(struct http_req *req, const char *from, const char *to)
{
	rebase(&req->method_name, from, to);
	rebase(&req->target, from, to);
	for (size_t i = 0; i < req->fields.n; i++) {
		rebase(&req->fields.f[i].name, from, to);
		rebase(&req->fields.f[i].value, from, to);
	}
	rebase(&req->host, from, to);
	rebase(&req->cookie, from, to);
	rebase(&req->content_type, from, to);
	rebase(&req->ws_key, from, to);
}

/* HTTP-version SP 3DIGIT [ SP reason-phrase ]; returns 0 or -502. */
static int
parse_status_line(const char *l, size_t len, struct http_resp *out)
{
	size_t i;

	if (len < 12 || l[8] != ' ' || parse_version(l, 8, &out->version, &out->why) != 0) {
		out->why = "malformed status line";
		return -HTTP_ERR_BAD_GATEWAY;
	}
	out->status = 0;
	for (i = 9; i < 12; i++) {
		if (!is_digit((unsigned char)l[i])) {
			out->why = "malformed status code";
			return -HTTP_ERR_BAD_GATEWAY;
		}
		out->status = out->status * 10 + (l[i] - '0');
	}
	if (out->status < 100 || out->status > 599) {
		out->why = "status code out of range";
		return -HTTP_ERR_BAD_GATEWAY;
	}
	/* The SP before an empty reason is often left out: accept both. */
	if (len > 12 && l[12] != ' ') {
		out->why = "malformed status line";
		return -HTTP_ERR_BAD_GATEWAY;
	}
	out->reason.p = len > 12 ? l + 13 : l + 12;
	out->reason.len = len > 12 ? len - 13 : 0;
	return 0;
}

static int
response_semantics(struct http_resp *out, enum http_method req_method)
{
	struct finfo fi;
	bool nobody;

	if (scan_fields(&out->fields, &fi, &out->why) != 0)
		return -HTTP_ERR_BAD_GATEWAY;
	if (fi.te) {
		if (out->version == 10) {
			out->why = "Transfer-Encoding in an HTTP/1.0 response";
			return -HTTP_ERR_BAD_GATEWAY;
		}
		if (fi.ncl > 0) {
			out->why = "both Content-Length and Transfer-Encoding";
			return -HTTP_ERR_BAD_GATEWAY;
		}
		/* Codings before chunked (gzip, chunked) are forwarded as
		 * they are; chunked twice or not last is not a framing. */
		if (fi.te_bad || fi.te_chunked > 1 ||
		    (fi.te_chunked == 1 && !fi.te_last_chunked)) {
			out->why = "invalid Transfer-Encoding";
			return -HTTP_ERR_BAD_GATEWAY;
		}
	}
	nobody = req_method == HTTP_M_HEAD || out->status < 200 ||
	    out->status == 204 || out->status == 304;
	if (nobody)
		out->body = HTTP_BODY_NONE;
	else if (fi.te && fi.te_last_chunked)
		out->body = HTTP_BODY_CHUNKED;
	else if (fi.te)
		out->body = HTTP_BODY_CLOSE;  /* RFC 9112 6.3 item 4 */
	else if (fi.ncl > 0)
		out->body = fi.cl > 0 ? HTTP_BODY_LENGTH : HTTP_BODY_NONE;
	else
		out->body = HTTP_BODY_CLOSE;
	out->content_length = fi.cl;
	out->keep_alive = out->body != HTTP_BODY_CLOSE &&
	    (out->version == 11 ? !fi.conn_close : fi.conn_keep_alive && !fi.conn_close);
	out->upgrade_websocket = out->status == 101 && fi.conn_upgrade && fi.upgrade_ws;
	out->content_type = fi.ctype;
	return 0;
}

int
http_parse_response(const char *buf, size_t len, enum http_method req_method,
    struct http_resp *out)
{
	enum line_rc lr;
	size_t eol;
	int rc;

	memset(out, 0, sizeof(*out));
	lr = scan_line(buf, len, 0, HTTP_LINE_MAX, &eol, &out->why);
	if (lr != LN_OK) {
		rc = lr == LN_AGAIN ? HTTP_AGAIN : -HTTP_ERR_BAD_GATEWAY;
		if (lr == LN_LONG_LINE)
			out->why = "status line too long";
		else if (lr == LN_LONG_HEAD)
			out->why = "head too large";
		goto out;
	}
	rc = parse_status_line(buf, eol, out);
	if (rc != 0)
		goto out;
	rc = parse_fields(buf, len, eol + 2, &out->fields, &out->why);
	if (rc < 0)
		rc = -HTTP_ERR_BAD_GATEWAY;
	if (rc <= 0)
		goto out;
	if (response_semantics(out, req_method) != 0)
		rc = -HTTP_ERR_BAD_GATEWAY;
out:
	return rc;
}

void
http_chunked_init(struct http_chunked *c)
{
	memset(c, 0, sizeof(*c));
	c->state = CK_SIZE;
}

static void
ck_fail(struct http_chunked *c, const char *why)
{
	c->state = CK_ERROR;
	c->why = why;
}

/* One byte of a trailer line counts against the line and section caps. */
static bool
ck_trailer_byte(struct http_chunked *c, bool content)
{
	if (++c->trailer > HTTP_HEAD_MAX) {
		ck_fail(c, "trailer section too large");
		return false;
	}
	if (content && ++c->line > HTTP_CHUNK_LINE_MAX) {
		ck_fail(c, "trailer line too long");
		return false;
	}
	return true;
}

int
http_chunked_feed(struct http_chunked *c, const char *buf, size_t len,
    size_t *consumed)
{
	size_t i = 0;
	int rc;

	while (i < len && c->state != CK_DONE && c->state != CK_ERROR) {
		unsigned char ch = (unsigned char)buf[i];
		int d;

		switch (c->state) {
		case CK_DATA: {
			/* Data is opaque: skip as much as is here at once. */
			uint64_t n = len - i;

			if (n > c->size)
				n = c->size;
			i += (size_t)n;
			c->size -= n;
			if (c->size == 0)
				c->state = CK_DATA_CR;
			continue;
		}
		case CK_SIZE:
		case CK_SIZE_WS:
		case CK_EXT:
			if (ch == '\r') {
				if (c->ndigits == 0) {
					ck_fail(c, "chunk size expected");
					break;
				}
				if (c->state == CK_SIZE_WS) {
					ck_fail(c, "whitespace after chunk size");
					break;
				}
				c->state = CK_SIZE_LF;
				break;
			}
			if (++c->line > HTTP_CHUNK_LINE_MAX) {
				ck_fail(c, "chunk size line too long");
				break;
			}
			if (c->state == CK_EXT) {
				if (is_ctl(ch) && ch != '\t')
					ck_fail(c, "control character in chunk extension");
				break;
			}
			if (c->state == CK_SIZE && (d = hexval(ch)) >= 0) {
				if (c->size > ((uint64_t)INT64_MAX - (uint64_t)d) / 16) {
					ck_fail(c, "chunk size too large");
					break;
				}
				c->size = c->size * 16 + (uint64_t)d;
				c->ndigits++;
				break;
			}
			if (c->ndigits == 0)
				ck_fail(c, "chunk size expected");
			else if (ch == ';')
				c->state = CK_EXT;
			else if (is_ows(ch))
				c->state = CK_SIZE_WS;  /* BWS, then only ';' */
			else
				ck_fail(c, c->state == CK_SIZE ? "invalid chunk size" :
				    "whitespace after chunk size");
			break;
		case CK_SIZE_LF:
			if (ch != '\n') {
				ck_fail(c, "bare CR in chunk size line");
				break;
			}
			c->line = 0;
			c->state = c->size == 0 ? CK_TR_START : CK_DATA;
			break;
		case CK_DATA_CR:
			if (ch != '\r')
				ck_fail(c, "chunk data not followed by CRLF");
			else
				c->state = CK_DATA_LF;
			break;
		case CK_DATA_LF:
			if (ch != '\n') {
				ck_fail(c, "chunk data not followed by CRLF");
				break;
			}
			c->state = CK_SIZE;
			c->size = 0;
			c->ndigits = 0;
			c->line = 0;
			break;
		case CK_TR_START:
			if (!ck_trailer_byte(c, ch != '\r'))
				break;
			if (ch == '\r')
				c->state = CK_FINAL_LF;
			else if (is_ows(ch))
				ck_fail(c, "obsolete line folding in trailer");
			else if (!is_tchar(ch))
				ck_fail(c, "invalid trailer field name");
			else if (c->ntrailers == HTTP_FIELDS_MAX)
				ck_fail(c, "too many trailer fields");
			else {
				c->ntrailers++;
				c->state = CK_TR_NAME;
			}
			break;
		case CK_TR_NAME:
			if (!ck_trailer_byte(c, true))
				break;
			if (ch == ':')
				c->state = CK_TR_VALUE;
			else if (!is_tchar(ch))
				ck_fail(c, is_ows(ch) ? "whitespace before colon in trailer" :
				    "invalid trailer field name");
			break;
		case CK_TR_VALUE:
			if (!ck_trailer_byte(c, ch != '\r'))
				break;
			if (ch == '\r')
				c->state = CK_TR_LF;
			else if (is_ctl(ch) && ch != '\t')
				ck_fail(c, "control character in trailer");
			break;
		case CK_TR_LF:
			if (!ck_trailer_byte(c, false))
				break;
			if (ch != '\n') {
				ck_fail(c, "bare CR in trailer");
				break;
			}
			c->line = 0;
			c->state = CK_TR_START;
			break;
		case CK_FINAL_LF:
			if (ch != '\n')
				ck_fail(c, "bare CR after last chunk");
			else
				c->state = CK_DONE;
			break;
		default:
			ck_fail(c, "chunked tracker state corrupted");
			break;
		}
		if (c->state == CK_ERROR)
			break;
		i++;
	}
	*consumed = i;
	if (c->state == CK_DONE)
		rc = HTTP_CHUNKED_DONE;
	else if (c->state == CK_ERROR)
		rc = HTTP_CHUNKED_ERROR;
	else
		rc = HTTP_CHUNKED_MORE;
	return rc;
}
