/*
 * test_affinity.c -- the affinity table, with an injected clock.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "backends/affinity.h"

static struct aff_table *
table(size_t max, uint64_t ttl)
{
	struct aff_table *t = aff_new(max, ttl);

	assert_non_null(t);
	return t;
}

/* The backend the key points at now, or NULL. */
static const char *
where(struct aff_table *t, const char *key, uint64_t now)
{
	const struct aff_entry *e = aff_lookup(t, key, now);

	return e != NULL ? e->backend : NULL;
}

static void
test_lookup_insert(void **state)
{
	struct aff_table *t = table(100, 1000);
	const struct aff_entry *e;

	(void)state;
	assert_null(aff_lookup(t, "ip:192.0.2.7", 0));
	assert_int_equal(aff_count(t), 0);

	assert_int_equal(aff_session_start(t, "ip:192.0.2.7", "vm1", 10), 0);
	assert_int_equal(aff_session_start(t, "user:alice", "vm2", 10), 0);
	e = aff_lookup(t, "ip:192.0.2.7", 20);
	assert_non_null(e);
	assert_string_equal(e->key, "ip:192.0.2.7");
	assert_string_equal(e->backend, "vm1");
	assert_int_equal(e->active, 1);
	assert_string_equal(where(t, "user:alice", 20), "vm2");
	assert_null(aff_lookup(t, "user:bob", 20));
	assert_null(aff_lookup(t, "ip:192.0.2.70", 20));
	assert_int_equal(aff_count(t), 2);

	/* A second session on the same VM counts, no new entry. */
	assert_int_equal(aff_session_start(t, "ip:192.0.2.7", "vm1", 30), 0);
	assert_int_equal(aff_lookup(t, "ip:192.0.2.7", 30)->active, 2);
	assert_int_equal(aff_count(t), 2);
	aff_free(t);
}

static void
test_expiry_exactly_at_ttl(void **state)
{
	struct aff_table *t = table(100, 1000);

	(void)state;
	assert_int_equal(aff_session_start(t, "a", "vm1", 0), 0);
	assert_int_equal(aff_session_start(t, "b", "vm1", 0), 0);
	aff_session_end(t, "a", "vm1", 100);
	aff_session_end(t, "b", "vm1", 100);
	assert_int_equal(aff_lookup(t, "a", 100)->expires_ms, 1100);

	/* One millisecond before: live. */
	assert_string_equal(where(t, "a", 1099), "vm1");
	assert_int_equal(aff_count_backend(t, "vm1", 1099), 2);
	assert_int_equal(aff_expire(t, 1099), 0);
	/* At ttl: gone, and the lookup removed it. */
	assert_null(aff_lookup(t, "a", 1100));
	assert_int_equal(aff_count(t), 1);
	assert_int_equal(aff_count_backend(t, "vm1", 1100), 0);
	/* After: gone. */
	assert_null(aff_lookup(t, "b", 5000));
	assert_int_equal(aff_count(t), 0);
	aff_free(t);
}

static void
test_expire_sweep_exact(void **state)
{
	struct aff_table *t = table(100, 1000);

	(void)state;
	assert_int_equal(aff_session_start(t, "a", "vm1", 0), 0);
	assert_int_equal(aff_session_start(t, "b", "vm1", 0), 0);
	assert_int_equal(aff_session_start(t, "c", "vm1", 0), 0);
	assert_int_equal(aff_session_start(t, "live", "vm1", 0), 0);
	aff_session_end(t, "c", "vm1", 300);   /* expires 1300 */
	aff_session_end(t, "a", "vm1", 100);   /* expires 1100 */
	aff_session_end(t, "b", "vm1", 200);   /* expires 1200 */

	assert_int_equal(aff_expire(t, 1099), 0);
	assert_int_equal(aff_expire(t, 1100), 1);
	assert_int_equal(aff_count(t), 3);
	assert_null(aff_lookup(t, "a", 1100));
	assert_int_equal(aff_expire(t, 1250), 1);
	assert_string_equal(where(t, "c", 1250), "vm1");
	assert_int_equal(aff_expire(t, UINT64_MAX), 1);
	assert_int_equal(aff_count(t), 1);
	assert_string_equal(where(t, "live", UINT64_MAX), "vm1");
	aff_free(t);
}

static void
test_active_never_expires(void **state)
{
	struct aff_table *t = table(100, 10);

	(void)state;
	assert_int_equal(aff_session_start(t, "k", "vm1", 0), 0);
	assert_int_equal(aff_session_start(t, "k", "vm1", 0), 0);
	aff_session_end(t, "k", "vm1", 5);       /* one still open */
	assert_int_equal(aff_expire(t, UINT64_MAX), 0);
	assert_string_equal(where(t, "k", UINT64_MAX), "vm1");
	assert_int_equal(aff_count_backend(t, "vm1", UINT64_MAX), 1);
	aff_free(t);
}

static void
test_ttl_restarts_after_last_end(void **state)
{
	struct aff_table *t = table(100, 1000);

	(void)state;
	assert_int_equal(aff_session_start(t, "k", "vm1", 0), 0);
	assert_int_equal(aff_session_start(t, "k", "vm1", 0), 0);
	aff_session_end(t, "k", "vm1", 100);
	aff_session_end(t, "k", "vm1", 500);     /* the last: ttl from 500 */
	assert_string_equal(where(t, "k", 1499), "vm1");

	/* A returning session stops the clock; its end restarts it. */
	assert_int_equal(aff_session_start(t, "k", "vm1", 1400), 0);
	assert_int_equal(aff_lookup(t, "k", 1400)->active, 1);
	assert_int_equal(aff_expire(t, 5000), 0);
	aff_session_end(t, "k", "vm1", 5000);
	assert_string_equal(where(t, "k", 5999), "vm1");
	assert_null(aff_lookup(t, "k", 6000));
	aff_free(t);
}

static void
test_ttl_zero(void **state)
{
	struct aff_table *t = table(100, 0);

	(void)state;
	assert_int_equal(aff_session_start(t, "k", "vm1", 100), 0);
	assert_string_equal(where(t, "k", 100), "vm1");
	aff_session_end(t, "k", "vm1", 100);
	assert_null(aff_lookup(t, "k", 100));
	aff_free(t);
}

static void
test_set_ttl(void **state)
{
	struct aff_table *t = table(100, 1000);

	(void)state;
	assert_int_equal(aff_session_start(t, "old", "vm1", 0), 0);
	assert_int_equal(aff_session_start(t, "new", "vm1", 0), 0);
	aff_session_end(t, "old", "vm1", 0);     /* expires 1000 */
	aff_set_ttl(t, 10);
	aff_session_end(t, "new", "vm1", 0);     /* expires 10 */
	assert_null(aff_lookup(t, "new", 10));
	assert_string_equal(where(t, "old", 999), "vm1");
	aff_free(t);
}

static void
test_move_key(void **state)
{
	struct aff_table *t = table(100, 1000);
	const struct aff_entry *e;

	(void)state;
	assert_int_equal(aff_session_start(t, "k", "vm1", 0), 0);
	assert_int_equal(aff_session_start(t, "k", "vm1", 0), 0);
	assert_int_equal(aff_session_start(t, "k", "vm2", 10), 0);
	e = aff_lookup(t, "k", 10);
	assert_string_equal(e->backend, "vm2");
	assert_int_equal(e->active, 1);
	assert_int_equal(aff_count(t), 1);

	/* The old VM's sessions ending do not touch the moved entry. */
	aff_session_end(t, "k", "vm1", 20);
	aff_session_end(t, "k", "vm1", 20);
	assert_int_equal(aff_lookup(t, "k", 20)->active, 1);
	assert_int_equal(aff_expire(t, 100000), 0);

	aff_session_end(t, "k", "vm2", 30);
	e = aff_lookup(t, "k", 30);
	assert_int_equal(e->active, 0);
	assert_int_equal(e->expires_ms, 1030);

	/* Moving an idle entry makes it active on the new VM. */
	assert_int_equal(aff_session_start(t, "k", "vm3", 40), 0);
	e = aff_lookup(t, "k", 5000);
	assert_non_null(e);
	assert_string_equal(e->backend, "vm3");
	assert_int_equal(e->active, 1);
	aff_free(t);
}

static void
test_end_ignored_and_no_underflow(void **state)
{
	struct aff_table *t = table(100, 1000);
	const struct aff_entry *e;

	(void)state;
	aff_session_end(t, "nobody", "vm1", 0);
	assert_int_equal(aff_count(t), 0);

	assert_int_equal(aff_session_start(t, "k", "vm1", 0), 0);
	aff_session_end(t, "k", "vm1", 100);
	/* Extra ends: active stays 0 and the expiry does not move. */
	aff_session_end(t, "k", "vm1", 900);
	aff_session_end(t, "k", "vm1", 900);
	e = aff_lookup(t, "k", 900);
	assert_int_equal(e->active, 0);
	assert_int_equal(e->expires_ms, 1100);
	assert_null(aff_lookup(t, "k", 1100));

	/* An expired but unswept entry starts again at active 1. */
	assert_int_equal(aff_session_start(t, "j", "vm1", 0), 0);
	aff_session_end(t, "j", "vm1", 0);
	assert_int_equal(aff_session_start(t, "j", "vm1", 5000), 0);
	assert_int_equal(aff_lookup(t, "j", 5000)->active, 1);
	aff_free(t);
}

static void
test_capacity_cap(void **state)
{
	struct aff_table *t = table(3, 1000);

	(void)state;
	assert_int_equal(aff_session_start(t, "a", "vm1", 0), 0);
	assert_int_equal(aff_session_start(t, "b", "vm1", 0), 0);
	assert_int_equal(aff_session_start(t, "c", "vm1", 0), 0);
	assert_int_equal(aff_session_start(t, "d", "vm1", 0), -1);
	assert_int_equal(aff_count(t), 3);
	assert_null(aff_lookup(t, "d", 0));
	/* Keys already present still take sessions and move. */
	assert_int_equal(aff_session_start(t, "a", "vm1", 0), 0);
	assert_int_equal(aff_session_start(t, "b", "vm2", 0), 0);
	/* Idle but not expired is not reclaimable. */
	aff_session_end(t, "c", "vm1", 0);
	assert_int_equal(aff_session_start(t, "d", "vm1", 999), -1);
	assert_int_equal(aff_count(t), 3);
	aff_free(t);

	t = table(0, 1000);
	assert_int_equal(aff_session_start(t, "a", "vm1", 0), -1);
	aff_free(t);
}

static void
test_capacity_reclaims_expired(void **state)
{
	struct aff_table *t = table(3, 1000);

	(void)state;
	assert_int_equal(aff_session_start(t, "a", "vm1", 0), 0);
	assert_int_equal(aff_session_start(t, "b", "vm1", 0), 0);
	assert_int_equal(aff_session_start(t, "c", "vm1", 0), 0);
	aff_session_end(t, "a", "vm1", 100);     /* expires 1100 */
	aff_session_end(t, "c", "vm1", 200);     /* expires 1200 */

	assert_int_equal(aff_session_start(t, "d", "vm2", 1150), 0);
	assert_int_equal(aff_count(t), 3);
	assert_null(aff_lookup(t, "a", 1150));
	assert_string_equal(where(t, "b", 1150), "vm1");
	assert_string_equal(where(t, "c", 1150), "vm1");
	assert_string_equal(where(t, "d", 1150), "vm2");
	/* c is not expired yet and b is active: full. */
	assert_int_equal(aff_session_start(t, "e", "vm2", 1150), -1);
	assert_int_equal(aff_session_start(t, "e", "vm2", 1200), 0);
	assert_null(aff_lookup(t, "c", 1200));
	aff_free(t);
}

static void
test_reclaim_after_ttl_shrinks(void **state)
{
	struct aff_table *t = table(2, 1000);

	(void)state;
	/*
	 * x ends first with a long ttl, y later with a short one: y expires
	 * first. A table that only looks at the oldest idle entry refuses here.
	 */
	assert_int_equal(aff_session_start(t, "x", "vm1", 0), 0);
	assert_int_equal(aff_session_start(t, "y", "vm1", 0), 0);
	aff_session_end(t, "x", "vm1", 0);       /* expires 1000 */
	aff_set_ttl(t, 10);
	aff_session_end(t, "y", "vm1", 5);       /* expires 15 */
	assert_int_equal(aff_session_start(t, "z", "vm1", 20), 0);
	assert_null(aff_lookup(t, "y", 20));
	assert_string_equal(where(t, "x", 20), "vm1");
	aff_free(t);
}

static void
test_long_key(void **state)
{
	struct aff_table *t = table(10, 1000);
	char key[AFF_KEY_MAX + 2];
	char be[CFG_NAME_MAX + 2];

	(void)state;
	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';             /* AFF_KEY_MAX + 1 long */
	assert_int_equal(aff_session_start(t, key, "vm1", 0), -1);
	assert_null(aff_lookup(t, key, 0));
	assert_int_equal(aff_count(t), 0);

	key[AFF_KEY_MAX] = '\0';                 /* exactly AFF_KEY_MAX */
	assert_int_equal(aff_session_start(t, key, "vm1", 0), 0);
	assert_string_equal(where(t, key, 0), "vm1");

	memset(be, 'b', sizeof(be) - 1);
	be[sizeof(be) - 1] = '\0';
	assert_int_equal(aff_session_start(t, "k", be, 0), -1);
	be[CFG_NAME_MAX] = '\0';
	assert_int_equal(aff_session_start(t, "k", be, 0), 0);
	assert_string_equal(where(t, "k", 0), be);
	aff_free(t);
}

static void
test_forget_backend(void **state)
{
	struct aff_table *t = table(4, 1000);

	(void)state;
	assert_int_equal(aff_session_start(t, "a", "vm1", 0), 0);
	assert_int_equal(aff_session_start(t, "b", "vm1", 0), 0);
	assert_int_equal(aff_session_start(t, "c", "vm2", 0), 0);
	assert_int_equal(aff_session_start(t, "d", "vm2", 0), 0);
	aff_session_end(t, "b", "vm1", 0);       /* idle, in the expiry order */
	aff_session_end(t, "d", "vm2", 50);

	aff_forget_backend(t, "vm1");
	assert_int_equal(aff_count(t), 2);
	assert_null(aff_lookup(t, "a", 0));
	assert_null(aff_lookup(t, "b", 0));
	assert_string_equal(where(t, "c", 0), "vm2");
	assert_int_equal(aff_count_backend(t, "vm1", 0), 0);

	/* Room again, and the expiry order still works after the removal. */
	assert_int_equal(aff_session_start(t, "e", "vm3", 0), 0);
	assert_int_equal(aff_session_start(t, "f", "vm3", 0), 0);
	assert_int_equal(aff_session_start(t, "g", "vm3", 0), -1);
	assert_int_equal(aff_session_start(t, "g", "vm3", 1050), 0);
	assert_null(aff_lookup(t, "d", 1050));
	assert_int_equal(aff_expire(t, UINT64_MAX), 0);
	assert_int_equal(aff_count(t), 4);
	aff_free(t);
}

static void
test_count_backend(void **state)
{
	struct aff_table *t = table(10, 100);

	(void)state;
	assert_int_equal(aff_session_start(t, "a", "vm1", 0), 0);
	assert_int_equal(aff_session_start(t, "b", "vm1", 0), 0);
	assert_int_equal(aff_session_start(t, "c", "vm1", 0), 0);
	assert_int_equal(aff_session_start(t, "d", "vm2", 0), 0);
	aff_session_end(t, "b", "vm1", 0);       /* live until 100 */
	aff_session_end(t, "c", "vm1", 0);
	assert_int_equal(aff_count_backend(t, "vm1", 99), 3);
	assert_int_equal(aff_count_backend(t, "vm1", 100), 1);  /* not swept */
	assert_int_equal(aff_count(t), 4);
	assert_int_equal(aff_count_backend(t, "vm2", 100), 1);
	assert_int_equal(aff_count_backend(t, "vm9", 100), 0);
	aff_free(t);
}

static void
count_cb(const struct aff_entry *e, void *arg)
{
	size_t *n = arg;

	assert_true(e->active > 0 || strcmp(e->key, "idle") == 0);
	(*n)++;
}

static void
test_foreach_live_only(void **state)
{
	struct aff_table *t = table(10, 100);
	size_t n = 0;

	(void)state;
	assert_int_equal(aff_session_start(t, "a", "vm1", 0), 0);
	assert_int_equal(aff_session_start(t, "idle", "vm1", 0), 0);
	assert_int_equal(aff_session_start(t, "dead", "vm1", 0), 0);
	aff_session_end(t, "idle", "vm1", 50);   /* until 150 */
	aff_session_end(t, "dead", "vm1", 0);    /* until 100 */
	aff_foreach(t, 120, count_cb, &n);
	assert_int_equal(n, 2);
	aff_free(t);
}

#define MANY 100000

static void
test_many_keys(void **state)
{
	struct aff_table *t = table(MANY, 10);
	char key[32], be[16];
	const struct aff_entry *e;
	size_t i;

	(void)state;
	for (i = 0; i < MANY; i++) {
		snprintf(key, sizeof(key), "ip:10.%zu.%zu.%zu", i >> 16,
		    (i >> 8) & 255, i & 255);
		snprintf(be, sizeof(be), "vm%zu", i % 4);
		assert_int_equal(aff_session_start(t, key, be, 0), 0);
	}
	assert_int_equal(aff_count(t), MANY);
	assert_int_equal(aff_session_start(t, "one-too-many", "vm0", 0), -1);
	for (i = 0; i < MANY; i++) {
		snprintf(key, sizeof(key), "ip:10.%zu.%zu.%zu", i >> 16,
		    (i >> 8) & 255, i & 255);
		snprintf(be, sizeof(be), "vm%zu", i % 4);
		e = aff_lookup(t, key, 1);
		assert_non_null(e);
		assert_string_equal(e->backend, be);
		aff_session_end(t, key, be, i);      /* expires i + 10 */
	}
	assert_int_equal(aff_count_backend(t, "vm3", 0), MANY / 4);
	assert_int_equal(aff_expire(t, 10), 1);
	assert_int_equal(aff_expire(t, MANY / 2 + 9), MANY / 2 - 1);
	assert_int_equal(aff_count(t), MANY / 2);
	assert_int_equal(aff_expire(t, UINT64_MAX), MANY / 2);
	assert_int_equal(aff_count(t), 0);
	aff_free(t);
}

/*
 * Random operations against a plain-array model of the contract. The ttl
 * changes now and then, so expiry times do not arrive in order (the idle
 * order must cope with that). When a full table reclaims, any of the
 * entries with the earliest expiry may go; the model then follows the
 * table's choice, checked to be one of those.
 */
#define M_KEYS_MAX 1024

struct model {
	bool     present;
	char     backend[CFG_NAME_MAX + 1];
	uint32_t active;
	uint64_t expires;
};

struct sim {
	struct aff_table *t;
	size_t            nkeys;
	size_t            max;
	struct model      m[M_KEYS_MAX];
	struct model      snap[M_KEYS_MAX];
};

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static bool
m_expired(const struct model *m, uint64_t now)
{
	return m->present && m->active == 0 && now >= m->expires;
}

static size_t
m_count(const struct sim *sim)
{
	size_t i, c = 0;

	for (i = 0; i < sim->nkeys; i++)
		c += sim->m[i].present;
	return c;
}

/* Live keys of the model on backend be. */
static size_t
m_count_on(const struct sim *sim, const char *be, uint64_t now)
{
	size_t i, c = 0;

	for (i = 0; i < sim->nkeys; i++)
		c += sim->m[i].present && !m_expired(&sim->m[i], now) &&
		    strcmp(sim->m[i].backend, be) == 0;
	return c;
}

static void
snap_cb(const struct aff_entry *e, void *arg)
{
	struct sim *sim = arg;
	struct model *x;
	unsigned k;

	assert_int_equal(sscanf(e->key, "key%u", &k), 1);
	assert_true(k < sim->nkeys);
	x = &sim->snap[k];
	assert_false(x->present);
	x->present = true;
	x->active = e->active;
	x->expires = e->expires_ms;
	snprintf(x->backend, sizeof(x->backend), "%s", e->backend);
}

/*
 * Every entry in the table, whatever its expiry, into sim->snap: with
 * now = 0 nothing is expired, as the test clock starts at 1 and expiries
 * are >= the clock.
 */
static void
m_snapshot(struct sim *sim)
{
	memset(sim->snap, 0, sizeof(sim->snap));
	aff_foreach(sim->t, 0, snap_cb, sim);
}

static void
m_compare(struct sim *sim)
{
	const struct model *m = sim->m, *snap = sim->snap;
	size_t i;

	m_snapshot(sim);
	for (i = 0; i < sim->nkeys; i++) {
		assert_int_equal(snap[i].present, m[i].present);
		if (!m[i].present)
			continue;
		assert_string_equal(snap[i].backend, m[i].backend);
		assert_int_equal(snap[i].active, m[i].active);
		if (m[i].active == 0)
			assert_int_equal(snap[i].expires, m[i].expires);
	}
}

/* Start a session in table and model alike. */
static void
m_start(struct sim *sim, size_t k, const char *key, const char *be,
    uint64_t now)
{
	struct model *m = sim->m, *x = &sim->m[k];
	size_t i, old = SIZE_MAX;
	int rc = aff_session_start(sim->t, key, be, now);

	if (x->present) {
		assert_int_equal(rc, 0);
		if (m_expired(x, now) || strcmp(x->backend, be) != 0) {
			snprintf(x->backend, sizeof(x->backend), "%s", be);
			x->active = 1;
		} else {
			x->active++;
		}
		return;
	}
	if (m_count(sim) >= sim->max) {
		for (i = 0; i < sim->nkeys; i++)
			if (m_expired(&m[i], now) &&
			    (old == SIZE_MAX || m[i].expires < m[old].expires))
				old = i;
		if (old == SIZE_MAX) {
			assert_int_equal(rc, -1);
			return;
		}
		assert_int_equal(rc, 0);
		/* Which one went: it must be one with the earliest expiry. */
		m_snapshot(sim);
		for (i = 0; i < sim->nkeys; i++) {
			if (i == k || !m[i].present || sim->snap[i].present)
				continue;
			assert_true(m_expired(&m[i], now));
			assert_int_equal(m[i].expires, m[old].expires);
			m[i].present = false;
			break;
		}
		assert_true(i < sim->nkeys);
	} else {
		assert_int_equal(rc, 0);
	}
	x->present = true;
	x->active = 1;
	snprintf(x->backend, sizeof(x->backend), "%s", be);
}

static void
run_model(size_t nkeys, size_t max, uint64_t ttl_range, size_t ops)
{
	struct sim *sim = calloc(1, sizeof(*sim));
	struct model *x;
	const struct aff_entry *e;
	uint64_t s = 0x9e3779b97f4a7c15u, now = 1, ttl = ttl_range / 2;
	char key[32], be[CFG_NAME_MAX + 1];
	size_t op, k, i, swept;

	assert_non_null(sim);
	assert_true(nkeys <= M_KEYS_MAX);
	sim->t = table(max, ttl);
	sim->nkeys = nkeys;
	sim->max = max;
	for (op = 0; op < ops; op++) {
		now += rnd(&s) % 4;
		k = rnd(&s) % nkeys;
		x = &sim->m[k];
		snprintf(key, sizeof(key), "key%zu", k);
		snprintf(be, sizeof(be), "vm%u", (unsigned)(rnd(&s) % 3));
		switch (rnd(&s) % 16) {
		case 0: case 1: case 2: case 3: case 4:
			m_start(sim, k, key, be, now);
			break;
		case 5: case 6: case 7: case 8:
			/* Usually the right backend, sometimes a stale one. */
			if (x->present && rnd(&s) % 4 != 0)
				snprintf(be, sizeof(be), "%s", x->backend);
			aff_session_end(sim->t, key, be, now);
			if (x->present && x->active > 0 &&
			    strcmp(x->backend, be) == 0 && --x->active == 0)
				x->expires = now + ttl;
			break;
		case 9: case 10: case 11:
			e = aff_lookup(sim->t, key, now);
			if (m_expired(x, now))
				x->present = false;
			if (!x->present) {
				assert_null(e);
				break;
			}
			assert_non_null(e);
			assert_string_equal(e->backend, x->backend);
			assert_int_equal(e->active, x->active);
			if (x->active == 0)
				assert_int_equal(e->expires_ms, x->expires);
			break;
		case 12: case 13:
			ttl = rnd(&s) % ttl_range;
			aff_set_ttl(sim->t, ttl);
			break;
		case 14:
			if (rnd(&s) % 8 != 0)
				break;
			aff_forget_backend(sim->t, be);
			for (i = 0; i < nkeys; i++)
				if (sim->m[i].present &&
				    strcmp(sim->m[i].backend, be) == 0)
					sim->m[i].present = false;
			break;
		default:
			swept = 0;
			for (i = 0; i < nkeys; i++) {
				if (m_expired(&sim->m[i], now)) {
					sim->m[i].present = false;
					swept++;
				}
			}
			assert_int_equal(aff_expire(sim->t, now), swept);
			break;
		}
		assert_int_equal(aff_count(sim->t), m_count(sim));
		/* the count per VM, kept by the table, against the model's */
		if (op % 16 == 0) {
			static const char *const vms[] = { "vm0", "vm1",
			    "vm2", "vm3" };
			size_t counts[4];

			aff_count_backends(sim->t, vms, 4, counts, now);
			for (i = 0; i < 4; i++) {
				assert_int_equal(counts[i],
				    m_count_on(sim, vms[i], now));
				assert_int_equal(aff_count_backend(sim->t,
				    vms[i], now), counts[i]);
			}
		}
		if (op % 64 == 0)
			m_compare(sim);
	}
	m_compare(sim);
	aff_free(sim->t);
	free(sim);
}

/* Small and often full: reclaiming and refusing. */
static void
test_random_full_table(void **state)
{
	(void)state;
	run_model(48, 32, 80, 200000);
}

/* Large and rarely full: a deep idle order with many removals inside it. */
static void
test_random_deep_order(void **state)
{
	(void)state;
	run_model(1024, 900, 5000, 200000);
}

static void
test_restore(void **state)
{
	struct aff_table *t = table(3, 1000);
	const struct aff_entry *e;
	char key[AFF_KEY_MAX + 2];

	(void)state;
	assert_int_equal(aff_ttl(t), 1000);
	aff_set_ttl(t, 700);
	assert_int_equal(aff_ttl(t), 700);

	/* An idle entry with the given expiry, whatever the ttl. */
	assert_int_equal(aff_restore(t, "user:alice", "vm2", 5000, 100), 0);
	e = aff_lookup(t, "user:alice", 100);
	assert_non_null(e);
	assert_string_equal(e->backend, "vm2");
	assert_int_equal(e->active, 0);
	assert_int_equal(e->expires_ms, 5000);
	assert_string_equal(where(t, "user:alice", 4999), "vm2");

	/* A live key is left alone, active or idle. */
	assert_int_equal(aff_session_start(t, "ip:192.0.2.7", "vm1", 100), 0);
	assert_int_equal(aff_restore(t, "ip:192.0.2.7", "vm3", 9000, 100), 1);
	assert_int_equal(aff_restore(t, "user:alice", "vm3", 9000, 100), 1);
	e = aff_lookup(t, "ip:192.0.2.7", 100);
	assert_string_equal(e->backend, "vm1");
	assert_int_equal(e->active, 1);
	assert_string_equal(where(t, "user:alice", 100), "vm2");
	assert_int_equal(aff_lookup(t, "user:alice", 100)->expires_ms, 5000);

	/* Already expired, or bad arguments: refused, nothing added. */
	assert_int_equal(aff_restore(t, "user:bob", "vm1", 100, 100), -1);
	assert_int_equal(aff_restore(t, "user:bob", "vm1", 0, 100), -1);
	assert_int_equal(aff_restore(t, NULL, "vm1", 200, 100), -1);
	assert_int_equal(aff_restore(t, "user:bob", NULL, 200, 100), -1);
	memset(key, 'k', sizeof(key) - 1);
	key[sizeof(key) - 1] = '\0';
	assert_int_equal(aff_restore(t, key, "vm1", 200, 100), -1);
	assert_int_equal(aff_count(t), 2);

	/* Full: refused until an entry has expired, which is reclaimed. */
	assert_int_equal(aff_restore(t, "user:carol", "vm1", 3000, 100), 0);
	assert_int_equal(aff_restore(t, "user:dave", "vm1", 9000, 100), -1);
	assert_int_equal(aff_restore(t, "user:dave", "vm1", 9000, 3000), 0);
	assert_null(aff_lookup(t, "user:carol", 3000));
	assert_int_equal(aff_count(t), 3);

	/* An expired, unswept entry for the key is replaced. */
	assert_int_equal(aff_restore(t, "user:alice", "vm3", 8000, 6000), 0);
	e = aff_lookup(t, "user:alice", 6000);
	assert_string_equal(e->backend, "vm3");
	assert_int_equal(e->expires_ms, 8000);
	assert_int_equal(aff_count(t), 3);

	/* A restored entry takes sessions like any other. */
	assert_int_equal(aff_session_start(t, "user:dave", "vm1", 6000), 0);
	assert_int_equal(aff_lookup(t, "user:dave", 6000)->active, 1);
	assert_int_equal(aff_expire(t, UINT64_MAX), 1);  /* only alice was idle */
	assert_string_equal(where(t, "user:dave", UINT64_MAX), "vm1");
	aff_free(t);
}

/*
 * Restored expiries arrive in any order and mix with entries made idle by
 * session ends: the expiry order must give every sweep exactly the entries
 * that are due.
 */
static void
test_restore_expiry_order(void **state)
{
	enum { N = 2000 };
	struct aff_table *t = table(N, 50);
	uint64_t s = 0x243f6a8885a308d3u, exp[N], now;
	char key[32];
	size_t i, due, swept = 0;

	(void)state;
	for (i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "user:u%zu", i);
		if (i % 3 == 0) {
			assert_int_equal(aff_session_start(t, key, "vm1", 0), 0);
			exp[i] = 1 + rnd(&s) % 10000;
			/* ttl 50: the end at exp - 50 makes it expire at exp. */
			aff_session_end(t, key, "vm1", exp[i] < 50 ? 0 : exp[i] - 50);
			if (exp[i] < 50)
				exp[i] = 50;
		} else {
			exp[i] = 1 + rnd(&s) % 10000;
			assert_int_equal(aff_restore(t, key, "vm2", exp[i], 0), 0);
		}
	}
	assert_int_equal(aff_count(t), N);
	for (now = 0; now <= 10000; now += 1 + rnd(&s) % 300) {
		due = 0;
		for (i = 0; i < N; i++)
			due += exp[i] <= now;
		swept += aff_expire(t, now);
		assert_int_equal(swept, due);
		assert_int_equal(aff_count(t), N - due);
	}
	assert_int_equal(aff_expire(t, UINT64_MAX), N - swept);
	aff_free(t);
}

/*
 * A mass expiry is swept a slice at a time, earliest first; meanwhile the
 * per-VM counts leave the unswept entries out, and entries put back or
 * moved in between are counted under their new VM.
 */
static void
test_expire_in_slices(void **state)
{
	enum { N = 5000 };
	struct aff_table *t = table(N + 10, 100);
	char key[32];
	size_t i, swept = 0, calls = 0;

	(void)state;
	for (i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "ip:%zu", i);
		assert_int_equal(aff_restore(t, key, i % 2 ? "vm1" : "vm2",
		    1000 + i, 0), 0);
	}
	assert_int_equal(aff_count_backend(t, "vm1", 0), N / 2);
	assert_int_equal(aff_count_backend(t, "vm2", 999 + N / 2), N / 4);
	assert_false(aff_expired_left(t, 999));
	assert_true(aff_expired_left(t, 1000));
	/* one key moves to vm3 before the sweep reaches it */
	assert_int_equal(aff_session_start(t, "ip:4999", "vm3", 2000), 0);
	while (aff_expired_left(t, UINT64_MAX - 1)) {
		size_t n = aff_expire_some(t, UINT64_MAX - 1, 512);

		assert_true(n > 0 && n <= 512);
		swept += n;
		calls++;
		assert_int_equal(aff_count_backend(t, "vm1", UINT64_MAX - 1),
		    0);
		assert_int_equal(aff_count_backend(t, "vm3", UINT64_MAX - 1),
		    1);
	}
	{
		static const char *const vms[] = { "vm1", "vm2", "vm3", "vm9" };
		size_t c[4];

		aff_count_backends(t, vms, 4, c, UINT64_MAX - 1);
		assert_int_equal(c[0], 0);
		assert_int_equal(c[1], 0);
		assert_int_equal(c[2], 1);
		assert_int_equal(c[3], 0);
	}
	assert_int_equal(swept, N - 1);
	assert_int_equal(calls, (N - 1 + 511) / 512);
	assert_int_equal(aff_count(t), 1);
	aff_session_end(t, "ip:4999", "vm3", 3000);
	aff_forget_backend(t, "vm3");
	assert_int_equal(aff_count(t), 0);
	assert_int_equal(aff_count_backend(t, "vm3", 0), 0);
	/* a name too long for a VM is no VM's */
	assert_int_equal(aff_count_backend(t,
	    "vm-with-a-name-that-is-longer-than-sixty-three-characters-in-all", 0), 0);
	aff_free(t);
}

static void
tally_cb(const struct aff_entry *e, void *arg)
{
	(void)e;
	(*(size_t *)arg)++;
}

static size_t
with_prefix(struct aff_table *t, const char *prefix, uint64_t now)
{
	size_t n = 0;

	aff_foreach_user_prefix(t, prefix, now, tally_cb, &n);
	return n;
}

/* The prefix index follows every way a user key comes and goes. */
static void
test_user_prefix_index(void **state)
{
	struct aff_table *t = table(4, 100);

	(void)state;
	assert_int_equal(aff_session_start(t, "user:alexandra", "vm1", 0), 0);
	assert_int_equal(aff_restore(t, "user:alexandros", "vm2", 50, 0), 0);
	assert_int_equal(aff_put(t, "user:alex", "vm2", 50, 0), 0);
	assert_int_equal(aff_session_start(t, "ip:alexandrab", "vm1", 0), 0);
	assert_int_equal(with_prefix(t, "alexandra", 0), 1);
	assert_int_equal(with_prefix(t, "alexandro", 0), 1);
	assert_int_equal(with_prefix(t, "alexandro", 50), 0);   /* expired */
	assert_int_equal(with_prefix(t, "alex", 0), 0);         /* not 9 */
	assert_int_equal(with_prefix(t, "alexandrab", 0), 0);
	/* full: the expired one is reclaimed, and leaves the index */
	assert_int_equal(aff_session_start(t, "user:alexandrab", "vm3", 60),
	    0);
	assert_int_equal(with_prefix(t, "alexandra", 60), 2);
	assert_int_equal(with_prefix(t, "alexandro", 60), 0);   /* reclaimed */
	aff_session_end(t, "user:alexandra", "vm1", 60);
	assert_int_equal(aff_expire(t, 160), 2);   /* alexandra, alex */
	assert_int_equal(with_prefix(t, "alexandra", 160), 1);
	aff_forget_backend(t, "vm3");
	assert_int_equal(with_prefix(t, "alexandra", 160), 0);
	assert_int_equal(aff_count(t), 1);
	aff_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lookup_insert),
		cmocka_unit_test(test_expiry_exactly_at_ttl),
		cmocka_unit_test(test_expire_sweep_exact),
		cmocka_unit_test(test_active_never_expires),
		cmocka_unit_test(test_ttl_restarts_after_last_end),
		cmocka_unit_test(test_ttl_zero),
		cmocka_unit_test(test_set_ttl),
		cmocka_unit_test(test_move_key),
		cmocka_unit_test(test_end_ignored_and_no_underflow),
		cmocka_unit_test(test_capacity_cap),
		cmocka_unit_test(test_capacity_reclaims_expired),
		cmocka_unit_test(test_reclaim_after_ttl_shrinks),
		cmocka_unit_test(test_long_key),
		cmocka_unit_test(test_forget_backend),
		cmocka_unit_test(test_count_backend),
		cmocka_unit_test(test_foreach_live_only),
		cmocka_unit_test(test_many_keys),
		cmocka_unit_test(test_random_full_table),
		cmocka_unit_test(test_random_deep_order),
		cmocka_unit_test(test_restore),
		cmocka_unit_test(test_restore_expiry_order),
		cmocka_unit_test(test_expire_in_slices),
		cmocka_unit_test(test_user_prefix_index),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
