/*
 * test_agent_report.c -- the JSON report (agent/report.c): every section
 * read back with the project's strict JSON reader, hostile strings kept
 * valid, nulls where nothing is known, and the size cap.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/report.h"
#include "agent/util.h"
#include "lib/json.h"

#ifndef SRCDIR
#error "SRCDIR must name the source root"
#endif
#define PAGE SRCDIR "/docs/poolgate-agent.8"

#define NOW 1800000000000ULL

static struct dc_memory mem;
static struct dc_view view;
static struct dc_user users[200];
static struct jh_user jh;
static struct ag_session sess[2];
static struct sid_key key;
static struct se_doc events;
static struct gpu_sample gpu;
static char *full_report;

static struct rp_input
base(void)
{
	struct rp_input in;

	memset(&in, 0, sizeof(in));
	dc_memory_init(&mem, NOW - 600000);
	memset(&view, 0, sizeof(view));
	view.u = users;
	in.wall_ms = NOW;
	in.interval_ms = 5000;
	in.host = "vm1";
	in.load_pct = 62;
	in.view = &view;
	in.mem = &mem;
	in.sess_source = "logind";
	in.max_report = 1 << 20;
	return in;
}

static struct json_doc *
parse(const char *s, size_t len)
{
	char err[128];
	struct json_doc *d = json_parse(s, len, err, sizeof(err));

	if (d == NULL)
		fail_msg("report is not valid JSON: %s", err);
	return d;
}

static int64_t
num(const struct json_node *o, const char *k)
{
	int64_t v = -12345;

	assert_true(json_get_int(o, k, &v));
	return v;
}

static bool
is_null(const struct json_node *o, const char *k)
{
	const struct json_node *n = json_get(o, k);

	return n != NULL && n->type == JSON_NULL;
}

static bool
boolean(const struct json_node *o, const char *k)
{
	const struct json_node *n = json_get(o, k);

	assert_non_null(n);
	assert_int_equal(n->type, JSON_BOOL);
	return n->boolean;
}

static void
test_empty(void **state)
{
	struct rp_input in = base();
	const struct json_node *r;
	struct json_doc *d;
	size_t len;
	char *s;

	(void)state;
	in.load_pct = -1;
	s = rp_write(&in, &len);
	assert_non_null(s);
	assert_int_equal(strlen(s), len);
	d = parse(s, len);
	r = json_root(d);
	assert_int_equal(num(r, "version"), 1);
	assert_string_equal(json_get_str(r, "host"), "vm1");
	assert_string_equal(json_get_str(r, "time"), "2027-01-15T08:00:00.000Z");
	assert_true(is_null(r, "load_pct"));
	assert_false(boolean(r, "drain"));
	assert_true(is_null(r, "drain_reason"));
	assert_true(boolean(r, "idle"));
	/* nothing known: counted from the agent's start */
	assert_int_equal(num(r, "activity_s"), 600);
	assert_true(is_null(r, "last_activity"));
	assert_int_equal(json_get(r, "users")->count, 0);
	assert_string_equal(json_get_str(json_get(r, "jupyterhub"), "state"), "off");
	assert_string_equal(json_get_str(json_get(r, "gpu"), "state"), "off");
	assert_false(boolean(json_get(r, "azure"), "pending"));
	assert_true(is_null(json_get(r, "azure"), "incarnation"));
	assert_false(boolean(json_get(r, "limits"), "report_truncated"));
	json_free(d);
	free(s);
	dc_memory_free(&mem);
}

static void
test_full(void **state)
{
	struct rp_input in = base();
	const struct json_node *r, *u, *j, *se, *k, *c, *az, *ev;
	struct json_doc *d;
	size_t len;
	char *s;

	(void)state;
	memset(users, 0, sizeof(users));
	/* a name no one should have: quotes, a control byte, broken UTF-8 */
	strcpy(users[0].name, "al\"i\x01\xff" "ce");
	users[0].uid = 1001;
	users[0].nsessions = 1;
	users[0].procs = 12;
	users[0].procs_ignored = 2;
	users[0].cpu_known = true;
	users[0].cpu_ms = 1234;
	users[0].work = DC_WORK_SESSION | DC_WORK_PROCS;
	users[0].last_active_ms = NOW - 30000;
	users[0].gpu_procs = 1;
	users[0].gpu_sm_pct = 40;
	users[0].gpu_fb_mib = -1;
	memset(&jh, 0, sizeof(jh));
	strcpy(jh.name, "alice");
	jh.server = jh.ready = true;
	jh.last_activity_ms = NOW - 60000;
	jh.kernels_busy = 1;
	jh.kernels_idle = 2;
	jh.kernels_other = 0;
	users[0].jh = &jh;
	strcpy(users[1].name, "bob");
	users[1].uid = -1;
	users[1].stale = true;
	users[1].notice_ms = NOW - 1000;
	users[1].work = DC_WORK_NOTICE;
	view.n = 2;
	view.has_work = true;
	view.with_work = 2;
	view.last_activity_ms = NOW - 30000;
	memset(sess, 0, sizeof(sess));
	strcpy(sess[0].user, "al\"i\x01\xff" "ce");
	strcpy(sess[0].id, "3");
	strcpy(sess[0].tty, "pts/0");
	strcpy(sess[0].remote, "10.0.0.10");
	strcpy(sess[0].service, "sshd");
	sess[0].pid = 2001;
	sess[0].since_ms = NOW - 3600000;
	sess[0].has_peer = true;
	strcpy(sess[0].peer_addr, "10.0.0.10");
	sess[0].peer_port = 51234;
	sess[0].local_port = 22;
	in.sess = sess;
	in.nsess = 1;
	in.drain = true;
	in.drain_reason = "kernel update";
	in.hub_state = RP_OK;
	in.hub_users = 1;
	in.gpu_state = RP_OK;
	memset(&gpu, 0, sizeof(gpu));
	gpu.ngpus = 2;
	gpu.n = 1;
	in.gpu = &gpu;
	memset(&key, 0, sizeof(key));
	strcpy(key.file, "/etc/ssh/ssh_host_ed25519_key.pub");
	strcpy(key.type, "ssh-ed25519");
	strcpy(key.fp, "SHA256:abc");
	key.has_cert = key.cert_read = true;
	strcpy(key.cert.ca_fp, "SHA256:ca");
	key.cert.host = true;
	strcpy(key.cert.principals[0], "pool1");
	key.cert.nprincipals = 1;
	key.cert.valid_from_ms = NOW - 1000;
	key.cert.valid_to_ms = UINT64_MAX;
	key.signed_by_pool_ca = SID_YES;
	key.pool_principal = SID_YES;
	key.valid_now = SID_YES;
	key.matches_key = SID_UNKNOWN;
	in.ssh_state = RP_OK;
	in.keys = &key;
	in.nkeys = 1;
	in.ssh_ca_fp = "SHA256:ca";
	in.ssh_principal = "pool1";
	memset(&events, 0, sizeof(events));
	events.incarnation = 3;
	events.n = 1;
	strcpy(events.ev[0].id, "t1");
	strcpy(events.ev[0].type, "Terminate");
	strcpy(events.ev[0].status, "Scheduled");
	strcpy(events.ev[0].resources[0], "vmss_3");
	events.ev[0].nresources = 1;
	events.ev[0].this_vm = true;
	events.ev[0].not_before_ms = NOW + 300000;
	events.ev[0].duration_s = -1;
	dc_event_mem(&mem, "t1")->notified = true;
	in.azure_state = RP_OK;
	in.azure_vm_name = "vmss_3";
	in.events = &events;

	s = rp_write(&in, &len);
	d = parse(s, len);
	r = json_root(d);
	assert_false(boolean(r, "idle"));
	assert_true(boolean(r, "drain"));
	assert_string_equal(json_get_str(r, "drain_reason"), "kernel update");
	assert_int_equal(num(r, "activity_s"), 30);
	assert_int_equal(num(r, "users_with_work"), 2);
	u = json_get(r, "users")->child;
	/* written as \" \u0001 \ufffd: read back, with U+FFFD for the bad byte */
	assert_string_equal(json_get_str(u, "name"), "al\"i\x01\xef\xbf\xbd" "ce");
	assert_int_equal(num(u, "uid"), 1001);
	assert_int_equal(json_get(u, "work")->count, 2);
	assert_string_equal(json_get(u, "work")->child->str, "session");
	assert_int_equal(num(u, "processes"), 12);
	assert_int_equal(num(u, "processes_ignored"), 2);
	assert_int_equal(num(u, "cpu_ms"), 1234);
	assert_int_equal(num(u, "idle_s"), 30);
	assert_false(boolean(u, "stale"));
	assert_true(is_null(u, "notice_at"));
	j = json_get(u, "jupyter");
	assert_true(boolean(j, "ready"));
	assert_int_equal(num(j, "kernels_busy"), 1);
	assert_int_equal(num(j, "kernels_idle"), 2);
	assert_true(is_null(j, "kernel_activity"));
	assert_int_equal(num(json_get(u, "gpu"), "sm_pct"), 40);
	assert_true(is_null(json_get(u, "gpu"), "fb_mib"));
	u = u->next;
	assert_string_equal(json_get_str(u, "name"), "bob");
	assert_true(is_null(u, "uid"));
	assert_true(boolean(u, "stale"));
	assert_string_equal(json_get(u, "work")->child->str, "notice");
	assert_non_null(json_get_str(u, "notice_at"));
	assert_true(is_null(u, "cpu_ms"));
	assert_true(is_null(u, "jupyter"));
	assert_true(is_null(u, "gpu"));
	se = json_get(r, "sessions")->child;
	assert_string_equal(json_get_str(se, "tty"), "pts/0");
	assert_int_equal(num(json_get(se, "peer"), "port"), 51234);
	assert_int_equal(num(json_get(se, "peer"), "local_port"), 22);
	assert_string_equal(json_get_str(json_get(se, "peer"), "address"), "10.0.0.10");
	assert_true(is_null(se, "input"));
	assert_int_equal(num(json_get(r, "gpu"), "gpus"), 2);
	k = json_get(json_get(r, "ssh"), "keys")->child;
	assert_string_equal(json_get_str(k, "fingerprint"), "SHA256:abc");
	c = json_get(k, "certificate");
	assert_true(boolean(c, "signed_by_pool_ca"));
	assert_true(boolean(c, "pool_principal"));
	assert_true(is_null(c, "matches_key"));
	assert_true(is_null(c, "valid_to"));       /* forever */
	assert_string_equal(json_get(c, "principals")->child->str, "pool1");
	az = json_get(r, "azure");
	assert_true(boolean(az, "pending"));
	assert_int_equal(num(az, "incarnation"), 3);
	ev = json_get(az, "events")->child;
	assert_string_equal(json_get_str(ev, "type"), "Terminate");
	assert_int_equal(num(ev, "deadline_s"), 300);
	assert_true(boolean(ev, "notified"));
	assert_false(boolean(ev, "approved"));
	assert_true(is_null(ev, "duration_s"));
	json_free(d);
	free(full_report);
	full_report = s;        /* for test_documented */
	dc_memory_free(&mem);
}

/* Is "Li NAME" in text, as a whole word? */
static bool
documented(const char *text, const char *name)
{
	char want[128];
	const char *p = text;
	size_t n;

	n = (size_t)snprintf(want, sizeof(want), "Li %s", name);
	while ((p = strstr(p, want)) != NULL) {
		if (p[n] == ' ' || p[n] == '\n' || p[n] == '\0')
			return true;
		p += n;
	}
	return false;
}

static void
walk(const struct json_node *n, const char *section, size_t *missing)
{
	const struct json_node *c;

	for (c = n->child; c != NULL; c = c->next) {
		if (c->key != NULL && !documented(section, c->key)) {
			print_error("report member \"%s\" is not in THE REPORT of "
			    "poolgate-agent(8)\n", c->key);
			(*missing)++;
		}
		walk(c, section, missing);
	}
}

/* Every member the report writes is documented in the page. */
static void
test_documented(void **state)
{
	char *page, *start, *end, err[128];
	struct json_doc *d;
	size_t missing = 0;

	(void)state;
	assert_non_null(full_report);
	page = ag_read_text(PAGE, 1 << 20, NULL);
	assert_non_null(page);
	start = strstr(page, "\n.Sh THE REPORT\n");
	assert_non_null(start);
	end = strstr(start + 1, "\n.Sh ");
	assert_non_null(end);
	*end = '\0';
	d = json_parse(full_report, strlen(full_report), err, sizeof(err));
	assert_non_null(d);
	walk(json_root(d), start, &missing);
	assert_int_equal(missing, 0);
	/* and the check notices an undocumented member */
	assert_false(documented(start, "no_such_member"));
	json_free(d);
	free(page);
	free(full_report);
	full_report = NULL;
}

static void
test_cap(void **state)
{
	struct rp_input in = base();
	const struct json_node *r;
	struct json_doc *d;
	size_t len, i;
	char *s;

	(void)state;
	memset(users, 0, sizeof(users));
	for (i = 0; i < 200; i++) {
		snprintf(users[i].name, sizeof(users[i].name), "user%03zu", i);
		users[i].uid = 2000 + (int64_t)i;
		users[i].procs = 1;
		users[i].work = DC_WORK_PROCS;
	}
	view.n = 200;
	view.has_work = true;
	in.max_report = 8192;
	s = rp_write(&in, &len);
	assert_non_null(s);
	assert_true(len < 8192);
	d = parse(s, len);
	r = json_root(d);
	assert_true(json_get(r, "users")->count < 200);
	assert_true(boolean(json_get(r, "limits"), "report_truncated"));
	assert_true(boolean(json_get(r, "limits"), "users_truncated"));
	/* the summary still counts everyone */
	assert_false(boolean(r, "idle"));
	json_free(d);
	free(s);
	dc_memory_free(&mem);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_full),
		cmocka_unit_test(test_documented),
		cmocka_unit_test(test_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
