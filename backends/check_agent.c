/*
 * check_agent.c -- see check_agent.h. One struct agent_check per VM; as in
 * check.c, a single timer serves both the next run and the deadline of the
 * probe in flight.
 */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>

#include "backends/agent.h"
#include "backends/check_agent.h"
#include "backends/report.h"
#include "lib/log.h"

struct agent_check {
	struct members     *m;            /* b's pool module */
	struct backend     *b;
	int                 port;
	uint64_t            interval_ms;
	uint64_t            timeout_ms;
	struct event_base  *base;
	struct event       *timer;
	struct bufferevent *bev;          /* probe in flight, or NULL */
	struct bufferevent *rbev;         /* report request in flight, or NULL */
	bool                report;       /* also read GET /v1/report */
	struct vm_report   *rep;          /* parse buffer, owned (big: not on the stack) */
	uint64_t            started_ms;
	bool                failing;      /* the last attempt failed (logged) */
	char                note[AGENT_NOTE_MAX + 1]; /* last note logged */
};

static void
set_timer(struct agent_check *c, uint64_t ms)
{
	struct timeval tv = {
		.tv_sec = (time_t)(ms / 1000),
		.tv_usec = (suseconds_t)(ms % 1000) * 1000,
	};

	evtimer_add(c->timer, &tv);
}

static void report_start(struct agent_check *c);

/* Plan the next round interval after this one started. */
static void
round_end(struct agent_check *c, uint64_t now)
{
	uint64_t spent = now - c->started_ms;

	set_timer(c, spent < c->interval_ms ? c->interval_ms - spent : 0);
}

/* Close the line probe; the report comes next, if asked for. */
static void
probe_end(struct agent_check *c, uint64_t now)
{
	if (c->bev != NULL) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	if (c->report)
		report_start(c);
	else
		round_end(c, now);
}

/* No valid reply: keep what the agent said last, say why in the status. */
static void
probe_failed(struct agent_check *c, const char *why)
{
	struct backend *b = c->b;
	uint64_t now = pg_now_ms();

	snprintf(b->agent_last, sizeof(b->agent_last), "error: %s", why);
	b->agent_last_ok = false;
	b->agent_last_ms = now;
	/* Once per outage, not every interval. */
	if (!c->failing)
		log_warn("backend %s agent: no reply on port %d (%s); keeping its "
		    "last report", b->name, c->port, why);
	c->failing = true;
	probe_end(c, now);
}

/* Log what changed in the agent's admin or operational state. */
static void
log_change(struct agent_check *c, const struct agent_reply *r, unsigned ch)
{
	struct backend *b = c->b;
	enum pg_log_level level = PG_LOG_INFO;
	char what[32] = "";

	if (ch & AGENT_CH_ADMIN)
		snprintf(what, sizeof(what), "%s", agent_admin_name(b->agent_admin));
	if (ch & AGENT_CH_DOWN) {
		snprintf(what + strlen(what), sizeof(what) - strlen(what), "%s%s",
		    what[0] ? " " : "", b->agent_down ? agent_op_name(r->op) : "up");
		if (b->agent_down)
			level = PG_LOG_WARN;
	}
	pg_log(level, "backend %s agent: %s%s%s%s%s", b->name, what,
	    b->agent_reason[0] ? " (#" : "", b->agent_reason,
	    b->agent_reason[0] ? ")" : "",
	    (ch & AGENT_CH_ADMIN) && b->admin > b->agent_admin ?
	    "; the operator's drain or maint still applies" : "");
}

static void
probe_reply(struct agent_check *c, const char *buf, size_t len)
{
	struct backend *b = c->b;
	struct agent_reply r;
	uint64_t now;
	unsigned ch;

	if (agent_parse(buf, len, &r) == -1) {
		probe_failed(c, r.error);
		return;
	}
	now = pg_now_ms();
	ch = agent_apply(b, &r);
	if (ch != 0)   /* weight, maxconn, admin or down: selection reads them */
		mbr_agent_changed(c->m, b);
	agent_describe(&r, b->agent_last, sizeof(b->agent_last));
	b->agent_last_ok = true;
	b->agent_last_ms = now;
	if (c->failing)
		log_info("backend %s agent: replying again", b->name);
	c->failing = false;
	if (ch & (AGENT_CH_ADMIN | AGENT_CH_DOWN))
		log_change(c, &r, ch);
	if (ch & (AGENT_CH_WEIGHT | AGENT_CH_MAXCONN))
		log_debug("backend %s agent: weight %d%% maxconn %d", b->name,
		    b->agent_weight_pct, b->agent_maxconn);
	/* An agent that says something odd says it every time: log it once. */
	if (strcmp(r.note, c->note) != 0 && r.note[0] != '\0')
		log_warn("backend %s agent: ignored %s", b->name, r.note);
	snprintf(c->note, sizeof(c->note), "%s", r.note);
	probe_end(c, now);
}

static void
probe_readcb(struct bufferevent *bev, void *arg)
{
	struct agent_check *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in);
	const char *p;

	if (len > AGENT_LINE_MAX + 1)
		len = AGENT_LINE_MAX + 1;
	p = (const char *)evbuffer_pullup(in, (ssize_t)len);
	if (p != NULL && agent_complete(p, len))
		probe_reply(c, p, len);
}

static void
probe_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct agent_check *c = arg;
	struct evbuffer *in;
	size_t len;

	if (what & BEV_EVENT_CONNECTED) {
		bufferevent_enable(bev, EV_READ);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		/* The agent closed: a last line without CR/LF counts. */
		in = bufferevent_get_input(bev);
		len = evbuffer_get_length(in);
		if (len > AGENT_LINE_MAX + 1)
			len = AGENT_LINE_MAX + 1;
		probe_reply(c, (const char *)evbuffer_pullup(in, (ssize_t)len),
		    len);
		return;
	}
	probe_failed(c, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

/* The agent's address: the VM's, on the agent port. */
static void
agent_addr(const struct agent_check *c, struct sockaddr_storage *ss)
{
	memcpy(ss, &c->b->addr.ss, sizeof(*ss));
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)c->port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)c->port);
}

/* ---- the report ------------------------------------------------------------ */

static void
report_end(struct agent_check *c, const char *buf, size_t len, const char *why)
{
	char err[160] = "";
	const char *body;
	size_t blen;
	const struct vm_report *r = NULL;

	if (why != NULL)
		snprintf(err, sizeof(err), "%s", why);
	else if (rep_http_body(buf, len, &body, &blen, err, sizeof(err)) == 0) {
		if (c->rep == NULL && (c->rep = malloc(sizeof(*c->rep))) == NULL)
			snprintf(err, sizeof(err), "out of memory");
		else if (rep_parse(body, blen, c->rep, err, sizeof(err)) == 0)
			r = c->rep;
	}
	mbr_report(c->m, c->b, r, err, pg_now_ms());
	if (c->rbev != NULL) {
		bufferevent_free(c->rbev);
		c->rbev = NULL;
	}
	round_end(c, pg_now_ms());
}

static void
report_readcb(struct bufferevent *bev, void *arg)
{
	struct agent_check *c = arg;

	if (evbuffer_get_length(bufferevent_get_input(bev)) > REP_HTTP_MAX)
		report_end(c, NULL, 0, "answer over the limit of "
		    "2097152 bytes");
}

static void
report_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct agent_check *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	char req[256];

	if (what & BEV_EVENT_CONNECTED) {
		snprintf(req, sizeof(req), "GET /v1/report HTTP/1.1\r\n"
		    "Host: %s\r\nUser-Agent: poolgate\r\nAccept: "
		    "application/json\r\nConnection: close\r\n\r\n",
		    c->b->addr.text);
		bufferevent_write(bev, req, strlen(req));
		bufferevent_enable(bev, EV_READ);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		size_t len = evbuffer_get_length(in);

		report_end(c, (const char *)evbuffer_pullup(in, (ssize_t)len),
		    len, NULL);
		return;
	}
	report_end(c, NULL, 0,
	    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

static void
report_start(struct agent_check *c)
{
	struct sockaddr_storage ss;
	struct bufferevent *bev;

	agent_addr(c, &ss);
	c->rbev = bev = bufferevent_socket_new(c->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		report_end(c, NULL, 0, "out of resources");
		return;
	}
	bufferevent_setcb(bev, report_readcb, NULL, report_eventcb, c);
	set_timer(c, c->timeout_ms);    /* the request's deadline */
	if (bufferevent_socket_connect(bev, (struct sockaddr *)&ss,
	    (int)c->b->addr.len) == -1 && c->rbev == bev)
		report_end(c, NULL, 0, "connect failed");
}

/* ---- the agent-check line ------------------------------------------------- */

static void
probe_start(struct agent_check *c)
{
	struct sockaddr_storage ss;
	struct bufferevent *bev;

	agent_addr(c, &ss);
	c->started_ms = pg_now_ms();
	c->bev = bev = bufferevent_socket_new(c->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL) {
		probe_failed(c, "out of resources");
		return;
	}
	bufferevent_setcb(bev, probe_readcb, NULL, probe_eventcb, c);
	/* Reading stops at the cap; agent_complete() then decides. */
	bufferevent_setwatermark(bev, EV_READ, 0, AGENT_LINE_MAX + 1);
	set_timer(c, c->timeout_ms);    /* the probe's deadline */
	/*
	 * A connect that fails at once may already have run the event callback
	 * (which ended the probe) before returning -1: end it only once.
	 */
	if (bufferevent_socket_connect(bev, (struct sockaddr *)&ss,
	    (int)c->b->addr.len) == -1 && c->bev == bev)
		probe_failed(c, "connect failed");
}

static void
agent_timercb(evutil_socket_t fd, short what, void *arg)
{
	struct agent_check *c = arg;

	if (c->bev != NULL)
		probe_failed(c, "timeout");
	else if (c->rbev != NULL)
		report_end(c, NULL, 0, "timeout");
	else
		probe_start(c);
}

int
agent_start(struct event_base *base, struct members *m, struct backend *b,
    int port, uint64_t interval_ms, uint64_t timeout_ms, bool report)
{
	struct agent_check *c;

	agent_stop(b);
	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto fail;
	c->m = m;
	c->b = b;
	c->port = port;
	c->interval_ms = interval_ms;
	c->timeout_ms = timeout_ms;
	c->report = report;
	c->base = base;
	if ((c->timer = evtimer_new(base, agent_timercb, c)) == NULL) {
		free(c);
		goto fail;
	}
	b->agent_check = c;
	set_timer(c, 0);
	return 0;
fail:
	log_err("backend %s: out of memory starting the agent check", b->name);
	return -1;
}

void
agent_stop(struct backend *b)
{
	struct agent_check *c = b->agent_check;

	if (c == NULL)
		return;
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	if (c->rbev != NULL)
		bufferevent_free(c->rbev);
	event_free(c->timer);
	free(c->rep);
	free(c);
	b->agent_check = NULL;
}
