/*
 * test_members.c -- the pool module (backends/members.c): every path that
 * starts or ends a session, changes health, load or state, or adds and
 * removes a member leaves the counts and the ready heaps consistent, and the
 * event sink hears what the daemon must act on.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "backends/members.h"
#include "backends/select.h"
#include "fake_sink.h"

#define SSH 0
#define JUP 1

static struct fake_sink fs;
static struct members m;

/* Load of a against b: <0 lighter, >0 heavier, ties by turn. */
static int
cmp_load(int sa, int wa, uint64_t ta, int sb, int wb, uint64_t tb)
{
	int64_t l = (int64_t)sa * wb, r = (int64_t)sb * wa;

	if (l != r)
		return l < r ? -1 : 1;
	return ta < tb ? -1 : ta > tb ? 1 : 0;
}

/*
 * The invariant the module keeps: in every kept heap, exactly the members
 * that take new sessions, each under the key it has now, in heap order.
 */
static void
assert_consistent(void)
{
	for (size_t svc = 0; svc < CFG_MAX_SERVICES; svc++) {
		struct rdy_heap *h;

		if (!(m.pool.ready_live & (UINT32_C(1) << svc)))
			continue;
		h = &m.pool.ready[svc];
		for (size_t i = 0; i < m.pool.n; i++) {
			struct backend *b = m.pool.be[i];
			bool in = b->ready_at[svc] != 0;

			if (be_takes_new(b, svc) != in)
				fail_msg("%s: takes new %d for svc %zu, in heap %d",
				    b->name, be_takes_new(b, svc), svc, in);
			if (in) {
				struct rdy_slot *sl = &h->s[b->ready_at[svc] - 1];
				assert_ptr_equal(sl->b, b);
				assert_int_equal(sl->sessions, b->sessions);
				assert_int_equal(sl->weight, be_weight(b));
			}
		}
		for (size_t i = 1; i < h->n; i++) {
			struct rdy_slot *c = &h->s[i], *p = &h->s[(i - 1) / 2];
			assert_true(cmp_load(p->sessions, p->weight, p->turn,
			    c->sessions, c->weight, c->turn) <= 0);
		}
	}
	for (size_t i = 0; i < m.pool.n; i++)
		assert_true(m.pool.be[i]->sessions >= 0);
}

static struct backend *
vm(const char *name)
{
	struct backend *b = pool_find(&m.pool, name);

	assert_non_null(b);
	return b;
}

/* Both services up on b, through the module as checks report it. */
static void
all_up(struct backend *b)
{
	mbr_check_result(&m, b, SSH, "ssh", 1, 1, true, NULL, 1, 1000);
	mbr_check_result(&m, b, JUP, "jupyter", 1, 1, true, NULL, 1, 1000);
}

static int
setup(void **state)
{
	char err[160];

	(void)state;
	fs_init(&fs);
	assert_int_equal(mbr_init(&m, 1000, 1000, 60000, &fs.sink), 0);
	mbr_set_services(&m, NULL, 2);
	for (int i = 1; i <= 3; i++) {
		char name[8], addr[16];
		snprintf(name, sizeof(name), "vm%d", i);
		snprintf(addr, sizeof(addr), "10.0.0.%d", i);
		assert_int_equal(mbr_upsert(&m, BE_SRC_API, name, addr, 1, 0, err,
		    sizeof(err)), 1);
	}
	/* Build the heaps the way selection does, then bring the VMs up. */
	assert_non_null(pool_ready(&m.pool, SSH));
	assert_non_null(pool_ready(&m.pool, JUP));
	for (size_t i = 0; i < m.pool.n; i++)
		all_up(m.pool.be[i]);
	assert_consistent();
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	mbr_free(&m);
	return 0;
}

static void
test_upsert_tells_the_sink_and_validates(void **state)
{
	char err[200];

	(void)state;
	assert_int_equal(fs.members[MBR_ADDED], 3);
	/* One name rule: options and paths never reach a hook. */
	assert_int_equal(mbr_upsert(&m, BE_SRC_API, "-rf", "10.0.0.9", 1, 0,
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a valid VM name"));
	assert_int_equal(mbr_upsert(&m, BE_SRC_API, "..", "10.0.0.9", 1, 0,
	    err, sizeof(err)), -1);
	assert_int_equal(mbr_upsert(&m, BE_SRC_API, "vm9", "not-an-ip", 1, 0,
	    err, sizeof(err)), -1);
	assert_int_equal(mbr_upsert(&m, BE_SRC_API, "vm9", "10.0.0.9", 0, 0,
	    err, sizeof(err)), -1);
	/* Another source cannot take a VM over. */
	assert_int_equal(mbr_upsert(&m, BE_SRC_DNS, "vm1", "10.0.0.1", 1, 0,
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "owned by the admin API"));
	/* An update keeps health; a new address starts it over. */
	assert_int_equal(mbr_upsert(&m, BE_SRC_API, "vm1", "10.0.0.1", 2, 5,
	    err, sizeof(err)), 0);
	assert_int_equal(fs.members[MBR_UPDATED], 1);
	assert_true(vm("vm1")->health[SSH].hc.up);
	assert_int_equal(vm("vm1")->weight, 2);
	assert_consistent();
	assert_int_equal(mbr_upsert(&m, BE_SRC_API, "vm1", "10.0.0.11", 2, 5,
	    err, sizeof(err)), 0);
	assert_false(vm("vm1")->health[SSH].hc.up);
	assert_false(be_takes_new(vm("vm1"), SSH));
	assert_consistent();
}

static void
test_sessions_keep_counts_and_heaps(void **state)
{
	struct backend *b;
	enum route_why why;
	struct route_in in = { .ip_key = "ip:192.0.2.1" };

	(void)state;
	b = mbr_pick(&m, SSH, &in, NULL, 0, &why, 2000);
	assert_non_null(b);
	assert_int_equal(why, ROUTE_LOAD);
	assert_int_equal(mbr_session_start(&m, b, in.ip_key, 2000), 0);
	assert_int_equal(b->sessions, 1);
	assert_true(m.aff_dirty);
	assert_consistent();
	/* The address comes back to b while its affinity lives. */
	assert_ptr_equal(mbr_pick(&m, SSH, &in, NULL, 0, &why, 2001), b);
	assert_int_equal(why, ROUTE_IP);
	mbr_session_end(&m, b, in.ip_key, 2002);
	assert_int_equal(b->sessions, 0);
	assert_consistent();
	assert_int_equal(m.sel_count, 2);

	/* A capped VM leaves the heap when full and comes back on an end. */
	b->max_sessions = 1;
	mbr_agent_changed(&m, b);   /* whoever changes a cap tells the module */
	assert_int_equal(mbr_session_start(&m, b, NULL, 2003), 0);
	assert_false(be_takes_new(b, SSH));
	assert_consistent();
	mbr_session_end(&m, b, NULL, 2004);
	assert_true(be_takes_new(b, SSH));
	assert_consistent();
}

static void
test_jupyter_users_start_move_and_idle_out(void **state)
{
	struct backend *a = vm("vm1"), *b = vm("vm2");
	uint64_t id;

	(void)state;
	mbr_user_seen(&m, "alice", a, "192.0.2.7", 1000);
	assert_int_equal(a->sessions, 1);
	mbr_user_seen(&m, "alice", a, "192.0.2.7", 2000);   /* goes on */
	assert_int_equal(a->sessions, 1);
	assert_consistent();
	/* Moved: the old session ends at once, the new one counts. */
	mbr_user_seen(&m, "alice", b, "192.0.2.7", 3000);
	assert_int_equal(a->sessions, 0);
	assert_int_equal(b->sessions, 1);
	assert_consistent();
	/* A websocket keeps it alive past session_idle... */
	id = mbr_ws_open(&m, "alice", b, 3000);
	assert_int_not_equal(id, 0);
	assert_int_equal(mbr_tick(&m, 3000 + 120000), 0);
	assert_int_equal(b->sessions, 1);
	/* ...and the idle time starts when it closes. */
	mbr_ws_close(&m, "alice", id, 200000);
	assert_int_equal(mbr_tick(&m, 200000 + 59000), 0);
	assert_int_equal(mbr_tick(&m, 200000 + 61000), 1);
	assert_int_equal(b->sessions, 0);
	assert_consistent();
	/* A websocket of a user with no session keeps nothing. */
	assert_int_equal(mbr_ws_open(&m, "bob", b, 300000), 0);
}

/* A mass expiry is swept MBR_SWEEP_MAX at a time; each slice marks a save. */
static void
test_sweep_in_slices(void **state)
{
	enum { N = 2 * MBR_SWEEP_MAX + 5 };
	struct members m2;
	char key[32];

	(void)state;
	assert_int_equal(mbr_init(&m2, N, 10, 1000, NULL), 0);
	for (size_t i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "ip:%zu", i);
		assert_int_equal(aff_restore(m2.aff, key, "vm1", 100 + i, 0), 0);
	}
	assert_false(mbr_sweep(&m2, 99));
	assert_false(m2.aff_dirty);
	assert_true(mbr_sweep(&m2, 100 + N));
	assert_true(m2.aff_dirty);
	assert_int_equal(aff_count(m2.aff), N - MBR_SWEEP_MAX);
	assert_true(mbr_sweep(&m2, 100 + N));
	assert_false(mbr_sweep(&m2, 100 + N));
	assert_int_equal(aff_count(m2.aff), 0);
	mbr_free(&m2);
}

static void
test_health_changes_reach_the_sink_and_selection(void **state)
{
	struct backend *b = vm("vm2");
	size_t cap = fs.capacity;

	(void)state;
	mbr_check_result(&m, b, SSH, "ssh", 1, 2, false, "refused", 1, 5000);
	assert_int_equal(fs.health, 6);   /* only the ups of setup so far */
	assert_true(be_takes_new(b, JUP));   /* one failure of fall 2 */
	mbr_check_result(&m, b, SSH, "ssh", 1, 2, false, "refused", 1, 6000);
	assert_int_equal(fs.health, 7);
	assert_false(fs.last_up);
	assert_string_equal(fs.last_svc, "ssh");
	assert_string_equal(fs.last_why, "refused");
	assert_int_equal(b->health[SSH].failures, 2);
	/* Down for ssh: no new session of any service, affinity goes on. */
	assert_false(be_takes_new(b, JUP));
	assert_true(be_takes_affine(b, JUP));
	assert_consistent();
	mbr_check_result(&m, b, SSH, "ssh", 1, 2, true, NULL, 1, 7000);
	assert_true(fs.last_up);
	assert_true(fs.capacity > cap);   /* queued logins may go now */
	assert_true(be_takes_new(b, JUP));
	assert_consistent();
}

static void
test_admin_state_remove_and_reap(void **state)
{
	char err[160];
	struct backend *b = vm("vm3");
	char dir[] = "/tmp/pgtest-members-XXXXXX";

	(void)state;
	assert_non_null(mkdtemp(dir));
	mbr_set_state_dir(&m, dir);
	assert_int_equal(mbr_set_admin(&m, "vm3", BE_ADMIN_DRAIN, err,
	    sizeof(err)), 0);
	assert_false(be_takes_new(b, SSH));
	assert_int_equal(fs.note, 4);   /* 3 added + this one */
	assert_non_null(strstr(fs.last_note, "vm3: operator state ready -> drain"));
	assert_consistent();
	assert_int_equal(mbr_set_admin(&m, "nope", BE_ADMIN_DRAIN, err,
	    sizeof(err)), -1);
	assert_int_equal(mbr_set_admin(&m, "vm3", BE_ADMIN_READY, err,
	    sizeof(err)), 0);
	assert_consistent();

	/* Removed with a live session: drains, stays until the session ends. */
	assert_int_equal(mbr_session_start(&m, b, "ip:192.0.2.9", 8000), 0);
	assert_int_equal(mbr_remove(&m, BE_SRC_DNS, "vm3", err, sizeof(err)), -1);
	assert_int_equal(mbr_remove(&m, BE_SRC_API, "vm3", err, sizeof(err)), 0);
	assert_int_equal(fs.members[MBR_REMOVED], 1);
	assert_false(be_takes_new(b, SSH));
	assert_consistent();
	mbr_reap(&m);
	assert_int_equal(m.pool.n, 3);
	mbr_session_end(&m, b, "ip:192.0.2.9", 8001);
	mbr_reap(&m);
	assert_int_equal(fs.members[MBR_GONE], 1);
	assert_int_equal(m.pool.n, 2);
	assert_null(pool_find(&m.pool, "vm3"));
	assert_consistent();

	/* The API's VMs and operator states come back from state_dir. */
	assert_int_equal(mbr_set_admin(&m, "vm2", BE_ADMIN_MAINT, err,
	    sizeof(err)), 0);
	{
		struct fake_sink fs2;
		struct members m2;
		fs_init(&fs2);
		assert_int_equal(mbr_init(&m2, 100, 100, 1000, &fs2.sink), 0);
		mbr_set_state_dir(&m2, dir);
		mbr_load(&m2);
		assert_int_equal(m2.pool.n, 2);
		assert_int_equal(pool_find(&m2.pool, "vm2")->admin, BE_ADMIN_MAINT);
		assert_int_equal(pool_find(&m2.pool, "vm1")->source, BE_SRC_API);
		mbr_free(&m2);
	}
	{
		char path[200];
		snprintf(path, sizeof(path), "%s/%s", dir, MBR_FILE);
		unlink(path);
		rmdir(dir);
	}
}

static void
test_apply_file_adds_keeps_and_drains(void **state)
{
	struct cfg_backend list[2];
	int added, kept, removed;
	char err[160];

	(void)state;
	memset(list, 0, sizeof(list));
	snprintf(list[0].name, sizeof(list[0].name), "f1");
	assert_int_equal(cfg_parse_addr("10.0.1.1", false, &list[0].address), 0);
	list[0].address.text = "10.0.1.1";
	list[0].weight = 1;
	snprintf(list[1].name, sizeof(list[1].name), "f2");
	assert_int_equal(cfg_parse_addr("10.0.1.2", false, &list[1].address), 0);
	list[1].address.text = "10.0.1.2";
	list[1].weight = 3;
	assert_int_equal(mbr_apply_file(&m, list, 2, "t.conf", false, &added,
	    &kept, &removed), 0);
	assert_int_equal(added, 2);
	assert_int_equal(vm("f2")->source, BE_SRC_FILE);
	assert_consistent();
	/* f2 leaves the file: it drains; f1 keeps, with a new weight. */
	list[0].weight = 2;
	assert_int_equal(mbr_apply_file(&m, list, 1, "t.conf", true, &added,
	    &kept, &removed), 0);
	assert_int_equal(added, 0);
	assert_int_equal(kept, 1);
	assert_int_equal(removed, 1);
	assert_true(vm("f2")->removed);
	assert_int_equal(vm("f1")->weight, 2);
	/* The API's VMs are not the file's to remove. */
	assert_false(vm("vm1")->removed);
	mbr_reap(&m);
	assert_null(pool_find(&m.pool, "f2"));
	assert_consistent();
	/* The file takes a VM over from another source. */
	snprintf(list[1].name, sizeof(list[1].name), "vm2");
	assert_int_equal(mbr_apply_file(&m, list, 2, "t.conf", true, &added,
	    &kept, &removed), 0);
	assert_int_equal(vm("vm2")->source, BE_SRC_FILE);
	assert_int_equal(mbr_remove(&m, BE_SRC_API, "vm2", err, sizeof(err)), -1);
	assert_consistent();
}

static void
test_services_remapped(void **state)
{
	struct backend *b = vm("vm1");
	int map[3] = { JUP, -1, SSH };   /* jupyter first, a new one, ssh last */

	(void)state;
	b->health[JUP].checks = 42;
	mbr_set_services(&m, map, 3);
	assert_int_equal(b->nservices, 3);
	assert_int_equal(b->health[0].checks, 42);
	assert_false(b->health[1].hc.up);     /* new: down until checked */
	assert_false(be_takes_new(b, 0));     /* ...so no new session anywhere */
	assert_consistent();
	mbr_check_result(&m, b, 1, "new", 1, 1, true, NULL, 1, 9000);
	assert_true(be_takes_new(b, 0));
	assert_consistent();
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_upsert_tells_the_sink_and_validates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sessions_keep_counts_and_heaps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_jupyter_users_start_move_and_idle_out, setup, teardown),
		cmocka_unit_test_setup_teardown(test_health_changes_reach_the_sink_and_selection, setup, teardown),
		cmocka_unit_test(test_sweep_in_slices),
		cmocka_unit_test_setup_teardown(test_admin_state_remove_and_reap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_apply_file_adds_keeps_and_drains, setup, teardown),
		cmocka_unit_test_setup_teardown(test_services_remapped, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
