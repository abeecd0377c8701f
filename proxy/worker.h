/*
 * worker.h -- relay threads (`workers = N`).
 *
 * The main thread keeps everything shared: accepting, limits, choosing a
 * VM, counting sessions, affinity, health, the admin endpoint and the HTTP
 * services. A worker is a thread with its own event base and pipe pool; the
 * main thread hands it a TCP session (the client socket and where to
 * connect), the worker connects and relays, and posts the outcome back
 * (connect failed, or the session's end with its byte counts). A session
 * is in one thread's hands at a time and crosses only through mailboxes,
 * so no lock is held on the relay's path.
 *
 * With `workers = 0` there is one worker that is the main thread itself:
 * the same code runs, and a hand-over is a plain function call.
 */
#ifndef POOLGATE_WORKER_H
#define POOLGATE_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

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
	struct mailbox    *in;         /* messages run on this worker; NULL inline */
	struct session    *sessions;   /* session.c's: this thread's sessions */
	size_t             load;       /* main thread: sessions handed here */
	bool               threaded;   /* false: runs on the main thread */
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
	struct worker  *w;             /* n workers */
	size_t          n;
	struct mailbox *main_in;       /* messages to the main thread; NULL inline */
	struct event   *flush;         /* on the main base: wakes the workers */
};

/*
 * Start nthreads relay threads (0: one inline worker on main_base, which
 * then uses main_pipes; the pool does not own them). end_all(w) runs on
 * w's thread to end every session it holds (shutdown); it must not wait
 * for the loop. Returns 0, or -1 with errno set and nothing left running.
 */
int  wk_pool_start(struct wk_pool *p, size_t nthreads,
    struct event_base *main_base, struct pipe_pool *main_pipes,
    void (*end_all)(struct worker *w));

/* Main thread: the worker with the fewest sessions handed to it. */
struct worker *wk_pool_pick(struct wk_pool *p);

/*
 * Main thread: run m on worker w, queued to its thread, or called now
 * when inline. The posts of one loop iteration wake a worker once, after
 * the iteration's other callbacks.
 */
void wk_post(struct worker *w, struct mb_msg *m);

/*
 * Worker `from` (its own thread): run m on the main thread, queued (with
 * one wake-up per iteration, as wk_post), or called now when inline.
 */
void wk_post_main(struct worker *from, struct mb_msg *m);

/* Main thread: have every worker run end_all once, after what it has queued. */
void wk_pool_end_all(struct wk_pool *p);

/*
 * Main thread, after its loop returned: stop every thread (each first runs
 * what was posted to it, then end_all), join them, and from then on run as
 * if inline: posts are calls. Finally runs what the workers posted to the
 * main thread. Idempotent.
 */
void wk_pool_stop(struct wk_pool *p);

/* Free everything; wk_pool_stop() must have run. */
void wk_pool_free(struct wk_pool *p);

#endif
