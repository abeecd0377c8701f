/*
 * httpconn.c -- see httpconn.h.
 *
 * One client connection carries one request at a time. For each request:
 *
 *   HEAD     read and parse the request head (bounded, header timeout)
 *   FORM     for POST <login_path>: wait for the form body (<= 8 KiB) to
 *            learn the user name
 *   CONNECT  route (user, cookie, address, load) and connect to the VM, or
 *            reuse the open connection when the VM is the same
 *   EXCHANGE forward the head (own cookie stripped, X-Forwarded-* added) and
 *            the body, while the response head is parsed, the affinity cookie
 *            added, and the response body forwarded by its framing
 *   TUNNEL   after 101 Switching Protocols to websocket: a plain relay
 *   CLOSING  flush what is queued to the client, then free
 *
 * Bodies are never buffered whole: bytes move from one side's input to the
 * other side's output, and reading pauses once RELAY_BUF_CAP bytes wait.
 *
 * Interest in reading stays on for both sides from the start to the end of a
 * connection: turning it off and on per message cost two epoll_ctl calls
 * each time. Pipelined requests wait in the client's input, bounded by its
 * cap; a VM that talks between requests, or closes an idle connection, is
 * noticed at once. Plain sockets are read by our own events (struct hc_rd)
 * and written directly (hc_send) rather than when epoll says they are
 * writable; a TLS client's bytes go to SSL_write directly (hc_send_cli).
 * Only what the kernel does not take is left to libevent.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event_struct.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "backends/members.h"
#include "backends/route.h"
#include "backends/usersess.h"
#include "http/cookie.h"
#include "http/http.h"
#include "proxy/httpconn.h"
#include "http/httpuser.h"
#include "lib/log.h"
#include "proxy/relay.h"
#include "lib/tls.h"

#define HC_MAX_TRIES 3
#define HC_TLS_RECORD 16384   /* most plaintext one TLS record carries */

enum hconn_state { HC_HEAD, HC_FORM, HC_CONNECT, HC_EXCHANGE, HC_TUNNEL, HC_CLOSING };

/*
 * A signed Set-Cookie field is reused for this long on one connection: a
 * client that never stores the cookie (a script, a load generator) would
 * otherwise cost an HMAC and a formatted field on every response. The value
 * then expires up to this much before the browser drops it (Max-Age counts
 * from the response), which only means a new cookie is set a little early.
 */
#define HC_COOKIE_REUSE_S 60

struct hc_cookie {
	char     vm[CFG_NAME_MAX + 1];  /* "" = nothing cached */
	char     user[HU_NAME_MAX + 1]; /* the user it names; "" = anonymous */
	uint64_t made_s;                /* wall clock when signed */
	size_t   len;
	char     field[512];            /* "Set-Cookie: ...\r\n\r\n" */
};

/*
 * Our own reading of a plain socket. libevent's socket bufferevent asks the
 * kernel how much is readable (ioctl FIONREAD) before every read: a third of
 * the syscalls of a proxied request once the epoll_ctl calls were gone. So
 * the bufferevent of a plain side never reads; this event does, straight
 * into the bufferevent's input, and calls the same callbacks libevent
 * would. A TLS side (!on) is read by its bufferevent as before.
 */
struct hc_rd {
	struct event  ev;       /* EV_READ|EV_PERSIST on the fd, when on */
	bool          on;       /* a plain side, read here */
	size_t        high;     /* stop reading while the input holds this; 0 = no cap */
	bool          paused;   /* backpressure or closing */
	bool          ended;    /* EOF or error seen: never again */
	bool          added;    /* ev is pending */
};

struct hconn {
	struct hconn       *prev, *next;   /* px->hconns */
	struct px_ctx      *px;
	struct service     *svc;            /* referenced */
	struct sockaddr_storage peer;
	char                addr[INET6_ADDRSTRLEN];
	char                peer_text[INET6_ADDRSTRLEN + 8];
	bool                tls;            /* TLS terminated here */
	bool                cli_eof;        /* the client sent EOF (half-close) */
	struct evbuffer    *tx;             /* TLS: what goes to the client next (hc_send_cli) */
	enum hconn_state       state;
	struct bufferevent *cli;
	struct bufferevent *be;             /* connection to `vm`, may outlive a request */
	struct hc_rd        cli_rd, be_rd;  /* reading cli / be, when plain */
	struct evbuffer_cb_entry *cli_in_cb; /* hc_cli_drained on cli's input */
	struct backend     *vm;             /* counted in vm->conns while be is open */
	struct relay       *tunnel;
	struct event       *timer;          /* header, keep-alive and response deadlines */
	uint64_t            io_ms;          /* exchange: last progress (response_timeout) */
	uint64_t            start_ms;
	uint64_t            start_wall_ms;
	int                 port;           /* client port */
	unsigned            nreq;
	uint64_t            bytes_up, bytes_down;
	uint64_t            live_up, live_down; /* of those, counted as they moved (tunnel) */
	uint64_t            connect_ms;     /* start of the current connect to the VM */
	const char         *end_why;        /* for the log line */
	char                last_user[HU_NAME_MAX + 1];
	char                last_vm[CFG_NAME_MAX + 1];
	uint64_t            ws_id;          /* the user's websocket, while tunnelling */
	struct hc_cookie   *ck;             /* the last Set-Cookie made, or NULL */

	/* The request in progress. */
	char               *head;           /* owned copy of the request head */
	size_t              headlen;
	struct http_req    *req;            /* owned; its slices point into head */
	enum http_method    method;
	bool                req_keepalive;
	bool                req_upgrade;
	char                user[HU_NAME_MAX + 1];     /* "" = anonymous */
	bool                login;          /* the login form's POST, naming user */
	bool                continued;      /* we answered its Expect: 100-continue */
	bool                hub_cookie;     /* carries jupyterhub-user-<user> */
	char                cookie_vm[CFG_NAME_MAX + 1]; /* "" = no valid cookie */
	char                cookie_user[HU_NAME_MAX + 1]; /* the user it names */
	bool                cookie_routes;  /* it may route this request
	                                       (route_cookie_applies) */
	struct backend     *tried[HC_MAX_TRIES];
	int                 ntried;
	bool                reused;         /* sent on a kept-alive connection */
	bool                req_done;       /* request body fully forwarded */
	enum http_body      req_body;
	uint64_t            req_left;
	struct http_chunked req_ck;
	bool                resp_started;   /* response bytes went to the client */
	bool                resp_head_done;
	enum http_body      resp_body;
	uint64_t            resp_left;
	struct http_chunked resp_ck;
	bool                resp_keepalive;
	bool                cli_paused, be_paused;  /* reading paused for backpressure */
};

static void hc_route(struct hconn *hc);
static void hc_read_head(struct hconn *hc);
static void hc_read_response(struct hconn *hc);
static void hc_free(struct hconn *hc);
static void hc_be_rdcb(evutil_socket_t fd, short what, void *arg);

/* ---- small helpers -------------------------------------------------------- */

static void
hc_arm(struct hconn *hc, uint64_t ms)
{
	struct timeval tv = {
		.tv_sec = (time_t)(ms / 1000),
		.tv_usec = (suseconds_t)(ms % 1000) * 1000,
	};

	if (ms == 0)
		evtimer_del(hc->timer);
	else
		evtimer_add(hc->timer, &tv);
}

/*
 * Send what waits in bev's output: a plain socket at once
 * (relay_write_now(); hc_write_drained turns EV_WRITE off again). TLS
 * bufferevents write by themselves (their EV_WRITE stays enabled).
 */
static void
hc_send(struct bufferevent *bev, bool tls)
{
	if (!tls)
		relay_write_now(bev);
}

/*
 * Send what waits for the client. Plain: as hc_send(). TLS: the bytes were
 * queued in hc->tx, not in the bufferevent, whose output callback would
 * turn EV_WRITE on (two epoll_ctl calls and a loop turn per response) and
 * write each evbuffer chain as its own TLS record. While libevent has
 * nothing queued and OpenSSL is not in the middle of an operation, they go
 * to SSL_write() here, up to a full record at a time; the rest (when the
 * socket is full or the connection failed) moves to the bufferevent, whose
 * own SSL_write then retries with the same bytes first, as OpenSSL requires
 * (libevent sets SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER), or reports the error.
 * Either way hc->tx is empty afterwards.
 */
static void
hc_send_cli(struct hconn *hc)
{
	struct evbuffer *out;
	SSL *ssl;

	if (hc->tx == NULL) {
		hc_send(hc->cli, false);
		return;
	}
	out = bufferevent_get_output(hc->cli);
	ssl = bufferevent_openssl_get_ssl(hc->cli);
	while (evbuffer_get_length(hc->tx) > 0 &&
	    evbuffer_get_length(out) == 0 && ssl != NULL &&
	    SSL_is_init_finished(ssl) &&
	    (SSL_want(ssl) == SSL_NOTHING || SSL_want(ssl) == SSL_READING)) {
		size_t len = evbuffer_get_length(hc->tx);
		unsigned char *p;
		int n;

		if (len > HC_TLS_RECORD)
			len = HC_TLS_RECORD;
		/* One record for head and body: they may sit in two chains. */
		if ((p = evbuffer_pullup(hc->tx, (ssize_t)len)) == NULL)
			break;
		ERR_clear_error();
		if ((n = SSL_write(ssl, p, (int)len)) <= 0)
			break;
		evbuffer_drain(hc->tx, (size_t)n);
	}
	if (evbuffer_get_length(hc->tx) > 0)
		evbuffer_add_buffer(out, hc->tx);
}

/* Where bytes for the client are queued (see hc_send_cli). */
static struct evbuffer *
hc_cli_out(struct hconn *hc)
{
	return hc->tx != NULL ? hc->tx : bufferevent_get_output(hc->cli);
}

/* From a write callback: a plain socket's output is empty, writing is off. */
static void
hc_write_drained(struct bufferevent *bev, bool tls)
{
	if (!tls && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		bufferevent_disable(bev, EV_WRITE);
}

/* Add or delete rd->ev to match what reading should be now. */
static void
hc_rd_update(struct hc_rd *rd, struct bufferevent *bev)
{
	bool want = !rd->paused && !rd->ended && (rd->high == 0 ||
	    evbuffer_get_length(bufferevent_get_input(bev)) < rd->high);

	if (want == rd->added)
		return;
	if (want)
		event_add(&rd->ev, NULL);
	else
		event_del(&rd->ev);
	rd->added = want;
}

/* Stop (paused) or resume reading from bev, whichever way it is read. */
static void
hc_reading(struct hconn *hc, struct bufferevent *bev, bool on)
{
	struct hc_rd *rd = bev == hc->cli ? &hc->cli_rd : &hc->be_rd;

	if (!rd->on) {
		if (on)
			bufferevent_enable(bev, EV_READ);
		else
			bufferevent_disable(bev, EV_READ);
		return;
	}
	rd->paused = !on;
	hc_rd_update(rd, bev);
}

/* Start reading a plain side: rd->ev on bev's fd calling cb. */
static void
hc_rd_start(struct hconn *hc, struct hc_rd *rd, struct bufferevent *bev,
    size_t high, event_callback_fn cb)
{
	event_assign(&rd->ev, hc->px->base, bufferevent_getfd(bev),
	    EV_READ | EV_PERSIST, cb, hc);
	rd->on = true;
	rd->high = high;
	rd->paused = rd->ended = rd->added = false;
	hc_rd_update(rd, bev);
}

static void
hc_rd_stop(struct hc_rd *rd)
{
	if (rd->on)
		event_del(&rd->ev);
	memset(rd, 0, sizeof(*rd));
}

/*
 * One read from a plain socket into bev's input, as libevent's bufferevent
 * would do it (at most 16 KiB, and no further than rd->high), minus the
 * FIONREAD. Returns the bytes read, 0 when there was nothing to read, or
 * BEV_EVENT_EOF / BEV_EVENT_ERROR negated, after which reading is over.
 */
static int
hc_rd_read(struct hc_rd *rd, struct bufferevent *bev)
{
	struct evbuffer *in = bufferevent_get_input(bev);
	struct evbuffer_iovec v[2];
	size_t max = 16384, len = evbuffer_get_length(in);
	ssize_t r;
	int n;

	if (rd->high != 0) {
		if (len >= rd->high) {
			hc_rd_update(rd, bev);
			return 0;
		}
		if (rd->high - len < max)
			max = rd->high - len;
	}
	/* A socket bufferevent freezes its input's end; see hc_send(). */
	evbuffer_unfreeze(in, 0);
	n = evbuffer_reserve_space(in, (ev_ssize_t)max, v, 2);
	if (n <= 0) {   /* out of memory: the connection fails, as in libevent */
		evbuffer_freeze(in, 0);
		rd->ended = true;
		hc_rd_update(rd, bev);
		return -BEV_EVENT_ERROR;
	}
	r = readv(bufferevent_getfd(bev), (struct iovec *)v, n);
	if (r > 0) {
		size_t left = (size_t)r;
		for (int i = 0; i < n; i++) {
			if (v[i].iov_len > left)
				v[i].iov_len = left;
			left -= v[i].iov_len;
		}
		evbuffer_commit_space(in, v, n);
	}
	evbuffer_freeze(in, 0);
	if (r > 0)
		return (int)r;
	if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return 0;
	rd->ended = true;
	hc_rd_update(rd, bev);
	return r == 0 ? -BEV_EVENT_EOF : -BEV_EVENT_ERROR;
}

static void
hc_close_be(struct hconn *hc)
{
	hc_rd_stop(&hc->be_rd);
	if (hc->be != NULL) {
		bufferevent_free(hc->be);
		hc->be = NULL;
	}
	if (hc->vm != NULL) {
		mbr_conns(hc->px->mbr, hc->vm, -1);
		hc->vm = NULL;
	}
}

static void
hc_reset_request(struct hconn *hc)
{
	free(hc->head);
	hc->head = NULL;
	hc->headlen = 0;
	free(hc->req);
	hc->req = NULL;
	hc->user[0] = '\0';
	hc->login = hc->hub_cookie = hc->continued = false;
	hc->cookie_vm[0] = hc->cookie_user[0] = '\0';
	hc->cookie_routes = false;
	hc->ntried = 0;
	hc->reused = false;
	hc->req_done = false;
	hc->resp_started = false;
	hc->resp_head_done = false;
	hc->req_left = hc->resp_left = 0;
}

/* Close once everything queued to the client has been written. */
static void
hc_close_after_flush(struct hconn *hc, const char *why)
{
	hc->state = HC_CLOSING;
	if (hc->end_why == NULL)
		hc->end_why = why;
	hc_arm(hc, 0);
	hc_close_be(hc);
	if (hc->cli != NULL)
		hc_send_cli(hc);
	if (hc->cli == NULL ||
	    evbuffer_get_length(bufferevent_get_output(hc->cli)) == 0) {
		hc_free(hc);
		return;
	}
	hc_reading(hc, hc->cli, false);
	bufferevent_setwatermark(hc->cli, EV_WRITE, 0, 0);
	/* A client that never reads its error must not hold us forever. */
	hc_arm(hc, 10000);
}

/* Answer the current request with an error of our own, then close. */
static void
hc_error(struct hconn *hc, int status, const char *why)
{
	struct evbuffer *out;
	const char *reason = http_reason(status);

	log_info("http client=%s service=%s: %d %s%s%s", hc->peer_text,
	    hc->svc->cfg.name, status, reason, why ? ": " : "", why ? why : "");
	if (hc->cli == NULL || hc->resp_started) {
		hc_close_after_flush(hc, why);
		return;
	}
	out = hc_cli_out(hc);
	if (status == 503) {
		static const char page[] =
		    "<!doctype html><html><head><meta charset=\"utf-8\">"
		    "<meta http-equiv=\"refresh\" content=\"10\">"
		    "<title>Starting a machine</title></head><body>"
		    "<h1>Starting a machine for you</h1>"
		    "<p>Every machine of the pool is busy or starting. This page "
		    "tries again by itself in a few seconds.</p></body></html>\n";
		evbuffer_add_printf(out, "HTTP/1.1 503 Service Unavailable\r\n"
		    "Content-Type: text/html; charset=utf-8\r\n"
		    "Retry-After: %llu\r\nCache-Control: no-store\r\n"
		    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
		    (unsigned long long)(hc->px->cfg->retry_after_ms + 999) / 1000,
		    sizeof(page) - 1, page);
	} else {
		evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\n"
		    "Content-Type: text/plain; charset=utf-8\r\n"
		    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
		    status, reason, strlen(reason) + 1, reason);
	}
	svc_count_response(hc->svc, status);
	hc->resp_started = true;
	hc_close_after_flush(hc, why != NULL ? why : reason);
}

/* Move up to n bytes from in to out; returns how many moved. */
static size_t
move_bytes(struct evbuffer *in, struct evbuffer *out, size_t n)
{
	int r = evbuffer_remove_buffer(in, out, n);

	return r > 0 ? (size_t)r : 0;
}

/*
 * Move the part of `in` that belongs to a chunked body to `out`, walking the
 * buffer's segments without copying. Returns the tracker's verdict.
 */
static int
move_chunked(struct http_chunked *ck, struct evbuffer *in, struct evbuffer *out,
    size_t *moved)
{
	struct evbuffer_iovec vec[16];
	size_t total = 0;
	int n, r = HTTP_CHUNKED_MORE;

	n = evbuffer_peek(in, -1, NULL, vec, 16);
	for (int i = 0; i < n && i < 16 && r == HTTP_CHUNKED_MORE; i++) {
		size_t used = 0;
		r = http_chunked_feed(ck, vec[i].iov_base, vec[i].iov_len, &used);
		total += used;
	}
	*moved = move_bytes(in, out, total);
	return r;
}

static bool
out_full(struct bufferevent *bev)
{
	return evbuffer_get_length(bufferevent_get_output(bev)) >= RELAY_BUF_CAP;
}

/* ---- the end ------------------------------------------------------------- */

static void
hc_free(struct hconn *hc)
{
	struct px_ctx *px = hc->px;
	uint64_t now = pg_now_ms();

	char start[32];
	pg_format_time(hc->start_wall_ms, start, sizeof(start));
	struct pg_kv kv[] = {
		KV_S("service", hc->svc->cfg.name),
		KV_S("client", hc->addr),
		KV_N("client_port", hc->port),
		KV_S("user", hc->last_user[0] ? hc->last_user : "-"),
		KV_S("vm", hc->last_vm[0] ? hc->last_vm : "-"),
		KV_S("start", start),
		KV_N("duration_ms", now - hc->start_ms),
		KV_N("requests", hc->nreq),
		KV_N("bytes_up", hc->bytes_up),
		KV_N("bytes_down", hc->bytes_down),
		KV_S("reason", hc->end_why != NULL ? hc->end_why : "closed"),
	};
	/*
	 * Info is about sessions (jupyter session start/end, session_end of
	 * SSH): one line per HTTP connection would drown them. A websocket
	 * (a kernel's channel) is rare enough to stay visible.
	 */
	pg_log_event(hc->tunnel != NULL ? PG_LOG_INFO : PG_LOG_DEBUG,
	    hc->tunnel != NULL ? "websocket_end" : "http_end", kv,
	    sizeof(kv) / sizeof(kv[0]));
	/* relay threads add to them too (splice_count_into) */
	__atomic_fetch_add(&hc->svc->bytes_up, hc->bytes_up - hc->live_up,
	    __ATOMIC_RELAXED);
	__atomic_fetch_add(&hc->svc->bytes_down, hc->bytes_down - hc->live_down,
	    __ATOMIC_RELAXED);
	histo_observe(&hc->svc->duration_hist, &px_duration_bounds,
	    (double)(now - hc->start_ms) / 1000.0);
	if (hc->tunnel != NULL) {
		if (hc->ws_id != 0)
			mbr_ws_close(px->mbr, hc->last_user, hc->ws_id, now);
		relay_free(hc->tunnel);   /* frees cli and be */
		hc->cli = hc->be = NULL;
	}
	hc_close_be(hc);
	hc_rd_stop(&hc->cli_rd);
	if (hc->cli_in_cb != NULL)
		evbuffer_remove_cb_entry(bufferevent_get_input(hc->cli),
		    hc->cli_in_cb);
	if (hc->cli != NULL)
		bufferevent_free(hc->cli);
	if (hc->tx != NULL)
		evbuffer_free(hc->tx);
	if (hc->timer != NULL)
		event_free(hc->timer);
	free(hc->head);
	free(hc->req);
	free(hc->ck);
	lim_release(px->lim, (struct sockaddr *)&hc->peer);
	px->nconns--;
	hc->svc->active--;
	if (hc->prev != NULL)
		hc->prev->next = hc->next;
	else
		px->hconns = hc->next;
	if (hc->next != NULL)
		hc->next->prev = hc->prev;
	svc_unref(hc->svc);
	free(hc);
	px_gone(px);
}

static void
hc_timercb(evutil_socket_t fd, short what, void *arg)
{
	struct hconn *hc = arg;

	switch (hc->state) {
	case HC_HEAD:
		if (hc->nreq > 0 &&
		    evbuffer_get_length(bufferevent_get_input(hc->cli)) == 0) {
			hc_close_after_flush(hc, "keepalive_timeout");
			return;
		}
		if (hc->tls && hc->nreq == 0 &&
		    evbuffer_get_length(bufferevent_get_input(hc->cli)) == 0) {
			/* No request yet, maybe no handshake: nothing to answer in. */
			hc->end_why = "header_timeout";
			hc_free(hc);
			return;
		}
		/* FALLTHROUGH */
	case HC_FORM:
		hc_error(hc, 408, "header_timeout");
		return;
	case HC_CONNECT:
	case HC_EXCHANGE: {
		/*
		 * response_timeout counts from the last progress of the exchange;
		 * progress only stamps io_ms (a timer re-armed per read would cost
		 * a heap operation each time), so re-arm for what is left of it.
		 */
		uint64_t now = pg_now_ms(), t = hc->svc->cfg.http.response_timeout_ms;
		if (hc->io_ms + t > now) {
			hc_arm(hc, hc->io_ms + t - now);
			return;
		}
		log_warn("http client=%s vm=%s: no answer from the VM for %llums",
		    hc->peer_text, hc->vm != NULL ? hc->vm->name : "-",
		    (unsigned long long)t);
		hc_error(hc, 504, "response_timeout");
		return;
	}
	case HC_CLOSING:
		hc_free(hc);
		return;
	default:
		return;
	}
}

/* ---- the response --------------------------------------------------------- */

/* The next request on the same connection, or the end of the connection. */
static void
hc_response_done(struct hconn *hc)
{
	/*
	 * Bytes the VM sent past the end of its response (after a 204, a 304,
	 * a HEAD answer, or a body longer than its Content-Length) would be
	 * read as the next request's response: such a connection is closed,
	 * never reused.
	 */
	bool reuse = hc->resp_keepalive && hc->req_done &&
	    hc->resp_body != HTTP_BODY_CLOSE && hc->be != NULL &&
	    evbuffer_get_length(bufferevent_get_input(hc->be)) == 0;

	if (!reuse)
		hc_close_be(hc);
	if (!hc->req_done || !hc->req_keepalive || !hc->resp_keepalive ||
	    hc->px->stopping || hc->svc->cfg.http.keepalive_timeout_ms == 0) {
		hc_close_after_flush(hc, "closed");
		return;
	}
	hc_reset_request(hc);
	hc->state = HC_HEAD;
	hc_arm(hc, hc->svc->cfg.http.keepalive_timeout_ms);
	/* A pipelined request may be waiting already. */
	if (evbuffer_get_length(bufferevent_get_input(hc->cli)) > 0)
		hc_read_head(hc);
	else if (hc->cli_eof)
		hc_close_after_flush(hc, "client_closed");
}

static void
hc_tunnel_done(struct relay *r, enum relay_end why, void *arg)
{
	struct hconn *hc = arg;

	/* for the log line; the service's counters had them as they moved */
	hc->bytes_up += relay_bytes_up(r);
	hc->bytes_down += relay_bytes_down(r);
	hc->live_up += relay_bytes_up(r);
	hc->live_down += relay_bytes_down(r);
	hc->end_why = relay_end_name(why);
	hc_free(hc);
}

/* 101 to websocket: from now on the connection is a byte tunnel. */
static void
hc_start_tunnel(struct hconn *hc)
{
	struct px_ctx *px = hc->px;

	hc_arm(hc, 0);
	hc_send_cli(hc);   /* the relay only knows the bufferevent */
	/* The relay reads through the bufferevents, as libevent does. */
	hc_rd_stop(&hc->cli_rd);
	hc_rd_stop(&hc->be_rd);
	if (hc->cli_in_cb != NULL) {
		evbuffer_remove_cb_entry(bufferevent_get_input(hc->cli),
		    hc->cli_in_cb);
		hc->cli_in_cb = NULL;
	}
	hc->tunnel = relay_start(hc->cli, hc->be, false, RELAY_BUF_CAP,
	    hc->svc->cfg.http.tunnel_idle_timeout_ms, hc_tunnel_done, hc);
	if (hc->tunnel == NULL) {
		hc_close_after_flush(hc, "resources");
		return;
	}
	relay_count_into(hc->tunnel, &hc->svc->bytes_up, &hc->svc->bytes_down);
	hc->state = HC_TUNNEL;
	/* The relay owns both bufferevents now; hc->vm stays counted. */
	hc->cli = hc->be = NULL;
	if (hc->last_user[0] != '\0')
		hc->ws_id = mbr_ws_open(px->mbr, hc->last_user, hc->vm,
		    pg_now_ms());
}

/*
 * Did the VM authenticate the user of this request? Only then is the user a
 * Jupyter session there (load, capacity, hooks): a request anyone can send
 * -- `/user/<name>/` with no login -- must change none of them. Two answers
 * say so:
 *
 *   - the login form's POST answered by a redirect that sets a cookie
 *     (JupyterHub answers a failed login with the form again, 200);
 *   - a 2xx (or the 101 of a websocket) to a request under the user's prefix
 *     that carried the cookie the hub's OAuth flow gives that user's server
 *     (`jupyterhub-user-<name>`): a made-up name has no server to answer
 *     2xx, and without the cookie the server redirects to the hub.
 */
static bool
hc_authenticated(const struct hconn *hc, int status)
{
	if (hc->user[0] == '\0')
		return false;
	if (hc->login)
		return status >= 300 && status < 400 && hc->hub_cookie;
	return hc->hub_cookie && (status == 101 ||
	    (status >= 200 && status < 300));
}

/*
 * A response head arrived: count the user's Jupyter session (start or keep
 * it alive) when the VM vouched for the user. For the login form,
 * hub_cookie says the answer set a cookie (hc_note_set_cookie).
 */
static void
hc_count_user(struct hconn *hc, const struct http_resp *resp)
{
	if (hc->login) {
		size_t pos = 0;
		hc->hub_cookie = http_field_next(&resp->fields, "Set-Cookie",
		    &pos) != NULL;
	}
	if (hc_authenticated(hc, resp->status))
		mbr_user_seen(hc->px->mbr, hc->user, hc->vm, hc->addr,
		    pg_now_ms());
}

/*
 * The Set-Cookie field (with the blank line that ends the head) sending the
 * browser of `user` ("" = anonymous) to vm: the cached one while it is
 * young enough, else a new one. NULL when it cannot be made (out of
 * memory, a name ck_make refuses).
 */
static const struct hc_cookie *
hc_cookie_for(struct hconn *hc, const char *vm, const char *user)
{
	const struct cfg_http *ch = &hc->svc->cfg.http;
	uint64_t now = (uint64_t)time(NULL);
	struct hc_cookie *ck = hc->ck;
	char value[CK_VALUE_MAX + 1], hdr[sizeof(ck->field) - 16];

	if (ck != NULL && ck->made_s <= now &&
	    now - ck->made_s < HC_COOKIE_REUSE_S && strcmp(ck->vm, vm) == 0 &&
	    strcmp(ck->user, user) == 0)
		return ck;
	if (ck == NULL && (ck = hc->ck = malloc(sizeof(*ck))) == NULL)
		return NULL;
	ck->vm[0] = '\0';
	if (ck_make(hc->px->cookie_key, vm, user,
	    now + ch->cookie_ttl_ms / 1000, value, sizeof(value)) == -1 ||
	    ck_set_cookie_header(ch->cookie_name, value, ch->cookie_ttl_ms / 1000,
	    hc->tls, hdr, sizeof(hdr)) == -1)
		return NULL;
	ck->len = (size_t)snprintf(ck->field, sizeof(ck->field),
	    "Set-Cookie: %s\r\n\r\n", hdr);
	ck->made_s = now;
	snprintf(ck->vm, sizeof(ck->vm), "%s", vm);
	snprintf(ck->user, sizeof(ck->user), "%s", user);
	return ck;
}

/*
 * The user the cookie of this response names: the request's user (for the
 * login form only once the VM took the login: anyone can type a name),
 * else that of the cookie the request followed (a hub page of a logged-in
 * browser keeps its user), else "" (anonymous).
 */
static const char *
hc_cookie_user_for(const struct hconn *hc, int status)
{
	if (hc->user[0] != '\0' && (!hc->login || hc_authenticated(hc, status)))
		return hc->user;
	return hc->cookie_routes ? hc->cookie_user : "";
}

/*
 * The response head (of status `status`), with poolgate's affinity cookie
 * added when the browser lacks it or it names another VM or user.
 */
static void
hc_forward_response_head(struct hconn *hc, const char *head, size_t len,
    int status)
{
	struct evbuffer *out = hc_cli_out(hc);
	const char *user = hc_cookie_user_for(hc, status);
	const struct hc_cookie *ck;

	if (hc->vm == NULL || (strcmp(hc->cookie_vm, hc->vm->name) == 0 &&
	    strcmp(hc->cookie_user, user) == 0) ||
	    (ck = hc_cookie_for(hc, hc->vm->name, user)) == NULL) {
		evbuffer_add(out, head, len);
		hc->bytes_down += len;
		return;
	}
	/* The head ends in CRLF CRLF: insert our field before the last CRLF. */
	evbuffer_add(out, head, len - 2);
	evbuffer_add(out, ck->field, ck->len);
	hc->bytes_down += len - 2 + ck->len;
}

static void
hc_read_response(struct hconn *hc)
{
	struct evbuffer *in = bufferevent_get_input(hc->be);
	struct evbuffer *out = hc_cli_out(hc);
	struct http_resp *resp = NULL;
	size_t moved;
	int r;

	hc->io_ms = pg_now_ms();
	while (!hc->resp_head_done) {
		size_t len = evbuffer_get_length(in), n;
		const char *p;

		if (len == 0) {
			hc_send_cli(hc);   /* an interim response */
			goto out;
		}
		n = len < HTTP_HEAD_MAX ? len : HTTP_HEAD_MAX;
		p = (const char *)evbuffer_pullup(in, (ssize_t)n);
		if (resp == NULL && (resp = malloc(sizeof(*resp))) == NULL) {
			hc_error(hc, 502, "out of memory");
			goto out;
		}
		r = http_parse_response(p, n, hc->method, resp);
		if (r == HTTP_AGAIN) {
			hc_send_cli(hc);
			goto out;
		}
		if (r < 0) {
			log_warn("http client=%s vm=%s: bad response: %s",
			    hc->peer_text, hc->vm->name, resp->why);
			hc_error(hc, 502, "bad_response");
			goto out;
		}
		if (resp->status == 101 &&
		    (!hc->req_upgrade || !resp->upgrade_websocket)) {
			/* Nothing went to the client yet: it gets a real answer. */
			log_warn("http client=%s vm=%s: 101 without an upgrade asked",
			    hc->peer_text, hc->vm->name);
			hc_error(hc, 502, "unexpected 101");
			goto out;
		}
		hc->resp_started = true;
		svc_count_response(hc->svc, resp->status);
		if (resp->status == 101) {
			hc_count_user(hc, resp);
			evbuffer_add(out, p, (size_t)r);
			hc->bytes_down += (size_t)r;
			evbuffer_drain(in, (size_t)r);
			hc_start_tunnel(hc);
			goto out;
		}
		if (resp->status < 200) {
			/* Interim (100 Continue): pass on, the real one follows. */
			evbuffer_add(out, p, (size_t)r);
			hc->bytes_down += (size_t)r;
			evbuffer_drain(in, (size_t)r);
			continue;
		}
		hc_count_user(hc, resp);
		hc_forward_response_head(hc, p, (size_t)r, resp->status);
		evbuffer_drain(in, (size_t)r);
		hc->resp_head_done = true;
		hc->resp_body = resp->body;
		hc->resp_left = resp->content_length;
		hc->resp_keepalive = resp->keep_alive;
		http_chunked_init(&hc->resp_ck);
	}

	switch (hc->resp_body) {
	case HTTP_BODY_NONE:
		break;
	case HTTP_BODY_LENGTH:
		moved = move_bytes(in, out, hc->resp_left);
		hc->resp_left -= moved;
		hc->bytes_down += moved;
		if (hc->resp_left > 0)
			goto pause;
		break;
	case HTTP_BODY_CHUNKED:
		r = move_chunked(&hc->resp_ck, in, out, &moved);
		hc->bytes_down += moved;
		if (r == HTTP_CHUNKED_ERROR) {
			log_warn("http client=%s vm=%s: bad chunked response: %s",
			    hc->peer_text, hc->vm->name, hc->resp_ck.why);
			hc_close_after_flush(hc, "bad_response");
			goto out;
		}
		if (r == HTTP_CHUNKED_MORE)
			goto pause;
		break;
	case HTTP_BODY_CLOSE:
		/* Ends when the VM closes (be_eventcb). */
		hc->bytes_down += move_bytes(in, out, evbuffer_get_length(in));
		goto pause;
	}
	hc_send_cli(hc);
	hc_response_done(hc);
	goto out;
pause:
	hc_send_cli(hc);
	if (out_full(hc->cli)) {   /* hc->tx is empty after hc_send_cli */
		hc_reading(hc, hc->be, false);
		hc->be_paused = true;
		bufferevent_setwatermark(hc->cli, EV_WRITE, RELAY_BUF_CAP / 2, 0);
	}
out:
	free(resp);
}

/* ---- the request ---------------------------------------------------------- */

/*
 * Move what is here of the request body to the VM. Returns -1 when the body
 * was malformed: the client was answered 400 and hc may be freed already
 * (the answer is written at once, so nothing may wait for its flush).
 */
static int
hc_pump_request(struct hconn *hc)
{
	struct evbuffer *in = bufferevent_get_input(hc->cli);
	struct evbuffer *out;
	size_t moved = 0;
	int r;

	if (hc->req_done || hc->be == NULL)
		return 0;
	out = bufferevent_get_output(hc->be);
	if (hc->req_body == HTTP_BODY_LENGTH) {
		moved = move_bytes(in, out, hc->req_left);
		hc->req_left -= moved;
		hc->req_done = hc->req_left == 0;
		if (moved > 0)
			hc->io_ms = pg_now_ms();
	} else if (hc->req_body == HTTP_BODY_CHUNKED) {
		r = move_chunked(&hc->req_ck, in, out, &moved);
		if (r == HTTP_CHUNKED_ERROR) {
			hc_error(hc, 400, hc->req_ck.why);
			return -1;
		}
		hc->req_done = r == HTTP_CHUNKED_DONE;
		if (moved > 0)
			hc->io_ms = pg_now_ms();
	} else
		hc->req_done = true;
	hc->bytes_up += moved;
	hc_send(hc->be, hc->svc->ssl_client != NULL);
	/* Pipelined bytes wait in the input until this exchange ends. */
	if (hc->req_done)
		return 0;
	if (out_full(hc->be)) {
		hc_reading(hc, hc->cli, false);
		hc->cli_paused = true;
		bufferevent_setwatermark(hc->be, EV_WRITE, RELAY_BUF_CAP / 2, 0);
	}
	return 0;
}

/*
 * Is the field name[0..nl) one the client's Connection fields list (a
 * hop-by-hop field for us, not for the VM)? The Upgrade of a websocket
 * request is kept: the VM must see it (Connection itself goes as sent).
 */
static bool
hc_conn_listed(const struct http_req *req, const char *name, size_t nl)
{
	const struct http_field *f;
	char tok[64];
	size_t pos = 0;

	if (nl == 0 || nl >= sizeof(tok) ||
	    (nl == 7 && strncasecmp(name, "Upgrade", 7) == 0) ||
	    (nl == 10 && strncasecmp(name, "Connection", 10) == 0))
		return false;
	memcpy(tok, name, nl);
	tok[nl] = '\0';
	while ((f = http_field_next(&req->fields, "Connection", &pos)) != NULL)
		if (http_list_has(f->value.p, f->value.len, tok))
			return true;
	return false;
}

/*
 * The request head is written into one reserved extent of the VM's output
 * and committed once: an evbuffer_add per piece ran the buffer's callbacks
 * each time. hc_send_request() reserves what the head can grow to.
 */
struct hc_w {
	char  *p;
	size_t len, cap;
};

static void
w_add(struct hc_w *w, const void *s, size_t n)
{
	if (n > w->cap - w->len)
		pg_fatalx("a forwarded request head past its bound");
	memcpy(w->p + w->len, s, n);
	w->len += n;
}

static void
w_str(struct hc_w *w, const char *s)
{
	w_add(w, s, strlen(s));
}

/*
 * Forward the request head: our cookie stripped from Cookie fields,
 * X-Forwarded-For (appended), -Proto, -Host, X-Real-IP and Forwarded set
 * by us, hop-by-hop fields dropped, one Content-Length.
 */
static void
hc_send_request(struct hconn *hc)
{
	struct px_ctx *px = hc->px;
	struct service *svc = hc->svc;
	struct evbuffer *out = bufferevent_get_output(hc->be);
	const struct http_req *req = hc->req;
	const char *run, *end = hc->head + hc->headlen - 2;   /* the blank line */
	const char *scheme = hc->tls ? "https" : "http";
	char xff[1024];
	size_t xfflen = 0;
	uint64_t now = pg_now_ms();
	struct evbuffer_iovec v;
	struct hc_w w;
	bool v6 = strchr(hc->addr, ':') != NULL;

	/*
	 * The bound: the head itself (a Cookie line may grow by a byte, when
	 * the client wrote no space after its colon), X-Forwarded-Host
	 * repeating a Host of at most the head's length, and the fields of
	 * fixed size (the addresses, X-Forwarded-For's 1 KiB of prior hops).
	 */
	if (evbuffer_reserve_space(out, (ev_ssize_t)(2 * hc->headlen +
	    req->fields.n + 4096), &v, 1) != 1) {
		hc_error(hc, 503, "out of memory");
		return;
	}
	w.p = v.iov_base;
	w.len = 0;
	w.cap = v.iov_len;

	/*
	 * Lines we keep go out as they came (the parser vouched for every
	 * byte), in runs: one evbuffer_add for the request line and all the
	 * fields up to the next one we drop or change. Empty lines before the
	 * request line (RFC 9112 2.2) stay behind.
	 */
	run = req->method_name.p;
	for (size_t i = 0; i < req->fields.n; i++) {
		const struct http_field *f = &req->fields.f[i];
		const char *name = f->name.p;
		size_t nl = f->name.len;
		const char *next;

#define IS(s) (nl == sizeof(s) - 1 && strncasecmp(name, s, nl) == 0)
		if (!IS("X-Forwarded-For") && !IS("X-Forwarded-Proto") &&
		    !IS("X-Forwarded-Host") && !IS("X-Scheme") && !IS("Cookie") &&
		    !IS("X-Real-IP") && !IS("Forwarded") && !IS("Keep-Alive") &&
		    !IS("TE") && !IS("Proxy-Connection") &&
		    !IS("Content-Length") && !(hc->continued && IS("Expect")) &&
		    !hc_conn_listed(req, name, nl))
			continue;
		/* This line ends the run; the next one starts after its LF. */
		w_add(&w, run, (size_t)(name - run));
		next = memchr(f->value.p + f->value.len, '\n',
		    (size_t)(end - (f->value.p + f->value.len)));
		if (next == NULL)
			pg_fatalx("a parsed field line without its LF");
		run = next + 1;
		if (IS("X-Forwarded-For")) {
			if (xfflen + f->value.len + 2 < sizeof(xff)) {
				memcpy(xff + xfflen, f->value.p, f->value.len);
				xfflen += f->value.len;
				memcpy(xff + xfflen, ", ", 2);
				xfflen += 2;
			}
			continue;
		}
		/*
		 * Set by us below, or hop-by-hop (RFC 9110 7.6.1): a client
		 * must not forge its address to the VM (X-Real-IP, Forwarded)
		 * nor pass fields meant for us. Duplicate equal lengths
		 * ("3, 3", which the parser accepts) become one field.
		 */
		if (!IS("Cookie"))
			continue;
		if (IS("Cookie")) {
			char stripped[HTTP_HEAD_MAX];
			size_t sl = hu_cookie_strip(f->value.p, f->value.len,
			    svc->cfg.http.cookie_name, stripped);
			if (sl > 0) {
				w_add(&w, "Cookie: ", 8);
				w_add(&w, stripped, sl);
				w_add(&w, "\r\n", 2);
			}
			continue;
		}
#undef IS
	}
	w_add(&w, run, (size_t)(end - run));
	/*
	 * JupyterHub's own proxy appends its scheme to X-Forwarded-Proto and
	 * the hub believes the last value, so with an HTTPS hub behind a plain
	 * listener it would mark its cookies Secure and the browser would never
	 * send them back; X-Scheme is what the hub (tornado) reads first.
	 */
	w_str(&w, "X-Forwarded-For: ");
	w_add(&w, xff, xfflen);
	w_str(&w, hc->addr);
	w_str(&w, "\r\nX-Forwarded-Proto: ");
	w_str(&w, scheme);
	w_str(&w, "\r\nX-Scheme: ");
	w_str(&w, scheme);
	w_str(&w, "\r\nX-Real-IP: ");
	w_str(&w, hc->addr);
	w_str(&w, "\r\nForwarded: for=");
	w_str(&w, v6 ? "\"[" : "");
	w_str(&w, hc->addr);
	w_str(&w, v6 ? "]\"" : "");
	w_str(&w, ";proto=");
	w_str(&w, scheme);
	w_str(&w, "\r\n");
	{
		size_t pos = 0;
		if (req->body == HTTP_BODY_LENGTH ||
		    http_field_next(&req->fields, "Content-Length", &pos) != NULL) {
			char cl[48];
			int n = snprintf(cl, sizeof(cl), "Content-Length: %llu\r\n",
			    (unsigned long long)req->content_length);
			w_add(&w, cl, (size_t)n);
		}
	}
	if (req->host.len > 0) {
		w_str(&w, "X-Forwarded-Host: ");
		w_add(&w, req->host.p, req->host.len);
		w_str(&w, "\r\n");
	}
	w_str(&w, "\r\n");
	v.iov_len = w.len;
	if (evbuffer_commit_space(out, &v, 1) != 0)
		pg_fatalx("commit of a reserved request head failed");
	hc->bytes_up += hc->headlen;
	hc->req_body = req->body;
	hc->req_left = req->content_length;
	http_chunked_init(&hc->req_ck);

	/*
	 * The address affinity. The user's Jupyter session counts only once
	 * the VM has authenticated the user (hc_count_user, on the response).
	 */
	if (hc->user[0] != '\0')
		snprintf(hc->last_user, sizeof(hc->last_user), "%s", hc->user);
	if (svc->cfg.by_client_ip) {
		char key[AFF_KEY_MAX + 1];
		snprintf(key, sizeof(key), "ip:%s", hc->addr);
		/* No session holds it: it lives for the ttl from this request. */
		mbr_addr_seen(px->mbr, key, hc->vm, now);
	}
	__atomic_fetch_add(&hc->vm->connections, 1, __ATOMIC_RELAXED);
	hc->state = HC_EXCHANGE;
	/* From here on response_timeout covers the exchange (hc_timercb). */
	hc->io_ms = now;
	hc_arm(hc, svc->cfg.http.response_timeout_ms);
	/*
	 * A retry sends the head again on a fresh connection: the body state
	 * starts over, or the pump would take the request for sent already
	 * and never flush the head.
	 */
	hc->req_done = false;
	if (hc_pump_request(hc) == -1)
		return;   /* hc may be gone */
	if (hc->state == HC_EXCHANGE &&
	    evbuffer_get_length(bufferevent_get_input(hc->be)) > 0)
		hc_read_response(hc);
}

/* ---- the VM side ---------------------------------------------------------- */

static void
hc_be_readcb(struct bufferevent *bev, void *arg)
{
	struct hconn *hc = arg;

	if (hc->state == HC_EXCHANGE)
		hc_read_response(hc);
	else {
		/* A kept-alive VM connection must not talk between requests. */
		hc_close_be(hc);
	}
}

static void
hc_be_writecb(struct bufferevent *bev, void *arg)
{
	struct hconn *hc = arg;

	/* Before the pump, which may free hc. */
	hc_write_drained(bev, hc->svc->ssl_client != NULL);
	if (hc->cli_paused) {
		hc->cli_paused = false;
		bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
		hc_reading(hc, hc->cli, true);
		hc_pump_request(hc);
	}
}

static void
hc_be_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct hconn *hc = arg;
	struct backend *vm = hc->vm;
	uint64_t now = pg_now_ms();
	char err[160];

	if (what & BEV_EVENT_CONNECTED) {
		int one = 1;

		histo_observe(&hc->svc->connect_hist, &px_connect_bounds,
		    (double)(now - hc->connect_ms) / 1000.0);
		setsockopt(bufferevent_getfd(bev), IPPROTO_TCP, TCP_NODELAY, &one,
		    sizeof(one));
		bufferevent_set_timeouts(bev, NULL, NULL);
		px_set_keepalive(hc->px, bufferevent_getfd(bev));
		/* Read interest stays on as long as the connection is open. */
		if (hc->svc->ssl_client != NULL)
			bufferevent_enable(bev, EV_READ);
		else
			hc_rd_start(hc, &hc->be_rd, bev, 0, hc_be_rdcb);
		hc_send_request(hc);
		return;
	}
	if (hc->state == HC_CONNECT) {
		/* Nothing was sent yet: count it against the VM, try another. */
		bool timeout = (what & BEV_EVENT_TIMEOUT) != 0;
		unsigned long e = bufferevent_get_openssl_error(bev);
		if (timeout)
			snprintf(err, sizeof(err), "connect timeout");
		else if (e != 0)
			tls_conn_error(hc->svc->ssl_client != NULL ?
			    bufferevent_openssl_get_ssl(bev) : NULL, e, err, sizeof(err));
		else
			snprintf(err, sizeof(err), "%s",
			    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
		log_warn("http client=%s: connect to %s (%s) failed: %s",
		    hc->peer_text, vm->name, vm->addr.text, err);
		hc->svc->errors[timeout ? ERR_CONNECT_TIMEOUT : ERR_CONNECT_FAILED]++;
		if (hc->svc->idx >= 0)
			mbr_check_result(hc->px->mbr, vm, (size_t)hc->svc->idx,
			    hc->svc->cfg.name,
			    hc->svc->cfg.check.rise, hc->svc->cfg.check.fall, false,
			    err, 0, now);
		hc_close_be(hc);
		hc_route(hc);
		return;
	}
	if (hc->state != HC_EXCHANGE) {
		/* An idle kept-alive VM connection went away: fine. */
		hc_close_be(hc);
		return;
	}
	if ((what & BEV_EVENT_EOF) && hc->resp_head_done &&
	    hc->resp_body == HTTP_BODY_CLOSE) {
		hc_read_response(hc);   /* whatever came with the EOF */
		hc->resp_keepalive = false;
		hc_close_be(hc);
		hc_response_done(hc);
		return;
	}
	if (hc->reused && !hc->resp_started && hc->req_body == HTTP_BODY_NONE &&
	    http_method_idempotent(hc->method)) {
		/*
		 * The VM closed a kept-alive connection just as we reused it
		 * (a race every HTTP client knows): send the request again on
		 * a fresh connection. Only safe without a body, and only for a
		 * method whose repetition cannot do harm: the VM may have acted
		 * on a POST, DELETE or PATCH before it closed (RFC 9110 9.2.2).
		 */
		log_debug("http client=%s: kept-alive connection to %s closed; "
		    "retrying", hc->peer_text, vm->name);
		hc_close_be(hc);
		hc->ntried = 0;
		hc->state = HC_CONNECT;
		hc_route(hc);
		return;
	}
	log_warn("http client=%s vm=%s: connection to the VM %s mid-exchange",
	    hc->peer_text, vm->name, (what & BEV_EVENT_EOF) ? "closed" : "failed");
	hc_error(hc, 502, "backend_closed");
}

/* ---- routing and connecting ----------------------------------------------- */

static void
hc_route(struct hconn *hc)
{
	struct px_ctx *px = hc->px;
	struct service *svc = hc->svc;
	struct route_in in = { 0 };
	struct sockaddr_storage ss;
	struct backend *b;
	enum route_why why;
	char ipkey[AFF_KEY_MAX + 1], live[CFG_NAME_MAX + 1];
	const char *who, *lb;
	struct timeval tv;
	uint64_t now = pg_now_ms();
	SSL *ssl = NULL;

	hc->state = HC_CONNECT;
	if (svc->idx < 0) {
		hc_error(hc, 503, "service removed");
		return;
	}
	in.user = hc->user[0] ? hc->user : NULL;
	in.cookie_backend = hc->cookie_vm[0] ? hc->cookie_vm : NULL;
	in.cookie_user = hc->cookie_user;
	in.login = hc->login;
	hc->cookie_routes = route_cookie_applies(&in);
	/* Live work opens a draining or full VM to the request (route.h). */
	if ((who = route_for_user(&in)) != NULL &&
	    (lb = us_user_backend(px->mbr->us, who, now)) != NULL) {
		snprintf(live, sizeof(live), "%s", lb);   /* lb is borrowed */
		in.live_backend = live;
	}
	in.own_server = hc->user[0] != '\0' && !hc->login && hc->hub_cookie;
	/*
	 * The address serves only requests that name no user: a user logging
	 * in, or new, is placed by name and load, never because a colleague
	 * behind the same office address went somewhere first.
	 */
	if (svc->cfg.by_client_ip && hc->user[0] == '\0') {
		snprintf(ipkey, sizeof(ipkey), "ip:%s", hc->addr);
		in.ip_key = ipkey;
	}
	b = hc->ntried >= HC_MAX_TRIES ? NULL : mbr_pick(px->mbr,
	    (size_t)svc->idx, &in, hc->tried, (size_t)hc->ntried, &why, now);
	if (b == NULL) {
		if (hc->ntried == 0) {
			svc->errors[ERR_NO_BACKEND]++;
			px_no_capacity(px, svc);
			hc_error(hc, 503, "no VM can take a new session");
		} else
			hc_error(hc, 502, "every VM tried failed to connect");
		return;
	}
	/*
	 * When no affinity decided and the request names no user (an
	 * anonymous request, chosen by load; a new user's first request must
	 * still go to the least loaded VM),
	 * stay on the VM this connection is already talking to if it takes
	 * new sessions: a new VM connection per request costs a connect and
	 * leaves a TIME_WAIT socket behind, for no gain in balance (anonymous
	 * requests are not sessions).
	 */
	if (why == ROUTE_LOAD && hc->user[0] == '\0' && hc->be != NULL &&
	    hc->vm != NULL && hc->vm != b &&
	    be_takes_new(hc->vm, (size_t)svc->idx)) {
		bool tried = false;
		for (int i = 0; i < hc->ntried; i++)
			tried |= hc->tried[i] == hc->vm;
		if (!tried)
			b = hc->vm;
	}
	hc->tried[hc->ntried++] = b;
	log_debug("http client=%s user=%s \"%.*s\" -> %s (%s)", hc->peer_text,
	    hc->user[0] ? hc->user : "-",
	    (int)strcspn(hc->head, "\r\n"), hc->head, b->name,
	    route_why_name(why));
	{
		/* As snprintf "%s" would, at a tenth of its cost per request. */
		size_t nl = strnlen(b->name, sizeof(hc->last_vm) - 1);
		memcpy(hc->last_vm, b->name, nl);
		hc->last_vm[nl] = '\0';
	}

	if (hc->be != NULL && hc->vm == b) {
		hc->reused = true;
		hc_send_request(hc);
		return;
	}
	hc_close_be(hc);
	memcpy(&ss, &b->addr.ss, sizeof(ss));
	if (ss.ss_family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)svc->cfg.port);
	else
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)svc->cfg.port);
	if (svc->ssl_client != NULL) {
		char host[256];

		cfg_verify_host(&svc->cfg, b->name, host, sizeof(host));
		if ((ssl = tls_client_new(svc->ssl_client, b->addr.text, host)) == NULL)
			goto fail;
		hc->be = bufferevent_openssl_socket_new(px->base, -1, ssl,
		    BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
		if (hc->be == NULL) {
			SSL_free(ssl);
			goto fail;
		}
		ssl = NULL;   /* the bufferevent owns it */
		bufferevent_openssl_set_allow_dirty_shutdown(hc->be, 1);
	} else if ((hc->be = bufferevent_socket_new(px->base, -1,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL)
		goto fail;
	hc->vm = b;
	mbr_conns(px->mbr, b, 1);
	bufferevent_setcb(hc->be, hc_be_readcb, hc_be_writecb, hc_be_eventcb, hc);
	if (svc->ssl_client == NULL)
		bufferevent_disable(hc->be, EV_WRITE);   /* see hc_send() */
	tv.tv_sec = (time_t)(svc->cfg.connect_timeout_ms / 1000);
	tv.tv_usec = (suseconds_t)(svc->cfg.connect_timeout_ms % 1000) * 1000;
	bufferevent_set_timeouts(hc->be, NULL, &tv);
	hc->connect_ms = pg_now_ms();
	if (bufferevent_socket_connect(hc->be, (struct sockaddr *)&ss,
	    (int)b->addr.len) == 0)
		return;   /* hc_be_eventcb goes on */
	hc_close_be(hc);
	svc->errors[ERR_CONNECT_FAILED]++;
	hc_route(hc);
	return;
fail:
	svc->errors[ERR_RESOURCES]++;
	hc_error(hc, 503, "out of resources connecting");
}

/* ---- the client side ------------------------------------------------------ */

/* Is the request target exactly `path` (a query string may follow)? */
static bool
target_is(const char *t, size_t tlen, const char *path)
{
	size_t pl = strlen(path);

	return tlen >= pl && memcmp(t, path, pl) == 0 &&
	    (tlen == pl || t[pl] == '?');
}

/*
 * The VM and user named by a valid affinity cookie among the request's
 * Cookie fields (whether it may route the request: route_cookie_applies).
 */
static void
hc_find_cookie(struct hconn *hc, const struct http_req *req)
{
	const struct cfg_http *ch = &hc->svc->cfg.http;
	const struct http_field *f;
	size_t pos = 0;

	while ((f = http_field_next(&req->fields, "Cookie", &pos)) != NULL) {
		const char *v;
		size_t vlen;
		if (!hu_cookie_get(f->value.p, f->value.len, ch->cookie_name, &v,
		    &vlen))
			continue;
		/* Forged, expired or of an older format: ignored. */
		if (ck_verify(hc->px->cookie_key, v, vlen, (uint64_t)time(NULL),
		    hc->cookie_vm, hc->cookie_user) == CK_VALID)
			return;
	}
}

/*
 * Does the request carry `jupyterhub-user-<user>`, the cookie JupyterHub's
 * OAuth flow sets for the user's own server (see hc_authenticated)?
 */
static bool
hc_has_hub_cookie(const struct http_req *req, const char *user)
{
	char name[HU_NAME_MAX + 32];
	const struct http_field *f;
	const char *v;
	size_t pos = 0, vlen;

	snprintf(name, sizeof(name), "jupyterhub-user-%s", user);
	while ((f = http_field_next(&req->fields, "Cookie", &pos)) != NULL)
		if (hu_cookie_get(f->value.p, f->value.len, name, &v, &vlen) &&
		    vlen > 0)
			return true;
	return false;
}

static void
hc_read_form(struct hconn *hc)
{
	struct evbuffer *in = bufferevent_get_input(hc->cli);
	size_t need = hc->req_left;
	const char *p;

	if (evbuffer_get_length(in) < need)
		return;   /* the read watermark leaves room for HU_FORM_MAX */
	p = (const char *)evbuffer_pullup(in, (ssize_t)need);
	if (hu_user_from_form(p, need, hc->user) != HU_FOUND)
		hc->user[0] = '\0';
	hc_route(hc);
}

static void
hc_read_head(struct hconn *hc)
{
	struct evbuffer *in = bufferevent_get_input(hc->cli);
	const struct cfg_http *ch = &hc->svc->cfg.http;
	struct http_req *req;
	size_t len = evbuffer_get_length(in), n;
	const char *p;
	int r;

	if (len == 0)
		return;
	if (hc->nreq > 0 && !evtimer_pending(hc->timer, NULL))
		hc_arm(hc, ch->header_timeout_ms);
	n = len < HTTP_HEAD_MAX ? len : HTTP_HEAD_MAX;
	p = (const char *)evbuffer_pullup(in, (ssize_t)n);
	if ((req = malloc(sizeof(*req))) == NULL) {
		hc_error(hc, 503, "out of memory");
		return;
	}
	r = http_parse_request(p, n, req);
	if (r == HTTP_AGAIN) {
		if (hc->cli_eof)   /* the rest of this head never comes */
			hc_close_after_flush(hc, "client_closed");
		goto out;
	}
	if (r < 0) {
		hc_error(hc, -r, req->why);
		goto out;
	}
	/* The head is complete: a keep-alive wait becomes a header wait. */
	hc_arm(hc, ch->header_timeout_ms);
	if ((hc->head = malloc((size_t)r + 1)) == NULL) {
		hc_error(hc, 503, "out of memory");
		goto out;
	}
	memcpy(hc->head, p, (size_t)r);
	hc->head[r] = '\0';
	hc->headlen = (size_t)r;
	/*
	 * The slices must point into our copy: the input buffer's memory is
	 * released by the drain below, and the checks after it read them.
	 */
	http_req_rebase(req, p, hc->head);
	hc->req = req;   /* owned by hc from here on: hc_send_request uses it */
	hc->nreq++;
	hc->method = req->method;
	hc->req_keepalive = req->keep_alive;
	hc->req_upgrade = req->upgrade_websocket;
	hc->req_left = req->content_length;
	hc_find_cookie(hc, req);
	if (hu_user_from_target(req->target.p, req->target.len, ch->user_prefix,
	    hc->user) != HU_FOUND)
		hc->user[0] = '\0';
	else
		hc->hub_cookie = hc_has_hub_cookie(req, hc->user);
	evbuffer_drain(in, (size_t)r);
	if (hc->user[0] == '\0' && req->method == HTTP_M_POST &&
	    req->body == HTTP_BODY_LENGTH && req->content_length <= HU_FORM_MAX &&
	    target_is(req->target.p, req->target.len, ch->login_path) &&
	    req->content_type.len >= 33 && strncasecmp(req->content_type.p,
	    "application/x-www-form-urlencoded", 33) == 0) {
		/* The login form names the user: wait for its (small) body. */
		hc->state = HC_FORM;
		hc->login = true;
		/*
		 * A client that asked to be told before sending the body waits
		 * for it (curl a second, strict clients until the header
		 * timeout): poolgate needs the body itself, so it says go on,
		 * and the VM, which gets head and body together, is not asked.
		 */
		if (req->expect_continue &&
		    evbuffer_get_length(in) < hc->req_left) {
			evbuffer_add(hc_cli_out(hc), "HTTP/1.1 100 Continue\r\n\r\n", 25);
			svc_count_response(hc->svc, 100);
			hc_send_cli(hc);
			hc->continued = true;
		}
		hc_read_form(hc);
		return;
	}
	hc_route(hc);
	return;
out:
	free(req);
}

static void
hc_cli_readcb(struct bufferevent *bev, void *arg)
{
	struct hconn *hc = arg;

	switch (hc->state) {
	case HC_HEAD:
		hc_read_head(hc);
		break;
	case HC_FORM:
		hc_read_form(hc);
		break;
	case HC_EXCHANGE:
		hc_pump_request(hc);
		break;
	default:
		break;
	}
}

static void
hc_cli_writecb(struct bufferevent *bev, void *arg)
{
	struct hconn *hc = arg;

	if (hc->state == HC_CLOSING) {
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			hc_free(hc);
		return;
	}
	/* Before reading the response on, which may free hc. */
	hc_write_drained(bev, hc->tls);
	if (hc->be_paused && hc->be != NULL) {
		hc->be_paused = false;
		bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
		hc_reading(hc, hc->be, true);
		hc_read_response(hc);
	}
}

static void
hc_cli_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct hconn *hc = arg;

	/* A TLS client finished its handshake: the request comes next. */
	if (what & BEV_EVENT_CONNECTED)
		return;

	/*
	 * A half-closed client still gets an answer to every request it sent
	 * whole (the ones in progress and the pipelined ones waiting in the
	 * input, which reading with its watermark may reach only now); the
	 * connection closes after the last, or now if no whole request waits.
	 */
	if (what & BEV_EVENT_EOF) {
		struct evbuffer *in = bufferevent_get_input(bev);
		/* hc->req_body is only set once the head is sent. */
		enum http_body body = hc->req != NULL ? hc->req->body :
		    HTTP_BODY_NONE;
		bool whole = hc->req_done || body == HTTP_BODY_NONE ||
		    (body == HTTP_BODY_LENGTH &&
		    evbuffer_get_length(in) >= hc->req_left);

		hc->cli_eof = true;
		if ((hc->state == HC_CONNECT || hc->state == HC_EXCHANGE) && whole)
			return;
		if (hc->state == HC_HEAD) {
			hc_close_after_flush(hc, "client_closed");
			return;
		}
	}
	hc->end_why = (what & BEV_EVENT_EOF) ? "client_closed" : "client_error";
	hc_free(hc);
}

/* The client's input was drained below its cap: read again. */
static void
hc_cli_drained(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
	struct hconn *hc = arg;

	if (info->n_deleted > 0 && hc->cli_rd.on)
		hc_rd_update(&hc->cli_rd, hc->cli);
}

static void
hc_cli_rdcb(evutil_socket_t fd, short what, void *arg)
{
	struct hconn *hc = arg;
	int r = hc_rd_read(&hc->cli_rd, hc->cli);

	if (r > 0)
		hc_cli_readcb(hc->cli, hc);
	else if (r < 0)
		hc_cli_eventcb(hc->cli, (short)(-r | BEV_EVENT_READING), hc);
}

static void
hc_be_rdcb(evutil_socket_t fd, short what, void *arg)
{
	struct hconn *hc = arg;
	int r = hc_rd_read(&hc->be_rd, hc->be);

	if (r > 0)
		hc_be_readcb(hc->be, hc);
	else if (r < 0)
		hc_be_eventcb(hc->be, (short)(-r | BEV_EVENT_READING), hc);
}

void
hconn_accept(struct px_ctx *px, struct service *svc, evutil_socket_t fd,
    const struct sockaddr *sa, socklen_t salen)
{
	struct hconn *hc;
	int port = 0;

	if ((hc = calloc(1, sizeof(*hc))) == NULL) {
		svc->errors[ERR_RESOURCES]++;
		lim_release(px->lim, sa);
		px->nconns--;
		close(fd);
		return;
	}
	hc->px = px;
	hc->svc = svc;
	svc->refcnt++;
	svc->active++;
	svc->connections_total++;
	hc->start_ms = pg_now_ms();
	hc->start_wall_ms = pg_wall_ms();
	memcpy(&hc->peer, sa, salen < sizeof(hc->peer) ? salen : sizeof(hc->peer));
	px_format_peer(sa, hc->addr, sizeof(hc->addr), &port);
	hc->port = port;
	snprintf(hc->peer_text, sizeof(hc->peer_text),
	    strchr(hc->addr, ':') ? "[%s]:%d" : "%s:%d", hc->addr, port);
	hc->next = px->hconns;
	if (hc->next != NULL)
		hc->next->prev = hc;
	px->hconns = hc;

	if ((hc->timer = evtimer_new(px->base, hc_timercb, hc)) == NULL)
		goto fail_fd;
	if (svc->ssl_server != NULL) {
		SSL *ssl = SSL_new(svc->ssl_server);
		if (ssl == NULL)
			goto fail_fd;
		hc->tls = true;
		if ((hc->tx = evbuffer_new()) == NULL) {
			SSL_free(ssl);
			goto fail_fd;
		}
		hc->cli = bufferevent_openssl_socket_new(px->base, fd, ssl,
		    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
		if (hc->cli == NULL) {
			SSL_free(ssl);
			goto fail_fd;
		}
		bufferevent_openssl_set_allow_dirty_shutdown(hc->cli, 1);
	} else if ((hc->cli = bufferevent_socket_new(px->base, fd,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL)
		goto fail_fd;
	/* TCP_NODELAY (heads and bodies go out in separate writes) and
	 * keepalive come from the listener (server.c listener_tune). */
	bufferevent_setcb(hc->cli, hc_cli_readcb, hc_cli_writecb, hc_cli_eventcb, hc);
	/* A head and a login form at most wait here before they are parsed. */
	if (hc->tls) {
		bufferevent_setwatermark(hc->cli, EV_READ, 0,
		    HTTP_HEAD_MAX + HU_FORM_MAX);
		bufferevent_enable(hc->cli, EV_READ | EV_WRITE);
	} else {
		bufferevent_disable(hc->cli, EV_WRITE);   /* see hc_send() */
		hc->cli_in_cb = evbuffer_add_cb(bufferevent_get_input(hc->cli),
		    hc_cli_drained, hc);
		if (hc->cli_in_cb == NULL)
			goto fail_fd;
		hc_rd_start(hc, &hc->cli_rd, hc->cli, HTTP_HEAD_MAX + HU_FORM_MAX,
		    hc_cli_rdcb);
	}
	hc->state = HC_HEAD;
	/* The first head (and any TLS handshake) must come within the limit. */
	hc_arm(hc, svc->cfg.http.header_timeout_ms);
	return;
fail_fd:
	if (hc->cli == NULL)
		close(fd);
	svc->errors[ERR_RESOURCES]++;
	hc->end_why = "resources";
	hc_free(hc);
}

void
hconn_stop_all(struct px_ctx *px)
{
	struct hconn *hc, *next;

	for (hc = px->hconns; hc != NULL; hc = next) {
		next = hc->next;
		hc->end_why = "stopped";
		hc_free(hc);
	}
}

size_t
hconn_count(const struct px_ctx *px)
{
	size_t n = 0;

	for (const struct hconn *hc = px->hconns; hc != NULL; hc = hc->next)
		n++;
	return n;
}
