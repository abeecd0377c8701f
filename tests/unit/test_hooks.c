/*
 * test_hooks.c -- the event detector: busy and idle edges, the idle grace,
 * capacity_low edges, sparing idle VMs the headroom needs, no_capacity rate
 * limit, health edges, edges adopted from another node, making up for
 * edges nobody ran when a node takes over (hk_resync), VMs leaving the
 * snapshot, caps, the hook environment.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "backends/hooks.h"

#define GRACE 600000u   /* 10m */

struct fx {
	struct hk_state *st;
	struct hk_vm     vm[8];
	size_t           n;
};

static struct hk_state *
new_state(uint64_t grace, int headroom)
{
	struct hk_params p = { .idle_grace_ms = grace, .headroom = headroom,
	    .no_capacity_interval_ms = HK_NO_CAPACITY_INTERVAL_MS };
	struct hk_state *st = hk_new(&p);

	assert_non_null(st);
	return st;
}

static void
add_vm(struct fx *f, const char *name, const char *addr, int sessions,
    int max, bool up)
{
	f->vm[f->n].name = name;
	f->vm[f->n].address = addr;
	f->vm[f->n].sessions = sessions;
	f->vm[f->n].max_sessions = max;
	f->vm[f->n].up = up;
	f->n++;
}

/*
 * Apply the snapshot at `now` and describe every event it queued as
 * "event:backend" joined by spaces, "" when none.
 */
static const char *
step(struct fx *f, uint64_t now)
{
	static char out[1024];
	struct hk_emit e;
	size_t n, got = 0;

	out[0] = '\0';
	n = hk_update(f->st, f->vm, f->n, now);
	while (hk_next(f->st, &e)) {
		size_t len = strlen(out);

		snprintf(out + len, sizeof(out) - len, "%s%s:%s",
		    len ? " " : "", hk_event_name(e.event), e.backend);
		got++;
	}
	assert_int_equal(n, got);
	return out;
}

static void
teardown_fx(struct fx *f)
{
	hk_free(f->st);
}

static void
test_names(void **state)
{
	(void)state;
	assert_string_equal(hk_event_name(HK_VM_BUSY), "vm_busy");
	assert_string_equal(hk_event_name(HK_VM_IDLE), "vm_idle");
	assert_string_equal(hk_event_name(HK_CAPACITY_LOW), "capacity_low");
	assert_string_equal(hk_event_name(HK_NO_CAPACITY), "no_capacity");
	assert_string_equal(hk_event_name(HK_VM_UP), "vm_up");
	assert_string_equal(hk_event_name(HK_VM_DOWN), "vm_down");
	assert_string_equal(hk_event_name((enum hk_event)HK_NEVENTS), "unknown");
	hk_free(NULL);
}

static void
test_busy_edge(void **state)
{
	struct fx f = { .st = new_state(GRACE, 0) };

	(void)state;
	add_vm(&f, "vm1", "10.0.0.4", 0, 0, true);
	assert_string_equal(step(&f, 1000), "vm_up:vm1");
	assert_string_equal(step(&f, 2000), "");
	f.vm[0].sessions = 1;
	assert_string_equal(step(&f, 3000), "vm_busy:vm1");
	/* More sessions, or fewer but not zero: no new edge. */
	f.vm[0].sessions = 5;
	assert_string_equal(step(&f, 4000), "");
	f.vm[0].sessions = 1;
	assert_string_equal(step(&f, 5000), "");
	/* Back to zero then a session again: a new busy edge. */
	f.vm[0].sessions = 0;
	assert_string_equal(step(&f, 6000), "");
	f.vm[0].sessions = 2;
	assert_string_equal(step(&f, 7000), "vm_busy:vm1");
	teardown_fx(&f);
}

static void
test_idle_grace(void **state)
{
	struct fx f = { .st = new_state(GRACE, 0) };

	(void)state;
	add_vm(&f, "vm1", "10.0.0.4", 3, 0, true);
	assert_string_equal(step(&f, 1000), "vm_up:vm1 vm_busy:vm1");
	f.vm[0].sessions = 0;
	assert_string_equal(step(&f, 10000), "");        /* idle since 10000 */
	assert_string_equal(step(&f, 10000 + GRACE - 1), "");
	assert_string_equal(step(&f, 10000 + GRACE), "vm_idle:vm1");
	/* Once per idle period. */
	assert_string_equal(step(&f, 10000 + GRACE + 1), "");
	assert_string_equal(step(&f, 10000 + 10 * GRACE), "");
	/* A session re-arms it; the grace counts from the new zero. */
	f.vm[0].sessions = 1;
	assert_string_equal(step(&f, 20 * GRACE), "vm_busy:vm1");
	f.vm[0].sessions = 0;
	assert_string_equal(step(&f, 21 * GRACE), "");
	assert_string_equal(step(&f, 22 * GRACE - 1), "");
	assert_string_equal(step(&f, 22 * GRACE), "vm_idle:vm1");
	teardown_fx(&f);
}

static void
test_idle_new_vm(void **state)
{
	struct fx f = { .st = new_state(GRACE, 0) };

	(void)state;
	/* Never used, and down: idle counts from the first sighting. */
	add_vm(&f, "vm1", NULL, 0, 0, false);
	assert_string_equal(step(&f, 5000), "");
	assert_string_equal(step(&f, 5000 + GRACE - 1), "");
	assert_string_equal(step(&f, 5000 + GRACE), "vm_idle:vm1");
	teardown_fx(&f);
}

static void
test_idle_clock_back(void **state)
{
	struct fx f = { .st = new_state(1000, 0) };

	(void)state;
	add_vm(&f, "vm1", NULL, 0, 0, true);
	assert_string_equal(step(&f, 5000), "vm_up:vm1");
	assert_string_equal(step(&f, 4000), "");
	assert_string_equal(step(&f, 6000), "vm_idle:vm1");
	teardown_fx(&f);
}

static void
test_up_down_edges(void **state)
{
	struct fx f = { .st = new_state(GRACE, 0) };

	(void)state;
	add_vm(&f, "vm1", NULL, 0, 0, false);
	add_vm(&f, "vm2", NULL, 0, 0, true);
	assert_string_equal(step(&f, 1000), "vm_up:vm2");
	f.vm[0].up = true;
	assert_string_equal(step(&f, 2000), "vm_up:vm1");
	assert_string_equal(step(&f, 3000), "");
	f.vm[0].up = false;
	f.vm[1].up = false;
	assert_string_equal(step(&f, 4000), "vm_down:vm1 vm_down:vm2");
	assert_string_equal(step(&f, 5000), "");
	f.vm[1].up = true;
	assert_string_equal(step(&f, 6000), "vm_up:vm2");
	teardown_fx(&f);
}

static void
test_capacity_low_edges(void **state)
{
	struct fx f = { .st = new_state(GRACE, 2) };
	struct hk_pool p;

	(void)state;
	add_vm(&f, "vm1", NULL, 1, 5, true);
	add_vm(&f, "vm2", NULL, 1, 5, true);
	assert_string_equal(step(&f, 1000),
	    "vm_up:vm1 vm_busy:vm1 vm_up:vm2 vm_busy:vm2");
	p = hk_pool_now(f.st);
	assert_int_equal(p.free_slots, 8);
	assert_int_equal(p.pool_sessions, 2);
	assert_int_equal(p.up_count, 2);

	f.vm[0].sessions = 5;
	f.vm[1].sessions = 3;                            /* free 2: not low */
	assert_string_equal(step(&f, 2000), "");
	f.vm[1].sessions = 4;                            /* free 1 */
	assert_string_equal(step(&f, 3000), "capacity_low:");
	assert_int_equal(hk_pool_now(f.st).free_slots, 1);
	/* Still low, lower, full: no repeat. */
	assert_string_equal(step(&f, 4000), "");
	f.vm[1].sessions = 5;
	assert_string_equal(step(&f, 5000), "");
	/* Over the cap counts as no room, not negative room. */
	f.vm[1].sessions = 7;
	assert_string_equal(step(&f, 5500), "");
	assert_int_equal(hk_pool_now(f.st).free_slots, 0);
	/* Recovery re-arms; a new crossing fires again. */
	f.vm[1].sessions = 3;
	assert_string_equal(step(&f, 6000), "");
	f.vm[1].sessions = 4;
	assert_string_equal(step(&f, 7000), "capacity_low:");
	/* A VM going down is a crossing too. */
	f.vm[1].sessions = 1;
	assert_string_equal(step(&f, 8000), "");
	f.vm[1].up = false;
	assert_string_equal(step(&f, 9000), "vm_down:vm2 capacity_low:");
	assert_int_equal(hk_pool_now(f.st).free_slots, 0);
	assert_int_equal(hk_pool_now(f.st).up_count, 1);
	teardown_fx(&f);
}

static void
test_capacity_uncapped(void **state)
{
	struct fx f = { .st = new_state(GRACE, 2) };

	(void)state;
	/* Without max_sessions a VM counts as `headroom` slots: never low while up. */
	add_vm(&f, "vm1", NULL, 50, 0, true);
	assert_string_equal(step(&f, 1000), "vm_up:vm1 vm_busy:vm1");
	assert_int_equal(hk_pool_now(f.st).free_slots, 2);
	f.vm[0].sessions = 500;
	assert_string_equal(step(&f, 2000), "");
	/* Low only once no VM is up. */
	f.vm[0].up = false;
	assert_string_equal(step(&f, 3000), "vm_down:vm1 capacity_low:");
	teardown_fx(&f);
}

static void
test_capacity_empty_pool(void **state)
{
	struct fx f = { .st = new_state(GRACE, 2) };

	(void)state;
	/* A pool with no session is never low, even with no VM at all. */
	assert_string_equal(step(&f, 1000), "");
	add_vm(&f, "vm1", NULL, 0, 5, false);
	assert_string_equal(step(&f, 2000), "");
	assert_int_equal(hk_pool_now(f.st).free_slots, 0);
	/* A session on a down VM is demand: now it is low. */
	f.vm[0].sessions = 1;
	assert_string_equal(step(&f, 3000), "vm_busy:vm1 capacity_low:");
	/* Headroom 0 never fires. */
	teardown_fx(&f);
	f.st = new_state(GRACE, 0);
	assert_string_equal(step(&f, 1000), "vm_busy:vm1");
	f.vm[0].sessions = 2;
	assert_string_equal(step(&f, 2000), "");
	teardown_fx(&f);
}

static void
test_idle_spared_for_headroom(void **state)
{
	struct fx f = { .st = new_state(1000, 2) };

	(void)state;
	add_vm(&f, "full", NULL, 5, 5, true);
	add_vm(&f, "spare", NULL, 0, 5, true);
	assert_string_equal(step(&f, 0), "vm_up:full vm_busy:full vm_up:spare");
	/* Without "spare" the pool would have 0 free slots: kept, no vm_idle. */
	assert_string_equal(step(&f, 1000), "");
	assert_string_equal(step(&f, 60000), "");
	/* Room elsewhere: now it may go, still once per idle period. */
	f.vm[0].sessions = 3;
	assert_string_equal(step(&f, 61000), "vm_idle:spare");
	assert_string_equal(step(&f, 62000), "");
	teardown_fx(&f);
}

static void
test_idle_spared_together(void **state)
{
	struct fx f = { .st = new_state(1000, 2) };

	(void)state;
	/* Three idle VMs go idle at once; the headroom needs one of them. */
	add_vm(&f, "full", NULL, 5, 5, true);
	add_vm(&f, "a", NULL, 0, 5, true);
	add_vm(&f, "b", NULL, 0, 5, true);
	add_vm(&f, "c", NULL, 0, 5, true);
	step(&f, 0);
	assert_string_equal(step(&f, 1000), "vm_idle:a vm_idle:b");
	/* Reported VMs still count as leaving: c stays held back. */
	assert_string_equal(step(&f, 2000), "");
	/* Once a and b are gone, c is still what the headroom needs. */
	f.vm[1] = f.vm[3];
	f.n = 2;
	assert_string_equal(step(&f, 3000), "");
	/* An empty pool needs no headroom: every idle VM may go. */
	f.vm[0].sessions = 0;
	assert_string_equal(step(&f, 4000), "vm_idle:c");
	assert_string_equal(step(&f, 5000), "vm_idle:full");
	teardown_fx(&f);
}

static void
test_idle_reported_then_busy(void **state)
{
	struct fx f = { .st = new_state(1000, 2) };

	(void)state;
	/* A reported idle VM that gets a session no longer counts as leaving. */
	add_vm(&f, "full", NULL, 4, 5, true);
	add_vm(&f, "a", NULL, 0, 5, true);
	add_vm(&f, "b", NULL, 0, 5, true);
	step(&f, 0);
	assert_string_equal(step(&f, 1000), "vm_idle:a");
	f.vm[1].sessions = 1;
	assert_string_equal(step(&f, 1500), "vm_busy:a vm_idle:b");
	teardown_fx(&f);
}

/*
 * The takeover that was broken: this node saw vm_idle run, then another
 * node (cut off from it) ran vm_busy and the session ended unseen here.
 * Adopting that busy edge re-arms vm_idle, which follows after the grace.
 */
static void
test_adopt_busy_rearms_idle(void **state)
{
	struct fx f = { .st = new_state(1000, 0) };

	(void)state;
	add_vm(&f, "vm1", NULL, 0, 0, true);
	add_vm(&f, "vm2", NULL, 0, 0, true);
	assert_string_equal(step(&f, 0), "vm_up:vm1 vm_up:vm2");
	assert_string_equal(step(&f, 1000), "vm_idle:vm1 vm_idle:vm2");
	assert_string_equal(step(&f, 5000), "");
	assert_true(hk_adopt(f.st, "vm2", true, 5000));
	assert_string_equal(step(&f, 5000), "");
	/* the idle period starts at the adoption, not when it last began */
	assert_string_equal(step(&f, 5999), "");
	assert_string_equal(step(&f, 6000), "vm_idle:vm2");
	assert_string_equal(step(&f, 9000), "");
	teardown_fx(&f);
}

/* Adopting busy while the VM has sessions here: idle after they end. */
static void
test_adopt_busy_while_busy(void **state)
{
	struct fx f = { .st = new_state(1000, 0) };

	(void)state;
	add_vm(&f, "vm1", NULL, 2, 0, true);
	assert_string_equal(step(&f, 0), "vm_up:vm1 vm_busy:vm1");
	assert_true(hk_adopt(f.st, "vm1", true, 500));
	assert_string_equal(step(&f, 3000), "");
	f.vm[0].sessions = 0;
	assert_string_equal(step(&f, 4000), "");
	assert_string_equal(step(&f, 4999), "");
	assert_string_equal(step(&f, 5000), "vm_idle:vm1");
	teardown_fx(&f);
}

/*
 * Adopting idle: vm_idle was run elsewhere for this idle period, so this
 * node does not run it again when it takes over; a session re-arms it.
 */
static void
test_adopt_idle(void **state)
{
	struct fx f = { .st = new_state(1000, 0) };

	(void)state;
	add_vm(&f, "vm1", NULL, 1, 0, true);
	assert_string_equal(step(&f, 0), "vm_up:vm1 vm_busy:vm1");
	f.vm[0].sessions = 0;
	assert_string_equal(step(&f, 100), "");
	assert_true(hk_adopt(f.st, "vm1", false, 600));
	assert_string_equal(step(&f, 1100), "");
	assert_string_equal(step(&f, 9000), "");
	f.vm[0].sessions = 1;
	assert_string_equal(step(&f, 9500), "vm_busy:vm1");
	f.vm[0].sessions = 0;
	assert_string_equal(step(&f, 9600), "");
	assert_string_equal(step(&f, 10600), "vm_idle:vm1");
	teardown_fx(&f);
}

/*
 * Idle adopted while the VM has sessions here that the runner had not
 * seen: the scale set heard idle and nothing since, so the end of those
 * sessions brings no second vm_idle; a busy edge run later re-arms it.
 */
static void
test_adopt_idle_while_busy(void **state)
{
	struct fx f = { .st = new_state(1000, 0) };

	(void)state;
	add_vm(&f, "vm1", NULL, 1, 0, true);
	assert_string_equal(step(&f, 0), "vm_up:vm1 vm_busy:vm1");
	assert_true(hk_adopt(f.st, "vm1", false, 100));
	f.vm[0].sessions = 0;
	assert_string_equal(step(&f, 200), "");
	assert_string_equal(step(&f, 5000), "");
	assert_true(hk_adopt(f.st, "vm1", true, 5000));
	assert_string_equal(step(&f, 6000), "vm_idle:vm1");
	teardown_fx(&f);
}

/* Adopting queues nothing; unknown and invalid names are ignored. */
static void
test_adopt_unknown_and_quiet(void **state)
{
	struct fx f = { .st = new_state(1000, 0) };
	struct hk_emit e;

	(void)state;
	assert_false(hk_adopt(f.st, "vm1", true, 0));
	add_vm(&f, "vm1", NULL, 0, 0, true);
	assert_string_equal(step(&f, 0), "vm_up:vm1");
	assert_false(hk_adopt(f.st, "vm9", false, 10));
	assert_false(hk_adopt(f.st, "", false, 10));
	assert_false(hk_adopt(f.st, NULL, true, 10));
	assert_true(hk_adopt(f.st, "vm1", true, 10));
	assert_true(hk_adopt(f.st, "vm1", false, 20));
	assert_false(hk_next(f.st, &e));
	/* vm9, unknown when adopted, is new when it shows up: idle after grace */
	add_vm(&f, "vm9", NULL, 0, 0, true);
	assert_string_equal(step(&f, 500), "vm_up:vm9");
	assert_string_equal(step(&f, 1500), "vm_idle:vm9");
	teardown_fx(&f);
}

/*
 * Drain the queue as the runner does: every event reported through
 * hk_ran(); or, run false, discarded as by a node that does not run hooks.
 * Returns the events as step() does.
 */
static const char *
drain(struct fx *f, bool run)
{
	static char out[1024];
	struct hk_emit e;

	out[0] = '\0';
	while (hk_next(f->st, &e)) {
		size_t len = strlen(out);

		snprintf(out + len, sizeof(out) - len, "%s%s:%s",
		    len ? " " : "", hk_event_name(e.event), e.backend);
		if (run)
			hk_ran(f->st, &e);
	}
	return out;
}

/* A snapshot seen by a node that does not run the hooks. */
static const char *
step_as(struct fx *f, uint64_t now, bool run)
{
	hk_update(f->st, f->vm, f->n, now);
	return drain(f, run);
}

/*
 * vm_busy detected while another node ran the hooks (and never heard of
 * the session): taking over queues it once, with the VM's fields.
 */
static void
test_resync_busy_missed(void **state)
{
	struct fx f = { .st = new_state(1000, 0) };
	struct hk_emit e;

	(void)state;
	add_vm(&f, "vm1", "10.0.0.4", 0, 0, true);
	assert_string_equal(step_as(&f, 0, false), "vm_up:vm1");
	assert_false(hk_adopt(f.st, "vm9", false, 0));
	assert_true(hk_adopt(f.st, "vm1", false, 1000));
	assert_string_equal(step_as(&f, 1000, false), "");
	f.vm[0].sessions = 2;
	assert_string_equal(step_as(&f, 2000, false), "vm_busy:vm1");
	/* this node takes over */
	assert_int_equal(hk_resync(f.st), 1);
	assert_true(hk_next(f.st, &e));
	assert_int_equal(e.event, HK_VM_BUSY);
	assert_string_equal(e.backend, "vm1");
	assert_string_equal(e.address, "10.0.0.4");
	assert_int_equal(e.sessions, 2);
	assert_int_equal(e.pool.pool_sessions, 2);
	hk_ran(f.st, &e);
	assert_false(hk_next(f.st, &e));
	/* once: neither again nor from the snapshots that follow */
	assert_int_equal(hk_resync(f.st), 0);
	assert_string_equal(step_as(&f, 3000, true), "");
	assert_int_equal(hk_resync(f.st), 0);
	/* and vm_idle follows the sessions' end after the grace, once */
	f.vm[0].sessions = 0;
	assert_string_equal(step_as(&f, 4000, true), "");
	assert_string_equal(step_as(&f, 5000, true), "vm_idle:vm1");
	assert_int_equal(hk_resync(f.st), 0);
	assert_string_equal(step_as(&f, 9000, true), "");
	teardown_fx(&f);
}

/*
 * vm_idle detected and passed over while another node ran the hooks, whose
 * last word was vm_busy: taking over re-arms it; the grace is long over,
 * so it fires at the next snapshot, once.
 */
static void
test_resync_idle_missed(void **state)
{
	struct fx f = { .st = new_state(1000, 0) };

	(void)state;
	add_vm(&f, "vm1", NULL, 1, 0, true);
	add_vm(&f, "vm2", NULL, 0, 0, true);
	assert_string_equal(step_as(&f, 0, false),
	    "vm_up:vm1 vm_busy:vm1 vm_up:vm2");
	assert_true(hk_adopt(f.st, "vm1", true, 100));
	f.vm[0].sessions = 0;
	assert_string_equal(step_as(&f, 500, false), "");
	assert_string_equal(step_as(&f, 1500, false), "vm_idle:vm1 vm_idle:vm2");
	assert_int_equal(hk_resync(f.st), 1);
	assert_string_equal(drain(&f, true), "");
	assert_string_equal(step_as(&f, 4000, true), "vm_idle:vm1");
	assert_int_equal(hk_resync(f.st), 0);
	assert_string_equal(step_as(&f, 5000, true), "");
	teardown_fx(&f);
}

/*
 * A re-armed vm_idle goes on from when the VM went idle: with a longer
 * grace set meanwhile (reload), it waits for the rest of it, not more.
 */
static void
test_resync_idle_keeps_its_grace(void **state)
{
	struct fx f = { .st = new_state(1000, 0) };
	struct hk_params p = { .idle_grace_ms = 5000 };

	(void)state;
	add_vm(&f, "vm1", NULL, 1, 0, true);
	assert_string_equal(step_as(&f, 0, false), "vm_up:vm1 vm_busy:vm1");
	assert_true(hk_adopt(f.st, "vm1", true, 0));
	f.vm[0].sessions = 0;
	assert_string_equal(step_as(&f, 100, false), "");
	assert_string_equal(step_as(&f, 1100, false), "vm_idle:vm1");
	hk_set_params(f.st, &p);
	assert_int_equal(hk_resync(f.st), 1);
	assert_int_equal(hk_resync(f.st), 0);   /* armed already */
	assert_string_equal(step_as(&f, 5099, true), "");
	assert_string_equal(step_as(&f, 5100, true), "vm_idle:vm1");
	assert_int_equal(hk_resync(f.st), 0);
	teardown_fx(&f);
}

/*
 * Announcements another runner made agree with what this node saw: taking
 * over changes nothing, and none is run again.
 */
static void
test_resync_adopted_agree(void **state)
{
	struct fx f = { .st = new_state(1000, 0) };

	(void)state;
	add_vm(&f, "vm1", NULL, 0, 0, true);
	add_vm(&f, "vm2", NULL, 0, 0, true);
	add_vm(&f, "vm3", NULL, 0, 0, false);
	assert_string_equal(step_as(&f, 0, false), "vm_up:vm1 vm_up:vm2");
	assert_string_equal(step_as(&f, 1000, false),
	    "vm_idle:vm1 vm_idle:vm2 vm_idle:vm3");
	assert_true(hk_adopt(f.st, "vm1", false, 1000));
	assert_true(hk_adopt(f.st, "vm2", false, 1000));
	assert_true(hk_adopt(f.st, "vm3", false, 1000));
	f.vm[0].sessions = 1;
	assert_string_equal(step_as(&f, 2000, false), "vm_busy:vm1");
	assert_true(hk_adopt(f.st, "vm1", true, 2100));
	f.vm[1].sessions = 1;
	assert_string_equal(step_as(&f, 3000, false), "vm_busy:vm2");
	assert_true(hk_adopt(f.st, "vm2", true, 3100));
	f.vm[1].sessions = 0;
	assert_string_equal(step_as(&f, 3500, false), "");
	assert_string_equal(step_as(&f, 4500, false), "vm_idle:vm2");
	assert_true(hk_adopt(f.st, "vm2", false, 4600));
	/* vm1 busy, vm2 and vm3 idle, as announced */
	assert_int_equal(hk_resync(f.st), 0);
	assert_string_equal(drain(&f, true), "");
	assert_string_equal(step_as(&f, 9000, true), "");
	teardown_fx(&f);
}

/*
 * Nothing announced that this node knows of (a fresh node, a key expired):
 * the detector's own edges stand, so taking over repeats nothing.
 */
static void
test_resync_nothing_known(void **state)
{
	struct fx f = { .st = new_state(1000, 0) };

	(void)state;
	add_vm(&f, "vm1", NULL, 3, 0, true);
	add_vm(&f, "vm2", NULL, 0, 0, true);
	assert_string_equal(step_as(&f, 0, false),
	    "vm_up:vm1 vm_busy:vm1 vm_up:vm2");
	assert_string_equal(step_as(&f, 1000, false), "vm_idle:vm2");
	assert_int_equal(hk_resync(f.st), 0);
	assert_string_equal(drain(&f, true), "");
	assert_string_equal(step_as(&f, 5000, true), "");
	teardown_fx(&f);
}

/*
 * Edges read back from Redis before the first snapshot are kept until the
 * VMs show up: the VMs are new all the same, but a takeover knows what was
 * told of them.
 */
static void
test_resync_adopted_before_known(void **state)
{
	struct fx f = { .st = new_state(1000, 0) };

	(void)state;
	assert_false(hk_adopt(f.st, "vm1", true, 0));
	assert_false(hk_adopt(f.st, "vm2", true, 0));
	assert_false(hk_adopt(f.st, "vm2", false, 0));   /* the newest wins */
	add_vm(&f, "vm1", NULL, 1, 0, true);
	add_vm(&f, "vm2", NULL, 1, 0, true);
	assert_string_equal(step_as(&f, 10, false),
	    "vm_up:vm1 vm_busy:vm1 vm_up:vm2 vm_busy:vm2");
	/* the runner told vm2 idle and never heard of its session */
	assert_int_equal(hk_resync(f.st), 1);
	assert_string_equal(drain(&f, true), "vm_busy:vm2");
	assert_int_equal(hk_resync(f.st), 0);
	teardown_fx(&f);
}

/*
 * More adopted names than can be VMs: the oldest is forgotten, the VM
 * then shows up with nothing known.
 */
static void
test_resync_pending_cap(void **state)
{
	struct fx f = { .st = new_state(1000, 0) };
	char name[32];

	(void)state;
	for (int i = 0; i <= HK_MAX_VMS; i++) {
		snprintf(name, sizeof(name), "x%d", i);
		assert_false(hk_adopt(f.st, name, false, 0));
	}
	add_vm(&f, "x0", NULL, 1, 0, true);
	add_vm(&f, "x1", NULL, 1, 0, true);
	assert_string_equal(step_as(&f, 0, false),
	    "vm_up:x0 vm_busy:x0 vm_up:x1 vm_busy:x1");
	assert_int_equal(hk_resync(f.st), 1);
	assert_string_equal(drain(&f, true), "vm_busy:x1");
	teardown_fx(&f);
}

/* hk_ran() remembers vm_busy and vm_idle only, of VMs it knows. */
static void
test_ran_other_events(void **state)
{
	struct fx f = { .st = new_state(1000, 0) };
	struct hk_emit e = { .event = HK_VM_UP };

	(void)state;
	add_vm(&f, "vm1", NULL, 1, 0, true);
	assert_string_equal(step_as(&f, 0, true), "vm_up:vm1 vm_busy:vm1");
	snprintf(e.backend, sizeof(e.backend), "vm1");
	e.event = HK_VM_DOWN;
	hk_ran(f.st, &e);
	e.event = HK_VM_EVICTING;
	hk_ran(f.st, &e);
	assert_int_equal(hk_resync(f.st), 0);
	/* an idle run elsewhere while sessions are here: the runner says busy */
	e.event = HK_VM_IDLE;
	snprintf(e.backend, sizeof(e.backend), "vm9");
	hk_ran(f.st, &e);
	assert_true(hk_adopt(f.st, "vm1", false, 100));
	assert_int_equal(hk_resync(f.st), 1);
	assert_string_equal(drain(&f, true), "vm_busy:vm1");
	teardown_fx(&f);
}

static void
test_vm_forgotten(void **state)
{
	struct fx f = { .st = new_state(1000, 0) };

	(void)state;
	add_vm(&f, "vm1", NULL, 1, 0, true);
	add_vm(&f, "vm2", NULL, 1, 0, true);
	add_vm(&f, "vm3", NULL, 0, 0, true);
	assert_string_equal(step(&f, 0),
	    "vm_up:vm1 vm_busy:vm1 vm_up:vm2 vm_busy:vm2 vm_up:vm3");
	/* vm2 leaves the snapshot: no event; the others keep their state. */
	f.vm[1] = f.vm[2];
	f.n = 2;
	assert_string_equal(step(&f, 500), "");
	assert_int_equal(hk_pool_now(f.st).up_count, 2);
	assert_string_equal(step(&f, 1000), "vm_idle:vm3");
	/* Back under the same name it is new: up and busy again. */
	add_vm(&f, "vm2", NULL, 1, 0, true);
	assert_string_equal(step(&f, 1500), "vm_up:vm2 vm_busy:vm2");
	/* Listed in another order: state follows the name, not the index. */
	f.vm[0] = (struct hk_vm){ .name = "vm2", .sessions = 1, .up = true };
	f.vm[2] = (struct hk_vm){ .name = "vm1", .sessions = 1, .up = true };
	assert_string_equal(step(&f, 2000), "");
	f.vm[2].sessions = 0;
	assert_string_equal(step(&f, 2500), "");
	assert_string_equal(step(&f, 3500), "vm_idle:vm1");
	teardown_fx(&f);
}

static void
test_bad_names_skipped(void **state)
{
	struct fx f = { .st = new_state(1000, 0) };
	char longname[CFG_NAME_MAX + 2];

	(void)state;
	memset(longname, 'x', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	add_vm(&f, NULL, NULL, 1, 0, true);
	add_vm(&f, "", NULL, 1, 0, true);
	add_vm(&f, longname, NULL, 1, 0, true);
	add_vm(&f, "ok", NULL, 1, 0, true);
	assert_string_equal(step(&f, 0), "vm_up:ok vm_busy:ok");
	assert_int_equal(hk_pool_now(f.st).pool_sessions, 1);
	assert_int_equal(hk_update(f.st, NULL, 0, 1), 0);
	teardown_fx(&f);
}

static void
test_no_capacity_rate(void **state)
{
	struct fx f = { .st = new_state(GRACE, 2) };
	struct hk_emit e;

	(void)state;
	add_vm(&f, "vm1", NULL, 0, 5, false);
	step(&f, 0);
	assert_true(hk_no_capacity(f.st, "ssh", 100000));
	assert_true(hk_next(f.st, &e));
	assert_int_equal(e.event, HK_NO_CAPACITY);
	assert_string_equal(e.service, "ssh");
	assert_string_equal(e.backend, "");
	assert_int_equal(e.pool.up_count, 0);
	assert_false(hk_next(f.st, &e));
	/* Within 10 s: suppressed; another service is counted apart. */
	assert_false(hk_no_capacity(f.st, "ssh", 100000 + 9999));
	assert_true(hk_no_capacity(f.st, "jupyter", 105000));
	assert_true(hk_no_capacity(f.st, "ssh", 110000));
	assert_false(hk_no_capacity(f.st, "jupyter", 114999));
	assert_true(hk_next(f.st, &e));
	assert_string_equal(e.service, "jupyter");
	assert_true(hk_next(f.st, &e));
	assert_string_equal(e.service, "ssh");
	assert_false(hk_next(f.st, &e));
	teardown_fx(&f);
}

static void
test_no_capacity_many_services(void **state)
{
	struct hk_state *st = new_state(GRACE, 0);
	struct hk_emit e;
	char name[16];
	int i, n = 0;

	(void)state;
	/* More services than the table holds: every new one still fires. */
	for (i = 0; i < CFG_MAX_SERVICES + 5; i++) {
		snprintf(name, sizeof(name), "svc%d", i);
		assert_true(hk_no_capacity(st, name, 1000 + (uint64_t)i));
	}
	while (hk_next(st, &e))
		n++;
	assert_int_equal(n, CFG_MAX_SERVICES + 5);
	/* The newest are still remembered. */
	assert_false(hk_no_capacity(st, name, 2000));
	hk_free(st);
}

static void
test_queue_order_and_wrap(void **state)
{
	struct hk_state *st = new_state(GRACE, 0);
	struct hk_emit e;
	char name[16];
	int i, next = 0;

	(void)state;
	/* Interleave pushes and pops so the ring wraps while it grows. */
	for (i = 0; i < 40; i++) {
		snprintf(name, sizeof(name), "s%d", i);
		assert_true(hk_no_capacity(st, name, 1));
		if (i % 3 == 0) {
			assert_true(hk_next(st, &e));
			snprintf(name, sizeof(name), "s%d", next++);
			assert_string_equal(e.service, name);
		}
	}
	while (hk_next(st, &e)) {
		snprintf(name, sizeof(name), "s%d", next++);
		assert_string_equal(e.service, name);
	}
	assert_int_equal(next, 40);
	hk_free(st);
}

static void
test_event_fields_and_env(void **state)
{
	struct fx f = { .st = new_state(GRACE, 2) };
	struct hk_emit e;
	struct hk_env env;

	(void)state;
	add_vm(&f, "vm1", "10.0.0.4", 4, 5, true);
	add_vm(&f, "vm2", "fd00::5", 0, 5, false);
	hk_update(f.st, f.vm, f.n, 0);
	assert_true(hk_next(f.st, &e));
	assert_int_equal(e.event, HK_VM_UP);
	assert_true(hk_next(f.st, &e));
	assert_int_equal(e.event, HK_VM_BUSY);
	assert_string_equal(e.backend, "vm1");
	assert_string_equal(e.address, "10.0.0.4");
	assert_int_equal(e.sessions, 4);
	assert_int_equal(e.pool.pool_sessions, 4);
	assert_int_equal(e.pool.free_slots, 1);
	assert_int_equal(e.pool.up_count, 1);
	assert_true(hk_next(f.st, &e));
	assert_int_equal(e.event, HK_CAPACITY_LOW);
	assert_false(hk_next(f.st, &e));

	hk_env(&e, &env);
	assert_string_equal(env.v[0], "POOLGATE_EVENT=capacity_low");
	assert_string_equal(env.v[1], "POOLGATE_BACKEND=");
	assert_string_equal(env.v[2], "POOLGATE_ADDRESS=");
	assert_string_equal(env.v[3], "POOLGATE_SESSIONS=");

	f.vm[0].sessions = 0;
	hk_update(f.st, f.vm, f.n, 1);
	f.vm[0].sessions = 4;
	hk_update(f.st, f.vm, f.n, 2);
	assert_true(hk_next(f.st, &e));
	hk_env(&e, &env);
	assert_string_equal(env.v[0], "POOLGATE_EVENT=vm_busy");
	assert_string_equal(env.v[1], "POOLGATE_BACKEND=vm1");
	assert_string_equal(env.v[2], "POOLGATE_ADDRESS=10.0.0.4");
	assert_string_equal(env.v[3], "POOLGATE_SESSIONS=4");
	assert_string_equal(env.v[4], "POOLGATE_POOL_SESSIONS=4");
	assert_string_equal(env.v[5], "POOLGATE_FREE_SLOTS=1");
	assert_string_equal(env.v[6], "POOLGATE_UP_COUNT=1");
	assert_string_equal(env.v[7], "POOLGATE_SERVICE=");
	assert_string_equal(env.v[8], "POOLGATE_EVICTION=");
	assert_null(env.v[9]);

	hk_no_capacity(f.st, "jupyter", 3);
	while (hk_next(f.st, &e))
		;
	hk_env(&e, &env);
	assert_string_equal(env.v[0], "POOLGATE_EVENT=no_capacity");
	assert_string_equal(env.v[7], "POOLGATE_SERVICE=jupyter");
	teardown_fx(&f);
}

static void
test_env_longest_values(void **state)
{
	struct hk_emit e;
	struct hk_env env;

	(void)state;
	memset(&e, 0, sizeof(e));
	e.event = HK_CAPACITY_LOW;
	memset(e.backend, 'b', sizeof(e.backend) - 1);
	memset(e.address, 'a', sizeof(e.address) - 1);
	memset(e.service, 's', sizeof(e.service) - 1);
	e.sessions = -2147483647 - 1;
	e.pool.pool_sessions = -2147483647 - 1;
	e.pool.free_slots = -2147483647 - 1;
	e.pool.up_count = -2147483647 - 1;
	hk_env(&e, &env);   /* must fit: aborts otherwise */
	assert_int_equal(strlen(env.v[7]), strlen("POOLGATE_SERVICE=") + CFG_NAME_MAX);
	assert_string_equal(env.v[3], "POOLGATE_SESSIONS=-2147483648");
}

static void
test_params_reload(void **state)
{
	struct fx f = { .st = new_state(GRACE, 0) };
	struct hk_params p = { .idle_grace_ms = 1000, .headroom = -3,
	    .no_capacity_interval_ms = 0 };

	(void)state;
	add_vm(&f, "vm1", NULL, 0, 0, true);
	assert_string_equal(step(&f, 0), "vm_up:vm1");
	assert_string_equal(step(&f, 500), "");
	/* The time already idle counts toward the new, shorter grace. */
	hk_set_params(f.st, &p);
	assert_string_equal(step(&f, 1000), "vm_idle:vm1");
	/* Interval 0: every no_capacity fires. */
	assert_true(hk_no_capacity(f.st, "ssh", 5));
	assert_true(hk_no_capacity(f.st, "ssh", 5));
	teardown_fx(&f);
}

static void
test_max_vms(void **state)
{
	struct hk_state *st = new_state(GRACE, 0);
	static struct hk_vm vms[HK_MAX_VMS + 3];
	static char names[HK_MAX_VMS + 3][16];
	struct hk_emit e;
	size_t i, n = 0;

	(void)state;
	for (i = 0; i < HK_MAX_VMS + 3; i++) {
		snprintf(names[i], sizeof(names[i]), "vm%zu", i);
		vms[i] = (struct hk_vm){ .name = names[i], .sessions = 1, .up = true };
	}
	/* Every VM up and busy at once: all fit in the queue. */
	assert_int_equal(hk_update(st, vms, HK_MAX_VMS + 3, 0), 2 * HK_MAX_VMS);
	assert_int_equal(hk_ignored_vms(st), 3);
	assert_int_equal(hk_pool_now(st).up_count, HK_MAX_VMS);
	while (hk_next(st, &e))
		n++;
	assert_int_equal(n, 2 * HK_MAX_VMS);
	assert_int_equal(hk_dropped_events(st), 0);
	/* Not drained: the queue cap holds, the rest is counted as dropped. */
	for (i = 0; i < HK_MAX_VMS; i++)
		vms[i].up = false;
	assert_int_equal(hk_update(st, vms, HK_MAX_VMS, 1), HK_MAX_VMS);
	for (i = 0; i < HK_MAX_VMS; i++)
		vms[i].up = true;
	assert_int_equal(hk_update(st, vms, HK_MAX_VMS, 2), HK_MAX_VMS);
	for (i = 0; i < HK_MAX_VMS; i++)
		vms[i].up = false;
	assert_int_equal(hk_update(st, vms, HK_MAX_VMS, 3), HK_MAX_VMS);
	for (i = 0; i < HK_MAX_VMS; i++)
		vms[i].up = true;
	assert_int_equal(hk_update(st, vms, HK_MAX_VMS, 4),
	    HK_QUEUE_MAX - 3 * HK_MAX_VMS);
	assert_int_equal(hk_dropped_events(st),
	    HK_MAX_VMS - (HK_QUEUE_MAX - 3 * HK_MAX_VMS));
	/* The oldest are kept: the first is still the first vm_down. */
	assert_true(hk_next(st, &e));
	assert_int_equal(e.event, HK_VM_DOWN);
	assert_string_equal(e.backend, "vm0");
	hk_free(st);
}

/*
 * Work the agent reports (a detached job) holds vm_idle like a session and
 * re-arms it; the idle period starts when the work is gone.
 */
static void
test_idle_work(void **state)
{
	struct fx f = { .st = new_state(GRACE, 0) };

	(void)state;
	add_vm(&f, "vm1", NULL, 0, 0, true);
	assert_string_equal(step(&f, 0), "vm_up:vm1");
	f.vm[0].work = true;
	assert_string_equal(step(&f, GRACE), "");
	assert_string_equal(step(&f, 3 * GRACE), "");
	f.vm[0].work = false;   /* the job ended at 3 * GRACE */
	assert_string_equal(step(&f, 4 * GRACE - 1), "");
	assert_string_equal(step(&f, 4 * GRACE), "vm_idle:vm1");
	assert_string_equal(step(&f, 5 * GRACE), "");
	/* New work re-arms: idle again once it ends, after the grace. */
	f.vm[0].work = true;
	assert_string_equal(step(&f, 6 * GRACE), "");
	f.vm[0].work = false;
	assert_string_equal(step(&f, 7 * GRACE), "vm_idle:vm1");
	hk_free(f.st);
}

/* A silent agent holds vm_idle back but does not re-arm or restart it. */
static void
test_idle_silent(void **state)
{
	struct fx f = { .st = new_state(GRACE, 0) };

	(void)state;
	add_vm(&f, "vm1", NULL, 0, 0, true);
	f.vm[0].silent = true;
	assert_string_equal(step(&f, 0), "vm_up:vm1");
	assert_string_equal(step(&f, 5 * GRACE), "");
	f.vm[0].silent = false;   /* answers: idle all along */
	assert_string_equal(step(&f, 5 * GRACE + 1), "vm_idle:vm1");
	f.vm[0].silent = true;
	assert_string_equal(step(&f, 6 * GRACE), "");
	f.vm[0].silent = false;   /* no second vm_idle for the same period */
	assert_string_equal(step(&f, 7 * GRACE), "");
	hk_free(f.st);
}

/* vm_evicting is an edge and carries the event in POOLGATE_EVICTION. */
static void
test_evicting(void **state)
{
	struct fx f = { .st = new_state(GRACE, 0) };
	struct hk_emit e;
	struct hk_env env;
	bool found = false;

	(void)state;
	add_vm(&f, "vm1", "10.0.0.1", 1, 0, true);
	assert_string_equal(step(&f, 0), "vm_up:vm1 vm_busy:vm1");
	f.vm[0].evicting = true;
	f.vm[0].eviction = "Terminate Mon, 07 Dec 2026 10:00:00 GMT";
	assert_int_equal(hk_update(f.st, f.vm, f.n, 1000), 1);
	assert_true(hk_next(f.st, &e));
	assert_int_equal(e.event, HK_VM_EVICTING);
	hk_env(&e, &env);
	for (size_t i = 0; env.v[i] != NULL; i++)
		if (strcmp(env.v[i], "POOLGATE_EVICTION=Terminate Mon, 07 Dec "
		    "2026 10:00:00 GMT") == 0)
			found = true;
	assert_true(found);
	assert_string_equal(step(&f, 2000), "");
	f.vm[0].evicting = false;
	assert_string_equal(step(&f, 3000), "");
	f.vm[0].evicting = true;
	assert_string_equal(step(&f, 4000), "vm_evicting:vm1");
	hk_free(f.st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_busy_edge),
		cmocka_unit_test(test_idle_grace),
		cmocka_unit_test(test_idle_work),
		cmocka_unit_test(test_idle_silent),
		cmocka_unit_test(test_evicting),
		cmocka_unit_test(test_idle_new_vm),
		cmocka_unit_test(test_idle_clock_back),
		cmocka_unit_test(test_up_down_edges),
		cmocka_unit_test(test_capacity_low_edges),
		cmocka_unit_test(test_capacity_uncapped),
		cmocka_unit_test(test_capacity_empty_pool),
		cmocka_unit_test(test_idle_spared_for_headroom),
		cmocka_unit_test(test_idle_spared_together),
		cmocka_unit_test(test_idle_reported_then_busy),
		cmocka_unit_test(test_adopt_busy_rearms_idle),
		cmocka_unit_test(test_adopt_busy_while_busy),
		cmocka_unit_test(test_adopt_idle),
		cmocka_unit_test(test_adopt_idle_while_busy),
		cmocka_unit_test(test_adopt_unknown_and_quiet),
		cmocka_unit_test(test_resync_busy_missed),
		cmocka_unit_test(test_resync_idle_missed),
		cmocka_unit_test(test_resync_idle_keeps_its_grace),
		cmocka_unit_test(test_resync_adopted_agree),
		cmocka_unit_test(test_resync_nothing_known),
		cmocka_unit_test(test_resync_adopted_before_known),
		cmocka_unit_test(test_resync_pending_cap),
		cmocka_unit_test(test_ran_other_events),
		cmocka_unit_test(test_vm_forgotten),
		cmocka_unit_test(test_bad_names_skipped),
		cmocka_unit_test(test_no_capacity_rate),
		cmocka_unit_test(test_no_capacity_many_services),
		cmocka_unit_test(test_queue_order_and_wrap),
		cmocka_unit_test(test_event_fields_and_env),
		cmocka_unit_test(test_env_longest_values),
		cmocka_unit_test(test_params_reload),
		cmocka_unit_test(test_max_vms),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
