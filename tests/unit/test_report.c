/*
 * test_report.c -- the agent's report as poolgate reads it
 * (backends/report.c), the fingerprint of a CA line (lib/sshkey.c), and
 * what the pool module does with a report (mbr_report): load, affinity
 * from the truth, conflicts, host identity, evictions, a silent agent.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "backends/members.h"
#include "backends/report.h"
#include "fake_sink.h"
#include "lib/sshkey.h"

#define CA_LINE "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINu0SueyWClPf3+r463kUJatIvfJiHJF8BNQy30NrSab pool-host-ca"
#define CA_FP   "SHA256:SITe9NoC1RMJNGmf4OTsUmjbziOBydHHp1AXxBXymPs"

/* A report as poolgate-agent writes it (members poolgate ignores trimmed). */
static const char full[] =
    "{\"version\":1,\"agent\":\"poolgate-agent 0.1.0\",\"host\":\"vm1\","
    "\"time\":\"2026-12-07T10:00:00.000Z\",\"interval_ms\":5000,"
    "\"load_pct\":40,\"drain\":false,\"drain_reason\":null,\"idle\":false,"
    "\"activity_s\":12,\"last_activity\":\"2026-12-07T09:59:48.000Z\","
    "\"users_with_work\":2,"
    "\"users\":["
    "{\"name\":\"alice\",\"uid\":1001,\"work\":[\"session\",\"processes\"],"
    "\"stale\":false,\"notice_at\":null,\"sessions\":1,\"processes\":3,"
    "\"processes_ignored\":2,\"processes_stale\":0,\"cpu_ms\":120,"
    "\"last_active\":\"2026-12-07T09:59:48.000Z\",\"idle_s\":12,"
    "\"jupyter\":null,\"gpu\":{\"processes\":1,\"sm_pct\":80,\"fb_mib\":900}},"
    "{\"name\":\"bob\",\"uid\":null,\"work\":[\"kernel\"],\"stale\":false,"
    "\"sessions\":0,\"processes\":0,\"idle_s\":300,"
    "\"jupyter\":{\"server\":true,\"ready\":true,\"pending\":null,"
    "\"kernels_busy\":1,\"kernels_idle\":0,\"kernels_other\":0}},"
    "{\"name\":\"carol\",\"uid\":1003,\"work\":[],\"sessions\":0,"
    "\"processes\":0,\"processes_ignored\":1,\"idle_s\":null,\"jupyter\":null,"
    "\"gpu\":null}],"
    "\"sessions\":[{\"user\":\"alice\",\"id\":\"4\",\"tty\":\"pts/0\","
    "\"remote\":\"10.231.0.1\",\"service\":\"sshd\",\"pid\":812,"
    "\"since\":\"2026-12-07T09:00:00.000Z\",\"input\":null,"
    "\"peer\":{\"address\":\"10.231.0.1\",\"port\":40123,\"local_port\":22}}],"
    "\"sources\":{\"sessions\":{\"from\":\"utmp\",\"error\":null}},"
    "\"ssh\":{\"state\":\"ok\",\"error\":null,\"host_ca\":null,"
    "\"principal\":null,\"keys\":[{\"file\":\"/etc/ssh/ssh_host_ed25519_key.pub\","
    "\"type\":\"ssh-ed25519\",\"fingerprint\":\"SHA256:key1\","
    "\"certificate\":{\"read\":true,\"error\":null,"
    "\"type\":\"ssh-ed25519-cert-v01@openssh.com\",\"host\":true,"
    "\"key_id\":\"vm1\",\"signing_ca\":\"" CA_FP "\","
    "\"principals\":[\"pool.example.com\",\"vm1\"],\"valid_from\":null,"
    "\"valid_to\":null,\"signed_by_pool_ca\":null,\"pool_principal\":null,"
    "\"valid_now\":true,\"matches_key\":true}}]},"
    "\"azure\":{\"state\":\"ok\",\"error\":null,\"vm_name\":\"vm1\","
    "\"pending\":true,\"incarnation\":3,\"events\":["
    "{\"id\":\"E1\",\"type\":\"Freeze\",\"status\":\"Scheduled\",\"this_vm\":true,"
    "\"pending\":false},"
    "{\"id\":\"E2\",\"type\":\"Terminate\",\"status\":\"Scheduled\","
    "\"this_vm\":true,\"pending\":true,"
    "\"not_before\":\"Mon, 07 Dec 2026 10:05:00 GMT\",\"deadline_s\":300}]},"
    "\"limits\":{\"users_truncated\":false,\"sessions_truncated\":false,"
    "\"processes_truncated\":false,\"report_truncated\":false}}";

static struct vm_report rep;

static void
test_parse_full(void **state)
{
	char err[160];
	const struct rep_user *u;

	(void)state;
	assert_int_equal(rep_parse(full, strlen(full), &rep, err, sizeof(err)), 0);
	assert_string_equal(rep.host, "vm1");
	assert_false(rep.idle);
	assert_int_equal(rep.users_with_work, 2);
	assert_int_equal(rep.activity_s, 12);
	assert_int_equal(rep.load_pct, 40);
	assert_false(rep.truncated);
	assert_int_equal(rep.nusers, 3);
	u = rep_user_find(&rep, "alice");
	assert_non_null(u);
	assert_true(u->work);
	assert_int_equal(u->kinds, (1u << REP_K_SSH) | (1u << REP_K_PROCESS) |
	    (1u << REP_K_GPU));
	assert_int_equal(u->idle_s, 12);
	u = rep_user_find(&rep, "bob");
	assert_int_equal(u->kinds, (1u << REP_K_JUPYTER) | (1u << REP_K_KERNEL));
	u = rep_user_find(&rep, "carol");
	assert_false(u->work);
	assert_int_equal(u->kinds, 0);
	assert_int_equal(u->idle_s, -1);
	assert_null(rep_user_find(&rep, "dave"));
	assert_int_equal(rep.nsessions, 1);
	assert_string_equal(rep.sessions[0].peer_addr, "10.231.0.1");
	assert_int_equal(rep.sessions[0].peer_port, 40123);
	assert_true(rep.ssh_ok);
	assert_int_equal(rep.nkeys, 1);
	assert_int_equal(rep.keys[0].nprincipals, 2);
	assert_true(rep.evict_pending);
	assert_string_equal(rep.evict.type, "Terminate");
	assert_string_equal(rep.evict.id, "E2");
	assert_int_equal(rep.evict.deadline_s, 300);
	assert_string_equal(rep_kind_name(REP_K_KERNEL), "kernel");
	assert_string_equal(rep_kind_name((enum rep_kind)99), "unknown");
}

static void
expect_refused(const char *body, const char *want)
{
	char err[160];

	assert_int_equal(rep_parse(body, strlen(body), &rep, err, sizeof(err)), -1);
	if (strstr(err, want) == NULL)
		fail_msg("\"%s\" does not say \"%s\"", err, want);
	assert_int_equal(rep.nusers, 0);
	assert_false(rep.idle);
}

static void
test_parse_refusals(void **state)
{
	(void)state;
	expect_refused("", "offset 0");
	expect_refused("[1]", "not an object");
	expect_refused("{\"version\":2,\"idle\":true}", "unsupported report version");
	expect_refused("{\"idle\":true}", "unsupported report version");
	expect_refused("{\"version\":1,\"idle\":\"yes\"}", "idle: a string where a boolean");
	expect_refused("{\"version\":1,\"users\":{}}", "users: an object where an array");
	expect_refused("{\"version\":1,\"users\":[{\"name\":\"a\",\"jupyter\":[]}]}",
	    "jupyter: an array");
	expect_refused("{\"version\":1,\"ssh\":{\"keys\":[{\"certificate\":"
	    "{\"principals\":\"x\"}}]}}", "principals");
}

/* A cap hit anywhere means something unseen: never idle. */
static void
test_truncated_is_never_idle(void **state)
{
	char err[160], *big;
	size_t off = 0, cap = 64 * 1024;

	(void)state;
	const char *lim = "{\"version\":1,\"idle\":true,\"limits\":"
	    "{\"users_truncated\":true}}";
	assert_int_equal(rep_parse(lim, strlen(lim), &rep, err, sizeof(err)), 0);
	assert_true(rep.truncated);
	assert_false(rep.idle);

	big = malloc(cap);
	assert_non_null(big);
	off += (size_t)snprintf(big, cap, "{\"version\":1,\"idle\":true,\"users\":[");
	for (int i = 0; i < REP_USERS_MAX + 5; i++)
		off += (size_t)snprintf(big + off, cap - off, "%s{\"name\":\"u%d\"}",
		    i ? "," : "", i);
	snprintf(big + off, cap - off, "]}");
	assert_int_equal(rep_parse(big, strlen(big), &rep, err, sizeof(err)), 0);
	assert_int_equal(rep.nusers, REP_USERS_MAX);
	assert_true(rep.truncated);
	assert_false(rep.idle);
	free(big);
}

static void
test_http_body(void **state)
{
	const char *body;
	size_t blen;
	char err[160];
	const char ok[] = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
	    "Content-Length: 2\r\nConnection: close\r\n\r\n{}";
	const char noclen[] = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"a\":1}";
	const char nf[] = "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n";
	const char cut[] = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n{}";
	const char chunked[] = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
	const char half[] = "HTTP/1.1 200 OK\r\nContent-Le";

	(void)state;
	assert_int_equal(rep_http_body(ok, strlen(ok), &body, &blen, err, sizeof(err)), 0);
	assert_int_equal(blen, 2);
	assert_memory_equal(body, "{}", 2);
	assert_int_equal(rep_http_body(noclen, strlen(noclen), &body, &blen, err,
	    sizeof(err)), 0);
	assert_int_equal(blen, 7);
	assert_int_equal(rep_http_body(nf, strlen(nf), &body, &blen, err, sizeof(err)), -1);
	assert_string_equal(err, "HTTP 404");
	assert_int_equal(rep_http_body(cut, strlen(cut), &body, &blen, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cut short"));
	assert_int_equal(rep_http_body(chunked, strlen(chunked), &body, &blen, err,
	    sizeof(err)), -1);
	assert_int_equal(rep_http_body(half, strlen(half), &body, &blen, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "incomplete"));
	assert_int_equal(rep_http_body("garbage\r\n\r\n", 11, &body, &blen, err,
	    sizeof(err)), -1);
}

static void
test_fingerprint(void **state)
{
	char fp[SSHKEY_FP_MAX + 1];

	(void)state;
	/* What `ssh-keygen -l -f` printed for this key. */
	assert_int_equal(ssh_key_fingerprint(CA_LINE, fp, sizeof(fp)), 0);
	assert_string_equal(fp, CA_FP);
	assert_int_equal(ssh_key_fingerprint("  " CA_LINE "\n", fp, sizeof(fp)), 0);
	assert_string_equal(fp, CA_FP);
	assert_int_equal(ssh_key_fingerprint("ssh-ed25519", fp, sizeof(fp)), -1);
	assert_int_equal(ssh_key_fingerprint("ssh-ed25519 AAA*", fp, sizeof(fp)), -1);
	assert_int_equal(ssh_key_fingerprint("ssh-ed25519 A=AA", fp, sizeof(fp)), -1);
	assert_int_equal(ssh_key_fingerprint("", fp, sizeof(fp)), -1);
	assert_int_equal(ssh_key_fingerprint(CA_LINE, fp, 20), -1);
}

static void
test_host_identity(void **state)
{
	char err[160], why[192];
	struct rep_key *k;

	(void)state;
	assert_int_equal(rep_parse(full, strlen(full), &rep, err, sizeof(err)), 0);
	assert_true(rep_host_identity_ok(&rep, CA_FP, "pool.example.com", why, sizeof(why)));
	assert_true(rep_host_identity_ok(&rep, CA_FP, NULL, why, sizeof(why)));
	assert_false(rep_host_identity_ok(&rep, CA_FP, "other.example.com", why, sizeof(why)));
	assert_non_null(strstr(why, "does not name other.example.com"));
	assert_false(rep_host_identity_ok(&rep, "SHA256:someoneelse", NULL, why, sizeof(why)));
	assert_non_null(strstr(why, "not the pool's CA"));
	k = &rep.keys[0];
	k->valid_now = 0;
	assert_false(rep_host_identity_ok(&rep, CA_FP, NULL, why, sizeof(why)));
	assert_non_null(strstr(why, "not valid now"));
	k->valid_now = -1;   /* the agent could not tell: not held against it */
	assert_true(rep_host_identity_ok(&rep, CA_FP, NULL, why, sizeof(why)));
	k->cert_host = false;
	assert_false(rep_host_identity_ok(&rep, CA_FP, NULL, why, sizeof(why)));
	assert_non_null(strstr(why, "no host certificate"));
	k->cert = false;
	assert_false(rep_host_identity_ok(&rep, CA_FP, NULL, why, sizeof(why)));
	/* Keys the agent could not read are not judged. */
	rep.ssh_ok = false;
	assert_true(rep_host_identity_ok(&rep, CA_FP, NULL, why, sizeof(why)));
}

/* What `poolgate-agent -r` printed (tests/fuzz/corpus/report/agent-r.json). */
static void
test_parse_real_agent(void **state)
{
	char err[160], *buf;
	FILE *f = fopen(SRCDIR "/tests/fuzz/corpus/report/agent-r.json", "r");
	size_t n;

	(void)state;
	assert_non_null(f);
	buf = malloc(1 << 20);
	assert_non_null(buf);
	n = fread(buf, 1, 1 << 20, f);
	fclose(f);
	if (rep_parse(buf, n, &rep, err, sizeof(err)) != 0)
		fail_msg("the agent's own report is refused: %s", err);
	assert_true(rep.host[0] != '\0');
	free(buf);
}

/* ---- mbr_report ------------------------------------------------------------ */

static struct fake_sink fs;
static struct members m;

static struct backend *
vm(const char *name)
{
	struct backend *b = pool_find(&m.pool, name);

	assert_non_null(b);
	return b;
}

static int
setup(void **state)
{
	char err[160];

	(void)state;
	fs_init(&fs);
	assert_int_equal(mbr_init(&m, 1000, 1000, 60000, &fs.sink), 0);
	mbr_set_services(&m, NULL, 1);
	aff_set_ttl(m.aff, 3600000);
	for (int i = 1; i <= 3; i++) {
		char name[8], addr[16];

		snprintf(name, sizeof(name), "vm%d", i);
		snprintf(addr, sizeof(addr), "10.0.0.%d", i);
		assert_int_equal(mbr_upsert(&m, BE_SRC_API, name, addr, 1, 0, err,
		    sizeof(err)), 1);
		mbr_check_result(&m, vm(name), 0, "ssh", 1, 1, true, NULL, 1, 1000);
	}
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	mbr_free(&m);
	return 0;
}

/* A report of one user with work (idle_s) and n users in all. */
static void
one_user(struct vm_report *r, const char *user, int64_t idle_s, int n)
{
	memset(r, 0, sizeof(*r));
	r->users_with_work = n;
	r->idle = n == 0;
	if (user == NULL)
		return;
	r->nusers = 1;
	snprintf(r->users[0].name, sizeof(r->users[0].name), "%s", user);
	r->users[0].work = true;
	r->users[0].kinds = 1u << REP_K_PROCESS;
	r->users[0].idle_s = idle_s;
}

static const char *
aff_of(const char *user, uint64_t now)
{
	char key[AFF_KEY_MAX + 1];
	const struct aff_entry *e;

	snprintf(key, sizeof(key), "user:%s", user);
	e = aff_lookup(m.aff, key, now);
	return e != NULL ? e->backend : "";
}

static void
test_load_and_affinity(void **state)
{
	struct vm_report r;
	struct route_in in = { .ip_key = "ip:192.0.2.9" };
	enum route_why why;
	struct backend *b;

	(void)state;
	/* vm1 holds a detached job of alice and two other users' work. */
	one_user(&r, "alice", 5, 3);
	mbr_report(&m, vm("vm1"), &r, NULL, 2000);
	assert_true(vm("vm1")->report_ok);
	assert_int_equal(vm("vm1")->sessions, 0);
	assert_int_equal(be_load(vm("vm1")), 3);
	assert_string_equal(aff_of("alice", 2000), "vm1");
	assert_true(m.aff_dirty);
	/* A new user goes to the least loaded VM by the agents' count. */
	for (int i = 0; i < 2; i++) {
		b = mbr_pick(&m, 0, &in, NULL, 0, &why, 2100);
		assert_non_null(b);
		assert_string_not_equal(b->name, "vm1");
		mbr_session_start(&m, b, NULL, 2100);
		in.ip_key = "ip:192.0.2.10";
	}
	/* poolgate's own count wins when it is larger. */
	one_user(&r, NULL, 0, 0);
	mbr_report(&m, vm("vm1"), &r, NULL, 3000);
	assert_int_equal(be_load(vm("vm1")), 0);
	mbr_session_start(&m, vm("vm1"), NULL, 3000);
	assert_int_equal(be_load(vm("vm1")), 1);
	/* max_sessions compares the load. */
	vm("vm2")->max_sessions = 2;
	one_user(&r, "bob", 1, 2);
	mbr_report(&m, vm("vm2"), &r, NULL, 3000);
	assert_false(be_takes_new(vm("vm2"), 0));
}

static void
test_conflict_most_recent_wins(void **state)
{
	struct vm_report r;

	(void)state;
	one_user(&r, "alice", 600, 1);
	mbr_report(&m, vm("vm1"), &r, NULL, 2000);
	assert_string_equal(aff_of("alice", 2000), "vm1");
	/* vm2 holds more recent work of hers: it wins. */
	one_user(&r, "alice", 10, 1);
	mbr_report(&m, vm("vm2"), &r, NULL, 2100);
	assert_string_equal(aff_of("alice", 2100), "vm2");
	assert_int_equal(vm("vm2")->claims_lost, 0);
	/* vm1's next report loses to vm2's and says so. */
	one_user(&r, "alice", 620, 1);
	mbr_report(&m, vm("vm1"), &r, NULL, 2200);
	assert_string_equal(aff_of("alice", 2200), "vm2");
	assert_int_equal(vm("vm1")->claims_lost, 1);
	/* A silent agent's old report claims nobody. */
	mbr_report(&m, vm("vm2"), NULL, "timeout", 2300);
	assert_false(vm("vm2")->report_ok);
	assert_string_equal(vm("vm2")->report_err, "timeout");
	mbr_report(&m, vm("vm1"), &r, NULL, 2400);
	assert_string_equal(aff_of("alice", 2400), "vm1");
	assert_int_equal(vm("vm1")->claims_lost, 0);
}

/* A live session placed by poolgate keeps its key until its VM reports. */
static void
test_live_session_kept(void **state)
{
	struct vm_report r;

	(void)state;
	mbr_session_start(&m, vm("vm3"), "user:carol", 1000);
	one_user(&r, "carol", 100, 1);
	mbr_report(&m, vm("vm1"), &r, NULL, 2000);
	assert_string_equal(aff_of("carol", 2000), "vm3");
	mbr_session_end(&m, vm("vm3"), "user:carol", 2500);
	mbr_report(&m, vm("vm1"), &r, NULL, 3000);
	assert_string_equal(aff_of("carol", 3000), "vm1");
	/* Names that are not user names never become keys. */
	one_user(&r, "#1001", 1, 1);
	mbr_report(&m, vm("vm2"), &r, NULL, 3000);
	assert_string_equal(aff_of("#1001", 3000), "");
}

static void
test_identity_and_eviction(void **state)
{
	char err[160];
	struct vm_report *r = malloc(sizeof(*r));

	(void)state;
	assert_non_null(r);
	assert_int_equal(rep_parse(full, strlen(full), r, err, sizeof(err)), 0);
	/* No CA configured: keys are not judged. */
	r->evict_pending = false;
	mbr_report(&m, vm("vm1"), r, NULL, 2000);
	assert_false(vm("vm1")->identity_bad);
	assert_int_equal(be_state(vm("vm1"), 1), BE_UP);
	mbr_set_host_ca(&m, "SHA256:another", NULL);
	mbr_report(&m, vm("vm1"), r, NULL, 3000);
	assert_true(vm("vm1")->identity_bad);
	assert_int_equal(be_state(vm("vm1"), 1), BE_DOWN);
	assert_false(be_takes_new(vm("vm1"), 0));
	assert_false(be_takes_affine(vm("vm1"), 0));
	assert_non_null(strstr(vm("vm1")->identity_why, "not the pool's CA"));
	assert_non_null(strstr(fs.last_note, "host identity"));
	mbr_set_host_ca(&m, CA_FP, "pool.example.com");
	mbr_report(&m, vm("vm1"), r, NULL, 4000);
	assert_false(vm("vm1")->identity_bad);
	assert_int_equal(be_state(vm("vm1"), 1), BE_UP);
	/* A pending Terminate drains; returning users still get in. */
	r->evict_pending = true;
	mbr_report(&m, vm("vm1"), r, NULL, 5000);
	assert_true(vm("vm1")->evicting);
	assert_int_equal(be_state(vm("vm1"), 1), BE_DRAIN);
	assert_false(be_takes_new(vm("vm1"), 0));
	assert_true(be_takes_affine(vm("vm1"), 0));
	assert_non_null(strstr(fs.last_note, "evicting: Terminate"));
	r->evict_pending = false;
	mbr_report(&m, vm("vm1"), r, NULL, 6000);
	assert_int_equal(be_state(vm("vm1"), 1), BE_UP);
	free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_full),
		cmocka_unit_test(test_parse_refusals),
		cmocka_unit_test(test_parse_real_agent),
		cmocka_unit_test(test_truncated_is_never_idle),
		cmocka_unit_test(test_http_body),
		cmocka_unit_test(test_fingerprint),
		cmocka_unit_test(test_host_identity),
		cmocka_unit_test_setup_teardown(test_load_and_affinity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_conflict_most_recent_wins, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_session_kept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identity_and_eviction, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
