/*
 * ready.c -- the VMs that take new sessions for one service, lightest first
 * (pure).
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "backends/backend.h"
#include "backends/ready.h"

/*
 * Slot a before slot b: a lower sessions / weight, compared as in
 * sessions_a * weight_b < sessions_b * weight_a in 64 bits (weights > 0),
 * then the lower turn stamp. Stamps are unique, so the order is total and
 * the first VM is always the same one, whatever the heap's shape.
 */
static bool
rdy_before(const struct rdy_slot *a, const struct rdy_slot *b)
{
	int64_t l = (int64_t)a->sessions * b->weight;
	int64_t r = (int64_t)b->sessions * a->weight;

	return l != r ? l < r : a->turn < b->turn;
}

static void
rdy_key(struct rdy_slot *s, struct backend *b)
{
	s->b = b;
	s->sessions = be_load(b);
	s->weight = be_weight(b);
	s->turn = b->turn;
}

/* The slot still says what b is: it takes new sessions, same key. */
static bool
rdy_current(const struct rdy_slot *s, size_t svc)
{
	const struct backend *b = s->b;

	return be_takes_new(b, svc) && s->sessions == be_load(b) &&
	    s->weight == be_weight(b) && s->turn == b->turn;
}

static void
rdy_put(struct rdy_heap *h, size_t i, const struct rdy_slot *s, size_t svc)
{
	h->s[i] = *s;
	s->b->ready_at[svc] = (uint32_t)(i + 1);
}

/* Move s, destined for the hole at i, down to its place. */
static void
rdy_down(struct rdy_heap *h, size_t i, struct rdy_slot s, size_t svc)
{
	size_t c;

	while ((c = 2 * i + 1) < h->n) {
		if (c + 1 < h->n && rdy_before(&h->s[c + 1], &h->s[c]))
			c++;
		if (!rdy_before(&h->s[c], &s))
			break;
		rdy_put(h, i, &h->s[c], svc);
		i = c;
	}
	rdy_put(h, i, &s, svc);
}

/* Move s, destined for the hole at i, up or down to its place. */
static void
rdy_sift(struct rdy_heap *h, size_t i, struct rdy_slot s, size_t svc)
{
	while (i > 0 && rdy_before(&s, &h->s[(i - 1) / 2])) {
		rdy_put(h, i, &h->s[(i - 1) / 2], svc);
		i = (i - 1) / 2;
	}
	rdy_down(h, i, s, svc);
}

int
rdy_reserve(struct rdy_heap *h, size_t cap)
{
	struct rdy_slot *ns;
	size_t ncap = h->cap ? h->cap : 8;

	if (cap <= h->cap)
		return 0;
	while (ncap < cap)
		ncap *= 2;
	if ((ns = reallocarray(h->s, ncap, sizeof(*ns))) == NULL)
		return -1;
	h->s = ns;
	h->cap = ncap;
	return 0;
}

void
rdy_free(struct rdy_heap *h)
{
	free(h->s);
	h->s = NULL;
	h->n = h->cap = 0;
}

int
rdy_build(struct rdy_heap *h, size_t svc, struct backend *const *be,
    size_t n, size_t cap)
{
	struct rdy_slot s;
	size_t i;

	if (rdy_reserve(h, cap > n ? cap : n) == -1)
		return -1;
	h->n = 0;
	for (i = 0; i < n; i++) {
		be[i]->ready_at[svc] = 0;
		if (be_takes_new(be[i], svc))
			rdy_key(&h->s[h->n++], be[i]);
	}
	/* Floyd's heapify, O(n); then the slots that never moved are recorded. */
	for (i = h->n / 2; i-- > 0; ) {
		s = h->s[i];
		rdy_down(h, i, s, svc);
	}
	for (i = 0; i < h->n; i++)
		h->s[i].b->ready_at[svc] = (uint32_t)(i + 1);
	return 0;
}

void
rdy_remove(struct rdy_heap *h, size_t svc, struct backend *b)
{
	size_t i = b->ready_at[svc];

	if (i == 0)
		return;
	if (i > h->n || h->s[i - 1].b != b) {
		fprintf(stderr, "rdy_remove: %s at %zu of %zu: desynchronized\n",
		    b->name, i, h->n);
		abort();
	}
	b->ready_at[svc] = 0;
	if (--i == --h->n)
		return;                 /* it was the last slot */
	rdy_sift(h, i, h->s[h->n], svc);
}

void
rdy_update(struct rdy_heap *h, size_t svc, struct backend *b)
{
	struct rdy_slot s;
	size_t i = b->ready_at[svc];

	if (!be_takes_new(b, svc)) {
		rdy_remove(h, svc, b);
		return;
	}
	rdy_key(&s, b);
	if (i == 0) {
		if (h->n == h->cap) {
			fprintf(stderr, "rdy_update: %s: no room in %zu slots\n",
			    b->name, h->cap);
			abort();
		}
		i = ++h->n;
	} else if (i > h->n || h->s[i - 1].b != b) {
		fprintf(stderr, "rdy_update: %s at %zu of %zu: desynchronized\n",
		    b->name, i, h->n);
		abort();
	}
	rdy_sift(h, i - 1, s, svc);
}

/*
 * Best-first walk: the frontier holds the slots whose parent was skipped
 * (tried), so the first of the frontier is the first of what is left. Each
 * skipped slot adds at most one to the frontier; beyond RDY_WALK_MAX - 1
 * distinct VMs tried (SESSION_MAX_TRIES is 3), a plain pass over the slots
 * does instead.
 */
#define RDY_WALK_MAX 16

static size_t
rdy_first_untried(const struct rdy_heap *h, struct backend *const *tried,
    size_t ntried)
{
	size_t front[RDY_WALK_MAX], nfront = 0, i, k, c, best;

	if (h->n == 0)
		return SIZE_MAX;
	front[nfront++] = 0;
	while (nfront > 0) {
		for (best = 0, k = 1; k < nfront; k++)
			if (rdy_before(&h->s[front[k]], &h->s[front[best]]))
				best = k;
		i = front[best];
		front[best] = front[--nfront];
		if (!be_in_list(h->s[i].b, tried, ntried))
			return i;
		for (c = 2 * i + 1; c <= 2 * i + 2 && c < h->n; c++) {
			if (nfront == RDY_WALK_MAX)
				goto scan;
			front[nfront++] = c;
		}
	}
	return SIZE_MAX;
scan:
	for (best = SIZE_MAX, i = 0; i < h->n; i++)
		if (!be_in_list(h->s[i].b, tried, ntried) &&
		    (best == SIZE_MAX || rdy_before(&h->s[i], &h->s[best])))
			best = i;
	return best;
}

struct backend *
rdy_best(struct rdy_heap *h, size_t svc, struct backend *const *tried,
    size_t ntried)
{
	size_t i;

	/*
	 * Each repair brings one slot up to date and nothing changes while we
	 * look, so this ends after at most h->n repairs; with every
	 * pool_touch made, after none.
	 */
	while ((i = rdy_first_untried(h, tried, ntried)) != SIZE_MAX) {
		if (rdy_current(&h->s[i], svc))
			return h->s[i].b;
		rdy_update(h, svc, h->s[i].b);
	}
	return NULL;
}
