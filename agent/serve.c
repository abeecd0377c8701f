/*
 * serve.c -- see serve.h.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>

#include "agent/load.h"
#include "agent/proto.h"
#include "agent/serve.h"
#include "agent/util.h"
#include "lib/json.h"
#include "lib/log.h"

enum conn_state { C_SNIFF, C_HEAD, C_WRITING };

struct conn {
	struct srv         *s;
	struct bufferevent *bev;
	struct event       *timer;
	enum conn_state     state;
	uint64_t            accepted_ms;
	char                peer[64];
	struct conn        *prev, *next;
};

struct srv {
	struct event_base     *base;
	struct col            *col;
	const struct acf      *cfg;
	struct evconnlistener *l[ACF_LISTEN_MAX];
	size_t                 nl;
	struct conn           *conns;
	size_t                 nconns;
};

static void
conn_free(struct conn *c)
{
	struct srv *s = c->s;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	s->nconns--;
	bufferevent_free(c->bev);
	event_free(c->timer);
	free(c);
}

static void
set_timer(struct conn *c, uint64_t ms)
{
	struct timeval tv = { .tv_sec = (time_t)(ms / 1000),
	    .tv_usec = (suseconds_t)(ms % 1000) * 1000 };

	evtimer_add(c->timer, &tv);
}

size_t
srv_line(const struct acf *cfg, struct col *col, char *buf, size_t size)
{
	char reason[LD_REASON_MAX + 1], ev[128];
	bool drain;
	int pct;

	pct = ld_read_percent(cfg->proc_root, cfg->ncpu > 0 ? (int)cfg->ncpu :
	    (int)sysconf(_SC_NPROCESSORS_ONLN));
	drain = ld_drain(cfg->drain_file, reason, sizeof(reason));
	if (!drain && col != NULL && col_event_drain(col, ev, sizeof(ev))) {
		drain = true;
		ag_copy(reason, sizeof(reason), ev);
	}
	return ap_line(pct, drain, drain ? reason : NULL, buf, size);
}

/* Queue out and close once it has gone (or http_timeout passed). */
static void
finish(struct conn *c)
{
	struct timeval tv = { .tv_sec = (time_t)(c->s->cfg->http_timeout_ms / 1000),
	    .tv_usec = (suseconds_t)(c->s->cfg->http_timeout_ms % 1000) * 1000 };

	c->state = C_WRITING;
	evtimer_del(c->timer);
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_set_timeouts(c->bev, NULL, &tv);
	bufferevent_enable(c->bev, EV_WRITE);
	/* Nothing queued (a client that closed early): end now. */
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		conn_free(c);
}

static void
send_line(struct conn *c)
{
	char line[AP_LINE_MAX + 1];
	size_t n = srv_line(c->s->cfg, c->s->col, line, sizeof(line));

	bufferevent_write(c->bev, line, n);
	log_debug("%s: agent-check line %.*s", c->peer, (int)(n - 1), line);
	finish(c);
}

static void
send_http(struct conn *c, int status, bool head_only, const char *why)
{
	struct json_fbuf fb;
	char hbuf[512], ebuf[256], *body = NULL;
	const char *ctype = "application/json";
	size_t blen = 0, hl;

	if (status == 200) {
		body = col_report(c->s->col, &blen);
		if (body == NULL) {
			status = 503;
			why = "the first report is being collected";
		}
	}
	if (status != 200) {
		memset(&fb, 0, sizeof(fb));
		fb.buf = ebuf;
		fb.cap = sizeof(ebuf);
		json_fbuf_put(&fb, "{\"error\":", 9);
		json_write_str(json_fbuf_put, &fb, why);
		json_fbuf_put(&fb, "}\n", 2);
		blen = fb.len;
	}
	hl = ap_response_head(status, ctype, blen, hbuf, sizeof(hbuf));
	bufferevent_write(c->bev, hbuf, hl);
	if (!head_only)
		bufferevent_write(c->bev, status == 200 ? body : ebuf, blen);
	free(body);
	log_debug("%s: HTTP %d%s%s", c->peer, status, why[0] != '\0' ? ": " : "",
	    why);
	finish(c);
}

/* Look at what came; answer when it decides the answer. */
static void
examine(struct conn *c, bool eof)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t len = evbuffer_get_length(in), hl;
	struct ap_request req;
	const char *p, *why;
	int status;

	if (c->state == C_SNIFF) {
		p = (const char *)evbuffer_pullup(in, (ssize_t)(len < 16 ? len : 16));
		switch (ap_sniff(p, len)) {
		case AP_SNIFF_LINE:
			send_line(c);
			return;
		case AP_SNIFF_MORE:
			if (eof)
				send_line(c);   /* a checker that half-closed */
			return;
		case AP_SNIFF_HTTP: {
			/* The head's deadline counts from the accept. */
			uint64_t spent = ag_mono_ms() - c->accepted_ms;
			uint64_t limit = c->s->cfg->http_timeout_ms;

			c->state = C_HEAD;
			evtimer_del(c->timer);
			set_timer(c, spent < limit ? limit - spent : 0);
			break;
		}
		}
	}
	if (len > AP_HEAD_MAX + 1)
		len = AP_HEAD_MAX + 1;
	p = (const char *)evbuffer_pullup(in, (ssize_t)len);
	hl = ap_head_len(p, len);
	if (hl == 0) {
		if (len > AP_HEAD_MAX)
			send_http(c, 431, false, "request head too large");
		else if (eof)
			conn_free(c);   /* gone before the end of its head */
		return;
	}
	status = ap_parse_head(p, hl, &req, &why);
	send_http(c, status, status == 200 && strcmp(req.method, "HEAD") == 0,
	    why);
}

static void
readcb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	examine(arg, false);
}

static void
writecb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	if (c->state == C_WRITING &&
	    evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		conn_free(c);
}

static void
eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	(void)bev;
	if ((what & BEV_EVENT_EOF) && c->state != C_WRITING) {
		examine(c, true);
		return;
	}
	conn_free(c);   /* an error, or the write timeout */
}

static void
timercb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	if (c->state == C_SNIFF)
		send_line(c);   /* a silent checker */
	else if (c->state == C_HEAD)
		send_http(c, 408, false, "request head not complete in time");
}

static void
acceptcb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct srv *s = arg;
	struct conn *c;
	char host[48] = "?";

	(void)l;
	(void)salen;
	if (s->nconns >= (size_t)s->cfg->max_connections) {
		log_warn("closing a connection: %zu connections already open "
		    "(max_connections)", s->nconns);
		evutil_closesocket(fd);
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->bev = bufferevent_socket_new(s->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL ||
	    (c->timer = evtimer_new(s->base, timercb, c)) == NULL) {
		log_err("out of memory accepting a connection");
		if (c != NULL && c->bev != NULL)
			bufferevent_free(c->bev);
		else
			evutil_closesocket(fd);
		free(c);
		return;
	}
	if (sa->sa_family == AF_INET)
		evutil_inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr,
		    host, sizeof(host));
	else if (sa->sa_family == AF_INET6)
		evutil_inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr,
		    host, sizeof(host));
	snprintf(c->peer, sizeof(c->peer), "%s", host);
	c->s = s;
	c->state = C_SNIFF;
	c->accepted_ms = ag_mono_ms();
	c->next = s->conns;
	if (s->conns != NULL)
		s->conns->prev = c;
	s->conns = c;
	s->nconns++;
	bufferevent_setcb(c->bev, readcb, writecb, eventcb, c);
	/* Never buffer more than a head and its one extra byte. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, AP_HEAD_MAX + 1);
	bufferevent_enable(c->bev, EV_READ);
	set_timer(c, s->cfg->line_wait_ms);
}

static void
errorcb(struct evconnlistener *l, void *arg)
{
	(void)arg;
	(void)l;
	log_warn("accept: %s", evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

struct srv *
srv_new(struct event_base *base, struct col *col, const struct acf *cfg,
    char *err, size_t errlen)
{
	struct srv *s = calloc(1, sizeof(*s));
	size_t i;

	if (s == NULL) {
		ag_errf(err, errlen, "out of memory");
		return NULL;
	}
	s->base = base;
	s->col = col;
	s->cfg = cfg;
	for (i = 0; i < cfg->nlisten; i++) {
		s->l[i] = evconnlistener_new_bind(base, acceptcb, s,
		    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
		    128, (const struct sockaddr *)&cfg->listen[i].ss,
		    (int)cfg->listen[i].len);
		if (s->l[i] == NULL) {
			ag_errf(err, errlen, "listen on %s: %s", cfg->listen[i].text,
			    strerror(errno));
			srv_free(s);
			return NULL;
		}
		evconnlistener_set_error_cb(s->l[i], errorcb);
		s->nl++;
	}
	return s;
}

void
srv_set_config(struct srv *s, const struct acf *cfg)
{
	s->cfg = cfg;
}

int
srv_port(const struct srv *s, size_t i)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);

	if (i >= s->nl || getsockname(evconnlistener_get_fd(s->l[i]),
	    (struct sockaddr *)&ss, &len) == -1)
		return -1;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

void
srv_free(struct srv *s)
{
	size_t i;

	if (s == NULL)
		return;
	while (s->conns != NULL)
		conn_free(s->conns);
	for (i = 0; i < s->nl; i++)
		evconnlistener_free(s->l[i]);
	free(s);
}
