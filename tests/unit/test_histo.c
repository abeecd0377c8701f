/*
 * test_histo.c -- the fixed-bucket histogram: each value in the first bucket
 * whose bound it does not exceed (a bound is inclusive), values past the
 * last bound only in the count, negatives as 0, cumulative counts, the sum.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "lib/histo.h"

static const struct histo_bounds b = { 3, { 0.1, 1, 10 } };

static void
test_buckets(void **state)
{
	struct histo h = { 0 };

	histo_observe(&h, &b, 0.05);
	histo_observe(&h, &b, 0.1);     /* inclusive */
	histo_observe(&h, &b, 0.5);
	histo_observe(&h, &b, 10);
	histo_observe(&h, &b, 11);      /* +Inf only */
	histo_observe(&h, &b, -3);      /* as 0 */
	assert_int_equal(h.count, 6);
	assert_int_equal(h.le[0], 3);
	assert_int_equal(h.le[1], 1);
	assert_int_equal(h.le[2], 1);
	assert_int_equal(histo_cumulative(&h, &b, 0), 3);
	assert_int_equal(histo_cumulative(&h, &b, 1), 4);
	assert_int_equal(histo_cumulative(&h, &b, 2), 5);
	assert_true(h.sum > 21.64 && h.sum < 21.66);
}

static void
test_empty(void **state)
{
	struct histo h = { 0 };

	assert_int_equal(histo_cumulative(&h, &b, 2), 0);
	assert_int_equal(h.count, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets),
		cmocka_unit_test(test_empty),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
