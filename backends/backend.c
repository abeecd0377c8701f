/*
 * backend.c -- the VM registry: every pool member, its state and its load.
 */
#include <limits.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"

/* One bit per service in pool->ready_live. */
_Static_assert(CFG_MAX_SERVICES <= 32, "pool->ready_live has 32 bits");

/* The heap of svc is kept (built at the service's first pick by load). */
static bool
pool_kept(const struct pool *p, size_t svc)
{
	return (p->ready_live & (UINT32_C(1) << svc)) != 0;
}

static void
be_free(struct backend *b)
{
	if (b == NULL)
		return;
	free(b->addr.text);
	free(b->report);
	free(b);
}

void
pool_init(struct pool *p)
{
	memset(p, 0, sizeof(*p));
	p->turn = POOL_TURN_PICKED;
}

void
pool_clear(struct pool *p)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		be_free(p->be[i]);
	for (i = 0; i < CFG_MAX_SERVICES; i++)
		rdy_free(&p->ready[i]);
	free(p->be);
	free(p->idx);
	pool_init(p);
}

static size_t
name_hash(const char *s)
{
	uint64_t h = 1469598103934665603ULL;   /* FNV-1a */

	for (; *s != '\0'; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ULL;
	}
	return (size_t)(h ^ (h >> 32));
}

/*
 * Rebuild the name index for the current members. On allocation failure
 * the index is dropped and pool_find falls back to a scan.
 */
static void
pool_reindex(struct pool *p)
{
	size_t cap = 16;

	while (cap < p->n * 2)
		cap *= 2;
	if (cap != p->idxcap) {
		free(p->idx);
		p->idx = calloc(cap, sizeof(*p->idx));
		p->idxcap = p->idx != NULL ? cap : 0;
	} else if (p->idx != NULL)
		memset(p->idx, 0, cap * sizeof(*p->idx));
	if (p->idx == NULL)
		return;
	for (size_t i = 0; i < p->n; i++) {
		size_t h = name_hash(p->be[i]->name) & (cap - 1);
		while (p->idx[h] != NULL)
			h = (h + 1) & (cap - 1);
		p->idx[h] = p->be[i];
	}
}

struct backend *
pool_find(const struct pool *p, const char *name)
{
	size_t i;

	if (p->idx != NULL) {
		for (i = name_hash(name) & (p->idxcap - 1); p->idx[i] != NULL;
		    i = (i + 1) & (p->idxcap - 1))
			if (strcmp(p->idx[i]->name, name) == 0)
				return p->idx[i];
		return NULL;
	}
	for (i = 0; i < p->n; i++)
		if (strcmp(p->be[i]->name, name) == 0)
			return p->be[i];
	return NULL;
}

struct backend *
pool_add(struct pool *p, const struct cfg_backend *cb)
{
	struct backend *b = NULL, *ret = NULL, **nbe;
	size_t i, len, ncap, svc;

	/* Room in every kept heap: pool_touch must never need to allocate. */
	for (svc = 0; svc < CFG_MAX_SERVICES; svc++)
		if (pool_kept(p, svc) &&
		    rdy_reserve(&p->ready[svc], p->n + 1) == -1)
			goto out;
	if (p->n == p->cap) {
		ncap = p->cap ? p->cap * 2 : 8;
		nbe = reallocarray(p->be, ncap, sizeof(*nbe));
		if (nbe == NULL)
			goto out;
		p->be = nbe;
		p->cap = ncap;
	}
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		goto out;
	len = strnlen(cb->name, CFG_NAME_MAX);
	memcpy(b->name, cb->name, len);
	b->name[len] = '\0';
	b->addr = cb->address;
	b->addr.text = NULL;
	if (cb->address.text != NULL &&
	    (b->addr.text = strdup(cb->address.text)) == NULL)
		goto out;
	/* The configuration validates these; keep the invariants regardless. */
	b->weight = cb->weight >= 1 ? cb->weight : 1;
	b->max_sessions = cb->max_sessions >= 0 ? cb->max_sessions : 0;
	b->admin = BE_ADMIN_READY;
	for (i = 0; i < CFG_MAX_SERVICES; i++) {
		hc_init(&b->health[i].hc);
		b->check[i] = NULL;
	}
	be_agent_clear(b);
	b->agent_check = NULL;
	b->nservices = p->nservices;
	/*
	 * In turn before every VM chosen already, after those never chosen.
	 * Down, so in no heap yet.
	 */
	b->turn = ++p->added;
	p->be[p->n++] = b;
	pool_reindex(p);
	ret = b;
	b = NULL;       /* transferred */
out:
	be_free(b);
	return ret;
}

void
pool_set_services(struct pool *p, size_t n)
{
	if (n > CFG_MAX_SERVICES)
		n = CFG_MAX_SERVICES;
	p->nservices = n;
	for (size_t i = 0; i < p->n; i++) {
		p->be[i]->nservices = n;
		pool_touch(p, p->be[i]);
	}
}

void
pool_remove_at(struct pool *p, size_t i)
{
	size_t svc;

	if (i >= p->n) {
		fprintf(stderr, "pool_remove_at: index %zu of %zu\n", i, p->n);
		abort();
	}
	/* The turns of the others are their own stamps: nothing to shift. */
	for (svc = 0; svc < CFG_MAX_SERVICES; svc++)
		if (pool_kept(p, svc))
			rdy_remove(&p->ready[svc], svc, p->be[i]);
	be_free(p->be[i]);
	memmove(&p->be[i], &p->be[i + 1], (p->n - i - 1) * sizeof(*p->be));
	p->n--;
	pool_reindex(p);
}

void
pool_touch(struct pool *p, struct backend *b)
{
	size_t svc;

	for (svc = 0; svc < CFG_MAX_SERVICES; svc++)
		if (pool_kept(p, svc))
			rdy_update(&p->ready[svc], svc, b);
}

struct rdy_heap *
pool_ready(struct pool *p, size_t svc)
{
	if (svc >= CFG_MAX_SERVICES)
		return NULL;
	if (!pool_kept(p, svc)) {
		if (rdy_build(&p->ready[svc], svc, p->be, p->n, p->cap) == -1)
			return NULL;
		p->ready_live |= UINT32_C(1) << svc;
	}
	return &p->ready[svc];
}

void
be_agent_clear(struct backend *b)
{
	b->agent_weight_pct = -1;
	b->agent_maxconn = -1;
	b->agent_admin = BE_ADMIN_READY;
	b->agent_down = false;
	b->agent_reason[0] = '\0';
	b->agent_last[0] = '\0';
	b->agent_last_ok = false;
	b->agent_last_ms = 0;
	b->reported = 0;
	b->identity_bad = false;
	b->evicting = false;
	b->report_ok = false;
	b->report_ms = 0;
	b->report_err[0] = '\0';
	b->identity_why[0] = '\0';
	b->claims_lost = 0;
}

enum be_admin
be_admin_effective(const struct backend *b)
{
	/* The enum is ordered by strength: ready < drain < maint. */
	enum be_admin a = b->agent_admin > b->admin ? b->agent_admin : b->admin;

	/* An eviction the agent reports drains like the agent's own drain. */
	return b->evicting && a < BE_ADMIN_DRAIN ? BE_ADMIN_DRAIN : a;
}

int
be_weight(const struct backend *b)
{
	int64_t pct = b->agent_weight_pct < 0 ? 100 : b->agent_weight_pct;
	int64_t w = (int64_t)b->weight * pct;

	return w < 0 ? 0 : w > INT_MAX ? INT_MAX : (int)w;
}

int
be_load(const struct backend *b)
{
	int64_t pool = (int64_t)b->sessions + (b->remote > 0 ? b->remote : 0);

	if (pool > INT_MAX)
		pool = INT_MAX;
	return b->reported > pool ? b->reported : (int)pool;
}

int
be_max_sessions(const struct backend *b)
{
	/* An agent's maxconn:0 means no limit, as in HAProxy. */
	if (b->agent_maxconn <= 0)
		return b->max_sessions;
	if (b->max_sessions == 0 || b->agent_maxconn < b->max_sessions)
		return b->agent_maxconn;
	return b->max_sessions;
}

enum be_state
be_state(const struct backend *b, size_t nservices)
{
	enum be_admin adm = be_admin_effective(b);
	size_t i;

	if (adm == BE_ADMIN_MAINT)
		return BE_MAINT;
	/* A weight of 0% is HAProxy's drain: returning users only. */
	if (adm == BE_ADMIN_DRAIN || b->removed || be_weight(b) == 0)
		return BE_DRAIN;
	if (b->agent_down || b->identity_bad)
		return BE_DOWN;
	if (nservices > CFG_MAX_SERVICES)
		nservices = CFG_MAX_SERVICES;
	for (i = 0; i < nservices; i++)
		if (!b->health[i].hc.up)
			return BE_DOWN;
	return BE_UP;
}

const char *
be_state_name(enum be_state s)
{
	switch (s) {
	case BE_UP:
		return "up";
	case BE_DOWN:
		return "down";
	case BE_DRAIN:
		return "drain";
	case BE_MAINT:
		return "maint";
	}
	return "unknown";
}

static const char *const admin_names[] = {
	[BE_ADMIN_READY] = "ready",
	[BE_ADMIN_DRAIN] = "drain",
	[BE_ADMIN_MAINT] = "maint",
};

const char *
be_admin_name(enum be_admin a)
{
	if ((size_t)a < sizeof(admin_names) / sizeof(admin_names[0]))
		return admin_names[a];
	return "unknown";
}

bool
be_admin_parse(const char *name, enum be_admin *out)
{
	for (size_t i = 0; name != NULL &&
	    i < sizeof(admin_names) / sizeof(admin_names[0]); i++)
		if (strcmp(name, admin_names[i]) == 0) {
			*out = (enum be_admin)i;
			return true;
		}
	return false;
}

const char *
be_source_name(enum be_source s)
{
	switch (s) {
	case BE_SRC_FILE:           return "configuration file";
	case BE_SRC_API:            return "admin API";
	case BE_SRC_DISCOVERY_FILE: return "discovery file";
	case BE_SRC_DNS:            return "DNS discovery";
	}
	return "unknown source";
}

bool
be_takes_new(const struct backend *b, size_t svc)
{
	int max;

	if (svc >= CFG_MAX_SERVICES)
		return false;
	max = be_max_sessions(b);
	if (be_admin_effective(b) != BE_ADMIN_READY || b->removed ||
	    b->agent_down || b->identity_bad || be_weight(b) <= 0 ||
	    !b->health[svc].hc.up || (max != 0 && be_load(b) >= max))
		return false;
	/*
	 * A user placed now will use every service of the VM (SSH beside
	 * Jupyter): one that fails for any of them is no place for new work.
	 * Existing sessions and affinities go on per service
	 * (be_takes_affine).
	 */
	for (size_t i = 0; i < b->nservices && i < CFG_MAX_SERVICES; i++)
		if (!b->health[i].hc.up)
			return false;
	return true;
}

bool
be_takes_affine(const struct backend *b, size_t svc)
{
	if (svc >= CFG_MAX_SERVICES)
		return false;
	/* The agent's down is a failed health check: no affinity either. */
	return be_admin_effective(b) != BE_ADMIN_MAINT && !b->agent_down &&
	    !b->identity_bad && b->health[svc].hc.up;
}

bool
be_in_list(const struct backend *b, struct backend *const *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (list[i] == b)
			return true;
	return false;
}
