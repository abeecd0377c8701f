/*
 * test_log.c -- where log lines go: with JOURNAL_STREAM naming stderr, text
 * lines carry the syslog priority ("<3>" for an error) and no timestamp of
 * their own; JOURNAL_STREAM naming another stream (a child whose stderr was
 * redirected) changes nothing; JSON lines are the same either way.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lib/log.h"

/* stderr replaced by a temporary file; the real one kept to put back */
struct fx {
	int  saved;
	int  fd;
	char path[64];
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->path, sizeof(f->path), "/tmp/pg-test-log.XXXXXX");
	f->fd = mkstemp(f->path);
	assert_true(f->fd >= 0);
	fflush(stderr);
	f->saved = dup(STDERR_FILENO);
	assert_true(f->saved >= 0);
	assert_int_equal(dup2(f->fd, STDERR_FILENO), STDERR_FILENO);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	fflush(stderr);
	dup2(f->saved, STDERR_FILENO);
	close(f->saved);
	close(f->fd);
	unlink(f->path);
	unsetenv("JOURNAL_STREAM");
	pg_log_configure(false, 0, false);
	free(f);
	return 0;
}

/* Point JOURNAL_STREAM at fd's stream (or at another inode when !same). */
static void
set_stream(int fd, bool same)
{
	struct stat st;
	char v[64];

	assert_int_equal(fstat(fd, &st), 0);
	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)st.st_dev,
	    (unsigned long long)st.st_ino + (same ? 0 : 1));
	setenv("JOURNAL_STREAM", v, 1);
}

/* Everything written to the stand-in stderr so far. */
static void
read_back(struct fx *f, char *buf, size_t len)
{
	ssize_t n;

	fflush(stderr);
	n = pread(f->fd, buf, len - 1, 0);
	assert_true(n >= 0);
	buf[n] = '\0';
}

static void
test_journal_priorities(void **state)
{
	struct fx *f = *state;
	char out[1024];

	set_stream(STDERR_FILENO, true);
	pg_log_configure(false, 0, false);
	log_err("cannot bind %s", "0.0.0.0:22");
	log_warn("a warning");
	log_info("an info line");
	read_back(f, out, sizeof(out));
	assert_string_equal(out,
	    "<3>ERROR cannot bind 0.0.0.0:22\n"
	    "<4>WARN a warning\n"
	    "<6>INFO an info line\n");
}

static void
test_journal_event(void **state)
{
	struct fx *f = *state;
	struct pg_kv kv[] = { KV_S("vm", "vm1"), KV_N("sessions", 3) };
	char out[1024];

	set_stream(STDERR_FILENO, true);
	pg_log_configure(false, 0, false);
	pg_log_event(PG_LOG_ERR, "backend_down", kv, 2);
	read_back(f, out, sizeof(out));
	assert_string_equal(out, "<3>ERROR backend_down vm=vm1 sessions=3\n");
}

static void
test_other_stream_keeps_timestamp(void **state)
{
	struct fx *f = *state;
	char out[1024];

	set_stream(STDERR_FILENO, false);
	pg_log_configure(false, 0, false);
	log_err("boom");
	read_back(f, out, sizeof(out));
	/* "2026-11-27T12:34:56.789Z ERROR boom" */
	assert_int_equal(strlen(out), 24 + strlen(" ERROR boom\n"));
	assert_int_equal(out[4], '-');
	assert_int_equal(out[23], 'Z');
	assert_string_equal(out + 24, " ERROR boom\n");
}

static void
test_malformed_stream_keeps_timestamp(void **state)
{
	struct fx *f = *state;
	char out[1024];

	setenv("JOURNAL_STREAM", "12:34x", 1);
	pg_log_configure(false, 0, false);
	log_err("boom");
	read_back(f, out, sizeof(out));
	assert_int_not_equal(out[0], '<');
	assert_string_equal(out + 24, " ERROR boom\n");
}

static void
test_json_unchanged(void **state)
{
	struct fx *f = *state;
	char out[1024];

	set_stream(STDERR_FILENO, true);
	pg_log_configure(false, 0, true);
	log_err("boom");
	read_back(f, out, sizeof(out));
	assert_memory_equal(out, "{\"time\":\"", 9);
	assert_non_null(strstr(out, "\"level\":\"error\",\"msg\":\"boom\"}\n"));
}

/* The cached seconds part follows the time asked for, not the last one. */
static void
test_format_time(void **state)
{
	char buf[32];

	(void)state;
	pg_format_time(1796819696789ull, buf, sizeof(buf));
	assert_string_equal(buf, "2026-12-09T12:34:56.789Z");
	pg_format_time(1796819696001ull, buf, sizeof(buf));
	assert_string_equal(buf, "2026-12-09T12:34:56.001Z");
	pg_format_time(1796819697000ull, buf, sizeof(buf));
	assert_string_equal(buf, "2026-12-09T12:34:57.000Z");
	pg_format_time(0, buf, sizeof(buf));
	assert_string_equal(buf, "1970-01-01T00:00:00.000Z");
	pg_format_time(1796819696789ull, buf, sizeof(buf));
	assert_string_equal(buf, "2026-12-09T12:34:56.789Z");
	pg_format_time(1796819696789ull, buf, 11);   /* cut, still a string */
	assert_string_equal(buf, "2026-12-09");
	/* a year of 9 digits: the long way, then the cache is right again */
	pg_format_time(UINT64_MAX, buf, sizeof(buf));
	assert_string_equal(buf, "584556019-04-03T14:25:51.615Z");
	pg_format_time(1796819696789ull, buf, sizeof(buf));
	assert_string_equal(buf, "2026-12-09T12:34:56.789Z");
}

static void
test_event_text(void **state)
{
	struct fx *f = *state;
	struct pg_kv kv[] = {
		KV_S("vm", "vm1"), KV_N("port", 0), KV_N("delta", -42),
		KV_N("big", (long long)(-9223372036854775807LL - 1)),
		KV_S("reason", "client closed"), KV_S("user", ""), KV_S("eq", "a=b"),
	};
	char out[1024];

	set_stream(STDERR_FILENO, true);
	pg_log_configure(false, 0, false);
	pg_log_event(PG_LOG_INFO, "session_end", kv, sizeof(kv) / sizeof(kv[0]));
	read_back(f, out, sizeof(out));
	assert_string_equal(out, "<6>INFO session_end vm=vm1 port=0 delta=-42 "
	    "big=-9223372036854775808 reason=\"client closed\" user=\"\" eq=\"a=b\"\n");
}

/* A line longer than a log line is cut, ends with its newline, no overrun. */
static void
test_event_cut(void **state)
{
	struct fx *f = *state;
	static char big[6000], out[8192];
	struct pg_kv kv[] = { KV_S("a", big), KV_N("n", 7) };
	size_t n;

	memset(big, 'x', sizeof(big) - 1);
	set_stream(STDERR_FILENO, true);
	pg_log_configure(false, 0, false);
	pg_log_event(PG_LOG_INFO, "long", kv, 2);
	read_back(f, out, sizeof(out));
	n = strlen(out);
	assert_true(n > 4000 && n <= 4096);
	assert_memory_equal(out, "<6>INFO long a=xxx", 18);
	assert_int_equal(out[n - 1], '\n');
	assert_int_equal(out[n - 2], 'x');
	assert_null(strstr(out, "n=7"));
}

static void
test_event_json(void **state)
{
	struct fx *f = *state;
	struct pg_kv kv[] = { KV_S("vm", "vm \"1\""), KV_N("sessions", -3) };
	char out[1024];

	set_stream(STDERR_FILENO, false);
	pg_log_configure(false, 0, true);
	pg_log_event(PG_LOG_WARN, "backend_down", kv, 2);
	read_back(f, out, sizeof(out));
	assert_memory_equal(out, "{\"time\":\"", 9);
	assert_int_equal(out[9 + 23], 'Z');
	assert_string_equal(out + 9 + 24, "\",\"level\":\"warn\",\"event\":\"backend_down\","
	    "\"vm\":\"vm \\\"1\\\"\",\"sessions\":-3}\n");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_journal_priorities, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_event, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_stream_keeps_timestamp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_stream_keeps_timestamp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_unchanged, setup, teardown),
		cmocka_unit_test(test_format_time),
		cmocka_unit_test_setup_teardown(test_event_text, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_cut, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_json, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
