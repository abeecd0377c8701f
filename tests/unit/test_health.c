/*
 * test_health.c -- the rise/fall state machine.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "backends/health.h"

/* Record `n` results of the same kind; every one must report HC_SAME. */
static void
record_same(struct hc_state *s, bool ok, int n, int rise, int fall)
{
	int i;

	for (i = 0; i < n; i++)
		assert_int_equal(hc_record(s, ok, rise, fall), HC_SAME);
}

/* Bring a fresh state up with `rise` successes. */
static void
bring_up(struct hc_state *s, int rise, int fall)
{
	hc_init(s);
	record_same(s, true, rise - 1, rise, fall);
	assert_int_equal(hc_record(s, true, rise, fall), HC_WENT_UP);
	assert_true(s->up);
}

static void
test_starts_down(void **state)
{
	struct hc_state s;

	(void)state;
	/* Garbage first, so that hc_init has to do the work. */
	s.up = true;
	s.ok_run = 7;
	s.fail_run = 9;
	hc_init(&s);
	assert_false(s.up);
	assert_int_equal(s.ok_run, 0);
	assert_int_equal(s.fail_run, 0);

	/* Failures while down change nothing visible. */
	record_same(&s, false, 5, 2, 2);
	assert_false(s.up);
}

static void
test_rise_count(void **state)
{
	struct hc_state s;

	(void)state;
	hc_init(&s);
	record_same(&s, true, 2, 3, 2);
	assert_false(s.up);
	assert_int_equal(s.ok_run, 2);
	assert_int_equal(hc_record(&s, true, 3, 2), HC_WENT_UP);
	assert_true(s.up);
	/* Staying up is no transition. */
	record_same(&s, true, 3, 3, 2);
	assert_true(s.up);
}

static void
test_rise_one(void **state)
{
	struct hc_state s;

	(void)state;
	hc_init(&s);
	assert_int_equal(hc_record(&s, true, 1, 1), HC_WENT_UP);
	assert_int_equal(hc_record(&s, false, 1, 1), HC_WENT_DOWN);
	assert_int_equal(hc_record(&s, true, 1, 1), HC_WENT_UP);
}

static void
test_fall_count(void **state)
{
	struct hc_state s;

	(void)state;
	bring_up(&s, 2, 3);
	record_same(&s, false, 2, 2, 3);
	assert_true(s.up);
	assert_int_equal(s.fail_run, 2);
	assert_int_equal(hc_record(&s, false, 2, 3), HC_WENT_DOWN);
	assert_false(s.up);
	record_same(&s, false, 3, 2, 3);
	assert_false(s.up);
}

static void
test_success_resets_fail_run(void **state)
{
	struct hc_state s;

	(void)state;
	bring_up(&s, 1, 3);
	record_same(&s, false, 2, 1, 3);
	assert_int_equal(hc_record(&s, true, 1, 3), HC_SAME);
	assert_int_equal(s.fail_run, 0);
	/* The run starts over: two more failures are not enough. */
	record_same(&s, false, 2, 1, 3);
	assert_true(s.up);
	assert_int_equal(hc_record(&s, false, 1, 3), HC_WENT_DOWN);
}

static void
test_failure_resets_ok_run(void **state)
{
	struct hc_state s;

	(void)state;
	hc_init(&s);
	record_same(&s, true, 2, 3, 1);
	assert_int_equal(hc_record(&s, false, 3, 1), HC_SAME);
	assert_int_equal(s.ok_run, 0);
	record_same(&s, true, 2, 3, 1);
	assert_false(s.up);
	assert_int_equal(hc_record(&s, true, 3, 1), HC_WENT_UP);
}

static void
test_flapping_never_rises(void **state)
{
	struct hc_state s;
	int i;

	(void)state;
	hc_init(&s);
	for (i = 0; i < 20; i++) {
		assert_int_equal(hc_record(&s, true, 2, 2), HC_SAME);
		assert_int_equal(hc_record(&s, false, 2, 2), HC_SAME);
	}
	assert_false(s.up);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_starts_down),
		cmocka_unit_test(test_rise_count),
		cmocka_unit_test(test_rise_one),
		cmocka_unit_test(test_fall_count),
		cmocka_unit_test(test_success_resets_fail_run),
		cmocka_unit_test(test_failure_resets_ok_run),
		cmocka_unit_test(test_flapping_never_rises),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
