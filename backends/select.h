/*
 * select.h -- choosing a VM for a new connection (pure).
 *
 * Order of preference:
 *   1. a live affinity for `key` to a VM that is healthy for the service and
 *      not in maint (ready or drain: a draining VM still takes its returning
 *      users, whatever its max_sessions);
 *   2. otherwise the VM with the lowest sessions/weight among those that are
 *      ready, healthy for the service and below max_sessions; equal loads
 *      are taken in turn: VMs never chosen by this rule first, in the order
 *      they were added, then the one chosen longest ago; the winner gets a
 *      new stamp (backend->turn = ++pool->turn) that puts it behind its
 *      equals.
 * VMs listed in `tried` (earlier failed attempts of the same connection) are
 * never chosen, neither through affinity nor by load.
 *
 * Rule 2 reads the pool's per-service heap, O(log n) per pick: it relies on
 * pool_touch() after every change to a VM's state or load (backend.h).
 */
#ifndef POOLGATE_SELECT_H
#define POOLGATE_SELECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backends/affinity.h"
#include "backends/backend.h"

/*
 * Returns the chosen backend (borrowed from pool) or NULL when none can take
 * the connection. key and aff may be NULL (no affinity). *by_affinity, when
 * not NULL, tells whether rule 1 chose.
 */
struct backend *sel_pick(struct pool *pool, size_t svc, struct aff_table *aff,
    const char *key, uint64_t now, struct backend *const *tried,
    size_t ntried, bool *by_affinity);

#endif
