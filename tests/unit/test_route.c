/*
 * test_route.c -- the routing order for one request or connection.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "backends/route.h"

#define SVC 0
#define TTL 1000

struct fix {
	struct pool       p;
	struct aff_table *aff;
};

/* vm1..vm4, weight 1, no cap, up for SVC; sessions 0, 1, 2, 3. */
static int
setup(void **state)
{
	static struct fix f;
	struct cfg_backend cb;
	struct backend *b;
	int i;

	pool_init(&f.p);
	for (i = 1; i <= 4; i++) {
		memset(&cb, 0, sizeof(cb));
		snprintf(cb.name, sizeof(cb.name), "vm%d", i);
		cb.address.text = "10.0.0.4";
		cb.weight = 1;
		b = pool_add(&f.p, &cb);
		if (b == NULL)
			return -1;
		b->health[SVC].hc.up = true;
		b->sessions = i - 1;
	}
	f.aff = aff_new(100, TTL);
	if (f.aff == NULL)
		return -1;
	*state = &f;
	return 0;
}

static int
teardown(void **state)
{
	struct fix *f = *state;

	aff_free(f->aff);
	pool_clear(&f->p);
	return 0;
}

static struct backend *
vm(struct fix *f, const char *name)
{
	struct backend *b = pool_find(&f->p, name);

	assert_non_null(b);
	return b;
}

/* Route with the fixture; returns the chosen name or NULL, and *why. */
static const char *
pick(struct fix *f, const struct route_in *in, struct backend *const *tried,
    size_t ntried, enum route_why *why)
{
	struct backend *b;

	*why = (enum route_why)-1;
	b = route_pick(&f->p, SVC, f->aff, in, 0, tried, ntried, why);
	if (b == NULL)
		assert_int_equal(*why, ROUTE_NONE);
	return b != NULL ? b->name : NULL;
}

static void
test_user_affinity(void **state)
{
	struct fix *f = *state;
	struct route_in in = { .user = "alice" };
	enum route_why why;
	uint64_t turn;

	assert_int_equal(aff_session_start(f->aff, "user:alice", "vm3", 0), 0);
	turn = f->p.turn;
	assert_string_equal(pick(f, &in, NULL, 0, &why), "vm3");
	assert_int_equal(why, ROUTE_USER);
	assert_true(f->p.turn == turn);         /* not a turn */
	/* Another user, no affinity: least loaded. */
	in.user = "bob";
	assert_string_equal(pick(f, &in, NULL, 0, &why), "vm1");
	assert_int_equal(why, ROUTE_LOAD);
	/* An expired user affinity is not used. */
	aff_session_end(f->aff, "user:alice", "vm3", 0);
	in.user = "alice";
	assert_string_equal(route_pick(&f->p, SVC, f->aff, &in, TTL - 1, NULL,
	    0, &why)->name, "vm3");
	assert_string_equal(route_pick(&f->p, SVC, f->aff, &in, TTL, NULL, 0,
	    &why)->name, "vm1");
	assert_int_equal(why, ROUTE_LOAD);
}

static void
test_user_beats_disagreeing_cookie(void **state)
{
	struct fix *f = *state;
	struct route_in in = { .user = "alice", .cookie_backend = "vm4",
	    .cookie_user = "alice", .sole_user_backend = "vm2",
	    .ip_key = "ip:10.0.0.7" };
	enum route_why why;

	aff_session_start(f->aff, "user:alice", "vm3", 0);
	aff_session_start(f->aff, "ip:10.0.0.7", "vm2", 0);
	assert_string_equal(pick(f, &in, NULL, 0, &why), "vm3");
	assert_int_equal(why, ROUTE_USER);
	/* The user's VM is down: the cookie is the next clue. */
	vm(f, "vm3")->health[SVC].hc.up = false;
	pool_touch(&f->p, vm(f, "vm3"));
	assert_string_equal(pick(f, &in, NULL, 0, &why), "vm4");
	assert_int_equal(why, ROUTE_COOKIE);
}

static void
test_cookie_when_user_unknown(void **state)
{
	struct fix *f = *state;
	struct route_in in = { .user = "alice", .cookie_backend = "vm4",
	    .cookie_user = "alice" };
	enum route_why why;

	/* Known user, no affinity yet: the cookie brings them back. */
	assert_string_equal(pick(f, &in, NULL, 0, &why), "vm4");
	assert_int_equal(why, ROUTE_COOKIE);
	/* No user in the request (e.g. /hub/home): the cookie's user's. */
	in.user = NULL;
	assert_string_equal(pick(f, &in, NULL, 0, &why), "vm4");
	assert_int_equal(why, ROUTE_COOKIE);
	/* A cookie naming a VM that is not in the pool. */
	in.cookie_backend = "vm9";
	assert_string_equal(pick(f, &in, NULL, 0, &why), "vm1");
	assert_int_equal(why, ROUTE_LOAD);
}

static void
test_cookie_down_or_maint_ignored(void **state)
{
	struct fix *f = *state;
	struct route_in in = { .cookie_backend = "vm4" };
	enum route_why why;

	vm(f, "vm4")->health[SVC].hc.up = false;
	pool_touch(&f->p, vm(f, "vm4"));
	assert_string_equal(pick(f, &in, NULL, 0, &why), "vm1");
	assert_int_equal(why, ROUTE_LOAD);
	vm(f, "vm4")->health[SVC].hc.up = true;
	vm(f, "vm4")->admin = BE_ADMIN_MAINT;
	pool_touch(&f->p, vm(f, "vm4"));
	assert_string_equal(pick(f, &in, NULL, 0, &why), "vm1");
	assert_int_equal(why, ROUTE_LOAD);
	/* Down for another service only: still fine for this one. */
	vm(f, "vm4")->admin = BE_ADMIN_READY;
	vm(f, "vm4")->health[SVC + 1].hc.up = false;
	pool_touch(&f->p, vm(f, "vm4"));
	assert_string_equal(pick(f, &in, NULL, 0, &why), "vm4");
	assert_int_equal(why, ROUTE_COOKIE);
}

/* Drain or max_sessions on vm4, as `what` says; undone by undo(). */
static void
make_unwelcoming(struct fix *f, const char *what)
{
	struct backend *b = vm(f, "vm4");

	if (strcmp(what, "drain") == 0)
		b->admin = BE_ADMIN_DRAIN;
	else if (strcmp(what, "removed") == 0)
		b->removed = true;             /* leaving the pool: drains */
	else if (strcmp(what, "agent-drain") == 0)
		b->agent_admin = BE_ADMIN_DRAIN;
	else
		b->max_sessions = 3;           /* at its cap (3 sessions) */
	pool_touch(&f->p, b);
}

static void
undo(struct fix *f)
{
	struct backend *b = vm(f, "vm4");

	b->admin = b->agent_admin = BE_ADMIN_READY;
	b->removed = false;
	b->max_sessions = 0;
	pool_touch(&f->p, b);
}

static const char *const unwelcoming[] = { "drain", "removed", "agent-drain",
    "full" };

static void
test_cookie_drain_and_full_need_live_work(void **state)
{
	struct fix *f = *state;
	/* A hub page (no user in the URL) of alice's browser. */
	struct route_in in = { .cookie_backend = "vm4", .cookie_user = "alice" };
	enum route_why why;
	size_t i;

	for (i = 0; i < sizeof(unwelcoming) / sizeof(unwelcoming[0]); i++) {
		make_unwelcoming(f, unwelcoming[i]);
		/* An old cookie, no live work: placed by load. */
		in.live_backend = NULL;
		assert_string_equal(pick(f, &in, NULL, 0, &why), "vm1");
		assert_int_equal(why, ROUTE_LOAD);
		/* Live work elsewhere does not open vm4 either. */
		in.live_backend = "vm2";
		assert_string_equal(pick(f, &in, NULL, 0, &why), "vm1");
		assert_int_equal(why, ROUTE_LOAD);
		/* alice's live session is on vm4: she comes back. */
		in.live_backend = "vm4";
		assert_string_equal(pick(f, &in, NULL, 0, &why), "vm4");
		assert_int_equal(why, ROUTE_COOKIE);
		/* An anonymous browser's cookie: nobody's live work. */
		in.cookie_user = "";
		in.live_backend = NULL;
		assert_string_equal(pick(f, &in, NULL, 0, &why), "vm1");
		assert_int_equal(why, ROUTE_LOAD);
		in.cookie_user = "alice";
		undo(f);
	}
	/* Ready and below its cap: the cookie routes, live work or not. */
	assert_string_equal(pick(f, &in, NULL, 0, &why), "vm4");
	assert_int_equal(why, ROUTE_COOKIE);
	/* A new user without a cookie never lands on a VM that takes none. */
	in.cookie_backend = NULL;
	vm(f, "vm1")->admin = BE_ADMIN_MAINT;
	vm(f, "vm2")->admin = BE_ADMIN_MAINT;
	vm(f, "vm3")->admin = BE_ADMIN_DRAIN;
	vm(f, "vm4")->admin = BE_ADMIN_DRAIN;
	pool_touch(&f->p, vm(f, "vm1"));
	pool_touch(&f->p, vm(f, "vm2"));
	pool_touch(&f->p, vm(f, "vm3"));
	pool_touch(&f->p, vm(f, "vm4"));
	assert_null(pick(f, &in, NULL, 0, &why));
}

static void
test_cookie_of_another_user_ignored(void **state)
{
	struct fix *f = *state;
	/* alice's cookie, copied into bob's requests. */
	struct route_in in = { .user = "bob", .cookie_backend = "vm4",
	    .cookie_user = "alice", .live_backend = NULL };
	enum route_why why;

	assert_false(route_cookie_applies(&in));
	assert_string_equal(route_for_user(&in), "bob");
	assert_string_equal(pick(f, &in, NULL, 0, &why), "vm1");
	assert_int_equal(why, ROUTE_LOAD);
	/* Nor for bob's login form. */
	in.login = true;
	assert_false(route_cookie_applies(&in));
	assert_string_equal(pick(f, &in, NULL, 0, &why), "vm1");
	assert_int_equal(why, ROUTE_LOAD);
	/* The login form follows the anonymous cookie it came with ... */
	in.cookie_user = "";
	assert_true(route_cookie_applies(&in));
	assert_string_equal(pick(f, &in, NULL, 0, &why), "vm4");
	assert_int_equal(why, ROUTE_COOKIE);
	in.cookie_user = NULL;
	assert_true(route_cookie_applies(&in));
	/* ... but no other request naming a user does. */
	in.login = false;
	assert_false(route_cookie_applies(&in));
	assert_string_equal(pick(f, &in, NULL, 0, &why), "vm1");
	assert_int_equal(why, ROUTE_LOAD);
	/* alice's own requests follow it; a hub page follows it for alice. */
	in.cookie_user = "alice";
	in.user = "alice";
	assert_true(route_cookie_applies(&in));
	assert_string_equal(pick(f, &in, NULL, 0, &why), "vm4");
	assert_int_equal(why, ROUTE_COOKIE);
	in.user = NULL;
	assert_true(route_cookie_applies(&in));
	assert_string_equal(route_for_user(&in), "alice");
	assert_string_equal(pick(f, &in, NULL, 0, &why), "vm4");
	in.user = "";
	assert_string_equal(route_for_user(&in), "alice");
	/* Nobody: no user, an anonymous cookie or none at all. */
	in.cookie_user = "";
	assert_true(route_cookie_applies(&in));
	assert_null(route_for_user(&in));
	in.cookie_backend = NULL;
	assert_false(route_cookie_applies(&in));
	assert_null(route_for_user(&in));
	in.cookie_backend = "";
	assert_false(route_cookie_applies(&in));
	assert_false(route_cookie_applies(NULL));
	assert_null(route_for_user(NULL));
	/* SSH passes no cookie and no user. */
	in = (struct route_in){ .ip_key = "ip:10.0.0.7" };
	assert_false(route_cookie_applies(&in));
	assert_null(route_for_user(&in));
}

static void
test_user_affinity_into_drain_needs_live_work(void **state)
{
	struct fix *f = *state;
	struct route_in in = { .user = "alice", .ip_key = "ip:10.0.0.7" };
	const char *states[] = { "drain", "removed", "agent-drain" };
	enum route_why why;
	size_t i;

	aff_session_start(f->aff, "user:alice", "vm4", 0);
	aff_session_end(f->aff, "user:alice", "vm4", 0);   /* ttl running */
	for (i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		make_unwelcoming(f, states[i]);
		/* Only an affinity (the session idled out): placed by load. */
		in.live_backend = NULL;
		in.own_server = false;
		assert_string_equal(pick(f, &in, NULL, 0, &why), "vm1");
		assert_int_equal(why, ROUTE_LOAD);
		in.live_backend = "vm3";
		assert_string_equal(pick(f, &in, NULL, 0, &why), "vm1");
		assert_int_equal(why, ROUTE_LOAD);
		/* Live work there: back to vm4. */
		in.live_backend = "vm4";
		assert_string_equal(pick(f, &in, NULL, 0, &why), "vm4");
		assert_int_equal(why, ROUTE_USER);
		/* Her own server's request, with its hub cookie, likewise. */
		in.live_backend = NULL;
		in.own_server = true;
		assert_string_equal(pick(f, &in, NULL, 0, &why), "vm4");
		assert_int_equal(why, ROUTE_USER);
		/* Refused affinity gives way to the next rule, the cookie. */
		in.own_server = false;
		in.cookie_backend = "vm3";
		in.cookie_user = "alice";
		assert_string_equal(pick(f, &in, NULL, 0, &why), "vm3");
		assert_int_equal(why, ROUTE_COOKIE);
		in.cookie_backend = NULL;
		undo(f);
	}
	/* Never into maint or a VM that is down, live work or not. */
	in.live_backend = "vm4";
	vm(f, "vm4")->admin = BE_ADMIN_MAINT;
	pool_touch(&f->p, vm(f, "vm4"));
	assert_string_equal(pick(f, &in, NULL, 0, &why), "vm1");
	assert_int_equal(why, ROUTE_LOAD);
	/* SSH's address affinity into a draining VM is unchanged. */
	vm(f, "vm4")->admin = BE_ADMIN_DRAIN;
	pool_touch(&f->p, vm(f, "vm4"));
	aff_session_start(f->aff, "ip:10.0.0.7", "vm4", 0);
	in = (struct route_in){ .ip_key = "ip:10.0.0.7" };
	assert_string_equal(pick(f, &in, NULL, 0, &why), "vm4");
	assert_int_equal(why, ROUTE_IP);
}

static void
test_user_affinity_into_full_vm_needs_live_work(void **state)
{
	struct fix *f = *state;
	struct route_in in = { .user = "alice" };
	enum route_why why;

	aff_session_start(f->aff, "user:alice", "vm4", 0);
	make_unwelcoming(f, "full");
	assert_string_equal(pick(f, &in, NULL, 0, &why), "vm1");
	assert_int_equal(why, ROUTE_LOAD);
	in.live_backend = "vm4";
	assert_string_equal(pick(f, &in, NULL, 0, &why), "vm4");
	assert_int_equal(why, ROUTE_USER);
	in.live_backend = NULL;
	in.own_server = true;
	assert_string_equal(pick(f, &in, NULL, 0, &why), "vm4");
	assert_int_equal(why, ROUTE_USER);
	/* One below the cap: any returning user is welcome. */
	in.own_server = false;
	vm(f, "vm4")->max_sessions = 4;
	pool_touch(&f->p, vm(f, "vm4"));
	assert_string_equal(pick(f, &in, NULL, 0, &why), "vm4");
	assert_int_equal(why, ROUTE_USER);
}

/*
 * Without live work a clue leads only where a new user may go: healthy
 * for every service of the VM (SSH beside Jupyter), not only this one.
 */
static void
test_clue_needs_every_service_without_live_work(void **state)
{
	struct fix *f = *state;
	struct route_in in = { .user = "alice", .cookie_backend = "vm3",
	    .cookie_user = "alice" };
	enum route_why why;
	size_t i;

	pool_set_services(&f->p, 2);
	for (i = 0; i < f->p.n; i++) {
		f->p.be[i]->health[SVC + 1].hc.up = true;
		pool_touch(&f->p, f->p.be[i]);
	}
	aff_session_start(f->aff, "user:alice", "vm4", 0);
	vm(f, "vm4")->health[SVC + 1].hc.up = false;
	vm(f, "vm3")->health[SVC + 1].hc.up = false;
	pool_touch(&f->p, vm(f, "vm4"));
	pool_touch(&f->p, vm(f, "vm3"));
	assert_string_equal(pick(f, &in, NULL, 0, &why), "vm1");
	assert_int_equal(why, ROUTE_LOAD);
	in.live_backend = "vm4";
	assert_string_equal(pick(f, &in, NULL, 0, &why), "vm4");
	assert_int_equal(why, ROUTE_USER);
	in.live_backend = "vm3";
	assert_string_equal(pick(f, &in, NULL, 0, &why), "vm3");
	assert_int_equal(why, ROUTE_COOKIE);
}

static void
test_tried_skipped_at_every_rule(void **state)
{
	struct fix *f = *state;
	struct route_in in = { .user = "alice", .cookie_backend = "vm4",
	    .cookie_user = "alice", .sole_user_backend = "vm3",
	    .ip_key = "ip:10.0.0.7" };
	struct backend *tried[4];
	enum route_why why;

	aff_session_start(f->aff, "user:alice", "vm1", 0);
	aff_session_start(f->aff, "ip:10.0.0.7", "vm2", 0);
	vm(f, "vm1")->sessions = 5;             /* least loaded is vm2, then vm3 */
	pool_touch(&f->p, vm(f, "vm1"));
	assert_string_equal(pick(f, &in, tried, 0, &why), "vm1");
	assert_int_equal(why, ROUTE_USER);

	tried[0] = vm(f, "vm1");
	assert_string_equal(pick(f, &in, tried, 1, &why), "vm4");
	assert_int_equal(why, ROUTE_COOKIE);

	tried[1] = vm(f, "vm4");
	assert_string_equal(pick(f, &in, tried, 2, &why), "vm3");
	assert_int_equal(why, ROUTE_SOLE_USER);

	tried[2] = vm(f, "vm3");
	assert_string_equal(pick(f, &in, tried, 3, &why), "vm2");
	assert_int_equal(why, ROUTE_IP);

	/* Without the ip rule, load must skip the tried (lighter) ones too. */
	in.ip_key = NULL;
	vm(f, "vm1")->sessions = 0;
	vm(f, "vm4")->sessions = 0;
	vm(f, "vm3")->sessions = 0;
	pool_touch(&f->p, vm(f, "vm1"));
	pool_touch(&f->p, vm(f, "vm4"));
	pool_touch(&f->p, vm(f, "vm3"));
	assert_string_equal(pick(f, &in, tried, 3, &why), "vm2");
	assert_int_equal(why, ROUTE_LOAD);

	tried[3] = vm(f, "vm2");
	assert_null(pick(f, &in, tried, 4, &why));
}

static void
test_sole_user_rule(void **state)
{
	struct fix *f = *state;
	struct route_in in = { .sole_user_backend = "vm4",
	    .ip_key = "ip:10.0.0.7" };
	enum route_why why;

	aff_session_start(f->aff, "ip:10.0.0.7", "vm2", 0);
	/* SSH follows its Jupyter user, over the address affinity. */
	assert_string_equal(pick(f, &in, NULL, 0, &why), "vm4");
	assert_int_equal(why, ROUTE_SOLE_USER);
	/* Like an affinity: honoured at the cap and in drain. */
	vm(f, "vm4")->max_sessions = 1;
	vm(f, "vm4")->admin = BE_ADMIN_DRAIN;
	pool_touch(&f->p, vm(f, "vm4"));
	assert_string_equal(pick(f, &in, NULL, 0, &why), "vm4");
	assert_int_equal(why, ROUTE_SOLE_USER);
	/* Not when down or in maint: the address affinity is next. */
	vm(f, "vm4")->admin = BE_ADMIN_MAINT;
	pool_touch(&f->p, vm(f, "vm4"));
	assert_string_equal(pick(f, &in, NULL, 0, &why), "vm2");
	assert_int_equal(why, ROUTE_IP);
	vm(f, "vm4")->admin = BE_ADMIN_READY;
	vm(f, "vm4")->health[SVC].hc.up = false;
	pool_touch(&f->p, vm(f, "vm4"));
	assert_string_equal(pick(f, &in, NULL, 0, &why), "vm2");
	assert_int_equal(why, ROUTE_IP);
}

static void
test_ip_rule(void **state)
{
	struct fix *f = *state;
	struct route_in in = { .ip_key = "ip:10.0.0.7" };
	enum route_why why;

	assert_string_equal(pick(f, &in, NULL, 0, &why), "vm1");
	assert_int_equal(why, ROUTE_LOAD);
	aff_session_start(f->aff, "ip:10.0.0.7", "vm3", 0);
	assert_string_equal(pick(f, &in, NULL, 0, &why), "vm3");
	assert_int_equal(why, ROUTE_IP);
	/* Client-address affinity off for the service: no ip rule. */
	in.ip_key = NULL;
	assert_string_equal(pick(f, &in, NULL, 0, &why), "vm1");
	assert_int_equal(why, ROUTE_LOAD);
	/* The user rule comes before it. */
	aff_session_start(f->aff, "user:alice", "vm4", 0);
	in.ip_key = "ip:10.0.0.7";
	in.user = "alice";
	assert_string_equal(pick(f, &in, NULL, 0, &why), "vm4");
	assert_int_equal(why, ROUTE_USER);
}

static void
test_least_loaded_fallback(void **state)
{
	struct fix *f = *state;
	struct route_in in = { .user = "alice" };
	enum route_why why;

	vm(f, "vm1")->sessions = 4;
	vm(f, "vm2")->sessions = 2;
	vm(f, "vm3")->sessions = 3;
	vm(f, "vm4")->sessions = 1;
	pool_touch(&f->p, vm(f, "vm1"));
	pool_touch(&f->p, vm(f, "vm2"));
	pool_touch(&f->p, vm(f, "vm3"));
	pool_touch(&f->p, vm(f, "vm4"));
	assert_string_equal(pick(f, &in, NULL, 0, &why), "vm4");
	assert_int_equal(why, ROUTE_LOAD);
	/* A full VM is skipped by load. */
	vm(f, "vm4")->max_sessions = 1;
	pool_touch(&f->p, vm(f, "vm4"));
	assert_string_equal(pick(f, &in, NULL, 0, &why), "vm2");
	/* in may be NULL: load only; why may be NULL. */
	assert_string_equal(route_pick(&f->p, SVC, f->aff, NULL, 0, NULL, 0,
	    &why)->name, "vm2");
	assert_int_equal(why, ROUTE_LOAD);
	assert_non_null(route_pick(&f->p, SVC, NULL, &in, 0, NULL, 0, NULL));
}

static void
test_nothing_can_take_it(void **state)
{
	struct fix *f = *state;
	struct route_in in = { .user = "alice", .cookie_backend = "vm1",
	    .sole_user_backend = "vm2", .ip_key = "ip:10.0.0.7" };
	struct pool empty;
	enum route_why why;
	int i;

	aff_session_start(f->aff, "user:alice", "vm3", 0);
	aff_session_start(f->aff, "ip:10.0.0.7", "vm4", 0);
	for (i = 0; i < 4; i++) {
		f->p.be[i]->health[SVC].hc.up = false;
		pool_touch(&f->p, f->p.be[i]);
	}
	assert_null(pick(f, &in, NULL, 0, &why));
	assert_int_equal(why, ROUTE_NONE);

	pool_init(&empty);
	why = ROUTE_LOAD;
	assert_null(route_pick(&empty, SVC, f->aff, &in, 0, NULL, 0, &why));
	assert_int_equal(why, ROUTE_NONE);
	assert_null(route_pick(NULL, SVC, f->aff, &in, 0, NULL, 0, NULL));
}

static void
test_long_user_name(void **state)
{
	struct fix *f = *state;
	char user[AFF_KEY_MAX + 2];
	struct route_in in = { .user = user, .cookie_backend = "vm4",
	    .cookie_user = user };
	enum route_why why;

	memset(user, 'a', sizeof(user) - 1);
	user[sizeof(user) - 1] = '\0';
	/* Too long for "user:<name>": rule 1 is skipped, not an error. */
	assert_string_equal(pick(f, &in, NULL, 0, &why), "vm4");
	assert_int_equal(why, ROUTE_COOKIE);
}

static void
test_why_names(void **state)
{
	(void)state;
	assert_string_equal(route_why_name(ROUTE_NONE), "none");
	assert_string_equal(route_why_name(ROUTE_USER), "user");
	assert_string_equal(route_why_name(ROUTE_COOKIE), "cookie");
	assert_string_equal(route_why_name(ROUTE_SOLE_USER), "sole_user");
	assert_string_equal(route_why_name(ROUTE_IP), "ip");
	assert_string_equal(route_why_name(ROUTE_LOAD), "load");
	assert_string_equal(route_why_name((enum route_why)99), "unknown");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_user_affinity),
		T(test_user_beats_disagreeing_cookie),
		T(test_cookie_when_user_unknown),
		T(test_cookie_down_or_maint_ignored),
		T(test_cookie_drain_and_full_need_live_work),
		T(test_cookie_of_another_user_ignored),
		T(test_user_affinity_into_drain_needs_live_work),
		T(test_user_affinity_into_full_vm_needs_live_work),
		T(test_clue_needs_every_service_without_live_work),
		T(test_tried_skipped_at_every_rule),
		T(test_sole_user_rule),
		T(test_ip_rule),
		T(test_least_loaded_fallback),
		T(test_nothing_can_take_it),
		T(test_long_user_name),
		cmocka_unit_test(test_why_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
