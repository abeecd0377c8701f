/*
 * test_agent_jhub.c -- reading JupyterHub's REST API answers
 * (agent/jhub.c): the active users (plain and paginated lists, servers,
 * pending), kernels by execution_state, the time format, unsafe URLs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "agent/jhub.h"
#include "agent/util.h"

#define T0 1769860800000ULL   /* 2026-01-31T12:00:00Z */

static void
test_time(void **state)
{
	uint64_t ms;

	(void)state;
	assert_int_equal(ag_parse_iso8601("2026-01-31T12:00:00Z", &ms), 0);
	assert_int_equal(ms, T0);
	assert_int_equal(ag_parse_iso8601("2026-01-31T12:00:00.123456Z", &ms), 0);
	assert_int_equal(ms, T0 + 123);
	assert_int_equal(ag_parse_iso8601("2026-01-31T12:00:00.5", &ms), 0);
	assert_int_equal(ms, T0 + 500);
	assert_int_equal(ag_parse_iso8601("2026-01-31T13:30:00+01:30", &ms), 0);
	assert_int_equal(ms, T0);
	assert_int_equal(ag_parse_iso8601("2026-01-31T07:00:00-05:00", &ms), 0);
	assert_int_equal(ms, T0);
	assert_int_equal(ag_parse_iso8601("2026-01-31 12:00:00", &ms), 0);
	assert_int_equal(ag_parse_iso8601("2026-13-31T12:00:00Z", &ms), -1);
	assert_int_equal(ag_parse_iso8601("2026-01-31T12:00Z", &ms), -1);
	assert_int_equal(ag_parse_iso8601("2026-01-31T12:00:00.Z", &ms), -1);
	assert_int_equal(ag_parse_iso8601("2026-01-31T12:00:00ZZ", &ms), -1);
	assert_int_equal(ag_parse_iso8601("1969-12-31T23:59:59Z", &ms), -1);
	assert_int_equal(ag_parse_iso8601("", &ms), -1);
}

static const char users_json[] =
    "[{\"kind\":\"user\",\"name\":\"alice\",\"admin\":false,"
    "\"last_activity\":\"2026-01-31T11:00:00.000000Z\","
    "\"server\":\"/user/alice/\",\"pending\":null,"
    "\"servers\":{\"\":{\"name\":\"\",\"ready\":true,\"pending\":null,"
    "\"url\":\"/user/alice/\",\"last_activity\":\"2026-01-31T12:00:00.000000Z\","
    "\"started\":\"2026-01-31T09:00:00Z\"},"
    "\"gpu\":{\"name\":\"gpu\",\"ready\":true,\"url\":\"/user/alice/gpu/\","
    "\"last_activity\":\"2026-01-31T11:30:00Z\"}}},"
    "{\"kind\":\"user\",\"name\":\"bob\",\"last_activity\":null,\"server\":null,"
    "\"pending\":\"spawn\",\"servers\":{\"\":{\"ready\":false,\"pending\":\"spawn\","
    "\"url\":\"/user/bob/\"}}},"
    /* only list:users and read:users:activity: no servers at all */
    "{\"name\":\"carol\",\"last_activity\":\"2026-01-31T10:00:00Z\"},"
    /* skipped: no name, a name too long, not an object */
    "{\"last_activity\":\"2026-01-31T10:00:00Z\"},"
    "{\"name\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"},"
    "42,"
    /* an unsafe URL is kept out */
    "{\"name\":\"dave\",\"server\":\"/user/dave/../../hub/\"}]";

static void
test_users(void **state)
{
	struct jh_user u[8];
	size_t n = 0, page;
	bool trunc = false;
	char err[128];

	(void)state;
	if (jh_parse_users(users_json, strlen(users_json), u, 8, &n, &page, &trunc,
	    err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(page, 7);
	assert_int_equal(n, 4);
	assert_false(trunc);
	assert_string_equal(u[0].name, "alice");
	assert_true(u[0].server);
	assert_true(u[0].ready);
	assert_false(u[0].pending);
	assert_int_equal(u[0].last_activity_ms, T0);    /* the latest of all */
	assert_string_equal(u[0].server_url, "/user/alice/");
	assert_int_equal(u[0].kernels_busy, -1);        /* not asked yet */
	assert_string_equal(u[1].name, "bob");
	assert_false(u[1].ready);
	assert_true(u[1].pending);
	assert_int_equal(u[1].last_activity_ms, 0);
	assert_string_equal(u[2].name, "carol");
	assert_true(u[2].server);       /* listed by ?state=active */
	assert_false(u[2].ready);       /* not known without read:servers */
	assert_string_equal(u[2].server_url, "");
	assert_string_equal(u[3].name, "dave");
	assert_string_equal(u[3].server_url, "");
	assert_true(u[3].ready);

	/* a second page appends; the cap truncates */
	const char *more = "[{\"name\":\"eve\"},{\"name\":\"frank\"}]";

	assert_int_equal(jh_parse_users(more, strlen(more), u, 5, &n, &page, &trunc, err, sizeof(err)), 0);
	assert_int_equal(n, 5);
	assert_int_equal(page, 2);
	assert_true(trunc);
}

static void
test_users_paginated(void **state)
{
	const char *j = "{\"items\":[{\"name\":\"alice\",\"server\":\"/user/alice/\"}],"
	    "\"_pagination\":{\"offset\":0,\"limit\":200,\"total\":1,\"next\":null}}";
	struct jh_user u[2];
	size_t n = 0, page;
	bool trunc = false;
	char err[128];

	(void)state;
	assert_int_equal(jh_parse_users(j, strlen(j), u, 2, &n, &page, &trunc, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_true(u[0].ready);
	assert_int_equal(jh_parse_users("{\"x\":1}", 7, u, 2, &n, &page, &trunc, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "expected a list of users"));
	assert_int_equal(jh_parse_users("[", 1, u, 2, &n, &page, &trunc, err,
	    sizeof(err)), -1);
	assert_int_equal(jh_parse_users("\"x\"", 3, u, 2, &n, &page, &trunc, err,
	    sizeof(err)), -1);
}

static void
test_kernels(void **state)
{
	const char *j = "[{\"id\":\"1\",\"name\":\"python3\",\"execution_state\":\"busy\","
	    "\"last_activity\":\"2026-01-31T12:00:00.000000Z\",\"connections\":1},"
	    "{\"id\":\"2\",\"execution_state\":\"idle\",\"last_activity\":\"2026-01-31T11:00:00Z\"},"
	    "{\"id\":\"3\",\"execution_state\":\"idle\"},"
	    "{\"id\":\"4\",\"execution_state\":\"starting\"},"
	    "{\"id\":\"5\"}, 7]";
	struct jh_user u;
	char err[128];

	(void)state;
	memset(&u, 0, sizeof(u));
	assert_int_equal(jh_parse_kernels(j, strlen(j), &u, err, sizeof(err)), 0);
	assert_int_equal(u.kernels_busy, 1);
	assert_int_equal(u.kernels_idle, 2);
	assert_int_equal(u.kernels_other, 2);
	assert_int_equal(u.kernel_activity_ms, T0);
	u.kernels_busy = -1;
	assert_int_equal(jh_parse_kernels("{}", 2, &u, err, sizeof(err)), -1);
	assert_int_equal(u.kernels_busy, -1);   /* untouched on an error */
	assert_int_equal(jh_parse_kernels("[]", 2, &u, err, sizeof(err)), 0);
	assert_int_equal(u.kernels_busy, 0);
}

static void
test_url_safe(void **state)
{
	(void)state;
	assert_true(jh_url_safe("/user/alice/"));
	assert_true(jh_url_safe("/jhub/user/a.b/"));
	assert_true(jh_url_safe("/user/alice/..x/"));
	assert_false(jh_url_safe("user/alice/"));
	assert_false(jh_url_safe("/user/alice/../"));
	assert_false(jh_url_safe("/user/alice/.."));
	assert_false(jh_url_safe("/user/a lice/"));
	assert_false(jh_url_safe("/user/alice/?x"));
	assert_false(jh_url_safe("/user/alice/\r\nX: y"));
	assert_false(jh_url_safe(""));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_users),
		cmocka_unit_test(test_users_paginated),
		cmocka_unit_test(test_kernels),
		cmocka_unit_test(test_url_safe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
