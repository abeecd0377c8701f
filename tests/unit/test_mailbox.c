/*
 * test_mailbox.c -- messages between threads (proxy/mailbox.c) and the
 * relay-thread pool (proxy/worker.c): order, nothing lost under a producer
 * thread that posts as fast as it can, lazy posts woken by a flush, a
 * round trip main -> relay thread -> main, and a stop that ends every
 * thread's sessions on that thread and delivers what they posted.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "proxy/mailbox.h"
#include "proxy/worker.h"

#define N_MSGS 200000

struct item {
	struct mb_msg m;
	int           seq;
	pthread_t     ran_on;
};

static int next_seq, out_of_order;
static struct event_base *stop_base;
static int stop_at;

static void
count_cb(struct mb_msg *m)
{
	struct item *it = (struct item *)m;

	if (it->seq != next_seq)
		out_of_order++;
	next_seq++;
	it->ran_on = pthread_self();
	if (stop_base != NULL && next_seq == stop_at)
		event_base_loopbreak(stop_base);
}

static void
test_order_single_thread(void **state)
{
	struct event_base *base = event_base_new();
	struct mailbox *mb = mb_new(base);
	struct item it[5];

	assert_non_null(mb);
	next_seq = out_of_order = 0;
	stop_base = NULL;
	for (int i = 0; i < 5; i++) {
		it[i].seq = i;
		it[i].m.fn = count_cb;
		if (i % 2)
			mb_post_lazy(mb, &it[i].m);
		else
			mb_post(mb, &it[i].m);
	}
	assert_int_equal(mb_drain(mb), 5);
	assert_int_equal(next_seq, 5);
	assert_int_equal(out_of_order, 0);
	assert_int_equal(mb_drain(mb), 0);
	mb_free(mb);
	event_base_free(base);
}

struct producer {
	struct mailbox *mb;
	struct item    *items;
	bool            lazy;
};

static void *
produce(void *arg)
{
	struct producer *p = arg;

	for (int i = 0; i < N_MSGS; i++) {
		p->items[i].seq = i;
		p->items[i].m.fn = count_cb;
		if (p->lazy) {
			mb_post_lazy(p->mb, &p->items[i].m);
			if (i % 64 == 63 || i == N_MSGS - 1)
				mb_flush(p->mb);
		} else
			mb_post(p->mb, &p->items[i].m);
	}
	return NULL;
}

static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	fail_msg("messages lost: %d of %d arrived", next_seq, N_MSGS);
}

/* A producer thread and the consumer's loop: all arrive, in order, woken. */
static void
run_producer(bool lazy)
{
	struct event_base *base = event_base_new();
	struct mailbox *mb = mb_new(base);
	struct producer p = { mb, calloc(N_MSGS, sizeof(struct item)), lazy };
	struct timeval tv = { 20, 0 };
	struct event *deadline = evtimer_new(base, deadline_cb, NULL);
	pthread_t thr;

	assert_non_null(mb);
	assert_non_null(p.items);
	next_seq = out_of_order = 0;
	stop_base = base;
	stop_at = N_MSGS;
	evtimer_add(deadline, &tv);
	assert_int_equal(pthread_create(&thr, NULL, produce, &p), 0);
	event_base_dispatch(base);
	pthread_join(thr, NULL);
	assert_int_equal(next_seq, N_MSGS);
	assert_int_equal(out_of_order, 0);
	assert_true(pthread_equal(p.items[0].ran_on, pthread_self()));
	event_free(deadline);
	mb_free(mb);
	event_base_free(base);
	free(p.items);
	stop_base = NULL;
}

static void
test_producer_thread(void **state)
{
	run_producer(false);
}

static void
test_producer_thread_lazy(void **state)
{
	run_producer(true);
}

/* ---- the worker pool ---- */

#define N_TRIPS 5000

struct trip {
	struct mb_msg  m;
	struct worker *w;
	pthread_t      worker_thread;
	bool           back;
	struct trip   *next_held;   /* held by its worker until the stop */
};

static struct event_base *main_base;
static int trips_back, ended;
static pthread_t end_threads[WK_MAX + 1];
static struct trip *held[WK_MAX + 1];

/* 0: the home worker; i + 1: relay thread i. */
static size_t
idx(struct worker *w)
{
	return w == &w->pool->home ? 0 : (size_t)(w - w->pool->w) + 1;
}

static void
back_cb(struct mb_msg *m)
{
	struct trip *t = (struct trip *)m;

	t->back = true;
	if (++trips_back == N_TRIPS)
		event_base_loopbreak(main_base);
}

static void
there_cb(struct mb_msg *m)
{
	struct trip *t = (struct trip *)m;

	t->worker_thread = pthread_self();
	t->m.fn = back_cb;
	wk_post_main(t->w, &t->m);
}

/* A worker that keeps its trip until the stop, like a relayed session. */
static void
hold_cb(struct mb_msg *m)
{
	struct trip *t = (struct trip *)m;

	t->next_held = held[idx(t->w)];
	held[idx(t->w)] = t;
}

static void
ended_cb(struct mb_msg *m)
{
	ended++;
}

static void
end_all(struct worker *w)
{
	size_t i = idx(w);

	end_threads[i] = pthread_self();
	for (struct trip *t = held[i], *next; t != NULL; t = next) {
		next = t->next_held;
		t->m.fn = ended_cb;
		wk_post_main(w, &t->m);
	}
	held[i] = NULL;
}

static void
run_pool(size_t nthreads)
{
	struct wk_pool p;
	struct trip *trips = calloc(N_TRIPS, sizeof(*trips));
	struct trip keep[4];
	struct timeval tv = { 20, 0 };
	struct event *deadline;

	main_base = event_base_new();
	deadline = evtimer_new(main_base, deadline_cb, NULL);
	assert_int_equal(wk_pool_start(&p, nthreads, main_base, NULL, end_all), 0);
	assert_int_equal(p.n, nthreads);
	trips_back = ended = 0;
	memset(end_threads, 0, sizeof(end_threads));
	memset(held, 0, sizeof(held));
	for (int i = 0; i < N_TRIPS; i++) {
		struct worker *w = wk_pool_pick(&p);
		if (nthreads == 0)
			assert_null(w);
		if (w == NULL)
			w = &p.home;
		w->load++;
		trips[i].w = w;
		trips[i].m.fn = there_cb;
		wk_post(w, &trips[i].m);
	}
	/* The least loaded thread gets the next one: they share evenly. */
	for (size_t i = 1; i < p.n; i++)
		assert_true(p.w[i].load == p.w[0].load ||
		    p.w[i].load + 1 == p.w[0].load);
	if (trips_back < N_TRIPS) {
		evtimer_add(deadline, &tv);
		event_base_dispatch(main_base);
	}
	assert_int_equal(trips_back, N_TRIPS);
	for (int i = 0; i < N_TRIPS; i++) {
		assert_true(trips[i].back);
		assert_int_equal(pthread_equal(trips[i].worker_thread,
		    pthread_self()) != 0, nthreads == 0);
	}
	/* Held by the threads at the stop: ended there, delivered here. */
	for (int i = 0; i < 4; i++) {
		keep[i].w = nthreads > 0 ? &p.w[(size_t)i % p.n] : &p.home;
		keep[i].m.fn = hold_cb;
		wk_post(keep[i].w, &keep[i].m);
	}
	if (nthreads == 0) {
		wk_pool_end_all(&p);
		assert_int_equal(ended, 4);
	}
	wk_pool_stop(&p);
	assert_int_equal(ended, 4);
	for (size_t i = 0; i < p.n; i++)
		assert_int_equal(pthread_equal(end_threads[i + 1],
		    pthread_self()), 0);
	wk_pool_stop(&p);   /* idempotent */
	wk_pool_free(&p);
	event_free(deadline);
	event_base_free(main_base);
	free(trips);
}

static void
test_pool_home_only(void **state)
{
	run_pool(0);
}

static void
test_pool_threads(void **state)
{
	run_pool(2);
}

static void
test_pool_one_thread(void **state)
{
	run_pool(1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order_single_thread),
		cmocka_unit_test(test_producer_thread),
		cmocka_unit_test(test_producer_thread_lazy),
		cmocka_unit_test(test_pool_home_only),
		cmocka_unit_test(test_pool_one_thread),
		cmocka_unit_test(test_pool_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
