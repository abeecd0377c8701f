/*
 * proto.c -- see proto.h.
 */
#include <stdio.h>
#include <string.h>

#include "agent/proto.h"

#define STR_(x) #x
#define STR(x)  STR_(x)

static const char *const methods[] = {
	"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE",
	"PATCH",
};

enum ap_sniff
ap_sniff(const char *buf, size_t len)
{
	bool more = false;
	size_t i, n;

	if (len == 0)
		return AP_SNIFF_MORE;
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		n = strlen(methods[i]);
		if (len > n) {
			if (memcmp(buf, methods[i], n) == 0 && buf[n] == ' ')
				return AP_SNIFF_HTTP;
		} else if (memcmp(buf, methods[i], len) == 0)
			more = true;    /* "GE", or "GET" without its space yet */
	}
	return more ? AP_SNIFF_MORE : AP_SNIFF_LINE;
}

size_t
ap_head_len(const char *buf, size_t len)
{
	size_t i, n = len < AP_HEAD_MAX ? len : AP_HEAD_MAX;

	for (i = 0; i < n; i++) {
		if (buf[i] != '\n')
			continue;
		if (i + 1 < n && buf[i + 1] == '\n')
			return i + 2;
		if (i + 2 < n && buf[i + 1] == '\r' && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

/* RFC 9110 tchar. */
static bool
is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool
eq_nocase(const char *a, size_t alen, const char *lit)
{
	size_t i;

	if (alen != strlen(lit))
		return false;
	for (i = 0; i < alen; i++) {
		char c = a[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != lit[i])
			return false;
	}
	return true;
}

/*
 * The next line of buf[*at..len): its start and length without CR LF.
 * A CR anywhere but before the LF is malformed (-1); 0 at the end.
 */
static int
next_line(const char *buf, size_t len, size_t *at, const char **line,
    size_t *linelen)
{
	size_t i = *at, end;
	const char *lf;

	if (i >= len)
		return 0;
	lf = memchr(buf + i, '\n', len - i);
	if (lf == NULL)
		return -1;
	end = (size_t)(lf - buf);
	*at = end + 1;
	if (end > i && buf[end - 1] == '\r')
		end--;
	if (memchr(buf + i, '\r', end - i) != NULL)
		return -1;
	*line = buf + i;
	*linelen = end - i;
	return 1;
}

static int
bad(const char **why, const char *what)
{
	*why = what;
	return 400;
}

int
ap_parse_head(const char *buf, size_t len, struct ap_request *req,
    const char **why)
{
	const char *line, *sp1, *sp2, *target, *colon;
	size_t at = 0, linelen, tlen, mlen, i, nfields = 0, nhost = 0, plen;
	int r;

	memset(req, 0, sizeof(*req));
	*why = "";
	if (len > AP_HEAD_MAX) {
		*why = "request head over " STR(AP_HEAD_MAX) " bytes";
		return 431;
	}
	if (next_line(buf, len, &at, &line, &linelen) != 1 || linelen == 0)
		return bad(why, "no request line");

	/* method SP target SP HTTP/1.x, single spaces */
	sp1 = memchr(line, ' ', linelen);
	if (sp1 == NULL)
		return bad(why, "request line without a target");
	mlen = (size_t)(sp1 - line);
	if (mlen == 0 || mlen >= sizeof(req->method))
		return bad(why, "bad method");
	for (i = 0; i < mlen; i++)
		if (!is_tchar((unsigned char)line[i]))
			return bad(why, "bad method");
	target = sp1 + 1;
	sp2 = memchr(target, ' ', linelen - mlen - 1);
	if (sp2 == NULL)
		return bad(why, "request line without a version");
	tlen = (size_t)(sp2 - target);
	if (tlen == 0)
		return bad(why, "empty target");
	if (tlen > AP_TARGET_MAX) {
		*why = "request target too long";
		return 414;
	}
	for (i = 0; i < tlen; i++)
		if ((unsigned char)target[i] <= 0x20 || (unsigned char)target[i] >= 0x7f)
			return bad(why, "bad byte in the target");
	if ((size_t)(line + linelen - (sp2 + 1)) != 8 ||
	    memcmp(sp2 + 1, "HTTP/1.", 7) != 0 ||
	    (sp2[8] != '0' && sp2[8] != '1'))
		return bad(why, "version is not HTTP/1.0 or HTTP/1.1");
	memcpy(req->method, line, mlen);
	req->minor = sp2[8] - '0';

	/* origin-form, or absolute-form (its authority is dropped) */
	if (tlen > 7 && eq_nocase(target, 7, "http://")) {
		const char *slash = memchr(target + 7, '/', tlen - 7);

		if (slash == NULL) {
			target = "/";
			tlen = 1;
		} else {
			tlen -= (size_t)(slash - target);
			target = slash;
		}
	} else if (target[0] != '/')
		return bad(why, "target is not a path");
	for (plen = 0; plen < tlen && target[plen] != '?' && target[plen] != '#';
	    plen++)
		;
	memcpy(req->path, target, plen);
	req->path[plen] = '\0';

	/* header fields, up to the blank line */
	while ((r = next_line(buf, len, &at, &line, &linelen)) == 1) {
		if (linelen == 0)
			break;
		if (++nfields > AP_FIELDS_MAX)
			return bad(why, "too many header fields");
		if (line[0] == ' ' || line[0] == '\t')
			return bad(why, "obsolete line folding");
		colon = memchr(line, ':', linelen);
		if (colon == NULL || colon == line)
			return bad(why, "header field without a name");
		for (i = 0; line + i < colon; i++)
			if (!is_tchar((unsigned char)line[i]))
				return bad(why, "bad byte in a field name");
		for (i = (size_t)(colon - line) + 1; i < linelen; i++) {
			unsigned char c = (unsigned char)line[i];

			if ((c < 0x20 && c != '\t') || c == 0x7f)
				return bad(why, "control byte in a field value");
		}
		if (eq_nocase(line, (size_t)(colon - line), "host"))
			nhost++;
	}
	if (r == -1)
		return bad(why, "malformed line ending");
	if (r == 0)
		return bad(why, "head without its blank line");
	if (req->minor == 1 && nhost != 1)
		return bad(why, "HTTP/1.1 needs exactly one Host");

	if (strcmp(req->path, AP_REPORT_PATH) != 0) {
		*why = "no such path";
		return 404;
	}
	if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
		*why = "method not allowed";
		return 405;
	}
	return 200;
}

const char *
ap_status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	}
	return "Error";
}

size_t
ap_response_head(int status, const char *ctype, size_t body_len, char *buf,
    size_t size)
{
	int n;

	n = snprintf(buf, size,
	    "HTTP/1.1 %d %s\r\n"
	    "Content-Type: %s\r\n"
	    "Content-Length: %zu\r\n"
	    "Cache-Control: no-store\r\n"
	    "%s%s"
	    "Connection: close\r\n"
	    "\r\n",
	    status, ap_status_text(status), ctype, body_len,
	    status == 405 ? "Allow: GET, HEAD\r\n" : "",
	    status == 503 ? "Retry-After: 1\r\n" : "");
	if (n < 0 || (size_t)n >= size)
		return 0;
	return (size_t)n;
}

size_t
ap_line(int pct, bool drain, const char *reason, char *buf, size_t size)
{
	char why[AP_REASON_MAX + 1];
	size_t i, n = 0;
	int w;

	if (reason != NULL)
		for (i = 0; reason[i] != '\0' && n < AP_REASON_MAX; i++) {
			char c = reason[i] == '\t' ? ' ' : reason[i];

			if (c >= 0x20 && c < 0x7f)
				why[n++] = c;
		}
	why[n] = '\0';
	if (pct < 0)
		pct = -1;
	else if (pct < 1)
		pct = 1;
	else if (pct > 100)
		pct = 100;
	if (pct > 0)
		w = snprintf(buf, size, "%d%% %s up%s%s\n", pct,
		    drain ? "drain" : "ready", n > 0 ? " #" : "", why);
	else
		w = snprintf(buf, size, "%s up%s%s\n", drain ? "drain" : "ready",
		    n > 0 ? " #" : "", why);
	if (w < 0)
		return 0;
	return (size_t)w < size ? (size_t)w : size - 1;
}
