/*
 * test_agent_procs.c -- the processes collector (agent/procs.c) against a
 * fake /proc tree written by the test: stat and status files, the CPU
 * accounting between two scans with an injected clock, the cap.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/procs.h"

static char root[64];

/* Write root/<pid>/stat and status: comm, uid, utime + stime, start. */
static void
proc(int pid, int ppid, const char *comm, unsigned uid, unsigned long ut,
    unsigned long st, unsigned long start, char state)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%d", root, pid);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%d/stat", root, pid);
	f = fopen(path, "w");
	/* fields 1..22 as the kernel writes them, then a few more */
	fprintf(f, "%d (%s) %c %d %d %d 34816 -1 4194560 100 0 0 0 %lu %lu 0 0 "
	    "20 -5 1 0 %lu 1000000 200 18446744073709551615\n",
	    pid, comm, state, ppid, pid, pid, ut, st, start);
	fclose(f);
	snprintf(path, sizeof(path), "%s/%d/status", root, pid);
	f = fopen(path, "w");
	fprintf(f, "Name:\t%s\nUmask:\t0022\nState:\t%c\nTgid:\t%d\nPPid:\t%d\n"
	    "Uid:\t%u\t%u\t%u\t%u\nGid:\t100\t100\t100\t100\n", comm, state, pid,
	    ppid, uid, uid + 1, uid, uid);
	fclose(f);
}

static int
setup(void **state)
{
	char path[256];

	(void)state;
	strcpy(root, "/tmp/agent-procs.XXXXXX");
	if (mkdtemp(root) == NULL)
		return -1;
	proc(1, 0, "systemd", 0, 50, 50, 1, 'S');
	proc(812, 1, "sshd", 0, 3, 1, 900, 'S');
	proc(1200, 1, "systemd", 1001, 10, 5, 5000, 'S');
	proc(1201, 1200, "(sd-pam)", 1001, 0, 0, 5001, 'S');
	proc(1300, 812, "python3 my job", 1001, 200, 100, 6000, 'R');
	proc(1301, 1300, "a) (b", 1002, 1, 1, 6100, 'S');
	proc(1302, 1300, "zombie", 1002, 0, 0, 6200, 'Z');
	/* Not processes: */
	snprintf(path, sizeof(path), "%s/self", root);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/loadavg", root);
	fclose(fopen(path, "w"));
	/* A process dir without files (it exited during the scan). */
	snprintf(path, sizeof(path), "%s/4242", root);
	mkdir(path, 0755);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", root);
	return system(cmd) == 0 ? 0 : -1;
}

static void
test_parse_stat(void **state)
{
	const char *s = "1301 (a) (b) S 1300 1301 1301 0 -1 4194560 1 0 0 0 7 3 0 0 "
	    "20 0 1 0 6100 1 2 3\n";
	struct ps_proc p;

	(void)state;
	assert_int_equal(ps_parse_stat(s, strlen(s), &p), 0);
	assert_int_equal(p.pid, 1301);
	assert_string_equal(p.comm, "a) (b");
	assert_int_equal(p.state, 'S');
	assert_int_equal(p.ppid, 1300);
	assert_int_equal(p.ticks, 10);
	assert_int_equal(p.start, 6100);
	/* negative nice and priority (field 18, 19) */
	s = "7 (rt) R 1 7 7 0 -1 0 0 0 0 0 1 2 0 0 -51 -20 1 0 99\n";
	assert_int_equal(ps_parse_stat(s, strlen(s), &p), 0);
	assert_int_equal(p.ticks, 3);
	assert_int_equal(p.start, 99);
	/* broken ones */
	assert_int_equal(ps_parse_stat("", 0, &p), -1);
	assert_int_equal(ps_parse_stat("12 x S 1", 8, &p), -1);
	s = "12 (x) S 1 2 3";
	assert_int_equal(ps_parse_stat(s, strlen(s), &p), -1);
	s = "12 (x S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22";
	assert_int_equal(ps_parse_stat(s, strlen(s), &p), -1);
	s = "0 (x) S 1 0 0 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 99\n";
	assert_int_equal(ps_parse_stat(s, strlen(s), &p), -1);
	s = "5 (x) S -1 0 0 0 -1 0 0 0 0 0 1 2 0 0 20 0 1 0 99\n";
	assert_int_equal(ps_parse_stat(s, strlen(s), &p), -1);
	s = "5 (x) S 1 0 0 0 -1 0 0 0 0 0 -1 2 0 0 20 0 1 0 99\n";
	assert_int_equal(ps_parse_stat(s, strlen(s), &p), -1);   /* utime < 0 */
	/* cut anywhere, by length: never read past it (found by the fuzzer) */
	s = "1301 (a) S 1300 1301 1301 34816 -1 4 1 ";
	assert_int_equal(ps_parse_stat(s, strlen(s), &p), -1);
	s = "1301 (a) S 1300 1301 1301 34816 -1 4 1 0 0 0 7 3 0 0 20 0 1 0 6100";
	assert_int_equal(ps_parse_stat(s, strlen(s), &p), 0);
	assert_int_equal(ps_parse_stat(s, strlen(s) - 5, &p), -1);
}

static void
test_parse_status(void **state)
{
	const char *s = "Name:\tbash\nUid:\t1001\t0\t0\t0\n";
	uint32_t uid = 0;

	(void)state;
	assert_int_equal(ps_parse_status_uid(s, strlen(s), &uid), 0);
	assert_int_equal(uid, 1001);    /* the real uid, not the effective */
	assert_int_equal(ps_parse_status_uid("Name:\tx\n", 8, &uid), -1);
	assert_int_equal(ps_parse_status_uid("Uid:\tx\n", 7, &uid), -1);
	assert_int_equal(ps_parse_status_uid("Uid:\t99999999999\n", 17, &uid), -1);
}

static void
test_scan(void **state)
{
	struct ps_proc *p;
	char err[128];
	size_t n;
	bool trunc;

	(void)state;
	p = ps_scan(root, 100, &n, &trunc, err, sizeof(err));
	assert_non_null(p);
	assert_false(trunc);
	assert_int_equal(n, 7);         /* 4242 had no files; self is no pid */
	assert_int_equal(p[0].pid, 1);  /* sorted */
	assert_int_equal(p[6].pid, 1302);
	assert_non_null(ps_find(p, n, 1300));
	assert_string_equal(ps_find(p, n, 1300)->comm, "python3 my job");
	assert_int_equal(ps_find(p, n, 1300)->uid, 1001);
	assert_int_equal(ps_find(p, n, 1300)->ticks, 300);
	assert_int_equal(ps_find(p, n, 1301)->uid, 1002);
	assert_null(ps_find(p, n, 4242));
	free(p);
	/* the cap */
	p = ps_scan(root, 3, &n, &trunc, err, sizeof(err));
	assert_non_null(p);
	assert_true(trunc);
	assert_int_equal(n, 3);
	free(p);
	assert_null(ps_scan("/nonexistent/proc", 10, &n, &trunc, err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/proc"));
}

static void
test_account(void **state)
{
	struct ps_memory mem = { 0 };
	struct ps_proc *p;
	char err[128];
	size_t n;
	bool trunc;

	(void)state;
	/* First scan: nothing known yet, every process "seen" now. */
	p = ps_scan(root, 100, &n, &trunc, err, sizeof(err));
	assert_int_equal(ps_account(&mem, p, n, 10000, 100), 0);
	assert_false(ps_find(p, n, 1300)->cpu_known);
	assert_int_equal(ps_find(p, n, 1300)->cpu_ms, 0);
	assert_int_equal(ps_find(p, n, 1300)->last_cpu_ms, 10000);
	free(p);

	/* 5 s later: 1300 used 50 ticks (500 ms), 1301 none; 1400 is new. */
	proc(1300, 812, "python3 my job", 1001, 240, 110, 6000, 'R');
	proc(1400, 1300, "new", 1001, 3, 0, 9000, 'S');
	p = ps_scan(root, 100, &n, &trunc, err, sizeof(err));
	assert_int_equal(ps_account(&mem, p, n, 15000, 100), 0);
	assert_true(ps_find(p, n, 1300)->cpu_known);
	assert_int_equal(ps_find(p, n, 1300)->cpu_ms, 500);
	assert_int_equal(ps_find(p, n, 1300)->last_cpu_ms, 15000);
	assert_int_equal(ps_find(p, n, 1301)->cpu_ms, 0);
	assert_int_equal(ps_find(p, n, 1301)->last_cpu_ms, 10000);  /* idle since */
	assert_true(ps_find(p, n, 1400)->cpu_known);
	assert_int_equal(ps_find(p, n, 1400)->cpu_ms, 30);   /* all of it: new */
	free(p);

	/* A reused pid (another start time) counts as new. */
	proc(1301, 1300, "other", 1002, 2, 0, 9999, 'S');
	p = ps_scan(root, 100, &n, &trunc, err, sizeof(err));
	assert_int_equal(ps_account(&mem, p, n, 20000, 100), 0);
	assert_int_equal(ps_find(p, n, 1301)->cpu_ms, 20);
	assert_int_equal(ps_find(p, n, 1301)->last_cpu_ms, 20000);
	assert_int_equal(ps_find(p, n, 1300)->cpu_ms, 0);
	assert_int_equal(ps_find(p, n, 1300)->last_cpu_ms, 15000);
	free(p);
	ps_memory_free(&mem);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_stat),
		cmocka_unit_test(test_parse_status),
		cmocka_unit_test(test_scan),
		cmocka_unit_test(test_account),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
