/*
 * statesave.c -- the affinity state file, copied on the loop a slice at a
 * time and written by a thread (see statesave.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "backends/statefile.h"
#include "backends/statesave.h"

#define SSV_WRITER_NICE 10

enum ssv_phase { SSV_IDLE, SSV_COPYING, SSV_WRITING };

struct ssv {
	struct ssv_params       p;
	struct event           *slice_ev;   /* a zero timer: the next slice */
	struct event           *done_ev;    /* the writer's byte on pipe[0] */
	int                     pipe[2];
	enum ssv_phase          phase;
	const struct aff_table *t;          /* while copying */
	struct aff_scan         scan;
	struct sf_snap         *snap;
	char                   *dir;
	pthread_t               thr;
	/* Set by the writer before its byte; read after pthread_join. */
	long                    records;
	char                    err[512];
	uint64_t                started_ms; /* the save in flight, or the last */
	uint64_t                next_ms;    /* ssv_due() from then on */
};

static void ssv_finish(struct ssv *s);

uint64_t
ssv_next_start(uint64_t started_ms, uint64_t ended_ms)
{
	uint64_t took = ended_ms > started_ms ? ended_ms - started_ms : 0;

	if (took > (UINT64_MAX - ended_ms) / (SSV_DUTY - 1))
		return UINT64_MAX;
	return ended_ms + took * (SSV_DUTY - 1);
}

/* The save ended (done or failed): pace the next one, tell the caller. */
static void
ssv_report(struct ssv *s, long records, const char *err)
{
	uint64_t mono, wall;

	s->p.clock(&mono, &wall);
	s->next_ms = ssv_next_start(s->started_ms, mono);
	s->p.done(records, err, s->p.arg);
}

/* The writer thread: format, write, fsync, rename; then one byte. */
static void *
ssv_writer(void *arg)
{
	struct ssv *s = arg;
	ssize_t n;

	/*
	 * Formatting a million lines takes a core for most of a second: let
	 * the scheduler prefer the event loop (and the relay threads) over
	 * it. Linux applies a nice value to one thread when given its tid.
	 */
	setpriority(PRIO_PROCESS, (id_t)gettid(), SSV_WRITER_NICE);
	s->err[0] = '\0';
	s->records = sf_snap_save(s->dir, s->snap, s->err, sizeof(s->err));
	/*
	 * Free the copy here, not on the loop: a million entries are hundreds
	 * of chunks whose free (and the heap trim after it) took milliseconds
	 * there. The loop reads s->snap only after pthread_join.
	 */
	sf_snap_free(s->snap);
	s->snap = NULL;
	do
		n = write(s->pipe[1], "", 1);
	while (n == -1 && errno == EINTR);
	return NULL;
}

/* Start the writer on the finished copy; on failure report at once. */
static void
ssv_write(struct ssv *s)
{
	sigset_t all, old;
	int err;

	s->t = NULL;
	s->phase = SSV_WRITING;
	/* Signals are the main thread's business (like the relay threads). */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = pthread_create(&s->thr, NULL, ssv_writer, s);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err != 0) {
		/* Without a thread the write stays off the loop: try next time. */
		s->records = -1;
		snprintf(s->err, sizeof(s->err), "cannot start the writer thread: %s",
		    strerror(err));
		s->phase = SSV_IDLE;
		sf_snap_free(s->snap);
		s->snap = NULL;
		ssv_report(s, -1, s->err);
	}
}

/* Copy one slice; returns true when the copy is complete. */
static bool
ssv_copy_slice(struct ssv *s)
{
	uint64_t mono, wall;
	int rc;

	s->p.clock(&mono, &wall);
	sf_snap_clock(s->snap, mono, wall, aff_ttl(s->t));
	rc = aff_scan(s->t, &s->scan, mono, s->p.slice, sf_snap_put, s->snap);
	if (rc == -1) {
		/*
		 * The table grew: its entries moved buckets, so start the copy
		 * over, into the same chunks (freeing them here would cost the
		 * loop what the writer thread frees them to spare it).
		 */
		sf_snap_reset(s->snap);
		memset(&s->scan, 0, sizeof(s->scan));
		return false;
	}
	return rc == 1 || s->snap == NULL || sf_snap_failed(s->snap);
}

/* The copy is complete (or failed): hand it to the writer, or report. */
static void
ssv_copied(struct ssv *s)
{
	if (s->snap == NULL || sf_snap_failed(s->snap)) {
		s->phase = SSV_IDLE;
		sf_snap_free(s->snap);
		s->snap = NULL;
		s->t = NULL;
		ssv_report(s, -1, "out of memory copying the affinity table");
		return;
	}
	ssv_write(s);
}

static uint64_t
ssv_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Slices for up to budget_us; returns true when the copy is complete. */
static bool
ssv_copy_turn(struct ssv *s)
{
	uint64_t t0 = s->p.budget_us > 0 ? ssv_now_us() : 0;

	for (;;) {
		if (ssv_copy_slice(s))
			return true;
		if (s->p.budget_us == 0 || ssv_now_us() - t0 >= s->p.budget_us)
			return false;
	}
}

static void
ssv_slice_cb(evutil_socket_t fd, short what, void *arg)
{
	static const struct timeval zero = { 0, 0 };
	struct ssv *s = arg;

	(void)fd;
	(void)what;
	if (s->phase != SSV_COPYING)
		return;
	if (!ssv_copy_turn(s)) {
		/*
		 * A zero timer, not event_active(): timers run after the loop
		 * has polled, so the sockets get their turn between slices.
		 */
		evtimer_add(s->slice_ev, &zero);
		return;
	}
	ssv_copied(s);
}

static void
ssv_done_cb(evutil_socket_t fd, short what, void *arg)
{
	struct ssv *s = arg;
	char b[16];

	(void)what;
	while (read(fd, b, sizeof(b)) > 0)
		;
	if (s->phase == SSV_WRITING)
		ssv_finish(s);
}

/* The writer has written its byte (or is about to): join and report. */
static void
ssv_finish(struct ssv *s)
{
	pthread_join(s->thr, NULL);
	s->phase = SSV_IDLE;
	sf_snap_free(s->snap);
	s->snap = NULL;
	ssv_report(s, s->records, s->records == -1 ? s->err : "");
}

struct ssv *
ssv_new(const struct ssv_params *p)
{
	struct ssv *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return NULL;
	s->p = *p;
	s->pipe[0] = s->pipe[1] = -1;
	if (pipe2(s->pipe, O_CLOEXEC | O_NONBLOCK) == -1)
		goto fail;
	s->slice_ev = evtimer_new(p->base, ssv_slice_cb, s);
	s->done_ev = event_new(p->base, s->pipe[0], EV_READ | EV_PERSIST,
	    ssv_done_cb, s);
	if (s->slice_ev == NULL || s->done_ev == NULL ||
	    event_add(s->done_ev, NULL) == -1)
		goto fail;
	return s;
fail:
	if (s->slice_ev != NULL)
		event_free(s->slice_ev);
	if (s->done_ev != NULL)
		event_free(s->done_ev);
	if (s->pipe[0] != -1)
		close(s->pipe[0]);
	if (s->pipe[1] != -1)
		close(s->pipe[1]);
	free(s);
	return NULL;
}

int
ssv_start(struct ssv *s, const struct aff_table *t, const char *dir,
    char *err, size_t errlen)
{
	static const struct timeval zero = { 0, 0 };
	char *d;
	struct sf_snap *snap;

	if (s->phase != SSV_IDLE)
		return 1;
	d = strdup(dir);
	snap = sf_snap_new();
	if (d == NULL || snap == NULL) {
		free(d);
		sf_snap_free(snap);
		if (errlen > 0)
			snprintf(err, errlen, "%s: out of memory", dir);
		return -1;
	}
	free(s->dir);
	s->dir = d;
	s->snap = snap;
	s->t = t;
	memset(&s->scan, 0, sizeof(s->scan));
	s->phase = SSV_COPYING;
	{
		uint64_t wall;

		s->p.clock(&s->started_ms, &wall);
	}
	/* Even the first slice waits for the loop: done never runs in here. */
	evtimer_add(s->slice_ev, &zero);
	return 0;
}

bool
ssv_busy(const struct ssv *s)
{
	return s->phase != SSV_IDLE;
}

bool
ssv_due(const struct ssv *s, uint64_t now_mono)
{
	return s->phase == SSV_IDLE && now_mono >= s->next_ms;
}

void
ssv_wait(struct ssv *s)
{
	char b[16];

	if (s->phase == SSV_COPYING) {
		evtimer_del(s->slice_ev);
		while (!ssv_copy_slice(s))
			;
		ssv_copied(s);
	}
	if (s->phase == SSV_WRITING) {
		ssv_finish(s);
		while (read(s->pipe[0], b, sizeof(b)) > 0)
			;
	}
}

void
ssv_free(struct ssv *s)
{
	if (s == NULL)
		return;
	ssv_wait(s);
	event_free(s->slice_ev);
	event_free(s->done_ev);
	close(s->pipe[0]);
	close(s->pipe[1]);
	free(s->dir);
	free(s);
}
