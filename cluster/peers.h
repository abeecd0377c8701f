/*
 * peers.h -- the other poolgate nodes as their heartbeats describe them
 * (pure).
 *
 * Each node publishes, every second and soon after a change, its sessions
 * per VM (a CL_NODE entry, kept in Redis with a short expiry). A node
 * remembers the last heartbeat of every other node for `expiry_ms` after
 * it arrived: a node that stops (killed, cut off) leaves the pool-wide
 * count within that time. Times here are this node's monotonic clock; the
 * heartbeat's own stamp only orders two heartbeats of one node.
 */
#ifndef POOLGATE_CLUSTER_PEERS_H
#define POOLGATE_CLUSTER_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/entry.h"

#define CL_PEERS_MAX 16

struct cl_peer {
	char               node[CFG_NAME_MAX + 1];
	bool               draining;
	bool               runner_seen; /* its heartbeat says it runs the hooks */
	uint64_t           stamp;      /* of its last heartbeat (its wall clock) */
	uint64_t           seen_at;    /* when it arrived (our monotonic clock) */
	size_t             nvms;
	struct cl_vmcount *vms;        /* owned, sorted by name */
};

struct cl_peers {
	char           self[CFG_NAME_MAX + 1];
	uint64_t       expiry_ms;
	struct cl_peer p[CL_PEERS_MAX];
	size_t         n;
};

void cl_peers_init(struct cl_peers *ps, const char *self, uint64_t expiry_ms);
void cl_peers_free(struct cl_peers *ps);

/*
 * A heartbeat (e->kind CL_NODE) arrived at now. Our own and one older than
 * the last of that node are ignored. Returns 1 when applied, 0 when
 * ignored, -1 when CL_PEERS_MAX other nodes are known already or out of
 * memory.
 */
int  cl_peers_update(struct cl_peers *ps, const struct cl_entry *e,
    uint64_t now);

/* Forget nodes silent for expiry_ms; returns how many. */
size_t cl_peers_expire(struct cl_peers *ps, uint64_t now);

/* Sessions on vm summed over the other live nodes. */
uint32_t cl_peers_sessions(const struct cl_peers *ps, const char *vm,
    uint64_t now);

#endif
