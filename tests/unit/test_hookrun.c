/*
 * test_hookrun.c -- the hook runner with a real event loop and real /bin/sh
 * scripts: argv and environment, output lines and their caps, the timeout
 * killing the whole process group, one run per (event, backend) with a
 * coalesced rerun, the global cap, exit statuses, spawn errors, rejected
 * requests, hr_free() killing what runs, and no zombie or descriptor left
 * behind.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <dirent.h>
#include <event2/event.h>

#include "backends/hooks.h"
#include "backends/hookrun.h"
#include "lib/log.h"

#define MAX_LINES   2048
#define MAX_RESULTS 64

struct fx {
	int                nfds;            /* open descriptors before the test */
	char               dir[64];
	struct event_base *base;
	struct hookrun    *hr;
	char              *lines[MAX_LINES];
	char               line_owner[MAX_LINES][96];  /* "event backend" */
	size_t             nlines;
	struct hr_result   res[MAX_RESULTS];
	size_t             nres;
};

static void
line_cb(const char *event, const char *backend, const char *line, void *arg)
{
	struct fx *f = arg;

	assert_true(f->nlines < MAX_LINES);
	snprintf(f->line_owner[f->nlines], sizeof(f->line_owner[0]), "%s %s",
	    event, backend);
	f->lines[f->nlines] = strdup(line);
	assert_non_null(f->lines[f->nlines]);
	f->nlines++;
}

static void
done_cb(const struct hr_result *r, void *arg)
{
	struct fx *f = arg;

	assert_true(f->nres < MAX_RESULTS);
	f->res[f->nres++] = *r;
}

static int
count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while (readdir(d) != NULL)
		n++;
	closedir(d);
	return n;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->nfds = count_fds();
	strcpy(f->dir, "/tmp/test_hookrun.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->base = event_base_new();
	assert_non_null(f->base);
	f->hr = hr_new(f->base);
	assert_non_null(f->hr);
	hr_set_line_cb(f->hr, line_cb, f);
	hr_set_done_cb(f->hr, done_cb, f);
	pg_log_set_level(PG_LOG_ERR);
	*state = f;
	return 0;
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	size_t i;
	pid_t r;
	int err, nfds, want_fds = f->nfds;

	hr_free(f->hr);
	event_base_free(f->base);
	r = waitpid(-1, NULL, WNOHANG);
	err = errno;
	nfds = count_fds();
	for (i = 0; i < f->nlines; i++)
		free(f->lines[i]);
	nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	/* No child of ours is left, not even a zombie. */
	assert_int_equal(r, -1);
	assert_int_equal(err, ECHILD);
	/* Every pipe closed. */
	assert_int_equal(nfds, want_fds);
	return 0;
}

/* Write an executable script `name` in the test directory; returns its path. */
static const char *
script(struct fx *f, const char *name, const char *body)
{
	static char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fprintf(fp, "#!/bin/sh\n%s", body);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(path, 0755), 0);
	return path;
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
}

/* Run the loop until `n` runs have finished; fail after `ms`. */
static void
wait_results(struct fx *f, size_t n, uint64_t ms)
{
	struct timeval tv = { 0, 20000 };
	struct event *tick = event_new(f->base, -1, EV_PERSIST, tick_cb, NULL);
	uint64_t deadline = pg_now_ms() + ms;

	assert_non_null(tick);
	event_add(tick, &tv);
	while (f->nres < n && pg_now_ms() < deadline)
		event_base_loop(f->base, EVLOOP_ONCE);
	event_free(tick);
	assert_int_equal(f->nres, n);
}

/* Run the loop for about `ms`. */
static void
spin(struct fx *f, uint64_t ms)
{
	uint64_t deadline = pg_now_ms() + ms;
	struct timeval tv = { 0, 20000 };
	struct event *tick = event_new(f->base, -1, EV_PERSIST, tick_cb, NULL);

	assert_non_null(tick);
	event_add(tick, &tv);
	while (pg_now_ms() < deadline)
		event_base_loop(f->base, EVLOOP_ONCE);
	event_free(tick);
}

static char *
slurp(struct fx *f, const char *name)
{
	static char buf[8192];
	char path[256];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return NULL;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	assert_true(n >= 0);
	buf[n] = '\0';
	return buf;
}

static pid_t
read_pid(struct fx *f, const char *name)
{
	char *s = slurp(f, name);

	assert_non_null(s);
	return (pid_t)atol(s);
}

/* Alive and not a zombie waiting for its new parent to reap it. */
static bool
alive(pid_t pid)
{
	char path[64], buf[256], *p;
	FILE *fp;

	if (kill(pid, 0) < 0)
		return false;
	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((fp = fopen(path, "r")) == NULL)
		return false;
	p = fgets(buf, sizeof(buf), fp);
	fclose(fp);
	if (p == NULL || (p = strrchr(buf, ')')) == NULL)
		return false;
	return p[2] != 'Z';
}

static bool
gone_within(pid_t pid, int ms)
{
	for (; ms > 0; ms -= 10) {
		if (!alive(pid))
			return true;
		usleep(10000);
	}
	return !alive(pid);
}

/*
 * The SigIgn and SigBlk lines of a hook's /proc/PID/status: nothing blocked,
 * nothing ignored. glibc's posix_spawn leaves its two internal signals
 * (32 and 33, below SIGRTMIN, never used by programs) ignored; they are
 * not the daemon's to hand down.
 */
static void
check_signals(const char *status)
{
	unsigned long long ign = ~0ull, blk = ~0ull, internal = 0;
	const char *p;
	int sig;

	assert_non_null(status);
	assert_non_null(p = strstr(status, "SigIgn:"));
	ign = strtoull(p + 7, NULL, 16);
	assert_non_null(p = strstr(status, "SigBlk:"));
	blk = strtoull(p + 7, NULL, 16);
	for (sig = 32; sig < SIGRTMIN; sig++)
		internal |= 1ull << (sig - 1);
	assert_int_equal(blk, 0);
	assert_int_equal(ign & ~internal, 0);
}

static void
test_argv_and_env(void **state)
{
	struct fx *f = *state;
	struct hk_emit e;
	struct hk_env env;
	const char *cmd;
	char want[2048];
	void (*old)(int);

	cmd = script(f, "hook",
	    "out=\"$(dirname \"$0\")/out.txt\"\n"
	    "{\n"
	    "  printf 'argv0=%s\\n' \"$0\"\n"
	    "  printf 'argc=%s\\n' \"$#\"\n"
	    "  printf 'arg1=%s\\n' \"$1\"\n"
	    "  printf 'arg2=%s\\n' \"$2\"\n"
	    "  env | grep '^POOLGATE_' | sort\n"
	    "  printf 'PATH=%s\\n' \"$PATH\"\n"
	    "  printf 'secret=%s\\n' \"${HR_TEST_SECRET-unset}\"\n"
	    "  printf 'stdin=%s\\n' \"$(wc -c)\"\n"
	    "  pgid=$(cut -d' ' -f5 /proc/$$/stat)\n"
	    "  [ \"$pgid\" = \"$$\" ] && echo own-group || echo \"pgid $pgid pid $$\"\n"
	    "} > \"$out\"\n"
	    "grep -E '^Sig(Ign|Blk)' /proc/self/status > \"$out.sig\"\n");
	assert_int_equal(hr_configure(f->hr, cmd, 5000), 0);

	/* The daemon's own environment and ignored SIGPIPE must not leak. */
	setenv("HR_TEST_SECRET", "leak", 1);
	setenv("PATH", "/usr/bin:/bin", 1);
	old = signal(SIGPIPE, SIG_IGN);

	memset(&e, 0, sizeof(e));
	e.event = HK_VM_BUSY;
	strcpy(e.backend, "vm1");
	strcpy(e.address, "10.0.0.4");
	e.sessions = 1;
	e.pool.pool_sessions = 7;
	e.pool.free_slots = 13;
	e.pool.up_count = 3;
	hk_env(&e, &env);
	assert_int_equal(hr_run(f->hr, "vm_busy", "vm1", env.v), HR_STARTED);
	/* The environment was copied: the caller's memory may go. */
	memset(&env, 0, sizeof(env));
	signal(SIGPIPE, old);
	unsetenv("HR_TEST_SECRET");

	wait_results(f, 1, 5000);
	assert_int_equal(f->res[0].outcome, HR_OK);
	assert_int_equal(f->res[0].status, 0);
	assert_string_equal(f->res[0].event, "vm_busy");
	assert_string_equal(f->res[0].backend, "vm1");

	snprintf(want, sizeof(want),
	    "argv0=%s\n"
	    "argc=2\n"
	    "arg1=vm_busy\n"
	    "arg2=vm1\n"
	    "POOLGATE_ADDRESS=10.0.0.4\n"
	    "POOLGATE_BACKEND=vm1\n"
	    "POOLGATE_EVENT=vm_busy\n"
	    "POOLGATE_EVICTION=\n"
	    "POOLGATE_FREE_SLOTS=13\n"
	    "POOLGATE_POOL_SESSIONS=7\n"
	    "POOLGATE_SERVICE=\n"
	    "POOLGATE_SESSIONS=1\n"
	    "POOLGATE_UP_COUNT=3\n"
	    "PATH=/usr/bin:/bin\n"
	    "secret=unset\n"
	    "stdin=0\n"
	    "own-group\n", cmd);
	assert_string_equal(slurp(f, "out.txt"), want);
	check_signals(slurp(f, "out.txt.sig"));
}

static void
test_pool_event_argv(void **state)
{
	struct fx *f = *state;
	const char *cmd;
	const char *env[] = { "PATH=/nonexistent", "POOLGATE_EVENT=capacity_low",
	    NULL };

	/* A pool event has an empty backend argument; a PATH given wins. */
	cmd = script(f, "hook", "echo \"[$#] [$1] [$2] [$PATH]\"\n");
	assert_int_equal(hr_configure(f->hr, cmd, 5000), 0);
	assert_int_equal(hr_run(f->hr, "capacity_low", NULL, env), HR_STARTED);
	wait_results(f, 1, 5000);
	assert_int_equal(f->nlines, 1);
	assert_string_equal(f->lines[0], "[2] [capacity_low] [] [/nonexistent]");
	assert_string_equal(f->line_owner[0], "capacity_low ");
	assert_string_equal(f->res[0].backend, "");
}

static void
test_output_lines(void **state)
{
	struct fx *f = *state;
	const char *cmd;
	char longline[HR_LINE_MAX + 1];

	cmd = script(f, "hook",
	    "printf 'hello\\n'\n"
	    "printf 'caf\\303\\251\\n'\n"
	    "printf 'esc\\033[31mred\\n'\n"
	    "printf 'crlf\\r\\n'\n"
	    "printf 'mid\\rcr\\n'\n"
	    "printf 'tab\\there\\n'\n"
	    "echo to-stderr >&2\n"
	    "head -c 600 /dev/zero | tr '\\0' x; printf '\\n'\n"
	    "printf '\\n'\n"
	    "printf 'after\\n'\n"
	    "printf 'last-no-newline'\n");
	assert_int_equal(hr_configure(f->hr, cmd, 5000), 0);
	assert_int_equal(hr_run(f->hr, "vm_up", "vm2", NULL), HR_STARTED);
	wait_results(f, 1, 5000);

	memset(longline, 'x', HR_LINE_MAX);
	longline[HR_LINE_MAX] = '\0';
	assert_int_equal(f->nlines, 11);
	assert_string_equal(f->lines[0], "hello");
	assert_string_equal(f->lines[1], "caf\303\251");
	assert_string_equal(f->lines[2], "esc?[31mred");
	assert_string_equal(f->lines[3], "crlf");
	assert_string_equal(f->lines[4], "mid?cr");
	assert_string_equal(f->lines[5], "tab\there");
	assert_string_equal(f->lines[6], "to-stderr");
	assert_string_equal(f->lines[7], longline);   /* cut, rest dropped */
	assert_string_equal(f->lines[8], "");
	assert_string_equal(f->lines[9], "after");
	assert_string_equal(f->lines[10], "last-no-newline");
	assert_string_equal(f->line_owner[0], "vm_up vm2");
	assert_int_equal(f->res[0].output_dropped, 0);
}

static void
test_output_cap(void **state)
{
	struct fx *f = *state;
	const char *cmd;
	size_t i, total = 0;

	/* 1000 lines of 100 bytes: 100000 bytes, past the 64 KiB cap. */
	cmd = script(f, "hook",
	    "i=0\n"
	    "while [ $i -lt 1000 ]; do printf '%099d\\n' $i; i=$((i+1)); done\n");
	assert_int_equal(hr_configure(f->hr, cmd, 5000), 0);
	assert_int_equal(hr_run(f->hr, "vm_up", "vm1", NULL), HR_STARTED);
	wait_results(f, 1, 5000);
	/* It still ran to a clean end: the rest was read, not left blocking. */
	assert_int_equal(f->res[0].outcome, HR_OK);
	assert_int_equal(f->nlines, HR_OUTPUT_MAX / 100 + 1);
	for (i = 0; i < f->nlines; i++)
		total += strlen(f->lines[i]) + 1;
	assert_int_equal(total, HR_OUTPUT_MAX + 1);   /* the cut line had no \n */
	/* Line 655 cut where the cap fell: its first 36 bytes, all zeros. */
	assert_int_equal(HR_OUTPUT_MAX % 100, 36);
	assert_string_equal(f->lines[f->nlines - 1],
	    "000000000000000000000000000000000000");
	assert_int_equal(f->res[0].output_dropped, 100000 - HR_OUTPUT_MAX);
}

static void
check_timeout(struct fx *f, const char *body, int want_status)
{
	const char *cmd;
	pid_t sh, child;
	uint64_t t0;

	cmd = script(f, "hook", body);
	assert_int_equal(hr_configure(f->hr, cmd, 300), 0);
	t0 = pg_now_ms();
	assert_int_equal(hr_run(f->hr, "vm_idle", "vm1", NULL), HR_STARTED);
	wait_results(f, 1, 10000);
	assert_int_equal(f->res[0].outcome, HR_TIMEOUT);
	assert_int_equal(f->res[0].status, want_status);
	/*
	 * Reported only once the SIGKILL grace has passed (give or take the
	 * loop's cached clock, a few ms).
	 */
	assert_true(pg_now_ms() - t0 >= 300 + HR_KILL_GRACE_MS - 20);
	assert_true(pg_now_ms() - t0 < 300 + HR_KILL_GRACE_MS + 2000);
	assert_int_equal(hr_count(f->hr, "vm_idle", HR_TIMEOUT), 1);

	sh = read_pid(f, "self.pid");
	child = read_pid(f, "child.pid");
	assert_true(sh > 0 && child > 0 && sh != child);
	/* The script and the child it left in the background are both gone. */
	assert_true(gone_within(sh, 2000));
	assert_true(gone_within(child, 2000));
}

static void
test_timeout_kills_group(void **state)
{
	check_timeout(*state,
	    "dir=$(dirname \"$0\")\n"
	    "sleep 100 &\n"
	    "echo $! > \"$dir/child.pid\"\n"
	    "echo $$ > \"$dir/self.pid\"\n"
	    "wait\n", -SIGTERM);
}

static void
test_timeout_sigkill(void **state)
{
	/* TERM ignored by the script and its child: SIGKILL after the grace. */
	check_timeout(*state,
	    "trap '' TERM\n"
	    "dir=$(dirname \"$0\")\n"
	    "sleep 100 &\n"
	    "echo $! > \"$dir/child.pid\"\n"
	    "echo $$ > \"$dir/self.pid\"\n"
	    "wait\n", -SIGKILL);
}

static void
test_one_run_per_key(void **state)
{
	struct fx *f = *state;
	const char *cmd;
	const char *e1[] = { "N=1", NULL }, *e2[] = { "N=2", NULL },
	    *e3[] = { "N=3", NULL };
	char *log;

	cmd = script(f, "hook",
	    "log=\"$(dirname \"$0\")/$1-$2.log\"\n"
	    "echo \"start $N\" >> \"$log\"\n"
	    "sleep 0.3\n"
	    "echo \"end $N\" >> \"$log\"\n");
	assert_int_equal(hr_configure(f->hr, cmd, 5000), 0);
	assert_int_equal(hr_run(f->hr, "vm_busy", "vm1", e1), HR_STARTED);
	/* The same key while it runs: folded into one rerun with the last env. */
	assert_int_equal(hr_run(f->hr, "vm_busy", "vm1", e2), HR_COALESCED);
	assert_int_equal(hr_run(f->hr, "vm_busy", "vm1", e3), HR_COALESCED);
	/* Another VM, or another event of the same VM, runs alongside. */
	assert_int_equal(hr_run(f->hr, "vm_busy", "vm2", e1), HR_STARTED);
	assert_int_equal(hr_run(f->hr, "vm_idle", "vm1", e1), HR_STARTED);
	assert_int_equal(hr_running(f->hr), 3);
	assert_int_equal(hr_coalesced(f->hr), 2);

	wait_results(f, 4, 5000);
	assert_int_equal(hr_count(f->hr, "vm_busy", HR_OK), 3);
	assert_int_equal(hr_count(f->hr, "vm_idle", HR_OK), 1);
	assert_int_equal(hr_running(f->hr), 0);
	/* vm1's runs never overlapped, and the rerun saw the newest request. */
	log = slurp(f, "vm_busy-vm1.log");
	assert_non_null(log);
	assert_string_equal(log, "start 1\nend 1\nstart 3\nend 3\n");
	log = slurp(f, "vm_busy-vm2.log");
	assert_non_null(log);
	assert_string_equal(log, "start 1\nend 1\n");
	log = slurp(f, "vm_idle-vm1.log");
	assert_non_null(log);
	assert_string_equal(log, "start 1\nend 1\n");
	spin(f, 400);
	assert_int_equal(f->nres, 4);
}

static void
test_waiting_coalesced(void **state)
{
	struct fx *f = *state;
	const char *cmd;
	const char *e1[] = { "N=1", NULL }, *e2[] = { "N=2", NULL };
	char name[16];
	int i;

	cmd = script(f, "hook",
	    "echo \"$2 $N\" >> \"$(dirname \"$0\")/runs.log\"\n"
	    "sleep 0.2\n");
	assert_int_equal(hr_configure(f->hr, cmd, 5000), 0);
	for (i = 0; i < HR_MAX_RUNNING; i++) {
		snprintf(name, sizeof(name), "vm%d", i);
		assert_int_equal(hr_run(f->hr, "vm_up", name, e1), HR_STARTED);
	}
	/* Past the cap keys wait their turn; a repeat only updates the env. */
	assert_int_equal(hr_run(f->hr, "vm_up", "late", e1), HR_WAITING);
	assert_int_equal(hr_run(f->hr, "vm_up", "later", e1), HR_WAITING);
	assert_int_equal(hr_run(f->hr, "vm_up", "late", e2), HR_COALESCED);
	assert_int_equal(hr_running(f->hr), HR_MAX_RUNNING);
	assert_int_equal(hr_waiting(f->hr), 2);
	wait_results(f, HR_MAX_RUNNING + 2, 5000);
	assert_int_equal(hr_waiting(f->hr), 0);
	assert_int_equal(hr_count(f->hr, "vm_up", HR_OK), HR_MAX_RUNNING + 2);
	/* Once each, after the first ones (they end in any order). */
	assert_true(strcmp(f->res[HR_MAX_RUNNING].backend, "late") == 0 ||
	    strcmp(f->res[HR_MAX_RUNNING].backend, "later") == 0);
	assert_true(strcmp(f->res[HR_MAX_RUNNING + 1].backend, "late") == 0 ||
	    strcmp(f->res[HR_MAX_RUNNING + 1].backend, "later") == 0);
	assert_string_not_equal(f->res[HR_MAX_RUNNING].backend,
	    f->res[HR_MAX_RUNNING + 1].backend);
	assert_non_null(strstr(slurp(f, "runs.log"), "late 2\n"));
	assert_null(strstr(slurp(f, "runs.log"), "late 1\n"));
}

static void
test_exit_status(void **state)
{
	struct fx *f = *state;
	struct hr_result recent[HR_RECENT];
	const char *cmd;

	cmd = script(f, "hook",
	    "case $2 in\n"
	    "ok) exit 0 ;;\n"
	    "three) exit 3 ;;\n"
	    "sig) kill -USR1 $$; sleep 1 ;;\n"
	    "esac\n");
	assert_int_equal(hr_configure(f->hr, cmd, 5000), 0);
	assert_int_equal(hr_run(f->hr, "vm_down", "ok", NULL), HR_STARTED);
	wait_results(f, 1, 5000);
	assert_int_equal(hr_run(f->hr, "vm_down", "three", NULL), HR_STARTED);
	wait_results(f, 2, 5000);
	assert_int_equal(hr_run(f->hr, "vm_down", "sig", NULL), HR_STARTED);
	wait_results(f, 3, 5000);

	assert_int_equal(f->res[0].outcome, HR_OK);
	assert_int_equal(f->res[0].status, 0);
	assert_int_equal(f->res[1].outcome, HR_FAILED);
	assert_int_equal(f->res[1].status, 3);
	assert_int_equal(f->res[2].outcome, HR_FAILED);
	assert_int_equal(f->res[2].status, -SIGUSR1);
	assert_true(f->res[2].started > 0);
	assert_true(f->res[2].duration_ms < 1000);

	assert_int_equal(hr_count(f->hr, "vm_down", HR_OK), 1);
	assert_int_equal(hr_count(f->hr, "vm_down", HR_FAILED), 2);
	assert_int_equal(hr_count(f->hr, "vm_down", HR_TIMEOUT), 0);
	assert_int_equal(hr_count(f->hr, "vm_up", HR_OK), 0);
	assert_string_equal(hr_event_at(f->hr, 0), "vm_down");
	assert_null(hr_event_at(f->hr, 1));

	/* Newest first. */
	assert_int_equal(hr_recent(f->hr, recent, HR_RECENT), 3);
	assert_string_equal(recent[0].backend, "sig");
	assert_string_equal(recent[1].backend, "three");
	assert_string_equal(recent[2].backend, "ok");
	assert_int_equal(hr_recent(f->hr, recent, 1), 1);
	assert_string_equal(recent[0].backend, "sig");
	assert_string_equal(hr_outcome_name(HR_SPAWN_ERROR), "spawn_error");
}

static void
test_recent_ring(void **state)
{
	struct fx *f = *state;
	struct hr_result recent[HR_RECENT];
	const char *cmd;
	char name[16];
	int i;

	cmd = script(f, "hook", "exit 0\n");
	assert_int_equal(hr_configure(f->hr, cmd, 5000), 0);
	for (i = 0; i < HR_RECENT + 5; i++) {
		snprintf(name, sizeof(name), "vm%d", i);
		assert_int_equal(hr_run(f->hr, "vm_up", name, NULL), HR_STARTED);
		wait_results(f, (size_t)i + 1, 5000);
	}
	assert_int_equal(hr_recent(f->hr, recent, HR_RECENT), HR_RECENT);
	snprintf(name, sizeof(name), "vm%d", HR_RECENT + 4);
	assert_string_equal(recent[0].backend, name);
	assert_string_equal(recent[HR_RECENT - 1].backend, "vm5");
}

static void
test_spawn_error(void **state)
{
	struct fx *f = *state;
	char path[256];
	const char *cmd;

	snprintf(path, sizeof(path), "%s/missing", f->dir);
	assert_int_equal(hr_configure(f->hr, path, 5000), 0);
	assert_int_equal(hr_run(f->hr, "vm_busy", "vm1", NULL), HR_NOT_STARTED);
	assert_int_equal(f->nres, 1);
	assert_int_equal(f->res[0].outcome, HR_SPAWN_ERROR);
	assert_int_equal(f->res[0].status, -1);
	assert_int_equal(hr_running(f->hr), 0);

	/* Not executable. */
	cmd = script(f, "noexec", "exit 0\n");
	assert_int_equal(chmod(cmd, 0644), 0);
	assert_int_equal(hr_configure(f->hr, cmd, 5000), 0);
	assert_int_equal(hr_run(f->hr, "vm_busy", "vm1", NULL), HR_NOT_STARTED);
	assert_int_equal(hr_count(f->hr, "vm_busy", HR_SPAWN_ERROR), 2);

	/* The key is free again: a good command runs. */
	cmd = script(f, "hook", "exit 0\n");
	assert_int_equal(hr_configure(f->hr, cmd, 5000), 0);
	assert_int_equal(hr_run(f->hr, "vm_busy", "vm1", NULL), HR_STARTED);
	wait_results(f, 3, 5000);
	assert_int_equal(f->res[2].outcome, HR_OK);
}

static void
test_rejected(void **state)
{
	struct fx *f = *state;
	const char *cmd;
	const char *noeq[] = { "POOLGATE_EVENT", NULL };
	const char *emptykey[] = { "=x", NULL };
	const char *many[HR_MAX_ENV + 2];
	char big[HR_ENV_MAX + 2];
	const char *bigenv[] = { big, NULL };
	char longname[CFG_NAME_MAX + 2];
	int i;

	/* No command yet. */
	assert_int_equal(hr_run(f->hr, "vm_busy", "vm1", NULL), HR_REJECTED);
	assert_int_equal(hr_configure(f->hr, "relative/hook", 1000), -1);
	cmd = script(f, "hook", "exit 0\n");
	assert_int_equal(hr_configure(f->hr, cmd, 0), -1);
	assert_int_equal(hr_run(f->hr, "vm_busy", "vm1", NULL), HR_REJECTED);
	assert_int_equal(hr_configure(f->hr, cmd, 1000), 0);

	assert_int_equal(hr_run(f->hr, "", "vm1", NULL), HR_REJECTED);
	assert_int_equal(hr_run(f->hr, NULL, "vm1", NULL), HR_REJECTED);
	assert_int_equal(hr_run(f->hr, "Vm busy", "vm1", NULL), HR_REJECTED);
	assert_int_equal(hr_run(f->hr, "vm_busy_and_a_name_of_32_bytes__",
	    "vm1", NULL), HR_REJECTED);
	assert_int_equal(hr_run(f->hr, "vm_busy", "vm 1", NULL), HR_REJECTED);
	assert_int_equal(hr_run(f->hr, "vm_busy", "vm1;rm", NULL), HR_REJECTED);
	memset(longname, 'v', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(hr_run(f->hr, "vm_busy", longname, NULL), HR_REJECTED);
	assert_int_equal(hr_run(f->hr, "vm_busy", "vm1", noeq), HR_REJECTED);
	assert_int_equal(hr_run(f->hr, "vm_busy", "vm1", emptykey), HR_REJECTED);
	memset(big, 'x', sizeof(big) - 1);
	big[0] = 'K';
	big[1] = '=';
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(hr_run(f->hr, "vm_busy", "vm1", bigenv), HR_REJECTED);
	for (i = 0; i < HR_MAX_ENV + 1; i++)
		many[i] = "K=V";
	many[HR_MAX_ENV + 1] = NULL;
	assert_int_equal(hr_run(f->hr, "vm_busy", "vm1", many), HR_REJECTED);
	assert_int_equal(hr_rejected(f->hr), 13);
	many[HR_MAX_ENV] = NULL;            /* exactly the cap is fine */
	big[sizeof(big) - 2] = '\0';
	assert_int_equal(hr_run(f->hr, "vm_busy", "vm1", many), HR_STARTED);
	assert_int_equal(hr_run(f->hr, "vm_busy", "vm2", bigenv), HR_STARTED);

	/* Too many distinct event names for the counters. */
	for (i = 1; i < HR_MAX_EVENTS; i++) {
		char ev[16];

		snprintf(ev, sizeof(ev), "ev%d", i);
		enum hr_submit r = hr_run(f->hr, ev, "vm1", NULL);

		assert_true(r == HR_STARTED || r == HR_WAITING);
	}
	assert_int_equal(hr_run(f->hr, "one_too_many", "vm1", NULL),
	    HR_REJECTED);
	assert_int_equal(hr_rejected(f->hr), 14);
	wait_results(f, 2 + HR_MAX_EVENTS - 1, 5000);
	assert_int_equal(f->nlines, 0);
}

static void
test_max_jobs(void **state)
{
	struct fx *f = *state;
	const char *cmd;
	char name[16];
	int i;

	cmd = script(f, "hook", "exit 0\n");
	assert_int_equal(hr_configure(f->hr, cmd, 5000), 0);
	for (i = 0; i < HR_MAX_JOBS; i++) {
		snprintf(name, sizeof(name), "vm%d", i);
		assert_int_equal(hr_run(f->hr, "vm_up", name, NULL),
		    i < HR_MAX_RUNNING ? HR_STARTED : HR_WAITING);
	}
	assert_int_equal(hr_run(f->hr, "vm_up", "one_more", NULL), HR_REJECTED);
	assert_int_equal(hr_waiting(f->hr), HR_MAX_JOBS - HR_MAX_RUNNING);
	/* Switching hooks off drops what waits; what runs finishes. */
	assert_int_equal(hr_configure(f->hr, NULL, 0), 0);
	assert_int_equal(hr_waiting(f->hr), 0);
	assert_int_equal(hr_rejected(f->hr), 1 + HR_MAX_JOBS - HR_MAX_RUNNING);
	wait_results(f, HR_MAX_RUNNING, 5000);
	spin(f, 200);
	assert_int_equal(f->nres, HR_MAX_RUNNING);
}

static void
test_free_kills_running(void **state)
{
	struct fx *f = *state;
	const char *cmd;
	pid_t sh, child;
	int i;

	cmd = script(f, "hook",
	    "dir=$(dirname \"$0\")\n"
	    "sleep 100 &\n"
	    "echo $! > \"$dir/child.pid\"\n"
	    "echo $$ > \"$dir/self.tmp\"\n"
	    "mv \"$dir/self.tmp\" \"$dir/self.pid\"\n"
	    "wait\n");
	assert_int_equal(hr_configure(f->hr, cmd, 60000), 0);
	assert_int_equal(hr_run(f->hr, "vm_busy", "vm1", NULL), HR_STARTED);
	for (i = 0; i < 200 && slurp(f, "self.pid") == NULL; i++)
		spin(f, 10);
	sh = read_pid(f, "self.pid");
	child = read_pid(f, "child.pid");
	assert_true(alive(sh));
	assert_true(alive(child));
	hr_free(f->hr);
	f->hr = NULL;
	assert_false(alive(sh));            /* reaped by hr_free */
	assert_true(gone_within(child, 2000));
	assert_int_equal(f->nres, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_argv_and_env, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pool_event_argv, setup, teardown),
		cmocka_unit_test_setup_teardown(test_output_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_output_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_kills_group, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeout_sigkill, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_run_per_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_waiting_coalesced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exit_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_recent_ring, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spawn_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rejected, setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_jobs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_kills_running, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
