/*
 * splice.h -- zero-copy two-way relay of two TCP sockets (tcp services).
 *
 * Bulk bytes move socket -> pipe -> socket with splice(2): they never enter
 * user space. Small reads (an interactive session, a short exchange) are
 * cheaper as one recv() and one send() through a stack buffer; a direction
 * switches to splice once a read brings 4 KiB or more, and back after a
 * smaller burst. A pipe is taken from a small pool only while bytes of that
 * direction are in flight and given back as soon as it is empty, so an
 * idle connection holds no pipe and no buffer, only this struct (embedded
 * in the caller's, or one allocation with its events). Each direction is
 * bounded by its pipe's capacity: while the pipe is full, reading from the
 * source stops (backpressure).
 *
 * Half-close and the end are as for relay.h: an EOF is passed on (writing
 * half shut) once the bytes before it were written; `done` is called once,
 * when both directions finished, a side failed, or nothing moved for
 * idle_ms. Both sockets must be TCP (Linux splices TCP both ways).
 */
#ifndef POOLGATE_SPLICE_H
#define POOLGATE_SPLICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "proxy/relay.h"

struct splicer;
struct pipe_pool;

typedef void (*splice_done_fn)(struct splicer *sp, enum relay_end why,
    void *arg);
/*
 * Called once a direction turned bulk, at the end of a run, while the
 * relay is healthy. Returning true means the caller took the relay away
 * (splice_detach() done, its socket events removed): the splicer returns
 * at once and touches nothing until splice_attach().
 */
typedef bool (*splice_move_fn)(struct splicer *sp, void *arg);

/*
 * A pipe and its capacity in bytes, and one direction of a relay. Private
 * to splice.c; declared here only so that struct splicer can be embedded
 * in its owner (one allocation per connection).
 */
struct splice_pipe {
	int       r, w;             /* -1 while the direction holds no pipe */
	size_t    cap;
};

struct splice_dir {
	int       src, dst;
	struct splice_pipe p;       /* taken while bytes are in flight */
	size_t    inpipe;
	uint64_t  bytes;
	uint64_t *live[2];          /* also added to these (atomically), or NULL */
	bool      eof;              /* src sent EOF */
	bool      shut;             /* dst's writing half shut (or left to close) */
	bool      by_close;         /* the EOF is left to the owner's close() */
	bool      bulk;             /* reads are large: splice, not copy */
	size_t    burst;            /* bytes read in this round of events */
};

struct splicer {
	struct pipe_pool  *pp;
	struct splice_dir  d[2];
	bool               rd[2], wr[2]; /* socket of side i may be readable/writable */
	bool               hup[2];   /* side i's peer sent FIN: read until EOF */
	bool               failed, ended, owned;
	bool               close_follows; /* splice_set_close_follows() */
	bool               kicked;   /* a run is due in the next loop iteration */
	enum relay_end     why;
	/*
	 * The idle limit and the linger after a failure, and the kick: more to
	 * do after a callback's budget (made active by hand; splice.c).
	 */
	struct event       timer;
	uint64_t           idle_ms, last_ms, linger_until;
	splice_done_fn     done;
	splice_move_fn     move;     /* NULL: stays on this loop */
	void              *arg;
};

/* A pool of at most `max_idle` spare pipes; NULL on allocation failure. */
struct pipe_pool *pipe_pool_new(size_t max_idle);
/* Close every spare pipe and free the pool; pipes in use must be back. */
void              pipe_pool_free(struct pipe_pool *pp);
/* Pipes open now: spare, and lent to connections. */
size_t            pipe_pool_spare(const struct pipe_pool *pp);
size_t            pipe_pool_lent(const struct pipe_pool *pp);

/*
 * Relay between connected, non-blocking sockets cfd (the client) and bfd
 * (the VM); the splicer owns both from here, watches them with its own
 * edge-triggered events and closes them in splice_free(). Returns NULL on
 * allocation failure (the caller still owns the sockets).
 */
struct splicer *splice_start(struct event_base *base, struct pipe_pool *pp,
    int cfd, int bfd, uint64_t idle_ms, splice_done_fn done, void *arg);

/*
 * The same relay in memory the caller owns (sp), for a caller that already
 * watches both sockets with persistent edge-triggered events
 * (EV_READ|EV_WRITE|EV_CLOSED|EV_ET) and so need not register them again:
 * it passes each event on with splice_io(). Both sockets are taken to be
 * ready at first (edges may have passed before). The sockets stay the
 * caller's: splice_release() gives back pipes and timers but closes
 * nothing. `done` may free sp's memory.
 */
void splice_init(struct splicer *sp, struct event_base *base,
    struct pipe_pool *pp, int cfd, int bfd, uint64_t idle_ms,
    splice_done_fn done, void *arg);
/*
 * An event `what` fired on side 0 (cfd) or 1 (bfd): relay what can move.
 * May call done (and so free sp) before it returns.
 */
void splice_io(struct splicer *sp, int side, short what);
/*
 * Record an event seen before splice_init() (e.g. the peer's FIN,
 * EV_CLOSED) without relaying now; the relay's first run, in the next loop
 * iteration, acts on it. Never calls done.
 */
void splice_note(struct splicer *sp, int side, short what);
/* Stop the timers and give back (or drop) pipes; the sockets stay open. */
void splice_release(struct splicer *sp);

/*
 * Ask `move` (see splice_move_fn) the first time a direction turns bulk,
 * for a caller that would rather relay bulk on another thread. Once.
 */
void splice_set_mover(struct splicer *sp, splice_move_fn move);
/*
 * The caller closes both sockets as soon as done() reports
 * RELAY_END_CLOSED. The last EOF is then not passed on with shutdown():
 * the close sends the same FIN (that socket has read its own peer's EOF,
 * so nothing unread turns the close into a reset). One syscall less per
 * connection, as HAProxy closes.
 */
void splice_set_close_follows(struct splicer *sp);
/*
 * Whether the EOF toward side (0: the client, 1: the VM) was left to the
 * caller's close() (splice_set_close_follows()).
 */
bool splice_eof_by_close(const struct splicer *sp, int side);
/*
 * Take the relay off its loop: its timers stop and its pipes (and any
 * bytes in them) stay with it but leave pp's count. The caller removes
 * the socket events. Then only splice_attach() may touch sp, from any one
 * thread.
 */
void splice_detach(struct splicer *sp);
/*
 * Resume a detached relay on base with pool pp (the thread running base
 * calls this); it runs once in the next loop iteration. The caller
 * watches both sockets on base as for splice_init().
 */
void splice_attach(struct splicer *sp, struct event_base *base,
    struct pipe_pool *pp);

/* End now with RELAY_END_STOPPED (done is called). */
void     splice_stop(struct splicer *sp);
/* For splice_start() only: close both sockets, give back any pipe, free.
 * NULL is ignored. */
void     splice_free(struct splicer *sp);
/*
 * Add every byte of direction side (0: cfd to bfd) to *a and *b as well,
 * as it moves, with atomic adds (others read them on another thread: the
 * metrics of a long transfer grow while it runs). Either may be NULL; both
 * must outlive the splicer.
 */
void     splice_count_into(struct splicer *sp, int side, uint64_t *a,
    uint64_t *b);
uint64_t splice_bytes_up(const struct splicer *sp);
uint64_t splice_bytes_down(const struct splicer *sp);
/* Bytes in flight towards side 0 (client) or 1 (VM). */
size_t   splice_pending(const struct splicer *sp, int side);

#endif
