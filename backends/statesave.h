/*
 * statesave.h -- saving the affinity state file without stalling the loop.
 *
 * sf_save() formats, writes and fsyncs the whole table in one go: with a
 * million affinities that holds the event loop for a second or more, and
 * every session on it waits. A saver instead copies the table on the loop a
 * slice at a time (aff_scan + sf_snap_put: a compact copy, slices for
 * at most about budget_us per turn of the loop), then hands the copy to a
 * thread of its own that formats it and writes it crash-safely
 * (sf_snap_save: af_write_atomic with its fsyncs and rename). The thread
 * tells the loop through a pipe; the loop joins it and calls done. The
 * thread also frees the copy, so the loop never frees a million entries in
 * one go. One save is in flight at a time.
 *
 * The copy is taken while the table keeps changing: each entry is saved as
 * it was when its slice was copied. The caller marks the table dirty on
 * every change as before and clears the mark when it starts a save, so a
 * change made during a save is saved by the next one. When the table grows
 * during the copy (its buckets double, and new keys then move its entries
 * to the new buckets a few at a time), the copy starts over.
 */
#ifndef POOLGATE_STATESAVE_H
#define POOLGATE_STATESAVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backends/affinity.h"

struct event_base;
struct ssv;

/*
 * A save ended: records written, or -1 with the reason in err (then the old
 * file is untouched). err is borrowed for the call.
 */
typedef void ssv_done_fn(long records, const char *err, void *arg);

/* The clocks of sf_serialize(): the table's (monotonic) and UNIX ms. */
typedef void ssv_clock_fn(uint64_t *now_mono, uint64_t *now_wall);

struct ssv_params {
	struct event_base *base;
	size_t             slice;   /* entries per aff_scan() call; > 0 */
	/*
	 * Slices follow each other within one turn of the loop until this
	 * many microseconds have passed (0: one slice per turn). How long the
	 * copy may hold the loop at a time, whatever the machine's speed.
	 */
	unsigned           budget_us;
	ssv_clock_fn      *clock;
	ssv_done_fn       *done;
	void              *arg;     /* for done */
};

/* A new saver, idle. Returns NULL when out of memory or descriptors. */
struct ssv *ssv_new(const struct ssv_params *p);

/*
 * Start saving t into dir/affinity.state (dir is copied). t must stay alive
 * until done is called or ssv_wait()/ssv_free() returns. Returns 0 when
 * started (done will be called from the loop, never from within ssv_start),
 * 1 when a save is already in flight (nothing started), -1 when out of
 * memory (nothing started; err says so).
 */
int  ssv_start(struct ssv *s, const struct aff_table *t, const char *dir,
    char *err, size_t errlen);

/* Whether a save is in flight (copying or writing). */
bool ssv_busy(const struct ssv *s);

/*
 * Pacing. A save of a million affinities takes most of a second (copy on
 * the loop plus the writer's formatting and fsync); back to back, saves
 * would take a core for good while the table keeps changing. The next save
 * may start once saving has taken at most 1/SSV_DUTY of the time since the
 * last one started: a small table is still saved at the caller's next tick
 * (each second), a million entries about every 3 s. What a crash loses
 * grows the same way; a stop or an upgrade saves at once.
 */
#define SSV_DUTY       4

/*
 * When the next save may start, for one that started at started_ms and
 * ended at ended_ms (the caller's monotonic ms): ended_ms + (SSV_DUTY - 1)
 * x its duration (UINT64_MAX if that overflows). Pure.
 */
uint64_t ssv_next_start(uint64_t started_ms, uint64_t ended_ms);

/*
 * Whether a paced save may start at now_mono (the clock of ssv_params):
 * none in flight and ssv_next_start() of the last one has come. A save the
 * caller must have now (stop, upgrade) need not ask.
 */
bool ssv_due(const struct ssv *s, uint64_t now_mono);

/*
 * Finish the save in flight now, on the calling thread: copy what is left
 * of the table, wait for the writer, call done. For shutdown, where a
 * stall no longer matters and the file must be complete. No-op when idle.
 */
void ssv_wait(struct ssv *s);

/* ssv_wait(), then free. s may be NULL. */
void ssv_free(struct ssv *s);

#endif
