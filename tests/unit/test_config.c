/*
 * test_config.c -- cfg_load(): every value, every default, every error class
 * with its exact message and line; cfg_parse_addr(), cfg_summary() and the
 * settings table.
 *
 * Most cases write a small file into a temporary directory and load it. The
 * texts are written one file line per source line, so the line an error must
 * name can be read off the test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <libconfig.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "config/config.h"
/* only for its enum: log.level must be stored in pg_log_level's numbers */
#include "lib/log.h"

#ifndef SRCDIR
#error "SRCDIR must name the source root"
#endif

static char tmpdir[64];
static char conf[128];          /* tmpdir/t.conf: the file each case writes */

static int group_setup(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/pgtest-config-XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return -1;
	snprintf(conf, sizeof(conf), "%s/t.conf", tmpdir);
	return 0;
}

static int group_teardown(void **state)
{
	char inc[160];

	(void)state;
	snprintf(inc, sizeof(inc), "%s/inc.conf", tmpdir);
	unlink(inc);
	unlink(conf);
	return rmdir(tmpdir);
}

static void write_file(const char *path, const char *text, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static int load_text(const char *text, struct pg_config **cfg, struct cfg_errors *errs)
{
	write_file(conf, text, strlen(text));
	return cfg_load(conf, cfg, errs);
}

static void print_errors(const struct cfg_errors *errs)
{
	for (size_t i = 0; i < errs->n; i++)
		print_message("  got: %s\n", errs->msg[i]);
}

/*
 * Load text; it must fail with exactly the errors in want (NULL-terminated),
 * in that order. Each is written without the file name: "3: admin.x: ...".
 */
static void expect_errors_(const char *text, const char *const *want)
{
	struct cfg_errors errs = { 0 };
	struct pg_config *cfg = (struct pg_config *)&errs;     /* must become NULL */
	size_t n = 0;
	char full[1024];

	while (want[n] != NULL)
		n++;
	assert_int_equal(load_text(text, &cfg, &errs), -1);
	assert_null(cfg);
	if (errs.n != n)
		print_errors(&errs);
	assert_int_equal(errs.n, n);
	for (size_t i = 0; i < n; i++) {
		snprintf(full, sizeof(full), "%s:%s", conf, want[i]);
		if (strcmp(full, errs.msg[i]) != 0)
			print_errors(&errs);
		assert_string_equal(errs.msg[i], full);
	}
	cfg_errors_free(&errs);
}

#define expect_errors(text, ...) \
	expect_errors_((text), (const char *const[]){ __VA_ARGS__, NULL })

/* Load text; it must succeed. The caller frees the result. */
static struct pg_config *expect_ok(const char *text)
{
	struct cfg_errors errs = { 0 };
	struct pg_config *cfg = NULL;
	int rc = load_text(text, &cfg, &errs);

	if (rc != 0)
		print_errors(&errs);
	assert_int_equal(rc, 0);
	assert_int_equal(errs.n, 0);
	assert_non_null(cfg);
	return cfg;
}

/* One valid service on one line, for cases about other settings. */
#define SVC_LINE "services = ( { name = \"ssh\"; listen = [ \"*:22\" ]; port = 22; } );\n"

static void assert_v4(const struct cfg_addr *a, const char *ip, int port)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&a->ss;
	char buf[INET_ADDRSTRLEN];

	assert_int_equal(sin->sin_family, AF_INET);
	assert_int_equal(a->len, sizeof(struct sockaddr_in));
	assert_non_null(inet_ntop(AF_INET, &sin->sin_addr, buf, sizeof(buf)));
	assert_string_equal(buf, ip);
	assert_int_equal(ntohs(sin->sin_port), port);
}

static void assert_v6(const struct cfg_addr *a, const char *ip, int port)
{
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&a->ss;
	char buf[INET6_ADDRSTRLEN];

	assert_int_equal(sin6->sin6_family, AF_INET6);
	assert_int_equal(a->len, sizeof(struct sockaddr_in6));
	assert_non_null(inet_ntop(AF_INET6, &sin6->sin6_addr, buf, sizeof(buf)));
	assert_string_equal(buf, ip);
	assert_int_equal(ntohs(sin6->sin6_port), port);
}

/* ------------------------------------------------------------------ */
/* Valid files                                                        */
/* ------------------------------------------------------------------ */

static void test_full_file(void **state)
{
	const char *path = SRCDIR "/tests/unit/conf/full.conf";
	struct cfg_errors errs = { 0 };
	struct pg_config *cfg = NULL;
	const struct cfg_service *s;
	const struct cfg_backend *b;

	(void)state;
	if (cfg_load(path, &cfg, &errs) != 0)
		print_errors(&errs);
	assert_int_equal(errs.n, 0);
	assert_non_null(cfg);

	assert_string_equal(cfg->path, path);
	assert_string_equal(cfg->state_dir, "/srv/poolgate/state");
	assert_int_equal(cfg->shutdown_grace_ms, 45000);
	assert_string_equal(cfg->admin_listen.text, "[::1]:9200");
	assert_v6(&cfg->admin_listen, "::1", 9200);
	assert_string_equal(cfg->admin_token_file, "/etc/poolgate/token");
	assert_int_equal(cfg->max_connections, 5000);           /* written 5000L */
	assert_int_equal(cfg->per_ip_connections, 25);
	assert_int_equal(cfg->per_ip_rate, 120);
	assert_int_equal(cfg->tcp_keepalive_ms, 0);
	assert_int_equal(cfg->retry_after_ms, 2 * 60 * 1000);
	assert_string_equal(cfg->user, "pool-gate_1$");
	assert_true(cfg->allow_root);
	assert_int_equal(cfg->log.target, CFG_LOG_SYSLOG);
	assert_int_equal(cfg->log.level, CFG_LOG_DEBUG);
	assert_int_equal(cfg->log.format, CFG_LOG_JSON);
	assert_int_equal(cfg->log.facility, LOG_LOCAL5);
	assert_int_equal(cfg->affinity_ttl_ms, 2ULL * 24 * 3600 * 1000);
	assert_false(cfg->affinity_by_client_ip);
	assert_int_equal(cfg->session_idle_ms, 30 * 60 * 1000);

	assert_int_equal(cfg->nservices, 3);
	s = &cfg->services[0];
	assert_string_equal(s->name, "ssh");
	assert_int_equal(s->line, 9);
	assert_int_equal(s->nlisten, 2);
	assert_string_equal(s->listen[0].text, "*:22");
	assert_v4(&s->listen[0], "0.0.0.0", 22);
	assert_string_equal(s->listen[1].text, "[::]:22");
	assert_v6(&s->listen[1], "::", 22);
	assert_int_equal(s->port, 2222);
	assert_int_equal(s->mode, SVC_MODE_TCP);
	assert_int_equal(s->connect_timeout_ms, 1500);
	assert_int_equal(s->idle_timeout_ms, 2 * 3600 * 1000);
	assert_int_equal(s->check.type, CHECK_SSH);
	assert_int_equal(s->check.interval_ms, 5000);
	assert_int_equal(s->check.timeout_ms, 250);
	assert_int_equal(s->check.rise, 3);
	assert_int_equal(s->check.fall, 4);
	assert_null(s->check.path);
	assert_false(s->by_client_ip);                          /* from affinity */
	assert_false(s->tls.enabled);
	assert_true(s->queue.enabled);
	assert_int_equal(s->queue.timeout_ms, 20 * 1000);
	assert_int_equal(s->queue.max, 7);

	s = &cfg->services[1];
	assert_string_equal(s->name, "raw-tcp_1.x");
	assert_int_equal(s->line, 12);
	assert_int_equal(s->nlisten, 1);                        /* a list ( ) works too */
	assert_v4(&s->listen[0], "10.1.2.3", 7000);
	assert_int_equal(s->port, 7001);
	assert_int_equal(s->check.type, CHECK_NONE);
	assert_int_equal(s->check.interval_ms, 2000);           /* defaults in a given group */
	assert_int_equal(s->check.timeout_ms, 1000);
	assert_false(s->queue.enabled);                         /* no group: no queue */

	s = &cfg->services[2];
	assert_string_equal(s->name, "hub");
	assert_int_equal(s->line, 14);
	assert_int_equal(s->mode, SVC_MODE_HTTP);
	assert_true(s->by_client_ip);                           /* its own, over affinity's */
	assert_true(s->tls.enabled);
	assert_string_equal(s->tls.cert, "/etc/pg/cert.pem");
	assert_string_equal(s->tls.key, "/etc/pg/key.pem");
	assert_int_equal(s->tls.min_version, 13);
	assert_int_equal(s->backend_tls, BTLS_VERIFY);
	assert_string_equal(s->backend_ca, "/etc/pg/vm-ca.pem");
	assert_int_equal(s->check.type, CHECK_HTTP);
	assert_string_equal(s->check.path, "/api/health?probe=1");
	assert_int_equal(s->check.expect, 204);
	assert_string_equal(s->http.user_prefix, "/jupyter/u/");
	assert_string_equal(s->http.login_path, "/jupyter/hub/login");
	assert_int_equal(s->http.header_timeout_ms, 5000);
	assert_int_equal(s->http.keepalive_timeout_ms, 0);
	assert_int_equal(s->http.tunnel_idle_timeout_ms, 3600 * 1000);
	assert_string_equal(s->http.cookie_name, "pg-vm.1");
	assert_int_equal(s->http.cookie_ttl_ms, 24 * 3600 * 1000);
	assert_true(s->queue.enabled);                          /* in mode http too */
	assert_int_equal(s->queue.timeout_ms, 3600 * 1000);
	assert_int_equal(s->queue.max, 100000);

	assert_int_equal(cfg->nbackends, 3);
	b = &cfg->backends[0];
	assert_string_equal(b->name, "vm1");
	assert_int_equal(b->line, 23);
	assert_string_equal(b->address.text, "10.0.0.4");
	assert_v4(&b->address, "10.0.0.4", 0);
	assert_int_equal(b->weight, 3);
	assert_int_equal(b->max_sessions, 20);
	b = &cfg->backends[1];
	assert_string_equal(b->name, "vm2");
	assert_string_equal(b->address.text, "[fd00::5]");
	assert_v6(&b->address, "fd00::5", 0);
	assert_int_equal(b->weight, 1000);
	assert_int_equal(b->max_sessions, 100000);
	b = &cfg->backends[2];
	assert_string_equal(b->name, "vm3");
	assert_int_equal(b->line, 25);
	assert_v6(&b->address, "fd00::6", 0);
	assert_int_equal(b->weight, 1);
	assert_int_equal(b->max_sessions, 0);

	assert_true(cfg->discovery.enabled);
	assert_string_equal(cfg->discovery.file, "/srv/poolgate/vms");
	assert_string_equal(cfg->discovery.dns, "vms.pool.example.");
	assert_int_equal(cfg->discovery.refresh_ms, 60 * 1000);
	assert_int_equal(cfg->discovery.weight, 4);
	assert_int_equal(cfg->discovery.max_sessions, 12);
	assert_true(cfg->agent.enabled);
	assert_int_equal(cfg->agent.port, 9101);
	assert_int_equal(cfg->agent.interval_ms, 10 * 1000);
	assert_int_equal(cfg->agent.timeout_ms, 2500);
	assert_true(cfg->hooks.enabled);
	assert_string_equal(cfg->hooks.command, "/opt/pool gate/hook");
	assert_int_equal(cfg->hooks.timeout_ms, 2 * 60 * 1000);
	assert_int_equal(cfg->hooks.idle_grace_ms, 0);
	assert_int_equal(cfg->hooks.headroom, 5);

	cfg_free(cfg);
	cfg_errors_free(&errs);
}

static void test_defaults(void **state)
{
	struct pg_config *cfg;
	const struct cfg_service *s;

	(void)state;
	cfg = expect_ok(SVC_LINE);
	assert_string_equal(cfg->state_dir, "/var/lib/poolgate");
	assert_int_equal(cfg->shutdown_grace_ms, 30000);
	assert_string_equal(cfg->admin_listen.text, "127.0.0.1:9100");
	assert_v4(&cfg->admin_listen, "127.0.0.1", 9100);
	assert_null(cfg->admin_token_file);
	assert_int_equal(cfg->max_connections, 20000);
	assert_int_equal(cfg->per_ip_connections, 0);
	assert_int_equal(cfg->per_ip_rate, 0);
	assert_int_equal(cfg->tcp_keepalive_ms, 60 * 1000);
	assert_int_equal(cfg->retry_after_ms, 10 * 1000);
	assert_null(cfg->user);
	assert_false(cfg->allow_root);
	assert_int_equal(cfg->log.target, CFG_LOG_STDERR);
	assert_int_equal(cfg->log.level, CFG_LOG_INFO);
	assert_int_equal(cfg->log.format, CFG_LOG_TEXT);
	assert_int_equal(cfg->log.facility, LOG_DAEMON);
	assert_int_equal(cfg->affinity_ttl_ms, 3600 * 1000);
	assert_true(cfg->affinity_by_client_ip);
	assert_int_equal(cfg->session_idle_ms, 10 * 60 * 1000);
	assert_int_equal(cfg->nservices, 1);
	s = &cfg->services[0];
	assert_int_equal(s->line, 1);
	assert_int_equal(s->mode, SVC_MODE_TCP);
	assert_int_equal(s->connect_timeout_ms, 3000);
	assert_int_equal(s->idle_timeout_ms, 0);
	assert_int_equal(s->check.type, CHECK_TCP);
	assert_int_equal(s->check.interval_ms, 2000);
	assert_int_equal(s->check.timeout_ms, 1000);
	assert_int_equal(s->check.rise, 2);
	assert_int_equal(s->check.fall, 2);
	assert_null(s->check.path);
	assert_int_equal(s->check.expect, 0);
	assert_true(s->by_client_ip);                           /* affinity.by_client_ip */
	assert_false(s->tls.enabled);
	assert_null(s->tls.cert);
	assert_null(s->tls.key);
	assert_int_equal(s->tls.min_version, 12);
	assert_int_equal(s->backend_tls, BTLS_NONE);
	assert_null(s->backend_ca);
	/* the http defaults are there for every service, whatever its mode */
	assert_string_equal(s->http.user_prefix, "/user/");
	assert_string_equal(s->http.login_path, "/hub/login");
	assert_int_equal(s->http.header_timeout_ms, 10 * 1000);
	assert_int_equal(s->http.keepalive_timeout_ms, 60 * 1000);
	assert_int_equal(s->http.tunnel_idle_timeout_ms, 0);
	assert_string_equal(s->http.cookie_name, "poolgate_vm");
	assert_int_equal(s->http.cookie_ttl_ms, 12 * 3600 * 1000);
	assert_int_equal(cfg->nbackends, 0);
	assert_null(cfg->backends);
	cfg_free(cfg);

	/* a backend with only the required keys */
	cfg = expect_ok(SVC_LINE "backends = ( { name = \"a\"; address = \"10.0.0.1\"; } );\n");
	assert_int_equal(cfg->nbackends, 1);
	assert_int_equal(cfg->backends[0].weight, 1);
	assert_int_equal(cfg->backends[0].max_sessions, 0);
	cfg_free(cfg);
}

static void test_bounds_accepted(void **state)
{
	struct pg_config *cfg;

	(void)state;
	/* every bound itself is valid: the smallest values ... */
	cfg = expect_ok(
	    "state_dir = \"/\";\n"
	    "shutdown_grace = \"0s\";\n"
	    "limits = { max_connections = 1; per_ip_connections = 0; };\n"
	    "affinity = { ttl = \"0ms\"; };\n"
	    "services = ( { name = \"a\"; listen = [ \"*:1\" ]; port = 1; connect_timeout = \"1ms\";\n"
	    "  idle_timeout = \"0s\"; check = { interval = \"100ms\"; timeout = \"10ms\"; rise = 1; fall = 1; }; } );\n"
	    "backends = ( { name = \"b\"; address = \"0.0.0.1\"; weight = 1; max_sessions = 0; } );\n");
	assert_int_equal(cfg->max_connections, 1);
	assert_int_equal(cfg->services[0].connect_timeout_ms, 1);
	assert_int_equal(cfg->services[0].check.interval_ms, 100);
	assert_int_equal(cfg->services[0].check.timeout_ms, 10);
	cfg_free(cfg);

	/* ... and the largest; timeout may equal interval */
	cfg = expect_ok(
	    "shutdown_grace = \"1h\";\n"
	    "limits = { max_connections = 1000000; per_ip_connections = 1000000; };\n"
	    "affinity = { ttl = \"30d\"; };\n"
	    "services = ( { name = \"a\"; listen = [ \"*:65535\" ]; port = 65535; connect_timeout = \"5m\";\n"
	    "  idle_timeout = \"30d\"; check = { interval = \"1m\"; timeout = \"1m\"; rise = 100; fall = 100; }; } );\n"
	    "backends = ( { name = \"b\"; address = \"::1\"; weight = 1000; max_sessions = 100000; } );\n");
	assert_int_equal(cfg->shutdown_grace_ms, 3600 * 1000);
	assert_int_equal(cfg->affinity_ttl_ms, 30ULL * 24 * 3600 * 1000);
	assert_int_equal(cfg->services[0].idle_timeout_ms, 30ULL * 24 * 3600 * 1000);
	assert_int_equal(cfg->services[0].check.fall, 100);
	cfg_free(cfg);

	/* the longest check interval */
	cfg = expect_ok("services = ( { name = \"a\"; listen = [ \"*:1\" ]; port = 1;"
	    " check = { interval = \"1h\"; }; } );\n");
	assert_int_equal(cfg->services[0].check.interval_ms, 3600 * 1000);
	cfg_free(cfg);
}

static void test_int_forms(void **state)
{
	struct pg_config *cfg;

	(void)state;
	/* 20, 20L and 0x14 are all the integer 20 */
	cfg = expect_ok("limits = { max_connections = 20; per_ip_connections = 20L; };\n"
	    "services = ( { name = \"a\"; listen = [ \"*:1\" ]; port = 0x14; } );\n");
	assert_int_equal(cfg->max_connections, 20);
	assert_int_equal(cfg->per_ip_connections, 20);
	assert_int_equal(cfg->services[0].port, 20);
	cfg_free(cfg);

	/*
	 * libconfig 1.5 wraps an integer wider than 32 bits written without L
	 * (4294967297 would read as 1 and pass the range check). It must be
	 * reported with its real value.
	 */
	expect_errors(
	    "limits = { max_connections = 4294967297; per_ip_connections = -3000000000; };\n"
	    "services = ( { name = \"a\"; listen = [ \"*:1\" ]; port = 0x100000016; } );\n"
	    "backends = ( { name = \"b\"; address = \"::1\"; weight = 3000000000L; max_sessions = 2147483648; } );\n",
	    "1: limits.max_connections: 4294967297 is out of range (expected 1 to 1000000)",
	    "1: limits.per_ip_connections: -3000000000 is out of range (expected 0 to 1000000)",
	    "2: services[0].port: 4294967318 is out of range (expected 1 to 65535)",
	    "3: backends[0].weight: 3000000000 is out of range (expected 1 to 1000)",
	    "3: backends[0].max_sessions: 2147483648 is out of range (expected 0 to 100000)");

	/* ... without touching digits in strings, comments or names */
	cfg = expect_ok(
	    "# 4294967297\n"
	    "state_dir = \"/srv/4294967297/x\\\"99999999999\";  // 99999999999\n"
	    "/* 0x100000000 */ admin = { token_file = \"0x100000000\"; };\n"
	    SVC_LINE);
	assert_string_equal(cfg->state_dir, "/srv/4294967297/x\"99999999999");
	assert_string_equal(cfg->admin_token_file, "0x100000000");
	cfg_free(cfg);
}

/*
 * Does the tree hold the table path ("services[].check.path")? A "[]" part
 * matches when any element of the list has the rest.
 */
static bool tree_has(const config_setting_t *s, const char *path)
{
	size_t n = strcspn(path, ".");
	const char *rest = path[n] == '.' ? path + n + 1 : NULL;
	bool list = n > 2 && strncmp(path + n - 2, "[]", 2) == 0;
	char part[128];

	snprintf(part, sizeof(part), "%.*s", (int)(list ? n - 2 : n), path);
	if ((s = config_setting_get_member(s, part)) == NULL)
		return false;
	if (rest == NULL)
		return true;
	if (!list)
		return tree_has(s, rest);
	for (int i = 0; i < config_setting_length(s); i++)
		if (tree_has(config_setting_get_elem(s, (unsigned)i), rest))
			return true;
	return false;
}

static void test_example_file(void **state)
{
	const char *path = SRCDIR "/config/poolgate.conf.example";
	struct cfg_errors errs = { 0 };
	struct pg_config *cfg = NULL;
	config_t lc;

	(void)state;
	if (cfg_load(path, &cfg, &errs) != 0)
		print_errors(&errs);
	assert_int_equal(errs.n, 0);
	assert_non_null(cfg);
	assert_int_equal(cfg->nservices, 4);
	assert_int_equal(cfg->services[0].mode, SVC_MODE_TCP);
	assert_int_equal(cfg->services[1].mode, SVC_MODE_HTTP);
	assert_true(cfg->services[1].tls.enabled);
	assert_int_equal(cfg->services[1].check.type, CHECK_HTTP);
	assert_int_equal(cfg->nbackends, 2);
	cfg_free(cfg);

	/* The example shows every setting of the table, in one service or another. */
	config_init(&lc);
	assert_int_equal(config_read_file(&lc, path), CONFIG_TRUE);
	for (size_t i = 0; i < cfg_nsettings; i++) {
		/* the other way to find Redis: shown in a comment beside redis */
		bool alt = strcmp(cfg_settings[i].path, "cluster.sentinel") == 0 ||
		    strcmp(cfg_settings[i].path, "cluster.master") == 0;
		bool has = alt || tree_has(config_root_setting(&lc), cfg_settings[i].path);

		if (!has)
			print_message("example lacks %s\n", cfg_settings[i].path);
		assert_true(has);
	}
	config_destroy(&lc);
}

/* ------------------------------------------------------------------ */
/* The settings table                                                 */
/* ------------------------------------------------------------------ */

static void test_table(void **state)
{
	size_t nstart = 0;

	(void)state;
	assert_true(cfg_nsettings > 20);
	for (size_t i = 0; i < cfg_nsettings; i++) {
		const struct cfg_setting *e = &cfg_settings[i];
		const char *dot = strrchr(e->path, '.');

		assert_non_null(e->desc);
		assert_true(strlen(e->desc) > 0);
		assert_true(e->min <= e->max);
		/* a nested entry comes after its group or list */
		if (dot != NULL) {
			size_t plen = (size_t)(dot - e->path);
			bool found = false;

			if (plen > 2 && strncmp(dot - 2, "[]", 2) == 0)
				plen -= 2;
			for (size_t k = 0; k < i && !found; k++)
				found = strlen(cfg_settings[k].path) == plen &&
				    strncmp(cfg_settings[k].path, e->path, plen) == 0 &&
				    (cfg_settings[k].type == CFG_T_GROUP ||
				     cfg_settings[k].type == CFG_T_LIST);
			if (!found)
				print_message("%s has no parent before it\n", e->path);
			assert_true(found);
		}
		for (size_t k = 0; k < i; k++)
			assert_string_not_equal(cfg_settings[k].path, e->path);
		if (e->flags & CFG_F_REQUIRED)
			assert_null(e->def);
		if (e->type == CFG_T_ENUM) {
			assert_non_null(e->values);
			assert_non_null(e->def);
		}
		/* every default is within its own bounds */
		if (e->def != NULL && e->type == CFG_T_INT) {
			char *end;
			long long v = strtoll(e->def, &end, 10);

			assert_int_equal(*end, '\0');
			assert_true(v >= e->min && v <= e->max);
		}
		if (e->def != NULL && e->type == CFG_T_DURATION) {
			uint64_t ms;

			assert_int_equal(cfg_parse_duration(e->def, &ms), 0);
			assert_true(ms >= (uint64_t)e->min && ms <= (uint64_t)e->max);
			if (e->flags & CFG_F_SECONDS)
				assert_int_equal(ms % 1000, 0);
		}
		/*
		 * read at start only: top-level integers, booleans and strings,
		 * what cfg_reload_plan() can keep (it aborts on anything else)
		 */
		if (e->flags & CFG_F_START_ONLY) {
			bool ok = strchr(e->path, '.') == NULL && strchr(e->path, '[') == NULL &&
			    (e->type == CFG_T_INT || e->type == CFG_T_BOOL ||
			    e->type == CFG_T_STRING || e->type == CFG_T_URL_PATH ||
			    e->type == CFG_T_ABS_PATH || e->type == CFG_T_DNS_NAME ||
			    e->type == CFG_T_USER);

			if (!ok)
				print_message("%s cannot be read at start only\n", e->path);
			assert_true(ok);
			nstart++;
		}
		/* whole seconds: only for durations, and both bounds are whole too */
		if (e->flags & CFG_F_SECONDS) {
			assert_int_equal(e->type, CFG_T_DURATION);
			assert_int_equal(e->min % 1000, 0);
			assert_int_equal(e->max % 1000, 0);
		}
	}
	/* a reload plan has room for every one of them at once */
	assert_true(nstart > 0 && nstart <= CFG_PLAN_KEPT_MAX);
}

/* ------------------------------------------------------------------ */
/* Errors                                                             */
/* ------------------------------------------------------------------ */

static void test_syntax_error(void **state)
{
	const char *path = SRCDIR "/tests/unit/conf/syntax.conf";
	struct cfg_errors errs = { 0 };
	struct pg_config *cfg = NULL;

	(void)state;
	/* one error only, naming the file as given; the unknown key after it is not reached */
	assert_int_equal(cfg_load(path, &cfg, &errs), -1);
	assert_null(cfg);
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.msg[0], SRCDIR "/tests/unit/conf/syntax.conf:3: syntax error");
	cfg_errors_free(&errs);

	expect_errors("state_dir = \"/x\";\n"
	    "state_dir = \"/y\";\n" SVC_LINE,
	    "2: syntax error: duplicate setting name");
	expect_errors(SVC_LINE "limits = { max_connections = ; };\nstate_dir = 1;\n",
	    "2: syntax error");
	expect_errors(SVC_LINE "x = [ 1, \"a\" ];\n",
	    "2: syntax error: mismatched element type in array");
}

/*
 * A duration written without quotes is a bare "syntax error" to libconfig;
 * the message says what to write instead, on the line libconfig names.
 */
static void test_syntax_duration_hint(void **state)
{
	(void)state;
	expect_errors(SVC_LINE "shutdown_grace = 30s;\n",
	    "2: syntax error (durations are strings: write shutdown_grace = \"30s\";)");
	/* in a group, after another setting; the longest unit; ":" for "=" */
	expect_errors(SVC_LINE "limits = { max_connections = 5; tcp_keepalive: 500ms; };\n",
	    "2: syntax error (durations are strings: write tcp_keepalive = \"500ms\";)");
	/* in a list element, the unit last on its line: libconfig names the next line */
	expect_errors("services = (\n"
	    "  { name = \"ssh\"; listen = [ \"*:22\" ]; port = 22;\n"
	    "    check = { interval = 2s\n"
	    "    }; }\n"
	    ");\n",
	    "4: syntax error (durations are strings: write interval = \"2s\";)");
	/* not a duration: no hint */
	expect_errors(SVC_LINE "shutdown_grace = 30sec;\n", "2: syntax error");
	expect_errors(SVC_LINE "shutdown_grace = 30 s;\n", "2: syntax error");
	expect_errors(SVC_LINE "shutdown_grace = 2q;\n", "2: syntax error");
	expect_errors(SVC_LINE "shutdown_grace = 2s.5;\n", "2: syntax error");
	/* in a string or a comment it is text, and the error is elsewhere */
	expect_errors(SVC_LINE "state_dir = \"/x = 2s\" ;;\n", "2: syntax error");
	expect_errors(SVC_LINE "state_dir = \"/x\\\" b = 2s\" ;;\n", "2: syntax error");
	expect_errors(SVC_LINE "limits = { max_connections = ; }; # was ttl = 2s\n",
	    "2: syntax error");
	expect_errors(SVC_LINE "limits = { max_connections = ; }; /* ttl = 2s */\n",
	    "2: syntax error");
}

static void test_design_doc_message(void **state)
{
	struct cfg_errors errs = { 0 };
	struct pg_config *cfg = NULL;
	char cwd[4096];
	int rc;

	(void)state;
	/* The example message of STYLE.md, word for word, FILE as given. */
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(SRCDIR "/tests/unit/conf"), 0);
	rc = cfg_load("poolgate.conf", &cfg, &errs);
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(rc, -1);
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.msg[0], "poolgate.conf:14: services[1].check.interval: "
	    "\"2x\" is not a duration (use 500ms, 2s, 1m)");
	cfg_errors_free(&errs);
}

static void test_unknown_keys(void **state)
{
	(void)state;
	expect_errors(
	    "stat_dir = \"/x\";\n"                                       /* 1 */
	    "admin = { listen = \"127.0.0.1:9100\"; tokenfile = \"/t\"; };\n"
	    "limits = { max_conn = 5; };\n"                             /* 3 */
	    "affinity = { ttl = \"1h\"; by_ip = true; };\n"
	    "services = (\n"                                            /* 5 */
	    "  { name = \"ssh\"; listen = [ \"*:22\" ]; port = 22;\n"
	    "    chek = { type = \"ssh\"; };\n"                         /* 7 */
	    "    check = { type = \"ssh\"; intervl = \"2s\"; }; }\n"
	    ");\n"                                                      /* 9 */
	    "backends = ( { name = \"a\"; address = \"10.0.0.1\"; },\n"
	    "  { name = \"b\"; address = \"10.0.0.2\"; Weight = 2; } );\n" /* 11 */
	    "extra = { deep = { deeper = 1; }; };\n",
	    "1: stat_dir: unknown setting (expected one of state_dir, shutdown_grace, user, "
	        "allow_root, workers, log, admin, limits, affinity, session_idle, services, backends, "
	        "discovery, agent, ssh_host_ca, ssh_host_principal, hooks, cluster, freebind)",
	    "2: admin.tokenfile: unknown setting (expected one of listen, token_file)",
	    "3: limits.max_conn: unknown setting (expected one of max_connections, per_ip_connections, "
	        "per_ip_rate, tcp_keepalive, retry_after)",
	    "4: affinity.by_ip: unknown setting (expected one of ttl, by_client_ip)",
	    "7: services[0].chek: unknown setting (expected one of name, listen, port, mode, "
	        "connect_timeout, idle_timeout, first_packet_timeout, by_client_ip, source, tls, "
	        "user_from, sni_suffix, backend_tls, backend_ca, verify_name, check, "
	        "http, queue)",
	    "8: services[0].check.intervl: unknown setting (expected one of type, interval, "
	        "timeout, rise, fall, path, expect)",
	    "11: backends[1].Weight: unknown setting (expected one of name, address, weight, "
	        "max_sessions)",
	    "12: extra: unknown setting (expected one of state_dir, shutdown_grace, user, "
	        "allow_root, workers, log, admin, limits, affinity, session_idle, services, backends, "
	        "discovery, agent, ssh_host_ca, ssh_host_principal, hooks, cluster, freebind)");
}

static void test_wrong_types(void **state)
{
	(void)state;
	expect_errors(
	    "state_dir = 5;\n"                                          /* 1 */
	    "shutdown_grace = 30;\n"
	    "admin = \"127.0.0.1:9100\";\n"                             /* 3 */
	    "limits = { max_connections = \"20000\"; per_ip_connections = 1.0; };\n"
	    "affinity = { ttl = 1.5; by_client_ip = \"yes\"; };\n"      /* 5 */
	    "services = (\n"
	    "  { name = 1; listen = \"*:22\"; port = \"22\"; mode = true;\n" /* 7 */
	    "    connect_timeout = 3; idle_timeout = [ \"0s\" ]; check = ( ); },\n"
	    "  { name = \"b\"; listen = [ 22 ]; port = 22; check = { rise = 2.5; fall = false; }; },\n"
	    "  \"ssh\"\n"                                               /* 10 */
	    ");\n"
	    "backends = { name = \"a\"; };\n",
	    "1: state_dir: 5 is an integer (expected a string of 1 to 4095 characters)",
	    "2: shutdown_grace: 30 is an integer (expected a duration from 0s to 1h such as \"2s\")",
	    "3: admin: \"127.0.0.1:9100\" is a string (expected a group { ... })",
	    "4: limits.max_connections: \"20000\" is a string (expected an integer from 1 to 1000000)",
	    "4: limits.per_ip_connections: 1.0 is a floating-point number (expected an integer "
	        "from 0 to 1000000)",
	    "5: affinity.ttl: 1.5 is a floating-point number (expected a duration from 0s to 30d "
	        "such as \"2s\")",
	    "5: affinity.by_client_ip: \"yes\" is a string (expected true or false)",
	    "7: services[0].name: 1 is an integer (expected a name of 1 to 63 characters "
	        "A-Z a-z 0-9 _ - . (not starting with - or .))",
	    "7: services[0].listen: \"*:22\" is a string (expected an array [ \"ADDR:PORT\", ... ] "
	        "of 1 to 16 addresses)",
	    "7: services[0].port: \"22\" is a string (expected an integer from 1 to 65535)",
	    "7: services[0].mode: true is a boolean (expected one of \"tcp\", \"http\", \"rdp\")",
	    "8: services[0].connect_timeout: 3 is an integer (expected a duration from 1ms to 5m "
	        "such as \"2s\")",
	    "8: services[0].idle_timeout: [ ... ] is an array (expected a duration from 0s to 30d "
	        "such as \"2s\")",
	    "8: services[0].check: ( ... ) is a list (expected a group { ... })",
	    "9: services[1].listen[0]: 22 is an integer (expected \"ADDR:PORT\" with a numeric "
	        "address, such as \"0.0.0.0:22\", \"*:22\" or \"[::]:22\")",
	    "9: services[1].check.rise: 2.5 is a floating-point number (expected an integer "
	        "from 1 to 100)",
	    "9: services[1].check.fall: false is a boolean (expected an integer from 1 to 100)",
	    /* libconfig alone would say 11, the line of the ")" read after it */
	    "10: services[2]: \"ssh\" is a string (expected a group { name = ...; ... })",
	    "12: backends: { ... } is a group (expected a list ( { ... }, ... ) of 0 to 4096 groups)");
}

static void test_out_of_range(void **state)
{
	(void)state;
	expect_errors(
	    "shutdown_grace = \"61m\";\n"                               /* 1 */
	    "limits = { max_connections = 0; per_ip_connections = -1; };\n"
	    "affinity = { ttl = \"31d\"; };\n"                          /* 3 */
	    "services = (\n"
	    "  { name = \"a\"; listen = [ \"*:22\" ]; port = 65536;\n"  /* 5 */
	    "    connect_timeout = \"0ms\"; idle_timeout = \"721h\";\n"
	    "    check = { interval = \"99ms\"; timeout = \"9ms\"; rise = 0; fall = 101; }; },\n"
	    "  { name = \"b\"; listen = [ \"*:23\" ]; port = 0; connect_timeout = \"301s\";\n"
	    "    check = { interval = \"61m\"; timeout = \"61s\"; rise = 101; fall = 0; }; }\n"
	    ");\n"                                                      /* 10 */
	    "backends = ( { name = \"a\"; address = \"10.0.0.1\"; weight = 0; max_sessions = -1; },\n"
	    "  { name = \"b\"; address = \"10.0.0.2\"; weight = 1001; max_sessions = 100001; } );\n",
	    "1: shutdown_grace: \"61m\" is out of range (expected 0s to 1h)",
	    "2: limits.max_connections: 0 is out of range (expected 1 to 1000000)",
	    "2: limits.per_ip_connections: -1 is out of range (expected 0 to 1000000)",
	    "3: affinity.ttl: \"31d\" is out of range (expected 0s to 30d)",
	    "5: services[0].port: 65536 is out of range (expected 1 to 65535)",
	    "6: services[0].connect_timeout: \"0ms\" is out of range (expected 1ms to 5m)",
	    "6: services[0].idle_timeout: \"721h\" is out of range (expected 0s to 30d)",
	    "7: services[0].check.interval: \"99ms\" is out of range (expected 100ms to 1h)",
	    "7: services[0].check.timeout: \"9ms\" is out of range (expected 10ms to 1m)",
	    "7: services[0].check.rise: 0 is out of range (expected 1 to 100)",
	    "7: services[0].check.fall: 101 is out of range (expected 1 to 100)",
	    "8: services[1].port: 0 is out of range (expected 1 to 65535)",
	    "8: services[1].connect_timeout: \"301s\" is out of range (expected 1ms to 5m)",
	    "9: services[1].check.interval: \"61m\" is out of range (expected 100ms to 1h)",
	    "9: services[1].check.timeout: \"61s\" is out of range (expected 10ms to 1m)",
	    "9: services[1].check.rise: 101 is out of range (expected 1 to 100)",
	    "9: services[1].check.fall: 0 is out of range (expected 1 to 100)",
	    "11: backends[0].weight: 0 is out of range (expected 1 to 1000)",
	    "11: backends[0].max_sessions: -1 is out of range (expected 0 to 100000)",
	    "12: backends[1].weight: 1001 is out of range (expected 1 to 1000)",
	    "12: backends[1].max_sessions: 100001 is out of range (expected 0 to 100000)");
}

static void test_strings_and_names(void **state)
{
	struct pg_config *cfg;
	char text[1024], longdir[4200];

	(void)state;
	expect_errors(
	    "state_dir = \"\";\n"
	    "admin = { token_file = \"\"; };\n"
	    "services = (\n"
	    "  { name = \"\"; listen = [ \"*:22\" ]; port = 22; },\n"
	    "  { name = \"a b\"; listen = [ \"*:23\" ]; port = 22; },\n"      /* 5 */
	    "  { name = \"a/b\"; listen = [ \"*:24\" ]; port = 22; },\n"
	    "  { name = \"0123456789012345678901234567890123456789012345678901234567890123\";"
	        " listen = [ \"*:25\" ]; port = 22; }\n"
	    ");\n"
	    "backends = ( { name = \"vm\xc3\xa9\"; address = \"10.0.0.1\"; } );\n",
	    "1: state_dir: empty string (expected 1 to 4095 characters)",
	    "2: admin.token_file: empty string (expected 1 to 4095 characters)",
	    "4: services[0].name: \"\" is not a valid name (expected a name of 1 to 63 characters "
	        "A-Z a-z 0-9 _ - . (not starting with - or .))",
	    "5: services[1].name: \"a b\" is not a valid name (expected a name of 1 to 63 characters "
	        "A-Z a-z 0-9 _ - . (not starting with - or .))",
	    "6: services[2].name: \"a/b\" is not a valid name (expected a name of 1 to 63 characters "
	        "A-Z a-z 0-9 _ - . (not starting with - or .))",
	    "7: services[3].name: \"0123456789012345678901234567890123456789012345678901234567890123\" "
	        "is not a valid name (expected a name of 1 to 63 characters A-Z a-z 0-9 _ - . (not starting with - or .))",
	    "9: backends[0].name: \"vm\\xc3\\xa9\" is not a valid name (expected a name of 1 to 63 "
	        "characters A-Z a-z 0-9 _ - . (not starting with - or .))");

	/* 63 characters is the longest name */
	cfg = expect_ok("services = ( { name = "
	    "\"012345678901234567890123456789012345678901234567890123456789012\";"
	    " listen = [ \"*:25\" ]; port = 22; } );\n");
	assert_int_equal(strlen(cfg->services[0].name), CFG_NAME_MAX);
	cfg_free(cfg);

	/* state_dir longer than 4095 */
	memset(longdir, 'a', 4096);
	longdir[0] = '/';
	longdir[4096] = '\0';
	{
		char *big = NULL;

		assert_true(asprintf(&big, "state_dir = \"%s\";\n" SVC_LINE, longdir) > 0);
		expect_errors(big, "1: state_dir: 4096 characters is too long (expected 1 to 4095)");
		free(big);
	}

	/* values are quoted back escaped, and cut when long */
	snprintf(text, sizeof(text), "services = ( { name = \"a\"; listen = [ \"*:22\" ]; port = 22;\n"
	    "  mode = \"t\\\"c\\np\"; connect_timeout = \"%s\"; } );\n",
	    "1111111111222222222233333333334444444444555555555566666666667777777777");
	expect_errors(text,
	    "2: services[0].mode: \"t\\\"c\\x0ap\" is not a valid mode (expected one of \"tcp\", "
	        "\"http\", \"rdp\")",
	    "2: services[0].connect_timeout: \"1111111111222222222233333333334444444444"
	        "555555555566666666667777...\" is not a duration (use 500ms, 2s, 1m)");
}

static void test_enums(void **state)
{
	(void)state;
	/*
	 * A rejected value raises no second error built on it: the tls of a
	 * service whose mode is misspelt, the path of a check whose type is,
	 * backend_ca with a misspelt backend_tls.
	 */
	expect_errors(
	    "services = (\n"
	    "  { name = \"b\"; listen = [ \"*:23\" ]; port = 22; mode = \"TCP\";\n"
	    "    check = { type = \"icmp\"; path = \"/x\"; }; },\n"
	    "  { name = \"c\"; listen = [ \"*:24\" ]; port = 22; mode = \"HTTP\";\n"
	    "    tls = { cert = \"/c\"; key = \"/k\"; min_version = \"1.1\"; }; http = { };\n"
	    "    backend_tls = \"strict\"; backend_ca = \"/ca\"; }\n"
	    ");\n",
	    "2: services[0].mode: \"TCP\" is not a valid mode (expected one of \"tcp\", \"http\", \"rdp\")",
	    "3: services[0].check.type: \"icmp\" is not a valid type (expected one of \"tcp\", "
	        "\"ssh\", \"http\", \"rdp\", \"none\")",
	    "4: services[1].mode: \"HTTP\" is not a valid mode (expected one of \"tcp\", \"http\", \"rdp\")",
	    "5: services[1].tls.min_version: \"1.1\" is not a valid min_version (expected one of "
	        "\"1.2\", \"1.3\")",
	    "6: services[1].backend_tls: \"strict\" is not a valid backend_tls (expected one of "
	        "\"none\", \"verify\", \"insecure\")");
}

static void test_bad_durations(void **state)
{
	(void)state;
	expect_errors(
	    "shutdown_grace = \"\";\n"
	    "affinity = { ttl = \"5\"; };\n"
	    "services = ( { name = \"a\"; listen = [ \"*:22\" ]; port = 22;\n"
	    "  connect_timeout = \"-1s\"; idle_timeout = \"1.5s\";\n"
	    "  check = { interval = \"2x\"; timeout = \"99999999999999999999ms\"; }; } );\n",
	    "1: shutdown_grace: \"\" is not a duration (use 500ms, 2s, 1m)",
	    "2: affinity.ttl: \"5\" is not a duration (use 500ms, 2s, 1m)",
	    "4: services[0].connect_timeout: \"-1s\" is not a duration (use 500ms, 2s, 1m)",
	    "4: services[0].idle_timeout: \"1.5s\" is not a duration (use 500ms, 2s, 1m)",
	    "5: services[0].check.interval: \"2x\" is not a duration (use 500ms, 2s, 1m)",
	    "5: services[0].check.timeout: \"99999999999999999999ms\" is not a duration "
	        "(use 500ms, 2s, 1m)");
}

static void test_timeout_above_interval(void **state)
{
	struct pg_config *cfg;

	(void)state;
	expect_errors(
	    "services = (\n"
	    "  { name = \"a\"; listen = [ \"*:22\" ]; port = 22;\n"
	    "    check = { interval = \"1s\";\n"
	    "              timeout = \"1001ms\"; }; },\n"              /* 4 */
	    "  { name = \"b\"; listen = [ \"*:23\" ]; port = 22;\n"
	    "    check = {\n"
	    "      interval = \"500ms\"; }; }\n"                        /* 7: timeout is the default 1s */
	    ");\n",
	    "4: services[0].check.timeout: 1001ms is longer than the interval 1s "
	        "(expected timeout <= interval)",
	    "7: services[1].check.timeout: 1s (default) is longer than the interval 500ms "
	        "(expected timeout <= interval)");

	/* no second error when the interval itself is already wrong */
	expect_errors("services = ( { name = \"a\"; listen = [ \"*:22\" ]; port = 22;\n"
	    " check = { interval = \"1\"; timeout = \"5s\"; }; } );\n",
	    "2: services[0].check.interval: \"1\" is not a duration (use 500ms, 2s, 1m)");

	/* equal is fine */
	cfg = expect_ok("services = ( { name = \"a\"; listen = [ \"*:22\" ]; port = 22;"
	    " check = { interval = \"1s\"; timeout = \"1000ms\"; }; } );\n");
	cfg_free(cfg);
}

static void test_missing_required(void **state)
{
	(void)state;
	/* no services at all: the top of the file */
	expect_errors("state_dir = \"/x\";\n\n",
	    "1: services: missing required setting (expected a list ( { ... }, ... ) of 1 to 32 groups)");
	expect_errors("",
	    "1: services: missing required setting (expected a list ( { ... }, ... ) of 1 to 32 groups)");

	/* missing keys of an entry: the line where its group starts */
	expect_errors(
	    "services = (\n"
	    "  {\n"                                                     /* 2 */
	    "    mode = \"tcp\";\n"
	    "  },\n"
	    "  { name = \"b\";\n"                                       /* 5 */
	    "    port = 22; }\n"
	    ");\n"
	    "backends = (\n"
	    "  { weight = 2; },\n"                                      /* 9 */
	    "  { name = \"vm2\"; }\n"
	    ");\n",
	    "2: services[0].name: missing required setting (expected a name of 1 to 63 characters "
	        "A-Z a-z 0-9 _ - . (not starting with - or .))",
	    "2: services[0].listen: missing required setting (expected an array [ \"ADDR:PORT\", ... ] "
	        "of 1 to 16 addresses)",
	    "2: services[0].port: missing required setting (expected an integer from 1 to 65535)",
	    "5: services[1].listen: missing required setting (expected an array [ \"ADDR:PORT\", ... ] "
	        "of 1 to 16 addresses)",
	    "9: backends[0].name: missing required setting (expected a name of 1 to 63 characters "
	        "A-Z a-z 0-9 _ - . (not starting with - or .))",
	    "9: backends[0].address: missing required setting (expected a numeric IPv4 or IPv6 "
	        "address without port, such as \"10.0.0.4\" or \"fd00::4\")",
	    "10: backends[1].address: missing required setting (expected a numeric IPv4 or IPv6 "
	        "address without port, such as \"10.0.0.4\" or \"fd00::4\")");
}

static void test_list_sizes(void **state)
{
	struct pg_config *cfg;
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	expect_errors("services = ();\n",
	    "1: services: empty list (expected 1 to 32 entries)");
	expect_errors("services = [];\n",
	    "1: services: empty list (expected 1 to 32 entries)");
	expect_errors("services = ( { name = \"a\"; listen = [ ]; port = 22; } );\n",
	    "1: services[0].listen: empty array (expected 1 to 16 addresses)");

	/* an empty or missing backends list is a pool at zero VMs */
	cfg = expect_ok(SVC_LINE "backends = ();\n");
	assert_int_equal(cfg->nbackends, 0);
	cfg_free(cfg);
	cfg = expect_ok(SVC_LINE "backends = [];\n");
	assert_int_equal(cfg->nbackends, 0);
	cfg_free(cfg);

	/* 33 services; 16 listen addresses is the most, 17 too many */
	f = open_memstream(&text, &len);
	assert_non_null(f);
	fprintf(f, "services = (\n");
	for (int i = 0; i < CFG_MAX_SERVICES + 1; i++)
		fprintf(f, "  { name = \"s%d\"; listen = [ \"*:%d\" ]; port = 22; }%s\n",
		    i, 1000 + i, i < CFG_MAX_SERVICES ? "," : "");
	fprintf(f, ");\n");
	fclose(f);
	expect_errors(text, "1: services: 33 entries is too many (expected 1 to 32)");
	free(text);

	f = open_memstream(&text, &len);
	assert_non_null(f);
	fprintf(f, "services = ( { name = \"a\"; port = 22; listen = [\n");
	for (int i = 0; i < CFG_MAX_LISTEN; i++)
		fprintf(f, "  \"127.0.0.%d:22\",\n", i + 1);
	fprintf(f, "  \"127.0.0.1:22\",\n");    /* 17th, also a duplicate: still looked at */
	fprintf(f, "  \"bad\" ]; } );\n");       /* 18th */
	fclose(f);
	expect_errors(text,
	    "1: services[0].listen: 18 addresses is too many (expected 1 to 16)",
	    "19: services[0].listen[17]: \"bad\" is not an address and port (expected \"ADDR:PORT\" "
	        "with a numeric address, such as \"0.0.0.0:22\", \"*:22\" or \"[::]:22\")");
	free(text);

	f = open_memstream(&text, &len);
	assert_non_null(f);
	fprintf(f, "services = ( { name = \"a\"; port = 22; listen = [\n");
	for (int i = 0; i < CFG_MAX_LISTEN; i++)
		fprintf(f, "  \"127.0.0.%d:22\"%s\n", i + 1, i + 1 < CFG_MAX_LISTEN ? "," : "");
	fprintf(f, "]; } );\n");
	fclose(f);
	cfg = expect_ok(text);
	assert_int_equal(cfg->services[0].nlisten, CFG_MAX_LISTEN);
	assert_v4(&cfg->services[0].listen[CFG_MAX_LISTEN - 1], "127.0.0.16", 22);
	cfg_free(cfg);
	free(text);

	/* 4096 backends load, 4097 do not */
	for (int extra = 0; extra <= 1; extra++) {
		f = open_memstream(&text, &len);
		assert_non_null(f);
		fprintf(f, SVC_LINE "backends = (\n");
		for (int i = 0; i < CFG_MAX_BACKENDS + extra; i++)
			fprintf(f, "{ name = \"vm%d\"; address = \"10.%d.%d.1\"; }%s\n", i, i / 256,
			    i % 256, i + 1 < CFG_MAX_BACKENDS + extra ? "," : "");
		fprintf(f, ");\n");
		fclose(f);
		if (extra) {
			expect_errors(text, "2: backends: 4097 entries is too many (expected 0 to 4096)");
		} else {
			cfg = expect_ok(text);
			assert_int_equal(cfg->nbackends, CFG_MAX_BACKENDS);
			assert_string_equal(cfg->backends[4095].name, "vm4095");
			cfg_free(cfg);
		}
		free(text);
	}
}

static void test_duplicates(void **state)
{
	(void)state;
	expect_errors(
	    "admin = { listen = \"127.0.0.1:9100\"; };\n"
	    "services = (\n"
	    "  { name = \"ssh\"; listen = [ \"0.0.0.0:22\",\n"             /* 3 */
	    "                            \"*:22\" ]; port = 22; },\n"     /* 4: same as 0.0.0.0:22 */
	    "  { name = \"ssh\"; listen = [ \"[::]:22\", \"127.0.0.1:9100\" ]; port = 22; },\n"
	    "  { name = \"web\"; listen = [ \"[0::0]:22\" ]; port = 22; }\n"   /* 6 */
	    ");\n"
	    "backends = (\n"
	    "  { name = \"vm1\"; address = \"10.0.0.4\"; },\n"           /* 9 */
	    "  { name = \"vm2\"; address = \"fd00::4\"; },\n"
	    "  { name = \"vm1\"; address = \"[fd00:0::4]\"; },\n"        /* 11 */
	    "  { name = \"vm3\"; address = \"10.0.0.4\"; }\n"
	    ");\n",
	    "4: services[0].listen[1]: \"*:22\" is already used by services[0].listen[0] at line 3 "
	        "(expected each address once)",
	    "5: services[1].listen[1]: \"127.0.0.1:9100\" is already used by admin.listen at line 1 "
	        "(expected each address once)",
	    "5: services[1].name: \"ssh\" is already the name of services[0] at line 3 "
	        "(expected a unique name)",
	    "6: services[2].listen[0]: \"[0::0]:22\" is already used by services[1].listen[0] at line 5 "
	        "(expected each address once)",
	    "11: backends[2].address: \"[fd00:0::4]\" is already the address of backends[1] at line 10 "
	        "(expected a unique address)",
	    "11: backends[2].name: \"vm1\" is already the name of backends[0] at line 9 "
	        "(expected a unique name)",
	    "12: backends[3].address: \"10.0.0.4\" is already the address of backends[0] at line 9 "
	        "(expected a unique address)");

	/* the default admin address counts too */
	expect_errors("services = ( { name = \"a\"; listen = [ \"127.0.0.1:9100\" ]; port = 22; } );\n",
	    "1: services[0].listen[0]: \"127.0.0.1:9100\" is already used by admin.listen (default) "
	        "(expected each address once)");
}

static void test_bad_addresses(void **state)
{
	struct pg_config *cfg;

	(void)state;
	expect_errors(
	    "admin = { listen = \"localhost:9100\"; };\n"
	    "services = ( { name = \"a\"; port = 22;\n"
	    "  listen = [ \"10.0.0.1\", \"10.0.0.1:0\", \"::1:22\", \"[::1]\", \"*\" ]; } );\n"
	    "backends = (\n"
	    "  { name = \"a\"; address = \"vm1.example.com\"; },\n"     /* 5 */
	    "  { name = \"b\"; address = \"10.0.0.4:22\"; },\n"
	    "  { name = \"c\"; address = \"*\"; }\n"
	    ");\n",
	    "1: admin.listen: \"localhost:9100\" is not an address and port (expected \"ADDR:PORT\" "
	        "with a numeric address, such as \"0.0.0.0:22\", \"*:22\" or \"[::]:22\")",
	    "3: services[0].listen[0]: \"10.0.0.1\" is not an address and port (expected \"ADDR:PORT\" "
	        "with a numeric address, such as \"0.0.0.0:22\", \"*:22\" or \"[::]:22\")",
	    "3: services[0].listen[1]: \"10.0.0.1:0\" is not an address and port (expected \"ADDR:PORT\" "
	        "with a numeric address, such as \"0.0.0.0:22\", \"*:22\" or \"[::]:22\")",
	    "3: services[0].listen[2]: \"::1:22\" is not an address and port (expected \"ADDR:PORT\" "
	        "with a numeric address, such as \"0.0.0.0:22\", \"*:22\" or \"[::]:22\")",
	    "3: services[0].listen[3]: \"[::1]\" is not an address and port (expected \"ADDR:PORT\" "
	        "with a numeric address, such as \"0.0.0.0:22\", \"*:22\" or \"[::]:22\")",
	    "3: services[0].listen[4]: \"*\" is not an address and port (expected \"ADDR:PORT\" "
	        "with a numeric address, such as \"0.0.0.0:22\", \"*:22\" or \"[::]:22\")",
	    "5: backends[0].address: \"vm1.example.com\" is not an IP address (expected a numeric "
	        "IPv4 or IPv6 address without port, such as \"10.0.0.4\" or \"fd00::4\")",
	    "6: backends[1].address: \"10.0.0.4:22\" is not an IP address (expected a numeric "
	        "IPv4 or IPv6 address without port, such as \"10.0.0.4\" or \"fd00::4\")",
	    "7: backends[2].address: \"*\" is not an IP address (expected a numeric "
	        "IPv4 or IPv6 address without port, such as \"10.0.0.4\" or \"fd00::4\")");

	/* an admin address elsewhere frees 127.0.0.1:9100 for a service */
	cfg = expect_ok("admin = { listen = \"[::1]:9100\"; };\n"
	    "services = ( { name = \"a\"; listen = [ \"127.0.0.1:9100\" ]; port = 22; } );\n");
	cfg_free(cfg);
}

static void test_element_lines(void **state)
{
	(void)state;
	/*
	 * libconfig alone puts the last element of an array or list on the line
	 * of the "]" or ")" after it (4 and 8 here), and a glued string on the line of its
	 * last piece. Each error must name the line where the value starts.
	 */
	expect_errors(
	    "services = ( { name = \"a\"; port = 22; listen = [\n"
	    "    \"*:22\",\n"
	    "    \"bad\"\n"                                             /* 3 */
	    "  ]; },\n"
	    "  { name = \"b\"; port = 22; listen = ( \"*:23\", \"1.2.3.4:\"\n"
	    "      \"x\", \"*:24\",\n"
	    "      24\n"                                                /* 7 */
	    "  ); }\n"
	    ");\n",
	    "3: services[0].listen[1]: \"bad\" is not an address and port (expected \"ADDR:PORT\" "
	        "with a numeric address, such as \"0.0.0.0:22\", \"*:22\" or \"[::]:22\")",
	    "5: services[1].listen[1]: \"1.2.3.4:x\" is not an address and port (expected "
	        "\"ADDR:PORT\" with a numeric address, such as \"0.0.0.0:22\", \"*:22\" or \"[::]:22\")",
	    "7: services[1].listen[3]: 24 is an integer (expected \"ADDR:PORT\" with a numeric "
	        "address, such as \"0.0.0.0:22\", \"*:22\" or \"[::]:22\")");
}

static void test_all_errors_sorted(void **state)
{
	(void)state;
	/* The table walks state_dir first; the messages still come in file order. */
	expect_errors(
	    "backends = ( { name = \"a\"; address = \"x\"; } );\n"
	    "services = ( { name = \"a\"; listen = [ \"*:22\" ]; port = 22; mode = \"udp\"; } );\n"
	    "state_dir = 1;\n",
	    "1: backends[0].address: \"x\" is not an IP address (expected a numeric IPv4 or IPv6 "
	        "address without port, such as \"10.0.0.4\" or \"fd00::4\")",
	    "2: services[0].mode: \"udp\" is not a valid mode (expected one of \"tcp\", \"http\", \"rdp\")",
	    "3: state_dir: 1 is an integer (expected a string of 1 to 4095 characters)");
}

static void test_file_errors(void **state)
{
	struct cfg_errors errs = { 0 };
	struct pg_config *cfg = NULL;
	char path[160], msg[300];
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/missing.conf", tmpdir);
	assert_int_equal(cfg_load(path, &cfg, &errs), -1);
	assert_null(cfg);
	assert_int_equal(errs.n, 1);
	snprintf(msg, sizeof(msg), "%s: cannot open the file: No such file or directory", path);
	assert_string_equal(errs.msg[0], msg);
	cfg_errors_free(&errs);

	assert_int_equal(cfg_load(tmpdir, &cfg, &errs), -1);
	assert_int_equal(errs.n, 1);
	snprintf(msg, sizeof(msg), "%s: cannot read the file: Is a directory", tmpdir);
	assert_string_equal(errs.msg[0], msg);
	cfg_errors_free(&errs);

	/* a NUL byte is reported at its line, not silently ending the file */
	write_file(conf, SVC_LINE "state_dir = \"/x\";\n\0" "junk\n", strlen(SVC_LINE) + 24);
	assert_int_equal(cfg_load(conf, &cfg, &errs), -1);
	assert_int_equal(errs.n, 1);
	snprintf(msg, sizeof(msg), "%s:3: syntax error: NUL byte in the file (expected text)", conf);
	assert_string_equal(errs.msg[0], msg);
	cfg_errors_free(&errs);

	/* the size cap: 16 MiB */
	fd = open(conf, O_WRONLY | O_TRUNC);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 16 * 1024 * 1024 + 1), 0);
	close(fd);
	assert_int_equal(cfg_load(conf, &cfg, &errs), -1);
	assert_int_equal(errs.n, 1);
	snprintf(msg, sizeof(msg), "%s: file too large (expected at most 16777216 bytes)", conf);
	assert_string_equal(errs.msg[0], msg);
	cfg_errors_free(&errs);
	assert_null(cfg);
}

static void test_include_names_its_file(void **state)
{
	char inc[160], *text = NULL;

	(void)state;
	snprintf(inc, sizeof(inc), "%s/inc.conf", tmpdir);
	write_file(inc, "\nshutdown_grace = \"1y\";\n", 24);
	assert_true(asprintf(&text, SVC_LINE "@include \"%s\"\nstate_dir = 2;\n", inc) > 0);
	{
		struct cfg_errors errs = { 0 };
		struct pg_config *cfg = NULL;
		char want[300];

		assert_int_equal(load_text(text, &cfg, &errs), -1);
		assert_int_equal(errs.n, 2);
		snprintf(want, sizeof(want), "%s:2: shutdown_grace: \"1y\" is not a duration "
		    "(use 500ms, 2s, 1m)", inc);
		assert_string_equal(errs.msg[0], want);
		snprintf(want, sizeof(want), "%s:3: state_dir: 2 is an integer (expected a string "
		    "of 1 to 4095 characters)", conf);
		assert_string_equal(errs.msg[1], want);
		cfg_errors_free(&errs);
	}
	free(text);
}

static void test_errors_list(void **state)
{
	struct cfg_errors errs = { 0 };
	struct pg_config *cfg = NULL;
	char want[300];

	(void)state;
	/* cfg_load appends: what the caller had stays first */
	cfg_errors_add(&errs, "earlier %d %s", 1, "x");
	assert_int_equal(load_text("state_dir = 1;\n" SVC_LINE, &cfg, &errs), -1);
	assert_int_equal(errs.n, 2);
	assert_string_equal(errs.msg[0], "earlier 1 x");
	snprintf(want, sizeof(want), "%s:1: state_dir: 1 is an integer (expected a string of "
	    "1 to 4095 characters)", conf);
	assert_string_equal(errs.msg[1], want);

	/* a success adds nothing */
	assert_int_equal(load_text(SVC_LINE, &cfg, &errs), 0);
	assert_int_equal(errs.n, 2);
	cfg_free(cfg);

	cfg_errors_free(&errs);
	assert_int_equal(errs.n, 0);
	assert_null(errs.msg);
	cfg_errors_free(&errs);         /* twice is harmless */
	cfg_errors_free(NULL);
	cfg_free(NULL);
}

/* ------------------------------------------------------------------ */
/* Mode http                                                          */
/* ------------------------------------------------------------------ */

/* A mode http service on one line, for cases about its settings. */
#define HUB_HEAD "services = ( { name = \"hub\"; listen = [ \"*:8000\" ]; port = 8000; mode = \"http\";\n"

static void test_http_defaults(void **state)
{
	struct pg_config *cfg;
	const struct cfg_service *s;

	(void)state;
	cfg = expect_ok(HUB_HEAD "} );\n");
	s = &cfg->services[0];
	assert_int_equal(s->mode, SVC_MODE_HTTP);
	assert_false(s->tls.enabled);
	assert_null(s->tls.cert);
	assert_null(s->tls.key);
	assert_int_equal(s->tls.min_version, 12);
	assert_int_equal(s->backend_tls, BTLS_NONE);
	assert_null(s->backend_ca);
	/* users are known at login: the address decides nothing by default */
	assert_false(s->by_client_ip);
	assert_int_equal(s->http.response_timeout_ms, 5 * 60 * 1000);
	assert_int_equal(s->check.type, CHECK_HTTP);            /* the default of mode http */
	assert_string_equal(s->check.path, "/hub/health");
	assert_int_equal(s->check.expect, 200);
	assert_int_equal(s->check.interval_ms, 2000);
	assert_string_equal(s->http.user_prefix, "/user/");
	assert_string_equal(s->http.login_path, "/hub/login");
	assert_int_equal(s->http.header_timeout_ms, 10 * 1000);
	assert_int_equal(s->http.keepalive_timeout_ms, 60 * 1000);
	assert_int_equal(s->http.tunnel_idle_timeout_ms, 0);
	assert_string_equal(s->http.cookie_name, "poolgate_vm");
	assert_int_equal(s->http.cookie_ttl_ms, 12 * 3600 * 1000);
	assert_int_equal(cfg->session_idle_ms, 10 * 60 * 1000);
	cfg_free(cfg);

	/* groups given with only what they require: the rest is the default */
	cfg = expect_ok(HUB_HEAD
	    "  tls = { cert = \"/c.pem\"; key = \"/k.pem\"; }; http = { }; check = { }; } );\n");
	s = &cfg->services[0];
	assert_true(s->tls.enabled);
	assert_string_equal(s->tls.cert, "/c.pem");
	assert_string_equal(s->tls.key, "/k.pem");
	assert_int_equal(s->tls.min_version, 12);
	assert_int_equal(s->check.type, CHECK_HTTP);
	assert_string_equal(s->check.path, "/hub/health");
	assert_int_equal(s->check.expect, 200);
	assert_string_equal(s->http.user_prefix, "/user/");
	assert_string_equal(s->http.cookie_name, "poolgate_vm");
	assert_int_equal(s->http.cookie_ttl_ms, 12 * 3600 * 1000);
	cfg_free(cfg);

	/* backend_tls "none" may be written on a tcp service: it is the default */
	cfg = expect_ok("services = ( { name = \"a\"; listen = [ \"*:22\" ]; port = 22;"
	    " backend_tls = \"none\"; } );\n");
	assert_int_equal(cfg->services[0].backend_tls, BTLS_NONE);
	cfg_free(cfg);
}

static void test_http_bounds_accepted(void **state)
{
	struct pg_config *cfg;
	const struct cfg_service *s;
	char path255[256], cookie63[64], *text = NULL;

	(void)state;
	/* the smallest values ... */
	cfg = expect_ok("session_idle = \"1s\";\n" HUB_HEAD
	    "  tls = { cert = \"c\"; key = \"k\"; min_version = \"1.3\"; };\n"
	    "  backend_tls = \"insecure\";\n"
	    "  check = { path = \"/\"; expect = 100; };\n"
	    "  http = { user_prefix = \"/\"; login_path = \"/\"; header_timeout = \"100ms\";\n"
	    "    keepalive_timeout = \"0s\"; tunnel_idle_timeout = \"0ms\"; cookie_name = \"x\";\n"
	    "    cookie_ttl = \"1m\"; }; } );\n");
	s = &cfg->services[0];
	assert_int_equal(cfg->session_idle_ms, 1000);
	assert_int_equal(s->tls.min_version, 13);
	assert_string_equal(s->tls.cert, "c");
	assert_int_equal(s->backend_tls, BTLS_INSECURE);
	assert_null(s->backend_ca);
	assert_string_equal(s->check.path, "/");
	assert_int_equal(s->check.expect, 100);
	assert_string_equal(s->http.user_prefix, "/");
	assert_string_equal(s->http.login_path, "/");
	assert_int_equal(s->http.header_timeout_ms, 100);
	assert_int_equal(s->http.keepalive_timeout_ms, 0);
	assert_int_equal(s->http.tunnel_idle_timeout_ms, 0);
	assert_string_equal(s->http.cookie_name, "x");
	assert_int_equal(s->http.cookie_ttl_ms, 60 * 1000);
	cfg_free(cfg);

	/* ... and the largest: 255-character paths, a 63-character cookie name */
	memset(path255, 'p', 255);
	path255[0] = '/';
	path255[254] = '/';
	path255[255] = '\0';
	memset(cookie63, 'c', 63);
	cookie63[63] = '\0';
	assert_true(asprintf(&text, "session_idle = \"1d\";\n" HUB_HEAD
	    "  check = { path = \"%s\"; expect = 599; };\n"
	    "  http = { user_prefix = \"%s\"; login_path = \"%s\"; header_timeout = \"10m\";\n"
	    "    keepalive_timeout = \"1h\"; tunnel_idle_timeout = \"30d\"; cookie_name = \"%s\";\n"
	    "    cookie_ttl = \"30d\"; }; } );\n", path255, path255, path255, cookie63) > 0);
	cfg = expect_ok(text);
	free(text);
	s = &cfg->services[0];
	assert_int_equal(cfg->session_idle_ms, 24 * 3600 * 1000);
	assert_string_equal(s->check.path, path255);
	assert_int_equal(s->check.expect, 599);
	assert_string_equal(s->http.user_prefix, path255);
	assert_string_equal(s->http.login_path, path255);
	assert_int_equal(s->http.header_timeout_ms, 10 * 60 * 1000);
	assert_int_equal(s->http.keepalive_timeout_ms, 3600 * 1000);
	assert_int_equal(s->http.tunnel_idle_timeout_ms, 30ULL * 24 * 3600 * 1000);
	assert_string_equal(s->http.cookie_name, cookie63);
	assert_int_equal(s->http.cookie_ttl_ms, 30ULL * 24 * 3600 * 1000);
	cfg_free(cfg);

	/* every RFC 6265 token character; any visible ASCII in a path */
	cfg = expect_ok(HUB_HEAD
	    "  check = { path = \"/a?b=c&d=%20#~!$'()*+,;:@[]{}|^`\\\"\\\\<>\"; };\n"
	    "  http = { cookie_name = \"AZaz09!#$%&'*+-.^_`|~\"; user_prefix = \"/~u-1/\"; }; } );\n");
	s = &cfg->services[0];
	assert_string_equal(s->check.path, "/a?b=c&d=%20#~!$'()*+,;:@[]{}|^`\"\\<>");
	assert_string_equal(s->http.cookie_name, "AZaz09!#$%&'*+-.^_`|~");
	assert_string_equal(s->http.user_prefix, "/~u-1/");
	cfg_free(cfg);
}

static void test_tls_ciphers_and_verify_name(void **state)
{
	struct pg_config *cfg;
	char host[64];

	(void)state;
	/* without them: the system's cipher policy, the VM's IP address */
	cfg = expect_ok(HUB_HEAD "  backend_tls = \"verify\"; } );\n");
	assert_null(cfg->services[0].tls.ciphers);
	assert_null(cfg->services[0].verify_name);
	assert_int_equal(cfg_verify_host(&cfg->services[0], "vm1", host, sizeof(host)), 0);
	assert_string_equal(host, "");
	cfg_free(cfg);

	cfg = expect_ok(HUB_HEAD "  tls = { cert = \"/c\"; key = \"/k\";"
	    " ciphers = \"ECDHE+AESGCM\"; };\n"
	    "  backend_tls = \"verify\"; verify_name = \"{backend}.pool.example.com\"; } );\n");
	assert_string_equal(cfg->services[0].tls.ciphers, "ECDHE+AESGCM");
	assert_int_equal(cfg_verify_host(&cfg->services[0], "vm-1", host, sizeof(host)),
	    strlen("vm-1.pool.example.com"));
	assert_string_equal(host, "vm-1.pool.example.com");
	/* too long for the buffer: no name rather than a cut one */
	assert_int_equal(cfg_verify_host(&cfg->services[0], "vm-1", host, 10), 0);
	assert_string_equal(host, "");
	cfg_free(cfg);

	/* one name for every VM (a shared certificate), and {backend} twice */
	cfg = expect_ok(HUB_HEAD "  backend_tls = \"verify\"; verify_name = \"hub.internal\"; } );\n");
	assert_int_equal(cfg_verify_host(&cfg->services[0], "vm1", host, sizeof(host)), 12);
	assert_string_equal(host, "hub.internal");
	cfg_free(cfg);
	cfg = expect_ok(HUB_HEAD "  backend_tls = \"verify\"; verify_name = \"{backend}.{backend}\"; } );\n");
	cfg_verify_host(&cfg->services[0], "a", host, sizeof(host));
	assert_string_equal(host, "a.a");
	cfg_free(cfg);

	expect_errors(HUB_HEAD "  backend_tls = \"insecure\";\n"
	    "  verify_name = \"{backend}.pool\"; } );\n",
	    "3: services[0].verify_name: only for backend_tls \"verify\" (expected backend_tls = "
	        "\"verify\", or no verify_name)");
	expect_errors(HUB_HEAD "  backend_tls = \"verify\";\n"
	    "  verify_name = \"vm_1..pool\"; } );\n",
	    "3: services[0].verify_name: \"vm_1..pool\" is not a DNS name (expected letters, "
	        "digits, - and . with {backend} for the VM's name, such as "
	        "\"{backend}.pool.example.com\")");
	expect_errors(HUB_HEAD "  backend_tls = \"verify\";\n"
	    "  verify_name = \"{vm}.pool\"; } );\n",
	    "3: services[0].verify_name: \"{vm}.pool\" is not a DNS name (expected letters, "
	        "digits, - and . with {backend} for the VM's name, such as "
	        "\"{backend}.pool.example.com\")");
}

static void test_http_only_settings(void **state)
{
	struct pg_config *cfg;

	(void)state;
	/* http and backend_tls other than "none" on a tcp service (tls is fine there) */
	expect_errors(
	    "services = ( { name = \"ssh\"; listen = [ \"*:22\" ]; port = 22;\n"
	    "  tls = { cert = \"/c.pem\"; key = \"/k.pem\"; };\n"      /* 2 */
	    "  backend_tls = \"verify\";\n"
	    "  backend_ca = \"/ca.pem\";\n"                             /* 4: fine with verify */
	    "  http = { };\n"                                           /* 5 */
	    "  check = { type = \"ssh\";\n"
	    "    path = \"/hub/health\";\n"                             /* 7 */
	    "    expect = 200; }; },\n"
	    "  { name = \"raw\"; listen = [ \"*:23\" ]; port = 22; mode = \"tcp\";\n"
	    "    backend_tls = \"insecure\"; check = { expect = 200; }; }\n" /* 10: default type tcp */
	    ");\n",
	    "3: services[0].backend_tls: \"verify\" is only for mode \"http\" services (expected "
	        "\"none\", or mode = \"http\")",
	    "5: services[0].http: only for mode \"http\" services (expected mode = \"http\", "
	        "or no http)",
	    "7: services[0].check.path: only for check type \"http\" (expected type = \"http\", "
	        "or no path)",
	    "8: services[0].check.expect: only for check type \"http\" (expected type = \"http\", "
	        "or no expect)",
	    "10: services[1].backend_tls: \"insecure\" is only for mode \"http\" services (expected "
	        "\"none\", or mode = \"http\")",
	    "10: services[1].check.expect: only for check type \"http\" (expected type = \"http\", "
	        "or no expect)");

	/* in a mode http service: a check of another type takes no path; backend_ca needs verify */
	expect_errors(HUB_HEAD
	    "  check = { type = \"tcp\"; path = \"/hub/health\"; }; backend_ca = \"/ca.pem\"; },\n"
	    "  { name = \"b\"; listen = [ \"*:8001\" ]; port = 8000; mode = \"http\";\n"
	    "    backend_tls = \"insecure\";\n"
	    "    backend_ca = \"/ca.pem\"; }\n"                           /* 5 */
	    ");\n",
	    "2: services[0].backend_ca: only for backend_tls \"verify\" (expected backend_tls = "
	        "\"verify\", or no backend_ca)",
	    "2: services[0].check.path: only for check type \"http\" (expected type = \"http\", "
	        "or no path)",
	    "5: services[1].backend_ca: only for backend_tls \"verify\" (expected backend_tls = "
	        "\"verify\", or no backend_ca)");

	/* an http check of a tcp service is fine, with its path and status */
	cfg = expect_ok("services = ( { name = \"a\"; listen = [ \"*:22\" ]; port = 22;"
	    " check = { type = \"http\"; expect = 302; }; } );\n");
	assert_int_equal(cfg->services[0].mode, SVC_MODE_TCP);
	assert_int_equal(cfg->services[0].check.type, CHECK_HTTP);
	assert_string_equal(cfg->services[0].check.path, "/hub/health");
	assert_int_equal(cfg->services[0].check.expect, 302);
	cfg_free(cfg);
}

static void test_http_bad_values(void **state)
{
	char *text = NULL, path256[257], cookie64[65];

	(void)state;
	expect_errors(HUB_HEAD
	    "  tls = { key = \"/k.pem\";\n"                             /* 2 */
	    "    min_version = \"1.1\"; };\n"
	    "  backend_tls = \"VERIFY\";\n"                             /* 4 */
	    "  check = { path = \"hub/health\";\n"
	    "    expect = 600; }; },\n"                                 /* 6 */
	    "  { name = \"b\"; listen = [ \"*:8001\" ]; port = 8000; mode = \"http\";\n"
	    "    tls = { cert = \"\"; };\n"                                 /* 8 */
	    "    check = { path = \"/hub/ health\"; expect = 99; }; }\n"
	    ");\n",
	    "2: services[0].tls.cert: missing required setting (expected a string of 1 to 4095 "
	        "characters)",
	    "3: services[0].tls.min_version: \"1.1\" is not a valid min_version (expected one of "
	        "\"1.2\", \"1.3\")",
	    "4: services[0].backend_tls: \"VERIFY\" is not a valid backend_tls (expected one of "
	        "\"none\", \"verify\", \"insecure\")",
	    "5: services[0].check.path: \"hub/health\" is not a valid path (expected a path of 1 to "
	        "255 characters starting with \"/\" (printable ASCII, no spaces))",
	    "6: services[0].check.expect: 600 is out of range (expected 100 to 599)",
	    "8: services[1].tls.cert: empty string (expected 1 to 4095 characters)",
	    "8: services[1].tls.key: missing required setting (expected a string of 1 to 4095 "
	        "characters)",
	    "9: services[1].check.path: \"/hub/ health\" is not a valid path (expected a path of 1 "
	        "to 255 characters starting with \"/\" (printable ASCII, no spaces))",
	    "9: services[1].check.expect: 99 is out of range (expected 100 to 599)");

	/* paths: a start, an end, spaces, control and non-ASCII bytes, length */
	memset(path256, 'p', 256);
	path256[0] = '/';
	path256[255] = '/';
	path256[256] = '\0';
	assert_true(asprintf(&text, HUB_HEAD
	    "  http = { user_prefix = \"/user\"; login_path = \"hub/login\"; }; },\n"
	    "  { name = \"b\"; listen = [ \"*:8001\" ]; port = 8000; mode = \"http\";\n"
	    "    http = { user_prefix = \"user/\"; login_path = \"\"; }; },\n"          /* 4 */
	    "  { name = \"c\"; listen = [ \"*:8002\" ]; port = 8000; mode = \"http\";\n"
	    "    http = { user_prefix = \"/us\\ter/\"; login_path = \"/l\xc3\xa9\"; }; },\n" /* 6 */
	    "  { name = \"d\"; listen = [ \"*:8003\" ]; port = 8000; mode = \"http\";\n"
	    "    http = { user_prefix = \"%s\"; login_path = \"/hub/login\\x7f\"; }; }\n"  /* 8 */
	    ");\n", path256) > 0);
	expect_errors(text,
	    "2: services[0].http.user_prefix: \"/user\" is not a valid path (expected a path of 1 to "
	        "255 characters starting and ending with \"/\" (printable ASCII, no spaces))",
	    "2: services[0].http.login_path: \"hub/login\" is not a valid path (expected a path of 1 "
	        "to 255 characters starting with \"/\" (printable ASCII, no spaces))",
	    "4: services[1].http.user_prefix: \"user/\" is not a valid path (expected a path of 1 to "
	        "255 characters starting and ending with \"/\" (printable ASCII, no spaces))",
	    "4: services[1].http.login_path: \"\" is not a valid path (expected a path of 1 to "
	        "255 characters starting with \"/\" (printable ASCII, no spaces))",
	    "6: services[2].http.user_prefix: \"/us\\x09er/\" is not a valid path (expected a path "
	        "of 1 to 255 characters starting and ending with \"/\" (printable ASCII, no spaces))",
	    "6: services[2].http.login_path: \"/l\\xc3\\xa9\" is not a valid path (expected a path "
	        "of 1 to 255 characters starting with \"/\" (printable ASCII, no spaces))",
	    "8: services[3].http.user_prefix: \"/ppppppppppppppppppppppppppppppppppppppppppppppppppp"
	        "pppppppppppp...\" is not a valid path (expected a path of 1 to 255 characters "
	        "starting and ending with \"/\" (printable ASCII, no spaces))",
	    "8: services[3].http.login_path: \"/hub/login\\x7f\" is not a valid path (expected a "
	        "path of 1 to 255 characters starting with \"/\" (printable ASCII, no spaces))");
	free(text);

	/* cookie names: separators, spaces, non-ASCII, empty, too long */
	memset(cookie64, 'c', 64);
	cookie64[64] = '\0';
	assert_true(asprintf(&text, HUB_HEAD
	    "  http = { cookie_name = \"pool gate\"; }; },\n"
	    "  { name = \"b\"; listen = [ \"*:8001\" ]; port = 8000; mode = \"http\";\n"
	    "    http = { cookie_name = \"vm=1\"; }; },\n"                            /* 4 */
	    "  { name = \"c\"; listen = [ \"*:8002\" ]; port = 8000; mode = \"http\";\n"
	    "    http = { cookie_name = \"a;b\"; }; },\n"                             /* 6 */
	    "  { name = \"d\"; listen = [ \"*:8003\" ]; port = 8000; mode = \"http\";\n"
	    "    http = { cookie_name = \"vm\xc3\xa9\"; }; },\n"                      /* 8 */
	    "  { name = \"e\"; listen = [ \"*:8004\" ]; port = 8000; mode = \"http\";\n"
	    "    http = { cookie_name = \"\"; }; },\n"                                /* 10 */
	    "  { name = \"f\"; listen = [ \"*:8005\" ]; port = 8000; mode = \"http\";\n"
	    "    http = { cookie_name = \"%s\"; }; },\n"                              /* 12 */
	    "  { name = \"g\"; listen = [ \"*:8006\" ]; port = 8000; mode = \"http\";\n"
	    "    http = { cookie_name = \"(vm)\"; }; }\n"                             /* 14 */
	    ");\n", cookie64) > 0);
	expect_errors(text,
	    "2: services[0].http.cookie_name: \"pool gate\" is not a valid token (expected a token "
	        "of 1 to 63 characters A-Z a-z 0-9 ! # $ % & ' * + - . ^ _ ` | ~)",
	    "4: services[1].http.cookie_name: \"vm=1\" is not a valid token (expected a token "
	        "of 1 to 63 characters A-Z a-z 0-9 ! # $ % & ' * + - . ^ _ ` | ~)",
	    "6: services[2].http.cookie_name: \"a;b\" is not a valid token (expected a token "
	        "of 1 to 63 characters A-Z a-z 0-9 ! # $ % & ' * + - . ^ _ ` | ~)",
	    "8: services[3].http.cookie_name: \"vm\\xc3\\xa9\" is not a valid token (expected a token "
	        "of 1 to 63 characters A-Z a-z 0-9 ! # $ % & ' * + - . ^ _ ` | ~)",
	    "10: services[4].http.cookie_name: \"\" is not a valid token (expected a token "
	        "of 1 to 63 characters A-Z a-z 0-9 ! # $ % & ' * + - . ^ _ ` | ~)",
	    "12: services[5].http.cookie_name: \"cccccccccccccccccccccccccccccccccccccccccccccccc"
	        "cccccccccccccccc\" is not a valid token (expected a token "
	        "of 1 to 63 characters A-Z a-z 0-9 ! # $ % & ' * + - . ^ _ ` | ~)",
	    "14: services[6].http.cookie_name: \"(vm)\" is not a valid token (expected a token "
	        "of 1 to 63 characters A-Z a-z 0-9 ! # $ % & ' * + - . ^ _ ` | ~)");
	free(text);

	/* types, and unknown keys inside the new groups */
	expect_errors(HUB_HEAD
	    "  tls = \"on\"; backend_tls = true; backend_ca = 1; by_client_ip = \"no\";\n"
	    "  check = { path = 200; expect = \"200\"; };\n"            /* 3 */
	    "  http = { user_prefix = [ \"/user/\" ]; cookie_name = 5; cookie_ttl = 60; }; },\n"
	    "  { name = \"b\"; listen = [ \"*:8001\" ]; port = 8000; mode = \"http\";\n"
	    "    tls = { cert = \"/c\"; key = \"/k\"; version = \"1.3\"; };\n" /* 6 */
	    "    http = { prefix = \"/user/\"; }; }\n"
	    ");\n"
	    "session_idle = 600;\n",                                     /* 9 */
	    "2: services[0].by_client_ip: \"no\" is a string (expected true or false)",
	    "2: services[0].tls: \"on\" is a string (expected a group { ... })",
	    "2: services[0].backend_tls: true is a boolean (expected one of \"none\", \"verify\", "
	        "\"insecure\")",
	    "2: services[0].backend_ca: 1 is an integer (expected a string of 1 to 4095 characters)",
	    "3: services[0].check.path: 200 is an integer (expected a path of 1 to 255 characters "
	        "starting with \"/\" (printable ASCII, no spaces))",
	    "3: services[0].check.expect: \"200\" is a string (expected an integer from 100 to 599)",
	    "4: services[0].http.user_prefix: [ ... ] is an array (expected a path of 1 to 255 "
	        "characters starting and ending with \"/\" (printable ASCII, no spaces))",
	    "4: services[0].http.cookie_name: 5 is an integer (expected a token of 1 to 63 "
	        "characters A-Z a-z 0-9 ! # $ % & ' * + - . ^ _ ` | ~)",
	    "4: services[0].http.cookie_ttl: 60 is an integer (expected a duration from 1m to 30d "
	        "such as \"2s\")",
	    "6: services[1].tls.version: unknown setting (expected one of cert, key, min_version, ciphers)",
	    "7: services[1].http.prefix: unknown setting (expected one of user_prefix, login_path, "
	        "header_timeout, keepalive_timeout, response_timeout, tunnel_idle_timeout, cookie_name, cookie_ttl)",
	    "9: session_idle: 600 is an integer (expected a duration from 1s to 1d such as \"2s\")");
}

static void test_http_durations(void **state)
{
	(void)state;
	/* each duration just outside its range, on both sides where there is one */
	expect_errors(
	    "session_idle = \"999ms\";\n"
	    HUB_HEAD
	    "  http = { header_timeout = \"99ms\";\n"                   /* 3 */
	    "    keepalive_timeout = \"3601s\";\n"
	    "    tunnel_idle_timeout = \"721h\";\n"                     /* 5 */
	    "    cookie_ttl = \"59s\"; }; },\n"
	    "  { name = \"b\"; listen = [ \"*:8001\" ]; port = 8000; mode = \"http\";\n"
	    "    http = { header_timeout = \"601s\"; cookie_ttl = \"31d\"; }; }\n" /* 8 */
	    ");\n"
	    "affinity = { ttl = \"1h\"; };\n",
	    "1: session_idle: \"999ms\" is out of range (expected 1s to 1d)",
	    "3: services[0].http.header_timeout: \"99ms\" is out of range (expected 100ms to 10m)",
	    "4: services[0].http.keepalive_timeout: \"3601s\" is out of range (expected 0s to 1h)",
	    "5: services[0].http.tunnel_idle_timeout: \"721h\" is out of range (expected 0s to 30d)",
	    "6: services[0].http.cookie_ttl: \"59s\" is out of range (expected 1m to 30d)",
	    "8: services[1].http.header_timeout: \"601s\" is out of range (expected 100ms to 10m)",
	    "8: services[1].http.cookie_ttl: \"31d\" is out of range (expected 1m to 30d)");
	expect_errors("session_idle = \"25h\";\n" SVC_LINE,
	    "1: session_idle: \"25h\" is out of range (expected 1s to 1d)");
	expect_errors(HUB_HEAD "  http = { keepalive_timeout = \"1h1s\"; }; } );\n",
	    "2: services[0].http.keepalive_timeout: \"1h1s\" is not a duration (use 500ms, 2s, 1m)");
}

static void test_by_client_ip_inherited(void **state)
{
	struct pg_config *cfg;

	(void)state;
	/* affinity.by_client_ip true (the default): absent inherits it, false overrides */
	cfg = expect_ok(
	    "services = ( { name = \"a\"; listen = [ \"*:22\" ]; port = 22; },\n"
	    "  { name = \"b\"; listen = [ \"*:23\" ]; port = 22; by_client_ip = false; },\n"
	    "  { name = \"c\"; listen = [ \"*:24\" ]; port = 22; by_client_ip = true; } );\n");
	assert_true(cfg->affinity_by_client_ip);
	assert_true(cfg->services[0].by_client_ip);
	assert_false(cfg->services[1].by_client_ip);
	assert_true(cfg->services[2].by_client_ip);
	cfg_free(cfg);

	/* affinity.by_client_ip false, written after the services: still inherited */
	cfg = expect_ok(
	    "services = ( { name = \"a\"; listen = [ \"*:22\" ]; port = 22; },\n"
	    "  { name = \"b\"; listen = [ \"*:23\" ]; port = 22; by_client_ip = true; },\n"
	    "  { name = \"c\"; listen = [ \"*:24\" ]; port = 22; by_client_ip = false; },\n"
	    "  { name = \"h\"; listen = [ \"*:80\" ]; port = 80; mode = \"http\"; } );\n"
	    "affinity = { by_client_ip = false; };\n");
	assert_false(cfg->affinity_by_client_ip);
	assert_false(cfg->services[0].by_client_ip);
	assert_true(cfg->services[1].by_client_ip);
	assert_false(cfg->services[2].by_client_ip);
	assert_false(cfg->services[3].by_client_ip);
	cfg_free(cfg);
}

static void test_rdp_service(void **state)
{
	struct pg_config *cfg;

	(void)state;
	cfg = expect_ok(
	    "services = (\n"
	    "  { name = \"r\"; listen = [ \"*:3389\" ]; port = 3389; mode = \"rdp\";\n"
	    "    first_packet_timeout = \"2s\"; check = { type = \"rdp\"; }; },\n"
	    "  { name = \"r2\"; listen = [ \"*:3390\" ]; port = 3389; mode = \"rdp\"; }\n"
	    ");\n");
	assert_int_equal(cfg->services[0].mode, SVC_MODE_RDP);
	assert_int_equal(cfg->services[0].first_packet_timeout_ms, 2000);
	assert_int_equal(cfg->services[0].check.type, CHECK_RDP);
	assert_null(cfg->services[0].check.path);
	/* defaults: 10s, a tcp check, the address affinity of tcp */
	assert_int_equal(cfg->services[1].first_packet_timeout_ms, 10000);
	assert_int_equal(cfg->services[1].check.type, CHECK_TCP);
	assert_true(cfg->services[1].by_client_ip);
	cfg_free(cfg);
	expect_errors(
	    "services = (\n"
	    "  { name = \"s\"; listen = [ \"*:22\" ]; port = 22;\n"
	    "    first_packet_timeout = \"2s\"; },\n"
	    "  { name = \"r\"; listen = [ \"*:3389\" ]; port = 3389; mode = \"rdp\";\n"
	    "    first_packet_timeout = \"2m\"; tls = { cert = \"/c\"; key = \"/k\"; }; }\n"
	    ");\n",
	    "3: services[0].first_packet_timeout: only for mode \"rdp\" and tcp services with tls "
	        "(expected mode = \"rdp\" or a tls group, or no first_packet_timeout)",
	    "5: services[1].first_packet_timeout: \"2m\" is out of range (expected 100ms to 1m)",
	    "5: services[1].tls: only for mode \"http\" and \"tcp\" services (expected mode = "
	        "\"http\" or \"tcp\", or no tls)");
}

static void test_user_from_sni(void **state)
{
	struct pg_config *cfg;

	(void)state;
	cfg = expect_ok(
	    "services = (\n"
	    "  { name = \"s\"; listen = [ \"*:443\" ]; port = 22;\n"
	    "    tls = { cert = \"/c\"; key = \"/k\"; };\n"
	    "    user_from = \"sni\"; sni_suffix = \".ssh.pool.example.com\"; },\n"
	    "  { name = \"t\"; listen = [ \"*:22\" ]; port = 22; }\n"
	    ");\n");
	assert_int_equal(cfg->services[0].user_from, USER_FROM_SNI);
	assert_string_equal(cfg->services[0].sni_suffix, ".ssh.pool.example.com");
	assert_true(cfg->services[0].tls.enabled);
	assert_int_equal(cfg->services[1].user_from, USER_FROM_NONE);
	assert_null(cfg->services[1].sni_suffix);
	cfg_free(cfg);
	expect_errors(
	    "services = (\n"
	    "  { name = \"a\"; listen = [ \"*:443\" ]; port = 22;\n"
	    "    user_from = \"sni\"; },\n"                                   /* 3 */
	    "  { name = \"b\"; listen = [ \"*:444\" ]; port = 22;\n"
	    "    tls = { cert = \"/c\"; key = \"/k\"; };\n"
	    "    user_from = \"sni\"; sni_suffix = \"ssh..example\"; },\n"  /* 6 */
	    "  { name = \"c\"; listen = [ \"*:445\" ]; port = 22;\n"
	    "    sni_suffix = \".x\"; }\n"                                    /* 8 */
	    ");\n",
	    "3: services[0].user_from: \"sni\" is only for mode \"tcp\" services with tls "
	        "(expected a tls group, or no user_from)",
	    "3: services[0].user_from: \"sni\" needs sni_suffix (expected e.g. sni_suffix = "
	        "\".ssh.pool.example.com\")",
	    "6: services[1].sni_suffix: \"ssh..example\" is not a dot and a host name (expected "
	        "e.g. \".ssh.pool.example.com\")",
	    "8: services[2].sni_suffix: only for user_from \"sni\" (expected user_from = "
	        "\"sni\", or no sni_suffix)");
	/* TLS connections are made by poolgate's own address. */
	expect_errors(
	    "services = ( { name = \"s\"; listen = [ \"*:443\" ]; port = 22;\n"
	    "  tls = { cert = \"/c\"; key = \"/k\"; }; source = \"client\"; } );\n",
	    "2: services[0].source: \"client\" is not for a service with tls (expected "
	        "\"poolgate\", or no tls)");
	expect_errors(
	    "services = ( { name = \"s\"; listen = [ \"*:443\" ]; port = 22;\n"
	    "  tls = { cert = \"/c\"; key = \"/k\"; }; queue = { }; } );\n",
	    "2: services[0].queue: a tcp service with tls has no wait queue (expected no queue, "
	        "or no tls)");
}

static void test_check_type_by_mode(void **state)
{
	struct pg_config *cfg;
	const struct cfg_service *s;

	(void)state;
	cfg = expect_ok(
	    "services = (\n"
	    "  { name = \"t\"; listen = [ \"*:22\" ]; port = 22; },\n"
	    "  { name = \"t2\"; listen = [ \"*:23\" ]; port = 22; mode = \"tcp\"; check = { rise = 3; }; },\n"
	    "  { name = \"h\"; listen = [ \"*:80\" ]; port = 80; mode = \"http\"; },\n"
	    "  { name = \"h2\"; listen = [ \"*:81\" ]; port = 80; mode = \"http\";\n"
	    "    check = { interval = \"5s\"; expect = 302; }; },\n"
	    "  { name = \"h3\"; listen = [ \"*:82\" ]; port = 80; mode = \"http\"; check = { type = \"tcp\"; }; },\n"
	    "  { name = \"h4\"; listen = [ \"*:83\" ]; port = 80; mode = \"http\"; check = { type = \"none\"; }; }\n"
	    ");\n");
	s = cfg->services;
	/* tcp: the plain default, no path, no status */
	assert_int_equal(s[0].check.type, CHECK_TCP);
	assert_null(s[0].check.path);
	assert_int_equal(s[0].check.expect, 0);
	assert_int_equal(s[1].check.type, CHECK_TCP);
	assert_int_equal(s[1].check.rise, 3);
	assert_null(s[1].check.path);
	/* http: the http check, its path and status defaults */
	assert_int_equal(s[2].check.type, CHECK_HTTP);
	assert_string_equal(s[2].check.path, "/hub/health");
	assert_int_equal(s[2].check.expect, 200);
	assert_int_equal(s[3].check.type, CHECK_HTTP);
	assert_int_equal(s[3].check.interval_ms, 5000);
	assert_string_equal(s[3].check.path, "/hub/health");
	assert_int_equal(s[3].check.expect, 302);
	/* http with another type written: that type, and no path */
	assert_int_equal(s[4].check.type, CHECK_TCP);
	assert_null(s[4].check.path);
	assert_int_equal(s[4].check.expect, 0);
	assert_int_equal(s[5].check.type, CHECK_NONE);
	assert_null(s[5].check.path);
	cfg_free(cfg);
}

/*
 * strdup() that fails on its n-th call from now, to test the failure path
 * of cfg_service_copy(). It replaces the C library's in this program
 * (config.c's calls resolve to it); armed only around those calls.
 */
static int strdup_fail_at = -1;         /* -1: never */

char *strdup(const char *s)
{
	size_t n = strlen(s) + 1;
	char *p;

	if (strdup_fail_at >= 0 && strdup_fail_at-- == 0)
		return NULL;
	if ((p = malloc(n)) != NULL)
		memcpy(p, s, n);
	return p;
}

static void assert_zeroed(const struct cfg_service *s)
{
	static const struct cfg_service zero;

	assert_memory_equal(s, &zero, sizeof(zero));
}

static void test_service_copy(void **state)
{
	const char *path = SRCDIR "/tests/unit/conf/full.conf";
	struct cfg_errors errs = { 0 };
	struct pg_config *cfg = NULL;
	struct cfg_service copy[3], spare;
	size_t strings = 0;

	(void)state;
	assert_int_equal(cfg_load(path, &cfg, &errs), 0);
	assert_int_equal(cfg->nservices, 3);
	memset(copy, 0, sizeof(copy));
	for (size_t i = 0; i < 3; i++) {
		const struct cfg_service *o = &cfg->services[i];

		assert_int_equal(cfg_service_copy(&copy[i], o), 0);
		/* the same settings ... */
		assert_string_equal(copy[i].name, o->name);
		assert_int_equal(copy[i].nlisten, o->nlisten);
		assert_int_equal(copy[i].mode, o->mode);
		assert_int_equal(copy[i].check.type, o->check.type);
		assert_memory_equal(&copy[i].listen[0].ss, &o->listen[0].ss, sizeof(o->listen[0].ss));
		/* ... in memory of its own */
		for (size_t k = 0; k < o->nlisten; k++)
			assert_ptr_not_equal(copy[i].listen[k].text, o->listen[k].text);
		assert_ptr_not_equal(copy[i].http.user_prefix, o->http.user_prefix);
		/* a plain struct, copied with the rest */
		assert_int_equal(copy[i].queue.enabled, o->queue.enabled);
		assert_int_equal(copy[i].queue.timeout_ms, o->queue.timeout_ms);
		assert_int_equal(copy[i].queue.max, o->queue.max);
	}
	assert_true(copy[0].queue.enabled);
	assert_int_equal(copy[0].queue.max, 7);
	assert_false(copy[1].queue.enabled);
	assert_ptr_not_equal(copy[2].tls.cert, cfg->services[2].tls.cert);
	assert_ptr_not_equal(copy[2].check.path, cfg->services[2].check.path);
	/* copy[2] owns listen[0].text, tls.cert and .key, backend_ca, check.path, user_prefix, login_path */
	strings = 7;
	cfg_free(cfg);                  /* the copies live on: ASan sees any use after free */

	assert_string_equal(copy[0].listen[1].text, "[::]:22");
	assert_null(copy[0].tls.cert);
	assert_null(copy[0].check.path);
	assert_string_equal(copy[1].listen[0].text, "10.1.2.3:7000");
	assert_string_equal(copy[2].listen[0].text, "*:443");
	assert_string_equal(copy[2].tls.cert, "/etc/pg/cert.pem");
	assert_string_equal(copy[2].tls.key, "/etc/pg/key.pem");
	assert_string_equal(copy[2].backend_ca, "/etc/pg/vm-ca.pem");
	assert_string_equal(copy[2].check.path, "/api/health?probe=1");
	assert_string_equal(copy[2].http.user_prefix, "/jupyter/u/");
	assert_string_equal(copy[2].http.login_path, "/jupyter/hub/login");
	assert_string_equal(copy[2].http.cookie_name, "pg-vm.1");

	/* a copy of a copy; a failure at each allocation leaves nothing to free (ASan: no leak) */
	for (int fail = 0; fail < (int)strings; fail++) {
		memset(&spare, 0x5a, sizeof(spare));
		strdup_fail_at = fail;
		assert_int_equal(cfg_service_copy(&spare, &copy[2]), -1);
		strdup_fail_at = -1;
		assert_zeroed(&spare);
	}
	strdup_fail_at = (int)strings;  /* one more than needed: not reached */
	assert_int_equal(cfg_service_copy(&spare, &copy[2]), 0);
	assert_int_equal(strdup_fail_at, 0);
	strdup_fail_at = -1;
	assert_string_equal(spare.tls.key, "/etc/pg/key.pem");
	cfg_service_clear(&spare);
	assert_zeroed(&spare);

	for (size_t i = 0; i < 3; i++) {
		cfg_service_clear(&copy[i]);
		assert_zeroed(&copy[i]);
		cfg_service_clear(&copy[i]);    /* twice is harmless */
	}
	cfg_service_clear(NULL);
	cfg_errors_free(&errs);
}

/* ------------------------------------------------------------------ */
/* cfg_parse_addr                                                     */
/* ------------------------------------------------------------------ */

static void test_parse_addr_good(void **state)
{
	struct cfg_addr a = { .text = NULL };

	(void)state;
	assert_int_equal(cfg_parse_addr("127.0.0.1:22", true, &a), 0);
	assert_v4(&a, "127.0.0.1", 22);
	assert_int_equal(cfg_parse_addr("*:8000", true, &a), 0);
	assert_v4(&a, "0.0.0.0", 8000);
	assert_int_equal(cfg_parse_addr("0.0.0.0:65535", true, &a), 0);
	assert_v4(&a, "0.0.0.0", 65535);
	assert_int_equal(cfg_parse_addr("[::1]:22", true, &a), 0);
	assert_v6(&a, "::1", 22);
	assert_int_equal(cfg_parse_addr("[::]:1", true, &a), 0);
	assert_v6(&a, "::", 1);
	assert_int_equal(cfg_parse_addr("[::ffff:10.0.0.1]:22", true, &a), 0);
	assert_v6(&a, "::ffff:10.0.0.1", 22);
	assert_int_equal(cfg_parse_addr("10.0.0.4", false, &a), 0);
	assert_v4(&a, "10.0.0.4", 0);
	assert_int_equal(cfg_parse_addr("fd00::4", false, &a), 0);
	assert_v6(&a, "fd00::4", 0);
	assert_int_equal(cfg_parse_addr("[fd00::4]", false, &a), 0);
	assert_v6(&a, "fd00::4", 0);
	assert_null(a.text);            /* never touched */
}

static void test_parse_addr_bad(void **state)
{
	static const char *const with_port[] = {
		"", ":", ":22", "*", "*:", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0",
		"127.0.0.1:65536", "127.0.0.1:99999", "127.0.0.1:022222", "127.0.0.1:22a",
		"127.0.0.1:+22", "127.0.0.1:-1", "127.0.0.1: 22", " 127.0.0.1:22",
		"127.0.0.1:22 ", "127.1:22", "256.0.0.1:22", "1.2.3.4.5:22", "localhost:22",
		"example.com:22", "::1:22", "::1", "[::1]", "[::1]:", "[::1]x22", "[::1]:22x",
		"[::1:22", "::1]:22", "[]:22", "[*]:22", "[127.0.0.1]:22", "[fe80::1%eth0]:22",
		"[localhost]:22", "0x7f.0.0.1:22", "127.0.0.1:0x16",
		"[0000:0000:0000:0000:0000:0000:0000:0000:0000]:22",
	};
	static const char *const without_port[] = {
		"", "*", "10.0.0.4:22", "[10.0.0.4]", "[fd00::4]:22", "[fd00::4", "fd00::4]",
		"vm1", "vm1.example.com", "10.0.0", "10.0.0.256", " 10.0.0.4", "10.0.0.4 ",
		"fe80::1%eth0", "[]", "fd00::4::5",
	};
	struct cfg_addr a;

	(void)state;
	memset(&a, 0x5a, sizeof(a));
	for (size_t i = 0; i < sizeof(with_port) / sizeof(with_port[0]); i++) {
		if (cfg_parse_addr(with_port[i], true, &a) != -1)
			print_message("accepted \"%s\"\n", with_port[i]);
		assert_int_equal(cfg_parse_addr(with_port[i], true, &a), -1);
	}
	for (size_t i = 0; i < sizeof(without_port) / sizeof(without_port[0]); i++) {
		if (cfg_parse_addr(without_port[i], false, &a) != -1)
			print_message("accepted \"%s\"\n", without_port[i]);
		assert_int_equal(cfg_parse_addr(without_port[i], false, &a), -1);
	}
	assert_int_equal(cfg_parse_addr(NULL, true, &a), -1);
	/* a failure leaves *out alone */
	for (size_t i = 0; i < sizeof(a); i++)
		assert_int_equal(((unsigned char *)&a)[i], 0x5a);
}

/* ------------------------------------------------------------------ */
/* Summary and names                                                  */
/* ------------------------------------------------------------------ */

static void test_summary(void **state)
{
	const char *path = SRCDIR "/tests/unit/conf/full.conf";
	struct cfg_errors errs = { 0 };
	struct pg_config *cfg = NULL;
	char buf[512];

	(void)state;
	assert_int_equal(cfg_load(path, &cfg, &errs), 0);
	cfg_summary(cfg, buf, sizeof(buf));
	assert_string_equal(buf,
	    "3 services: ssh (tcp *:22 [::]:22 -> port 2222, check ssh every 5s, queue 7 for 20s),"
	    " raw-tcp_1.x (tcp 10.1.2.3:7000 -> port 7001, no check),"
	    " hub (http *:443 -> port 8443, check http every 2s, queue 100000 for 1h);"
	    " admin [::1]:9200; agent port 9101 every 10s; hooks /opt/pool gate/hook;"
	    " discovery file /srv/poolgate/vms dns vms.pool.example. every 1m;"
	    " 3 backends: vm1 10.0.0.4, vm2 [fd00::5], vm3 fd00::6");

	/* cut short: still terminated, and marked */
	memset(buf, 'X', sizeof(buf));
	cfg_summary(cfg, buf, 24);
	assert_int_equal(strlen(buf), 23);
	assert_string_equal(buf, "3 services: ssh (tcp...");
	memset(buf, 'X', sizeof(buf));
	cfg_summary(cfg, buf, 1);
	assert_string_equal(buf, "");
	buf[0] = 'X';
	cfg_summary(cfg, buf, 0);
	assert_int_equal(buf[0], 'X');
	cfg_free(cfg);

	cfg = expect_ok(SVC_LINE "backends = ( { name = \"only\"; address = \"10.0.0.9\"; } );\n");
	cfg_summary(cfg, buf, sizeof(buf));
	assert_string_equal(buf, "1 service: ssh (tcp *:22 -> port 22, check tcp every 2s);"
	    " admin 127.0.0.1:9100; 1 backend: only 10.0.0.9");
	cfg_free(cfg);

	cfg = expect_ok(SVC_LINE);
	cfg_summary(cfg, buf, sizeof(buf));
	assert_string_equal(buf, "1 service: ssh (tcp *:22 -> port 22, check tcp every 2s);"
	    " admin 127.0.0.1:9100; 0 backends");
	cfg_free(cfg);

	cfg_summary(NULL, buf, sizeof(buf));
	assert_string_equal(buf, "no configuration");
	cfg_errors_free(&errs);
}

static void test_enum_names(void **state)
{
	(void)state;
	assert_string_equal(cfg_mode_name(SVC_MODE_TCP), "tcp");
	assert_string_equal(cfg_mode_name(SVC_MODE_HTTP), "http");
	assert_string_equal(cfg_mode_name((enum svc_mode)42), "?");
	assert_string_equal(cfg_check_name(CHECK_NONE), "none");
	assert_string_equal(cfg_check_name(CHECK_TCP), "tcp");
	assert_string_equal(cfg_check_name(CHECK_SSH), "ssh");
	assert_string_equal(cfg_check_name(CHECK_HTTP), "http");
	assert_string_equal(cfg_check_name((enum check_type)42), "?");
	assert_string_equal(cfg_backend_tls_name(BTLS_NONE), "none");
	assert_string_equal(cfg_backend_tls_name(BTLS_VERIFY), "verify");
	assert_string_equal(cfg_backend_tls_name(BTLS_INSECURE), "insecure");
	assert_string_equal(cfg_backend_tls_name((enum backend_tls)42), "?");
}

/* ------------------------------------------------------------------ */
/* Agent, hooks, discovery, queue                                     */
/* ------------------------------------------------------------------ */

static void test_groups_defaults(void **state)
{
	struct pg_config *cfg;
	const struct cfg_service *s;

	(void)state;
	/* no group: every feature off, the numbers at their defaults */
	cfg = expect_ok(SVC_LINE);
	assert_false(cfg->agent.enabled);
	assert_int_equal(cfg->agent.port, 0);
	assert_int_equal(cfg->agent.interval_ms, 5 * 1000);
	assert_int_equal(cfg->agent.timeout_ms, 1000);
	assert_false(cfg->hooks.enabled);
	assert_null(cfg->hooks.command);
	assert_int_equal(cfg->hooks.timeout_ms, 30 * 1000);
	assert_int_equal(cfg->hooks.idle_grace_ms, 10 * 60 * 1000);
	assert_int_equal(cfg->hooks.headroom, 2);
	assert_false(cfg->discovery.enabled);
	assert_null(cfg->discovery.file);
	assert_null(cfg->discovery.dns);
	assert_int_equal(cfg->discovery.refresh_ms, 10 * 1000);
	assert_int_equal(cfg->discovery.weight, 1);
	assert_int_equal(cfg->discovery.max_sessions, 0);
	s = &cfg->services[0];
	assert_false(s->queue.enabled);
	assert_int_equal(s->queue.timeout_ms, 3 * 60 * 1000);
	assert_int_equal(s->queue.max, 200);
	cfg_free(cfg);

	/* each group with only what it requires: on, the rest the default */
	cfg = expect_ok(
	    "services = ( { name = \"ssh\"; listen = [ \"*:22\" ]; port = 22; queue = { }; },\n"
	    "  { name = \"hub\"; listen = [ \"*:80\" ]; port = 80; mode = \"http\";\n"
	    "    queue = { max = 1; }; } );\n"
	    "agent = { port = 9101; };\n"
	    "hooks = { command = \"/usr/local/bin/poolgate-hook\"; };\n"
	    "discovery = { dns = \"pool.example.internal\"; };\n");
	assert_true(cfg->agent.enabled);
	assert_int_equal(cfg->agent.port, 9101);
	assert_int_equal(cfg->agent.interval_ms, 5 * 1000);
	assert_int_equal(cfg->agent.timeout_ms, 1000);
	assert_true(cfg->hooks.enabled);
	assert_string_equal(cfg->hooks.command, "/usr/local/bin/poolgate-hook");
	assert_int_equal(cfg->hooks.timeout_ms, 30 * 1000);
	assert_int_equal(cfg->hooks.idle_grace_ms, 10 * 60 * 1000);
	assert_int_equal(cfg->hooks.headroom, 2);
	assert_true(cfg->discovery.enabled);
	assert_null(cfg->discovery.file);
	assert_string_equal(cfg->discovery.dns, "pool.example.internal");
	assert_int_equal(cfg->discovery.refresh_ms, 10 * 1000);
	assert_int_equal(cfg->discovery.weight, 1);
	assert_int_equal(cfg->discovery.max_sessions, 0);
	s = &cfg->services[0];
	assert_true(s->queue.enabled);
	assert_int_equal(s->queue.timeout_ms, 3 * 60 * 1000);
	assert_int_equal(s->queue.max, 200);
	/* a queue on a mode http service is valid (it answers 503 meanwhile) */
	s = &cfg->services[1];
	assert_int_equal(s->mode, SVC_MODE_HTTP);
	assert_true(s->queue.enabled);
	assert_int_equal(s->queue.timeout_ms, 3 * 60 * 1000);
	assert_int_equal(s->queue.max, 1);
	cfg_free(cfg);

	/* discovery by file only */
	cfg = expect_ok(SVC_LINE "discovery = { file = \"/etc/poolgate/backends\"; };\n");
	assert_true(cfg->discovery.enabled);
	assert_string_equal(cfg->discovery.file, "/etc/poolgate/backends");
	assert_null(cfg->discovery.dns);
	cfg_free(cfg);
}

static void test_groups_bounds_accepted(void **state)
{
	struct pg_config *cfg;
	char *text = NULL, cmd[4096];

	(void)state;
	/* the smallest values ... */
	cfg = expect_ok(
	    "services = ( { name = \"a\"; listen = [ \"*:1\" ]; port = 1;\n"
	    "  queue = { timeout = \"1s\"; max = 1; }; } );\n"
	    "agent = { port = 1; interval = \"100ms\"; timeout = \"10ms\"; };\n"
	    "hooks = { command = \"/\"; timeout = \"1s\"; idle_grace = \"0s\"; headroom = 0; };\n"
	    "discovery = { file = \"/\"; dns = \"a\"; refresh = \"1s\"; weight = 1; max_sessions = 0; };\n");
	assert_int_equal(cfg->services[0].queue.timeout_ms, 1000);
	assert_int_equal(cfg->services[0].queue.max, 1);
	assert_int_equal(cfg->agent.port, 1);
	assert_int_equal(cfg->agent.interval_ms, 100);
	assert_int_equal(cfg->agent.timeout_ms, 10);
	assert_string_equal(cfg->hooks.command, "/");
	assert_int_equal(cfg->hooks.timeout_ms, 1000);
	assert_int_equal(cfg->hooks.idle_grace_ms, 0);
	assert_int_equal(cfg->hooks.headroom, 0);
	assert_string_equal(cfg->discovery.file, "/");
	assert_string_equal(cfg->discovery.dns, "a");
	assert_int_equal(cfg->discovery.refresh_ms, 1000);
	assert_int_equal(cfg->discovery.weight, 1);
	assert_int_equal(cfg->discovery.max_sessions, 0);
	cfg_free(cfg);

	/* ... and the largest: a 4095-byte command; agent timeout may equal the interval */
	memset(cmd, 'c', 4095);
	cmd[0] = '/';
	cmd[4095] = '\0';
	assert_true(asprintf(&text,
	    "services = ( { name = \"a\"; listen = [ \"*:1\" ]; port = 1;\n"
	    "  queue = { timeout = \"1h\"; max = 100000; }; } );\n"
	    "agent = { port = 65535; interval = \"1m\"; timeout = \"1m\"; };\n"
	    "hooks = { command = \"%s\"; timeout = \"1h\"; idle_grace = \"1d\"; headroom = 100000; };\n"
	    "discovery = { dns = \"b\"; refresh = \"1h\"; weight = 1000; max_sessions = 100000; };\n",
	    cmd) > 0);
	cfg = expect_ok(text);
	free(text);
	assert_int_equal(cfg->services[0].queue.timeout_ms, 3600 * 1000);
	assert_int_equal(cfg->services[0].queue.max, 100000);
	assert_int_equal(cfg->agent.port, 65535);
	assert_int_equal(cfg->agent.interval_ms, 60 * 1000);
	assert_int_equal(cfg->agent.timeout_ms, 60 * 1000);
	assert_string_equal(cfg->hooks.command, cmd);
	assert_int_equal(cfg->hooks.timeout_ms, 3600 * 1000);
	assert_int_equal(cfg->hooks.idle_grace_ms, 24 * 3600 * 1000);
	assert_int_equal(cfg->hooks.headroom, 100000);
	assert_int_equal(cfg->discovery.refresh_ms, 3600 * 1000);
	assert_int_equal(cfg->discovery.weight, 1000);
	assert_int_equal(cfg->discovery.max_sessions, 100000);
	cfg_free(cfg);

	/* the longest agent interval, with the default timeout */
	cfg = expect_ok(SVC_LINE "agent = { port = 9101; interval = \"1h\"; };\n");
	assert_int_equal(cfg->agent.interval_ms, 3600 * 1000);
	cfg_free(cfg);

	/* paths: spaces and UTF-8 are valid in a file name */
	cfg = expect_ok(SVC_LINE
	    "hooks = { command = \"/opt/pool gate/h\xc3\xa9\"; };\n"
	    "discovery = { file = \"/srv/my vms.txt\"; };\n");
	assert_string_equal(cfg->hooks.command, "/opt/pool gate/h\xc3\xa9");
	assert_string_equal(cfg->discovery.file, "/srv/my vms.txt");
	cfg_free(cfg);
}

static void test_groups_missing_required(void **state)
{
	(void)state;
	/* the line where the group starts */
	expect_errors(SVC_LINE
	    "agent = {\n"                                               /* 2 */
	    "  interval = \"5s\";\n"
	    "};\n"
	    "hooks = { timeout = \"30s\"; };\n"                         /* 5 */
	    "discovery = { refresh = \"10s\"; weight = 2; };\n",
	    "2: agent.port: missing required setting (expected an integer from 1 to 65535)",
	    "5: hooks.command: missing required setting (expected an absolute path of 1 to 4095 "
	        "characters starting with \"/\" (no control characters))",
	    "6: discovery: neither file nor dns is given (expected file, dns or both)");
	expect_errors(SVC_LINE "agent = { };\nhooks = { };\n\ndiscovery = {\n};\n",
	    "2: agent.port: missing required setting (expected an integer from 1 to 65535)",
	    "3: hooks.command: missing required setting (expected an absolute path of 1 to 4095 "
	        "characters starting with \"/\" (no control characters))",
	    "5: discovery: neither file nor dns is given (expected file, dns or both)");

	/* a file or dns that is given but wrong is reported once, not as missing too */
	expect_errors(SVC_LINE "discovery = { file = \"backends\"; };\n",
	    "2: discovery.file: \"backends\" is not an absolute path (expected an absolute path of "
	        "1 to 4095 characters starting with \"/\" (no control characters))");
	expect_errors(SVC_LINE "discovery = { dns = 5; };\n",
	    "2: discovery.dns: 5 is an integer (expected a host name of 1 to 253 characters: labels "
	        "of A-Z a-z 0-9 - joined by dots, such as \"pool.example.internal\")");
}

static void test_agent_timeout_above_interval(void **state)
{
	struct pg_config *cfg;

	(void)state;
	expect_errors(SVC_LINE
	    "agent = { port = 9101; interval = \"1s\";\n"
	    "  timeout = \"1001ms\"; };\n",                             /* 3 */
	    "3: agent.timeout: 1001ms is longer than the interval 1s (expected timeout <= interval)");
	/* the timeout is the default 1s: point at the interval */
	expect_errors(SVC_LINE
	    "agent = {\n"
	    "  port = 9101;\n"
	    "  interval = \"500ms\"; };\n",                             /* 4 */
	    "4: agent.timeout: 1s (default) is longer than the interval 500ms "
	        "(expected timeout <= interval)");
	/* no second error when the interval itself is already wrong */
	expect_errors(SVC_LINE "agent = { port = 9101; interval = \"5\"; timeout = \"1m\"; };\n",
	    "2: agent.interval: \"5\" is not a duration (use 500ms, 2s, 1m)");
	/* equal is fine */
	cfg = expect_ok(SVC_LINE "agent = { port = 9101; interval = \"2s\"; timeout = \"2000ms\"; };\n");
	assert_int_equal(cfg->agent.timeout_ms, 2000);
	cfg_free(cfg);
}

static void test_groups_out_of_range(void **state)
{
	(void)state;
	/* each value just outside its range, on both sides where there is one */
	expect_errors(
	    "services = ( { name = \"a\"; listen = [ \"*:1\" ]; port = 1;\n"
	    "  queue = { timeout = \"999ms\"; max = 0; }; },\n"         /* 2 */
	    "  { name = \"b\"; listen = [ \"*:2\" ]; port = 1; mode = \"http\";\n"
	    "    queue = { timeout = \"61m\"; max = 100001; }; } );\n"  /* 4 */
	    "agent = { port = 0; interval = \"99ms\"; timeout = \"9ms\"; };\n"
	    "hooks = { command = \"/h\"; timeout = \"999ms\"; idle_grace = \"25h\"; headroom = -1; };\n"
	    "discovery = { dns = \"d\"; refresh = \"999ms\"; weight = 0; max_sessions = -1; };\n",
	    "2: services[0].queue.timeout: \"999ms\" is out of range (expected 1s to 1h)",
	    "2: services[0].queue.max: 0 is out of range (expected 1 to 100000)",
	    "4: services[1].queue.timeout: \"61m\" is out of range (expected 1s to 1h)",
	    "4: services[1].queue.max: 100001 is out of range (expected 1 to 100000)",
	    "5: agent.port: 0 is out of range (expected 1 to 65535)",
	    "5: agent.interval: \"99ms\" is out of range (expected 100ms to 1h)",
	    "5: agent.timeout: \"9ms\" is out of range (expected 10ms to 1m)",
	    "6: hooks.timeout: \"999ms\" is out of range (expected 1s to 1h)",
	    "6: hooks.idle_grace: \"25h\" is out of range (expected 0s to 1d)",
	    "6: hooks.headroom: -1 is out of range (expected 0 to 100000)",
	    "7: discovery.refresh: \"999ms\" is out of range (expected 1s to 1h)",
	    "7: discovery.weight: 0 is out of range (expected 1 to 1000)",
	    "7: discovery.max_sessions: -1 is out of range (expected 0 to 100000)");
	expect_errors(SVC_LINE
	    "agent = { port = 65536; interval = \"61m\"; timeout = \"61s\"; };\n"
	    "hooks = { command = \"/h\"; timeout = \"3601s\"; headroom = 100001; };\n"
	    "discovery = { dns = \"d\"; refresh = \"2h\"; weight = 1001; max_sessions = 100001; };\n",
	    "2: agent.port: 65536 is out of range (expected 1 to 65535)",
	    "2: agent.interval: \"61m\" is out of range (expected 100ms to 1h)",
	    "2: agent.timeout: \"61s\" is out of range (expected 10ms to 1m)",
	    "3: hooks.timeout: \"3601s\" is out of range (expected 1s to 1h)",
	    "3: hooks.headroom: 100001 is out of range (expected 0 to 100000)",
	    "4: discovery.refresh: \"2h\" is out of range (expected 1s to 1h)",
	    "4: discovery.weight: 1001 is out of range (expected 1 to 1000)",
	    "4: discovery.max_sessions: 100001 is out of range (expected 0 to 100000)");
}

#define ABS_PATH_EXP "(expected an absolute path of 1 to 4095 characters starting with " \
	"\"/\" (no control characters))"

static void test_hooks_command(void **state)
{
	char *text = NULL, cmd[4097];

	(void)state;
	expect_errors(SVC_LINE "hooks = { command = \"poolgate-hook\"; };\n",
	    "2: hooks.command: \"poolgate-hook\" is not an absolute path " ABS_PATH_EXP);
	expect_errors(SVC_LINE "hooks = { command = \"./bin/hook\"; };\n",
	    "2: hooks.command: \"./bin/hook\" is not an absolute path " ABS_PATH_EXP);
	expect_errors(SVC_LINE "hooks = { command = \"~/hook\"; };\n",
	    "2: hooks.command: \"~/hook\" is not an absolute path " ABS_PATH_EXP);
	expect_errors(SVC_LINE "hooks = { command = \"\"; };\n",
	    "2: hooks.command: \"\" is not an absolute path " ABS_PATH_EXP);
	expect_errors(SVC_LINE "hooks = { command = \"/usr/bin/hook\\n\"; };\n",
	    "2: hooks.command: \"/usr/bin/hook\\x0a\" is not an absolute path " ABS_PATH_EXP);
	expect_errors(SVC_LINE "hooks = { command = \"/usr/bin/h\\tk\"; };\n",
	    "2: hooks.command: \"/usr/bin/h\\x09k\" is not an absolute path " ABS_PATH_EXP);
	expect_errors(SVC_LINE "hooks = { command = \"/usr/bin/hook\x7f\"; };\n",
	    "2: hooks.command: \"/usr/bin/hook\\x7f\" is not an absolute path " ABS_PATH_EXP);
	expect_errors(SVC_LINE "hooks = { command = [ \"/usr/bin/hook\", \"up\" ]; };\n",
	    "2: hooks.command: [ ... ] is an array " ABS_PATH_EXP);
	/* 4096 bytes is one too many */
	memset(cmd, 'c', 4096);
	cmd[0] = '/';
	cmd[4096] = '\0';
	assert_true(asprintf(&text, SVC_LINE "hooks = { command = \"%s\"; };\n", cmd) > 0);
	expect_errors(text, "2: hooks.command: 4096 characters is too long " ABS_PATH_EXP);
	free(text);

	/* discovery.file follows the same rules */
	expect_errors(SVC_LINE "discovery = { file = \"etc/poolgate/backends\"; dns = \"pool\"; };\n",
	    "2: discovery.file: \"etc/poolgate/backends\" is not an absolute path " ABS_PATH_EXP);
}

#define DNS_EXP "(expected a host name of 1 to 253 characters: labels of A-Z a-z 0-9 - " \
	"joined by dots, such as \"pool.example.internal\")"

static void test_discovery_dns(void **state)
{
	static const char *const good[] = {
		"localhost", "pool", "pool.example.internal", "pool.example.internal.",
		"POOL.Example.Internal", "vm-pool.example", "1pool.example", "123.example.com",
		"a.b", "xn--bcher-kva.example",
	};
	static const char *const bad[] = {
		"pool example", "pool_1.example", "_vms._tcp.example", "-pool.example",
		"pool-.example", "pool..example", ".pool.example", "pool.example..", ".",
		"10.0.0.4", "pool.123", "fd00::4", "[fd00::4]", "pool.example:53",
		"b\xc3\xbc\x63her.example", "pool/vms", "*.example", "pool.exa mple",
	};
	struct pg_config *cfg;
	char *text = NULL, label63[64], label64[65], name[300];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_true(asprintf(&text, SVC_LINE "discovery = { dns = \"%s\"; };\n", good[i]) > 0);
		cfg = expect_ok(text);
		assert_string_equal(cfg->discovery.dns, good[i]);      /* as written */
		cfg_free(cfg);
		free(text);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char want[512], q[128];

		assert_true(asprintf(&text, SVC_LINE "discovery = { dns = \"%s\"; };\n", bad[i]) > 0);
		/* the value is quoted back, its non-ASCII bytes escaped */
		snprintf(q, sizeof(q), "%s", strcmp(bad[i], "b\xc3\xbc" "cher.example") == 0 ?
		    "b\\xc3\\xbccher.example" : bad[i]);
		snprintf(want, sizeof(want), "2: discovery.dns: \"%s\" is not a valid host name "
		    DNS_EXP, q);
		expect_errors(text, want);
		free(text);
	}
	expect_errors(SVC_LINE "discovery = { dns = \"\"; };\n",
	    "2: discovery.dns: \"\" is not a valid host name " DNS_EXP);

	/* a label of 63 characters is the longest; a name of 253 (and a final dot) */
	memset(label63, 'l', 63);
	label63[63] = '\0';
	memset(label64, 'l', 64);
	label64[64] = '\0';
	assert_true(asprintf(&text, SVC_LINE "discovery = { dns = \"%s.example\"; };\n", label63) > 0);
	cfg = expect_ok(text);
	free(text);
	cfg_free(cfg);
	assert_true(asprintf(&text, SVC_LINE "discovery = { dns = \"%s.example\"; };\n", label64) > 0);
	{
		char want[512];

		snprintf(want, sizeof(want), "2: discovery.dns: \"%.64s...\" is not a valid host name "
		    DNS_EXP, label64);
		expect_errors(text, want);
	}
	free(text);
	/* 4 labels of 63 and one of 1, joined: 4 * 64 + 1 = 257; cut to 253 */
	snprintf(name, sizeof(name), "%s.%s.%s.%s", label63, label63, label63, label63);
	name[253] = '\0';           /* ends in "l": 253 characters, a valid name */
	assert_int_equal(strlen(name), 253);
	assert_true(asprintf(&text, SVC_LINE "discovery = { dns = \"%s.\"; };\n", name) > 0);
	cfg = expect_ok(text);
	free(text);
	assert_int_equal(strlen(cfg->discovery.dns), 254);
	cfg_free(cfg);
	name[252] = 'x';
	name[253] = 'y';
	name[254] = '\0';
	assert_true(asprintf(&text, SVC_LINE "discovery = { dns = \"%s\"; };\n", name) > 0);
	expect_errors(text, "2: discovery.dns: 254 characters is too long " DNS_EXP);
	free(text);
}

static void test_groups_types_and_unknown_keys(void **state)
{
	(void)state;
	expect_errors(
	    "services = ( { name = \"a\"; listen = [ \"*:1\" ]; port = 1;\n"
	    "  queue = { timeout = \"3m\"; size = 10; }; },\n"           /* 2 */
	    "  { name = \"b\"; listen = [ \"*:2\" ]; port = 1; queue = true; },\n"
	    "  { name = \"c\"; listen = [ \"*:3\" ]; port = 1; queue = { max = \"200\"; timeout = 180; }; } );\n"
	    "agent = { port = 9101; intervall = \"5s\"; };\n"           /* 5 */
	    "hooks = { command = \"/h\"; grace = \"10m\"; headroom = 2.0; };\n"
	    "discovery = { dns = \"pool\"; srv = \"_vm._tcp.pool\"; refresh = 10; };\n" /* 7 */
	    "queue = { max = 1; };\n",
	    "2: services[0].queue.size: unknown setting (expected one of timeout, max)",
	    "3: services[1].queue: true is a boolean (expected a group { ... })",
	    "4: services[2].queue.timeout: 180 is an integer (expected a duration from 1s to 1h "
	        "such as \"2s\")",
	    "4: services[2].queue.max: \"200\" is a string (expected an integer from 1 to 100000)",
	    "5: agent.intervall: unknown setting (expected one of port, interval, timeout, report)",
	    "6: hooks.grace: unknown setting (expected one of command, timeout, idle_grace, headroom)",
	    "6: hooks.headroom: 2.0 is a floating-point number (expected an integer from 0 to 100000)",
	    "7: discovery.srv: unknown setting (expected one of file, dns, refresh, weight, "
	        "max_sessions)",
	    "7: discovery.refresh: 10 is an integer (expected a duration from 1s to 1h such as \"2s\")",
	    "8: queue: unknown setting (expected one of state_dir, shutdown_grace, user, allow_root, "
	        "workers, log, admin, limits, affinity, session_idle, services, backends, discovery, agent, "
	        "ssh_host_ca, ssh_host_principal, hooks, cluster, freebind)");

	/* a group written as something else: reported, and the feature stays off */
	expect_errors(SVC_LINE "agent = 9101;\nhooks = \"/h\";\ndiscovery = ( );\n",
	    "2: agent: 9101 is an integer (expected a group { ... })",
	    "3: hooks: \"/h\" is a string (expected a group { ... })",
	    "4: discovery: ( ... ) is a list (expected a group { ... })");
}

static void test_groups_summary(void **state)
{
	struct pg_config *cfg;
	char buf[512];

	(void)state;
	cfg = expect_ok(
	    "services = ( { name = \"ssh\"; listen = [ \"*:22\" ]; port = 22; queue = { }; } );\n"
	    "agent = { port = 9101; };\n"
	    "hooks = { command = \"/usr/local/bin/poolgate-hook\"; };\n"
	    "discovery = { dns = \"pool.example.internal\"; };\n");
	cfg_summary(cfg, buf, sizeof(buf));
	assert_string_equal(buf, "1 service: ssh (tcp *:22 -> port 22, check tcp every 2s,"
	    " queue 200 for 3m); admin 127.0.0.1:9100; agent port 9101 every 5s;"
	    " hooks /usr/local/bin/poolgate-hook; discovery dns pool.example.internal every 10s;"
	    " 0 backends");
	cfg_free(cfg);

	cfg = expect_ok(SVC_LINE "discovery = { file = \"/etc/poolgate/backends\"; refresh = \"1m\"; };\n");
	cfg_summary(cfg, buf, sizeof(buf));
	assert_string_equal(buf, "1 service: ssh (tcp *:22 -> port 22, check tcp every 2s);"
	    " admin 127.0.0.1:9100; discovery file /etc/poolgate/backends every 1m; 0 backends");
	cfg_free(cfg);
}

/* ------------------------------------------------------------------ */
/* Process: user, allow_root, log; more limits                        */
/* ------------------------------------------------------------------ */

/* The daemon hands log.level to pg_log_set_level() as it is. */
_Static_assert(CFG_LOG_ERROR == (int)PG_LOG_ERR, "log.level error is not PG_LOG_ERR");
_Static_assert(CFG_LOG_WARN == (int)PG_LOG_WARN, "log.level warn is not PG_LOG_WARN");
_Static_assert(CFG_LOG_INFO == (int)PG_LOG_INFO, "log.level info is not PG_LOG_INFO");
_Static_assert(CFG_LOG_DEBUG == (int)PG_LOG_DEBUG, "log.level debug is not PG_LOG_DEBUG");

static void test_log_defaults(void **state)
{
	static const char *const texts[] = {
		SVC_LINE,                               /* no group */
		SVC_LINE "log = { };\n",                /* an empty one */
		SVC_LINE "log = {\n};\n",
	};
	struct pg_config *cfg;

	(void)state;
	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		cfg = expect_ok(texts[i]);
		assert_int_equal(cfg->log.target, CFG_LOG_STDERR);
		assert_int_equal(cfg->log.level, PG_LOG_INFO);
		assert_int_equal(cfg->log.format, CFG_LOG_TEXT);
		assert_int_equal(cfg->log.facility, LOG_DAEMON);
		assert_null(cfg->user);
		assert_false(cfg->allow_root);
		cfg_free(cfg);
	}

	/* one setting given, the others keep their defaults */
	cfg = expect_ok(SVC_LINE "log = { level = \"warn\"; };\n");
	assert_int_equal(cfg->log.target, CFG_LOG_STDERR);
	assert_int_equal(cfg->log.level, PG_LOG_WARN);
	assert_int_equal(cfg->log.format, CFG_LOG_TEXT);
	assert_int_equal(cfg->log.facility, LOG_DAEMON);
	cfg_free(cfg);
	cfg = expect_ok(SVC_LINE "log = { target = \"syslog\"; };\n");
	assert_int_equal(cfg->log.target, CFG_LOG_SYSLOG);
	assert_int_equal(cfg->log.level, PG_LOG_INFO);
	assert_int_equal(cfg->log.facility, LOG_DAEMON);
	cfg_free(cfg);
}

static void test_log_values(void **state)
{
	static const struct {
		const char *key, *value;
		size_t      off;
		int         want;
	} cases[] = {
		{ "target", "stderr", offsetof(struct cfg_log, target), CFG_LOG_STDERR },
		{ "target", "syslog", offsetof(struct cfg_log, target), CFG_LOG_SYSLOG },
		{ "level", "error", offsetof(struct cfg_log, level), PG_LOG_ERR },
		{ "level", "warn", offsetof(struct cfg_log, level), PG_LOG_WARN },
		{ "level", "info", offsetof(struct cfg_log, level), PG_LOG_INFO },
		{ "level", "debug", offsetof(struct cfg_log, level), PG_LOG_DEBUG },
		{ "format", "text", offsetof(struct cfg_log, format), CFG_LOG_TEXT },
		{ "format", "json", offsetof(struct cfg_log, format), CFG_LOG_JSON },
		{ "syslog_facility", "daemon", offsetof(struct cfg_log, facility), LOG_DAEMON },
		{ "syslog_facility", "local0", offsetof(struct cfg_log, facility), LOG_LOCAL0 },
		{ "syslog_facility", "local1", offsetof(struct cfg_log, facility), LOG_LOCAL1 },
		{ "syslog_facility", "local2", offsetof(struct cfg_log, facility), LOG_LOCAL2 },
		{ "syslog_facility", "local3", offsetof(struct cfg_log, facility), LOG_LOCAL3 },
		{ "syslog_facility", "local4", offsetof(struct cfg_log, facility), LOG_LOCAL4 },
		{ "syslog_facility", "local5", offsetof(struct cfg_log, facility), LOG_LOCAL5 },
		{ "syslog_facility", "local6", offsetof(struct cfg_log, facility), LOG_LOCAL6 },
		{ "syslog_facility", "local7", offsetof(struct cfg_log, facility), LOG_LOCAL7 },
		{ "syslog_facility", "auth", offsetof(struct cfg_log, facility), LOG_AUTH },
		{ "syslog_facility", "user", offsetof(struct cfg_log, facility), LOG_USER },
	};
	struct pg_config *cfg;
	char text[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got;

		snprintf(text, sizeof(text), SVC_LINE "log = { %s = \"%s\"; };\n",
		    cases[i].key, cases[i].value);
		cfg = expect_ok(text);
		memcpy(&got, (const char *)&cfg->log + cases[i].off, sizeof(got));
		if (got != cases[i].want)
			print_message("log.%s = \"%s\"\n", cases[i].key, cases[i].value);
		assert_int_equal(got, cases[i].want);
		cfg_free(cfg);
	}

	/* the facility is accepted, and stored, with target stderr too */
	cfg = expect_ok(SVC_LINE "log = { target = \"stderr\"; level = \"error\"; format = \"json\";\n"
	    "  syslog_facility = \"local7\"; };\n");
	assert_int_equal(cfg->log.target, CFG_LOG_STDERR);
	assert_int_equal(cfg->log.level, PG_LOG_ERR);
	assert_int_equal(cfg->log.format, CFG_LOG_JSON);
	assert_int_equal(cfg->log.facility, LOG_LOCAL7);
	cfg_free(cfg);
}

#define LOG_TARGET_EXP "(expected one of \"stderr\", \"syslog\")"
#define LOG_LEVEL_EXP "(expected one of \"error\", \"warn\", \"info\", \"debug\")"
#define LOG_FORMAT_EXP "(expected one of \"text\", \"json\")"
#define LOG_FACILITY_EXP "(expected one of \"daemon\", \"local0\", \"local1\", \"local2\", " \
	"\"local3\", \"local4\", \"local5\", \"local6\", \"local7\", \"auth\", \"user\")"

static void test_log_bad_values(void **state)
{
	static const struct {
		const char *key, *value, *exp;
	} bad[] = {
		{ "target", "file", LOG_TARGET_EXP },
		{ "target", "Syslog", LOG_TARGET_EXP },
		{ "target", "stdout", LOG_TARGET_EXP },
		{ "target", "", LOG_TARGET_EXP },
		{ "level", "warning", LOG_LEVEL_EXP },
		{ "level", "err", LOG_LEVEL_EXP },
		{ "level", "INFO", LOG_LEVEL_EXP },
		{ "level", "trace", LOG_LEVEL_EXP },
		{ "level", "3", LOG_LEVEL_EXP },
		{ "format", "JSON", LOG_FORMAT_EXP },
		{ "format", "logfmt", LOG_FORMAT_EXP },
		{ "format", "plain", LOG_FORMAT_EXP },
		{ "syslog_facility", "local8", LOG_FACILITY_EXP },
		{ "syslog_facility", "LOCAL0", LOG_FACILITY_EXP },
		{ "syslog_facility", "kern", LOG_FACILITY_EXP },
		{ "syslog_facility", "authpriv", LOG_FACILITY_EXP },
		{ "syslog_facility", "mail", LOG_FACILITY_EXP },
		{ "syslog_facility", "LOG_DAEMON", LOG_FACILITY_EXP },
		{ "syslog_facility", "", LOG_FACILITY_EXP },
	};
	char text[256], want[512];

	(void)state;
	/* each bad value alone, on the line of its key */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), SVC_LINE "log = {\n  %s = \"%s\";\n};\n",
		    bad[i].key, bad[i].value);
		snprintf(want, sizeof(want), "3: log.%s: \"%s\" is not a valid %s %s",
		    bad[i].key, bad[i].value, bad[i].key, bad[i].exp);
		expect_errors(text, want);
	}

	/* all at once, an unknown key among them, each on its own line */
	expect_errors(SVC_LINE
	    "log = {\n"
	    "  target = \"file\";\n"                                    /* 3 */
	    "  level = \"verbose\";\n"
	    "  format = \"xml\";\n"                                     /* 5 */
	    "  syslog_facility = \"local8\";\n"
	    "  colour = true;\n"                                        /* 7 */
	    "  facility = \"daemon\";\n"
	    "};\n",
	    "3: log.target: \"file\" is not a valid target " LOG_TARGET_EXP,
	    "4: log.level: \"verbose\" is not a valid level " LOG_LEVEL_EXP,
	    "5: log.format: \"xml\" is not a valid format " LOG_FORMAT_EXP,
	    "6: log.syslog_facility: \"local8\" is not a valid syslog_facility " LOG_FACILITY_EXP,
	    "7: log.colour: unknown setting (expected one of target, level, format, syslog_facility)",
	    "8: log.facility: unknown setting (expected one of target, level, format, "
	        "syslog_facility)");

	/* wrong types, and a log that is not a group */
	expect_errors(SVC_LINE
	    "log = { level = 3; target = true;\n"
	    "  format = [ \"text\" ]; syslog_facility = 24; };\n",
	    "2: log.target: true is a boolean " LOG_TARGET_EXP,
	    "2: log.level: 3 is an integer " LOG_LEVEL_EXP,
	    "3: log.format: [ ... ] is an array " LOG_FORMAT_EXP,
	    "3: log.syslog_facility: 24 is an integer " LOG_FACILITY_EXP);
	expect_errors(SVC_LINE "\nlog = \"syslog\";\n",
	    "3: log: \"syslog\" is a string (expected a group { ... })");
	/* the keys of log are not top-level keys */
	expect_errors(SVC_LINE "level = \"debug\";\n",
	    "2: level: unknown setting (expected one of state_dir, shutdown_grace, user, "
	        "allow_root, workers, log, admin, limits, affinity, session_idle, services, backends, "
	        "discovery, agent, ssh_host_ca, ssh_host_principal, hooks, cluster, freebind)");
}

#define USER_EXP "(expected a user name of 1 to 32 characters a-z 0-9 _ - starting with " \
	"a-z or _ (a final $ is allowed), such as \"poolgate\")"

static void test_user(void **state)
{
	static const char *const good[] = {
		"poolgate", "a", "_", "_poolgate", "www-data", "pool_gate-2", "pg9", "a-",
		"machine$", "_$",
		"abcdefghijklmnopqrstuvwxyz012345",             /* 32 */
		"abcdefghijklmnopqrstuvwxyz01234$",             /* 32 with the $ */
	};
	static const char *const bad[] = {
		"Poolgate", "POOLGATE", "poolGate", "1pool", "9", "0", "-pool", "$", "pool$x",
		"pool$$", "pool gate", " pool", "pool.gate", "pool@host", "pool/x", "root:x",
		"",
	};
	struct pg_config *cfg;
	char text[256], want[512];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text), SVC_LINE "user = \"%s\";\n", good[i]);
		cfg = expect_ok(text);
		assert_string_equal(cfg->user, good[i]);
		assert_false(cfg->allow_root);
		cfg_free(cfg);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), SVC_LINE "user = \"%s\";\n", bad[i]);
		snprintf(want, sizeof(want), "2: user: \"%s\" is not a valid user name " USER_EXP,
		    bad[i]);
		expect_errors(text, want);
	}
	/* quoted back escaped: not ASCII */
	expect_errors(SVC_LINE "user = \"p\xc3\xb6ol\";\n",
	    "2: user: \"p\\xc3\\xb6ol\" is not a valid user name " USER_EXP);

	/* 33 characters is one too many, $ or not */
	expect_errors(SVC_LINE "\n\nuser = \"abcdefghijklmnopqrstuvwxyz0123456\";\n",
	    "4: user: 33 characters is too long " USER_EXP);
	expect_errors(SVC_LINE "user = \"abcdefghijklmnopqrstuvwxyz012345$\";\n",
	    "2: user: 33 characters is too long " USER_EXP);

	/* a uid is not a user name; nor is an array of them */
	expect_errors(SVC_LINE "user = 1000;\n",
	    "2: user: 1000 is an integer " USER_EXP);
	expect_errors("user = [ \"poolgate\" ];\n" SVC_LINE,
	    "1: user: [ ... ] is an array " USER_EXP);
}

static void test_allow_root(void **state)
{
	struct pg_config *cfg;

	(void)state;
	cfg = expect_ok(SVC_LINE "allow_root = true;\n");
	assert_true(cfg->allow_root);
	assert_null(cfg->user);
	cfg_free(cfg);
	/* stored as written, whatever user says: judging them is the daemon's */
	cfg = expect_ok(SVC_LINE "user = \"root\";\nallow_root = false;\n");
	assert_false(cfg->allow_root);
	assert_string_equal(cfg->user, "root");
	cfg_free(cfg);

	expect_errors(SVC_LINE "allow_root = \"yes\";\n",
	    "2: allow_root: \"yes\" is a string (expected true or false)");
	expect_errors(SVC_LINE "\nallow_root = 1;\n",
	    "3: allow_root: 1 is an integer (expected true or false)");
	expect_errors(SVC_LINE "allow_root = \"true\";\nuser = true;\n",
	    "2: allow_root: \"true\" is a string (expected true or false)",
	    "3: user: true is a boolean " USER_EXP);
}

static void test_limits_rate_keepalive_retry(void **state)
{
	struct pg_config *cfg;

	(void)state;
	/* every bound itself is valid: the smallest ... */
	cfg = expect_ok(SVC_LINE
	    "limits = { per_ip_rate = 0; tcp_keepalive = \"0s\"; retry_after = \"1s\"; };\n");
	assert_int_equal(cfg->per_ip_rate, 0);
	assert_int_equal(cfg->tcp_keepalive_ms, 0);
	assert_int_equal(cfg->retry_after_ms, 1000);
	assert_int_equal(cfg->max_connections, 20000);          /* the others: defaults */
	assert_int_equal(cfg->per_ip_connections, 0);
	cfg_free(cfg);
	/* ... and the largest */
	cfg = expect_ok(SVC_LINE
	    "limits = { per_ip_rate = 1000000; tcp_keepalive = \"2h\"; retry_after = \"1h\"; };\n");
	assert_int_equal(cfg->per_ip_rate, 1000000);
	assert_int_equal(cfg->tcp_keepalive_ms, 2 * 3600 * 1000);
	assert_int_equal(cfg->retry_after_ms, 3600 * 1000);
	cfg_free(cfg);
	/* whole seconds written in any unit; keepalive needs no whole seconds */
	cfg = expect_ok(SVC_LINE
	    "limits = { tcp_keepalive = \"1500ms\"; retry_after = \"90000ms\"; };\n");
	assert_int_equal(cfg->tcp_keepalive_ms, 1500);
	assert_int_equal(cfg->retry_after_ms, 90 * 1000);
	cfg_free(cfg);

	/* just outside, on both sides where there is one */
	expect_errors(SVC_LINE
	    "limits = {\n"
	    "  per_ip_rate = -1;\n"                                     /* 3 */
	    "  tcp_keepalive = \"7201s\";\n"
	    "  retry_after = \"999ms\";\n"                              /* 5 */
	    "};\n",
	    "3: limits.per_ip_rate: -1 is out of range (expected 0 to 1000000)",
	    "4: limits.tcp_keepalive: \"7201s\" is out of range (expected 0s to 2h)",
	    "5: limits.retry_after: \"999ms\" is out of range (expected 1s to 1h)");
	expect_errors(SVC_LINE
	    "limits = { per_ip_rate = 1000001; tcp_keepalive = \"121m\";\n"
	    "  retry_after = \"3601s\"; };\n",
	    "2: limits.per_ip_rate: 1000001 is out of range (expected 0 to 1000000)",
	    "2: limits.tcp_keepalive: \"121m\" is out of range (expected 0s to 2h)",
	    "3: limits.retry_after: \"3601s\" is out of range (expected 1s to 1h)");
	expect_errors(SVC_LINE "limits = { retry_after = \"0s\"; per_ip_rate = 4294967297; };\n",
	    "2: limits.per_ip_rate: 4294967297 is out of range (expected 0 to 1000000)",
	    "2: limits.retry_after: \"0s\" is out of range (expected 1s to 1h)");

	/* Retry-After carries seconds: a fraction would be rounded, so it is refused */
	expect_errors(SVC_LINE "limits = { retry_after = \"1500ms\"; };\n",
	    "2: limits.retry_after: \"1500ms\" is not a whole number of seconds (expected a "
	        "duration from 1s to 1h in whole seconds such as \"2s\")");
	expect_errors(SVC_LINE "limits = { retry_after = \"3599001ms\"; };\n",
	    "2: limits.retry_after: \"3599001ms\" is not a whole number of seconds (expected a "
	        "duration from 1s to 1h in whole seconds such as \"2s\")");

	/* not a duration, wrong types */
	expect_errors(SVC_LINE
	    "limits = { tcp_keepalive = \"1 m\"; retry_after = \"10\"; };\n"
	    "\n"
	    "limits2 = 1;\n",
	    "2: limits.tcp_keepalive: \"1 m\" is not a duration (use 500ms, 2s, 1m)",
	    "2: limits.retry_after: \"10\" is not a duration (use 500ms, 2s, 1m)",
	    "4: limits2: unknown setting (expected one of state_dir, shutdown_grace, user, "
	        "allow_root, workers, log, admin, limits, affinity, session_idle, services, backends, "
	        "discovery, agent, ssh_host_ca, ssh_host_principal, hooks, cluster, freebind)");
	expect_errors(SVC_LINE
	    "limits = { per_ip_rate = \"60\"; tcp_keepalive = 60;\n"
	    "  retry_after = 10; };\n",
	    "2: limits.per_ip_rate: \"60\" is a string (expected an integer from 0 to 1000000)",
	    "2: limits.tcp_keepalive: 60 is an integer (expected a duration from 0s to 2h "
	        "such as \"2s\")",
	    "3: limits.retry_after: 10 is an integer (expected a duration from 1s to 1h in whole "
	        "seconds such as \"2s\")");
	expect_errors(SVC_LINE "limits = { per_ip_rate = 1.5; };\n",
	    "2: limits.per_ip_rate: 1.5 is a floating-point number (expected an integer from 0 "
	        "to 1000000)");
}

/* services[].source and ssh_host_ca: what they take, and their errors. */
static void test_source_and_host_ca(void **state)
{
	struct pg_config *cfg;

	(void)state;
	cfg = expect_ok(SVC_LINE "backends = ( { name = \"b\"; address = \"10.0.0.1\"; } );\n");
	assert_int_equal(cfg->services[0].source, SVC_SRC_POOLGATE);
	assert_string_equal(cfg->ssh_host_ca_fp, "");
	assert_true(cfg->agent.report);
	cfg_free(cfg);
	cfg = expect_ok(
	    "services = ( { name = \"ssh\"; listen = [ \"*:22\" ]; port = 22; source = \"client\"; } );\n"
	    "ssh_host_ca = \"@cert-authority *.pool ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINu0SueyWClPf3+r463kUJatIvfJiHJF8BNQy30NrSab ca\";\n"
	    "agent = { port = 9101; report = false; };\n"
	    "backends = ( { name = \"b\"; address = \"10.0.0.1\"; } );\n");
	assert_int_equal(cfg->services[0].source, SVC_SRC_CLIENT);
	assert_string_equal(cfg->ssh_host_ca_fp,
	    "SHA256:SITe9NoC1RMJNGmf4OTsUmjbziOBydHHp1AXxBXymPs");
	assert_false(cfg->agent.report);
	cfg_free(cfg);
	expect_errors(
	    "services = ( { name = \"j\"; listen = [ \"*:80\" ]; port = 8000; mode = \"http\";\n"
	    "  source = \"client\"; } );\n"
	    "ssh_host_ca = \"not a key\";\n"
	    "backends = ( { name = \"b\"; address = \"10.0.0.1\"; } );\n",
	    "2: services[0].source: \"client\" is only for mode \"tcp\" services"
	    " (expected \"poolgate\"; HTTP services pass the client in"
	    " X-Forwarded-For and Forwarded)",
	    "3: ssh_host_ca: not an OpenSSH public key line (expected \"TYPE"
	    " BASE64 [comment]\", as in the CA's .pub file)");
}

/* The cluster group: both ways to find Redis, defaults, every error. */
static void test_cluster(void **state)
{
	struct pg_config *cfg;

	(void)state;
	cfg = expect_ok(SVC_LINE);
	assert_false(cfg->cluster.enabled);
	assert_false(cfg->freebind);
	assert_string_equal(cfg->cluster.prefix, "poolgate:");
	assert_int_equal(cfg->cluster.timeout_ms, 1500);
	assert_int_equal(cfg->cluster.lease_ms, 5000);
	assert_int_equal(cfg->cluster.node_expiry_ms, 3000);
	cfg_free(cfg);

	cfg = expect_ok(SVC_LINE "freebind = true;\n"
	    "cluster = { node = \"pg1\"; redis = [ \"10.0.1.9:6379\", \"[fd00::9]:6380\" ];\n"
	    "  password_file = \"/etc/poolgate/redis.pass\"; prefix = \"pool-a:\";\n"
	    "  timeout = \"2s\"; lease = \"10s\"; node_expiry = \"4s\"; };\n");
	assert_true(cfg->freebind);
	assert_true(cfg->cluster.enabled);
	assert_string_equal(cfg->cluster.node, "pg1");
	assert_int_equal(cfg->cluster.nredis, 2);
	assert_v4(&cfg->cluster.redis[0], "10.0.1.9", 6379);
	assert_v6(&cfg->cluster.redis[1], "fd00::9", 6380);
	assert_string_equal(cfg->cluster.redis[1].text, "[fd00::9]:6380");
	assert_int_equal(cfg->cluster.nsentinel, 0);
	assert_string_equal(cfg->cluster.master, "");
	assert_string_equal(cfg->cluster.password_file, "/etc/poolgate/redis.pass");
	assert_string_equal(cfg->cluster.prefix, "pool-a:");
	assert_int_equal(cfg->cluster.timeout_ms, 2000);
	assert_int_equal(cfg->cluster.lease_ms, 10000);
	assert_int_equal(cfg->cluster.node_expiry_ms, 4000);
	cfg_free(cfg);

	cfg = expect_ok(SVC_LINE "cluster = { node = \"pg2\";\n"
	    "  sentinel = [ \"10.0.1.9:26379\", \"10.0.1.10:26379\", \"10.0.1.11:26379\" ];\n"
	    "  master = \"poolgate\"; };\n");
	assert_int_equal(cfg->cluster.nsentinel, 3);
	assert_v4(&cfg->cluster.sentinel[2], "10.0.1.11", 26379);
	assert_string_equal(cfg->cluster.master, "poolgate");
	assert_null(cfg->cluster.password_file);
	cfg_free(cfg);

	expect_errors(SVC_LINE "cluster = { redis = [ \"10.0.1.9:6379\" ]; };\n",
	    "2: cluster.node: missing required setting (expected a name of 1 to 63 "
	    "characters A-Z a-z 0-9 _ - . (not starting with - or .))");
	expect_errors(SVC_LINE "cluster = {\n node = \"pg1\"; };\n",
	    "2: cluster: neither redis nor sentinel is given (expected redis = "
	    "[ \"ADDR:PORT\", ... ] or sentinel = [ ... ] with master)");
	expect_errors(SVC_LINE "cluster = { node = \"pg1\"; redis = [ \"10.0.1.9:6379\" ];\n"
	    "  sentinel = [ \"10.0.1.9:26379\" ]; master = \"m\"; };\n",
	    "3: cluster.sentinel: given with cluster.redis (expected one of them: "
	    "Sentinel tells where the master is)");
	expect_errors(SVC_LINE "cluster = { node = \"pg1\";\n sentinel = [ \"10.0.1.9:26379\" ]; };\n",
	    "3: cluster.sentinel: without cluster.master (expected the Sentinels' "
	    "name of the master, as in their \"sentinel monitor\")");
	expect_errors(SVC_LINE "cluster = { node = \"pg1\"; redis = [ \"10.0.1.9:6379\" ];\n"
	    " master = \"m\"; };\n",
	    "3: cluster.master: only with cluster.sentinel");
	expect_errors(SVC_LINE "cluster = { node = \"pg1\"; redis = [ \"redis.example:6379\" ]; };\n",
	    "2: cluster.redis[0]: \"redis.example:6379\" is not an address and port "
	    "(expected \"ADDR:PORT\" with a numeric address, such as \"0.0.0.0:22\", "
	    "\"*:22\" or \"[::]:22\")");
	expect_errors(SVC_LINE "cluster = { node = \"pg1\"; redis = [ \"10.0.1.9:6379\" ];\n"
	    " prefix = \"pool gate\"; };\n",
	    "3: cluster.prefix: \"pool gate\" holds a space or a character that is "
	    "not printable ASCII (expected such as \"poolgate:\")");
	expect_errors(SVC_LINE "cluster = { node = \"pg1\"; redis = [ \"10.0.1.9:6379\" ];\n"
	    " timeout = \"50ms\"; };\n",
	    "3: cluster.timeout: \"50ms\" is out of range (expected 100ms to 10s)");
}

#define CA_KEY "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKd4Mb5cF4J7iHqgRkM2lE3Wn8sQH1yP0ZrJxk2vT9aB"

/* ssh_host_ca and ssh_host_principal: the line GET /ssh_known_hosts serves. */
static void test_ssh_host_identity(void **state)
{
	struct pg_config *cfg;

	(void)state;
	cfg = expect_ok(SVC_LINE "ssh_host_ca = \"" CA_KEY " pool CA\";\n"
	    "ssh_host_principal = \"pool.example.com\";\n");
	assert_string_equal(cfg->ssh_host_ca, CA_KEY " pool CA");
	assert_string_equal(cfg->ssh_host_principal, "pool.example.com");
	assert_true(strncmp(cfg->ssh_host_ca_fp, "SHA256:", 7) == 0);
	cfg_free(cfg);

	cfg = expect_ok(SVC_LINE "ssh_host_ca = \"@cert-authority *.example.com " CA_KEY "\";\n");
	assert_true(strncmp(cfg->ssh_host_ca_fp, "SHA256:", 7) == 0);
	cfg_free(cfg);

	cfg = expect_ok(SVC_LINE "ssh_host_principal = \"10.0.0.4\";\n");
	cfg_free(cfg);

	expect_errors(SVC_LINE "\nssh_host_ca = \"AAAAC3NzaC1lZDI1NTE5\";\n",
	    "3: ssh_host_ca: not an OpenSSH public key line (expected \"TYPE BASE64 [comment]\","
	    " as in the CA's .pub file)");
	expect_errors(SVC_LINE "ssh_host_ca = \"" CA_KEY "\";\n"
	    "ssh_host_principal = \"pool example\";\n",
	    "3: ssh_host_principal: not a host name (expected the pool's DNS name, letters,"
	    " digits and .:_-, such as \"pool.example.com\")");
	expect_errors(SVC_LINE "ssh_host_principal = \"a,b\";\n",
	    "2: ssh_host_principal: not a host name (expected the pool's DNS name, letters,"
	    " digits and .:_-, such as \"pool.example.com\")");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_file),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_bounds_accepted),
		cmocka_unit_test(test_int_forms),
		cmocka_unit_test(test_example_file),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_syntax_error),
		cmocka_unit_test(test_syntax_duration_hint),
		cmocka_unit_test(test_design_doc_message),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_wrong_types),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_strings_and_names),
		cmocka_unit_test(test_enums),
		cmocka_unit_test(test_bad_durations),
		cmocka_unit_test(test_timeout_above_interval),
		cmocka_unit_test(test_missing_required),
		cmocka_unit_test(test_list_sizes),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_bad_addresses),
		cmocka_unit_test(test_element_lines),
		cmocka_unit_test(test_all_errors_sorted),
		cmocka_unit_test(test_http_defaults),
		cmocka_unit_test(test_http_bounds_accepted),
		cmocka_unit_test(test_http_only_settings),
		cmocka_unit_test(test_tls_ciphers_and_verify_name),
		cmocka_unit_test(test_http_bad_values),
		cmocka_unit_test(test_http_durations),
		cmocka_unit_test(test_by_client_ip_inherited),
		cmocka_unit_test(test_check_type_by_mode),
		cmocka_unit_test(test_source_and_host_ca),
		cmocka_unit_test(test_rdp_service),
		cmocka_unit_test(test_user_from_sni),
		cmocka_unit_test(test_service_copy),
		cmocka_unit_test(test_file_errors),
		cmocka_unit_test(test_include_names_its_file),
		cmocka_unit_test(test_errors_list),
		cmocka_unit_test(test_parse_addr_good),
		cmocka_unit_test(test_parse_addr_bad),
		cmocka_unit_test(test_summary),
		cmocka_unit_test(test_enum_names),
		cmocka_unit_test(test_groups_defaults),
		cmocka_unit_test(test_groups_bounds_accepted),
		cmocka_unit_test(test_groups_missing_required),
		cmocka_unit_test(test_agent_timeout_above_interval),
		cmocka_unit_test(test_groups_out_of_range),
		cmocka_unit_test(test_hooks_command),
		cmocka_unit_test(test_discovery_dns),
		cmocka_unit_test(test_groups_types_and_unknown_keys),
		cmocka_unit_test(test_groups_summary),
		cmocka_unit_test(test_log_defaults),
		cmocka_unit_test(test_log_values),
		cmocka_unit_test(test_log_bad_values),
		cmocka_unit_test(test_user),
		cmocka_unit_test(test_allow_root),
		cmocka_unit_test(test_limits_rate_keepalive_retry),
		cmocka_unit_test(test_cluster),
		cmocka_unit_test(test_ssh_host_identity),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
