/*
 * evhttp_harness.c -- see evhttp_harness.h.
 *
 * The client is a bufferevent on the server's base, so server and client
 * make progress in the same loop turns. The reply is parsed again from the
 * start each time bytes arrive (test replies are small); the head is split
 * once.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "evhttp_harness.h"

/* One exchange in progress. */
struct eh_call {
	struct eh_reply *r;
	bool             head_only;     /* the request was HEAD */
	bool             done;
	size_t           hlen;          /* head bytes with its CRLFCRLF; 0: not yet */
	enum { BODY_NONE, BODY_LENGTH, BODY_CHUNKED, BODY_CLOSE } framing;
	size_t           clen;          /* BODY_LENGTH */
};

int
eh_start(struct eh_server *s, void (*cb)(struct evhttp_request *, void *),
    void *arg)
{
	struct evhttp_bound_socket *bs;
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);

	memset(s, 0, sizeof(*s));
	signal(SIGPIPE, SIG_IGN);
	if ((s->base = event_base_new()) == NULL ||
	    (s->http = evhttp_new(s->base)) == NULL)
		goto fail;
	evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
	evhttp_set_gencb(s->http, cb, arg);
	if ((bs = evhttp_bind_socket_with_handle(s->http, "127.0.0.1", 0)) == NULL ||
	    getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sin,
	    &sl) == -1)
		goto fail;
	s->port = ntohs(sin.sin_port);
	s->timeout_ms = EH_TIMEOUT_MS;
	return 0;
fail:
	eh_stop(s);
	return -1;
}

void
eh_stop(struct eh_server *s)
{
	if (s->http != NULL)
		evhttp_free(s->http);
	if (s->base != NULL)
		event_base_free(s->base);
	memset(s, 0, sizeof(*s));
}

void
eh_reply_free(struct eh_reply *r)
{
	free(r->head);
	free(r->body);
	memset(r, 0, sizeof(*r));
}

const char *
eh_header(const struct eh_reply *r, const char *name)
{
	for (size_t i = 0; i < r->nheaders; i++)
		if (strcasecmp(r->h[i].name, name) == 0)
			return r->h[i].value;
	return NULL;
}

/* The exchange failed: say why; r holds no partial reply. Returns -1. */
static int __attribute__((format(printf, 2, 3)))
call_fail(struct eh_call *c, const char *fmt, ...)
{
	struct eh_reply *r = c->r;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->error, sizeof(r->error), fmt, ap);
	va_end(ap);
	r->status = -1;
	free(r->head);
	r->head = NULL;
	r->reason = "";
	r->nheaders = 0;
	free(r->body);
	r->body = NULL;
	r->body_len = 0;
	c->done = true;
	return -1;
}

static char *
trim(char *p)
{
	char *e;

	while (*p == ' ' || *p == '\t')
		p++;
	e = p + strlen(p);
	while (e > p && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return p;
}

/* Split the head p[0..c->hlen) into r and choose the body's framing. */
static int
parse_head(struct eh_call *c, const char *p)
{
	struct eh_reply *r = c->r;
	const char *te, *cl;
	char *line, *next, *colon, *end;
	size_t len = c->hlen - 4;

	if ((r->head = malloc(len + 1)) == NULL)
		return call_fail(c, "out of memory");
	memcpy(r->head, p, len);
	r->head[len] = '\0';
	if (memchr(r->head, '\0', len) != NULL)
		return call_fail(c, "a NUL byte in the reply head");
	line = r->head;
	if ((next = strstr(line, "\r\n")) != NULL) {
		*next = '\0';
		next += 2;
	}
	/* "HTTP/1.x SSS reason" */
	if (strncmp(line, "HTTP/1.", 7) != 0 || line[8] != ' ' ||
	    strspn(line + 9, "0123456789") != 3 ||
	    (line[12] != ' ' && line[12] != '\0'))
		return call_fail(c, "bad status line \"%.80s\"", line);
	r->status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
	r->reason = line[12] == ' ' ? line + 13 : "";
	for (line = next; line != NULL && *line != '\0'; line = next) {
		if ((next = strstr(line, "\r\n")) != NULL) {
			*next = '\0';
			next += 2;
		}
		if (r->nheaders == EH_HEADERS_MAX)
			return call_fail(c, "more than %d header lines", EH_HEADERS_MAX);
		if ((colon = strchr(line, ':')) == NULL || colon == line)
			return call_fail(c, "bad header line \"%.80s\"", line);
		*colon = '\0';
		r->h[r->nheaders].name = line;
		r->h[r->nheaders].value = trim(colon + 1);
		r->nheaders++;
	}

	te = eh_header(r, "Transfer-Encoding");
	cl = eh_header(r, "Content-Length");
	if (c->head_only || r->status / 100 == 1 || r->status == 204 ||
	    r->status == 304) {
		c->framing = BODY_NONE;
	} else if (te != NULL && strcasestr(te, "chunked") != NULL) {
		c->framing = BODY_CHUNKED;
	} else if (cl != NULL) {
		unsigned long long v;

		errno = 0;
		v = strtoull(cl, &end, 10);
		if (cl[0] < '0' || cl[0] > '9' || *end != '\0' || errno != 0 ||
		    v > EH_REPLY_MAX)
			return call_fail(c, "bad Content-Length \"%.40s\"", cl);
		c->framing = BODY_LENGTH;
		c->clen = (size_t)v;
	} else {
		c->framing = BODY_CLOSE;
	}
	return 0;
}

static int
set_body(struct eh_call *c, const char *p, size_t n)
{
	struct eh_reply *r = c->r;

	free(r->body);
	if ((r->body = malloc(n + 1)) == NULL)
		return call_fail(c, "out of memory");
	memcpy(r->body, p, n);
	r->body[n] = '\0';
	r->body_len = n;
	return 1;
}

/*
 * Decode chunks from p[0..n). Returns 1 when the last chunk and the
 * trailer are in (body set), 0 when more is needed, -1 when malformed.
 */
static int
dechunk(struct eh_call *c, const char *p, size_t n)
{
	char *out = malloc(n + 1);
	size_t o = 0, i = 0;
	int rc = 0;

	if (out == NULL)
		return call_fail(c, "out of memory");
	for (;;) {
		const char *eol = memmem(p + i, n - i, "\r\n", 2);
		unsigned long long size;
		char *end;

		if (eol == NULL)
			goto out;
		errno = 0;
		size = strtoull(p + i, &end, 16);
		if (end == p + i || errno != 0 || size > EH_REPLY_MAX ||
		    (end != eol && *end != ';' && *end != ' ')) {
			rc = call_fail(c, "bad chunk size line");
			goto out;
		}
		i = (size_t)(eol - p) + 2;
		if (size == 0) {
			/* trailer lines, then an empty line */
			for (;;) {
				eol = memmem(p + i, n - i, "\r\n", 2);
				if (eol == NULL)
					goto out;
				if (eol == p + i) {
					rc = set_body(c, out, o);
					goto out;
				}
				i = (size_t)(eol - p) + 2;
			}
		}
		if (n - i < size + 2)
			goto out;
		if (memcmp(p + i + size, "\r\n", 2) != 0) {
			rc = call_fail(c, "chunk not followed by CRLF");
			goto out;
		}
		memcpy(out + o, p + i, size);
		o += size;
		i += size + 2;
	}
out:
	free(out);
	return rc;
}

/*
 * Look at what arrived. eof: the server closed (or the connection broke).
 * Returns 1 when the reply is complete (r filled), 0 when more is needed,
 * -1 on failure (r->error set). Sets c->done unless 0.
 */
static int
parse(struct eh_call *c, struct evbuffer *in, bool eof)
{
	size_t n = evbuffer_get_length(in), have;
	const char *p, *hend;
	int rc;

	if (n > EH_REPLY_MAX)
		return call_fail(c, "reply over %zu bytes", EH_REPLY_MAX);
	if (n == 0)
		return eof ? call_fail(c, "closed before any reply") : 0;
	p = (const char *)evbuffer_pullup(in, -1);
	if (p == NULL)
		return call_fail(c, "out of memory");
	if (c->hlen == 0) {
		if ((hend = memmem(p, n, "\r\n\r\n", 4)) == NULL)
			return eof ? call_fail(c, "closed inside the reply head") : 0;
		c->hlen = (size_t)(hend - p) + 4;
		if (parse_head(c, p) == -1)
			return -1;
	}
	have = n - c->hlen;
	switch (c->framing) {
	case BODY_NONE:
		rc = set_body(c, "", 0);
		break;
	case BODY_LENGTH:
		if (have >= c->clen)
			rc = set_body(c, p + c->hlen, c->clen);
		else
			rc = eof ? call_fail(c, "closed after %zu of %zu body "
			    "bytes", have, c->clen) : 0;
		break;
	case BODY_CHUNKED:
		rc = dechunk(c, p + c->hlen, have);
		if (rc == 0 && eof)
			rc = call_fail(c, "closed inside the chunked body");
		break;
	default:
		rc = eof ? set_body(c, p + c->hlen, have) : 0;
		break;
	}
	if (rc != 0)
		c->done = true;
	return rc;
}

static void
read_cb(struct bufferevent *bev, void *arg)
{
	struct eh_call *c = arg;

	if (!c->done)
		(void)parse(c, bufferevent_get_input(bev), false);
}

static void
event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct eh_call *c = arg;
	int err = EVUTIL_SOCKET_ERROR();

	if (c->done || !(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)))
		return;
	if ((what & BEV_EVENT_ERROR) &&
	    evbuffer_get_length(bufferevent_get_input(bev)) == 0) {
		(void)call_fail(c, "connection failed: %s", strerror(err));
		return;
	}
	(void)parse(c, bufferevent_get_input(bev), true);
}

static void
timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct eh_call *c = arg;

	(void)fd;
	(void)what;
	if (!c->done)
		(void)call_fail(c, "no complete reply in time");
}

int
eh_exchange(struct eh_server *s, const char *from, const char *req,
    size_t len, struct eh_reply *r)
{
	struct eh_call c;
	struct bufferevent *bev = NULL;
	struct event *timer = NULL;
	struct sockaddr_in to, local;
	struct timeval tv;
	evutil_socket_t fd = -1;

	memset(r, 0, sizeof(*r));
	r->reason = "";
	memset(&c, 0, sizeof(c));
	c.r = r;
	c.head_only = len >= 5 && memcmp(req, "HEAD ", 5) == 0;

	memset(&to, 0, sizeof(to));
	to.sin_family = AF_INET;
	to.sin_port = htons((uint16_t)s->port);
	to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		(void)call_fail(&c, "socket: %s", strerror(errno));
		goto out;
	}
	if (from != NULL) {
		memset(&local, 0, sizeof(local));
		local.sin_family = AF_INET;
		if (inet_pton(AF_INET, from, &local.sin_addr) != 1 ||
		    bind(fd, (struct sockaddr *)&local, sizeof(local)) == -1) {
			(void)call_fail(&c, "cannot connect from %s: %s", from,
			    strerror(errno));
			goto out;
		}
	}
	if (evutil_make_socket_nonblocking(fd) == -1 ||
	    (bev = bufferevent_socket_new(s->base, fd, BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		(void)call_fail(&c, "cannot set up the client");
		goto out;
	}
	fd = -1;        /* transferred */
	bufferevent_setcb(bev, read_cb, NULL, event_cb, &c);
	if (bufferevent_write(bev, req, len) == -1 ||
	    bufferevent_enable(bev, EV_READ | EV_WRITE) == -1 ||
	    bufferevent_socket_connect(bev, (struct sockaddr *)&to, sizeof(to)) == -1) {
		if (!c.done)
			(void)call_fail(&c, "cannot connect to 127.0.0.1:%d", s->port);
		goto out;
	}
	if ((timer = evtimer_new(s->base, timeout_cb, &c)) == NULL) {
		(void)call_fail(&c, "out of memory");
		goto out;
	}
	tv.tv_sec = s->timeout_ms / 1000;
	tv.tv_usec = (s->timeout_ms % 1000) * 1000;
	evtimer_add(timer, &tv);
	while (!c.done) {
		if (event_base_loop(s->base, EVLOOP_ONCE) != 0) {
			(void)call_fail(&c, "the event loop stopped");
			break;
		}
	}
out:
	if (timer != NULL)
		event_free(timer);
	if (bev != NULL)
		bufferevent_free(bev);
	if (fd != -1)
		close(fd);
	if (r->body == NULL && (r->body = calloc(1, 1)) == NULL)
		abort();        /* the contract promises a body */
	return r->status == -1 ? -1 : 0;
}

/* Whether the header lines hs have one named name. */
static int
has_header(const char *hs, const char *name)
{
	size_t n = strlen(name);

	for (const char *l = hs; l != NULL && *l != '\0'; ) {
		const char *eol = strstr(l, "\r\n");

		if (strncasecmp(l, name, n) == 0 && l[n] == ':')
			return 1;
		l = eol != NULL ? eol + 2 : NULL;
	}
	return 0;
}

int
eh_request(struct eh_server *s, const char *from, const char *method,
    const char *uri, const char *headers, const char *body, size_t bodylen,
    struct eh_reply *r)
{
	struct evbuffer *b = evbuffer_new();
	const char *req;
	int rc = -1;

	if (b == NULL)
		goto oom;
	if (evbuffer_add_printf(b, "%s %s HTTP/1.1\r\n", method, uri) < 0)
		goto oom;
	if (!has_header(headers, "Host") &&
	    evbuffer_add_printf(b, "Host: 127.0.0.1:%d\r\n", s->port) < 0)
		goto oom;
	if (headers != NULL && evbuffer_add(b, headers, strlen(headers)) == -1)
		goto oom;
	if ((body != NULL || strcmp(method, "POST") == 0 ||
	    strcmp(method, "PUT") == 0) &&
	    evbuffer_add_printf(b, "Content-Length: %zu\r\n",
	    body != NULL ? bodylen : 0) < 0)
		goto oom;
	if (evbuffer_add_printf(b, "Connection: close\r\n\r\n") < 0 ||
	    (body != NULL && evbuffer_add(b, body, bodylen) == -1) ||
	    (req = (const char *)evbuffer_pullup(b, -1)) == NULL)
		goto oom;
	rc = eh_exchange(s, from, req, evbuffer_get_length(b), r);
	evbuffer_free(b);
	return rc;
oom:
	if (b != NULL)
		evbuffer_free(b);
	memset(r, 0, sizeof(*r));
	r->status = -1;
	r->reason = "";
	snprintf(r->error, sizeof(r->error), "out of memory");
	if ((r->body = calloc(1, 1)) == NULL)
		abort();
	return rc;
}
