/*
 * test_select.c -- the VM registry (backend.c) and choosing a VM (select.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "backends/select.h"

#define SVC 0

static struct backend *
add(struct pool *p, const char *name, int weight, int max_sessions)
{
	struct cfg_backend cb;
	struct backend *b;

	memset(&cb, 0, sizeof(cb));
	snprintf(cb.name, sizeof(cb.name), "%s", name);
	cb.address.text = "10.0.0.4";
	cb.weight = weight;
	cb.max_sessions = max_sessions;
	b = pool_add(p, &cb);
	assert_non_null(b);
	return b;
}

/* A pool of n VMs "vm1".."vmN", weight 1, no cap, up for SVC. */
static void
make_pool(struct pool *p, int n)
{
	char name[16];
	int i;

	pool_init(p);
	for (i = 1; i <= n; i++) {
		snprintf(name, sizeof(name), "vm%d", i);
		add(p, name, 1, 0)->health[SVC].hc.up = true;
	}
}

/* One more session on b, as proxy/session.c counts it. */
static void
touch_more(struct pool *p, struct backend *b)
{
	assert_non_null(b);
	b->sessions++;
	pool_touch(p, b);
}

static const char *
pick_name(struct pool *p, struct aff_table *aff, const char *key,
    bool *by_aff)
{
	struct backend *b = sel_pick(p, SVC, aff, key, 0, NULL, 0, by_aff);

	return b != NULL ? b->name : NULL;
}

/* --- backend.c --- */

static void
test_pool_add_find(void **state)
{
	struct pool p;
	struct cfg_backend cb;
	struct backend *b;
	size_t i;

	(void)state;
	pool_init(&p);
	memset(&cb, 0, sizeof(cb));
	snprintf(cb.name, sizeof(cb.name), "vm1");
	cb.address.text = "10.0.0.4";
	cb.address.len = 16;
	cb.weight = 3;
	cb.max_sessions = 20;
	b = pool_add(&p, &cb);
	assert_non_null(b);
	assert_string_equal(b->name, "vm1");
	assert_string_equal(b->addr.text, "10.0.0.4");
	assert_ptr_not_equal(b->addr.text, cb.address.text);  /* a copy */
	assert_int_equal(b->addr.len, 16);
	assert_int_equal(b->weight, 3);
	assert_int_equal(b->max_sessions, 20);
	assert_int_equal(b->admin, BE_ADMIN_READY);
	assert_false(b->removed);
	assert_int_equal(b->sessions, 0);
	for (i = 0; i < CFG_MAX_SERVICES; i++) {
		assert_false(b->health[i].hc.up);
		assert_int_equal(b->health[i].hc.ok_run, 0);
		assert_null(b->check[i]);
	}
	/* Nothing from an agent yet. */
	assert_int_equal(b->agent_weight_pct, -1);
	assert_int_equal(b->agent_maxconn, -1);
	assert_int_equal(b->agent_admin, BE_ADMIN_READY);
	assert_false(b->agent_down);
	assert_null(b->agent_check);
	assert_int_equal(be_weight(b), 300);
	assert_int_equal(be_max_sessions(b), 20);
	/* Many more, to make the array grow. */
	for (i = 2; i <= 40; i++) {
		char name[16];

		snprintf(name, sizeof(name), "vm%zu", i);
		add(&p, name, 1, 0);
	}
	assert_int_equal(p.n, 40);
	assert_ptr_equal(pool_find(&p, "vm1"), b);
	assert_string_equal(pool_find(&p, "vm40")->name, "vm40");
	assert_null(pool_find(&p, "vm41"));
	pool_clear(&p);
	assert_int_equal(p.n, 0);
	assert_null(pool_find(&p, "vm1"));
}

static void
test_pool_remove_keeps_order_and_turn(void **state)
{
	struct pool p;

	(void)state;
	make_pool(&p, 4);
	assert_string_equal(pick_name(&p, NULL, NULL, NULL), "vm1");
	assert_string_equal(pick_name(&p, NULL, NULL, NULL), "vm2");
	/* vm3 is next in turn, then vm4, vm1, vm2. */
	pool_remove_at(&p, 0);
	assert_int_equal(p.n, 3);
	assert_string_equal(p.be[0]->name, "vm2");
	assert_string_equal(p.be[1]->name, "vm3");
	assert_string_equal(p.be[2]->name, "vm4");
	assert_null(pool_find(&p, "vm1"));

	pool_remove_at(&p, 2);                  /* vm4: the turn stays on vm3 */
	assert_string_equal(pick_name(&p, NULL, NULL, NULL), "vm3");
	assert_string_equal(pick_name(&p, NULL, NULL, NULL), "vm2");

	pool_remove_at(&p, 0);                  /* vm2, the next one itself */
	assert_int_equal(p.n, 1);
	assert_string_equal(pick_name(&p, NULL, NULL, NULL), "vm3");
	/* A VM added now has its first turn before the ones chosen already. */
	add(&p, "vm5", 1, 0)->health[SVC].hc.up = true;
	pool_touch(&p, p.be[1]);
	assert_string_equal(pick_name(&p, NULL, NULL, NULL), "vm5");
	assert_string_equal(pick_name(&p, NULL, NULL, NULL), "vm3");
	assert_string_equal(pick_name(&p, NULL, NULL, NULL), "vm5");
	pool_remove_at(&p, 1);
	pool_remove_at(&p, 0);
	assert_int_equal(p.n, 0);
	assert_null(pick_name(&p, NULL, NULL, NULL));
	pool_clear(&p);
}

static void
test_be_state(void **state)
{
	struct pool p;
	struct backend *b;

	(void)state;
	pool_init(&p);
	b = add(&p, "vm1", 1, 0);
	assert_int_equal(be_state(b, 0), BE_UP);
	assert_int_equal(be_state(b, 2), BE_DOWN);
	b->health[0].hc.up = true;
	assert_int_equal(be_state(b, 2), BE_DOWN);  /* service 1 still down */
	b->health[1].hc.up = true;
	assert_int_equal(be_state(b, 2), BE_UP);
	b->removed = true;
	assert_int_equal(be_state(b, 2), BE_DRAIN);
	b->removed = false;
	b->admin = BE_ADMIN_DRAIN;
	b->health[1].hc.up = false;
	assert_int_equal(be_state(b, 2), BE_DRAIN);
	b->admin = BE_ADMIN_MAINT;
	b->removed = true;
	assert_int_equal(be_state(b, 2), BE_MAINT);

	assert_string_equal(be_state_name(BE_UP), "up");
	assert_string_equal(be_state_name(BE_DOWN), "down");
	assert_string_equal(be_state_name(BE_DRAIN), "drain");
	assert_string_equal(be_state_name(BE_MAINT), "maint");
	pool_clear(&p);
}

static void
test_takes_new_and_affine(void **state)
{
	struct pool p;
	struct backend *b;

	(void)state;
	pool_init(&p);
	b = add(&p, "vm1", 1, 2);
	assert_false(be_takes_new(b, SVC));         /* starts down */
	assert_false(be_takes_affine(b, SVC));
	b->health[SVC].hc.up = true;
	assert_true(be_takes_new(b, SVC));
	assert_false(be_takes_new(b, SVC + 1));     /* other service down */
	/*
	 * One meaning of "takes new sessions": a VM serving two services takes
	 * new sessions of neither while one of them is down, but existing
	 * affinities go on per service.
	 */
	pool_set_services(&p, 2);
	assert_int_equal(b->nservices, 2);
	assert_false(be_takes_new(b, SVC));         /* service 1 down */
	assert_true(be_takes_affine(b, SVC));
	assert_int_equal(be_state(b, 2), BE_DOWN);
	b->health[SVC + 1].hc.up = true;
	assert_true(be_takes_new(b, SVC));
	assert_true(be_takes_new(b, SVC + 1));
	assert_int_equal(be_state(b, 2), BE_UP);
	b->health[SVC + 1].hc.up = false;
	pool_set_services(&p, 1);
	assert_true(be_takes_new(b, SVC));          /* service 1 no longer served */
	b->sessions = 2;
	assert_false(be_takes_new(b, SVC));         /* full */
	assert_true(be_takes_affine(b, SVC));       /* cap ignored */
	b->sessions = 0;
	b->admin = BE_ADMIN_DRAIN;
	assert_false(be_takes_new(b, SVC));
	assert_true(be_takes_affine(b, SVC));
	b->admin = BE_ADMIN_READY;
	b->removed = true;
	assert_false(be_takes_new(b, SVC));
	assert_true(be_takes_affine(b, SVC));
	b->admin = BE_ADMIN_MAINT;
	assert_false(be_takes_affine(b, SVC));
	pool_clear(&p);
}

/* --- select.c --- */

static void
test_empty_pool(void **state)
{
	struct pool p;
	struct aff_table *aff = aff_new(10, 1000);
	bool by_aff = true;

	(void)state;
	pool_init(&p);
	assert_null(sel_pick(&p, SVC, aff, "k", 0, NULL, 0, &by_aff));
	assert_false(by_aff);
	assert_null(sel_pick(&p, SVC, NULL, NULL, 0, NULL, 0, NULL));
	aff_free(aff);
}

static void
test_least_loaded(void **state)
{
	struct pool p;
	bool by_aff = true;

	(void)state;
	make_pool(&p, 3);
	p.be[0]->sessions = 3;
	p.be[1]->sessions = 1;
	p.be[2]->sessions = 2;
	pool_touch(&p, p.be[0]);
	pool_touch(&p, p.be[1]);
	pool_touch(&p, p.be[2]);
	assert_string_equal(pick_name(&p, NULL, NULL, &by_aff), "vm2");
	assert_false(by_aff);
	/* vm2 just had its turn: the lightest still wins. */
	assert_string_equal(pick_name(&p, NULL, NULL, NULL), "vm2");
	p.be[2]->sessions = 0;
	pool_touch(&p, p.be[2]);
	assert_string_equal(pick_name(&p, NULL, NULL, NULL), "vm3");
	pool_clear(&p);
}

static void
test_weights(void **state)
{
	struct pool p;
	struct backend *b;
	int i;

	(void)state;
	make_pool(&p, 2);
	p.be[0]->weight = 2;
	pool_touch(&p, p.be[0]);
	for (i = 0; i < 30; i++) {
		b = sel_pick(&p, SVC, NULL, NULL, 0, NULL, 0, NULL);
		assert_non_null(b);
		b->sessions++;
		pool_touch(&p, b);
	}
	assert_int_equal(p.be[0]->sessions, 20);
	assert_int_equal(p.be[1]->sessions, 10);
	pool_clear(&p);
}

static void
test_max_sessions(void **state)
{
	struct pool p;
	struct backend *b;
	int i;

	(void)state;
	make_pool(&p, 2);
	p.be[0]->max_sessions = 2;
	p.be[1]->max_sessions = 3;
	pool_touch(&p, p.be[0]);
	pool_touch(&p, p.be[1]);
	for (i = 0; i < 5; i++) {
		b = sel_pick(&p, SVC, NULL, NULL, 0, NULL, 0, NULL);
		assert_non_null(b);
		b->sessions++;
		pool_touch(&p, b);
	}
	assert_int_equal(p.be[0]->sessions, 2);
	assert_int_equal(p.be[1]->sessions, 3);
	/* All full. */
	assert_null(sel_pick(&p, SVC, NULL, NULL, 0, NULL, 0, NULL));
	/* The lightest is full: a much heavier one without a cap takes it. */
	p.be[0]->max_sessions = 1;
	p.be[0]->sessions = 1;
	p.be[1]->max_sessions = 0;
	p.be[1]->sessions = 50;
	pool_touch(&p, p.be[0]);
	pool_touch(&p, p.be[1]);
	assert_string_equal(pick_name(&p, NULL, NULL, NULL), "vm2");
	pool_clear(&p);
}

static void
test_ties_in_turn(void **state)
{
	struct pool p;
	struct aff_table *aff = aff_new(10, 1000);
	bool by_aff;

	(void)state;
	make_pool(&p, 3);
	assert_string_equal(pick_name(&p, NULL, NULL, NULL), "vm1");
	assert_string_equal(pick_name(&p, NULL, NULL, NULL), "vm2");
	/* An affinity pick in between takes no turn. */
	assert_int_equal(aff_session_start(aff, "k", "vm1", 0), 0);
	assert_string_equal(pick_name(&p, aff, "k", &by_aff), "vm1");
	assert_true(by_aff);
	assert_string_equal(pick_name(&p, NULL, NULL, NULL), "vm3");
	assert_string_equal(pick_name(&p, NULL, NULL, NULL), "vm1");
	assert_string_equal(pick_name(&p, NULL, NULL, NULL), "vm2");

	/* A tie among the two lightest skips the heavier one in turn. */
	p.be[2]->sessions = 5;
	pool_touch(&p, p.be[2]);
	assert_string_equal(pick_name(&p, NULL, NULL, NULL), "vm1");
	assert_string_equal(pick_name(&p, NULL, NULL, NULL), "vm2");
	assert_string_equal(pick_name(&p, NULL, NULL, NULL), "vm1");
	aff_free(aff);
	pool_clear(&p);
}

static void
test_skip_not_ready(void **state)
{
	struct pool p;

	(void)state;
	make_pool(&p, 5);
	p.be[0]->health[SVC].hc.up = false;         /* down */
	p.be[1]->admin = BE_ADMIN_DRAIN;
	p.be[2]->admin = BE_ADMIN_MAINT;
	p.be[3]->removed = true;
	p.be[4]->sessions = 100;                    /* the only one left */
	pool_touch(&p, p.be[0]);
	pool_touch(&p, p.be[1]);
	pool_touch(&p, p.be[2]);
	pool_touch(&p, p.be[3]);
	pool_touch(&p, p.be[4]);
	assert_string_equal(pick_name(&p, NULL, NULL, NULL), "vm5");
	assert_string_equal(pick_name(&p, NULL, NULL, NULL), "vm5");
	p.be[4]->health[SVC].hc.up = false;
	pool_touch(&p, p.be[4]);
	assert_null(pick_name(&p, NULL, NULL, NULL));
	pool_clear(&p);
}

static void
test_service_health(void **state)
{
	struct pool p;

	(void)state;
	make_pool(&p, 2);
	p.be[0]->health[1].hc.up = true;            /* vm1 up for service 1 */
	p.be[0]->sessions = 10;
	pool_touch(&p, p.be[0]);
	assert_string_equal(sel_pick(&p, 1, NULL, NULL, 0, NULL, 0, NULL)->name,
	    "vm1");
	pool_clear(&p);
}

static void
test_affinity_drain_honoured(void **state)
{
	struct pool p;
	struct aff_table *aff = aff_new(10, 1000);
	bool by_aff = false;
	uint64_t turn;

	(void)state;
	make_pool(&p, 2);
	p.be[0]->admin = BE_ADMIN_DRAIN;
	p.be[0]->sessions = 9;
	p.be[0]->max_sessions = 9;                  /* full, too */
	pool_touch(&p, p.be[0]);
	turn = p.turn;
	assert_int_equal(aff_session_start(aff, "ip:192.0.2.7", "vm1", 0), 0);
	assert_string_equal(pick_name(&p, aff, "ip:192.0.2.7", &by_aff), "vm1");
	assert_true(by_aff);
	assert_true(p.turn == turn);                /* not a turn */
	/* Removed from the configuration drains the same way. */
	p.be[0]->admin = BE_ADMIN_READY;
	p.be[0]->removed = true;
	pool_touch(&p, p.be[0]);
	assert_string_equal(pick_name(&p, aff, "ip:192.0.2.7", &by_aff), "vm1");
	assert_true(by_aff);
	/* Another key goes by load, away from the draining VM. */
	assert_string_equal(pick_name(&p, aff, "ip:192.0.2.8", &by_aff), "vm2");
	assert_false(by_aff);
	aff_free(aff);
	pool_clear(&p);
}

static void
test_affinity_down_or_maint_broken(void **state)
{
	struct pool p;
	struct aff_table *aff = aff_new(10, 1000);
	bool by_aff = true;

	(void)state;
	make_pool(&p, 3);
	p.be[1]->sessions = 4;
	p.be[2]->sessions = 1;
	pool_touch(&p, p.be[1]);
	pool_touch(&p, p.be[2]);
	assert_int_equal(aff_session_start(aff, "k", "vm1", 0), 0);

	p.be[0]->health[SVC].hc.up = false;
	pool_touch(&p, p.be[0]);
	assert_string_equal(pick_name(&p, aff, "k", &by_aff), "vm3");
	assert_false(by_aff);

	p.be[0]->health[SVC].hc.up = true;
	p.be[0]->sessions = 9;
	p.be[0]->admin = BE_ADMIN_MAINT;
	pool_touch(&p, p.be[0]);
	by_aff = true;
	assert_string_equal(pick_name(&p, aff, "k", &by_aff), "vm3");
	assert_false(by_aff);

	p.be[0]->admin = BE_ADMIN_READY;
	pool_touch(&p, p.be[0]);
	assert_string_equal(pick_name(&p, aff, "k", &by_aff), "vm1");
	assert_true(by_aff);
	aff_free(aff);
	pool_clear(&p);
}

static void
test_affinity_unknown_or_expired(void **state)
{
	struct pool p;
	struct aff_table *aff = aff_new(10, 100);
	bool by_aff = true;

	(void)state;
	make_pool(&p, 2);
	p.be[0]->sessions = 5;
	pool_touch(&p, p.be[0]);
	assert_int_equal(aff_session_start(aff, "gone", "vm9", 0), 0);
	assert_string_equal(pick_name(&p, aff, "gone", &by_aff), "vm2");
	assert_false(by_aff);

	assert_int_equal(aff_session_start(aff, "old", "vm1", 0), 0);
	aff_session_end(aff, "old", "vm1", 0);
	assert_string_equal(sel_pick(&p, SVC, aff, "old", 99, NULL, 0,
	    &by_aff)->name, "vm1");
	assert_true(by_aff);
	assert_string_equal(sel_pick(&p, SVC, aff, "old", 100, NULL, 0,
	    &by_aff)->name, "vm2");
	assert_false(by_aff);
	aff_free(aff);
	pool_clear(&p);
}

static void
test_tried_excluded(void **state)
{
	struct pool p;
	struct aff_table *aff = aff_new(10, 1000);
	struct backend *tried[2];
	struct backend *b;
	bool by_aff = true;

	(void)state;
	make_pool(&p, 3);
	p.be[1]->sessions = 1;
	p.be[2]->sessions = 2;
	pool_touch(&p, p.be[1]);
	pool_touch(&p, p.be[2]);
	assert_int_equal(aff_session_start(aff, "k", "vm1", 0), 0);

	/* The affine VM failed: by load, but not it either. */
	tried[0] = p.be[0];
	b = sel_pick(&p, SVC, aff, "k", 0, tried, 1, &by_aff);
	assert_ptr_equal(b, p.be[1]);
	assert_false(by_aff);

	tried[1] = p.be[1];
	b = sel_pick(&p, SVC, aff, "k", 0, tried, 2, &by_aff);
	assert_ptr_equal(b, p.be[2]);

	b = sel_pick(&p, SVC, NULL, NULL, 0, tried, 2, NULL);
	assert_ptr_equal(b, p.be[2]);
	p.be[2]->admin = BE_ADMIN_DRAIN;
	pool_touch(&p, p.be[2]);
	assert_null(sel_pick(&p, SVC, aff, "k", 0, tried, 2, &by_aff));
	assert_false(by_aff);
	aff_free(aff);
	pool_clear(&p);
}

/* --- what the VM's agent reported (backends/agent.c fills these) --- */

static void
test_agent_weight_share(void **state)
{
	struct pool p;
	struct backend *b;
	int i;

	(void)state;
	make_pool(&p, 2);
	/* Equal configured weights; vm2's agent reports 50% (busy). */
	p.be[1]->agent_weight_pct = 50;
	pool_touch(&p, p.be[1]);
	for (i = 0; i < 30; i++) {
		b = sel_pick(&p, SVC, NULL, NULL, 0, NULL, 0, NULL);
		assert_non_null(b);
		b->sessions++;
		pool_touch(&p, b);
	}
	assert_int_equal(p.be[0]->sessions, 20);
	assert_int_equal(p.be[1]->sessions, 10);
	/* Relative to the configured weight: 3 at 50% = 1.5 against 1. */
	p.be[0]->sessions = p.be[1]->sessions = 0;
	p.be[0]->weight = 1;
	p.be[1]->weight = 3;
	pool_touch(&p, p.be[0]);
	pool_touch(&p, p.be[1]);
	for (i = 0; i < 25; i++)
		touch_more(&p, sel_pick(&p, SVC, NULL, NULL, 0, NULL, 0, NULL));
	assert_int_equal(p.be[0]->sessions, 10);
	assert_int_equal(p.be[1]->sessions, 15);
	/* Above 100% is more than configured. */
	p.be[0]->sessions = p.be[1]->sessions = 0;
	p.be[1]->weight = 1;
	p.be[1]->agent_weight_pct = 200;
	pool_touch(&p, p.be[0]);
	pool_touch(&p, p.be[1]);
	for (i = 0; i < 30; i++)
		touch_more(&p, sel_pick(&p, SVC, NULL, NULL, 0, NULL, 0, NULL));
	assert_int_equal(p.be[1]->sessions, 20);
	/* 0% takes nothing new; an affinity still holds (HAProxy's drain). */
	p.be[1]->agent_weight_pct = 0;
	p.be[0]->sessions = 100;
	pool_touch(&p, p.be[0]);
	pool_touch(&p, p.be[1]);
	assert_string_equal(pick_name(&p, NULL, NULL, NULL), "vm1");
	assert_int_equal(be_state(p.be[1], 1), BE_DRAIN);
	assert_true(be_takes_affine(p.be[1], SVC));
	pool_clear(&p);
}

static void
test_agent_maxconn_caps(void **state)
{
	struct pool p;
	struct backend *b;
	int i;

	(void)state;
	make_pool(&p, 2);
	p.be[0]->agent_maxconn = 2;                 /* no configured cap */
	p.be[1]->max_sessions = 5;
	p.be[1]->agent_maxconn = 8;                 /* the lower one holds */
	pool_touch(&p, p.be[0]);
	pool_touch(&p, p.be[1]);
	assert_int_equal(be_max_sessions(p.be[0]), 2);
	assert_int_equal(be_max_sessions(p.be[1]), 5);
	for (i = 0; i < 7; i++) {
		b = sel_pick(&p, SVC, NULL, NULL, 0, NULL, 0, NULL);
		assert_non_null(b);
		b->sessions++;
		pool_touch(&p, b);
	}
	assert_int_equal(p.be[0]->sessions, 2);
	assert_int_equal(p.be[1]->sessions, 5);
	assert_null(sel_pick(&p, SVC, NULL, NULL, 0, NULL, 0, NULL));
	/* maxconn:0 is no cap from the agent, as in HAProxy. */
	p.be[0]->agent_maxconn = 0;
	pool_touch(&p, p.be[0]);
	assert_int_equal(be_max_sessions(p.be[0]), 0);
	assert_string_equal(pick_name(&p, NULL, NULL, NULL), "vm1");
	/* None reported: the configured cap alone. */
	p.be[1]->agent_maxconn = -1;
	pool_touch(&p, p.be[1]);
	assert_int_equal(be_max_sessions(p.be[1]), 5);
	pool_clear(&p);
}

static void
test_agent_drain_beats_operator_ready(void **state)
{
	struct pool p;
	struct aff_table *aff = aff_new(10, 1000);
	bool by_aff = false;

	(void)state;
	make_pool(&p, 2);
	p.be[0]->agent_admin = BE_ADMIN_DRAIN;
	p.be[0]->admin = BE_ADMIN_READY;            /* the operator's ready */
	pool_touch(&p, p.be[0]);
	assert_int_equal(be_admin_effective(p.be[0]), BE_ADMIN_DRAIN);
	assert_int_equal(be_state(p.be[0], 1), BE_DRAIN);
	p.be[1]->sessions = 50;
	pool_touch(&p, p.be[1]);
	assert_string_equal(pick_name(&p, NULL, NULL, NULL), "vm2");
	/* Returning users still reach it. */
	assert_int_equal(aff_session_start(aff, "ip:192.0.2.7", "vm1", 0), 0);
	assert_string_equal(pick_name(&p, aff, "ip:192.0.2.7", &by_aff), "vm1");
	assert_true(by_aff);
	/* The agent's maint breaks affinity too. */
	p.be[0]->agent_admin = BE_ADMIN_MAINT;
	pool_touch(&p, p.be[0]);
	assert_int_equal(be_state(p.be[0], 1), BE_MAINT);
	assert_string_equal(pick_name(&p, aff, "ip:192.0.2.7", &by_aff), "vm2");
	assert_false(by_aff);
	aff_free(aff);
	pool_clear(&p);
}

static void
test_operator_drain_beats_agent_ready(void **state)
{
	struct pool p;

	(void)state;
	make_pool(&p, 2);
	p.be[0]->admin = BE_ADMIN_DRAIN;
	p.be[0]->agent_admin = BE_ADMIN_READY;      /* the agent's ready */
	pool_touch(&p, p.be[0]);
	assert_int_equal(be_admin_effective(p.be[0]), BE_ADMIN_DRAIN);
	assert_int_equal(be_state(p.be[0], 1), BE_DRAIN);
	p.be[1]->sessions = 50;
	pool_touch(&p, p.be[1]);
	assert_string_equal(pick_name(&p, NULL, NULL, NULL), "vm2");
	/* Operator maint over an agent drain: the stronger wins. */
	p.be[0]->admin = BE_ADMIN_MAINT;
	p.be[0]->agent_admin = BE_ADMIN_DRAIN;
	pool_touch(&p, p.be[0]);
	assert_int_equal(be_admin_effective(p.be[0]), BE_ADMIN_MAINT);
	assert_false(be_takes_affine(p.be[0], SVC));
	/* Both ready: back in. */
	p.be[0]->admin = BE_ADMIN_READY;
	p.be[0]->agent_admin = BE_ADMIN_READY;
	pool_touch(&p, p.be[0]);
	assert_string_equal(pick_name(&p, NULL, NULL, NULL), "vm1");
	pool_clear(&p);
}

static void
test_agent_down(void **state)
{
	struct pool p;
	struct aff_table *aff = aff_new(10, 1000);
	bool by_aff = true;

	(void)state;
	make_pool(&p, 2);
	p.be[1]->sessions = 50;
	pool_touch(&p, p.be[1]);
	assert_int_equal(aff_session_start(aff, "k", "vm1", 0), 0);
	p.be[0]->agent_down = true;                 /* health checks still pass */
	pool_touch(&p, p.be[0]);
	assert_int_equal(be_state(p.be[0], 1), BE_DOWN);
	assert_false(be_takes_new(p.be[0], SVC));
	assert_false(be_takes_affine(p.be[0], SVC));
	assert_string_equal(pick_name(&p, aff, "k", &by_aff), "vm2");
	assert_false(by_aff);
	/* A drain or maint shows over down, as for failed health checks. */
	p.be[0]->agent_admin = BE_ADMIN_DRAIN;
	pool_touch(&p, p.be[0]);
	assert_int_equal(be_state(p.be[0], 1), BE_DRAIN);
	p.be[0]->agent_admin = BE_ADMIN_READY;
	p.be[0]->agent_down = false;
	pool_touch(&p, p.be[0]);
	assert_int_equal(be_state(p.be[0], 1), BE_UP);
	assert_string_equal(pick_name(&p, aff, "k", &by_aff), "vm1");
	assert_true(by_aff);
	aff_free(aff);
	pool_clear(&p);
}

/* --- the load heap against a plain scan --- */

static uint64_t rng_state = 0x9E3779B97F4A7C15u;

static unsigned
rnd(unsigned n)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (unsigned)((rng_state * 0x2545F4914F6CDD1Du) >> 33) % n;
}

/* Rule 2 by the book: every VM looked at, the order of select.h. */
static struct backend *
brute_pick(const struct pool *p, size_t svc, struct backend *const *tried,
    size_t ntried)
{
	struct backend *b, *best = NULL;
	size_t i, k;

	for (i = 0; i < p->n; i++) {
		b = p->be[i];
		for (k = 0; k < ntried && tried[k] != b; k++)
			;
		if (k < ntried || !be_takes_new(b, svc))
			continue;
		if (best == NULL) {
			best = b;
			continue;
		}
		int64_t l = (int64_t)b->sessions * be_weight(best);
		int64_t r = (int64_t)best->sessions * be_weight(b);
		if (l < r || (l == r && b->turn < best->turn))
			best = b;
	}
	return best;
}

/*
 * One random change to b. With `worse_only`, only changes that make it
 * heavier or unable to take new sessions (the ones a missed pool_touch
 * must not turn into a wrong answer).
 */
static void
mutate(struct backend *b, bool worse_only)
{
	switch (rnd(worse_only ? 6 : 11)) {
	case 0:
		b->sessions += 1 + (int)rnd(3);
		break;
	case 1:
		b->max_sessions = b->sessions > 0 && rnd(2) ? b->sessions : 0;
		if (worse_only && b->max_sessions == 0)
			b->max_sessions = b->sessions;
		break;
	case 2:
		b->admin = rnd(2) ? BE_ADMIN_DRAIN : BE_ADMIN_MAINT;
		break;
	case 3:
		b->agent_down = true;
		break;
	case 4:
		b->health[rnd(2)].hc.up = false;
		break;
	case 5:
		b->agent_weight_pct = rnd(3) == 0 ? 0 : b->agent_weight_pct;
		b->removed = b->agent_weight_pct != 0;
		break;
	case 6:
		b->sessions = b->sessions > 0 ? b->sessions - 1 - (int)rnd(
		    (unsigned)b->sessions) : 0;
		break;
	case 7:
		b->weight = 1 + (int)rnd(5);
		break;
	case 8:
		b->agent_weight_pct = rnd(4) == 0 ? -1 : (int)rnd(300);
		b->agent_maxconn = rnd(3) == 0 ? -1 : (int)rnd(8);
		break;
	case 9:
		b->health[rnd(2)].hc.up = true;
		b->agent_down = false;
		break;
	default:
		b->admin = BE_ADMIN_READY;
		b->agent_admin = rnd(4) ? BE_ADMIN_READY : BE_ADMIN_DRAIN;
		b->removed = false;
		break;
	}
}

/*
 * A pick checked against brute_pick. Half the time the VMs tried are the
 * ones rule 2 would choose first, so that the walk past them is exercised
 * (now and then more of them than the walk holds); else any VMs, twice the
 * same one or one that takes no new sessions included.
 */
static void
pick_and_compare(struct pool *p, size_t svc)
{
	struct backend *tried[24], *want, *got;
	size_t ntried = rnd(50) == 0 ? 16 + rnd(8) : rnd(4), k;
	bool best_first = rnd(2) == 0;

	for (k = 0; k < ntried; k++)
		tried[k] = best_first ? brute_pick(p, svc, tried, k) :
		    p->be[rnd((unsigned)p->n)];
	want = brute_pick(p, svc, tried, ntried);
	got = sel_pick(p, svc, NULL, NULL, 0, tried, ntried, NULL);
	assert_ptr_equal(got, want);
	if (got != NULL && rnd(2))
		touch_more(p, got);
}

static void
test_heap_matches_scan(void **state)
{
	struct pool p;
	char name[16];
	int step, added = 0;

	(void)state;
	pool_init(&p);
	for (step = 0; step < 40000; step++) {
		unsigned what = rnd(20);
		size_t svc = rnd(3) ? 0 : 1;

		if (what == 0 || p.n < 2) {
			snprintf(name, sizeof(name), "vm%d", ++added);
			add(&p, name, 1 + (int)rnd(3), 0);
			if (rnd(4))
				p.be[p.n - 1]->health[0].hc.up = true;
			pool_touch(&p, p.be[p.n - 1]);
		} else if (what == 1 && p.n > 30) {
			pool_remove_at(&p, rnd((unsigned)p.n));
		} else if (what < 10) {
			struct backend *b = p.be[rnd((unsigned)p.n)];

			mutate(b, false);
			pool_touch(&p, b);
		} else
			pick_and_compare(&p, svc);
	}
	assert_true(p.n > 0);
	pool_clear(&p);
}

/*
 * A pool_touch forgotten after a change that makes a VM heavier or unable
 * to take new sessions: the pick checks what it is about to return, so the
 * answer is still exactly the scan's, and never a VM that takes none.
 */
static void
test_heap_missed_touch(void **state)
{
	struct pool p;
	char name[16];
	int round, step, i;

	(void)state;
	for (round = 0; round < 200; round++) {
		pool_init(&p);
		for (i = 1; i <= 25; i++) {
			snprintf(name, sizeof(name), "vm%d", i);
			add(&p, name, 1 + (int)rnd(3), 0)->health[0].hc.up = true;
			p.be[i - 1]->sessions = (int)rnd(5);
		}
		for (step = 0; step < 60; step++) {
			if (rnd(2))
				mutate(p.be[rnd((unsigned)p.n)], true);  /* no touch */
			else
				pick_and_compare(&p, 0);
		}
		pool_clear(&p);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pool_add_find),
		cmocka_unit_test(test_pool_remove_keeps_order_and_turn),
		cmocka_unit_test(test_be_state),
		cmocka_unit_test(test_takes_new_and_affine),
		cmocka_unit_test(test_empty_pool),
		cmocka_unit_test(test_least_loaded),
		cmocka_unit_test(test_weights),
		cmocka_unit_test(test_max_sessions),
		cmocka_unit_test(test_ties_in_turn),
		cmocka_unit_test(test_skip_not_ready),
		cmocka_unit_test(test_service_health),
		cmocka_unit_test(test_affinity_drain_honoured),
		cmocka_unit_test(test_affinity_down_or_maint_broken),
		cmocka_unit_test(test_affinity_unknown_or_expired),
		cmocka_unit_test(test_tried_excluded),
		cmocka_unit_test(test_agent_weight_share),
		cmocka_unit_test(test_agent_maxconn_caps),
		cmocka_unit_test(test_agent_drain_beats_operator_ready),
		cmocka_unit_test(test_operator_drain_beats_agent_ready),
		cmocka_unit_test(test_agent_down),
		cmocka_unit_test(test_heap_matches_scan),
		cmocka_unit_test(test_heap_missed_touch),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
