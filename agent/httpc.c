/*
 * httpc.c -- see httpc.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/httpc.h"
#include "agent/util.h"

int
hcl_parse_url(const char *url, struct hcl_url *u)
{
	const char *h, *end, *p, *colon = NULL;
	size_t i;

	memset(u, 0, sizeof(*u));
	if (strncmp(url, "http://", 7) != 0)
		return -1;
	h = url + 7;
	p = h + strcspn(h, "/");
	if (*h == '[') {
		end = memchr(h, ']', (size_t)(p - h));
		if (end == NULL || end - h - 1 < 2)
			return -1;
		ag_copyn(u->host, sizeof(u->host), h + 1, (size_t)(end - h - 1));
		if ((size_t)(end - h - 1) > HCL_HOST_MAX)
			return -1;
		u->v6 = true;
		if (end + 1 < p) {
			if (end[1] != ':')
				return -1;
			colon = end + 1;
		}
		for (i = 0; u->host[i] != '\0'; i++)
			if (strchr("0123456789abcdefABCDEF:.", u->host[i]) == NULL)
				return -1;
	} else {
		colon = memchr(h, ':', (size_t)(p - h));
		end = colon != NULL ? colon : p;
		if (end == h || (size_t)(end - h) > HCL_HOST_MAX)
			return -1;
		ag_copyn(u->host, sizeof(u->host), h, (size_t)(end - h));
		for (i = 0; u->host[i] != '\0'; i++)
			if (strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789-.", u->host[i]) == NULL)
				return -1;
	}
	if (colon != NULL) {
		if (p - colon - 1 < 1 || p - colon - 1 > 5 ||
		    !ag_all_digits(colon + 1, (size_t)(p - colon - 1)) ||
		    atoi(colon + 1) < 1 || atoi(colon + 1) > 65535)
			return -1;
		ag_copyn(u->port, sizeof(u->port), colon + 1, (size_t)(p - colon - 1));
	} else
		ag_copy(u->port, sizeof(u->port), "80");
	if (strlen(p) >= sizeof(u->path) || strpbrk(p, "?# \t\r\n") != NULL)
		return -1;
	ag_copy(u->path, sizeof(u->path), p);
	i = strlen(u->path);
	while (i > 0 && u->path[i - 1] == '/')
		u->path[--i] = '\0';
	return 0;
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

/* Trim blanks around [*v, *v + *n). */
static void
strip(const char **v, size_t *n)
{
	while (*n > 0 && (**v == ' ' || **v == '\t')) {
		(*v)++;
		(*n)--;
	}
	while (*n > 0 && ((*v)[*n - 1] == ' ' || (*v)[*n - 1] == '\t'))
		(*n)--;
}

static enum hcl_parse
fail(char *err, size_t errlen, const char *msg)
{
	ag_errf(err, errlen, "%s", msg);
	return HCL_ERROR;
}

/* Decode chunked framing at b[0..len) into dst; HCL_MORE if incomplete. */
static enum hcl_parse
dechunk(const char *b, size_t len, bool eof, size_t body_max, char *dst,
    size_t *dlen, char *err, size_t errlen)
{
	size_t at = 0, size, i;
	const char *lf;
	int hv;

	*dlen = 0;
	for (;;) {
		lf = memchr(b + at, '\n', len - at);
		if (lf == NULL)
			goto more;
		size = 0;
		for (i = at; b + i < lf; i++) {
			char c = b[i];

			hv = c >= '0' && c <= '9' ? c - '0' :
			    c >= 'a' && c <= 'f' ? c - 'a' + 10 :
			    c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
			if (hv < 0)
				break;
			if (size > (SIZE_MAX >> 5))
				return fail(err, errlen, "chunk size too large");
			size = size * 16 + (size_t)hv;
		}
		if (i == at || (b + i < lf && b[i] != ';' && b[i] != '\r'))
			return fail(err, errlen, "bad chunk size line");
		at = (size_t)(lf - b) + 1;
		if (size == 0) {
			/* trailers, up to the empty line */
			for (;;) {
				lf = memchr(b + at, '\n', len - at);
				if (lf == NULL)
					goto more;
				i = (size_t)(lf - b) - at;
				at = (size_t)(lf - b) + 1;
				if (i == 0 || (i == 1 && b[at - 2] == '\r'))
					return HCL_DONE;
			}
		}
		if (size > body_max - *dlen)
			return fail(err, errlen, "body over the limit");
		if (len - at < size + 1)
			goto more;
		memcpy(dst + *dlen, b + at, size);
		*dlen += size;
		at += size;
		if (b[at] == '\r')
			at++;
		if (at >= len)
			goto more;
		if (b[at] != '\n')
			return fail(err, errlen, "chunk not followed by CRLF");
		at++;
	}
more:
	if (eof)
		return fail(err, errlen, "connection closed inside a chunked body");
	return HCL_MORE;
}

enum hcl_parse
hcl_parse_response(const char *buf, size_t len, bool eof, size_t body_max,
    struct hcl_resp *out, char *err, size_t errlen)
{
	const char *p, *nl, *end, *v, *colon;
	size_t head = 0, i, n, vlen, blen, clen = 0, dlen;
	bool have_clen = false, chunked = false;
	enum hcl_parse r;
	char *body;

	memset(out, 0, sizeof(*out));
	for (i = 0; i + 1 < len && i < HCL_HEAD_MAX; i++)
		if (buf[i] == '\n' && (buf[i + 1] == '\n' ||
		    (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n'))) {
			head = i + (buf[i + 1] == '\n' ? 2 : 3);
			break;
		}
	if (head == 0) {
		if (len >= HCL_HEAD_MAX)
			return fail(err, errlen, "answer head over the limit");
		if (eof)
			return fail(err, errlen, len == 0 ? "closed without an answer" :
			    "closed inside the answer head");
		return HCL_MORE;
	}
	/* "HTTP/1.x NNN reason" */
	if (head < 12 || memcmp(buf, "HTTP/1.", 7) != 0 || (buf[7] != '0' &&
	    buf[7] != '1') || buf[8] != ' ' || !ag_all_digits(buf + 9, 3) ||
	    (head > 12 && buf[12] != ' ' && buf[12] != '\r' && buf[12] != '\n'))
		return fail(err, errlen, "malformed status line");
	out->status = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
	if (out->status < 200)
		return fail(err, errlen, "unexpected informational answer");
	end = buf + head;
	p = memchr(buf, '\n', head) + 1;
	for (; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		n = (size_t)(nl - p);
		if (n > 0 && p[n - 1] == '\r')
			n--;
		if (n == 0)
			break;
		if (p[0] == ' ' || p[0] == '\t')
			return fail(err, errlen, "obsolete line folding");
		colon = memchr(p, ':', n);
		if (colon == NULL || colon == p)
			return fail(err, errlen, "header field without a name");
		v = colon + 1;
		vlen = n - (size_t)(v - p);
		strip(&v, &vlen);
		if (eq_nocase(p, (size_t)(colon - p), "content-length")) {
			size_t x = 0;

			if (!ag_all_digits(v, vlen) || vlen > 12)
				return fail(err, errlen, "bad Content-Length");
			for (i = 0; i < vlen; i++)
				x = x * 10 + (size_t)(v[i] - '0');
			if (have_clen && x != clen)
				return fail(err, errlen, "two Content-Length values");
			clen = x;
			have_clen = true;
		} else if (eq_nocase(p, (size_t)(colon - p), "transfer-encoding")) {
			if (!eq_nocase(v, vlen, "chunked"))
				return fail(err, errlen, "unsupported transfer coding");
			chunked = true;
		}
	}
	if (chunked && have_clen)
		return fail(err, errlen, "both Content-Length and chunked");
	blen = len - head;
	if (chunked) {
		if ((body = malloc(body_max + 1)) == NULL)
			return fail(err, errlen, "out of memory");
		r = dechunk(buf + head, blen, eof, body_max, body, &dlen, err, errlen);
		if (r != HCL_DONE) {
			free(body);
			return r;
		}
		body[dlen] = '\0';
		out->body = body;
		out->len = dlen;
		return HCL_DONE;
	}
	if (have_clen) {
		if (clen > body_max)
			return fail(err, errlen, "body over the limit");
		if (blen < clen)
			return eof ? fail(err, errlen, "closed inside the body") :
			    HCL_MORE;
		blen = clen;
	} else if (out->status == 204 || out->status == 304)
		blen = 0;
	else if (!eof)
		return blen > body_max ? fail(err, errlen, "body over the limit") :
		    HCL_MORE;
	if (blen > body_max)
		return fail(err, errlen, "body over the limit");
	if ((out->body = malloc(blen + 1)) == NULL)
		return fail(err, errlen, "out of memory");
	memcpy(out->body, buf + head, blen);
	out->body[blen] = '\0';
	out->len = blen;
	return HCL_DONE;
}

void
hcl_resp_free(struct hcl_resp *r)
{
	free(r->body);
	r->body = NULL;
	r->len = 0;
}

static int
wait_fd(int fd, short ev, uint64_t deadline)
{
	struct pollfd pfd = { .fd = fd, .events = ev };
	uint64_t now;
	int rc;

	for (;;) {
		now = ag_mono_ms();
		if (now >= deadline) {
			errno = ETIMEDOUT;
			return -1;
		}
		rc = poll(&pfd, 1, (int)(deadline - now));
		if (rc == 1)
			return 0;
		if (rc == -1 && errno != EINTR)
			return -1;
	}
}

static int
dial(const struct hcl_url *u, uint64_t deadline, char *err, size_t errlen)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM,
	    .ai_flags = AI_NUMERICSERV }, *res = NULL, *ai;
	int fd = -1, rc, e = 0;
	socklen_t elen = sizeof(e);

	if ((rc = getaddrinfo(u->host, u->port, &hints, &res)) != 0) {
		ag_errf(err, errlen, "%s: %s", u->host, gai_strerror(rc));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd == -1)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno != EINPROGRESS)
			e = errno;
		else if (wait_fd(fd, POLLOUT, deadline) == -1)
			e = errno;
		else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) == -1)
			e = errno;
		else if (e == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd == -1)
		ag_errf(err, errlen, "connect to %s port %s: %s", u->host, u->port,
		    strerror(e != 0 ? e : ECONNREFUSED));
	return fd;
}

int
hcl_request(const char *method, const struct hcl_url *base,
    const char *path_query, const char *const *headers, const char *body,
    size_t body_len, uint64_t timeout_ms, size_t body_max,
    struct hcl_resp *out, char *err, size_t errlen)
{
	uint64_t deadline = ag_mono_ms() + timeout_ms;
	size_t cap = HCL_HEAD_MAX + body_max + body_max / 8 + 4096, have = 0,
	    reqlen = 0, sent = 0, i;
	char *req = NULL, *buf = NULL;
	enum hcl_parse pr = HCL_MORE;
	int fd = -1, rc = -1, w;
	ssize_t n;

	memset(out, 0, sizeof(*out));
	for (i = 0; headers != NULL && headers[i] != NULL; i++)
		if (strpbrk(headers[i], "\r\n") != NULL) {
			ag_errf(err, errlen, "header with a line break");
			return -1;
		}
	if (strpbrk(path_query, " \t\r\n") != NULL) {
		ag_errf(err, errlen, "path with a blank or line break");
		return -1;
	}
	reqlen = 512 + strlen(base->path) + strlen(path_query) +
	    strlen(base->host) + (body != NULL ? body_len : 0);
	for (i = 0; headers != NULL && headers[i] != NULL; i++)
		reqlen += strlen(headers[i]) + 2;
	if ((req = malloc(reqlen)) == NULL || (buf = malloc(cap)) == NULL) {
		ag_errf(err, errlen, "out of memory");
		goto out;
	}
	w = snprintf(req, reqlen, "%s %s%s HTTP/1.1\r\nHost: %s%s%s%s%s\r\n"
	    "User-Agent: poolgate-agent/" POOLGATE_VERSION "\r\n"
	    "Accept: application/json\r\nConnection: close\r\n",
	    method, base->path, path_query, base->v6 ? "[" : "", base->host,
	    base->v6 ? "]" : "", strcmp(base->port, "80") == 0 ? "" : ":",
	    strcmp(base->port, "80") == 0 ? "" : base->port);
	for (i = 0; headers != NULL && headers[i] != NULL; i++)
		w += snprintf(req + w, reqlen - (size_t)w, "%s\r\n", headers[i]);
	if (body != NULL)
		w += snprintf(req + w, reqlen - (size_t)w,
		    "Content-Type: application/json\r\nContent-Length: %zu\r\n",
		    body_len);
	w += snprintf(req + w, reqlen - (size_t)w, "\r\n");
	reqlen = (size_t)w;
	if (body != NULL) {
		memcpy(req + reqlen, body, body_len);
		reqlen += body_len;
	}

	if ((fd = dial(base, deadline, err, errlen)) == -1)
		goto out;
	while (sent < reqlen) {
		n = send(fd, req + sent, reqlen - sent, MSG_NOSIGNAL);
		if (n > 0) {
			sent += (size_t)n;
			continue;
		}
		if (n == -1 && (errno == EAGAIN || errno == EINTR) &&
		    wait_fd(fd, POLLOUT, deadline) == 0)
			continue;
		ag_errf(err, errlen, "sending to %s: %s", base->host,
		    strerror(errno));
		goto out;
	}
	for (;;) {
		if (have == cap) {
			ag_errf(err, errlen, "answer over %zu bytes", cap);
			goto out;
		}
		n = recv(fd, buf + have, cap - have, 0);
		if (n > 0) {
			have += (size_t)n;
			pr = hcl_parse_response(buf, have, false, body_max, out, err,
			    errlen);
			if (pr != HCL_MORE)
				break;
			continue;
		}
		if (n == 0) {
			pr = hcl_parse_response(buf, have, true, body_max, out, err,
			    errlen);
			break;
		}
		if ((errno == EAGAIN || errno == EINTR) &&
		    wait_fd(fd, POLLIN, deadline) == 0)
			continue;
		ag_errf(err, errlen, "reading from %s: %s", base->host,
		    errno == ETIMEDOUT ? "timed out" : strerror(errno));
		goto out;
	}
	if (pr == HCL_DONE)
		rc = 0;
out:
	if (fd != -1)
		close(fd);
	if (req != NULL) {
		explicit_bzero(req, reqlen);   /* it held the token */
		free(req);
	}
	free(buf);
	if (rc == -1)
		hcl_resp_free(out);
	return rc;
}
