/*
 * ready.h -- the VMs that take new sessions for one service, lightest first
 * (pure).
 *
 * An indexed binary min-heap of the pool's members that be_takes_new() for
 * the service, ordered by sessions / be_weight() (compared by
 * cross-multiplication, no floats), equal loads by the turn stamp
 * (backend->turn: the lowest, i.e. the longest since rule 2 chose it, first).
 * Each slot keeps a copy of the key it was placed by, so the heap is walked
 * without touching the backends; backend->ready_at[svc] is the VM's slot
 * index + 1 (0 = not in the heap), which makes repositioning one VM
 * O(log n).
 *
 * The pool (backend.c) owns one heap per service and keeps it in line
 * through pool_touch(); select.c reads it through rdy_best(). Nothing here
 * allocates except rdy_build and rdy_reserve.
 */
#ifndef POOLGATE_READY_H
#define POOLGATE_READY_H

#include <stddef.h>
#include <stdint.h>

struct backend;

struct rdy_slot {
	struct backend *b;
	int             sessions;         /* the key b was placed by */
	int             weight;           /* be_weight(b) then, > 0 */
	uint64_t        turn;             /* b->turn then */
};

struct rdy_heap {
	struct rdy_slot *s;               /* owned, cap slots */
	size_t           n;
	size_t           cap;
};

/*
 * Fill h (empty and unallocated, as after rdy_free or zeroing) with every
 * one of be[0..n) that takes new sessions for svc, room for at least cap
 * (>= n) slots. Returns 0, or -1 on allocation failure (h left empty).
 */
int             rdy_build(struct rdy_heap *h, size_t svc,
    struct backend *const *be, size_t n, size_t cap);
/* Make room for at least cap slots. Returns 0, or -1 (h unchanged). */
int             rdy_reserve(struct rdy_heap *h, size_t cap);
/* Free the slots; h is empty and unallocated after. */
void            rdy_free(struct rdy_heap *h);

/*
 * Bring b's place in h in line with its current state for svc: insert it
 * when it takes new sessions and is not in h, take it out when it no longer
 * does, move it when its key changed. Aborts when h has no room left (the
 * pool reserves a slot for each member).
 */
void            rdy_update(struct rdy_heap *h, size_t svc, struct backend *b);
/* Take b out of h, if it is in. */
void            rdy_remove(struct rdy_heap *h, size_t svc, struct backend *b);

/*
 * The first of h in order that is not in tried[0..ntried), or NULL. The VM
 * returned is checked against its current state: a slot whose VM no longer
 * takes new sessions, or whose key is out of date (a pool_touch missed), is
 * repaired in place and the search starts over, so an ineligible VM is never
 * returned. Borrowed; tried is compared by pointer only, never dereferenced.
 * With every pool_touch made this
 * looks at 1 + 2 * (VMs skipped) slots, whatever the size of h; each repair
 * costs O(log n).
 */
struct backend *rdy_best(struct rdy_heap *h, size_t svc,
    struct backend *const *tried, size_t ntried);

#endif
