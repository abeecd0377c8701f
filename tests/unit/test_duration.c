/*
 * test_duration.c -- cfg_parse_duration() and cfg_format_duration(): every
 * unit, every malformed form, the 64-bit edge, and the round trip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "config/config.h"

#define SENTINEL UINT64_C(0xdeadbeefcafef00d)

static void ok(const char *s, uint64_t want)
{
	uint64_t ms = SENTINEL;

	if (cfg_parse_duration(s, &ms) != 0)
		print_message("rejected \"%s\"\n", s);
	assert_int_equal(cfg_parse_duration(s, &ms), 0);
	if (ms != want)
		print_message("\"%s\" gave %llu\n", s, (unsigned long long)ms);
	assert_true(ms == want);
}

static void bad(const char *s)
{
	uint64_t ms = SENTINEL;

	if (cfg_parse_duration(s, &ms) != -1)
		print_message("accepted \"%s\"\n", s ? s : "(null)");
	assert_int_equal(cfg_parse_duration(s, &ms), -1);
	assert_true(ms == SENTINEL);            /* a failure stores nothing */
}

static void test_units(void **state)
{
	(void)state;
	ok("0ms", 0);
	ok("1ms", 1);
	ok("500ms", 500);
	ok("0s", 0);
	ok("1s", 1000);
	ok("2s", 2000);
	ok("90s", 90000);
	ok("1m", 60000);
	ok("5m", 300000);
	ok("1h", 3600000);
	ok("24h", 86400000);
	ok("1d", 86400000);
	ok("30d", UINT64_C(2592000000));
	ok("0d", 0);
	ok("007s", 7000);                       /* leading zeros are just digits */
}

static void test_invalid_forms(void **state)
{
	static const char *const forms[] = {
		"",             /* empty */
		"s", "ms", "h", /* no number */
		"5", "1000",    /* no unit */
		"2x", "1sec", "1mss", "1sm", "1hr", "1w", "1y", "1us", "1ns",
		"1S", "1MS", "1H", "1D",        /* units are lower case */
		"-1s", "+1s", "-0s",            /* no sign */
		"1.5s", ".5s", "1.s", "1,5s",   /* integers only */
		" 1s", "1s ", "1 s", "\t1s", "1s\n",
		"1h30m", "1s1", "1ss",          /* one number, one unit */
		"0x10s", "1e3ms", "1_000ms",
		"1s\xc2\xa0",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++)
		bad(forms[i]);
	bad(NULL);
}

static void test_overflow(void **state)
{
	(void)state;
	/* the number itself */
	ok("18446744073709551615ms", UINT64_MAX);
	bad("18446744073709551616ms");
	bad("99999999999999999999999999999ms");
	/* the number times its unit */
	ok("18446744073709551s", UINT64_C(18446744073709551000));
	bad("18446744073709552s");
	ok("307445734561825m", UINT64_C(307445734561825) * 60000);
	bad("307445734561826m");
	ok("5124095576030h", UINT64_C(5124095576030) * 3600000);
	bad("5124095576031h");
	ok("213503982334d", UINT64_C(213503982334) * 86400000);
	bad("213503982335d");
	bad("18446744073709551615s");
}

static void fmt(uint64_t ms, const char *want)
{
	char buf[32];
	uint64_t back = SENTINEL;

	memset(buf, 'X', sizeof(buf));
	cfg_format_duration(ms, buf, sizeof(buf));
	assert_string_equal(buf, want);
	/* what is written reads back as the same value */
	assert_int_equal(cfg_parse_duration(buf, &back), 0);
	assert_true(back == ms);
}

static void test_format(void **state)
{
	char buf[4];

	(void)state;
	fmt(0, "0s");
	fmt(1, "1ms");
	fmt(999, "999ms");
	fmt(1500, "1500ms");
	fmt(2000, "2s");
	fmt(90000, "90s");
	fmt(120000, "2m");
	fmt(5400000, "90m");
	fmt(3600000, "1h");
	fmt(86400000, "1d");
	fmt(UINT64_C(2592000000), "30d");
	fmt(UINT64_MAX, "18446744073709551615ms");

	/* truncated, but terminated; len 0 writes nothing */
	cfg_format_duration(123456, buf, sizeof(buf));
	assert_string_equal(buf, "123");
	buf[0] = 'Z';
	cfg_format_duration(1000, buf, 0);
	assert_int_equal(buf[0], 'Z');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_units),
		cmocka_unit_test(test_invalid_forms),
		cmocka_unit_test(test_overflow),
		cmocka_unit_test(test_format),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
