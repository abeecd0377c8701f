/*
 * select.c -- choosing a VM for a new connection (pure).
 *
 * Rule 2 reads the per-service heap the pool keeps (backends/ready.h): the
 * lightest VM is at the top, so a pick is O(log n) -- the winner's new turn
 * stamp moves it behind its equals -- not a scan of the pool. Pools of a
 * thousand VMs are expected. Only when the heap cannot be allocated does a
 * pick scan the pool, with the same order.
 */
#include "backends/select.h"

/*
 * a before b in the order of rule 2: be_load(a) / be_weight(a) <
 * be_load(b) / be_weight(b) without division or floats, both sides
 * multiplied by the weights (> 0 for any VM that takes new sessions; they
 * include the agent's percentage), in 64 bits so that int * int cannot
 * overflow; equal loads by the older turn stamp. The same order as the heap
 * (ready.c).
 */
static bool
sel_before(const struct backend *a, const struct backend *b)
{
	int64_t l = (int64_t)be_load(a) * be_weight(b);
	int64_t r = (int64_t)be_load(b) * be_weight(a);

	return l != r ? l < r : a->turn < b->turn;
}

/* Rule 2 without the heap (out of memory): O(n), same answer. */
static struct backend *
sel_scan(struct pool *pool, size_t svc, struct backend *const *tried,
    size_t ntried)
{
	struct backend *b, *best = NULL;
	size_t i;

	for (i = 0; i < pool->n; i++) {
		b = pool->be[i];
		if (!be_takes_new(b, svc) || be_in_list(b, tried, ntried))
			continue;
		if (best == NULL || sel_before(b, best))
			best = b;
	}
	return best;
}

struct backend *
sel_pick(struct pool *pool, size_t svc, struct aff_table *aff,
    const char *key, uint64_t now, struct backend *const *tried,
    size_t ntried, bool *by_affinity)
{
	const struct aff_entry *e;
	struct rdy_heap *h;
	struct backend *b;

	if (by_affinity != NULL)
		*by_affinity = false;
	if (pool == NULL || pool->n == 0)
		return NULL;

	if (aff != NULL && key != NULL &&
	    (e = aff_lookup(aff, key, now)) != NULL) {
		b = pool_find(pool, e->backend);
		if (b != NULL && be_takes_affine(b, svc) &&
		    !be_in_list(b, tried, ntried)) {
			/* Not a turn: no stamp, the load order stays as it is. */
			if (by_affinity != NULL)
				*by_affinity = true;
			return b;
		}
	}

	if (svc >= CFG_MAX_SERVICES)
		return NULL;
	if ((h = pool_ready(pool, svc)) != NULL)
		b = rdy_best(h, svc, tried, ntried);
	else
		b = sel_scan(pool, svc, tried, ntried);
	if (b != NULL) {
		/* Its turn is taken: behind its equals, in every service. */
		b->turn = ++pool->turn;
		pool_touch(pool, b);
	}
	return b;
}
