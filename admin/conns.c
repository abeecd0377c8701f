/*
 * conns.c -- see conns.h.
 *
 * Each connection is a struct ac_conn, the context of its filter. It is on
 * one of two lists of the guard: `live` (counted against the cap, in order
 * of deadline: a deadline is always now + deadline_ms, so a connection
 * whose deadline starts again moves to the tail) or `closing` (shut down,
 * waiting for evhttp to free it). Its timer fires at the deadline, or at
 * once for a connection refused when it was accepted: evhttp sets the
 * socket on the bufferevent only after the bevcb returns, so the shutdown
 * waits for the next turn of the loop.
 *
 * Lifetime: evhttp owns the filter; the filter owns the socket bufferevent
 * (BEV_OPT_CLOSE_ON_FREE on both, so libevent closes the descriptor when it
 * finalizes the socket bufferevent, and evhttp does not close it twice).
 * The ac_conn lives until the filter's free_context (conn_gone). The guard
 * may go first (ac_free, after evhttp_free): it then detaches its
 * connections, and conn_gone only frees the struct.
 *
 * Writing. A filter over a socket bufferevent does not behave as evhttp
 * expects of a plain one, in two ways (libevent 2.1):
 *   - evhttp adds a reply to the output while writing is disabled, then
 *     enables it; the filter moves output only when bytes are added while
 *     enabled, so the reply would sit there. Every addition therefore
 *     schedules a flush on the next turn of the loop (kick_cb), when
 *     evhttp has enabled writing.
 *   - evhttp takes "the output is empty" for "the reply is sent", and on
 *     Connection: close frees the connection and shuts the socket's
 *     writing down at once; bytes handed on to the socket bufferevent and
 *     not yet written would be lost. So the output filter (out_direct)
 *     writes straight to the socket and takes from the output only what
 *     the kernel accepted; when the kernel is full it waits for the socket
 *     to be writable (wev) and flushes again. The socket bufferevent only
 *     ever reads.
 * Writes happen only in those two callbacks (flushing), never inside
 * evhttp's own call that added the bytes, so evhttp is never re-entered.
 */
#include <errno.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "admin/conns.h"
#include "lib/log.h"

struct ac_guard;

struct ac_conn {
	TAILQ_ENTRY(ac_conn) link;       /* g->live or g->closing */
	struct ac_guard     *g;          /* NULL once the guard is gone */
	struct bufferevent  *filter;     /* what evhttp holds */
	struct bufferevent  *sock;       /* the socket under it */
	struct event        *timer;      /* deadline, or shutdown at once */
	struct event        *kick;       /* flush the output (event_active) */
	struct event        *wev;        /* the socket is writable again, or NULL */
	bool                 closing;    /* on g->closing */
	bool                 flushing;   /* in kick_cb or wev_cb: out_direct writes */
	bool                 answered;   /* a request of it reached ac_request */
	bool                 got_bytes;  /* bytes came in since that request */
};

TAILQ_HEAD(ac_list, ac_conn);

/* A limit's log line, at most one per AC_LOG_EVERY_MS. */
struct ac_quiet {
	uint64_t next_ms;                /* no line before */
	uint64_t hidden;                 /* events since the last line */
};

struct ac_guard {
	struct event_base *base;
	struct ac_list     live;         /* by deadline, nearest first */
	struct ac_list     closing;
	size_t             nlive;
	size_t             nall;         /* live + closing */
	size_t             max;
	uint64_t           deadline_ms;
	struct ac_quiet    q_cap, q_deadline;
};

/* Whether to log now; *hidden gets how many lines were skipped before. */
static bool
quiet_pass(struct ac_quiet *q, uint64_t now, uint64_t *hidden)
{
	if (now < q->next_ms) {
		q->hidden++;
		return false;
	}
	*hidden = q->hidden;
	q->hidden = 0;
	q->next_ms = now + AC_LOG_EVERY_MS;
	return true;
}

/* The client's address for a log line ("?" when unknown). */
static void
conn_peer(const struct ac_conn *c, char *out, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	evutil_socket_t fd = bufferevent_getfd(c->sock);

	snprintf(out, len, "?");
	if (fd >= 0 && getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
		(void)getnameinfo((struct sockaddr *)&ss, sl, out, (socklen_t)len,
		    NULL, 0, NI_NUMERICHOST);
}

static void
conn_shutdown(struct ac_conn *c)
{
	evutil_socket_t fd = bufferevent_getfd(c->sock);

	/* evhttp sees EOF or EPIPE on its next turn and frees the connection */
	if (fd >= 0)
		(void)shutdown(fd, SHUT_RDWR);
}

/* Move c from live to closing. */
static void
conn_to_closing(struct ac_guard *g, struct ac_conn *c)
{
	if (c->closing)
		return;
	TAILQ_REMOVE(&g->live, c, link);
	g->nlive--;
	TAILQ_INSERT_TAIL(&g->closing, c, link);
	c->closing = true;
	evtimer_del(c->timer);
}

/* (Re)start c's deadline from now: it goes to the tail of live. */
static void
conn_arm(struct ac_guard *g, struct ac_conn *c)
{
	struct timeval tv;

	tv.tv_sec = (time_t)(g->deadline_ms / 1000);
	tv.tv_usec = (suseconds_t)(g->deadline_ms % 1000) * 1000;
	TAILQ_REMOVE(&g->live, c, link);
	TAILQ_INSERT_TAIL(&g->live, c, link);
	evtimer_add(c->timer, &tv);
}

/* Whether evhttp still holds c: it clears the callbacks when it frees one. */
static bool
conn_alive(const struct ac_conn *c)
{
	bufferevent_event_cb ecb = NULL;

	bufferevent_getcb(c->filter, NULL, NULL, &ecb, NULL);
	return ecb != NULL;
}

/* Write what the output holds now, from a callback of our own. */
static void
conn_flush(struct ac_conn *c)
{
	if (!conn_alive(c))
		return;
	c->flushing = true;
	/* holds a reference on the filter: evhttp may free it meanwhile */
	bufferevent_flush(c->filter, EV_WRITE, BEV_NORMAL);
	c->flushing = false;
}

static void
kick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_flush(arg);
}

static void
wev_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	conn_flush(arg);
}

/* Bytes came in: a request is under way (see timer_cb). */
static void
in_added(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct ac_conn *c = arg;

	(void)buf;
	if (info->n_added > 0)
		c->got_bytes = true;
}

/* Bytes were added to the output: flush them on the next turn. */
static void
out_added(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct ac_conn *c = arg;

	(void)buf;
	if (info->n_added > 0 && c->kick != NULL)
		event_active(c->kick, EV_TIMEOUT, 1);
}

/*
 * The output filter: src is what evhttp wrote, dst the socket
 * bufferevent's output, which stays empty (see the top of the file).
 */
static enum bufferevent_filter_result
out_direct(struct evbuffer *src, struct evbuffer *dst, ev_ssize_t limit,
    enum bufferevent_flush_mode mode, void *arg)
{
	struct ac_conn *c = arg;
	evutil_socket_t fd = bufferevent_getfd(c->sock);
	int n;

	(void)dst;
	(void)limit;
	(void)mode;
	if (!c->flushing || fd < 0 || evbuffer_get_length(src) == 0)
		return BEV_NEED_MORE;
	n = evbuffer_write(src, fd);
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		/* evhttp learns of it by the end of reading: it frees it */
		(void)shutdown(fd, SHUT_RDWR);
		return BEV_ERROR;
	}
	if (evbuffer_get_length(src) > 0) {
		if (c->wev == NULL)
			c->wev = event_new(bufferevent_get_base(c->filter), fd,
			    EV_WRITE, wev_cb, c);
		if (c->wev != NULL)
			event_add(c->wev, NULL);
	}
	return n > 0 ? BEV_OK : BEV_NEED_MORE;
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ac_conn *c = arg;
	struct ac_guard *g = c->g;
	uint64_t hidden;
	char peer[64];

	(void)fd;
	(void)what;
	if (g == NULL)
		return;
	if (!c->closing && c->answered && !c->got_bytes &&
	    evbuffer_get_length(bufferevent_get_output(c->filter)) == 0) {
		/* a kept-alive connection, idle since its reply: nothing wrong */
		conn_to_closing(g, c);
	} else if (!c->closing) {
		if (quiet_pass(&g->q_deadline, pg_now_ms(), &hidden)) {
			conn_peer(c, peer, sizeof(peer));
			log_warn("admin: connection from %s closed: no whole request "
			    "and reply within %llu ms (%llu more since the last "
			    "such line)", peer, (unsigned long long)g->deadline_ms,
			    (unsigned long long)hidden);
		}
		conn_to_closing(g, c);
	}
	conn_shutdown(c);
}

/* The filter's free_context: evhttp freed the connection. */
static void
conn_gone(void *arg)
{
	struct ac_conn *c = arg;
	struct ac_guard *g = c->g;

	if (g != NULL) {
		if (c->closing)
			TAILQ_REMOVE(&g->closing, c, link);
		else {
			TAILQ_REMOVE(&g->live, c, link);
			g->nlive--;
		}
		g->nall--;
	}
	if (c->timer != NULL)
		event_free(c->timer);
	if (c->kick != NULL)
		event_free(c->kick);
	if (c->wev != NULL)
		event_free(c->wev);
	free(c);
}

/*
 * evhttp's bevcb: the bufferevent of a connection just accepted (its
 * socket is set after we return). NULL makes evhttp use a plain one: that
 * connection is then not guarded, which only happens out of memory.
 */
static struct bufferevent *
bev_cb(struct event_base *base, void *arg)
{
	struct ac_guard *g = arg;
	struct ac_conn *c, *old;
	struct timeval now0 = { 0, 0 };
	uint64_t hidden, now = pg_now_ms();
	char peer[64];

	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->timer = evtimer_new(base, timer_cb, c)) == NULL ||
	    (c->kick = event_new(base, -1, 0, kick_cb, c)) == NULL ||
	    (c->sock = bufferevent_socket_new(base, -1,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL)
		goto fail;
	if ((c->filter = bufferevent_filter_new(c->sock, NULL, out_direct,
	    BEV_OPT_CLOSE_ON_FREE, conn_gone, c)) == NULL) {
		bufferevent_free(c->sock);
		goto fail;
	}
	/* from here on conn_gone frees c, whatever happens */
	if (evbuffer_add_cb(bufferevent_get_output(c->filter), out_added,
	    c) == NULL || evbuffer_add_cb(bufferevent_get_input(c->filter),
	    in_added, c) == NULL) {
		bufferevent_free(c->filter);
		goto fail_logged;
	}
	c->g = g;
	g->nall++;
	TAILQ_INSERT_TAIL(&g->live, c, link);
	g->nlive++;
	if (g->nlive > g->max) {
		/* the one that waited longest goes; its socket is set by now */
		old = TAILQ_FIRST(&g->live);
		if (quiet_pass(&g->q_cap, now, &hidden)) {
			conn_peer(old, peer, sizeof(peer));
			log_warn("admin: %zu connections open (the cap): closed the "
			    "one from %s that waited longest (%llu more since the "
			    "last such line)", g->max, peer,
			    (unsigned long long)hidden);
		}
		conn_to_closing(g, old);
		conn_shutdown(old);
	}
	if (g->nall > 2 * g->max) {
		/* the pushed-out ones are not freed yet: not this one either */
		conn_to_closing(g, c);
		evtimer_add(c->timer, &now0);
	} else
		conn_arm(g, c);
	return c->filter;
fail:
	if (c != NULL && c->timer != NULL)
		event_free(c->timer);
	if (c != NULL && c->kick != NULL)
		event_free(c->kick);
	free(c);
fail_logged:
	log_err("admin: out of memory for a connection: it goes unguarded");
	return NULL;
}

struct ac_guard *
ac_new(struct evhttp *http, struct event_base *base, size_t max_conns,
    uint64_t deadline_ms)
{
	struct ac_guard *g = calloc(1, sizeof(*g));

	if (g == NULL)
		return NULL;
	g->base = base;
	g->max = max_conns > 0 ? max_conns : 1;
	g->deadline_ms = deadline_ms;
	TAILQ_INIT(&g->live);
	TAILQ_INIT(&g->closing);
	evhttp_set_bevcb(http, bev_cb, g);
	return g;
}

void
ac_request(struct ac_guard *g, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev;
	struct ac_conn *c;

	if (g == NULL || evcon == NULL ||
	    (bev = evhttp_connection_get_bufferevent(evcon)) == NULL)
		return;
	/* at most max_conns to look at */
	TAILQ_FOREACH(c, &g->live, link)
		if (c->filter == bev) {
			c->answered = true;
			c->got_bytes = false;
			conn_arm(g, c);
			return;
		}
}

size_t
ac_count(const struct ac_guard *g)
{
	return g->nall;
}

static void
detach_all(struct ac_list *l)
{
	struct ac_conn *c;

	while ((c = TAILQ_FIRST(l)) != NULL) {
		TAILQ_REMOVE(l, c, link);
		c->g = NULL;
		event_free(c->timer);
		c->timer = NULL;
		event_free(c->kick);
		c->kick = NULL;
		if (c->wev != NULL)
			event_free(c->wev);
		c->wev = NULL;
	}
}

void
ac_free(struct ac_guard *g)
{
	if (g == NULL)
		return;
	detach_all(&g->live);
	detach_all(&g->closing);
	free(g);
}
