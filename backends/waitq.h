/*
 * waitq.h -- connections waiting for a VM, in arrival order (pure).
 *
 * When no VM can take a new SSH session (the pool is at zero at night, or
 * full), a service with a queue holds the connection instead of refusing it,
 * at most `max` of them, each for at most `timeout`. The queue is intrusive:
 * the waiting thing embeds a struct wq_node, so pushing never allocates and
 * a client that leaves can unlink itself in O(1).
 */
#ifndef POOLGATE_WAITQ_H
#define POOLGATE_WAITQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wq_node {
	struct wq_node *prev, *next;
	uint64_t        deadline_ms;
	bool            queued;
};

struct waitq {
	struct wq_node *head, *tail;   /* head = oldest */
	size_t          n;
	size_t          max;
	uint64_t        timeout_ms;
};

void wq_init(struct waitq *q, size_t max, uint64_t timeout_ms);
/* Change the limits; entries already waiting keep their deadline. */
void wq_configure(struct waitq *q, size_t max, uint64_t timeout_ms);

/*
 * Queue n (not already queued) at the tail, to wait until now + timeout.
 * Returns 0, or -1 when the queue holds max entries already.
 */
int  wq_push(struct waitq *q, struct wq_node *n, uint64_t now);

/* The oldest waiting entry, unlinked; NULL when empty. */
struct wq_node *wq_pop(struct waitq *q);

/* Unlink n if it is queued (the client left); harmless otherwise. */
void wq_remove(struct waitq *q, struct wq_node *n);

/*
 * The oldest entry whose deadline has passed (deadline <= now), unlinked;
 * NULL when none. Call until NULL to time out everything due. Entries are
 * in deadline order as long as the timeout does not shrink, so this is O(1).
 */
struct wq_node *wq_pop_expired(struct waitq *q, uint64_t now);

/* Milliseconds until the oldest entry times out, or UINT64_MAX when empty. */
uint64_t wq_next_deadline(const struct waitq *q, uint64_t now);

#endif
