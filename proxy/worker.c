/*
 * worker.c -- see worker.h.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "lib/log.h"
#include "proxy/splice.h"
#include "proxy/worker.h"

#define WK_PIPES_SPARE 64   /* as the main thread's pool */

static void *
wk_main(void *arg)
{
	struct worker *w = arg;

	/* The mailbox's event keeps the loop from running out of events. */
	event_base_dispatch(w->base);
	return NULL;
}

static void
wk_end_cb(struct mb_msg *m)
{
	struct worker *w = (struct worker *)((char *)m -
	    offsetof(struct worker, end));

	if (w->end_all != NULL)
		w->end_all(w);
}

static void
wk_quit_cb(struct mb_msg *m)
{
	struct worker *w = (struct worker *)((char *)m -
	    offsetof(struct worker, quit));

	wk_end_cb(&w->end);
	event_base_loopbreak(w->base);
}

/* Worker thread, after its iteration's callbacks: wake the main thread. */
static void
wk_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	if (w->pool->main_in != NULL)
		mb_flush(w->pool->main_in);
}

/* Main thread, after its iteration's callbacks: wake the workers owed. */
static void
main_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct wk_pool *p = arg;

	for (size_t i = 0; i < p->n; i++)
		if (p->w[i].owed) {
			p->w[i].owed = false;
			mb_flush(p->w[i].in);
		}
}

static void
wk_free_one(struct worker *w)
{
	if (!w->threaded)
		return;   /* the main thread's base and pipes */
	if (w->flush != NULL)
		event_free(w->flush);
	w->flush = NULL;
	mb_free(w->in);
	if (w->pipes != NULL)
		pipe_pool_free(w->pipes);
	if (w->base != NULL)
		event_base_free(w->base);
	w->in = NULL;
	w->pipes = NULL;
	w->base = NULL;
}

static void
wk_init(struct wk_pool *p, struct worker *w, void (*end_all)(struct worker *w))
{
	w->pool = p;
	w->end_all = end_all;
	w->quit.fn = wk_quit_cb;
	w->end.fn = wk_end_cb;
}

int
wk_pool_start(struct wk_pool *p, size_t nthreads,
    struct event_base *main_base, struct pipe_pool *main_pipes,
    void (*end_all)(struct worker *w))
{
	sigset_t all, old;
	int err = 0;

	memset(p, 0, sizeof(*p));
	wk_init(p, &p->home, end_all);
	p->home.base = main_base;
	p->home.pipes = main_pipes;
	if (nthreads == 0)
		return 0;
	if (nthreads > WK_MAX) {
		errno = EINVAL;
		return -1;
	}
	if ((p->w = calloc(nthreads, sizeof(*p->w))) == NULL)
		return -1;
	p->n = nthreads;
	for (size_t i = 0; i < p->n; i++)
		wk_init(p, &p->w[i], end_all);
	if ((p->main_in = mb_new(main_base)) == NULL ||
	    (p->flush = event_new(main_base, -1, 0, main_flush_cb, p)) == NULL) {
		err = errno != 0 ? errno : ENOMEM;
		goto fail;
	}
	/* Signals are the main thread's: the threads block them all. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (size_t i = 0; i < p->n && err == 0; i++) {
		struct worker *w = &p->w[i];
		w->threaded = true;
		if ((w->base = event_base_new()) == NULL ||
		    (w->pipes = pipe_pool_new(WK_PIPES_SPARE)) == NULL ||
		    (w->in = mb_new(w->base)) == NULL ||
		    (w->flush = event_new(w->base, -1, 0, wk_flush_cb, w)) == NULL)
			err = errno != 0 ? errno : ENOMEM;
		else if ((err = pthread_create(&w->thr, NULL, wk_main, w)) == 0)
			w->started = true;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err == 0)
		return 0;
fail:
	for (size_t i = 0; i < p->n; i++)
		p->w[i].end_all = NULL;   /* nothing to end yet */
	wk_pool_stop(p);
	wk_pool_free(p);
	errno = err;
	return -1;
}

struct worker *
wk_pool_pick(struct wk_pool *p)
{
	struct worker *best = NULL;

	for (size_t i = 0; i < p->n; i++)
		if (p->w[i].started && (best == NULL || p->w[i].load < best->load))
			best = &p->w[i];
	return best;
}

void
wk_post(struct worker *w, struct mb_msg *m)
{
	if (!w->started) {
		m->fn(m);   /* inline, or stopped */
		return;
	}
	mb_post_lazy(w->in, m);
	w->owed = true;
	/* Runs after the callbacks already active: a batch, one wake-up. */
	event_active(w->pool->flush, EV_TIMEOUT, 0);
}

void
wk_post_main(struct worker *from, struct mb_msg *m)
{
	struct wk_pool *p = from->pool;

	if (!from->threaded || p->main_in == NULL) {
		m->fn(m);   /* inline, or stopped */
		return;
	}
	mb_post_lazy(p->main_in, m);
	event_active(from->flush, EV_TIMEOUT, 0);
}

void
wk_pool_end_all(struct wk_pool *p)
{
	wk_end_cb(&p->home.end);
	for (size_t i = 0; i < p->n; i++) {
		struct worker *w = &p->w[i];
		if (!w->started)
			wk_end_cb(&w->end);   /* inline, or stopped: here and now */
		else if (!w->end_posted) {
			/* At most once in flight: its quit ends the rest. */
			w->end_posted = true;
			mb_post(w->in, &w->end);
		}
	}
}

void
wk_pool_stop(struct wk_pool *p)
{
	struct mailbox *main_in = p->main_in;

	for (size_t i = 0; i < p->n; i++) {
		struct worker *w = &p->w[i];
		if (!w->started)
			continue;
		/*
		 * Posted last, so it runs after every hand-over before it; it
		 * ends the thread's sessions, which post their ends to the
		 * main thread, and breaks the loop.
		 */
		mb_post(w->in, &w->quit);
		pthread_join(w->thr, NULL);
		w->started = false;
		/* From here on a post to w is a call on this thread. */
	}
	if (main_in != NULL) {
		p->main_in = NULL;   /* later posts are calls */
		mb_drain(main_in);
		mb_free(main_in);
	}
}

void
wk_pool_free(struct wk_pool *p)
{
	if (p->w != NULL)
		for (size_t i = 0; i < p->n; i++)
			wk_free_one(&p->w[i]);
	mb_free(p->main_in);
	if (p->flush != NULL)
		event_free(p->flush);
	free(p->w);
	memset(p, 0, sizeof(*p));
}
