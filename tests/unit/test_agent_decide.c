/*
 * test_agent_decide.c -- who has work, who is stale, whether the VM is idle
 * and when an Azure Terminate is approved (agent/decide.c), with the clock
 * injected: nothing here reads the time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/decide.h"

#define MIN   60000ULL
#define HOUR  (60 * MIN)
#define WALL0 1800000000000ULL      /* the wall clock at mono 0 */

static bool
names(void *arg, uint32_t uid, char *name, size_t size)
{
	(void)arg;
	if (uid == 1001)
		snprintf(name, size, "alice");
	else if (uid == 1002)
		snprintf(name, size, "bob");
	else
		return false;
	return true;
}

static const char *const ignore[] = { "systemd", "(sd-pam)" };

static struct ps_proc
P(int pid, uint32_t uid, const char *comm, uint64_t last_cpu, uint64_t cpu_ms)
{
	struct ps_proc p;

	memset(&p, 0, sizeof(p));
	p.pid = pid;
	p.uid = uid;
	snprintf(p.comm, sizeof(p.comm), "%s", comm);
	p.state = 'S';
	p.cpu_known = true;
	p.cpu_ms = cpu_ms;
	p.last_cpu_ms = last_cpu;
	return p;
}

static struct dc_input
input(uint64_t mono, const struct ps_proc *p, size_t n)
{
	struct dc_input in;

	memset(&in, 0, sizeof(in));
	in.now.mono_ms = mono;
	in.now.wall_ms = WALL0 + mono;
	in.procs = p;
	in.nprocs = n;
	in.min_uid = 1000;
	in.ignore = ignore;
	in.nignore = 2;
	in.max_users = 16;
	in.stale_notice_ms = 10 * MIN;
	in.uid_name = names;
	return in;
}

static const struct dc_user *
user(const struct dc_view *v, const char *name)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		if (strcmp(v->u[i].name, name) == 0)
			return &v->u[i];
	return NULL;
}

static void
test_work(void **state)
{
	struct ps_proc p[] = {
		P(1, 0, "systemd", 0, 0),               /* the system's */
		P(500, 999, "postgres", 0, 50),         /* below min_uid */
		P(1200, 1001, "systemd", 0, 10),        /* ignored */
		P(1201, 1001, "(sd-pam)", 0, 0),
		P(1300, 1002, "python3", 0, 1500),
		P(1301, 1002, "zombie", 0, 0),
		P(1400, 1003, "make", 0, 20),           /* no passwd entry */
	};
	struct ag_session s[2];
	struct dc_memory mem;
	struct dc_view v;
	struct dc_input in;
	const struct dc_user *u;

	(void)state;
	p[5].state = 'Z';
	memset(s, 0, sizeof(s));
	strcpy(s[0].user, "alice");     /* from utmp: a name, no uid */
	s[0].uid = -1;
	strcpy(s[0].tty, "pts/0");
	s[0].since_ms = WALL0 - HOUR;
	dc_memory_init(&mem, WALL0);
	in = input(1000, p, 7);
	in.sess = s;
	in.nsess = 1;
	assert_int_equal(dc_build(&in, &mem, &v), 0);
	assert_int_equal(v.n, 3);
	assert_true(v.has_work);
	assert_int_equal(v.with_work, 3);
	u = user(&v, "alice");
	assert_non_null(u);
	assert_int_equal(u->uid, 1001);         /* the process told it */
	assert_int_equal(u->nsessions, 1);
	assert_int_equal(u->procs, 0);
	assert_int_equal(u->procs_ignored, 2);
	assert_int_equal(u->work, DC_WORK_SESSION);
	u = user(&v, "bob");
	assert_int_equal(u->procs, 1);          /* the zombie is not work */
	assert_int_equal(u->cpu_ms, 1500);
	assert_int_equal(u->work, DC_WORK_PROCS);
	u = user(&v, "#1003");
	assert_non_null(u);
	assert_int_equal(u->uid, 1003);
	dc_view_free(&v);

	/* Only the service managers: listed, no work, the VM is idle. */
	in = input(2000, p + 2, 2);
	assert_int_equal(dc_build(&in, &mem, &v), 0);
	assert_int_equal(v.n, 1);
	assert_int_equal(v.u[0].work, 0);
	assert_false(v.has_work);
	dc_view_free(&v);
	/* Nothing at all: idle. */
	in = input(3000, NULL, 0);
	assert_int_equal(dc_build(&in, &mem, &v), 0);
	assert_int_equal(v.n, 0);
	assert_false(v.has_work);
	/* The last activity stays known after the users left. */
	assert_int_equal(v.last_activity_ms, WALL0);   /* their last CPU */
	dc_view_free(&v);
	dc_memory_free(&mem);
}

static void
test_kernels_gpu(void **state)
{
	struct ps_proc p[] = { P(1300, 1001, "python3", 0, 0) };
	struct jh_user j[2];
	struct gpu_sample g;
	struct dc_memory mem;
	struct dc_view v;
	struct dc_input in;
	const struct dc_user *u;

	(void)state;
	memset(j, 0, sizeof(j));
	strcpy(j[0].name, "alice");
	j[0].server = j[0].ready = true;
	j[0].kernels_busy = 1;
	j[0].last_activity_ms = WALL0 - 5 * MIN;
	strcpy(j[1].name, "carol");             /* a hub user with no process here */
	j[1].server = true;
	j[1].kernels_busy = 0;
	memset(&g, 0, sizeof(g));
	g.n = 2;
	g.p[0].pid = 1300;
	g.p[0].sm_pct = 40;
	g.p[0].fb_mib = 500;
	g.p[1].pid = 4242;                      /* not a process we know */
	dc_memory_init(&mem, WALL0);
	in = input(1000, p, 1);
	in.jh = j;
	in.njh = 2;
	in.gpu = &g;
	assert_int_equal(dc_build(&in, &mem, &v), 0);
	u = user(&v, "alice");
	assert_int_equal(u->work, DC_WORK_PROCS | DC_WORK_KERNEL);
	assert_ptr_equal(u->jh, &j[0]);
	assert_int_equal(u->gpu_procs, 1);
	assert_int_equal(u->gpu_sm_pct, 40);
	assert_int_equal(u->gpu_fb_mib, 500);
	assert_int_equal(u->last_active_ms, WALL0 + 1000);   /* busy: now */
	u = user(&v, "carol");
	assert_non_null(u);
	assert_int_equal(u->work, 0);
	assert_int_equal(u->gpu_procs, 0);
	assert_int_equal(u->gpu_sm_pct, -1);
	dc_view_free(&v);
	dc_memory_free(&mem);
}

/*
 * bob: one process that last used CPU at mono 0, a tmux server, no
 * terminal. stale_after 1 h, notice 10 min.
 */
static void
test_stale(void **state)
{
	struct ps_proc p[] = { P(1300, 1002, "tmux: server", 0, 0) };
	struct dc_memory mem;
	struct dc_view v;
	struct dc_input in;
	uint64_t t;

	(void)state;
	dc_memory_init(&mem, WALL0);
	/* Off: idle processes are work for ever. */
	in = input(48 * HOUR, p, 1);
	assert_int_equal(dc_build(&in, &mem, &v), 0);
	assert_false(v.u[0].stale);
	assert_int_equal(v.u[0].procs_stale, 0);
	assert_true(v.has_work);
	dc_view_free(&v);
	dc_memory_free(&mem);

	dc_memory_init(&mem, WALL0);
	in = input(59 * MIN, p, 1);
	in.stale_after_ms = HOUR;
	assert_int_equal(dc_build(&in, &mem, &v), 0);
	assert_false(v.u[0].stale);
	assert_int_equal(v.u[0].work, DC_WORK_PROCS);
	dc_view_free(&v);

	/* An hour without CPU: stale, notified once, still work for 10 min. */
	t = HOUR;
	in = input(t, p, 1);
	in.stale_after_ms = HOUR;
	assert_int_equal(dc_build(&in, &mem, &v), 0);
	assert_true(v.u[0].stale);
	assert_true(v.u[0].notify_stale);
	assert_int_equal(v.u[0].notice_ms, WALL0 + t);
	assert_int_equal(v.u[0].procs_stale, 1);
	assert_int_equal(v.u[0].work, DC_WORK_NOTICE);
	assert_true(v.has_work);
	dc_view_free(&v);
	in.now.mono_ms = t + 9 * MIN;
	in.now.wall_ms = WALL0 + t + 9 * MIN;
	assert_int_equal(dc_build(&in, &mem, &v), 0);
	assert_false(v.u[0].notify_stale);
	assert_int_equal(v.u[0].notice_ms, WALL0 + t);
	assert_int_equal(v.u[0].work, DC_WORK_NOTICE);
	dc_view_free(&v);
	/* The notice period is over: the VM may be reported idle. */
	in.now.mono_ms = t + 10 * MIN;
	in.now.wall_ms = WALL0 + t + 10 * MIN;
	assert_int_equal(dc_build(&in, &mem, &v), 0);
	assert_true(v.u[0].stale);
	assert_int_equal(v.u[0].work, 0);
	assert_false(v.has_work);
	dc_view_free(&v);

	/* It used CPU again: work again, and the notice is forgotten. */
	p[0].last_cpu_ms = t + 11 * MIN;
	in.now.mono_ms = t + 11 * MIN;
	in.now.wall_ms = WALL0 + t + 11 * MIN;
	assert_int_equal(dc_build(&in, &mem, &v), 0);
	assert_false(v.u[0].stale);
	assert_int_equal(v.u[0].notice_ms, 0);
	assert_int_equal(v.u[0].work, DC_WORK_PROCS);
	dc_view_free(&v);
	/* ... and a new hour of nothing gives a new notice. */
	in.now.mono_ms = t + 11 * MIN + HOUR;
	in.now.wall_ms = WALL0 + t + 11 * MIN + HOUR;
	assert_int_equal(dc_build(&in, &mem, &v), 0);
	assert_true(v.u[0].notify_stale);
	dc_view_free(&v);
	dc_memory_free(&mem);
}

/* A logged-in user whose terminal and processes are quiet is stale too. */
static void
test_stale_session(void **state)
{
	struct ps_proc p[] = { P(2003, 1001, "bash", 0, 0) };
	struct ag_session s;
	struct jh_user j;
	struct dc_memory mem;
	struct dc_view v;
	struct dc_input in;

	(void)state;
	memset(&s, 0, sizeof(s));
	strcpy(s.user, "alice");
	s.uid = 1001;
	strcpy(s.tty, "pts/0");
	s.since_ms = WALL0;
	s.input_ms = WALL0 + 30 * MIN;          /* typed at 0:30 */
	dc_memory_init(&mem, WALL0);
	in = input(HOUR + 20 * MIN, p, 1);
	in.sess = &s;
	in.nsess = 1;
	in.stale_after_ms = HOUR;
	assert_int_equal(dc_build(&in, &mem, &v), 0);
	assert_false(v.u[0].stale);             /* 50 min since the input */
	assert_int_equal(v.u[0].work, DC_WORK_SESSION | DC_WORK_PROCS);
	dc_view_free(&v);
	in.now.mono_ms = HOUR + 30 * MIN;
	in.now.wall_ms = WALL0 + HOUR + 30 * MIN;
	assert_int_equal(dc_build(&in, &mem, &v), 0);
	assert_true(v.u[0].stale);
	assert_true(v.u[0].notify_stale);
	dc_view_free(&v);
	/* Jupyter activity counts as moving. */
	memset(&j, 0, sizeof(j));
	strcpy(j.name, "alice");
	j.last_activity_ms = WALL0 + HOUR + 25 * MIN;
	in.jh = &j;
	in.njh = 1;
	assert_int_equal(dc_build(&in, &mem, &v), 0);
	assert_false(v.u[0].stale);
	dc_view_free(&v);
	/* A busy kernel never lets a user go stale. */
	j.last_activity_ms = 0;
	j.kernels_busy = 1;
	in.now.mono_ms = 10 * HOUR;
	in.now.wall_ms = WALL0 + 10 * HOUR;
	assert_int_equal(dc_build(&in, &mem, &v), 0);
	assert_false(v.u[0].stale);
	assert_true(v.u[0].work & DC_WORK_KERNEL);
	dc_view_free(&v);
	dc_memory_free(&mem);
}

static void
test_caps(void **state)
{
	struct ps_proc p[] = { P(1200, 1001, "systemd", 0, 0),
	    P(1300, 1002, "python3", 0, 0) };
	struct dc_memory mem;
	struct dc_view v;
	struct dc_input in;

	(void)state;
	dc_memory_init(&mem, WALL0);
	/* The users over the cap are unseen: the VM is not idle. */
	in = input(1000, p, 2);
	in.max_users = 1;
	assert_int_equal(dc_build(&in, &mem, &v), 0);
	assert_int_equal(v.n, 1);
	assert_true(v.users_truncated);
	assert_int_equal(v.with_work, 0);
	assert_true(v.has_work);
	dc_view_free(&v);
	/* Processes over the cap too. */
	in = input(2000, p, 1);
	in.procs_truncated = true;
	assert_int_equal(dc_build(&in, &mem, &v), 0);
	assert_int_equal(v.with_work, 0);
	assert_true(v.has_work);
	dc_view_free(&v);
	dc_memory_free(&mem);
	assert_int_equal(dc_seconds_since(1000, 62000), 61);
	assert_int_equal(dc_seconds_since(5000, 1000), 0);
}

static struct se_event
E(const char *id, const char *type, const char *status, uint64_t nb)
{
	struct se_event e;

	memset(&e, 0, sizeof(e));
	snprintf(e.id, sizeof(e.id), "%s", id);
	snprintf(e.type, sizeof(e.type), "%s", type);
	snprintf(e.status, sizeof(e.status), "%s", status);
	e.not_before_ms = nb;
	e.this_vm = true;
	return e;
}

static void
test_events(void **state)
{
	struct se_event t = E("t1", "Terminate", "Scheduled", WALL0 + 5 * MIN);
	struct se_event r = E("r1", "Reboot", "Scheduled", WALL0 + 5 * MIN);
	struct se_event f = E("f1", "Freeze", "Scheduled", WALL0 + 5 * MIN);
	struct se_event s = E("t2", "Terminate", "Started", 0);
	struct se_event o = E("t3", "Terminate", "Scheduled", WALL0);
	struct dc_memory mem;
	struct dc_mem_event *em;
	struct se_doc doc;

	(void)state;
	dc_memory_init(&mem, WALL0);
	em = dc_event_mem(&mem, t.id);
	assert_non_null(em);
	assert_ptr_equal(dc_event_mem(&mem, t.id), em);
	/* users working, before the deadline: wait */
	assert_false(dc_event_approve(&t, em, true, WALL0));
	assert_false(dc_event_approve(&t, em, true, WALL0 + 5 * MIN - 1));
	/* at the deadline: approve anyway */
	assert_true(dc_event_approve(&t, em, true, WALL0 + 5 * MIN));
	/* no user work: approve at once */
	assert_true(dc_event_approve(&t, em, false, WALL0));
	em->approved = true;
	assert_false(dc_event_approve(&t, em, false, WALL0));
	/* only a scheduled Terminate of this VM */
	assert_false(dc_event_approve(&r, dc_event_mem(&mem, r.id), false, WALL0));
	assert_false(dc_event_approve(&s, dc_event_mem(&mem, s.id), false, WALL0));
	o.this_vm = false;
	assert_false(dc_event_approve(&o, dc_event_mem(&mem, o.id), false, WALL0));
	/* notices: pending ones (Terminate, Reboot, ...), once */
	assert_true(dc_event_notify(&r, dc_event_mem(&mem, r.id)));
	dc_event_mem(&mem, r.id)->notified = true;
	assert_false(dc_event_notify(&r, dc_event_mem(&mem, r.id)));
	assert_false(dc_event_notify(&f, dc_event_mem(&mem, f.id)));
	/* forgetting what the service no longer lists */
	memset(&doc, 0, sizeof(doc));
	doc.ev[0] = r;
	doc.n = 1;
	dc_events_forget(&mem, &doc);
	assert_int_equal(mem.nevents, 1);
	assert_string_equal(mem.events[0].id, "r1");
	assert_true(mem.events[0].notified);
	dc_memory_free(&mem);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_work),
		cmocka_unit_test(test_kernels_gpu),
		cmocka_unit_test(test_stale),
		cmocka_unit_test(test_stale_session),
		cmocka_unit_test(test_caps),
		cmocka_unit_test(test_events),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
