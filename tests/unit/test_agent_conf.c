/*
 * test_agent_conf.c -- poolgate-agent's configuration (agent/conf.c): the
 * defaults, a file that sets everything, every kind of error with its file
 * and line, and docs/poolgate-agent.8 against the settings table (every row
 * documented, in order, with its default and range).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/conf.h"
#include "agent/util.h"

#ifndef SRCDIR
#error "SRCDIR must name the source root"
#endif
#define PAGE SRCDIR "/docs/poolgate-agent.8"
#define EXAMPLE SRCDIR "/deploy/agent/agent.conf.example"

static char path[64];

static void
file(const char *text)
{
	FILE *f = fopen(path, "w");

	fputs(text, f);
	fclose(f);
}

static int
setup(void **state)
{
	int fd;

	(void)state;
	strcpy(path, "/tmp/agent-conf.XXXXXX");
	if ((fd = mkstemp(path)) == -1)
		return -1;
	close(fd);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(path);
	return 0;
}

static void
test_defaults(void **state)
{
	struct cfg_errors errs = { 0 };
	struct acf *c;
	char sum[512];

	(void)state;
	assert_int_equal(acf_load(NULL, &c, &errs), 0);
	assert_int_equal(c->nlisten, 1);
	assert_string_equal(c->listen[0].text, "0.0.0.0:9101");
	assert_int_equal(ntohs(((struct sockaddr_in *)&c->listen[0].ss)->sin_port), 9101);
	assert_int_equal(c->interval_ms, 5000);
	assert_int_equal(c->line_wait_ms, 100);
	assert_int_equal(c->min_uid, 1000);
	assert_int_equal(c->nignore, 2);
	assert_string_equal(c->ignore[0], "systemd");
	assert_string_equal(c->ignore[1], "(sd-pam)");
	assert_int_equal(c->stale_after_ms, 0);       /* off */
	assert_string_equal(c->drain_file, "/etc/poolgate/drain");
	assert_int_equal(c->sessions, ACF_SESS_AUTO);
	assert_int_equal(c->log_level, 2);            /* info */
	assert_string_equal(c->hub_url, "");
	assert_true(c->hub_kernels);
	assert_string_equal(c->gpu_command, "nvidia-smi");
	assert_int_equal(c->nssh_ports, 1);
	assert_int_equal(c->ssh_ports[0], 22);
	assert_true(c->azure_enabled);
	assert_string_equal(c->azure_url, "http://169.254.169.254");
	assert_true(c->azure_approve);
	acf_summary(c, sum, sizeof(sum));
	assert_non_null(strstr(sum, "listen 0.0.0.0:9101"));
	acf_free(c);
}

static void
test_everything(void **state)
{
	struct cfg_errors errs = { 0 };
	struct acf *c;

	(void)state;
	file("listen = [ \"127.0.0.1:9101\", \"[::1]:9102\" ];\n"
	    "interval = \"10s\";\nline_wait = \"50ms\";\nhttp_timeout = \"1s\";\n"
	    "max_connections = 8;\nmin_uid = 500;\nignore = [ \"systemd\" ];\n"
	    "stale_after = \"8h\";\nstale_notice = \"0s\";\nmax_users = 10;\n"
	    "max_processes = 100;\nmax_report = 65536;\nncpu = 4;\n"
	    "proc_root = \"/tmp/p\";\ndev_root = \"/tmp/d\";\ndrain_file = \"/tmp/x\";\n"
	    "sessions = \"utmp\";\nlogind_dir = \"/tmp/s\";\nutmp = \"/tmp/u\";\n"
	    "log_level = \"debug\";\n"
	    "jupyterhub = { url = \"http://127.0.0.1:8000/jhub\"; token_file = \"t\";\n"
	    "  kernels = false; timeout = \"500ms\"; };\n"
	    "gpu = { command = \"\"; timeout = \"1s\"; };\n"
	    "ssh = { dir = \"/tmp/ssh\"; keygen = \"/usr/bin/ssh-keygen\";\n"
	    "  host_ca = \"SHA256:abc\"; principal = \"pool1\"; ports = [ 22, 2222 ];\n"
	    "  refresh = \"1m\"; };\n"
	    "azure = { enabled = false; url = \"http://127.0.0.1:1\"; vm_name = \"vm_3\";\n"
	    "  approve = false; drain = false; timeout = \"1s\"; };\n");
	if (acf_load(path, &c, &errs) == -1)
		fail_msg("%s", errs.msg[0]);
	assert_int_equal(c->nlisten, 2);
	assert_int_equal(c->listen[1].ss.ss_family, AF_INET6);
	assert_int_equal(c->interval_ms, 10000);
	assert_int_equal(c->nignore, 1);
	assert_null(c->ignore[1]);
	assert_int_equal(c->stale_after_ms, 8 * 3600000);
	assert_int_equal(c->stale_notice_ms, 0);
	assert_int_equal(c->sessions, ACF_SESS_UTMP);
	assert_int_equal(c->log_level, 3);
	assert_string_equal(c->hub_url, "http://127.0.0.1:8000/jhub");
	assert_false(c->hub_kernels);
	assert_int_equal(c->hub_timeout_ms, 500);
	assert_string_equal(c->gpu_command, "");
	assert_int_equal(c->nssh_ports, 2);
	assert_int_equal(c->ssh_ports[1], 2222);
	assert_false(c->azure_enabled);
	assert_string_equal(c->azure_vm_name, "vm_3");
	assert_false(c->azure_drain);
	acf_free(c);
}

/* Load text; it must fail with exactly one error, which is returned. */
static const char *
one_error(const char *text)
{
	static char msg[1024];
	struct cfg_errors errs = { 0 };
	struct acf *c = NULL;

	file(text);
	if (acf_load(path, &c, &errs) != -1)
		fail_msg("loaded without an error: %s", text);
	assert_null(c);
	if (errs.n != 1)
		fail_msg("%zu errors for: %s (first: %s)", errs.n, text,
		    errs.n > 0 ? errs.msg[0] : "");
	snprintf(msg, sizeof(msg), "%s", errs.msg[0]);
	cfg_errors_free(&errs);
	/* every message starts with the file and, but for the whole file, a line */
	assert_int_equal(strncmp(msg, path, strlen(path)), 0);
	return msg + strlen(path);
}

static void
test_errors(void **state)
{
	(void)state;
	assert_string_equal(one_error("interval = \"5s\";\nline_wait = \"2x\";\n"),
	    ":2: line_wait: \"2x\" is not a duration (use 500ms, 2s, 1m)");
	assert_string_equal(one_error("\n\ninterval = \"1h\";\n"),
	    ":3: interval: \"1h\" is out of range (1s to 10m)");
	assert_string_equal(one_error("interval = 5;\n"),
	    ":1: interval: expected a duration in quotes (\"5s\")");
	assert_string_equal(one_error("max_users = 0;\n"),
	    ":1: max_users: 0 is out of range (1 to 4096)");
	assert_string_equal(one_error("max_users = \"5\";\n"),
	    ":1: max_users: expected an integer");
	assert_string_equal(one_error("azure = { approve = 1; };\n"),
	    ":1: azure.approve: expected true or false");
	assert_string_equal(one_error("listen = \"localhost:9101\";\n"),
	    ":1: listen: \"localhost:9101\" is not ADDR:PORT (e.g. 0.0.0.0:9101, [::]:9101)");
	assert_string_equal(one_error("sessions = \"who\";\n"),
	    ":1: sessions: \"who\" is not one of auto|logind|utmp");
	assert_string_equal(one_error("proc_root = \"proc\";\n"),
	    ":1: proc_root: \"proc\" is not an absolute path");
	assert_string_equal(one_error("jupyterhub = { url = \"https://hub\"; };\n"),
	    ":1: jupyterhub.url: \"https://hub\" is not an http://HOST[:PORT][/PATH] URL");
	assert_string_equal(one_error("ignore = [ \"a-name-longer-than-15\" ];\n"),
	    ":1: ignore: \"a-name-longer-than-15\" is not a process name (1 to 15 bytes)");
	assert_string_equal(one_error("ignore = \"systemd\";\n"),
	    ":1: ignore: expected a list of strings");
	assert_string_equal(one_error("ssh = { ports = [ 22, 0 ]; };\n"),
	    ":1: ssh.ports: 0 is not a port (1 to 65535)");
	assert_string_equal(one_error("ssh = { ports = [ \"22\" ]; };\n"),
	    ":1: ssh.ports: item 0: expected an integer");
	assert_string_equal(one_error("interval = \"5s\";\nintervall = \"5s\";\n"),
	    ":2: intervall: unknown setting");
	assert_string_equal(one_error("azure = { enable = true; };\n"),
	    ":1: azure.enable: unknown setting");
	assert_string_equal(one_error("gpu = \"off\";\n"),
	    ":1: gpu: expected a group ({ ... })");
	assert_string_equal(one_error("interval = \"5s\";\nline_wait = = \"1s\";\n"),
	    ":2: syntax error");
	assert_string_equal(one_error("azure = { url = \"\"; };\n"),
	    ": azure.url: needed when azure.enabled is true");
	unlink(path);
	{
		struct cfg_errors errs = { 0 };
		struct acf *c;

		assert_int_equal(acf_load(path, &c, &errs), -1);
		assert_non_null(strstr(errs.msg[0], "cannot read"));
		cfg_errors_free(&errs);
	}
}

static void
test_all_errors(void **state)
{
	struct cfg_errors errs = { 0 };
	struct acf *c;

	(void)state;
	/* every error is reported, not just the first */
	file("interval = \"x\";\nmax_users = 0;\nfoo = 1;\n");
	assert_int_equal(acf_load(path, &c, &errs), -1);
	assert_int_equal(errs.n, 3);
	cfg_errors_free(&errs);
}

static void
test_example(void **state)
{
	struct cfg_errors errs = { 0 };
	struct acf *c;

	(void)state;
	if (acf_load(EXAMPLE, &c, &errs) == -1)
		fail_msg("%s", errs.msg[0]);
	acf_free(c);
}

/* ---- the page ------------------------------------------------------------ */

static const char *
type_word(enum acf_type t)
{
	switch (t) {
	case ACF_T_DURATION: return "duration";
	case ACF_T_INT:      return "integer";
	case ACF_T_BOOL:     return "boolean";
	case ACF_T_STRING:   return "string";
	case ACF_T_PATH:     return "path";
	case ACF_T_URL:      return "url";
	case ACF_T_KEYWORD:  return "keyword";
	case ACF_T_ADDRS:    return "addresses";
	case ACF_T_NAMES:    return "names";
	case ACF_T_PORTS:    return "ports";
	}
	return "?";
}

/* The facts line of a row: what the page must say in its item. */
static void
facts(const struct acf_setting *s, char *buf, size_t size)
{
	char lo[32], hi[32], item[256];
	const char *p, *comma;
	size_t n;

	n = (size_t)snprintf(buf, size, "Default: ");
	switch (s->type) {
	case ACF_T_INT:
	case ACF_T_BOOL:
		n += (size_t)snprintf(buf + n, size - n, "%s", s->def);
		break;
	case ACF_T_NAMES:
	case ACF_T_PORTS:
		for (p = s->def; *p != '\0'; p = comma + 1) {
			comma = strchr(p, ',');
			snprintf(item, sizeof(item), "%.*s", comma != NULL ?
			    (int)(comma - p) : (int)strlen(p), p);
			n += (size_t)snprintf(buf + n, size - n, s->type == ACF_T_NAMES ?
			    "%s\"%s\"" : "%s%s", p == s->def ? "" : ", ", item);
			if (comma == NULL)
				break;
		}
		break;
	default:
		n += (size_t)snprintf(buf + n, size - n, "\"%s\"", s->def);
		break;
	}
	if (s->type == ACF_T_DURATION) {
		cfg_format_duration((uint64_t)s->min, lo, sizeof(lo));
		cfg_format_duration((uint64_t)s->max, hi, sizeof(hi));
		n += (size_t)snprintf(buf + n, size - n, "; range %s to %s", lo, hi);
	} else if (s->type == ACF_T_INT)
		n += (size_t)snprintf(buf + n, size - n, "; range %" PRId64 " to %"
		    PRId64, s->min, s->max);
	snprintf(buf + n, size - n, ".");
}

/* 0 when page documents every row in order, else the number of problems. */
static size_t
check_page(const char *page, bool quiet)
{
	char head[256], want[512];
	const char *at = page, *item, *next;
	size_t i, problems = 0;

	for (i = 0; i < acf_nsettings; i++) {
		const struct acf_setting *s = &acf_settings[i];

		snprintf(head, sizeof(head), "\n.It Ic %s Ar %s\n", s->path,
		    type_word(s->type));
		if ((item = strstr(at, head)) == NULL) {
			if (!quiet)
				print_error("poolgate-agent(8): no item \"%s\" after the "
				    "previous setting\n", head + 1);
			problems++;
			continue;
		}
		next = strstr(item + strlen(head), "\n.It ");
		if (next == NULL)
			next = item + strlen(item);
		facts(s, want, sizeof(want));
		if (memmem(item, (size_t)(next - item), want, strlen(want)) == NULL) {
			if (!quiet)
				print_error("poolgate-agent(8): %s: no line \"%s\"\n",
				    s->path, want);
			problems++;
		}
		at = next;
	}
	return problems;
}

static void
test_page(void **state)
{
	char *page, *bad;

	(void)state;
	page = ag_read_text(PAGE, 1 << 20, NULL);
	assert_non_null(page);
	assert_int_equal(check_page(page, false), 0);
	/* The check notices a default that drifted and a missing item. */
	bad = strdup(page);
	memcpy(strstr(bad, "Default: \"5s\"; range 1s to 10m."), "Default: \"6s\"", 13);
	assert_int_equal(check_page(bad, true), 1);
	free(bad);
	bad = strdup(page);
	memcpy(strstr(bad, ".It Ic ncpu Ar integer"), ".It Ic npcu", 11);
	assert_true(check_page(bad, true) >= 1);
	free(bad);
	free(page);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_everything),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_all_errors),
		cmocka_unit_test(test_example),
		cmocka_unit_test(test_page),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
