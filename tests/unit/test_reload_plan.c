/*
 * test_reload_plan.c -- cfg_reload_plan() and cfg_plan_live_text(): what a
 * reload keeps (start-only settings, running value put back) and what it
 * applies (named, list elements matched by name), on real files loaded with
 * cfg_load().
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config/config.h"

static char tmpdir[64];
static char conf[128];

static int group_setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pgtest-plan-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(conf, sizeof(conf), "%s/t.conf", tmpdir);
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	unlink(conf);
	return rmdir(tmpdir);
}

static struct pg_config *load(const char *text)
{
	struct cfg_errors errs = { 0 };
	struct pg_config *cfg = NULL;
	FILE *f = fopen(conf, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
	if (cfg_load(conf, &cfg, &errs) != 0)
		for (size_t i = 0; i < errs.n; i++)
			print_message("  got: %s\n", errs.msg[i]);
	assert_int_equal(errs.n, 0);
	assert_non_null(cfg);
	return cfg;
}

/* Two services, two backends: the running file of most cases. */
#define SSH  "{ name = \"ssh\"; listen = [ \"127.0.0.1:2222\" ]; port = 22; }"
#define HUB  "{ name = \"hub\"; listen = [ \"127.0.0.1:8080\" ]; port = 8000;" \
             " mode = \"http\"; check = { interval = \"2s\"; }; }"
#define VM1  "{ name = \"vm1\"; address = \"10.0.0.1\"; }"
#define VM2  "{ name = \"vm2\"; address = \"10.0.0.2\"; }"
#define VM3  "{ name = \"vm3\"; address = \"10.0.0.3\"; }"
#define BASE "services = ( " SSH ", " HUB " );\nbackends = ( " VM1 ", " VM2 " );\n"

struct run {
	struct pg_config *running, *next;
	struct cfg_plan   plan;
	int               rc;
	char              text[1024];   /* cfg_plan_live_text() */
};

/* Load both files and plan the reload from the first to the second. */
static void plan(struct run *r, const char *running, const char *file)
{
	r->running = load(running);
	r->next = load(file);
	memset(&r->plan, 0xa5, sizeof(r->plan));       /* overwritten, whatever it held */
	r->rc = cfg_reload_plan(r->running, r->next, &r->plan);
	cfg_plan_live_text(&r->plan, r->text, sizeof(r->text));
}

static void done(struct run *r)
{
	cfg_free(r->running);
	cfg_free(r->next);
}

static void expect_kept(const struct run *r, size_t i, const char *name, const char *running,
    const char *file)
{
	assert_true(i < r->plan.nkept);
	assert_string_equal(r->plan.kept[i].name, name);
	assert_string_equal(r->plan.kept[i].running, running);
	assert_string_equal(r->plan.kept[i].file, file);
}

static void test_unchanged(void **state)
{
	struct run r;

	(void)state;
	/* the same file, written otherwise: same addresses, defaults spelt out */
	plan(&r, "workers = 2;\nuser = \"poolgate\";\nadmin = { listen = \"*:9100\"; };\n" BASE,
	    "workers = 2; user = \"poolgate\"; admin = { listen = \"0.0.0.0:9100\"; };\n"
	    "affinity = { ttl = \"60m\"; };\nstate_dir = \"/var/lib/poolgate\";\n" BASE);
	assert_int_equal(r.rc, 0);
	assert_int_equal(r.plan.nkept, 0);
	assert_int_equal(r.plan.nlive, 0);
	assert_int_equal(r.plan.live_more, 0);
	assert_string_equal(r.text, "");
	assert_int_equal(r.next->workers, 2);
	done(&r);
}

static void test_workers_kept(void **state)
{
	struct run r;

	(void)state;
	plan(&r, "workers = 2;\n" BASE, "workers = 4;\n" BASE);
	assert_int_equal(r.rc, 1);
	assert_int_equal(r.plan.nkept, 1);
	expect_kept(&r, 0, "workers", "2", "4");
	assert_int_equal(r.next->workers, 2);         /* the new configuration runs with 2 */
	assert_int_equal(r.running->workers, 2);
	assert_int_equal(r.plan.nlive, 0);
	done(&r);

	/* absent: the default, written as the file would */
	plan(&r, BASE, "workers = 1;\n" BASE);
	expect_kept(&r, 0, "workers", "0", "1");
	assert_int_equal(r.next->workers, 0);
	done(&r);
}

static void test_user_kept(void **state)
{
	struct run r;

	(void)state;
	plan(&r, "user = \"alice\";\n" BASE, "user = \"bob\";\n" BASE);
	assert_int_equal(r.rc, 1);
	expect_kept(&r, 0, "user", "\"alice\"", "\"bob\"");
	assert_string_equal(r.next->user, "alice");
	/* a copy: next outlives the running configuration it came from */
	assert_ptr_not_equal(r.next->user, r.running->user);
	cfg_free(r.running);
	r.running = NULL;
	assert_string_equal(r.next->user, "alice");
	done(&r);

	/* set in the file only: next stays without */
	plan(&r, BASE, "user = \"bob\";\n" BASE);
	expect_kept(&r, 0, "user", "(none)", "\"bob\"");
	assert_null(r.next->user);
	done(&r);

	/* gone from the file: next gets the running one */
	plan(&r, "user = \"alice\";\n" BASE, BASE);
	expect_kept(&r, 0, "user", "\"alice\"", "(none)");
	assert_string_equal(r.next->user, "alice");
	done(&r);
}

/* Every start-only row at once, in table order, with live changes beside. */
static void test_several_kept(void **state)
{
	struct run r;

	(void)state;
	plan(&r, "state_dir = \"/var/lib/a\";\nuser = \"alice\";\nallow_root = false;\n"
	    "workers = 2;\naffinity = { ttl = \"1h\"; };\n" BASE,
	    "state_dir = \"/var/lib/b\";\nuser = \"root\";\nallow_root = true;\n"
	    "workers = 8;\naffinity = { ttl = \"2h\"; };\nshutdown_grace = \"1m\";\n" BASE);
	assert_int_equal(r.rc, 6);
	assert_int_equal(r.plan.nkept, 4);
	expect_kept(&r, 0, "state_dir", "\"/var/lib/a\"", "\"/var/lib/b\"");
	expect_kept(&r, 1, "user", "\"alice\"", "\"root\"");
	expect_kept(&r, 2, "allow_root", "false", "true");
	expect_kept(&r, 3, "workers", "2", "8");
	assert_string_equal(r.next->state_dir, "/var/lib/a");
	assert_string_equal(r.next->user, "alice");
	assert_false(r.next->allow_root);
	assert_int_equal(r.next->workers, 2);
	/* the live ones are taken from the file */
	assert_string_equal(r.text, "shutdown_grace, affinity.ttl");
	assert_int_equal(r.next->affinity_ttl_ms, 2 * 3600 * 1000);
	assert_int_equal(r.next->shutdown_grace_ms, 60 * 1000);
	done(&r);
}

static void test_live_top_level(void **state)
{
	struct run r;

	(void)state;
	plan(&r, BASE, "affinity = { ttl = \"2h\"; };\nadmin = { listen = \"127.0.0.1:9200\";"
	    " token_file = \"/etc/poolgate/token\"; };\nlog = { level = \"debug\"; };\n" BASE);
	assert_int_equal(r.rc, 4);
	assert_int_equal(r.plan.nkept, 0);
	assert_int_equal(r.plan.nlive, 4);
	assert_string_equal(r.plan.live[0], "log.level");
	assert_string_equal(r.plan.live[1], "admin.listen");
	assert_string_equal(r.plan.live[2], "admin.token_file");
	assert_string_equal(r.plan.live[3], "affinity.ttl");
	assert_string_equal(r.text, "log.level, admin.listen, admin.token_file, affinity.ttl");
	/* values are the file's */
	assert_int_equal(r.next->affinity_ttl_ms, 2 * 3600 * 1000);
	assert_string_equal(r.next->admin_listen.text, "127.0.0.1:9200");
	done(&r);
}

/* A switch group turned on or off is named alone, not each member. */
static void test_switch_groups(void **state)
{
	struct run r;

	(void)state;
	plan(&r, BASE, "agent = { port = 9101; };\n" BASE);
	assert_int_equal(r.rc, 1);
	assert_string_equal(r.text, "agent");
	assert_int_equal(r.next->agent.port, 9101);
	done(&r);

	plan(&r, "agent = { port = 9101; };\n" BASE, BASE);
	assert_string_equal(r.text, "agent");
	done(&r);

	/* both on: the members are compared */
	plan(&r, "agent = { port = 9101; };\ndiscovery = { dns = \"a.example\"; };\n" BASE,
	    "agent = { port = 9102; };\ndiscovery = { dns = \"b.example\"; };\n" BASE);
	assert_string_equal(r.text, "discovery.dns, agent.port");
	done(&r);
}

static void test_live_in_elements(void **state)
{
	struct run r;

	(void)state;
	/* a service's check interval; its index is the file's */
	plan(&r, BASE, "services = ( " SSH ", { name = \"hub\"; listen = [ \"127.0.0.1:8080\" ];"
	    " port = 8000; mode = \"http\"; check = { interval = \"5s\"; }; } );\n"
	    "backends = ( " VM1 ", " VM2 " );\n");
	assert_int_equal(r.rc, 1);
	assert_string_equal(r.text, "services[1].check.interval");
	assert_int_equal(r.next->services[1].check.interval_ms, 5000);
	done(&r);

	/* a backend's weight and address, a service's listen and its switch group */
	plan(&r, BASE, "services = ( { name = \"ssh\"; listen = [ \"127.0.0.1:2223\" ];"
	    " port = 22; queue = { max = 5; }; }, " HUB " );\n"
	    "backends = ( { name = \"vm1\"; address = \"10.0.0.9\"; weight = 3; }, " VM2 " );\n");
	assert_string_equal(r.text, "services[0].listen, services[0].queue,"
	    " backends[0].address, backends[0].weight");
	done(&r);

	/* one more listen address: the first ones are the same */
	plan(&r, BASE, "services = ( { name = \"ssh\"; listen = [ \"127.0.0.1:2222\","
	    " \"[::1]:2222\" ]; port = 22; }, " HUB " );\nbackends = ( " VM1 ", " VM2 " );\n");
	assert_string_equal(r.text, "services[0].listen");
	done(&r);

	/* a setting the walk derives: affinity.by_client_ip reaches the tcp service */
	plan(&r, BASE, "affinity = { by_client_ip = false; };\n" BASE);
	assert_string_equal(r.text, "affinity.by_client_ip, services[0].by_client_ip");
	done(&r);
}

static void test_elements_matched_by_name(void **state)
{
	struct run r;

	(void)state;
	/* reordered: nothing changed */
	plan(&r, BASE, "services = ( " HUB ", " SSH " );\nbackends = ( " VM2 ", " VM1 " );\n");
	assert_int_equal(r.rc, 0);
	assert_string_equal(r.text, "");
	done(&r);

	/* reordered and changed: named at the file's index */
	plan(&r, BASE, "services = ( " SSH ", " HUB " );\nbackends = ( " VM2 ","
	    " { name = \"vm1\"; address = \"10.0.0.1\"; max_sessions = 4; } );\n");
	assert_string_equal(r.text, "backends[1].max_sessions");
	done(&r);

	/* a new backend, named whole */
	plan(&r, BASE, "services = ( " SSH ", " HUB " );\nbackends = ( " VM1 ", " VM3 ", " VM2 " );\n");
	assert_int_equal(r.rc, 1);
	assert_string_equal(r.text, "backends[1]");
	assert_int_equal(r.next->nbackends, 3);
	done(&r);

	/* one gone: the list is named, once */
	plan(&r, "services = ( " SSH ", " HUB " );\nbackends = ( " VM1 ", " VM2 ", " VM3 " );\n",
	    "services = ( " SSH " );\nbackends = ( " VM2 " );\n");
	assert_int_equal(r.rc, 2);
	assert_string_equal(r.text, "services, backends");
	done(&r);

	/* renamed: one new, one gone */
	plan(&r, BASE, "services = ( " SSH ", " HUB " );\nbackends = ( " VM1 ","
	    " { name = \"vm2b\"; address = \"10.0.0.2\"; } );\n");
	assert_string_equal(r.text, "backends[1], backends");
	done(&r);

	/* from none to some */
	plan(&r, "services = ( " SSH " );\n", "services = ( " SSH " );\nbackends = ( " VM1 " );\n");
	assert_string_equal(r.text, "backends[0]");
	done(&r);
}

/* More live changes than the plan names: counted, and said. */
static void test_live_cap(void **state)
{
	char running[8192], file[8192];
	size_t a = 0, b = 0;
	struct run r;

	(void)state;
	a += (size_t)snprintf(running + a, sizeof(running) - a, "services = ( " SSH " );\nbackends = (");
	b += (size_t)snprintf(file + b, sizeof(file) - b, "services = ( " SSH " );\nbackends = (");
	for (int i = 0; i < CFG_PLAN_LIVE_MAX + 3; i++) {
		a += (size_t)snprintf(running + a, sizeof(running) - a,
		    "%s{ name = \"vm%d\"; address = \"10.0.1.%d\"; }", i ? ", " : "", i, i + 1);
		b += (size_t)snprintf(file + b, sizeof(file) - b,
		    "%s{ name = \"vm%d\"; address = \"10.0.1.%d\"; weight = 2; }", i ? ", " : "",
		    i, i + 1);
	}
	snprintf(running + a, sizeof(running) - a, " );\nworkers = 1;\n");
	snprintf(file + b, sizeof(file) - b, " );\nworkers = 3;\n");
	plan(&r, running, file);
	assert_int_equal(r.rc, CFG_PLAN_LIVE_MAX + 3 + 1);
	assert_int_equal(r.plan.nlive, CFG_PLAN_LIVE_MAX);
	assert_int_equal(r.plan.live_more, 3);
	assert_string_equal(r.plan.live[CFG_PLAN_LIVE_MAX - 1], "backends[15].weight");
	assert_non_null(strstr(r.text, "backends[15].weight and 3 more"));
	/* a start-only change is kept whatever the live count */
	expect_kept(&r, 0, "workers", "1", "3");
	assert_int_equal(r.next->workers, 1);
	done(&r);
}

static void test_live_text(void **state)
{
	struct cfg_plan p;
	char buf[16];

	(void)state;
	memset(&p, 0, sizeof(p));
	snprintf(p.live[0], sizeof(p.live[0]), "admin.listen");
	snprintf(p.live[1], sizeof(p.live[1]), "services[1].check.interval");
	p.nlive = 2;
	/* too long for buf: cut, and it shows */
	memset(buf, 'x', sizeof(buf));
	cfg_plan_live_text(&p, buf, sizeof(buf));
	assert_string_equal(buf, "admin.listen...");
	/* no room at all: nothing written */
	buf[0] = 'x';
	cfg_plan_live_text(&p, buf, 0);
	assert_int_equal(buf[0], 'x');
	/* only the count left: still said */
	p.nlive = 0;
	p.live_more = 2;
	cfg_plan_live_text(&p, buf, sizeof(buf));
	assert_string_equal(buf, " and 2 more");
}

/* The table: start-only rows are the ones the daemon reads once, and fit the plan. */
static void test_start_only_rows(void **state)
{
	static const char *const want[] = { "state_dir", "user", "allow_root", "workers" };
	size_t n = 0;

	(void)state;
	for (size_t i = 0; i < cfg_nsettings; i++) {
		if (!(cfg_settings[i].flags & CFG_F_START_ONLY))
			continue;
		assert_true(n < sizeof(want) / sizeof(want[0]));
		assert_string_equal(cfg_settings[i].path, want[n]);
		n++;
	}
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_unchanged),
		cmocka_unit_test(test_workers_kept),
		cmocka_unit_test(test_user_kept),
		cmocka_unit_test(test_several_kept),
		cmocka_unit_test(test_live_top_level),
		cmocka_unit_test(test_switch_groups),
		cmocka_unit_test(test_live_in_elements),
		cmocka_unit_test(test_elements_matched_by_name),
		cmocka_unit_test(test_live_cap),
		cmocka_unit_test(test_live_text),
		cmocka_unit_test(test_start_only_rows),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
