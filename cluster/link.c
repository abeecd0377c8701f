/*
 * link.c -- see link.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/adapters/libevent.h>

#include "cluster/link.h"
#include "lib/log.h"

#define BACKOFF_MIN_MS 200
#define BACKOFF_MAX_MS 5000
#define TICK_MS        100
#define SCAN_COUNT     500
#define PREFIX_MAX     64

enum link_state {
	L_WAIT = 0,    /* nothing open; the retry timer runs */
	L_SENTINEL,    /* asking a sentinel where the master is */
	L_CONNECT,     /* connections to the master open, subscribing */
	L_LOADING,     /* subscribed; reading the whole table */
	L_UP,
};

/* What a lease command's callback needs. */
struct lease_req {
	struct cl_link *l;
	uint64_t        gen;
	void          (*done)(void *arg, enum cl_lease_answer a);
	void           *arg;
	bool            renew;
};

struct cl_link {
	struct event_base  *base;
	struct cl_link_cb   cb;
	char                node[CFG_NAME_MAX + 1];
	char                prefix[PREFIX_MAX + 1];
	char                chan[PREFIX_MAX + 16];
	char                lease_key[PREFIX_MAX + 16];
	char                pattern[2 * PREFIX_MAX + 2];
	char               *password;     /* owned, wiped; NULL: none */
	char               *redis[CL_LINK_ADDRS_MAX];
	size_t              nredis;
	char               *sentinels[CL_LINK_ADDRS_MAX];
	size_t              nsentinels;
	char                master_name[CFG_NAME_MAX + 1];
	uint64_t            deadline_ms;

	enum link_state     st;
	/*
	 * Every callback carries the generation it was sent in: a teardown
	 * bumps it, so the answers hiredis hands back while freeing an old
	 * connection (with a NULL reply) are recognized as stale.
	 */
	uint64_t            gen;
	redisAsyncContext  *cmd, *sub, *sen, *sensub;
	size_t              next_redis, next_sentinel;
	uint64_t            backoff_ms;
	struct event       *ev_retry, *ev_tick;

	uint64_t            sent[CL_LINK_INFLIGHT_MAX];  /* send times, oldest first */
	size_t              sent_head, nsent;
	uint64_t            sen_sent;      /* the sentinel question, 0: none out */
	uint64_t            sub_heard;     /* last sign of life of the subscription */
	bool                subscribed;
	uint64_t            last_probe;
	uint64_t            probe_seq;
	char                master_addr[64];
	uint64_t            loaded;

	bool                freeing;
	struct cl_link_stats stats;
};

static void link_fail(struct cl_link *l, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void link_start(struct cl_link *l);

static uint64_t
now_ms(void)
{
	return pg_now_ms();
}

/* "10.0.0.9:6379" or "[fd00::9]:6379" into host and port. */
static int
split_addr(const char *text, char *host, size_t hostlen, int *port)
{
	const char *colon = strrchr(text, ':');
	const char *h = text;
	size_t n;
	char *end;
	long p;

	if (colon == NULL)
		return -1;
	n = (size_t)(colon - text);
	if (n >= 2 && text[0] == '[' && text[n - 1] == ']') {
		h++;
		n -= 2;
	}
	if (n == 0 || n >= hostlen)
		return -1;
	memcpy(host, h, n);
	host[n] = '\0';
	p = strtol(colon + 1, &end, 10);
	if (*end != '\0' || p < 1 || p > 65535)
		return -1;
	*port = (int)p;
	return 0;
}

/* ---- commands and their deadline ------------------------------------------ */

static void *
gen_priv(const struct cl_link *l)
{
	return (void *)(uintptr_t)l->gen;
}

static bool
stale(const struct cl_link *l, void *priv)
{
	return (uint64_t)(uintptr_t)priv != l->gen;
}

/* One answer arrived on the command connection: it is the oldest out. */
static void
answered(struct cl_link *l)
{
	if (l->nsent == 0)
		return;
	l->sent_head = (l->sent_head + 1) % CL_LINK_INFLIGHT_MAX;
	l->nsent--;
}

static int
cmd_argv(struct cl_link *l, redisCallbackFn *fn, void *priv, int argc,
    const char **argv, const size_t *lens)
{
	if (l->cmd == NULL || l->nsent == CL_LINK_INFLIGHT_MAX)
		return -1;
	if (redisAsyncCommandArgv(l->cmd, fn, priv, argc, argv, lens) != REDIS_OK)
		return -1;
	l->sent[(l->sent_head + l->nsent) % CL_LINK_INFLIGHT_MAX] = now_ms();
	l->nsent++;
	return 0;
}

static const char *
reply_error(const redisReply *r, char *buf, size_t len)
{
	if (r == NULL)
		return "no answer";
	if (r->type == REDIS_REPLY_ERROR) {
		snprintf(buf, len, "%.*s", (int)(r->len > 100 ? 100 : r->len),
		    r->str);
		return buf;
	}
	return NULL;
}

/* ---- teardown and retry --------------------------------------------------- */

static void
drop(redisAsyncContext **ac)
{
	redisAsyncContext *c = *ac;

	*ac = NULL;   /* before the free: its disconnect callback sees it is gone */
	if (c != NULL)
		redisAsyncFree(c);
}

static void
teardown(struct cl_link *l)
{
	l->gen++;
	drop(&l->cmd);
	drop(&l->sub);
	drop(&l->sen);
	drop(&l->sensub);
	l->nsent = 0;
	l->sent_head = 0;
	l->sen_sent = 0;
	l->subscribed = false;
	l->master_addr[0] = '\0';
}

static void
link_fail(struct cl_link *l, const char *fmt, ...)
{
	struct timeval tv;
	bool was_up = l->st == L_UP;
	va_list ap;

	if (l->st == L_WAIT)
		return;
	va_start(ap, fmt);
	vsnprintf(l->stats.last_error, sizeof(l->stats.last_error), fmt, ap);
	va_end(ap);
	log_warn("cluster: Redis %s: %s; connecting again in %llu ms",
	    l->master_addr[0] ? l->master_addr : "link", l->stats.last_error,
	    (unsigned long long)l->backoff_ms);
	l->stats.failures++;
	l->st = L_WAIT;
	teardown(l);
	tv.tv_sec = (time_t)(l->backoff_ms / 1000);
	tv.tv_usec = (suseconds_t)(l->backoff_ms % 1000) * 1000;
	evtimer_add(l->ev_retry, &tv);
	l->backoff_ms = l->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
	    l->backoff_ms * 2;
	if (was_up) {
		l->stats.up_since_ms = 0;
		l->stats.down_since_ms = now_ms();
		if (l->cb.state != NULL)
			l->cb.state(l->cb.arg, false);
	}
}

static void
retry_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	link_start(arg);
}

/* A connection closed or failed to open by itself: hiredis frees it. */
static void
disconnect_cb(const redisAsyncContext *ac, int status)
{
	struct cl_link *l = ac->data;
	const char *which = ac == l->cmd ? "command connection" :
	    ac == l->sub ? "subscription" : ac == l->sen ? "sentinel" :
	    ac == l->sensub ? "sentinel subscription" : NULL;

	if (which == NULL)
		return;   /* one we dropped ourselves */
	if (ac == l->cmd)
		l->cmd = NULL;
	else if (ac == l->sub)
		l->sub = NULL;
	else if (ac == l->sen) {
		l->sen = NULL;
		if (l->st != L_SENTINEL)
			return;   /* asked and answered: closed on purpose */
	} else {
		/* Losing the sentinel's news only: the master link stays. */
		l->sensub = NULL;
		log_warn("cluster: lost the subscription to the sentinel; "
		    "failures of the master still make poolgate ask again");
		return;
	}
	link_fail(l, "%s closed%s%s", which, status == REDIS_OK ? "" : ": ",
	    status == REDIS_OK ? "" : (ac->errstr[0] ? ac->errstr : "error"));
}

static void
connect_cb(const redisAsyncContext *ac, int status)
{
	struct cl_link *l = ac->data;

	if (status == REDIS_OK)
		return;
	/* hiredis frees it after this returns; no disconnect callback follows */
	if (ac == l->cmd || ac == l->sub || ac == l->sen || ac == l->sensub) {
		if (ac == l->cmd)
			l->cmd = NULL;
		else if (ac == l->sub)
			l->sub = NULL;
		else if (ac == l->sen)
			l->sen = NULL;
		else {
			l->sensub = NULL;
			return;
		}
		link_fail(l, "cannot connect: %s", ac->errstr[0] ? ac->errstr :
		    "error");
	}
}

/* A new connection to host:port, watched by the link's callbacks. */
static redisAsyncContext *
open_conn(struct cl_link *l, const char *text)
{
	char host[64];
	int port;
	redisAsyncContext *ac;

	if (split_addr(text, host, sizeof(host), &port) == -1) {
		snprintf(l->stats.last_error, sizeof(l->stats.last_error),
		    "%s is not ADDR:PORT", text);
		return NULL;
	}
	if ((ac = redisAsyncConnect(host, port)) == NULL)
		return NULL;
	if (ac->err) {
		snprintf(l->stats.last_error, sizeof(l->stats.last_error),
		    "cannot connect to %s: %s", text, ac->errstr);
		redisAsyncFree(ac);
		return NULL;
	}
	ac->data = l;
	if (redisLibeventAttach(ac, l->base) != REDIS_OK) {
		redisAsyncFree(ac);
		return NULL;
	}
	redisEnableKeepAlive(&ac->c);
	redisAsyncSetConnectCallback(ac, connect_cb);
	redisAsyncSetDisconnectCallback(ac, disconnect_cb);
	return ac;
}

/* ---- the whole table at start --------------------------------------------- */

static void scan_next(struct cl_link *l, const char *cursor);
static void scan_send(struct cl_link *l, const char *cursor);

static void
give_entry(struct cl_link *l, const char *key, size_t keylen,
    const char *value, size_t valuelen)
{
	size_t plen = strlen(l->prefix);
	const char *name = key + plen;
	size_t namelen = keylen - plen;

	if (keylen <= plen || memcmp(key, l->prefix, plen) != 0)
		return;
	/* the lease and the probes are the link's own */
	if (namelen >= 2 && (memcmp(name, "l:", 2) == 0 ||
	    memcmp(name, "p:", 2) == 0))
		return;
	if (l->cb.entry != NULL)
		l->cb.entry(l->cb.arg, name, namelen, value, valuelen);
}

struct mget_req {
	uint64_t gen;
	size_t   n;
	char     cursor[32];
	char    *keys[SCAN_COUNT];
	size_t   lens[SCAN_COUNT];
};

static void
mget_free(struct mget_req *m)
{
	for (size_t i = 0; i < m->n; i++)
		free(m->keys[i]);
	free(m);
}

static void
mget_cb(redisAsyncContext *ac, void *r, void *priv)
{
	struct cl_link *l = ac->data;
	struct mget_req *m = priv;
	redisReply *rep = r;
	char err[128];
	const char *e;

	if (m->gen != l->gen) {
		mget_free(m);
		return;
	}
	answered(l);
	if ((e = reply_error(rep, err, sizeof(err))) != NULL ||
	    rep->type != REDIS_REPLY_ARRAY || rep->elements != m->n) {
		mget_free(m);
		link_fail(l, "reading the table: %s", e ? e : "unexpected answer");
		return;
	}
	for (size_t i = 0; i < m->n; i++) {
		const redisReply *v = rep->element[i];

		if (v->type != REDIS_REPLY_STRING)
			continue;   /* expired since SCAN saw it */
		l->loaded++;
		give_entry(l, m->keys[i], m->lens[i], v->str, v->len);
		if (m->gen != l->gen) {   /* the callback made the link fail */
			mget_free(m);
			return;
		}
	}
	scan_next(l, m->cursor);
	mget_free(m);
}

static void
scan_cb(redisAsyncContext *ac, void *r, void *priv)
{
	struct cl_link *l = ac->data;
	redisReply *rep = r;
	const redisReply *keys;
	const char *argv[SCAN_COUNT + 1];
	size_t lens[SCAN_COUNT + 1], n;
	char cursor[32], err[128];
	const char *e;

	if (stale(l, priv))
		return;
	answered(l);
	if ((e = reply_error(rep, err, sizeof(err))) != NULL ||
	    rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
	    rep->element[0]->type != REDIS_REPLY_STRING ||
	    rep->element[0]->len >= sizeof(cursor) ||
	    rep->element[1]->type != REDIS_REPLY_ARRAY) {
		link_fail(l, "reading the table: %s", e ? e : "unexpected answer");
		return;
	}
	memcpy(cursor, rep->element[0]->str, rep->element[0]->len);
	cursor[rep->element[0]->len] = '\0';
	keys = rep->element[1];
	n = keys->elements;
	if (n == 0) {
		scan_next(l, cursor);
		return;
	}
	/*
	 * SCAN's COUNT is only a hint: MGET the keys in batches. Answers come
	 * in order, so the last batch carries the cursor and the next SCAN
	 * goes out after every entry of this step was given.
	 */
	for (size_t i = 0; i < n; ) {
		struct mget_req *b = calloc(1, sizeof(*b));
		size_t k = 0;

		if (b == NULL) {
			link_fail(l, "reading the table: out of memory");
			return;
		}
		b->gen = l->gen;
		argv[0] = "MGET";
		lens[0] = 4;
		for (; i < n && k < SCAN_COUNT; i++) {
			const redisReply *kr = keys->element[i];

			if (kr->type != REDIS_REPLY_STRING)
				continue;
			if ((b->keys[k] = malloc(kr->len + 1)) == NULL) {
				b->n = k;
				mget_free(b);
				link_fail(l, "reading the table: out of memory");
				return;
			}
			memcpy(b->keys[k], kr->str, kr->len);
			b->keys[k][kr->len] = '\0';
			b->lens[k] = kr->len;
			argv[k + 1] = b->keys[k];
			lens[k + 1] = kr->len;
			k++;
		}
		b->n = k;
		if (i == n)
			memcpy(b->cursor, cursor, sizeof(cursor));
		if (k == 0) {
			mget_free(b);
			if (i == n)
				scan_next(l, cursor);
			continue;
		}
		if (cmd_argv(l, mget_cb, b, (int)k + 1, argv, lens) == -1) {
			mget_free(b);
			link_fail(l, "reading the table: cannot send");
			return;
		}
	}
}

static void
now_up(struct cl_link *l)
{
	l->st = L_UP;
	l->backoff_ms = BACKOFF_MIN_MS;
	l->stats.connects++;
	l->stats.loaded = l->loaded;
	l->stats.up_since_ms = now_ms();
	l->stats.down_since_ms = 0;
	l->stats.last_error[0] = '\0';
	log_info("cluster: Redis %s up, %llu entries read", l->master_addr,
	    (unsigned long long)l->loaded);
	if (l->cb.state != NULL)
		l->cb.state(l->cb.arg, true);
}

/* The next step of the table's read: cursor "0" after a step is the end. */
static void
scan_next(struct cl_link *l, const char *cursor)
{
	if (strcmp(cursor, "0") == 0) {
		now_up(l);
		return;
	}
	scan_send(l, cursor);
}

static void
scan_send(struct cl_link *l, const char *cursor)
{
	const char *argv[6];
	size_t lens[6];

	argv[0] = "SCAN";
	argv[1] = cursor;
	argv[2] = "MATCH";
	argv[3] = l->pattern;
	argv[4] = "COUNT";
	argv[5] = "500";
	for (int i = 0; i < 6; i++)
		lens[i] = strlen(argv[i]);
	if (cmd_argv(l, scan_cb, gen_priv(l), 6, argv, lens) == -1)
		link_fail(l, "reading the table: cannot send");
}

/* ---- the subscription ----------------------------------------------------- */

/* Subscribed: read the whole table (changes from now on arrive here too). */
static void
sub_cb(redisAsyncContext *ac, void *r, void *priv)
{
	struct cl_link *l = ac->data;
	redisReply *rep = r;
	const redisReply *kind, *msg;
	const char *sp;

	if (stale(l, priv) || rep == NULL)
		return;   /* a closed subscription is seen by disconnect_cb */
	l->sub_heard = now_ms();
	if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 3 ||
	    rep->element[0]->type != REDIS_REPLY_STRING)
		return;
	kind = rep->element[0];
	msg = rep->element[2];
	if (kind->len == 9 && memcmp(kind->str, "subscribe", 9) == 0) {
		if (!l->subscribed && l->st == L_CONNECT) {
			l->subscribed = true;
			l->st = L_LOADING;
			l->loaded = 0;
			scan_send(l, "0");   /* the first step */
		}
		return;
	}
	if (kind->len != 7 || memcmp(kind->str, "message", 7) != 0 ||
	    msg->type != REDIS_REPLY_STRING)
		return;
	/* "NAME VALUE": the value itself holds spaces, the name none */
	if ((sp = memchr(msg->str, ' ', msg->len)) == NULL)
		return;
	if ((size_t)(sp - msg->str) >= 2 && (memcmp(msg->str, "p:", 2) == 0 ||
	    memcmp(msg->str, "l:", 2) == 0))
		return;
	if (l->cb.entry != NULL)
		l->cb.entry(l->cb.arg, msg->str, (size_t)(sp - msg->str), sp + 1,
		    msg->len - (size_t)(sp - msg->str) - 1);
}

/* AUTH's answer on either connection. */
static void
auth_cb(redisAsyncContext *ac, void *r, void *priv)
{
	struct cl_link *l = ac->data;
	char err[128];
	const char *e;

	if (stale(l, priv))
		return;
	if (ac == l->cmd)
		answered(l);
	else
		l->sub_heard = now_ms();
	if ((e = reply_error(r, err, sizeof(err))) != NULL)
		link_fail(l, "AUTH refused: %s", e);
}

/* Connect both connections to the master at text ("ADDR:PORT"). */
static void
connect_master(struct cl_link *l, const char *text)
{
	const char *argv[2];
	size_t lens[2];

	snprintf(l->master_addr, sizeof(l->master_addr), "%s", text);
	snprintf(l->stats.master, sizeof(l->stats.master), "%s", text);
	l->st = L_CONNECT;
	if ((l->cmd = open_conn(l, text)) == NULL ||
	    (l->sub = open_conn(l, text)) == NULL) {
		link_fail(l, "cannot connect to %s", text);
		return;
	}
	if (l->password != NULL) {
		argv[0] = "AUTH";
		argv[1] = l->password;
		lens[0] = 4;
		lens[1] = strlen(l->password);
		if (cmd_argv(l, auth_cb, gen_priv(l), 2, argv, lens) == -1 ||
		    redisAsyncCommandArgv(l->sub, auth_cb, gen_priv(l), 2, argv,
		    lens) != REDIS_OK) {
			link_fail(l, "cannot send AUTH");
			return;
		}
	}
	argv[0] = "SUBSCRIBE";
	argv[1] = l->chan;
	lens[0] = 9;
	lens[1] = strlen(l->chan);
	l->sub_heard = now_ms();
	if (redisAsyncCommandArgv(l->sub, sub_cb, gen_priv(l), 2, argv, lens) !=
	    REDIS_OK)
		link_fail(l, "cannot send SUBSCRIBE");
}

/* ---- Sentinel -------------------------------------------------------------- */

static void
switch_cb(redisAsyncContext *ac, void *r, void *priv)
{
	struct cl_link *l = ac->data;
	redisReply *rep = r;
	const redisReply *msg;
	size_t n = strlen(l->master_name);

	if (stale(l, priv) || rep == NULL || rep->type != REDIS_REPLY_ARRAY ||
	    rep->elements != 3)
		return;
	msg = rep->element[2];
	/* "+switch-master": "<name> <old-ip> <old-port> <new-ip> <new-port>" */
	if (msg->type != REDIS_REPLY_STRING || msg->len <= n ||
	    memcmp(msg->str, l->master_name, n) != 0 || msg->str[n] != ' ')
		return;
	log_info("cluster: Sentinel moved master %s: %.*s", l->master_name,
	    (int)(msg->len > 200 ? 200 : msg->len), msg->str);
	l->backoff_ms = BACKOFF_MIN_MS;
	link_fail(l, "the master moved");
}

static void
master_cb(redisAsyncContext *ac, void *r, void *priv)
{
	struct cl_link *l = ac->data;
	redisReply *rep = r;
	const char *argv[2];
	size_t lens[2];
	char text[96];
	const char *sentinel;

	if (stale(l, priv))
		return;
	l->sen_sent = 0;
	if (rep == NULL || rep->type != REDIS_REPLY_ARRAY ||
	    rep->elements != 2 ||
	    rep->element[0]->type != REDIS_REPLY_STRING ||
	    rep->element[1]->type != REDIS_REPLY_STRING ||
	    rep->element[0]->len > 45 || rep->element[1]->len > 5) {
		link_fail(l, "the sentinel does not know master %s",
		    l->master_name);
		return;
	}
	snprintf(text, sizeof(text), memchr(rep->element[0]->str, ':',
	    rep->element[0]->len) ? "[%.*s]:%.*s" : "%.*s:%.*s",
	    (int)rep->element[0]->len, rep->element[0]->str,
	    (int)rep->element[1]->len, rep->element[1]->str);
	/* asked and answered; the sentinel's news come on its subscription */
	sentinel = l->sentinels[(l->next_sentinel + l->nsentinels - 1) %
	    l->nsentinels];
	drop(&l->sen);
	if ((l->sensub = open_conn(l, sentinel)) != NULL) {
		argv[0] = "SUBSCRIBE";
		argv[1] = "+switch-master";
		lens[0] = 9;
		lens[1] = 14;
		if (redisAsyncCommandArgv(l->sensub, switch_cb, gen_priv(l), 2,
		    argv, lens) != REDIS_OK)
			drop(&l->sensub);
	}
	connect_master(l, text);
}

static void
ask_sentinel(struct cl_link *l)
{
	const char *s = l->sentinels[l->next_sentinel++ % l->nsentinels];
	const char *argv[3] = { "SENTINEL", "get-master-addr-by-name",
	    l->master_name };
	size_t lens[3] = { 8, 23, strlen(l->master_name) };

	l->st = L_SENTINEL;
	snprintf(l->master_addr, sizeof(l->master_addr), "sentinel %s", s);
	if ((l->sen = open_conn(l, s)) == NULL) {
		link_fail(l, "cannot connect to sentinel %s", s);
		return;
	}
	l->sen_sent = now_ms();
	if (redisAsyncCommandArgv(l->sen, master_cb, gen_priv(l), 3, argv,
	    lens) != REDIS_OK)
		link_fail(l, "cannot ask sentinel %s", s);
}

static void
link_start(struct cl_link *l)
{
	if (l->st != L_WAIT)
		return;
	if (l->nsentinels > 0)
		ask_sentinel(l);
	else
		connect_master(l, l->redis[l->next_redis++ % l->nredis]);
}

/* ---- the clock: deadlines and probes -------------------------------------- */

static void
probe_cb(redisAsyncContext *ac, void *r, void *priv)
{
	struct cl_link *l = ac->data;
	char err[128];
	const char *e;

	if (stale(l, priv))
		return;
	answered(l);
	if ((e = reply_error(r, err, sizeof(err))) != NULL)
		link_fail(l, "%s", e);
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct cl_link *l = arg;
	uint64_t now = now_ms();

	(void)fd;
	(void)what;
	if (l->st == L_WAIT)
		return;
	if (l->nsent > 0 && now - l->sent[l->sent_head] > l->deadline_ms) {
		link_fail(l, "no answer within %llu ms",
		    (unsigned long long)l->deadline_ms);
		return;
	}
	if (l->sen_sent != 0 && now - l->sen_sent > l->deadline_ms) {
		link_fail(l, "the sentinel did not answer within %llu ms",
		    (unsigned long long)l->deadline_ms);
		return;
	}
	if (l->st >= L_CONNECT && now - l->sub_heard > l->deadline_ms) {
		link_fail(l, "the subscription was silent for %llu ms",
		    (unsigned long long)l->deadline_ms);
		return;
	}
	/*
	 * The probe goes through the command connection and comes back on the
	 * subscription: one message proves both alive, and Redis' pub/sub with
	 * them.
	 */
	if (l->st >= L_LOADING && now - l->last_probe >= l->deadline_ms / 3) {
		char msg[CFG_NAME_MAX + 32];
		const char *argv[3] = { "PUBLISH", l->chan, msg };
		size_t lens[3];

		l->last_probe = now;
		snprintf(msg, sizeof(msg), "p:%s %llu", l->node,
		    (unsigned long long)++l->probe_seq);
		lens[0] = 7;
		lens[1] = strlen(l->chan);
		lens[2] = strlen(msg);
		if (cmd_argv(l, probe_cb, gen_priv(l), 3, argv, lens) == -1 &&
		    l->nsent < CL_LINK_INFLIGHT_MAX)
			link_fail(l, "cannot send");
	}
}

/* ---- writes and the lease ------------------------------------------------- */

/*
 * The conditional write: only when Redis holds nothing newer for the key
 * (the stamp is the value's second field), then the news on the channel.
 * Lua numbers are doubles, exact for every millisecond stamp (< 2^53).
 */
static const char put_script[] =
    "local cur = redis.call('GET', KEYS[1])\n"
    "if cur then\n"
    "  local s = tonumber(string.match(cur, '^1 (%d+) '))\n"
    "  if s and s > tonumber(ARGV[2]) then return 0 end\n"
    "end\n"
    "if tonumber(ARGV[3]) > 0 then\n"
    "  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[3])\n"
    "else\n"
    "  redis.call('SET', KEYS[1], ARGV[1])\n"
    "end\n"
    "redis.call('PUBLISH', KEYS[2], ARGV[4])\n"
    "return 1\n";

static const char renew_script[] =
    "if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
    "  return redis.call('PEXPIRE', KEYS[1], ARGV[2])\n"
    "end\n"
    "return 0\n";

int
cl_link_put(struct cl_link *l, const char *name, const char *value,
    uint64_t stamp, uint64_t ttl_ms)
{
	char key[PREFIX_MAX + 256], st[24], ttl[24], *msg = NULL;
	size_t nlen = strlen(name), vlen = strlen(value);
	const char *argv[8];
	size_t lens[8];
	int rc = -1;

	if (l->st != L_UP || nlen > 255 || vlen > 65536)
		goto out;
	if ((msg = malloc(nlen + vlen + 2)) == NULL)
		goto out;
	snprintf(key, sizeof(key), "%s%s", l->prefix, name);
	snprintf(st, sizeof(st), "%llu", (unsigned long long)stamp);
	snprintf(ttl, sizeof(ttl), "%llu", (unsigned long long)ttl_ms);
	memcpy(msg, name, nlen);
	msg[nlen] = ' ';
	memcpy(msg + nlen + 1, value, vlen + 1);
	argv[0] = "EVAL";
	argv[1] = put_script;
	argv[2] = "2";
	argv[3] = key;
	argv[4] = l->chan;
	argv[5] = value;
	argv[6] = st;
	argv[7] = ttl;
	for (int i = 0; i < 8; i++)
		lens[i] = strlen(argv[i]);
	{
		const char *av[9];
		size_t ln[9];

		memcpy(av, argv, sizeof(argv));
		memcpy(ln, lens, sizeof(lens));
		av[8] = msg;
		ln[8] = nlen + 1 + vlen;
		rc = cmd_argv(l, probe_cb, gen_priv(l), 9, av, ln);
	}
out:
	if (rc == -1)
		l->stats.dropped++;
	free(msg);
	return rc;
}

static void
lease_cb(redisAsyncContext *ac, void *r, void *priv)
{
	struct lease_req *q = priv;
	struct cl_link *l = q->l;
	redisReply *rep = r;
	enum cl_lease_answer a = CL_LEASE_FAILED;

	(void)ac;
	if (l->freeing) {   /* cl_link_free(): nobody is told */
		free(q);
		return;
	}
	if (q->gen == l->gen) {
		answered(l);
		if (rep == NULL || rep->type == REDIS_REPLY_ERROR)
			a = CL_LEASE_FAILED;
		else if (!q->renew)
			a = rep->type == REDIS_REPLY_STATUS ? CL_LEASE_WON :
			    CL_LEASE_HELD;   /* nil: NX refused */
		else
			a = rep->type == REDIS_REPLY_INTEGER && rep->integer == 1 ?
			    CL_LEASE_WON : CL_LEASE_HELD;
	}
	if (q->done != NULL)
		q->done(q->arg, a);
	free(q);
}

int
cl_link_lease(struct cl_link *l, enum cl_lease_act act, uint64_t lease_ms,
    void (*done)(void *arg, enum cl_lease_answer a), void *arg)
{
	struct lease_req *q;
	char ms[24];
	const char *argv[6];
	size_t lens[6];
	int argc;

	if (l->st != L_UP || act == CL_LEASE_NONE)
		return -1;
	if ((q = calloc(1, sizeof(*q))) == NULL)
		return -1;
	q->l = l;
	q->gen = l->gen;
	q->done = done;
	q->arg = arg;
	q->renew = act == CL_LEASE_RENEW;
	snprintf(ms, sizeof(ms), "%llu", (unsigned long long)lease_ms);
	if (act == CL_LEASE_TRY) {
		argv[0] = "SET";
		argv[1] = l->lease_key;
		argv[2] = l->node;
		argv[3] = "NX";
		argv[4] = "PX";
		argv[5] = ms;
		argc = 6;
	} else {
		argv[0] = "EVAL";
		argv[1] = renew_script;
		argv[2] = "1";
		argv[3] = l->lease_key;
		argv[4] = l->node;
		argv[5] = ms;
		argc = 6;
	}
	for (int i = 0; i < argc; i++)
		lens[i] = strlen(argv[i]);
	if (cmd_argv(l, lease_cb, q, argc, argv, lens) == -1) {
		free(q);
		return -1;
	}
	return 0;
}

/* ---- life ------------------------------------------------------------------ */

/* Escape the glob characters of SCAN's MATCH. */
static void
make_pattern(char *out, size_t len, const char *prefix)
{
	size_t k = 0;

	for (const char *p = prefix; *p && k + 3 < len; p++) {
		if (strchr("*?[]\\", *p) != NULL)
			out[k++] = '\\';
		out[k++] = *p;
	}
	out[k++] = '*';
	out[k] = '\0';
}

struct cl_link *
cl_link_new(struct event_base *base, const struct cl_link_conf *conf,
    const struct cl_link_cb *cb)
{
	struct cl_link *l;
	char host[64];
	int port;

	if ((conf->nredis == 0 && conf->nsentinels == 0) ||
	    conf->nredis > CL_LINK_ADDRS_MAX ||
	    conf->nsentinels > CL_LINK_ADDRS_MAX ||
	    strlen(conf->prefix) > PREFIX_MAX ||
	    (conf->nsentinels > 0 && (conf->master == NULL ||
	    strlen(conf->master) > CFG_NAME_MAX)))
		return NULL;
	if ((l = calloc(1, sizeof(*l))) == NULL)
		return NULL;
	l->base = base;
	l->cb = *cb;
	snprintf(l->node, sizeof(l->node), "%s", conf->node);
	snprintf(l->prefix, sizeof(l->prefix), "%s", conf->prefix);
	snprintf(l->chan, sizeof(l->chan), "%sevents", conf->prefix);
	snprintf(l->lease_key, sizeof(l->lease_key), "%sl:hooks", conf->prefix);
	make_pattern(l->pattern, sizeof(l->pattern), conf->prefix);
	if (conf->master != NULL)
		snprintf(l->master_name, sizeof(l->master_name), "%s", conf->master);
	l->deadline_ms = conf->deadline_ms < 100 ? 100 : conf->deadline_ms;
	l->backoff_ms = BACKOFF_MIN_MS;
	if (conf->password != NULL &&
	    (l->password = strdup(conf->password)) == NULL)
		goto fail;
	for (size_t i = 0; i < conf->nredis; i++) {
		if (split_addr(conf->redis[i], host, sizeof(host), &port) == -1 ||
		    (l->redis[i] = strdup(conf->redis[i])) == NULL)
			goto fail;
		l->nredis++;
	}
	for (size_t i = 0; i < conf->nsentinels; i++) {
		if (split_addr(conf->sentinels[i], host, sizeof(host), &port) == -1 ||
		    (l->sentinels[i] = strdup(conf->sentinels[i])) == NULL)
			goto fail;
		l->nsentinels++;
	}
	if ((l->ev_retry = evtimer_new(base, retry_cb, l)) == NULL ||
	    (l->ev_tick = event_new(base, -1, EV_PERSIST, tick_cb, l)) == NULL)
		goto fail;
	{
		struct timeval tv = { 0, TICK_MS * 1000 }, zero = { 0, 0 };

		evtimer_add(l->ev_tick, &tv);
		evtimer_add(l->ev_retry, &zero);
	}
	l->stats.down_since_ms = now_ms();
	return l;
fail:
	cl_link_free(l);
	return NULL;
}

void
cl_link_free(struct cl_link *l)
{
	if (l == NULL)
		return;
	l->st = L_WAIT;
	l->freeing = true;
	teardown(l);
	if (l->ev_retry != NULL)
		event_free(l->ev_retry);
	if (l->ev_tick != NULL)
		event_free(l->ev_tick);
	if (l->password != NULL) {
		explicit_bzero(l->password, strlen(l->password));
		free(l->password);
	}
	for (size_t i = 0; i < l->nredis; i++)
		free(l->redis[i]);
	for (size_t i = 0; i < l->nsentinels; i++)
		free(l->sentinels[i]);
	free(l);
}

bool
cl_link_up(const struct cl_link *l)
{
	return l != NULL && l->st == L_UP;
}

void
cl_link_stats(const struct cl_link *l, struct cl_link_stats *st)
{
	*st = l->stats;
	if (l->st != L_UP)
		snprintf(st->master, sizeof(st->master), "%s", l->master_addr);
}
