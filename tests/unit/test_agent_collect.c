/*
 * test_agent_collect.c -- one collection end to end (agent/collect.c):
 * a fake /proc and logind directory written by the test, a fake
 * nvidia-smi on PATH, and a fake JupyterHub and Azure metadata service on
 * 127.0.0.1. A user works (a session on a real pty, a process, a busy
 * kernel, a GPU process) while a Terminate is scheduled: the users are told,
 * the line says drain, nothing is approved. Then the user is gone: the VM is
 * idle and the Terminate is approved.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/collect.h"
#include "agent/conf.h"
#include "agent/proto.h"
#include "agent/serve.h"
#include "agent/util.h"
#include "lib/json.h"
#include "test_agent_fakehttp.h"

static char dir[64];

static void
put(const char *rel, const char *text)
{
	char p[256];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static void
mk(const char *rel)
{
	char p[256];

	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	mkdir(p, 0755);
}

static void
proc(int pid, const char *comm, unsigned uid, unsigned long ticks)
{
	char rel[64], text[512];

	snprintf(rel, sizeof(rel), "proc/%d", pid);
	mk(rel);
	snprintf(rel, sizeof(rel), "proc/%d/stat", pid);
	snprintf(text, sizeof(text), "%d (%s) S 1 %d %d 0 -1 0 0 0 0 0 %lu 0 0 0 "
	    "20 0 1 0 777 0 0\n", pid, comm, pid, pid, ticks);
	put(rel, text);
	snprintf(rel, sizeof(rel), "proc/%d/status", pid);
	snprintf(text, sizeof(text), "Name:\t%s\nUid:\t%u\t%u\t%u\t%u\n", comm, uid,
	    uid, uid, uid);
	put(rel, text);
}

static int
setup(void **state)
{
	(void)state;
	strcpy(dir, "/tmp/agent-collect.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	mk("proc");
	mk("sessions");
	mk("ssh");
	mk("bin");
	mk("creds");
	put("proc/loadavg", "1.00 0.50 0.20 1/123 4567\n");
	put("proc/meminfo", "MemTotal: 16000000 kB\nMemAvailable: 12000000 kB\n");
	put("creds/hub-token", "s3cret-token\n");
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static struct json_doc *
report(struct col *c)
{
	char err[128], *s;
	struct json_doc *d;
	size_t len;

	s = col_report(c, &len);
	assert_non_null(s);
	d = json_parse(s, len, err, sizeof(err));
	if (d == NULL)
		fail_msg("%s", err);
	free(s);
	return d;
}

static const struct json_node *
find_user(const struct json_node *r, const char *name)
{
	const struct json_node *u;

	for (u = json_get(r, "users")->child; u != NULL; u = u->next)
		if (strcmp(json_get_str(u, "name"), name) == 0)
			return u;
	return NULL;
}

static bool
member_bool(const struct json_node *o, const char *k)
{
	const struct json_node *n = json_get(o, k);

	assert_non_null(n);
	assert_int_equal(n->type, JSON_BOOL);
	return n->boolean;
}

/* A pty for the session, so the notices can be read; NULL when none. */
static int
open_pty(char *tty, size_t size)
{
	char *name;
	int m = posix_openpt(O_RDWR | O_NOCTTY);

	if (m == -1 || grantpt(m) == -1 || unlockpt(m) == -1 ||
	    (name = ptsname(m)) == NULL || strncmp(name, "/dev/", 5) != 0) {
		if (m != -1)
			close(m);
		return -1;
	}
	snprintf(tty, size, "%s", name + 5);
	return m;
}

static void
test_cycle(void **state)
{
	char events[1024], notbefore[64], text[512], tty[64] = "", body[512];
	char head[4096], line[AP_LINE_MAX + 1], got[4096] = "", path[4200];
	struct fh_route routes[6];
	const struct json_node *r, *u, *j, *ev;
	struct cfg_errors errs = { 0 };
	struct json_doc *d;
	struct acf *cfg, *lcfg;
	struct col *c;
	struct fh *f;
	struct pollfd pfd;
	time_t nb = time(NULL) + 600;
	struct tm tm;
	size_t have = 0;
	ssize_t n;
	int64_t v;
	int m;

	(void)state;
	/* A user (uid 64001, no passwd entry) logged in on a pty, at work. */
	m = open_pty(tty, sizeof(tty));
	snprintf(text, sizeof(text), "UID=64001\nUSER=tester\nSTATE=active\nCLASS=user\n"
	    "TTY=%s\nSERVICE=sshd\nLEADER=100\nREALTIME=1700000000000000\n",
	    m != -1 ? tty : "");
	put("sessions/4", text);
	proc(100, "python3", 64001, 500);
	proc(101, "systemd", 64001, 7);
	proc(102, "cron", 0, 3);
	/* A GPU process of theirs. */
	snprintf(text, sizeof(text), "#!/bin/sh\ncat <<'EOF'\n"
	    "# gpu pid type sm mem fb command\n# Idx # C/G %% %% MB name\n"
	    "    0  100  C  30  5  700  python3\nEOF\n");
	put("bin/nvidia-smi", text);
	snprintf(path, sizeof(path), "%s/bin/nvidia-smi", dir);
	chmod(path, 0755);
	snprintf(path, sizeof(path), "%s/bin:%s", dir, getenv("PATH"));
	setenv("PATH", path, 1);
	snprintf(path, sizeof(path), "%s/creds", dir);
	setenv("CREDENTIALS_DIRECTORY", path, 1);

	gmtime_r(&nb, &tm);
	strftime(notbefore, sizeof(notbefore), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	snprintf(events, sizeof(events), "{\"DocumentIncarnation\":2,\"Events\":["
	    "{\"EventId\":\"ev-1\",\"EventType\":\"Terminate\",\"ResourceType\":"
	    "\"VirtualMachine\",\"Resources\":[\"vmss_3\"],\"EventStatus\":\"Scheduled\","
	    "\"NotBefore\":\"%s\",\"Description\":\"scale-in\",\"EventSource\":\"User\","
	    "\"DurationInSeconds\":-1}]}", notbefore);
	routes[0] = (struct fh_route){ "GET", "/hub/api/users?state=active", 200,
	    "[{\"name\":\"tester\",\"server\":\"/user/tester/\",\"servers\":{\"\":"
	    "{\"ready\":true,\"url\":\"/user/tester/\",\"last_activity\":"
	    "\"2026-01-31T12:00:00Z\"}}}]", false, 0 };
	routes[1] = (struct fh_route){ "GET", "/user/tester/api/kernels", 200,
	    "[{\"execution_state\":\"busy\"},{\"execution_state\":\"idle\"}]", true, 0 };
	routes[2] = (struct fh_route){ "GET", "/metadata/instance/compute/name", 200,
	    "vmss_3\n", false, 0 };
	routes[3] = (struct fh_route){ "GET", "/metadata/scheduledevents", 200, events,
	    false, 0 };
	routes[4] = (struct fh_route){ "POST", "/metadata/scheduledevents", 200, "",
	    false, 0 };
	f = fh_start(routes, 5);

	assert_int_equal(acf_load(NULL, &cfg, &errs), 0);
#define SET(field, fmt, ...) do { free(cfg->field); \
	snprintf(path, sizeof(path), fmt, __VA_ARGS__); \
	cfg->field = strdup(path); } while (0)
	SET(proc_root, "%s/proc", dir);
	SET(logind_dir, "%s/sessions", dir);
	SET(ssh_dir, "%s/ssh", dir);
	SET(drain_file, "%s/drain", dir);
	SET(hub_url, "http://127.0.0.1:%d", fh_port(f));
	SET(hub_token_file, "%s", "hub-token");
	SET(azure_url, "http://127.0.0.1:%d", fh_port(f));
	cfg->ncpu = 4;
	assert_int_equal(acf_load(NULL, &lcfg, &errs), 0);   /* the loop's copy */
	free(lcfg->proc_root);
	lcfg->proc_root = strdup(cfg->proc_root);
	free(lcfg->drain_file);
	lcfg->drain_file = strdup(cfg->drain_file);
	lcfg->ncpu = 4;
	c = col_new(cfg);

	/* ---- while the user works --------------------------------------- */
	col_cycle(c);
	d = report(c);
	r = json_root(d);
	assert_false(member_bool(r, "idle"));
	assert_true(json_get_int(r, "load_pct", &v) && v == 75);
	u = find_user(r, "tester");
	assert_non_null(u);
	assert_true(json_get_int(u, "uid", &v) && v == 64001);
	assert_true(json_get_int(u, "sessions", &v) && v == 1);
	assert_true(json_get_int(u, "processes", &v) && v == 1);
	assert_true(json_get_int(u, "processes_ignored", &v) && v == 1);
	j = json_get(u, "jupyter");
	assert_true(member_bool(j, "ready"));
	assert_true(json_get_int(j, "kernels_busy", &v) && v == 1);
	assert_true(json_get_int(j, "kernels_idle", &v) && v == 1);
	assert_true(json_get_int(json_get(u, "gpu"), "sm_pct", &v) && v == 30);
	assert_true(json_get_int(json_get(u, "gpu"), "fb_mib", &v) && v == 700);
	assert_null(find_user(r, "#0"));   /* root's cron: the system's */
	assert_string_equal(json_get_str(json_get(r, "jupyterhub"), "state"), "ok");
	assert_string_equal(json_get_str(json_get(r, "gpu"), "state"), "ok");
	assert_string_equal(json_get_str(json_get(r, "azure"), "vm_name"), "vmss_3");
	assert_true(member_bool(json_get(r, "azure"), "pending"));
	ev = json_get(json_get(r, "azure"), "events")->child;
	assert_true(member_bool(ev, "this_vm"));
	assert_true(member_bool(ev, "notified"));
	assert_false(member_bool(ev, "approved"));   /* the user works */
	assert_true(json_get_int(ev, "deadline_s", &v) && v > 500 && v <= 600);
	json_free(d);
	/* The hub was asked with the token; kernels without tracking activity. */
	assert_true(fh_last(f, "GET", "/hub/api/users", head, sizeof(head), NULL, 0));
	assert_non_null(strstr(head, "\r\nAuthorization: token s3cret-token"));
	assert_true(fh_last(f, "GET", "/user/tester/api/kernels", head, sizeof(head),
	    NULL, 0));
	assert_non_null(strstr(head, "/user/tester/api/kernels?no_track_activity=1 "));
	assert_true(fh_last(f, "GET", "/metadata/scheduledevents", head, sizeof(head),
	    NULL, 0));
	assert_non_null(strstr(head, "\r\nMetadata: true"));
	assert_int_equal(fh_count(f, "POST", "/metadata/scheduledevents"), 0);
	/* The line says drain while the eviction is pending. */
	srv_line(lcfg, c, line, sizeof(line));
	assert_int_equal(strncmp(line, "75% drain up #azure Terminate not before ", 41), 0);
	/* The user was told on their terminal, once. */
	if (m != -1) {
		pfd.fd = m;
		pfd.events = POLLIN;
		while (poll(&pfd, 1, 500) == 1 &&
		    (n = read(m, got + have, sizeof(got) - 1 - have)) > 0)
			have += (size_t)n;
		got[have] = '\0';
		assert_non_null(strstr(got, "Azure has scheduled a Terminate of this VM "
		    "(vmss_3)"));
	}

	/* A second collection: no second notice, still not approved. */
	col_cycle(c);
	assert_int_equal(fh_count(f, "GET", "/metadata/instance/compute/name"), 1);
	assert_int_equal(fh_count(f, "POST", "/metadata/scheduledevents"), 0);
	if (m != -1) {
		/* (with the slave closed the master polls as hung up: read it) */
		fcntl(m, F_SETFL, O_NONBLOCK);
		usleep(100000);
		assert_true(read(m, got, sizeof(got)) <= 0);
	}

	/* ---- the user has gone: idle, approved ---------------------------- */
	snprintf(path, sizeof(path), "rm -rf %s/proc/100 %s/proc/101 %s/sessions/4",
	    dir, dir, dir);
	assert_int_equal(system(path), 0);
	routes[0].body = "[]";
	fh_set_routes(f, routes, 5);
	col_cycle(c);
	assert_int_equal(fh_count(f, "POST", "/metadata/scheduledevents"), 1);
	assert_true(fh_last(f, "POST", "/metadata/scheduledevents", head, sizeof(head),
	    body, sizeof(body)));
	assert_string_equal(body, "{\"StartRequests\":[{\"EventId\":\"ev-1\"}]}");
	assert_non_null(strstr(head, "\r\nMetadata: true"));
	d = report(c);
	r = json_root(d);
	assert_true(member_bool(r, "idle"));
	ev = json_get(json_get(r, "azure"), "events")->child;
	assert_true(member_bool(ev, "approved"));
	json_free(d);
	/* Approved once only. */
	col_cycle(c);
	assert_int_equal(fh_count(f, "POST", "/metadata/scheduledevents"), 1);

	/* The metadata service going away keeps the last answer. */
	fh_stop(f);
	col_cycle(c);
	d = report(c);
	r = json_root(d);
	assert_string_equal(json_get_str(json_get(r, "azure"), "state"), "error");
	assert_true(member_bool(json_get(r, "azure"), "pending"));
	assert_string_equal(json_get_str(json_get(r, "jupyterhub"), "state"), "error");
	json_free(d);

	col_free(c);
	acf_free(lcfg);
	if (m != -1)
		close(m);
	unsetenv("CREDENTIALS_DIRECTORY");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cycle),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
