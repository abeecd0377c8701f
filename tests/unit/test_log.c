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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_journal_priorities, setup, teardown),
		cmocka_unit_test_setup_teardown(test_journal_event, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_stream_keeps_timestamp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_stream_keeps_timestamp, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_unchanged, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
