/*
 * cluster.c -- see cluster.h.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "cluster/cluster.h"
#include "cluster/entry.h"
#include "cluster/lease.h"
#include "cluster/stamps.h"
#include "lib/hashtab.h"
#include "lib/log.h"
#include "lib/siphash.h"

#define TICK_MS          250
#define BEAT_MS          1000      /* a heartbeat at least this often */
#define SWEEP_MS         10000
#define REPLAY_PER_TICK  500
#define TOMBSTONE_MS     (7ull * 24 * 3600 * 1000)   /* a removed API VM */
#define RUNNER_FRESH_MS  1500      /* a runner's heartbeat is this recent */
#define STAMPS_MAX       (1000000 + 2 * CFG_MAX_BACKENDS)
#define EDGE_MS          (7ull * 24 * 3600 * 1000)   /* a hook edge lives */
#define EDGES_MAX        (2 * CFG_MAX_BACKENDS)       /* own edges remembered */

/*
 * A hook edge this node ran, by its name "h:<vm>": what publish() writes
 * for it, now and again after Redis was away.
 */
struct edge {
	struct ht_node node;
	bool           busy;
	size_t         len;
	char           name[];          /* len bytes and a NUL */
};

struct cl_node {
	struct event_base *base;
	struct members    *m;
	struct cl_link    *link;
	struct cl_stamps  *stamps;
	struct cl_peers    peers;
	struct cl_lease    lease;
	struct cl_node_sink sink;
	struct hashtab    *edges;         /* struct edge: the edges run here */
	struct event      *ev_tick;
	char               node[CFG_NAME_MAX + 1];
	uint64_t           lease_ms;
	uint64_t           aff_ttl_ms;
	bool               draining;
	bool               up;
	uint64_t           last_beat;
	uint64_t           beat_sum;      /* what the last heartbeat said, hashed */
	uint64_t           last_sweep;
	uint64_t           last_refused_log;
	uint64_t           last_edges_log;
	uint64_t           applied, refused, unchanged;
	char             **replay;        /* names to write again after a return */
	size_t             nreplay, replay_at;
	struct cl_entry   *e;             /* scratch: a heartbeat is large */
};

/* ---- writing this node's changes ------------------------------------------ */

static const void *
edge_key(const struct ht_node *n, size_t *len)
{
	const struct edge *ed = HT_ENTRY(n, struct edge, node);

	*len = ed->len;
	return ed->name;
}

static void
edge_free(struct ht_node *n)
{
	free(HT_ENTRY(n, struct edge, node));
}

static struct edge *
edge_find(const struct cl_node *c, const char *name)
{
	size_t len = strlen(name);
	struct ht_node *n = ht_find(c->edges, ht_hash(c->edges, name, len),
	    name, len);

	return n != NULL ? HT_ENTRY(n, struct edge, node) : NULL;
}

/*
 * An affinity whose VM is unchanged is shared again only when its expiry
 * moved by this much or more: a node that starts and ends a thousand
 * sessions a second for one address writes to Redis about once a second
 * for it, not twice per session.
 */
#define RESHARE_MS 1000

/* What an affinity says, its expiry aside: a digest of its VM, never 0. */
static uint64_t
aff_tag(const char *vm)
{
	static const uint64_t k[2] = { 0x706f6f6c67617465ull,
	    0x616666696e697479ull };
	uint64_t h = sip_hash24(k, vm, strlen(vm));

	return h != 0 ? h : 1;
}

static uint64_t
next_stamp(struct cl_node *c, const char *name, uint64_t wall)
{
	uint64_t last = cl_stamps_get(c->stamps, name);

	/* a key changed twice in one millisecond: the second is still newer */
	return last >= wall ? last + 1 : wall;
}

/*
 * Write what this node holds for `name` now, stamped `stamp` (0: a new
 * change, stamped now). The local state is the truth: an affinity that
 * has expired here, or a VM gone, is written as what it is.
 */
static void
publish(struct cl_node *c, const char *name, uint64_t stamp)
{
	struct cl_entry *e = c->e;
	uint64_t now = pg_now_ms(), wall = pg_wall_ms(), ttl = 0, expires = 0;
	uint64_t tag = 0;
	char kname[CL_NAME_MAX + 8], value[256];
	const struct backend *b;

	memset(e, 0, offsetof(struct cl_entry, u));
	snprintf(e->node, sizeof(e->node), "%s", c->node);
	if (strncmp(name, "a:", 2) == 0) {
		const struct aff_entry *a = aff_lookup(c->m->aff, name + 2, now);

		if (a == NULL)
			return;   /* expired: every node forgets it by itself */
		e->kind = CL_AFF;
		memset(&e->u.aff, 0, sizeof(e->u.aff));
		snprintf(e->u.aff.key, sizeof(e->u.aff.key), "%s", a->key);
		snprintf(e->u.aff.vm, sizeof(e->u.aff.vm), "%s", a->backend);
		/* live here: it lasts at least the ttl from now on every node */
		expires = a->active > 0 ? wall + c->aff_ttl_ms :
		    wall + (a->expires_ms > now ? a->expires_ms - now : 0);
		if (expires <= wall)
			return;
		e->u.aff.expires = expires;
		ttl = expires - wall;
	} else if (strncmp(name, "o:", 2) == 0) {
		if ((b = pool_find(&c->m->pool, name + 2)) == NULL)
			return;
		e->kind = CL_OPER;
		memset(&e->u.oper, 0, sizeof(e->u.oper));
		snprintf(e->u.oper.vm, sizeof(e->u.oper.vm), "%s", b->name);
		e->u.oper.admin = b->admin;
	} else if (strncmp(name, "v:", 2) == 0) {
		b = pool_find(&c->m->pool, name + 2);
		e->kind = CL_VM;
		memset(&e->u.vm, 0, sizeof(e->u.vm));
		snprintf(e->u.vm.vm, sizeof(e->u.vm.vm), "%s", name + 2);
		if (b != NULL && !b->removed && b->source == BE_SRC_API) {
			snprintf(e->u.vm.address, sizeof(e->u.vm.address), "%s",
			    b->addr.text);
			e->u.vm.weight = b->weight;
			e->u.vm.max_sessions = b->max_sessions;
		} else {
			e->u.vm.removed = true;
			ttl = TOMBSTONE_MS;
			expires = wall + TOMBSTONE_MS;
		}
	} else if (strncmp(name, "h:", 2) == 0) {
		const struct edge *ed = edge_find(c, name);

		if (ed == NULL)
			return;   /* from before a restart: Redis has it */
		e->kind = CL_EDGE;
		memset(&e->u.edge, 0, sizeof(e->u.edge));
		snprintf(e->u.edge.vm, sizeof(e->u.edge.vm), "%s", name + 2);
		e->u.edge.busy = ed->busy;
	} else
		return;
	if (e->kind == CL_AFF) {
		tag = aff_tag(e->u.aff.vm);
		/* a new change that tells the others nothing new */
		if (stamp == 0 && cl_stamps_unchanged(c->stamps, name, c->node,
		    tag, expires, RESHARE_MS, wall)) {
			c->unchanged++;
			return;
		}
	}
	e->stamp = stamp != 0 ? stamp : next_stamp(c, name, wall);
	/* an edge lives EDGE_MS from when it was run, on every node alike */
	if (e->kind == CL_EDGE) {
		expires = e->stamp + EDGE_MS;
		if (expires <= wall)
			return;
		ttl = expires - wall;
	}
	if (stamp == 0 && !cl_stamps_offer_tagged(c->stamps, name, e->stamp,
	    c->node, expires, tag, wall))
		return;   /* the table is full: not shared */
	if (cl_encode(e, kname, sizeof(kname), value, sizeof(value)) == -1) {
		log_warn("cluster: %s cannot be shared (not encodable)", name);
		return;
	}
	/* down: dropped here, written again when Redis is back (replay) */
	(void)cl_link_put(c->link, kname, value, e->stamp, ttl);
}

void
cl_node_shared(struct cl_node *c, enum mbr_shared what, const char *name)
{
	char full[CL_NAME_MAX + 8];

	if (c == NULL)
		return;
	snprintf(full, sizeof(full), "%s%s", what == MBR_SH_AFFINITY ? "a:" :
	    what == MBR_SH_ADMIN ? "o:" : "v:", name);
	publish(c, full, 0);
}

void
cl_node_edge(struct cl_node *c, const char *vm, bool busy)
{
	char full[CL_NAME_MAX + 8];
	struct edge *ed;
	size_t len;

	if (c == NULL)
		return;
	len = (size_t)snprintf(full, sizeof(full), "h:%s", vm);
	if (len >= sizeof(full))
		return;
	if ((ed = edge_find(c, full)) == NULL) {
		if ((ed = calloc(1, sizeof(*ed) + len + 1)) == NULL)
			return;
		memcpy(ed->name, full, len + 1);
		ed->len = len;
		if (ht_insert(c->edges, &ed->node, ht_hash(c->edges, full,
		    len)) == -1) {
			free(ed);
			if (pg_now_ms() - c->last_edges_log >= 60000) {
				c->last_edges_log = pg_now_ms();
				log_warn("cluster: more than %d hook edges in %llu "
				    "days: vm_%s %s not shared", EDGES_MAX,
				    (unsigned long long)(EDGE_MS / 86400000),
				    busy ? "busy" : "idle", vm);
			}
			return;
		}
	}
	ed->busy = busy;
	publish(c, full, 0);
}

/* Forget the edges run here whose entry expired (swept from the stamps). */
static void
edges_sweep(struct cl_node *c)
{
	struct ht_iter it;
	struct ht_node *n;

	for (n = ht_first(c->edges, &it); n != NULL; n = ht_next(&it)) {
		struct edge *ed = HT_ENTRY(n, struct edge, node);

		if (cl_stamps_get(c->stamps, ed->name) == 0) {
			ht_remove(c->edges, n);
			free(ed);
		}
	}
}

/* ---- applying the others' ------------------------------------------------- */

/* A name from Redis for a log line: printable, cut. */
static void
printable(const char *s, size_t n, char *out, size_t outlen)
{
	size_t k = 0;

	for (size_t i = 0; i < n && k + 1 < outlen && i < 80; i++)
		out[k++] = isprint((unsigned char)s[i]) ? s[i] : '?';
	out[k] = '\0';
}

static void
on_entry(void *arg, const char *name, size_t namelen, const char *value,
    size_t valuelen)
{
	struct cl_node *c = arg;
	struct cl_entry *e = c->e;
	uint64_t now = pg_now_ms(), wall = pg_wall_ms(), expires = 0;
	char why[128], key[CL_NAME_MAX + 8], err[256];

	if (cl_decode(name, namelen, value, valuelen, e, why, sizeof(why)) == -1 ||
	    namelen >= sizeof(key)) {
		c->refused++;
		if (now - c->last_refused_log >= 1000) {
			c->last_refused_log = now;
			printable(name, namelen, key, sizeof(key));
			log_warn("cluster: ignored entry \"%s\" read from Redis: %s "
			    "(%llu ignored so far)", key, namelen >= sizeof(key) ?
			    "name too long" : why, (unsigned long long)c->refused);
		}
		return;
	}
	if (e->kind == CL_NODE) {
		if (cl_peers_update(&c->peers, e, now) == -1 &&
		    now - c->last_refused_log >= 1000) {
			c->last_refused_log = now;
			log_warn("cluster: more than %d other nodes: %s not counted",
			    CL_PEERS_MAX, e->node);
		}
		return;
	}
	memcpy(key, name, namelen);
	key[namelen] = '\0';
	/* our own change coming back on the channel */
	if (strcmp(e->node, c->node) == 0 &&
	    cl_stamps_get(c->stamps, key) == e->stamp)
		return;
	if (e->kind == CL_AFF)
		expires = e->u.aff.expires;
	else if (e->kind == CL_EDGE)
		expires = e->stamp + EDGE_MS;
	if (!cl_stamps_offer_tagged(c->stamps, key, e->stamp, e->node, expires,
	    e->kind == CL_AFF ? aff_tag(e->u.aff.vm) : 0, wall))
		return;   /* older than what we have, or expired */
	c->applied++;
	switch (e->kind) {
	case CL_AFF:
		if (mbr_apply_affinity(c->m, e->u.aff.key, e->u.aff.vm,
		    now + (expires - wall), now) == -1)
			log_debug("cluster: affinity %s not kept (table full)",
			    e->u.aff.key);
		break;
	case CL_OPER:
		if (mbr_apply_admin(c->m, e->u.oper.vm, e->u.oper.admin, err,
		    sizeof(err)) == -1)
			log_debug("cluster: operator state of %s from %s: %s",
			    e->u.oper.vm, e->node, err);
		else
			log_info("cluster: %s set %s to %s", e->node, e->u.oper.vm,
			    be_admin_name(e->u.oper.admin));
		break;
	case CL_VM:
		if (mbr_apply_vm(c->m, e->u.vm.vm, e->u.vm.address,
		    e->u.vm.weight, e->u.vm.max_sessions, e->u.vm.removed, err,
		    sizeof(err)) == -1) {
			if (!e->u.vm.removed)
				log_warn("cluster: VM %s from %s not applied: %s",
				    e->u.vm.vm, e->node, err);
		} else
			log_info("cluster: %s %s VM %s", e->node, e->u.vm.removed ?
			    "removed" : "added or changed", e->u.vm.vm);
		break;
	case CL_EDGE:
		/*
		 * Another runner's edge (or this node's own from before a
		 * restart): the detector goes on from it, so that whoever
		 * runs hooks next neither misses vm_idle nor repeats it.
		 */
		log_info("cluster: %s ran vm_%s %s", e->node, e->u.edge.busy ?
		    "busy" : "idle", e->u.edge.vm);
		if (c->sink.edge != NULL)
			c->sink.edge(c->sink.arg, e->u.edge.vm, e->u.edge.busy);
		break;
	case CL_NODE:
		break;
	}
}

/* ---- the link's state ----------------------------------------------------- */

static void
replay_free(struct cl_node *c)
{
	for (size_t i = 0; i < c->nreplay; i++)
		free(c->replay[i]);
	free(c->replay);
	c->replay = NULL;
	c->nreplay = c->replay_at = 0;
}

struct replay_arg {
	struct cl_node *c;
	size_t          cap;
};

static void
collect(const char *name, uint64_t stamp, const char *node, void *arg)
{
	struct replay_arg *ra = arg;
	struct cl_node *c = ra->c;
	char **more;

	(void)stamp;
	if (strcmp(node, c->node) != 0)
		return;
	if (c->nreplay == ra->cap) {
		ra->cap = ra->cap ? ra->cap * 2 : 256;
		if ((more = realloc(c->replay, ra->cap * sizeof(*more))) == NULL)
			return;
		c->replay = more;
	}
	if ((c->replay[c->nreplay] = strdup(name)) != NULL)
		c->nreplay++;
}

static void
on_state(void *arg, bool up)
{
	struct cl_node *c = arg;
	struct replay_arg ra = { c, 0 };
	uint64_t now = pg_now_ms();

	c->up = up;
	if (!up) {
		log_warn("cluster: Redis unreachable: degraded, routing from what "
		    "this node knows, vm_idle held back");
		replay_free(c);
		return;
	}
	/*
	 * The others went on meanwhile: give each a fresh expiry to speak, and
	 * forget who ran the hooks until someone says so again (the lease
	 * lapsed in a Redis that went away).
	 */
	for (size_t i = 0; i < c->peers.n; i++) {
		c->peers.p[i].seen_at = now;
		c->peers.p[i].runner_seen = false;
	}
	/*
	 * What this node changed (also while Redis was away) goes out again
	 * with its stamp; Redis' conditional write and the others' merge keep
	 * whichever is newer.
	 */
	replay_free(c);
	cl_stamps_foreach(c->stamps, pg_wall_ms(), collect, &ra);
	c->last_beat = 0;   /* a heartbeat at the next tick */
	log_info("cluster: Redis reachable: %zu own entries to write again",
	    c->nreplay);
}

static void
lease_done(void *arg, enum cl_lease_answer a)
{
	struct cl_node *c = arg;
	bool was = c->lease.runner;

	cl_lease_answer(&c->lease, a, pg_now_ms());
	if (was != c->lease.runner)
		log_info("cluster: this node %s the hook runner",
		    c->lease.runner ? "is now" : "is no longer");
}

/* ---- the clock ------------------------------------------------------------- */

static void
heartbeat(struct cl_node *c, uint64_t now)
{
	struct cl_entry *e = c->e;
	const struct pool *p = &c->m->pool;
	uint64_t sum = 1469598103934665603ull;
	char name[CFG_NAME_MAX + 8];
	static char value[CL_VALUE_MAX + 1];

	memset(e, 0, offsetof(struct cl_entry, u));
	e->kind = CL_NODE;
	snprintf(e->node, sizeof(e->node), "%s", c->node);
	e->u.node.draining = c->draining;
	e->u.node.runner = cl_lease_runner(&c->lease, now);
	e->u.node.nvms = 0;
	for (size_t i = 0; i < p->n && e->u.node.nvms < CL_NODE_VMS_MAX; i++) {
		const struct backend *b = p->be[i];
		struct cl_vmcount *v;

		if (b->sessions <= 0)
			continue;
		v = &e->u.node.vms[e->u.node.nvms++];
		snprintf(v->vm, sizeof(v->vm), "%s", b->name);
		v->sessions = (uint32_t)b->sessions;
		for (const char *s = b->name; *s; s++)
			sum = (sum ^ (unsigned char)*s) * 1099511628211ull;
		sum = (sum ^ (uint64_t)b->sessions) * 1099511628211ull;
	}
	sum ^= (uint64_t)c->draining << 1 | (uint64_t)e->u.node.runner;
	if (sum == c->beat_sum && now - c->last_beat < BEAT_MS)
		return;
	e->stamp = pg_wall_ms();
	if (cl_encode(e, name, sizeof(name), value, sizeof(value)) == -1)
		return;
	if (cl_link_put(c->link, name, value, e->stamp, c->peers.expiry_ms) == 0) {
		c->beat_sum = sum;
		c->last_beat = now;
	}
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct cl_node *c = arg;
	uint64_t now = pg_now_ms(), wall = pg_wall_ms();
	const struct pool *p = &c->m->pool;
	enum cl_lease_act act;
	bool was = c->lease.runner;

	(void)fd;
	(void)what;
	act = cl_lease_tick(&c->lease, c->up, now);
	if (act != CL_LEASE_NONE &&
	    cl_link_lease(c->link, act, c->lease_ms, lease_done, c) == -1)
		cl_lease_answer(&c->lease, CL_LEASE_FAILED, now);
	if (was && !c->lease.runner)
		log_warn("cluster: the hook runner's lease ran out unrenewed: "
		    "hooks stop here");
	/*
	 * Cut off from Redis, the others' last counts stay: their sessions
	 * did not end because we stopped hearing of them.
	 */
	if (c->up)
		cl_peers_expire(&c->peers, now);
	for (size_t i = 0; i < p->n; i++) {
		struct backend *b = p->be[i];
		uint32_t r = cl_peers_sessions(&c->peers, b->name, now);

		mbr_set_remote(c->m, b, r > 1000000 ? 1000000 : (int)r);
	}
	if (!c->up)
		return;
	heartbeat(c, now);
	for (size_t k = 0; k < REPLAY_PER_TICK && c->replay_at < c->nreplay; k++)
		publish(c, c->replay[c->replay_at], cl_stamps_get(c->stamps,
		    c->replay[c->replay_at])), c->replay_at++;
	if (c->replay != NULL && c->replay_at == c->nreplay)
		replay_free(c);
	if (now - c->last_sweep >= SWEEP_MS) {
		c->last_sweep = now;
		cl_stamps_sweep(c->stamps, wall);
		edges_sweep(c);
	}
}

/* ---- life ------------------------------------------------------------------ */

struct cl_node *
cl_node_new(struct event_base *base, const struct cfg_cluster *cfg,
    const char *password, struct members *m, uint64_t aff_ttl_ms,
    const struct cl_node_sink *sink)
{
	struct cl_node *c = calloc(1, sizeof(*c));
	struct cl_link_conf lc;
	struct cl_link_cb cb;
	struct timeval tv = { 0, TICK_MS * 1000 };

	if (c == NULL)
		return NULL;
	c->base = base;
	c->m = m;
	c->aff_ttl_ms = aff_ttl_ms;
	if (sink != NULL)
		c->sink = *sink;
	c->lease_ms = cfg->lease_ms;
	snprintf(c->node, sizeof(c->node), "%s", cfg->node);
	cl_peers_init(&c->peers, cfg->node, cfg->node_expiry_ms);
	cl_lease_init(&c->lease, cfg->lease_ms);
	if ((c->e = malloc(sizeof(*c->e))) == NULL ||
	    (c->stamps = cl_stamps_new(STAMPS_MAX)) == NULL ||
	    (c->edges = ht_new(edge_key, EDGES_MAX, 0)) == NULL)
		goto fail;
	memset(&lc, 0, sizeof(lc));
	snprintf(lc.node, sizeof(lc.node), "%s", cfg->node);
	lc.prefix = cfg->prefix;
	lc.password = password;
	for (size_t i = 0; i < cfg->nredis && i < CL_LINK_ADDRS_MAX; i++)
		lc.redis[lc.nredis++] = cfg->redis[i].text;
	for (size_t i = 0; i < cfg->nsentinel && i < CL_LINK_ADDRS_MAX; i++)
		lc.sentinels[lc.nsentinels++] = cfg->sentinel[i].text;
	lc.master = cfg->master;
	lc.deadline_ms = cfg->timeout_ms;
	cb.arg = c;
	cb.entry = on_entry;
	cb.state = on_state;
	if ((c->link = cl_link_new(base, &lc, &cb)) == NULL ||
	    (c->ev_tick = event_new(base, -1, EV_PERSIST, tick_cb, c)) == NULL)
		goto fail;
	evtimer_add(c->ev_tick, &tv);
	log_info("cluster: node %s, Redis %s%s", c->node,
	    cfg->nsentinel > 0 ? "master " : "", cfg->nsentinel > 0 ?
	    cfg->master : cfg->redis[0].text);
	return c;
fail:
	cl_node_free(c);
	return NULL;
}

void
cl_node_free(struct cl_node *c)
{
	if (c == NULL)
		return;
	if (c->ev_tick != NULL)
		event_free(c->ev_tick);
	cl_link_free(c->link);
	cl_stamps_free(c->stamps);
	ht_free(c->edges, edge_free);
	cl_peers_free(&c->peers);
	replay_free(c);
	free(c->e);
	free(c);
}

void
cl_node_set_ttl(struct cl_node *c, uint64_t aff_ttl_ms)
{
	if (c != NULL)
		c->aff_ttl_ms = aff_ttl_ms;
}

bool
cl_node_up(const struct cl_node *c)
{
	return c != NULL && c->up;
}

bool
cl_node_runner_known(struct cl_node *c)
{
	uint64_t now = pg_now_ms();

	if (c == NULL)
		return true;
	if (!c->up)
		return false;
	if (cl_lease_runner(&c->lease, now))
		return true;
	for (size_t i = 0; i < c->peers.n; i++)
		if (c->peers.p[i].runner_seen &&
		    now - c->peers.p[i].seen_at <= RUNNER_FRESH_MS)
			return true;
	return false;
}

bool
cl_node_runner(struct cl_node *c)
{
	return c != NULL && cl_lease_runner(&c->lease, pg_now_ms());
}

void
cl_node_set_draining(struct cl_node *c, bool draining)
{
	if (c == NULL || c->draining == draining)
		return;
	c->draining = draining;
	log_info("cluster: node %s %s by the operator", c->node, draining ?
	    "drained" : "back in the front");
	c->last_beat = 0;
}

bool
cl_node_draining(const struct cl_node *c)
{
	return c != NULL && c->draining;
}

void
cl_node_status(const struct cl_node *c, struct cl_status *st)
{
	memset(st, 0, sizeof(*st));
	st->node = c->node;
	st->up = c->up;
	st->draining = c->draining;
	st->runner = c->lease.runner && pg_now_ms() < c->lease.valid_until;
	st->applied = c->applied;
	st->unchanged = c->unchanged;
	st->refused = c->refused;
	cl_link_stats(c->link, &st->link);
	st->peers = &c->peers;
}
