/*
 * worker.h -- relay threads (`workers = N`).
 *
 * The main thread keeps everything shared: accepting, limits, choosing a
 * VM, counting sessions, affinity, health, the admin endpoint and the HTTP
 * services. It also relays every TCP session at first, as the pool's
 * "home" worker: short connections and interactive SSH never leave it. A
 * session whose bytes turn bulk (scp, rsync, iperf) moves, once, to a
 * relay thread with its own event base and pipe pool, which relays it to
 * its end and posts the end back. A session is in one thread's hands at a
 * time and crosses only through mailboxes, so no lock is held on the
 * relay's path.
 *
 * Moving at the start instead (every connection to a thread) was measured
 * first: on 2 cores it cost short connections 10-15% of their rate in
 * wake-ups, for the same bulk gain (bench/results.md).
 */
#ifndef POOLGATE_WORKER_H
#define POOLGATE_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "proxy/mailbox.h"

#define WK_MAX 64

struct pipe_pool;
struct session;
struct wk_pool;

struct worker {
	struct wk_pool    *pool;
	struct event_base *base;
	struct pipe_pool  *pipes;      /* spare pipes of this thread's relays */
	struct mailbox    *in;         /* messages run on this thread; NULL: home */
	struct session    *sessions;   /* session.c's: this thread's sessions */
	size_t             load;       /* main thread: sessions handed here */
	bool               threaded;   /* false: the home worker (main thread) */
	bool               started;    /* thr is running */
	pthread_t          thr;
	struct mb_msg      quit;       /* ends its sessions, then its loop */
	struct mb_msg      end;        /* ends its sessions */
	bool               end_posted; /* main thread: `end` was posted */
	bool               owed;       /* main thread: `in` waits for a flush */
	struct event      *flush;      /* on base: wakes the main thread */
	void             (*end_all)(struct worker *w);
};

struct wk_pool {
	struct worker   home;          /* the main thread itself */
	struct worker  *w;             /* n relay threads (none: n == 0) */
	size_t          n;
	struct mailbox *main_in;       /* messages to the main thread */
	struct event   *flush;         /* on the main base: wakes the threads */
	uint64_t        moves;         /* main thread: sessions moved to a thread */
};

/*
 * Start nthreads relay threads beside the home worker, which runs on
 * main_base with main_pipes (the pool does not own them). end_all(w) runs
 * on w's thread to end every session it holds (shutdown); it must not wait
 * for the loop. Returns 0, or -1 with errno set and nothing left running.
 */
int  wk_pool_start(struct wk_pool *p, size_t nthreads,
    struct event_base *main_base, struct pipe_pool *main_pipes,
    void (*end_all)(struct worker *w));

/* Main thread: the relay thread with the fewest sessions; NULL if none. */
struct worker *wk_pool_pick(struct wk_pool *p);

/*
 * Main thread: run m on worker w, queued to its thread, or called now for
 * the home worker (or a stopped thread). The posts of one loop iteration
 * wake a thread once, after the iteration's other callbacks.
 */
void wk_post(struct worker *w, struct mb_msg *m);

/*
 * On worker `from`'s thread: run m on the main thread, queued (one wake-up
 * per iteration, as wk_post), or called now from the home worker.
 */
void wk_post_main(struct worker *from, struct mb_msg *m);

/* Main thread: have every worker run end_all once, after what it has queued. */
void wk_pool_end_all(struct wk_pool *p);

/*
 * Main thread, after its loop returned: stop every thread (each first runs
 * what was posted to it, then end_all), join them, and from then on posts
 * to them are calls. Finally runs what the threads posted to the main
 * thread. Idempotent.
 */
void wk_pool_stop(struct wk_pool *p);

/* Free everything; wk_pool_stop() must have run. */
void wk_pool_free(struct wk_pool *p);

#endif
