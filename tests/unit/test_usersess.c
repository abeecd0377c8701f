/*
 * test_usersess.c -- Jupyter sessions per user and VM, with an injected clock.
 *
 * The tests drive the table the way proxy code does: a small "caller" keeps
 * a load per VM, counting +1 on US_STARTED and -1 for every session the
 * table reports ended, so what is asserted is the load a user would see.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "backends/usersess.h"

#define IDLE 1000   /* session_idle in these tests, ms */
#define NVM  8

/* The caller's side: load per VM and a record of ended sessions. */
struct caller {
	struct us_table *t;
	char  vm[NVM][CFG_NAME_MAX + 1];
	int   load[NVM];
	int   nended;
	char  last_user[US_USER_MAX + 1];
	char  last_backend[CFG_NAME_MAX + 1];
};

static int *
load_of(struct caller *c, const char *vm)
{
	int i;

	for (i = 0; i < NVM && c->vm[i][0] != '\0'; i++)
		if (strcmp(c->vm[i], vm) == 0)
			return &c->load[i];
	assert_true(i < NVM);
	snprintf(c->vm[i], sizeof(c->vm[i]), "%s", vm);
	return &c->load[i];
}

static int
load(struct caller *c, const char *vm)
{
	return *load_of(c, vm);
}

static void
uncount(struct caller *c, const char *user, const char *vm)
{
	int *l = load_of(c, vm);

	assert_true(*l > 0);            /* an end never comes without a start */
	(*l)--;
	c->nended++;
	snprintf(c->last_user, sizeof(c->last_user), "%s", user);
	snprintf(c->last_backend, sizeof(c->last_backend), "%s", vm);
}

static void
on_end(const struct us_session *s, void *arg)
{
	uncount(arg, s->user, s->backend);
}

static struct caller *
caller(size_t max_users)
{
	struct caller *c = calloc(1, sizeof(*c));

	assert_non_null(c);
	c->t = us_new(max_users, IDLE);
	assert_non_null(c->t);
	return c;
}

static void
caller_free(struct caller *c)
{
	us_free(c->t);
	free(c);
}

/* A request, with its events applied to the caller's loads. */
static enum us_result
req(struct caller *c, const char *user, const char *vm, const char *addr,
    uint64_t now)
{
	struct us_ended e;
	enum us_result r;

	memset(&e, 0xa5, sizeof(e));    /* must be written */
	r = us_request(c->t, user, vm, addr, now, &e);
	assert_true(e.ended == true || e.ended == false);
	if (r != US_STARTED)
		assert_false(e.ended);
	if (e.ended)
		uncount(c, e.user, e.backend);
	if (r == US_STARTED)
		(*load_of(c, vm))++;
	return r;
}

static size_t
expire(struct caller *c, uint64_t now)
{
	return us_expire(c->t, now, on_end, c);
}

static const char *
sole(struct caller *c, const char *addr, uint64_t now)
{
	return us_sole_user_backend(c->t, addr, now);
}

static void
test_distinct_users_counted_once(void **state)
{
	struct caller *c = caller(100);
	int i;

	(void)state;
	assert_int_equal(req(c, "alice", "vm1", "10.0.0.7", 0), US_STARTED);
	for (i = 1; i <= 50; i++)
		assert_int_equal(req(c, "alice", "vm1", "10.0.0.7", i),
		    US_CONTINUED);
	assert_int_equal(req(c, "bob", "vm1", "10.0.0.8", 60), US_STARTED);
	assert_int_equal(req(c, "bob", "vm1", "10.0.0.8", 61), US_CONTINUED);
	assert_int_equal(req(c, "carol", "vm2", NULL, 62), US_STARTED);
	assert_int_equal(load(c, "vm1"), 2);
	assert_int_equal(load(c, "vm2"), 1);
	assert_int_equal(us_users_on(c->t, "vm1", 62), 2);
	assert_int_equal(us_users_on(c->t, "vm2", 62), 1);
	assert_int_equal(us_users_on(c->t, "vm3", 62), 0);
	assert_int_equal(us_count(c->t), 3);
	assert_int_equal(c->nended, 0);
	caller_free(c);
}

static void
test_idle_expiry_exact(void **state)
{
	struct caller *c = caller(100);

	(void)state;
	req(c, "alice", "vm1", "10.0.0.7", 100);
	req(c, "alice", "vm1", "10.0.0.7", 500);   /* restarts the timer */

	assert_int_equal(expire(c, 500 + IDLE - 1), 0);
	assert_int_equal(us_users_on(c->t, "vm1", 500 + IDLE - 1), 1);
	assert_string_equal(sole(c, "10.0.0.7", 500 + IDLE - 1), "vm1");
	assert_int_equal(load(c, "vm1"), 1);

	/* At exactly session_idle it has ended, even before the sweep. */
	assert_int_equal(us_users_on(c->t, "vm1", 500 + IDLE), 0);
	assert_null(sole(c, "10.0.0.7", 500 + IDLE));
	assert_int_equal(expire(c, 500 + IDLE), 1);
	assert_int_equal(c->nended, 1);
	assert_string_equal(c->last_user, "alice");
	assert_string_equal(c->last_backend, "vm1");
	assert_int_equal(load(c, "vm1"), 0);
	assert_int_equal(us_count(c->t), 0);

	/* Fired once: later sweeps find nothing. */
	assert_int_equal(expire(c, 500 + 10 * IDLE), 0);
	assert_int_equal(c->nended, 1);

	/* Coming back starts a new session. */
	assert_int_equal(req(c, "alice", "vm1", NULL, 20000), US_STARTED);
	assert_int_equal(load(c, "vm1"), 1);
	caller_free(c);
}

static void
test_lapsed_unswept_restarts_once(void **state)
{
	struct caller *c = caller(100);

	(void)state;
	req(c, "alice", "vm1", NULL, 0);
	/* Idled out, no sweep yet: the old session ends, a new one starts. */
	assert_int_equal(req(c, "alice", "vm1", NULL, IDLE), US_STARTED);
	assert_int_equal(c->nended, 1);
	assert_int_equal(load(c, "vm1"), 1);
	/* The sweep must not end the old one a second time. */
	assert_int_equal(expire(c, IDLE + 1), 0);
	assert_int_equal(load(c, "vm1"), 1);
	assert_int_equal(expire(c, 2 * IDLE), 1);
	assert_int_equal(load(c, "vm1"), 0);
	caller_free(c);
}

static void
test_expiry_order_mixed(void **state)
{
	struct caller *c = caller(100);

	(void)state;
	req(c, "a", "vm1", NULL, 0);
	req(c, "b", "vm1", NULL, 100);
	req(c, "c", "vm2", NULL, 200);
	req(c, "a", "vm1", NULL, 300);          /* a is now the most recent */
	assert_int_equal(expire(c, 100 + IDLE), 1);
	assert_string_equal(c->last_user, "b");
	assert_int_equal(expire(c, 200 + IDLE), 1);
	assert_string_equal(c->last_user, "c");
	assert_int_equal(expire(c, 300 + IDLE - 1), 0);
	assert_int_equal(expire(c, 300 + IDLE), 1);
	assert_string_equal(c->last_user, "a");
	caller_free(c);
}

static void
test_websocket_keeps_active(void **state)
{
	struct caller *c = caller(100);
	uint64_t id;

	(void)state;
	req(c, "alice", "vm1", "10.0.0.7", 0);
	id = us_ws_open(c->t, "alice", "vm1", 10);
	assert_true(id != 0);
	assert_int_equal(expire(c, 100 * IDLE), 0);
	assert_int_equal(us_users_on(c->t, "vm1", 100 * IDLE), 1);
	assert_string_equal(sole(c, "10.0.0.7", 100 * IDLE), "vm1");
	assert_int_equal(load(c, "vm1"), 1);
	/* A request while the websocket is open continues the session. */
	assert_int_equal(req(c, "alice", "vm1", NULL, 100 * IDLE), US_CONTINUED);
	assert_int_equal(expire(c, 1000 * IDLE), 0);

	/* No websocket without a live session on that VM. */
	assert_int_equal(us_ws_open(c->t, "alice", "vm2", 10), 0);
	assert_int_equal(us_ws_open(c->t, "bob", "vm1", 10), 0);
	assert_int_equal(us_ws_open(c->t, NULL, "vm1", 10), 0);
	caller_free(c);
}

static void
test_last_websocket_close_restarts_idle(void **state)
{
	struct caller *c = caller(100);
	uint64_t a, b;

	(void)state;
	req(c, "alice", "vm1", NULL, 0);
	a = us_ws_open(c->t, "alice", "vm1", 0);
	b = us_ws_open(c->t, "alice", "vm1", 0);
	assert_true(a != 0 && a == b);          /* one session, one id */

	us_ws_close(c->t, "alice", a, 5000);
	assert_int_equal(expire(c, 50000), 0);  /* one still open */

	us_ws_close(c->t, "alice", b, 60000);
	assert_int_equal(expire(c, 60000 + IDLE - 1), 0);
	assert_int_equal(us_users_on(c->t, "vm1", 60000 + IDLE - 1), 1);
	assert_int_equal(expire(c, 60000 + IDLE), 1);
	assert_int_equal(load(c, "vm1"), 0);

	/* A close with nothing open, or of a gone session, is ignored. */
	us_ws_close(c->t, "alice", a, 70000);
	assert_int_equal(us_count(c->t), 0);
	caller_free(c);
}

/* The VM of a user's live session, as routing asks for it. */
static void
test_user_backend(void **state)
{
	struct caller *c = caller(100);
	char longname[US_USER_MAX + 2];
	uint64_t id;

	(void)state;
	assert_null(us_user_backend(c->t, "alice", 0));
	req(c, "alice", "vm1", "10.0.0.7", 0);
	assert_string_equal(us_user_backend(c->t, "alice", 0), "vm1");
	assert_string_equal(us_user_backend(c->t, "alice", IDLE - 1), "vm1");
	/* Idled out, swept or not: no live session. */
	assert_null(us_user_backend(c->t, "alice", IDLE));
	assert_int_equal(expire(c, IDLE), 1);
	assert_null(us_user_backend(c->t, "alice", IDLE));
	/* Moved: the new VM only. */
	req(c, "alice", "vm1", NULL, 2 * IDLE);
	req(c, "alice", "vm2", NULL, 2 * IDLE + 1);
	assert_string_equal(us_user_backend(c->t, "alice", 2 * IDLE + 1), "vm2");
	/* A websocket keeps it live past session_idle. */
	id = us_ws_open(c->t, "alice", "vm2", 2 * IDLE + 2);
	assert_true(id != 0);
	assert_string_equal(us_user_backend(c->t, "alice", 50 * IDLE), "vm2");
	us_ws_close(c->t, "alice", id, 50 * IDLE);
	assert_null(us_user_backend(c->t, "alice", 51 * IDLE));
	/* Others, and names that are no user, have none. */
	assert_null(us_user_backend(c->t, "bob", 0));
	assert_null(us_user_backend(c->t, NULL, 0));
	assert_null(us_user_backend(c->t, "", 0));
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_null(us_user_backend(c->t, longname, 0));
	caller_free(c);
}

static void
test_user_moving_ends_old_session(void **state)
{
	struct caller *c = caller(100);
	uint64_t old_ws, new_ws;

	(void)state;
	req(c, "alice", "vm1", "10.0.0.7", 0);
	old_ws = us_ws_open(c->t, "alice", "vm1", 0);
	assert_true(old_ws != 0);

	/* vm1 went away; the user is routed to vm2: vm1's session ends now. */
	assert_int_equal(req(c, "alice", "vm2", "10.0.0.7", 100), US_STARTED);
	assert_int_equal(c->nended, 1);
	assert_string_equal(c->last_user, "alice");
	assert_string_equal(c->last_backend, "vm1");
	assert_int_equal(load(c, "vm1"), 0);
	assert_int_equal(load(c, "vm2"), 1);
	assert_int_equal(us_users_on(c->t, "vm1", 100), 0);
	assert_int_equal(us_users_on(c->t, "vm2", 100), 1);
	assert_string_equal(sole(c, "10.0.0.7", 100), "vm2");
	assert_int_equal(us_count(c->t), 1);

	/* And back to vm1, with a websocket there. */
	assert_int_equal(req(c, "alice", "vm1", NULL, 200), US_STARTED);
	assert_string_equal(c->last_backend, "vm2");
	new_ws = us_ws_open(c->t, "alice", "vm1", 200);
	assert_true(new_ws != 0 && new_ws != old_ws);
	/* The first session's websocket closing does not touch this one. */
	us_ws_close(c->t, "alice", old_ws, 300);
	assert_int_equal(expire(c, 100 * IDLE), 0);
	assert_int_equal(load(c, "vm1"), 1);
	us_ws_close(c->t, "alice", new_ws, 100 * IDLE);
	assert_int_equal(expire(c, 101 * IDLE), 1);
	assert_int_equal(load(c, "vm1"), 0);
	assert_int_equal(load(c, "vm2"), 0);
	caller_free(c);
}

static void
test_sole_user(void **state)
{
	struct caller *c = caller(100);

	(void)state;
	assert_null(sole(c, "10.0.0.7", 0));            /* nobody */
	req(c, "alice", "vm1", "10.0.0.7", 0);
	assert_string_equal(sole(c, "10.0.0.7", 0), "vm1");
	assert_null(sole(c, "10.0.0.70", 0));
	assert_null(sole(c, "10.0.0.", 0));
	assert_null(sole(c, NULL, 0));
	assert_null(sole(c, "", 0));

	/* Bob, elsewhere: alice is still alone at 10.0.0.7. */
	req(c, "bob", "vm2", "10.0.0.8", 100);
	assert_string_equal(sole(c, "10.0.0.7", 100), "vm1");
	assert_string_equal(sole(c, "10.0.0.8", 100), "vm2");

	/* Bob from the same address too: two users, no answer. */
	req(c, "bob", "vm2", "10.0.0.7", 500);
	assert_null(sole(c, "10.0.0.7", 500));
	assert_string_equal(sole(c, "10.0.0.8", 500), "vm2");

	/* Alice idles out (swept or not): bob alone again. */
	assert_string_equal(sole(c, "10.0.0.7", IDLE), "vm2");
	assert_int_equal(expire(c, IDLE), 1);
	assert_string_equal(sole(c, "10.0.0.7", IDLE), "vm2");
	assert_null(sole(c, "10.0.0.7", 500 + IDLE));
	caller_free(c);
}

static void
test_sole_user_recent_addresses(void **state)
{
	struct caller *c = caller(100);
	char addr[32];
	int i;

	(void)state;
	/* Seen from 10.0.0.1 .. 10.0.0.US_ADDRS, then 10.0.0.1 again. */
	for (i = 1; i <= US_ADDRS; i++) {
		snprintf(addr, sizeof(addr), "10.0.0.%d", i);
		req(c, "alice", "vm1", addr, (uint64_t)i);
	}
	req(c, "alice", "vm1", "10.0.0.1", 10);
	/* A new address pushes out the least recent one, 10.0.0.2. */
	req(c, "alice", "vm1", "192.0.2.1", 20);
	assert_null(sole(c, "10.0.0.2", 20));
	assert_string_equal(sole(c, "10.0.0.1", 20), "vm1");
	assert_string_equal(sole(c, "192.0.2.1", 20), "vm1");
	for (i = 3; i <= US_ADDRS; i++) {
		snprintf(addr, sizeof(addr), "10.0.0.%d", i);
		assert_string_equal(sole(c, addr, 20), "vm1");
	}
	/* Too long to remember: served, counted, not remembered. */
	{
		char longaddr[US_ADDR_MAX + 2];

		memset(longaddr, '1', sizeof(longaddr) - 1);
		longaddr[sizeof(longaddr) - 1] = '\0';
		assert_int_equal(req(c, "bob", "vm2", longaddr, 30), US_STARTED);
		assert_null(sole(c, longaddr, 30));
		longaddr[US_ADDR_MAX] = '\0';   /* at the limit: kept */
		req(c, "bob", "vm2", longaddr, 31);
		assert_string_equal(sole(c, longaddr, 31), "vm2");
	}
	caller_free(c);
}

static void
test_capacity_cap(void **state)
{
	struct caller *c = caller(2);
	struct us_ended e;
	uint64_t ws;

	(void)state;
	assert_int_equal(req(c, "alice", "vm1", "10.0.0.7", 0), US_STARTED);
	assert_int_equal(req(c, "bob", "vm1", NULL, 100), US_STARTED);
	assert_int_equal(req(c, "carol", "vm2", "10.0.0.9", 200), US_FULL);
	assert_int_equal(us_count(c->t), 2);
	assert_int_equal(load(c, "vm2"), 0);
	assert_null(sole(c, "10.0.0.9", 200));
	/* Known users go on while full. */
	assert_int_equal(req(c, "alice", "vm1", NULL, 300), US_CONTINUED);
	assert_int_equal(req(c, "bob", "vm2", NULL, 400), US_STARTED);
	assert_int_equal(load(c, "vm1"), 1);

	/* Alice's session is held by a websocket: still no room. */
	ws = us_ws_open(c->t, "alice", "vm1", 400);
	assert_true(ws != 0);
	assert_int_equal(req(c, "carol", "vm2", NULL, 400 + IDLE - 1), US_FULL);
	/* Bob idled out (unswept): his place goes to carol, his end reported. */
	assert_int_equal(req(c, "carol", "vm2", "10.0.0.9", 400 + IDLE),
	    US_STARTED);
	assert_int_equal(c->nended, 2);         /* bob's move, then bob */
	assert_string_equal(c->last_user, "bob");
	assert_string_equal(c->last_backend, "vm2");
	assert_int_equal(load(c, "vm2"), 1);
	assert_int_equal(us_count(c->t), 2);
	assert_string_equal(sole(c, "10.0.0.9", 400 + IDLE), "vm2");
	assert_int_equal(us_users_on(c->t, "vm2", 400 + IDLE), 1);
	assert_int_equal(expire(c, 400 + IDLE), 0);

	/* max_users 0 refuses everyone; bad arguments change nothing. */
	{
		struct us_table *t0 = us_new(0, IDLE);

		assert_non_null(t0);
		assert_int_equal(us_request(t0, "alice", "vm1", NULL, 0, &e),
		    US_FULL);
		assert_false(e.ended);
		assert_int_equal(us_count(t0), 0);
		us_free(t0);
	}
	caller_free(c);
}

static void
test_invalid_arguments(void **state)
{
	struct caller *c = caller(10);
	char user[US_USER_MAX + 2], be[CFG_NAME_MAX + 2];

	(void)state;
	memset(user, 'a', sizeof(user) - 1);
	user[sizeof(user) - 1] = '\0';
	memset(be, 'v', sizeof(be) - 1);
	be[sizeof(be) - 1] = '\0';
	assert_int_equal(req(c, NULL, "vm1", NULL, 0), US_INVALID);
	assert_int_equal(req(c, "", "vm1", NULL, 0), US_INVALID);
	assert_int_equal(req(c, user, "vm1", NULL, 0), US_INVALID);
	assert_int_equal(req(c, "alice", NULL, NULL, 0), US_INVALID);
	assert_int_equal(req(c, "alice", "", NULL, 0), US_INVALID);
	assert_int_equal(req(c, "alice", be, NULL, 0), US_INVALID);
	assert_int_equal(us_count(c->t), 0);
	/* At the limits: accepted. */
	user[US_USER_MAX] = '\0';
	be[CFG_NAME_MAX] = '\0';
	assert_int_equal(req(c, user, be, NULL, 0), US_STARTED);
	assert_int_equal(us_users_on(c->t, be, 0), 1);
	assert_true(us_ws_open(c->t, user, be, 0) != 0);
	caller_free(c);
}

static void
test_forget_backend(void **state)
{
	struct caller *c = caller(100);
	uint64_t ws;

	(void)state;
	req(c, "alice", "vm1", "10.0.0.7", 0);
	req(c, "bob", "vm1", "10.0.0.8", 0);
	req(c, "carol", "vm2", "10.0.0.7", 0);
	ws = us_ws_open(c->t, "alice", "vm1", 0);
	assert_null(sole(c, "10.0.0.7", 0));

	assert_int_equal(us_forget_backend(c->t, "vm1", on_end, c), 2);
	assert_int_equal(c->nended, 2);
	assert_int_equal(load(c, "vm1"), 0);
	assert_int_equal(load(c, "vm2"), 1);
	assert_int_equal(us_users_on(c->t, "vm1", 0), 0);
	assert_int_equal(us_count(c->t), 1);
	/* Alice's address now has only carol. */
	assert_string_equal(sole(c, "10.0.0.7", 0), "vm2");
	assert_null(sole(c, "10.0.0.8", 0));
	/* Alice's websocket closing later is ignored. */
	us_ws_close(c->t, "alice", ws, 10);
	assert_int_equal(us_count(c->t), 1);
	/* Alice comes back: a fresh session, nothing else ends. */
	assert_int_equal(req(c, "alice", "vm2", NULL, 20), US_STARTED);
	assert_int_equal(c->nended, 2);
	assert_int_equal(load(c, "vm2"), 2);
	assert_int_equal(us_forget_backend(c->t, "vm9", NULL, NULL), 0);
	assert_int_equal(us_forget_backend(c->t, "vm2", NULL, NULL), 2);
	assert_int_equal(us_count(c->t), 0);
	caller_free(c);
}

struct seen {
	int  n;
	char users[8][US_USER_MAX + 1];
	uint32_t ws[8];
	uint64_t last[8];
};

static void
collect(const struct us_session *s, void *arg)
{
	struct seen *v = arg;

	assert_true(v->n < 8);
	snprintf(v->users[v->n], sizeof(v->users[v->n]), "%s", s->user);
	v->ws[v->n] = s->ws;
	v->last[v->n] = s->last_seen_ms;
	assert_true(s->id != 0);
	v->n++;
}

static void
test_foreach_and_set_idle(void **state)
{
	struct caller *c = caller(100);
	struct seen v;
	int i, found = 0;

	(void)state;
	req(c, "alice", "vm1", NULL, 0);
	req(c, "bob", "vm1", NULL, 600);
	us_ws_open(c->t, "bob", "vm1", 600);
	req(c, "carol", "vm2", NULL, 700);

	memset(&v, 0, sizeof(v));
	us_foreach(c->t, IDLE, collect, &v);    /* alice idled out, unswept */
	assert_int_equal(v.n, 2);
	for (i = 0; i < v.n; i++) {
		if (strcmp(v.users[i], "bob") == 0) {
			assert_int_equal(v.ws[i], 1);
			assert_int_equal(v.last[i], 600);
			found++;
		} else {
			assert_string_equal(v.users[i], "carol");
			assert_int_equal(v.ws[i], 0);
			assert_int_equal(v.last[i], 700);
			found++;
		}
	}
	assert_int_equal(found, 2);

	/* A shorter session_idle applies to running sessions at once. */
	us_set_idle(c->t, 100);
	assert_int_equal(expire(c, 800), 2);    /* alice and carol */
	assert_int_equal(load(c, "vm2"), 0);
	assert_int_equal(load(c, "vm1"), 1);    /* bob, by his websocket */
	caller_free(c);
}

static void
test_clock_backwards(void **state)
{
	struct caller *c = caller(100);

	(void)state;
	req(c, "alice", "vm1", NULL, 5000);
	req(c, "bob", "vm1", NULL, 100);        /* clock went back: stamped 5000 */
	/* Bob is not idle from 100: he was seen at the latest clock, 5000. */
	assert_int_equal(us_users_on(c->t, "vm1", 100 + IDLE), 2);
	assert_int_equal(expire(c, 100 + IDLE), 0);
	assert_int_equal(expire(c, 5000 + IDLE - 1), 0);
	assert_int_equal(expire(c, 5000 + IDLE), 2);
	caller_free(c);
}

/* Live users on vm counted the old way: a walk over every session. */
struct walk {
	const char *vm;
	size_t      n;
};

static void
walk_one(const struct us_session *s, void *arg)
{
	struct walk *w = arg;

	if (strcmp(s->backend, w->vm) == 0)
		w->n++;
}

static size_t
walk_users_on(struct caller *c, const char *vm, uint64_t now)
{
	struct walk w = { vm, 0 };

	us_foreach(c->t, now, walk_one, &w);
	return w.n;
}

/* us_foreach_on: the sessions it shows, all on vm. */
struct on_vm {
	const char *vm;
	size_t      n;
	char        users[8][US_USER_MAX + 1];
};

static void
collect_on(const struct us_session *s, void *arg)
{
	struct on_vm *o = arg;

	assert_string_equal(s->backend, o->vm);
	assert_true(o->n < 8);
	snprintf(o->users[o->n++], sizeof(o->users[0]), "%s", s->user);
}

static bool
listed(const struct on_vm *o, const char *user)
{
	for (size_t i = 0; i < o->n; i++)
		if (strcmp(o->users[i], user) == 0)
			return true;
	return false;
}

static size_t
foreach_on(struct caller *c, const char *vm, uint64_t now, struct on_vm *o)
{
	memset(o, 0, sizeof(*o));
	o->vm = vm;
	us_foreach_on(c->t, vm, now, collect_on, o);
	return o->n;
}

/* Both ways of counting agree, and us_foreach_on lists that many. */
static void
assert_on(struct caller *c, const char *vm, uint64_t now, size_t want)
{
	struct on_vm o;

	assert_int_equal(us_users_on(c->t, vm, now), want);
	assert_int_equal(walk_users_on(c, vm, now), want);
	assert_int_equal(foreach_on(c, vm, now, &o), want);
}

/*
 * The per-VM count is kept as sessions start, move and end: through every
 * path it equals what a walk over all users gives, live users only.
 */
static void
test_users_on_every_path(void **state)
{
	struct caller *c = caller(100);
	struct on_vm o;
	uint64_t id;

	(void)state;
	/* start */
	req(c, "alice", "vm1", NULL, 0);
	req(c, "bob", "vm1", NULL, 10);
	assert_on(c, "vm1", 10, 2);
	assert_on(c, "vm2", 10, 0);
	foreach_on(c, "vm1", 10, &o);
	assert_true(listed(&o, "alice") && listed(&o, "bob"));
	/* continue: no change */
	assert_int_equal(req(c, "bob", "vm1", NULL, 20), US_CONTINUED);
	assert_on(c, "vm1", 20, 2);
	/* move */
	assert_int_equal(req(c, "alice", "vm2", NULL, 30), US_STARTED);
	assert_on(c, "vm1", 30, 1);
	assert_on(c, "vm2", 30, 1);
	foreach_on(c, "vm2", 30, &o);
	assert_true(listed(&o, "alice") && !listed(&o, "bob"));
	/* a websocket keeps bob live past session_idle ... */
	id = us_ws_open(c->t, "bob", "vm1", 40);
	assert_true(id != 0);
	assert_on(c, "vm1", 40 + 5 * IDLE, 1);
	/* ... while alice idled out: not counted though not swept */
	assert_on(c, "vm2", 30 + IDLE - 1, 1);
	assert_on(c, "vm2", 30 + IDLE, 0);
	/* the websocket closes: bob's idle time starts there */
	us_ws_close(c->t, "bob", id, 5000);
	assert_on(c, "vm1", 5000 + IDLE - 1, 1);
	assert_on(c, "vm1", 5000 + IDLE, 0);
	/* expire: both end, the counts stay 0 */
	assert_int_equal(expire(c, 5000 + IDLE), 2);
	assert_on(c, "vm1", 5000 + IDLE, 0);
	assert_on(c, "vm2", 5000 + IDLE, 0);
	assert_int_equal(us_count(c->t), 0);
	/* a VM emptied and used again */
	req(c, "carol", "vm1", NULL, 7000);
	assert_on(c, "vm1", 7000, 1);
	/* back on the same VM after idling out, unswept: one session */
	assert_int_equal(req(c, "carol", "vm1", NULL, 7000 + IDLE), US_STARTED);
	assert_int_equal(c->nended, 4);         /* moved, two expired, this */
	assert_string_equal(c->last_user, "carol");
	assert_on(c, "vm1", 7000 + IDLE, 1);
	/* forget_backend: only that VM's users go, websockets or not */
	req(c, "dave", "vm3", NULL, 8500);
	req(c, "erin", "vm3", NULL, 8500);
	req(c, "fred", "vm4", NULL, 8500);
	assert_true(us_ws_open(c->t, "dave", "vm3", 8500) != 0);
	assert_on(c, "vm3", 8500, 2);
	assert_int_equal(us_forget_backend(c->t, "vm3", on_end, c), 2);
	assert_on(c, "vm3", 8500, 0);
	assert_on(c, "vm4", 8500, 1);
	assert_on(c, "vm1", 8500, 1);
	assert_int_equal(us_forget_backend(c->t, "vm3", on_end, c), 0);
	/* the forgotten VM comes back */
	req(c, "dave", "vm3", NULL, 8600);
	assert_on(c, "vm3", 8600, 1);
	/* NULL, empty, too long: nobody */
	assert_int_equal(us_users_on(c->t, NULL, 8600), 0);
	assert_int_equal(us_users_on(c->t, "", 8600), 0);
	assert_int_equal(foreach_on(c, NULL, 8600, &o), 0);
	caller_free(c);
}

/* Reclaiming an idled-out user for a new one moves the count too. */
static void
test_users_on_reclaim_and_full(void **state)
{
	struct caller *c = caller(2);

	(void)state;
	req(c, "g1", "vm1", NULL, 0);
	req(c, "g2", "vm2", NULL, 0);
	assert_int_equal(req(c, "g3", "vm1", NULL, 10), US_FULL);
	assert_on(c, "vm1", 10, 1);
	/* g1 idled out: g3 takes its place, on g1's own VM */
	assert_int_equal(req(c, "g3", "vm1", NULL, IDLE), US_STARTED);
	assert_on(c, "vm1", IDLE, 1);
	assert_on(c, "vm2", IDLE, 0);           /* g2 idled out too */
	/* g2's place, for a VM nobody used yet */
	assert_int_equal(req(c, "g4", "vm9", NULL, IDLE), US_STARTED);
	assert_on(c, "vm9", IDLE, 1);
	assert_on(c, "vm2", IDLE, 0);
	assert_int_equal(us_count(c->t), 2);
	assert_int_equal(load(c, "vm2"), 0);
	caller_free(c);
}

/*
 * Many users, addresses and VMs, against a plain model: exercises bucket
 * growth of both hash tables and reclaiming under a cap.
 */
#define MANY 3000

static void
count_one(const struct us_session *s, void *arg)
{
	(void)s;
	(*(size_t *)arg)++;
}
struct model {
	int      vm;           /* -1: no session */
	uint64_t last;
	int      addr;         /* the one address this user is seen from */
};

static void
test_many_against_model(void **state)
{
	struct caller *c = caller(MANY);
	struct model *m = calloc(MANY, sizeof(*m));
	char user[32], vm[16], addr[48];
	uint64_t now = 0;
	unsigned seed = 12345;
	int i, step, users_live, vmload[4];

	(void)state;
	assert_non_null(m);
	for (i = 0; i < MANY; i++)
		m[i].vm = -1;
	for (step = 0; step < 40000; step++) {
		int u, v;

		seed = seed * 1103515245u + 12345u;
		u = (int)((seed >> 8) % MANY);
		v = (int)((seed >> 20) % 4);
		now += (seed >> 4) % 3;
		snprintf(user, sizeof(user), "user%d", u);
		snprintf(vm, sizeof(vm), "vm%d", v);
		/* Each user always comes from one IPv6 address of its own. */
		snprintf(addr, sizeof(addr), "2001:db8::%x", u);
		if (m[u].vm >= 0 && now >= m[u].last + IDLE)
			m[u].vm = -1;
		assert_int_equal(req(c, user, vm, addr, now),
		    m[u].vm == v ? US_CONTINUED : US_STARTED);
		m[u].vm = v;
		m[u].last = now;
		if (step % 1000 == 0)
			expire(c, now);
		if (step % 997 == 0)
			for (i = 0; i < 4; i++) {
				snprintf(vm, sizeof(vm), "vm%d", i);
				assert_int_equal(us_users_on(c->t, vm, now),
				    walk_users_on(c, vm, now));
			}
	}
	users_live = 0;
	memset(vmload, 0, sizeof(vmload));
	for (i = 0; i < MANY; i++) {
		if (m[i].vm < 0 || now >= m[i].last + IDLE)
			continue;
		users_live++;
		vmload[m[i].vm]++;
		snprintf(addr, sizeof(addr), "2001:db8::%x", i);
		snprintf(vm, sizeof(vm), "vm%d", m[i].vm);
		assert_string_equal(sole(c, addr, now), vm);
	}
	/* before the sweep: idled-out users not counted, live ones are */
	for (i = 0; i < 4; i++) {
		size_t k = 0;

		snprintf(vm, sizeof(vm), "vm%d", i);
		assert_int_equal(us_users_on(c->t, vm, now), vmload[i]);
		us_foreach_on(c->t, vm, now, count_one, &k);
		assert_int_equal(k, vmload[i]);
	}
	expire(c, now);
	assert_int_equal(us_count(c->t), users_live);
	for (i = 0; i < 4; i++) {
		snprintf(vm, sizeof(vm), "vm%d", i);
		assert_int_equal(load(c, vm), vmload[i]);
		assert_int_equal(us_users_on(c->t, vm, now), vmload[i]);
	}
	assert_int_equal(expire(c, now + IDLE), users_live);
	assert_int_equal(us_count(c->t), 0);
	for (i = 0; i < 4; i++) {
		snprintf(vm, sizeof(vm), "vm%d", i);
		assert_int_equal(load(c, vm), 0);
	}
	free(m);
	caller_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_distinct_users_counted_once),
		cmocka_unit_test(test_idle_expiry_exact),
		cmocka_unit_test(test_lapsed_unswept_restarts_once),
		cmocka_unit_test(test_expiry_order_mixed),
		cmocka_unit_test(test_websocket_keeps_active),
		cmocka_unit_test(test_last_websocket_close_restarts_idle),
		cmocka_unit_test(test_user_moving_ends_old_session),
		cmocka_unit_test(test_user_backend),
		cmocka_unit_test(test_sole_user),
		cmocka_unit_test(test_sole_user_recent_addresses),
		cmocka_unit_test(test_capacity_cap),
		cmocka_unit_test(test_invalid_arguments),
		cmocka_unit_test(test_forget_backend),
		cmocka_unit_test(test_foreach_and_set_idle),
		cmocka_unit_test(test_users_on_every_path),
		cmocka_unit_test(test_users_on_reclaim_and_full),
		cmocka_unit_test(test_clock_backwards),
		cmocka_unit_test(test_many_against_model),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
