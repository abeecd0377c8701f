/*
 * ctlhttp.c -- see ctlhttp.h.
 *
 * evhttp reports a failed connect by calling the request callback with
 * response code 0 and no error callback; errno has been overwritten by
 * then (the connection reset shuts the socket down: ENOTCONN). So when that
 * happens we connect once more ourselves, without libevent, only to learn
 * why ("connection refused", "no route to host") for the message. Failures
 * after the connection was made come with an evhttp_request_error.
 */
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "ctl/ctlhttp.h"

/* What one attempt came to. */
enum outcome {
	OUT_PENDING = 0,
	OUT_REPLY,       /* a status and a body */
	OUT_CONNECT,     /* the connection could not be made */
	OUT_TIMEOUT,
	OUT_ERROR,       /* evhttp_request_error in `error` */
	OUT_NOMEM,
};

struct attempt {
	struct event_base        *base;
	enum outcome              outcome;
	enum evhttp_request_error error;
	bool                      error_seen;
	struct ctlh_reply        *r;
};

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* strerror() as the middle of a sentence: "connection refused". */
static void
reason(int e, char *buf, size_t len)
{
	snprintf(buf, len, "%s", strerror(e));
	if (isupper((unsigned char)buf[0]) && islower((unsigned char)buf[1]))
		buf[0] = (char)tolower((unsigned char)buf[0]);
}

static void
error_cb(enum evhttp_request_error e, void *arg)
{
	struct attempt *at = arg;

	at->error = e;
	at->error_seen = true;
}

/* Called once per request; req is NULL after an evhttp_request_error. */
static void
done_cb(struct evhttp_request *req, void *arg)
{
	struct attempt *at = arg;
	struct evbuffer *in;
	size_t n;

	if (req == NULL || evhttp_request_get_response_code(req) == 0) {
		at->outcome = at->error_seen ? OUT_ERROR : OUT_CONNECT;
		goto out;
	}
	in = evhttp_request_get_input_buffer(req);
	n = evbuffer_get_length(in);
	if ((at->r->body = malloc(n + 1)) == NULL) {
		at->outcome = OUT_NOMEM;
		goto out;
	}
	evbuffer_copyout(in, at->r->body, n);
	at->r->body[n] = '\0';
	at->r->len = n;
	at->r->code = evhttp_request_get_response_code(req);
	at->outcome = OUT_REPLY;
out:
	event_base_loopbreak(at->base);
}

static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct attempt *at = arg;

	at->outcome = OUT_TIMEOUT;
	event_base_loopbreak(at->base);
}

/*
 * Why a connect to sa fails: a second connect of our own, waiting at most
 * ms. Fills why; returns true when it timed out.
 */
static bool
probe(const struct sockaddr *sa, socklen_t salen, int ms, char *why,
    size_t len)
{
	struct pollfd pfd;
	socklen_t elen = sizeof(int);
	int fd, e = 0;
	bool timeout = false;

	if ((fd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) < 0) {
		reason(errno, why, len);
		return false;
	}
	if (connect(fd, sa, salen) != 0) {
		if (errno != EINPROGRESS)
			e = errno;
		else {
			pfd.fd = fd;
			pfd.events = POLLOUT;
			if (poll(&pfd, 1, ms > 0 ? ms : 0) <= 0)
				timeout = true;
			else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &elen) != 0)
				e = errno;
		}
	}
	close(fd);
	if (timeout)
		snprintf(why, len, "timed out after %d s", CTLH_TIMEOUT_S);
	else if (e != 0)
		reason(e, why, len);
	else
		snprintf(why, len, "the connection failed");
	return timeout;
}

static enum evhttp_cmd_type
method_cmd(enum ctlh_method m)
{
	switch (m) {
	case CTLH_PUT:
		return EVHTTP_REQ_PUT;
	case CTLH_POST:
		return EVHTTP_REQ_POST;
	case CTLH_DELETE:
		return EVHTTP_REQ_DELETE;
	case CTLH_GET:
		break;
	}
	return EVHTTP_REQ_GET;
}

/* One request to one address, waiting at most ms. */
static void
attempt_one(struct attempt *at, const struct ctl_endpoint *ep,
    const char *addr, enum ctlh_method m, const char *path,
    const char *token, const char *json, int ms)
{
	struct evhttp_connection *evcon = NULL;
	struct evhttp_request *req;
	struct event *timer = NULL;
	struct evkeyvalq *h;
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	char auth[CTL_TOKEN_MAX + 16];

	at->outcome = OUT_NOMEM;
	if ((at->base = event_base_new()) == NULL)
		return;
	if ((evcon = evhttp_connection_base_new(at->base, NULL, addr,
	    (ev_uint16_t)ep->port)) == NULL ||
	    (timer = evtimer_new(at->base, deadline_cb, at)) == NULL ||
	    (req = evhttp_request_new(done_cb, at)) == NULL)
		goto out;
	evhttp_connection_set_timeout_tv(evcon, &tv);
	evhttp_connection_set_retries(evcon, 0);
	evhttp_connection_set_max_body_size(evcon, CTLH_REPLY_MAX);
	evhttp_connection_set_max_headers_size(evcon, CTLH_HEADERS_MAX);
	evhttp_request_set_error_cb(req, error_cb);
	h = evhttp_request_get_output_headers(req);
	evhttp_add_header(h, "Host", ep->hosthdr);
	evhttp_add_header(h, "User-Agent", "poolgatectl");
	evhttp_add_header(h, "Accept", "application/json");
	evhttp_add_header(h, "Connection", "close");
	if (token != NULL) {
		snprintf(auth, sizeof(auth), "Bearer %s", token);
		evhttp_add_header(h, "Authorization", auth);
		/* evhttp keeps its own copy until the connection is freed */
		explicit_bzero(auth, sizeof(auth));
	}
	if (json != NULL) {
		evhttp_add_header(h, "Content-Type", "application/json");
		evbuffer_add(evhttp_request_get_output_buffer(req), json,
		    strlen(json));
	}
	at->outcome = OUT_PENDING;
	evtimer_add(timer, &tv);
	/* on failure req is freed, and done_cb may have run already */
	if (evhttp_make_request(evcon, req, method_cmd(m), path) != 0) {
		if (at->outcome == OUT_PENDING)
			at->outcome = OUT_CONNECT;
		goto out;
	}
	if (at->outcome == OUT_PENDING)
		event_base_dispatch(at->base);
	if (at->outcome == OUT_PENDING)
		at->outcome = OUT_TIMEOUT;  /* the loop ran dry: cannot happen */
out:
	/* frees a request still pending (timeout) without calling done_cb */
	if (evcon != NULL)
		evhttp_connection_free(evcon);
	if (timer != NULL)
		event_free(timer);
	event_base_free(at->base);
	at->base = NULL;
}

static const char *
error_text(enum evhttp_request_error e)
{
	switch (e) {
	case EVREQ_HTTP_TIMEOUT:
		return "timed out";
	case EVREQ_HTTP_EOF:
		return "the connection closed before a complete reply";
	case EVREQ_HTTP_INVALID_HEADER:
		return "the reply is not valid HTTP";
	case EVREQ_HTTP_BUFFER_ERROR:
		return "read or write error";
	case EVREQ_HTTP_REQUEST_CANCEL:
		return "the request was cancelled";
	case EVREQ_HTTP_DATA_TOO_LONG:
		return "the reply is too large";
	}
	return "unknown error";
}

int
ctlh_request(const struct ctl_endpoint *ep, enum ctlh_method m,
    const char *path, const char *token, const char *json,
    struct ctlh_reply *r, char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct attempt at;
	uint64_t deadline = now_ms() + CTLH_TIMEOUT_S * 1000;
	char port[8], addr[NI_MAXHOST], why[128] = "no address";
	bool timed_out = false;
	int rc = -1, g;

	memset(r, 0, sizeof(*r));
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	snprintf(port, sizeof(port), "%u", ep->port);
	if ((g = getaddrinfo(ep->host, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "cannot reach poolgate at %s: %s", ep->url,
		    g == EAI_SYSTEM ? strerror(errno) : gai_strerror(g));
		return -1;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		int64_t left = (int64_t)(deadline - now_ms());

		if (left <= 0) {
			timed_out = true;
			break;
		}
		if (getnameinfo(ai->ai_addr, ai->ai_addrlen, addr, sizeof(addr),
		    NULL, 0, NI_NUMERICHOST) != 0)
			continue;
		memset(&at, 0, sizeof(at));
		at.r = r;
		attempt_one(&at, ep, addr, m, path, token, json, (int)left);
		switch (at.outcome) {
		case OUT_REPLY:
			rc = 0;
			goto out;
		case OUT_CONNECT:
			/* try the next address; say why this one failed */
			left = (int64_t)(deadline - now_ms());
			timed_out = probe(ai->ai_addr, ai->ai_addrlen,
			    left > 1000 ? 1000 : (int)left, why, sizeof(why));
			if (timed_out)
				goto fail;
			continue;
		case OUT_TIMEOUT:
			timed_out = true;
			goto fail;
		case OUT_ERROR:
			if (at.error == EVREQ_HTTP_TIMEOUT) {
				timed_out = true;
				goto fail;
			}
			if (at.error == EVREQ_HTTP_DATA_TOO_LONG)
				snprintf(err, errlen, "no valid reply from poolgate at %s: "
				    "the reply is over %u bytes", ep->url, CTLH_REPLY_MAX);
			else
				snprintf(err, errlen, "no valid reply from poolgate at %s: "
				    "%s", ep->url, error_text(at.error));
			goto out;
		case OUT_NOMEM:
		case OUT_PENDING:
			snprintf(err, errlen, "poolgate at %s: out of memory", ep->url);
			goto out;
		}
	}
fail:
	if (timed_out)
		snprintf(why, sizeof(why), "timed out after %d s", CTLH_TIMEOUT_S);
	snprintf(err, errlen, "cannot reach poolgate at %s: %s", ep->url, why);
out:
	if (res != NULL)
		freeaddrinfo(res);
	if (rc != 0)
		ctlh_reply_free(r);
	return rc;
}

void
ctlh_reply_free(struct ctlh_reply *r)
{
	free(r->body);
	memset(r, 0, sizeof(*r));
}
