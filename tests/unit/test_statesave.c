/*
 * test_statesave.c -- the affinity state file saved off the event loop
 * (backends/statesave.c): a copy in slices on a real libevent loop, a
 * writer thread, one save at a time, changes and growth during the copy.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <event2/event.h>

#include "backends/affinity.h"
#include "backends/statefile.h"
#include "backends/statesave.h"

#define TTL   3600000u
#define WALL  UINT64_C(1767000000000)
#define MONO  UINT64_C(900000000)

struct fx {
	struct event_base *base;
	struct ssv        *ssv;
	char               dir[64];
	char               path[128];
	int                done;       /* calls of done */
	long               records;
	char               err[512];
	int                slices;     /* calls of the clock: one at the start,
	                                  one per slice, one at the end */
	void             (*between)(struct fx *f);   /* after each slice */
	struct aff_table  *t;
};

static struct fx *cur;

static void
fx_clock(uint64_t *mono, uint64_t *wall)
{
	cur->slices++;
	*mono = MONO;
	*wall = WALL;
}

static void
fx_done(long records, const char *err, void *arg)
{
	struct fx *f = arg;

	f->done++;
	f->records = records;
	snprintf(f->err, sizeof(f->err), "%s", err);
	event_base_loopbreak(f->base);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct ssv_params p;

	assert_non_null(f);
	f->base = event_base_new();
	assert_non_null(f->base);
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_statesave.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, SF_FILE_NAME);
	p = (struct ssv_params){ f->base, 100, 0, fx_clock, fx_done, f };
	f->ssv = ssv_new(&p);
	assert_non_null(f->ssv);
	f->t = aff_new(100000, TTL);
	assert_non_null(f->t);
	cur = f;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char tmp[160];

	ssv_free(f->ssv);
	aff_free(f->t);
	event_base_free(f->base);
	unlink(f->path);
	snprintf(tmp, sizeof(tmp), "%s.tmp", f->path);
	unlink(tmp);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void
fill(struct aff_table *t, size_t from, size_t n, const char *vm)
{
	char key[64];

	for (size_t i = from; i < from + n; i++) {
		snprintf(key, sizeof(key), "ip:10.%zu.%zu.%zu", i >> 16,
		    (i >> 8) & 255, i & 255);
		assert_int_equal(aff_session_start(t, key, vm, MONO), 0);
	}
}

static bool
has(struct aff_table *u, size_t i)
{
	char key[64];

	snprintf(key, sizeof(key), "ip:10.%zu.%zu.%zu", i >> 16, (i >> 8) & 255,
	    i & 255);
	return aff_lookup(u, key, MONO) != NULL;
}

/* Read the saved file back into a new table (the caller frees it). */
static struct aff_table *
load(struct fx *f, struct sf_report *rep)
{
	struct aff_table *u = aff_new(200000, TTL);
	char err[256];

	assert_non_null(u);
	assert_int_equal(sf_load(f->path, u, MONO, WALL, NULL, NULL, rep, err,
	    sizeof(err)), 0);
	assert_false(rep->missing);
	assert_false(rep->truncated);
	assert_int_equal(rep->corrupt, 0);
	assert_int_equal(rep->duplicate, 0);
	return u;
}

/* Run the loop until done, calling between() after every turn. */
static void
run(struct fx *f)
{
	int turns = 0;

	while (f->done == 0) {
		assert_true(event_base_loop(f->base, EVLOOP_ONCE) >= 0);
		if (f->between != NULL)
			f->between(f);
		assert_true(++turns < 1000000);
	}
}

static void
test_saves_in_slices(void **state)
{
	struct fx *f = *state;
	struct sf_report rep;
	struct aff_table *u;
	char *a, *b;
	size_t alen, blen;
	FILE *fp;

	fill(f->t, 0, 10000, "vm1");
	assert_int_equal(ssv_start(f->ssv, f->t, f->dir, NULL, 0), 0);
	assert_int_equal(f->done, 0);       /* never from within ssv_start */
	assert_true(ssv_busy(f->ssv));
	/* One save at a time. */
	assert_int_equal(ssv_start(f->ssv, f->t, f->dir, NULL, 0), 1);
	run(f);
	assert_int_equal(f->done, 1);
	assert_int_equal(f->records, 10000);
	assert_false(ssv_busy(f->ssv));
	/* 100 entries a slice: about 100 turns of the loop, not one. */
	assert_true(f->slices >= 90);
	u = load(f, &rep);
	assert_int_equal(rep.loaded, 10000);
	aff_free(u);

	/* The same bytes as the synchronous serialiser at the same clocks. */
	assert_int_equal(sf_serialize(f->t, MONO, WALL, &a, &alen), 10000);
	fp = fopen(f->path, "r");
	assert_non_null(fp);
	b = malloc(alen + 1);
	assert_non_null(b);
	blen = fread(b, 1, alen + 1, fp);
	fclose(fp);
	assert_int_equal(blen, alen);
	assert_memory_equal(a, b, alen);
	free(a);
	free(b);
}

/* Entries removed and added between slices: none twice, none lost. */
static size_t removed_upto;

static void
churn(struct fx *f)
{
	char key[64];

	if (!ssv_busy(f->ssv) || removed_upto >= 600)
		return;
	/* Forget 20 of the first 600 keys, add 20 new ones, each turn. */
	for (size_t i = removed_upto; i < removed_upto + 20; i++) {
		snprintf(key, sizeof(key), "ip:10.%zu.%zu.%zu", i >> 16,
		    (i >> 8) & 255, i & 255);
		aff_session_end(f->t, key, "vm1", MONO - TTL);   /* expired */
		aff_expire(f->t, MONO);
	}
	fill(f->t, 50000 + removed_upto, 20, "vm2");
	removed_upto += 20;
}

static void
test_changes_during_copy(void **state)
{
	struct fx *f = *state;
	struct sf_report rep;
	struct aff_table *u;

	/* 8000 entries: the buckets (8192) do not double with 600 more. */
	fill(f->t, 0, 8000, "vm1");
	removed_upto = 0;
	f->between = churn;
	assert_int_equal(ssv_start(f->ssv, f->t, f->dir, NULL, 0), 0);
	run(f);
	assert_true(f->records > 0);
	u = load(f, &rep);
	/* What stayed throughout is all there. */
	for (size_t i = 600; i < 8000; i++)
		assert_true(has(u, i));
	assert_true(rep.loaded >= 8000 - 600);
	assert_true(rep.loaded <= 8000 + 600);
	aff_free(u);
}

/* The table doubles its buckets during the copy: the copy starts over. */
static void
grow(struct fx *f)
{
	if (ssv_busy(f->ssv) && f->slices == 4 && aff_count(f->t) < 3000)
		fill(f->t, 1000, 2000, "vm2");
}

static void
test_growth_restarts_copy(void **state)
{
	struct fx *f = *state;
	struct sf_report rep;
	struct aff_table *u;

	fill(f->t, 0, 1000, "vm1");
	f->between = grow;
	assert_int_equal(ssv_start(f->ssv, f->t, f->dir, NULL, 0), 0);
	run(f);
	assert_int_equal(f->records, 3000);
	u = load(f, &rep);
	assert_int_equal(rep.loaded, 3000);
	for (size_t i = 0; i < 3000; i++)
		assert_true(has(u, i));
	aff_free(u);
}

static void
test_write_failure(void **state)
{
	struct fx *f = *state;
	char missing[128];
	struct stat st;

	fill(f->t, 0, 10, "vm1");
	snprintf(missing, sizeof(missing), "%s/no-such-dir", f->dir);
	assert_int_equal(ssv_start(f->ssv, f->t, missing, NULL, 0), 0);
	run(f);
	assert_int_equal(f->records, -1);
	assert_non_null(strstr(f->err, "no-such-dir"));
	assert_false(ssv_busy(f->ssv));
	assert_int_equal(stat(f->path, &st), -1);
	/* The next save works. */
	f->done = 0;
	assert_int_equal(ssv_start(f->ssv, f->t, f->dir, NULL, 0), 0);
	run(f);
	assert_int_equal(f->records, 10);
}

/* At exit: ssv_wait finishes the save in flight without the loop. */
static void
test_wait_finishes(void **state)
{
	struct fx *f = *state;
	struct sf_report rep;
	struct aff_table *u;

	fill(f->t, 0, 5000, "vm1");
	assert_int_equal(ssv_start(f->ssv, f->t, f->dir, NULL, 0), 0);
	ssv_wait(f->ssv);
	assert_int_equal(f->done, 1);
	assert_int_equal(f->records, 5000);
	assert_false(ssv_busy(f->ssv));
	u = load(f, &rep);
	assert_int_equal(rep.loaded, 5000);
	aff_free(u);
	/* No slice is left behind on the loop. */
	assert_int_equal(event_base_loop(f->base, EVLOOP_NONBLOCK), 0);
	assert_int_equal(f->done, 1);
}

/* Freed with the writer running: it is waited for. */
static void
test_free_while_writing(void **state)
{
	struct fx *f = *state;
	struct sf_report rep;
	struct aff_table *u;

	fill(f->t, 0, 20000, "vm1");
	assert_int_equal(ssv_start(f->ssv, f->t, f->dir, NULL, 0), 0);
	while (f->slices < 201)   /* start + 20000 / 100: the copy is done */
		assert_true(event_base_loop(f->base, EVLOOP_ONCE) >= 0);
	ssv_free(f->ssv);
	f->ssv = NULL;
	assert_int_equal(f->done, 1);
	u = load(f, &rep);
	assert_int_equal(rep.loaded, 20000);
	aff_free(u);
}

/* With a time budget, slices follow each other within one turn. */
static void
test_budget_per_turn(void **state)
{
	struct fx *f = *state;
	struct ssv_params p = { f->base, 100, 60000000, fx_clock, fx_done, f };
	struct ssv *s = ssv_new(&p);
	int turns = 0;

	assert_non_null(s);
	fill(f->t, 0, 10000, "vm1");
	assert_int_equal(ssv_start(s, f->t, f->dir, NULL, 0), 0);
	/* A minute of budget: the whole copy is one turn, then the writer. */
	while (f->done == 0) {
		assert_true(event_base_loop(f->base, EVLOOP_ONCE) >= 0);
		turns++;
	}
	assert_true(f->slices >= 100);
	assert_true(turns <= 3);
	assert_int_equal(f->records, 10000);
	ssv_free(s);
}

/* Saving takes at most a quarter of the time: a long save waits longer. */
static void
test_pacing(void **state)
{
	struct fx *f = *state;

	assert_int_equal(ssv_next_start(1000, 1005), 1005 + 15);
	assert_int_equal(ssv_next_start(1000, 1800), 1800 + 2400);
	assert_int_equal(ssv_next_start(1000, 1000), 1000);
	assert_int_equal(ssv_next_start(1000, 900), 900);   /* clock went back */
	assert_int_equal(ssv_next_start(0, UINT64_MAX / 2), UINT64_MAX);
	/* the fixture's clock stands still: a save that took no time */
	assert_true(ssv_due(f->ssv, MONO));
	fill(f->t, 0, 100, "vm1");
	assert_int_equal(ssv_start(f->ssv, f->t, f->dir, NULL, 0), 0);
	assert_false(ssv_due(f->ssv, MONO));     /* in flight */
	run(f);
	assert_true(ssv_due(f->ssv, MONO));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_saves_in_slices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_changes_during_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_growth_restarts_copy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wait_finishes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_while_writing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_budget_per_turn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pacing, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
