/*
 * test_history.c -- the status page's last hour: a minute keeps the most
 * sessions noted in it, a series is the last 60 minutes oldest first with
 * -1 where nothing was noted, an hour-old slot is reused, a VM silent for an
 * hour is forgotten, the cap on VMs, and the SVG chart (bounded, a line
 * broken at gaps, no script or style).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "admin/history.h"

#define MIN 60000ull
#define T0  (1000 * MIN)   /* a monotonic clock long running */

static void
test_peaks_and_series(void **state)
{
	struct history *h = hist_new();
	int v[HIST_SLOTS];

	assert_non_null(h);
	assert_false(hist_series(h, "vm1", T0, v));
	assert_false(hist_series(NULL, "vm1", T0, v));
	assert_int_equal(hist_note(h, "vm1", 3, T0), 0);
	assert_int_equal(hist_note(h, "vm1", 7, T0 + 1000), 0);
	assert_int_equal(hist_note(h, "vm1", 2, T0 + 59000), 0);   /* same minute: 7 stays */
	assert_int_equal(hist_note(h, "vm1", 1, T0 + 2 * MIN), 0);
	assert_true(hist_series(h, "vm1", T0 + 2 * MIN, v));
	assert_int_equal(v[HIST_SLOTS - 1], 1);   /* now */
	assert_int_equal(v[HIST_SLOTS - 2], -1);  /* nothing noted */
	assert_int_equal(v[HIST_SLOTS - 3], 7);
	assert_int_equal(v[0], -1);
	/* an hour later the slot of T0 holds the new minute only */
	assert_int_equal(hist_note(h, "vm1", 4, T0 + 60 * MIN), 0);
	assert_true(hist_series(h, "vm1", T0 + 60 * MIN, v));
	assert_int_equal(v[HIST_SLOTS - 1], 4);
	assert_int_equal(v[HIST_SLOTS - 59], 1);  /* T0 + 2 min */
	for (size_t k = 0; k < HIST_SLOTS; k++)
		assert_true(v[k] == -1 || v[k] == 4 || v[k] == 1);
	hist_free(h);
}

static void
test_tick_sweeps_and_caps(void **state)
{
	struct backend b1 = { .sessions = 5 }, b2 = { .sessions = -1 };
	struct backend *be[] = { &b1, &b2 };
	struct pool pool = { .be = be, .n = 2 };
	struct history *h = NULL;
	char name[32];
	int v[HIST_SLOTS];

	snprintf(b1.name, sizeof(b1.name), "vm1");
	snprintf(b2.name, sizeof(b2.name), "vm2");
	hist_tick(&h, &pool, T0);
	assert_non_null(h);
	assert_true(hist_series(h, "vm1", T0, v));
	assert_int_equal(v[HIST_SLOTS - 1], 5);
	assert_true(hist_series(h, "vm2", T0, v));
	assert_int_equal(v[HIST_SLOTS - 1], 0);   /* never negative */
	/* vm2 leaves the pool; an hour later it is forgotten, vm1 is not */
	pool.n = 1;
	for (uint64_t t = T0 + MIN; t <= T0 + 61 * MIN; t += MIN)
		hist_tick(&h, &pool, t);
	assert_true(hist_series(h, "vm1", T0 + 61 * MIN, v));
	assert_false(hist_series(h, "vm2", T0 + 61 * MIN, v));
	hist_free(h);

	/* at most HIST_MAX_VMS VMs, and names no longer than a VM's */
	h = hist_new();
	for (int i = 0; i < HIST_MAX_VMS; i++) {
		snprintf(name, sizeof(name), "vm%d", i);
		assert_int_equal(hist_note(h, name, 1, T0), 0);
	}
	assert_int_equal(hist_note(h, "one-too-many", 1, T0), -1);
	assert_int_equal(hist_note(h, "vm7", 2, T0), 0);   /* known ones go on */
	hist_free(h);
	h = hist_new();
	assert_int_equal(hist_note(h, "0123456789012345678901234567890123456789"
	    "012345678901234567890123456789", 1, T0), -1);
	hist_free(h);
}

static void
test_svg(void **state)
{
	char buf[HIST_SVG_MAX], small[100];
	int v[HIST_SLOTS];
	size_t n;

	for (size_t k = 0; k < HIST_SLOTS; k++)
		v[k] = k < 10 ? -1 : (int)(k % 7);
	v[30] = -1;
	n = hist_svg(v, HIST_SLOTS, 0, "sessions, last hour", buf, sizeof(buf));
	assert_int_equal(n, strlen(buf));
	assert_memory_equal(buf, "<svg class=\"hist\" width=\"120\" height=\"24\"", 41);
	assert_non_null(strstr(buf, "aria-label=\"sessions, last hour\">"));
	assert_null(strstr(buf, "<title"));   /* no text in it */
	assert_string_equal(buf + n - 6, "</svg>");
	/* two runs: 10..29 and 31..59 */
	assert_non_null(strstr(buf, "<polyline"));
	assert_non_null(strstr(strstr(buf, "<polyline") + 1, "<polyline"));
	assert_null(strstr(strstr(strstr(buf, "<polyline") + 1, "<polyline") + 1, "<polyline"));
	/* the highest value (6, the scale) at the top, 0 at the bottom */
	assert_non_null(strstr(buf, "\"21,13 23,9 "));   /* v[10] = 3: halfway up */
	assert_non_null(strstr(buf, " 27,2 29,23 "));     /* 6 at the top, 0 at the bottom */
	assert_null(strstr(buf, "script"));
	assert_null(strstr(buf, "style"));
	assert_null(strstr(buf, "href"));
	/* a cap as the scale: values over it drawn at the top */
	v[40] = 99;
	n = hist_svg(v, HIST_SLOTS, 6, "t", buf, sizeof(buf));
	assert_non_null(strstr(buf, " 81,2 "));
	/* the worst case fits: a gap every other minute */
	for (size_t k = 0; k < HIST_SLOTS; k++)
		v[k] = k % 2 ? -1 : 99999;
	n = hist_svg(v, HIST_SLOTS, 0, "0123456789012345678901234567890123456789"
	    "0123456789012345678901234567890123456789", buf, sizeof(buf));
	assert_true(n > 0 && n < sizeof(buf) - 1);
	assert_string_equal(buf + n - 6, "</svg>");
	/* a buffer too small gets nothing rather than half a chart */
	assert_int_equal(hist_svg(v, HIST_SLOTS, 0, "t", small, sizeof(small)), 0);
	assert_string_equal(small, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_peaks_and_series),
		cmocka_unit_test(test_tick_sweeps_and_caps),
		cmocka_unit_test(test_svg),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
