/*
 * test_metrics.c -- GET /metrics (admin/metrics.c): one table walked by
 * one loop gives, for a pool of four VMs and two services (one with a name
 * that needs escaping), the exact text the hand-written handler gave before
 * it became a table: names, HELP and TYPE lines, labels and their order,
 * values and their formats. docs/metrics.md is checked against the names
 * by test_metrics_doc.sh.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>

#include "admin/admin.h"
#include "admin/metrics.h"
#include "backends/affinity.h"
#include "backends/members.h"
#include "backends/usersess.h"
#include "lib/log.h"
#include "proxy/proxy.h"

/* proxy/proxy.c's names (that file runs the data path: not linked here) */
const char *
conn_err_name(enum conn_err e)
{
	static const char *const names[ERR__COUNT] = {
		[ERR_MAX_CONNECTIONS] = "max_connections",
		[ERR_PER_IP] = "per_ip_connections",
		[ERR_PER_IP_RATE] = "per_ip_rate",
		[ERR_NO_BACKEND] = "no_backend",
		[ERR_CONNECT_FAILED] = "connect_failed",
		[ERR_CONNECT_TIMEOUT] = "connect_timeout",
		[ERR_RESOURCES] = "resources",
		[ERR_BAD_FIRST_PACKET] = "bad_first_packet",
		[ERR_FIRST_PACKET_TIMEOUT] = "first_packet_timeout",
		[ERR_TLS_HANDSHAKE] = "tls_handshake",
		[ERR_BAD_SERVER_NAME] = "bad_server_name",
	};
	return (unsigned)e < ERR__COUNT ? names[e] : "unknown";
}

static struct members    mbr;
static struct px_ctx     px;
static struct adm_ctx    adm;
static struct service    svc[2];
static struct pg_config  cfg;
static struct worker     workers[2];

/* What the hand-written handler wrote for the pool of setup(). */
static const char want[] =
	"# HELP poolgate_up 1 while poolgate runs.\n"
	"# TYPE poolgate_up gauge\n"
	"poolgate_up 1\n"
	"# HELP poolgate_backend_up 1 when the VM passes its health checks for the service.\n"
	"# TYPE poolgate_backend_up gauge\n"
	"poolgate_backend_up{backend=\"vm1\",service=\"ssh\"} 1\n"
	"poolgate_backend_up{backend=\"vm1\",service=\"jup\\\"yter\\\\x\\n\"} 0\n"
	"poolgate_backend_up{backend=\"vm-2.b\",service=\"ssh\"} 1\n"
	"poolgate_backend_up{backend=\"vm-2.b\",service=\"jup\\\"yter\\\\x\\n\"} 1\n"
	"poolgate_backend_up{backend=\"vm3\",service=\"ssh\"} 1\n"
	"poolgate_backend_up{backend=\"vm3\",service=\"jup\\\"yter\\\\x\\n\"} 1\n"
	"poolgate_backend_up{backend=\"vm4\",service=\"ssh\"} 1\n"
	"poolgate_backend_up{backend=\"vm4\",service=\"jup\\\"yter\\\\x\\n\"} 1\n"
	"# HELP poolgate_backend_sessions Live sessions on the VM, all services.\n"
	"# TYPE poolgate_backend_sessions gauge\n"
	"poolgate_backend_sessions{backend=\"vm1\"} 3\n"
	"poolgate_backend_sessions{backend=\"vm-2.b\"} 0\n"
	"poolgate_backend_sessions{backend=\"vm3\"} 5\n"
	"poolgate_backend_sessions{backend=\"vm4\"} 1\n"
	"# HELP poolgate_backend_state 1 for the state the VM is in (up, down, drain, maint).\n"
	"# TYPE poolgate_backend_state gauge\n"
	"poolgate_backend_state{backend=\"vm1\",state=\"up\"} 0\n"
	"poolgate_backend_state{backend=\"vm1\",state=\"down\"} 1\n"
	"poolgate_backend_state{backend=\"vm1\",state=\"drain\"} 0\n"
	"poolgate_backend_state{backend=\"vm1\",state=\"maint\"} 0\n"
	"poolgate_backend_state{backend=\"vm-2.b\",state=\"up\"} 0\n"
	"poolgate_backend_state{backend=\"vm-2.b\",state=\"down\"} 0\n"
	"poolgate_backend_state{backend=\"vm-2.b\",state=\"drain\"} 1\n"
	"poolgate_backend_state{backend=\"vm-2.b\",state=\"maint\"} 0\n"
	"poolgate_backend_state{backend=\"vm3\",state=\"up\"} 0\n"
	"poolgate_backend_state{backend=\"vm3\",state=\"down\"} 0\n"
	"poolgate_backend_state{backend=\"vm3\",state=\"drain\"} 0\n"
	"poolgate_backend_state{backend=\"vm3\",state=\"maint\"} 1\n"
	"poolgate_backend_state{backend=\"vm4\",state=\"up\"} 1\n"
	"poolgate_backend_state{backend=\"vm4\",state=\"down\"} 0\n"
	"poolgate_backend_state{backend=\"vm4\",state=\"drain\"} 0\n"
	"poolgate_backend_state{backend=\"vm4\",state=\"maint\"} 0\n"
	"# HELP poolgate_backend_users Users on the VM: Jupyter users active through poolgate (jupyter_active), and by the VM's agent those with work, by kind.\n"
	"# TYPE poolgate_backend_users gauge\n"
	"poolgate_backend_users{backend=\"vm1\",kind=\"jupyter_active\"} 2\n"
	"poolgate_backend_users{backend=\"vm1\",kind=\"work\"} 0\n"
	"poolgate_backend_users{backend=\"vm1\",kind=\"ssh\"} 0\n"
	"poolgate_backend_users{backend=\"vm1\",kind=\"process\"} 0\n"
	"poolgate_backend_users{backend=\"vm1\",kind=\"jupyter\"} 0\n"
	"poolgate_backend_users{backend=\"vm1\",kind=\"kernel\"} 0\n"
	"poolgate_backend_users{backend=\"vm1\",kind=\"gpu\"} 0\n"
	"poolgate_backend_users{backend=\"vm-2.b\",kind=\"jupyter_active\"} 0\n"
	"poolgate_backend_users{backend=\"vm-2.b\",kind=\"work\"} 0\n"
	"poolgate_backend_users{backend=\"vm-2.b\",kind=\"ssh\"} 0\n"
	"poolgate_backend_users{backend=\"vm-2.b\",kind=\"process\"} 0\n"
	"poolgate_backend_users{backend=\"vm-2.b\",kind=\"jupyter\"} 0\n"
	"poolgate_backend_users{backend=\"vm-2.b\",kind=\"kernel\"} 0\n"
	"poolgate_backend_users{backend=\"vm-2.b\",kind=\"gpu\"} 0\n"
	"poolgate_backend_users{backend=\"vm3\",kind=\"jupyter_active\"} 1\n"
	"poolgate_backend_users{backend=\"vm3\",kind=\"work\"} 0\n"
	"poolgate_backend_users{backend=\"vm3\",kind=\"ssh\"} 0\n"
	"poolgate_backend_users{backend=\"vm3\",kind=\"process\"} 0\n"
	"poolgate_backend_users{backend=\"vm3\",kind=\"jupyter\"} 0\n"
	"poolgate_backend_users{backend=\"vm3\",kind=\"kernel\"} 0\n"
	"poolgate_backend_users{backend=\"vm3\",kind=\"gpu\"} 0\n"
	"poolgate_backend_users{backend=\"vm4\",kind=\"jupyter_active\"} 0\n"
	"poolgate_backend_users{backend=\"vm4\",kind=\"work\"} 0\n"
	"poolgate_backend_users{backend=\"vm4\",kind=\"ssh\"} 0\n"
	"poolgate_backend_users{backend=\"vm4\",kind=\"process\"} 0\n"
	"poolgate_backend_users{backend=\"vm4\",kind=\"jupyter\"} 0\n"
	"poolgate_backend_users{backend=\"vm4\",kind=\"kernel\"} 0\n"
	"poolgate_backend_users{backend=\"vm4\",kind=\"gpu\"} 0\n"
	"# HELP poolgate_backend_activity_seconds Seconds since any user did anything on the VM, by its agent.\n"
	"# TYPE poolgate_backend_activity_seconds gauge\n"
	"# HELP poolgate_sessions_live Relayed sessions open, by mode (ssh, rdp, tls-ssh).\n"
	"# TYPE poolgate_sessions_live gauge\n"
	"poolgate_sessions_live{mode=\"ssh\"} 0\n"
	"poolgate_sessions_live{mode=\"rdp\"} 0\n"
	"poolgate_sessions_live{mode=\"tls-ssh\"} 0\n"
	"# HELP poolgate_state_writable 1 while the affinity table can be saved in state_dir.\n"
	"# TYPE poolgate_state_writable gauge\n"
	"poolgate_state_writable 1\n"
	"# HELP poolgate_backend_connections_total Connections relayed to the VM.\n"
	"# TYPE poolgate_backend_connections_total counter\n"
	"poolgate_backend_connections_total{backend=\"vm1\"} 77\n"
	"poolgate_backend_connections_total{backend=\"vm-2.b\"} 0\n"
	"poolgate_backend_connections_total{backend=\"vm3\"} 0\n"
	"poolgate_backend_connections_total{backend=\"vm4\"} 0\n"
	"# HELP poolgate_connections_total Client connections accepted by the service.\n"
	"# TYPE poolgate_connections_total counter\n"
	"poolgate_connections_total{service=\"ssh\"} 100\n"
	"poolgate_connections_total{service=\"jup\\\"yter\\\\x\\n\"} 7\n"
	"# HELP poolgate_connections_active Client connections open on the service.\n"
	"# TYPE poolgate_connections_active gauge\n"
	"poolgate_connections_active{service=\"ssh\"} 4\n"
	"poolgate_connections_active{service=\"jup\\\"yter\\\\x\\n\"} 0\n"
	"# HELP poolgate_connection_errors_total Connections refused or failed, by reason.\n"
	"# TYPE poolgate_connection_errors_total counter\n"
	"poolgate_connection_errors_total{service=\"ssh\",reason=\"max_connections\"} 0\n"
	"poolgate_connection_errors_total{service=\"ssh\",reason=\"per_ip_connections\"} 0\n"
	"poolgate_connection_errors_total{service=\"ssh\",reason=\"per_ip_rate\"} 0\n"
	"poolgate_connection_errors_total{service=\"ssh\",reason=\"no_backend\"} 3\n"
	"poolgate_connection_errors_total{service=\"ssh\",reason=\"connect_failed\"} 0\n"
	"poolgate_connection_errors_total{service=\"ssh\",reason=\"connect_timeout\"} 0\n"
	"poolgate_connection_errors_total{service=\"ssh\",reason=\"resources\"} 0\n"
	"poolgate_connection_errors_total{service=\"ssh\",reason=\"bad_first_packet\"} 0\n"
	"poolgate_connection_errors_total{service=\"ssh\",reason=\"first_packet_timeout\"} 0\n"
	"poolgate_connection_errors_total{service=\"ssh\",reason=\"tls_handshake\"} 0\n"
	"poolgate_connection_errors_total{service=\"ssh\",reason=\"bad_server_name\"} 0\n"
	"poolgate_connection_errors_total{service=\"jup\\\"yter\\\\x\\n\",reason=\"max_connections\"} 0\n"
	"poolgate_connection_errors_total{service=\"jup\\\"yter\\\\x\\n\",reason=\"per_ip_connections\"} 0\n"
	"poolgate_connection_errors_total{service=\"jup\\\"yter\\\\x\\n\",reason=\"per_ip_rate\"} 0\n"
	"poolgate_connection_errors_total{service=\"jup\\\"yter\\\\x\\n\",reason=\"no_backend\"} 0\n"
	"poolgate_connection_errors_total{service=\"jup\\\"yter\\\\x\\n\",reason=\"connect_failed\"} 0\n"
	"poolgate_connection_errors_total{service=\"jup\\\"yter\\\\x\\n\",reason=\"connect_timeout\"} 0\n"
	"poolgate_connection_errors_total{service=\"jup\\\"yter\\\\x\\n\",reason=\"resources\"} 9\n"
	"poolgate_connection_errors_total{service=\"jup\\\"yter\\\\x\\n\",reason=\"bad_first_packet\"} 0\n"
	"poolgate_connection_errors_total{service=\"jup\\\"yter\\\\x\\n\",reason=\"first_packet_timeout\"} 0\n"
	"poolgate_connection_errors_total{service=\"jup\\\"yter\\\\x\\n\",reason=\"tls_handshake\"} 0\n"
	"poolgate_connection_errors_total{service=\"jup\\\"yter\\\\x\\n\",reason=\"bad_server_name\"} 0\n"
	"# HELP poolgate_affinity_entries Entries in the affinity table.\n"
	"# TYPE poolgate_affinity_entries gauge\n"
	"poolgate_affinity_entries 3\n"
	"# HELP poolgate_backend_bytes_total Bytes relayed for SSH/TCP sessions to the VM, as they move.\n"
	"# TYPE poolgate_backend_bytes_total counter\n"
	"poolgate_backend_bytes_total{backend=\"vm1\",direction=\"up\"} 1\n"
	"poolgate_backend_bytes_total{backend=\"vm1\",direction=\"down\"} 2\n"
	"poolgate_backend_bytes_total{backend=\"vm-2.b\",direction=\"up\"} 0\n"
	"poolgate_backend_bytes_total{backend=\"vm-2.b\",direction=\"down\"} 0\n"
	"poolgate_backend_bytes_total{backend=\"vm3\",direction=\"up\"} 0\n"
	"poolgate_backend_bytes_total{backend=\"vm3\",direction=\"down\"} 0\n"
	"poolgate_backend_bytes_total{backend=\"vm4\",direction=\"up\"} 0\n"
	"poolgate_backend_bytes_total{backend=\"vm4\",direction=\"down\"} 0\n"
	"# HELP poolgate_bytes_total Bytes relayed by the service (up: client to VM): tcp and websockets as they move, other http when connections end.\n"
	"# TYPE poolgate_bytes_total counter\n"
	"poolgate_bytes_total{service=\"ssh\",direction=\"up\"} 5555\n"
	"poolgate_bytes_total{service=\"ssh\",direction=\"down\"} 66666\n"
	"poolgate_bytes_total{service=\"jup\\\"yter\\\\x\\n\",direction=\"up\"} 0\n"
	"poolgate_bytes_total{service=\"jup\\\"yter\\\\x\\n\",direction=\"down\"} 0\n"
	"# HELP poolgate_backend_check_latency_seconds Duration of the last health check of the VM for the service.\n"
	"# TYPE poolgate_backend_check_latency_seconds gauge\n"
	"poolgate_backend_check_latency_seconds{backend=\"vm1\",service=\"ssh\"} 0.012\n"
	"poolgate_backend_check_latency_seconds{backend=\"vm1\",service=\"jup\\\"yter\\\\x\\n\"} 0.000\n"
	"poolgate_backend_check_latency_seconds{backend=\"vm-2.b\",service=\"ssh\"} 0.000\n"
	"poolgate_backend_check_latency_seconds{backend=\"vm-2.b\",service=\"jup\\\"yter\\\\x\\n\"} 1.234\n"
	"poolgate_backend_check_latency_seconds{backend=\"vm3\",service=\"ssh\"} 0.000\n"
	"poolgate_backend_check_latency_seconds{backend=\"vm3\",service=\"jup\\\"yter\\\\x\\n\"} 0.000\n"
	"poolgate_backend_check_latency_seconds{backend=\"vm4\",service=\"ssh\"} 0.000\n"
	"poolgate_backend_check_latency_seconds{backend=\"vm4\",service=\"jup\\\"yter\\\\x\\n\"} 0.000\n"
	"# HELP poolgate_backend_checks_total Health check results (active and passive), by result.\n"
	"# TYPE poolgate_backend_checks_total counter\n"
	"poolgate_backend_checks_total{backend=\"vm1\",service=\"ssh\",result=\"failed\"} 3\n"
	"poolgate_backend_checks_total{backend=\"vm1\",service=\"ssh\",result=\"ok\"} 97\n"
	"poolgate_backend_checks_total{backend=\"vm1\",service=\"jup\\\"yter\\\\x\\n\",result=\"failed\"} 0\n"
	"poolgate_backend_checks_total{backend=\"vm1\",service=\"jup\\\"yter\\\\x\\n\",result=\"ok\"} 0\n"
	"poolgate_backend_checks_total{backend=\"vm-2.b\",service=\"ssh\",result=\"failed\"} 0\n"
	"poolgate_backend_checks_total{backend=\"vm-2.b\",service=\"ssh\",result=\"ok\"} 0\n"
	"poolgate_backend_checks_total{backend=\"vm-2.b\",service=\"jup\\\"yter\\\\x\\n\",result=\"failed\"} 0\n"
	"poolgate_backend_checks_total{backend=\"vm-2.b\",service=\"jup\\\"yter\\\\x\\n\",result=\"ok\"} 0\n"
	"poolgate_backend_checks_total{backend=\"vm3\",service=\"ssh\",result=\"failed\"} 0\n"
	"poolgate_backend_checks_total{backend=\"vm3\",service=\"ssh\",result=\"ok\"} 0\n"
	"poolgate_backend_checks_total{backend=\"vm3\",service=\"jup\\\"yter\\\\x\\n\",result=\"failed\"} 0\n"
	"poolgate_backend_checks_total{backend=\"vm3\",service=\"jup\\\"yter\\\\x\\n\",result=\"ok\"} 0\n"
	"poolgate_backend_checks_total{backend=\"vm4\",service=\"ssh\",result=\"failed\"} 0\n"
	"poolgate_backend_checks_total{backend=\"vm4\",service=\"ssh\",result=\"ok\"} 0\n"
	"poolgate_backend_checks_total{backend=\"vm4\",service=\"jup\\\"yter\\\\x\\n\",result=\"failed\"} 0\n"
	"poolgate_backend_checks_total{backend=\"vm4\",service=\"jup\\\"yter\\\\x\\n\",result=\"ok\"} 0\n"
	"# HELP poolgate_selection_seconds Time spent choosing a VM for a connection or request.\n"
	"# TYPE poolgate_selection_seconds summary\n"
	"poolgate_selection_seconds_sum 0.987654321\n"
	"poolgate_selection_seconds_count 12345\n"
	"# HELP poolgate_queue_length Connections waiting for a VM (wake from zero), by service.\n"
	"# TYPE poolgate_queue_length gauge\n"
	"poolgate_queue_length{service=\"ssh\"} 0\n"
	"poolgate_queue_length{service=\"jup\\\"yter\\\\x\\n\"} 2\n"
	"# HELP poolgate_hook_runs_total Hook command runs, by event and outcome.\n"
	"# TYPE poolgate_hook_runs_total counter\n"
	/* no sample without a cluster group */
	"# HELP poolgate_cluster_up 1 while this node reaches Redis and shares the pool; 0 degraded.\n"
	"# TYPE poolgate_cluster_up gauge\n"
	"# HELP poolgate_jupyter_users Jupyter users active in the pool.\n"
	"# TYPE poolgate_jupyter_users gauge\n"
	"poolgate_jupyter_users 3\n"
	"# HELP poolgate_connections_open Client connections open, all services.\n"
	"# TYPE poolgate_connections_open gauge\n"
	"poolgate_connections_open 17\n"
	"# HELP poolgate_relay_sessions TCP sessions each thread holds: main, or relay thread 1..workers.\n"
	"# TYPE poolgate_relay_sessions gauge\n"
	"poolgate_relay_sessions{thread=\"main\"} 3\n"
	"poolgate_relay_sessions{thread=\"1\"} 5\n"
	"poolgate_relay_sessions{thread=\"2\"} 0\n"
	"# HELP poolgate_relay_moves_total TCP sessions moved from the main thread to a relay thread when their bytes turned bulk.\n"
	"# TYPE poolgate_relay_moves_total counter\n"
	"poolgate_relay_moves_total 42\n"
	"# HELP poolgate_reloads_total Configuration reloads, by result.\n"
	"# TYPE poolgate_reloads_total counter\n"
	"poolgate_reloads_total{result=\"ok\"} 4\n"
	"poolgate_reloads_total{result=\"failed\"} 1\n";

static struct backend *
add_vm(const char *name, const char *address, int weight, int max_sessions,
    int sessions)
{
	struct cfg_backend cb;
	struct backend *b;

	memset(&cb, 0, sizeof(cb));
	snprintf(cb.name, sizeof(cb.name), "%s", name);
	assert_int_equal(cfg_parse_addr(address, false, &cb.address), 0);
	cb.address.text = (char *)address;
	cb.weight = weight;
	cb.max_sessions = max_sessions;
	assert_non_null(b = pool_add(&mbr.pool, &cb));
	b->sessions = sessions;
	return b;
}

static int
setup(void **state)
{
	struct us_ended ended;
	struct backend *b;
	uint64_t now = pg_now_ms();

	pg_log_set_level(PG_LOG_ERR);
	pool_init(&mbr.pool);
	assert_non_null(mbr.aff = aff_new(1000, 3600000));
	assert_non_null(mbr.us = us_new(1000, 600000));
	mbr.sel_count = 12345;
	mbr.sel_ns = 987654321;
	snprintf(svc[0].cfg.name, sizeof(svc[0].cfg.name), "ssh");
	snprintf(svc[1].cfg.name, sizeof(svc[1].cfg.name), "jup\"yter\\x\n");
	svc[0].connections_total = 100;
	svc[0].active = 4;
	svc[0].bytes_up = 5555;
	svc[0].bytes_down = 66666;
	svc[0].errors[ERR_NO_BACKEND] = 3;
	svc[1].errors[ERR_RESOURCES] = 9;
	svc[1].wq.n = 2;
	svc[1].connections_total = 7;
	cfg.state_dir = "/var/lib/poolgate";
	px.cfg = &cfg;
	px.mbr = &mbr;
	px.svc[0] = &svc[0];
	px.svc[1] = &svc[1];
	px.nsvc = 2;
	px.nconns = 17;
	px.wk.home.load = 3;
	px.wk.w = workers;
	px.wk.n = 2;
	workers[0].load = 5;
	px.wk.moves = 42;
	adm.px = &px;
	adm.reloads = 4;
	adm.reload_failures = 1;
	mbr.pool.nservices = 2;

	b = add_vm("vm1", "10.0.0.4", 2, 20, 3);
	b->nservices = 2;
	b->health[0].hc.up = true;
	b->health[0].last_latency_ms = 12;
	b->health[0].checks = 100;
	b->health[0].failures = 3;
	b->conns = 2;
	b->connections = 77;
	b->bytes_up = 1;
	b->bytes_down = 2;
	b = add_vm("vm-2.b", "fd00::5", 1, 0, 0);
	b->nservices = 2;
	b->health[0].hc.up = true;
	b->health[1].hc.up = true;
	b->health[1].last_latency_ms = 1234;
	b->admin = BE_ADMIN_DRAIN;
	b->removed = true;
	b = add_vm("vm3", "10.0.0.6", 3, 5, 5);
	b->nservices = 2;
	b->health[0].hc.up = true;
	b->health[1].hc.up = true;
	b->admin = BE_ADMIN_MAINT;
	b->agent_admin = BE_ADMIN_DRAIN;
	b = add_vm("vm4", "10.0.0.7", 1, 0, 1);
	b->nservices = 2;
	b->health[0].hc.up = true;
	b->health[1].hc.up = true;
	assert_int_equal(us_request(mbr.us, "alice", "vm1", "10.1.1.1", now,
	    &ended), US_STARTED);
	assert_int_equal(us_request(mbr.us, "bob", "vm1", "10.1.1.2", now,
	    &ended), US_STARTED);
	assert_int_equal(us_request(mbr.us, "carol", "vm3", "10.1.1.3", now,
	    &ended), US_STARTED);
	assert_int_equal(aff_session_start(mbr.aff, "ip:10.1.1.1", "vm1", now), 0);
	assert_int_equal(aff_session_start(mbr.aff, "user:alice", "vm1", now), 0);
	assert_int_equal(aff_session_start(mbr.aff, "ip:10.9.9.9", "vm3", now), 0);
	return 0;
}

static int
teardown(void **state)
{
	pool_clear(&mbr.pool);
	aff_free(mbr.aff);
	us_free(mbr.us);
	return 0;
}

static char *
metrics_text(void)
{
	struct evbuffer *out = evbuffer_new();
	size_t n;
	char *s;

	assert_non_null(out);
	metrics_write(out, &adm, pg_now_ms());
	n = evbuffer_get_length(out);
	assert_non_null(s = malloc(n + 1));
	evbuffer_copyout(out, s, n);
	s[n] = '\0';
	evbuffer_free(out);
	return s;
}

static void
test_byte_identical(void **state)
{
	char *got = metrics_text(), *ops;

	/*
	 * The table's part; opsmetrics.c's part (build, process, histograms)
	 * follows it, with values of this process: tests/integration/
	 * test_systemd.py checks it, and promtool on a live scrape.
	 */
	assert_non_null(ops = strstr(got, "# HELP poolgate_build_info "));
	*ops = '\0';

	if (strcmp(got, want) != 0) {
		size_t i = 0;
		while (got[i] == want[i])
			i++;
		fail_msg("differs at byte %zu: got \"%.60s\", want \"%.60s\"", i,
		    got + i, want + i);
	}
	free(got);
}

static void
test_values_follow_the_pool(void **state)
{
	char *got;

	/* the state file fails, a VM goes, a relay thread fills */
	adm.state_failing = true;
	pool_remove_at(&mbr.pool, 3);
	workers[1].load = 8;
	got = metrics_text();
	assert_non_null(strstr(got, "\npoolgate_state_writable 0\n"));
	assert_null(strstr(got, "backend=\"vm4\""));
	assert_non_null(strstr(got, "\npoolgate_relay_sessions{thread=\"2\"} 8\n"));
	/* no VM, no service: the HELP and TYPE lines stay */
	pool_clear(&mbr.pool);
	px.nsvc = 0;
	free(got);
	got = metrics_text();
	assert_non_null(strstr(got, "# TYPE poolgate_backend_up gauge\n"
	    "# HELP poolgate_backend_sessions"));
	assert_non_null(strstr(got, "# TYPE poolgate_connections_total counter\n"
	    "# HELP poolgate_connections_active"));
	free(got);
	adm.state_failing = false;
	workers[1].load = 0;
	px.nsvc = 2;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_byte_identical, setup, teardown),
		cmocka_unit_test_setup_teardown(test_values_follow_the_pool, setup,
		    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
