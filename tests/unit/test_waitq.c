/*
 * test_waitq.c -- the wait queue: order, cap, leaving, timeouts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "backends/waitq.h"

static void
test_fifo_and_cap(void **state)
{
	struct waitq q;
	struct wq_node n[4] = { 0 };

	wq_init(&q, 3, 1000);
	assert_int_equal(wq_push(&q, &n[0], 0), 0);
	assert_int_equal(wq_push(&q, &n[1], 1), 0);
	assert_int_equal(wq_push(&q, &n[2], 2), 0);
	assert_int_equal(wq_push(&q, &n[3], 3), -1);    /* full */
	assert_int_equal(wq_push(&q, &n[0], 3), -1);    /* already queued */
	assert_int_equal(q.n, 3);
	assert_ptr_equal(wq_pop(&q), &n[0]);           /* arrival order */
	assert_ptr_equal(wq_pop(&q), &n[1]);
	assert_int_equal(wq_push(&q, &n[3], 4), 0);     /* room again */
	assert_ptr_equal(wq_pop(&q), &n[2]);
	assert_ptr_equal(wq_pop(&q), &n[3]);
	assert_null(wq_pop(&q));
	assert_int_equal(q.n, 0);
}

static void
test_leave(void **state)
{
	struct waitq q;
	struct wq_node n[3] = { 0 };

	wq_init(&q, 10, 1000);
	for (int i = 0; i < 3; i++)
		wq_push(&q, &n[i], (uint64_t)i);
	wq_remove(&q, &n[1]);                          /* middle leaves */
	wq_remove(&q, &n[1]);                          /* twice is harmless */
	assert_false(n[1].queued);
	assert_ptr_equal(wq_pop(&q), &n[0]);
	wq_remove(&q, &n[2]);                          /* last leaves */
	assert_null(wq_pop(&q));
	assert_null(q.head);
	assert_null(q.tail);
}

static void
test_timeouts(void **state)
{
	struct waitq q;
	struct wq_node n[3] = { 0 };

	wq_init(&q, 10, 100);
	wq_push(&q, &n[0], 0);
	wq_push(&q, &n[1], 50);
	wq_push(&q, &n[2], 60);
	assert_int_equal(wq_next_deadline(&q, 0), 100);
	assert_null(wq_pop_expired(&q, 99));           /* not yet */
	assert_ptr_equal(wq_pop_expired(&q, 100), &n[0]); /* exactly at timeout */
	assert_null(wq_pop_expired(&q, 100));
	assert_int_equal(wq_next_deadline(&q, 100), 50);
	assert_ptr_equal(wq_pop_expired(&q, 1000), &n[1]);
	assert_ptr_equal(wq_pop_expired(&q, 1000), &n[2]);
	assert_int_equal(wq_next_deadline(&q, 1000), UINT64_MAX);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fifo_and_cap),
		cmocka_unit_test(test_leave),
		cmocka_unit_test(test_timeouts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
