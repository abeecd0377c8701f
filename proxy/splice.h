/*
 * splice.h -- zero-copy two-way relay of two TCP sockets (tcp services).
 *
 * Bytes move socket -> pipe -> socket with splice(2): they never enter user
 * space. A pipe is taken from a small pool only while bytes of that
 * direction are in flight and given back as soon as it is empty, so an idle
 * connection holds no pipe and no buffer, only this struct (one allocation,
 * its events embedded). Each direction is bounded by the pipe's capacity:
 * while its pipe is full, reading from the source stops (backpressure).
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

#include "proxy/relay.h"

struct splicer;
struct pipe_pool;

/* A pool of at most `max_idle` spare pipes; NULL on allocation failure. */
struct pipe_pool *pipe_pool_new(size_t max_idle);
/* Close every spare pipe and free the pool; pipes in use must be back. */
void              pipe_pool_free(struct pipe_pool *pp);
/* Pipes open now: spare, and lent to connections. */
size_t            pipe_pool_spare(const struct pipe_pool *pp);
size_t            pipe_pool_lent(const struct pipe_pool *pp);

typedef void (*splice_done_fn)(struct splicer *sp, enum relay_end why,
    void *arg);

/*
 * Relay between connected, non-blocking sockets cfd (the client) and bfd
 * (the VM); the splicer owns both from here and closes them in
 * splice_free(). Returns NULL on allocation failure (the caller still owns
 * the sockets).
 */
struct splicer *splice_start(struct event_base *base, struct pipe_pool *pp,
    int cfd, int bfd, uint64_t idle_ms, splice_done_fn done, void *arg);

/* End now with RELAY_END_STOPPED (done is called). */
void     splice_stop(struct splicer *sp);
/* Close both sockets, give back any pipe, free. NULL is ignored. */
void     splice_free(struct splicer *sp);
uint64_t splice_bytes_up(const struct splicer *sp);
uint64_t splice_bytes_down(const struct splicer *sp);
/* Bytes in flight towards side 0 (client) or 1 (VM). */
size_t   splice_pending(const struct splicer *sp, int side);

#endif
