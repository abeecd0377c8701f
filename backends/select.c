/*
 * select.c -- choosing a VM for a new connection (pure).
 *
 * O(n) over the pool per pick; pools are tens of VMs, not thousands.
 */
#include "backends/select.h"

static bool
sel_was_tried(const struct backend *b, struct backend *const *tried,
    size_t ntried)
{
	size_t i;

	for (i = 0; i < ntried; i++)
		if (tried[i] == b)
			return true;
	return false;
}

/*
 * a->sessions / be_weight(a) < b->sessions / be_weight(b), without division
 * or floats: both sides multiplied by the weights (> 0 for any VM that takes
 * new sessions; they include the agent's percentage), in 64 bits so that
 * int * int cannot overflow.
 */
static bool
sel_lighter(const struct backend *a, const struct backend *b)
{
	return (int64_t)a->sessions * be_weight(b) <
	    (int64_t)b->sessions * be_weight(a);
}

struct backend *
sel_pick(struct pool *pool, size_t svc, struct aff_table *aff,
    const char *key, uint64_t now, struct backend *const *tried,
    size_t ntried, bool *by_affinity)
{
	const struct aff_entry *e;
	struct backend *b, *best = NULL;
	size_t k, i, start, besti = 0;

	if (by_affinity != NULL)
		*by_affinity = false;
	if (pool == NULL || pool->n == 0)
		return NULL;

	if (aff != NULL && key != NULL &&
	    (e = aff_lookup(aff, key, now)) != NULL) {
		b = pool_find(pool, e->backend);
		if (b != NULL && be_takes_affine(b, svc) &&
		    !sel_was_tried(b, tried, ntried)) {
			/* Not a turn: rr stays where the load picks left it. */
			if (by_affinity != NULL)
				*by_affinity = true;
			return b;
		}
	}

	/*
	 * Scan from the VM whose turn it is, keeping only a strictly lighter
	 * one: among equals the first in turn wins, and rr then moves past it.
	 */
	start = pool->rr < pool->n ? pool->rr : 0;
	for (k = 0; k < pool->n; k++) {
		i = (start + k) % pool->n;
		b = pool->be[i];
		if (!be_takes_new(b, svc) || sel_was_tried(b, tried, ntried))
			continue;
		if (best == NULL || sel_lighter(b, best)) {
			best = b;
			besti = i;
		}
	}
	if (best != NULL)
		pool->rr = (besti + 1) % pool->n;
	return best;
}
