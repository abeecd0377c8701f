/*
 * relay.c -- see relay.h.
 */
#include <stdlib.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "lib/log.h"
#include "proxy/relay.h"

/* How long a relay that lost one side waits for the other to drain. */
#define RELAY_LINGER_MS 30000

struct relay {
	struct bufferevent *side[2];
	bool                eof[2];     /* side i sent EOF */
	bool                shut[2];    /* we shut down writing towards side i */
	bool                paused[2];  /* reading side i paused for backpressure */
	bool                plain[2];   /* side i is a socket, not TLS: see relay_send */
	bool                failed;     /* one side is gone: drain, then end */
	bool                ended;
	enum relay_end      why;
	size_t              cap;
	uint64_t            bytes[2];   /* read from side i */
	uint64_t           *live[2];    /* also added to (atomically), or NULL */
	uint64_t            idle_ms;
	uint64_t            last_ms;    /* last byte moved */
	uint64_t            linger_until;
	struct event       *timer;      /* idle limit and linger deadline */
	relay_done_fn       done;
	void               *arg;
};

static void relay_readcb(struct bufferevent *bev, void *arg);
static void relay_writecb(struct bufferevent *bev, void *arg);
static void relay_eventcb(struct bufferevent *bev, short what, void *arg);

const char *
relay_end_name(enum relay_end why)
{
	switch (why) {
	case RELAY_END_CLOSED:        return "closed";
	case RELAY_END_CLIENT_ERROR:  return "client_error";
	case RELAY_END_BACKEND_ERROR: return "backend_error";
	case RELAY_END_IDLE:          return "idle_timeout";
	case RELAY_END_STOPPED:       return "stopped";
	}
	return "unknown";
}

static int
side_of(const struct relay *r, const struct bufferevent *bev)
{
	return bev == r->side[0] ? 0 : 1;
}

static void
relay_end(struct relay *r, enum relay_end why)
{
	if (r->ended)
		return;
	r->ended = true;
	r->why = why;
	bufferevent_disable(r->side[0], EV_READ | EV_WRITE);
	bufferevent_disable(r->side[1], EV_READ | EV_WRITE);
	if (r->timer != NULL)
		evtimer_del(r->timer);
	/* May free r: nothing after this line touches it. */
	r->done(r, why, r->arg);
}

static void
arm_timer(struct relay *r, uint64_t now)
{
	uint64_t due = 0, wait;
	struct timeval tv;

	if (r->timer == NULL)
		return;
	if (r->failed)
		due = r->linger_until;
	if (r->idle_ms > 0 && (due == 0 || r->last_ms + r->idle_ms < due))
		due = r->last_ms + r->idle_ms;
	if (due == 0) {
		evtimer_del(r->timer);
		return;
	}
	wait = due > now ? due - now : 0;
	tv.tv_sec = (time_t)(wait / 1000);
	tv.tv_usec = (suseconds_t)(wait % 1000) * 1000;
	evtimer_add(r->timer, &tv);
}

static void
relay_timercb(evutil_socket_t fd, short what, void *arg)
{
	struct relay *r = arg;
	uint64_t now = pg_now_ms();

	if (r->failed && now >= r->linger_until) {
		relay_end(r, r->why);
		return;
	}
	if (r->idle_ms > 0 && now - r->last_ms >= r->idle_ms) {
		relay_end(r, RELAY_END_IDLE);
		return;
	}
	/* Activity since the timer was set: wait for the rest of the period. */
	arm_timer(r, now);
}

/*
 * Both directions are complete once each side has sent EOF and everything
 * it sent was written to the other side, whose writing half we then shut.
 */
static void
maybe_finished(struct relay *r)
{
	if (r->shut[0] && r->shut[1])
		relay_end(r, RELAY_END_CLOSED);
}

/* Side `from` sent EOF: pass it on once its bytes have been written. */
static void
forward_eof(struct relay *r, int from)
{
	int to = 1 - from;
	struct evbuffer *out = bufferevent_get_output(r->side[to]);

	if (r->shut[to])
		return;
	if (evbuffer_get_length(out) > 0) {
		/* relay_writecb finishes the job when the buffer is empty. */
		bufferevent_setwatermark(r->side[to], EV_WRITE, 0, 0);
		bufferevent_enable(r->side[to], EV_WRITE);
		return;
	}
	shutdown(bufferevent_getfd(r->side[to]), SHUT_WR);
	r->shut[to] = true;
	maybe_finished(r);
}

void
relay_write_now(struct bufferevent *bev)
{
	struct evbuffer *out = bufferevent_get_output(bev);

	if (evbuffer_get_length(out) == 0 ||
	    (bufferevent_get_enabled(bev) & EV_WRITE))
		return;
	/*
	 * A socket bufferevent keeps the start of its output frozen, so that
	 * only its own writer drains it; its writer unfreezes it around each
	 * write in just this way.
	 */
	evbuffer_unfreeze(out, 1);
	(void)evbuffer_write(out, bufferevent_getfd(bev));
	evbuffer_freeze(out, 1);
	if (evbuffer_get_length(out) > 0)
		bufferevent_enable(bev, EV_WRITE);
}

/*
 * Send what waits in the output towards side `to`: a plain socket at once
 * (relay_write_now), so a plain side has EV_WRITE on exactly while its
 * output is not empty (relay_writecb turns it off when drained). A TLS
 * side writes by itself (EV_WRITE stays on).
 */
static void
relay_send(struct relay *r, int to)
{
	if (r->plain[to])
		relay_write_now(r->side[to]);
}

static void
relay_readcb(struct bufferevent *bev, void *arg)
{
	struct relay *r = arg;
	int from = side_of(r, bev), to = 1 - from;
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer *out = bufferevent_get_output(r->side[to]);
	size_t n = evbuffer_get_length(in);

	if (n == 0)
		return;
	if (r->failed) {
		/* The other side is gone: nothing to send it to. */
		evbuffer_drain(in, n);
		return;
	}
	r->bytes[from] += n;
	if (r->live[from] != NULL)
		__atomic_fetch_add(r->live[from], n, __ATOMIC_RELAXED);
	r->last_ms = pg_now_ms();
	evbuffer_add_buffer(out, in);
	relay_send(r, to);
	if (evbuffer_get_length(out) >= r->cap) {
		/*
		 * The receiving side is slower than the sender: stop reading
		 * until it has drained to half the cap (relay_writecb).
		 */
		bufferevent_disable(bev, EV_READ);
		r->paused[from] = true;
		bufferevent_setwatermark(r->side[to], EV_WRITE, r->cap / 2, 0);
	}
}

static void
relay_writecb(struct bufferevent *bev, void *arg)
{
	struct relay *r = arg;
	int to = side_of(r, bev), from = 1 - to;

	if (r->paused[from]) {
		r->paused[from] = false;
		bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
		if (!r->eof[from] && !r->failed)
			bufferevent_enable(r->side[from], EV_READ);
	}
	if (evbuffer_get_length(bufferevent_get_output(bev)) > 0)
		return;
	if (r->plain[to])   /* drained: relay_send writes the next bytes */
		bufferevent_disable(bev, EV_WRITE);
	if (r->failed) {
		relay_end(r, r->why);
		return;
	}
	if (r->eof[from])
		forward_eof(r, from);
}

static void
relay_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct relay *r = arg;
	int from = side_of(r, bev), to = 1 - from;

	if (what & BEV_EVENT_EOF) {
		/* Any bytes that came with the EOF were delivered to readcb. */
		r->eof[from] = true;
		forward_eof(r, from);
		return;
	}
	/*
	 * Error on one side (reset, unreachable): it can neither send nor
	 * receive. Flush what the other side is still owed, then end.
	 */
	r->failed = true;
	r->why = from == 0 ? RELAY_END_CLIENT_ERROR : RELAY_END_BACKEND_ERROR;
	bufferevent_disable(bev, EV_READ | EV_WRITE);
	bufferevent_disable(r->side[to], EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(r->side[to])) == 0 ||
	    r->shut[to]) {
		relay_end(r, r->why);
		return;
	}
	bufferevent_setwatermark(r->side[to], EV_WRITE, 0, 0);
	r->linger_until = pg_now_ms() + RELAY_LINGER_MS;
	arm_timer(r, pg_now_ms());
}

struct relay *
relay_start(struct bufferevent *client, struct bufferevent *backend,
    bool client_eof, size_t cap, uint64_t idle_ms, relay_done_fn done, void *arg)
{
	struct relay *r;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	r->side[0] = client;
	r->side[1] = backend;
	r->cap = cap;
	r->idle_ms = idle_ms;
	r->last_ms = pg_now_ms();
	r->done = done;
	r->arg = arg;
	/* The timer serves the idle limit and the linger after a failure. */
	r->timer = evtimer_new(bufferevent_get_base(client), relay_timercb, r);
	if (r->timer == NULL) {
		free(r);
		return NULL;
	}
	for (int i = 0; i < 2; i++) {
		r->plain[i] = bufferevent_openssl_get_ssl(r->side[i]) == NULL;
		bufferevent_setcb(r->side[i], relay_readcb, relay_writecb,
		    relay_eventcb, r);
		bufferevent_setwatermark(r->side[i], EV_READ, 0, 0);
		bufferevent_setwatermark(r->side[i], EV_WRITE, 0, 0);
		bufferevent_enable(r->side[i], EV_READ);
		/* relay_send's rule: a plain side writes through libevent
		 * only while its output holds what the kernel did not take. */
		if (!r->plain[i] || evbuffer_get_length(
		    bufferevent_get_output(r->side[i])) > 0)
			bufferevent_enable(r->side[i], EV_WRITE);
		else
			bufferevent_disable(r->side[i], EV_WRITE);
	}
	arm_timer(r, r->last_ms);
	/*
	 * Bytes either side sent before the relay began (the client while the
	 * VM was being connected; a VM right after its 101 Switching Protocols)
	 * are in the input buffers already: relay them now.
	 */
	relay_readcb(client, r);
	relay_readcb(backend, r);
	if (client_eof) {
		r->eof[0] = true;
		bufferevent_disable(client, EV_READ);
		forward_eof(r, 0);
	}
	return r;
}

void
relay_stop(struct relay *r)
{
	relay_end(r, RELAY_END_STOPPED);
}

void
relay_free(struct relay *r)
{
	if (r == NULL)
		return;
	if (r->timer != NULL)
		event_free(r->timer);
	bufferevent_free(r->side[0]);
	bufferevent_free(r->side[1]);
	free(r);
}

void
relay_count_into(struct relay *r, uint64_t *up, uint64_t *down)
{
	r->live[0] = up;
	r->live[1] = down;
}

uint64_t
relay_bytes_up(const struct relay *r)
{
	return r->bytes[0];
}

uint64_t
relay_bytes_down(const struct relay *r)
{
	return r->bytes[1];
}

size_t
relay_pending(const struct relay *r, int side)
{
	return evbuffer_get_length(bufferevent_get_output(r->side[side]));
}
