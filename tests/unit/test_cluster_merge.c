/*
 * test_cluster_merge.c -- the merge rule (cluster/stamps.c) with an
 * injected wall clock, the other nodes' counts (cluster/peers.c) with an
 * injected monotonic clock, and the hook runner's lease (cluster/lease.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cluster/lease.h"
#include "cluster/peers.h"
#include "cluster/stamps.h"

#define T0 1700000000000ull

/* ---- the merge rule ------------------------------------------------------- */

static void
test_newest_wins(void **state)
{
	struct cl_stamps *t = cl_stamps_new(100);

	(void)state;
	assert_non_null(t);
	assert_true(cl_stamps_offer(t, "a:ip:1", T0 + 10, "pg1", T0 + 1000, T0));
	/* older from another node loses, whatever order it arrives in */
	assert_false(cl_stamps_offer(t, "a:ip:1", T0 + 5, "pg2", T0 + 9000, T0));
	assert_int_equal(cl_stamps_get(t, "a:ip:1"), T0 + 10);
	/* newer wins */
	assert_true(cl_stamps_offer(t, "a:ip:1", T0 + 20, "pg2", T0 + 1000, T0));
	assert_int_equal(cl_stamps_get(t, "a:ip:1"), T0 + 20);
	/* equal stamps: the larger node name, on every node alike */
	assert_false(cl_stamps_offer(t, "a:ip:1", T0 + 20, "pg1", T0 + 1000, T0));
	assert_true(cl_stamps_offer(t, "a:ip:1", T0 + 20, "pg3", T0 + 1000, T0));
	/* the same node twice in one millisecond: the later message */
	assert_true(cl_stamps_offer(t, "a:ip:1", T0 + 20, "pg3", T0 + 2000, T0));
	assert_int_equal(cl_stamps_count(t), 1);
	cl_stamps_free(t);
}

/* Two nodes hearing the same changes in opposite orders end alike. */
static void
test_order_independent(void **state)
{
	struct cl_stamps *a = cl_stamps_new(10), *b = cl_stamps_new(10);
	struct { uint64_t stamp; const char *node; } ch[] = {
		{ T0 + 3, "pg2" }, { T0 + 7, "pg1" }, { T0 + 7, "pg2" }, { T0 + 1, "pg3" },
	};
	const char *wa = NULL, *wb = NULL;

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		if (cl_stamps_offer(a, "o:vm1", ch[i].stamp, ch[i].node, 0, T0))
			wa = ch[i].node;
		if (cl_stamps_offer(b, "o:vm1", ch[3 - i].stamp, ch[3 - i].node, 0, T0))
			wb = ch[3 - i].node;
	}
	assert_string_equal(wa, "pg2");
	assert_string_equal(wb, "pg2");
	assert_int_equal(cl_stamps_get(a, "o:vm1"), T0 + 7);
	assert_int_equal(cl_stamps_get(b, "o:vm1"), T0 + 7);
	cl_stamps_free(a);
	cl_stamps_free(b);
}

static void
test_expiry_and_caps(void **state)
{
	struct cl_stamps *t = cl_stamps_new(2);
	char longname[CL_NAME_MAX + 2];

	(void)state;
	/* already expired: refused */
	assert_false(cl_stamps_offer(t, "a:ip:1", T0, "pg1", T0, T0));
	assert_true(cl_stamps_offer(t, "a:ip:1", T0 + 50, "pg1", T0 + 100, T0));
	/* once expired, an older change is no longer beaten by it */
	assert_true(cl_stamps_offer(t, "a:ip:1", T0 + 10, "pg2", T0 + 500, T0 + 200));
	assert_true(cl_stamps_offer(t, "o:vm1", T0, "pg1", 0, T0));
	/* full */
	assert_false(cl_stamps_offer(t, "o:vm2", T0, "pg1", 0, T0));
	assert_int_equal(cl_stamps_sweep(t, T0 + 499), 0);
	assert_int_equal(cl_stamps_sweep(t, T0 + 500), 1);
	assert_int_equal(cl_stamps_get(t, "a:ip:1"), 0);
	assert_int_equal(cl_stamps_count(t), 1);
	assert_true(cl_stamps_offer(t, "o:vm2", T0, "pg1", 0, T0));
	cl_stamps_forget(t, "o:vm2");
	cl_stamps_forget(t, "o:nothing");
	assert_int_equal(cl_stamps_count(t), 1);
	memset(longname, 'k', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	cl_stamps_forget(t, "o:vm1");
	assert_false(cl_stamps_offer(t, longname, T0, "pg1", 0, T0));
	cl_stamps_free(t);
	cl_stamps_free(NULL);
}

/* ---- the other nodes' counts ---------------------------------------------- */

static struct cl_entry *
beat(const char *node, uint64_t stamp, int n, ...)
{
	static struct cl_entry e;
	va_list ap;

	memset(&e, 0, offsetof(struct cl_entry, u));
	e.kind = CL_NODE;
	e.stamp = stamp;
	snprintf(e.node, sizeof(e.node), "%s", node);
	e.u.node.draining = false;
	e.u.node.nvms = (size_t)n;
	va_start(ap, n);
	for (int i = 0; i < n; i++) {
		snprintf(e.u.node.vms[i].vm, sizeof(e.u.node.vms[i].vm), "%s",
		    va_arg(ap, const char *));
		e.u.node.vms[i].sessions = va_arg(ap, unsigned);
	}
	va_end(ap);
	return &e;
}

/*
 * A change that tells the others nothing new is not shared: the same node
 * wrote the key last, with the same VM, and the expiry moved by less than
 * the slack. Anything else is shared.
 */
static void
test_unchanged_not_shared_again(void **state)
{
	struct cl_stamps *t = cl_stamps_new(100);
	const uint64_t X = 11, Y = 22, TTL = 3600000;

	(void)state;
	assert_non_null(t);
	/* nothing recorded: share */
	assert_false(cl_stamps_unchanged(t, "a:ip:1", "pg1", X, T0 + TTL,
	    1000, T0));
	assert_true(cl_stamps_offer_tagged(t, "a:ip:1", T0, "pg1", T0 + TTL, X,
	    T0));
	/* the session ends 200 ms later: expiry moves 200 ms, not shared */
	assert_true(cl_stamps_unchanged(t, "a:ip:1", "pg1", X,
	    T0 + 200 + TTL, 1000, T0 + 200));
	/* a second later it is */
	assert_false(cl_stamps_unchanged(t, "a:ip:1", "pg1", X,
	    T0 + 1000 + TTL, 1000, T0 + 1000));
	/* another VM, another node, a shorter expiry: always shared */
	assert_false(cl_stamps_unchanged(t, "a:ip:1", "pg1", Y,
	    T0 + 200 + TTL, 1000, T0 + 200));
	assert_false(cl_stamps_unchanged(t, "a:ip:1", "pg2", X,
	    T0 + 200 + TTL, 1000, T0 + 200));
	assert_false(cl_stamps_unchanged(t, "a:ip:1", "pg1", X,
	    T0 + TTL - 1, 1000, T0 + 200));
	/* the record expired: shared again */
	assert_false(cl_stamps_unchanged(t, "a:ip:1", "pg1", X,
	    T0 + TTL + 500, 1000, T0 + TTL));
	/* another node's change now holds the key: ours is news again */
	assert_true(cl_stamps_offer_tagged(t, "a:ip:1", T0 + 300, "pg2",
	    T0 + 300 + TTL, X, T0 + 300));
	assert_false(cl_stamps_unchanged(t, "a:ip:1", "pg1", X,
	    T0 + 400 + TTL, 1000, T0 + 400));
	/* tag 0 (cl_stamps_offer) matches nothing */
	assert_true(cl_stamps_offer(t, "a:ip:2", T0, "pg1", T0 + TTL, T0));
	assert_false(cl_stamps_unchanged(t, "a:ip:2", "pg1", 0, T0 + TTL,
	    1000, T0));
	/* no expiry on either side: unchanged */
	assert_true(cl_stamps_offer_tagged(t, "o:vm1", T0, "pg1", 0, X, T0));
	assert_true(cl_stamps_unchanged(t, "o:vm1", "pg1", X, 0, 1000, T0 + 5));
	cl_stamps_free(t);
}

static void
test_peers_sum_and_expiry(void **state)
{
	struct cl_peers ps;

	(void)state;
	cl_peers_init(&ps, "pg1", 3000);
	/* our own heartbeat is not someone else's */
	assert_int_equal(cl_peers_update(&ps, beat("pg1", 1, 1, "vm1", 5u), 0), 0);
	assert_int_equal(cl_peers_sessions(&ps, "vm1", 0), 0);
	assert_int_equal(cl_peers_update(&ps, beat("pg2", 10, 2, "vm2", 1u, "vm1", 2u), 0), 1);
	assert_int_equal(cl_peers_update(&ps, beat("pg3", 10, 1, "vm1", 3u), 500), 1);
	assert_int_equal(cl_peers_sessions(&ps, "vm1", 1000), 5);
	assert_int_equal(cl_peers_sessions(&ps, "vm2", 1000), 1);
	assert_int_equal(cl_peers_sessions(&ps, "vm9", 1000), 0);
	/* an older heartbeat of pg2 changes nothing */
	assert_int_equal(cl_peers_update(&ps, beat("pg2", 9, 1, "vm1", 40u), 1000), 0);
	assert_int_equal(cl_peers_sessions(&ps, "vm1", 1000), 5);
	/* a VM named twice counts once with the sum */
	assert_int_equal(cl_peers_update(&ps, beat("pg2", 11, 2, "vm1", 1u, "vm1", 1u), 1000), 1);
	assert_int_equal(cl_peers_sessions(&ps, "vm1", 1000), 5);
	/* pg3 goes silent: its sessions leave the count after the expiry */
	assert_int_equal(cl_peers_sessions(&ps, "vm1", 3499), 5);
	assert_int_equal(cl_peers_sessions(&ps, "vm1", 3500), 2);
	assert_int_equal(cl_peers_expire(&ps, 3500), 1);
	assert_int_equal(ps.n, 1);
	assert_string_equal(ps.p[0].node, "pg2");
	cl_peers_free(&ps);
}

static void
test_peers_cap(void **state)
{
	struct cl_peers ps;
	char node[16];

	(void)state;
	cl_peers_init(&ps, "self", 3000);
	for (int i = 0; i < CL_PEERS_MAX; i++) {
		snprintf(node, sizeof(node), "pg%d", i);
		assert_int_equal(cl_peers_update(&ps, beat(node, 1, 1, "vm1", 1u), 0), 1);
	}
	assert_int_equal(cl_peers_update(&ps, beat("one-more", 1, 0), 0), -1);
	assert_int_equal(cl_peers_sessions(&ps, "vm1", 0), CL_PEERS_MAX);
	cl_peers_free(&ps);
}

/* ---- the lease ------------------------------------------------------------ */

static void
test_lease_win_renew_lose(void **state)
{
	struct cl_lease l;

	(void)state;
	cl_lease_init(&l, 5000);
	assert_int_equal(cl_lease_tick(&l, false, 0), CL_LEASE_NONE);   /* no link */
	assert_int_equal(cl_lease_tick(&l, true, 0), CL_LEASE_TRY);
	assert_int_equal(cl_lease_tick(&l, true, 10), CL_LEASE_NONE);  /* one at a time */
	cl_lease_answer(&l, CL_LEASE_WON, 20);
	assert_true(cl_lease_runner(&l, 20));
	assert_int_equal(l.valid_until, 4500);   /* from the send, less the margin */
	assert_int_equal(l.changes, 1);
	assert_int_equal(cl_lease_tick(&l, true, 1000), CL_LEASE_NONE);
	assert_int_equal(cl_lease_tick(&l, true, 1666), CL_LEASE_RENEW);
	cl_lease_answer(&l, CL_LEASE_WON, 1700);
	assert_int_equal(l.valid_until, 6166);
	/* Redis goes silent: the renewal fails, we run on only until valid_until */
	assert_int_equal(cl_lease_tick(&l, true, 3332), CL_LEASE_RENEW);
	cl_lease_answer(&l, CL_LEASE_FAILED, 4832);
	assert_true(cl_lease_runner(&l, 6165));
	assert_int_equal(cl_lease_tick(&l, false, 6166), CL_LEASE_NONE);
	assert_false(cl_lease_runner(&l, 6166));
	assert_int_equal(l.changes, 2);
	/* back: it tries for a new lease, and someone else has it */
	assert_int_equal(cl_lease_tick(&l, true, 7000), CL_LEASE_TRY);
	cl_lease_answer(&l, CL_LEASE_HELD, 7001);
	assert_false(cl_lease_runner(&l, 7001));
	assert_int_equal(l.changes, 2);
}

/* A renewal answered "not ours" (the key expired and another node took it). */
static void
test_lease_taken_over(void **state)
{
	struct cl_lease l;

	(void)state;
	cl_lease_init(&l, 5000);
	assert_int_equal(cl_lease_tick(&l, true, 0), CL_LEASE_TRY);
	cl_lease_answer(&l, CL_LEASE_WON, 1);
	assert_int_equal(cl_lease_tick(&l, true, 1666), CL_LEASE_RENEW);
	cl_lease_answer(&l, CL_LEASE_HELD, 1670);
	assert_false(cl_lease_runner(&l, 1670));
	assert_int_equal(l.changes, 2);
	/* an answer with nothing out is ignored */
	cl_lease_answer(&l, CL_LEASE_WON, 1700);
	assert_false(cl_lease_runner(&l, 1700));
}

/* An answer slower than the lease is not trusted. */
static void
test_lease_late_answer(void **state)
{
	struct cl_lease l;

	(void)state;
	cl_lease_init(&l, 1000);
	assert_int_equal(l.margin_ms, 100);
	assert_int_equal(cl_lease_tick(&l, true, 0), CL_LEASE_TRY);
	cl_lease_answer(&l, CL_LEASE_WON, 900);
	assert_false(cl_lease_runner(&l, 900));
	assert_int_equal(cl_lease_tick(&l, true, 900), CL_LEASE_TRY);
	cl_lease_answer(&l, CL_LEASE_WON, 950);
	assert_true(cl_lease_runner(&l, 950));
	assert_int_equal(l.valid_until, 1800);
	/* a failed try comes again within a tenth of the lease */
	cl_lease_init(&l, 3000);
	assert_int_equal(cl_lease_tick(&l, true, 0), CL_LEASE_TRY);
	cl_lease_answer(&l, CL_LEASE_FAILED, 5);
	assert_int_equal(cl_lease_tick(&l, true, 304), CL_LEASE_NONE);
	assert_int_equal(cl_lease_tick(&l, true, 305), CL_LEASE_TRY);
	/* a lease shorter than 300 ms is raised to it */
	cl_lease_init(&l, 10);
	assert_int_equal(l.lease_ms, 300);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_newest_wins),
		cmocka_unit_test(test_order_independent),
		cmocka_unit_test(test_expiry_and_caps),
		cmocka_unit_test(test_unchanged_not_shared_again),
		cmocka_unit_test(test_peers_sum_and_expiry),
		cmocka_unit_test(test_peers_cap),
		cmocka_unit_test(test_lease_win_renew_lose),
		cmocka_unit_test(test_lease_taken_over),
		cmocka_unit_test(test_lease_late_answer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
