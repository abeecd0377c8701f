/*
 * cluster.h -- this node as one of several poolgate nodes sharing one pool
 * through Redis (docs/design.md, "Several nodes").
 *
 * The daemon makes one when the configuration has a cluster group. It
 * passes on what the pool module reports as shared (the sink's shared():
 * an affinity, an operator state, an API VM changed here) and asks it
 * whether this node runs the hooks and whether Redis is reachable. The
 * rest it does itself on the event loop: it writes each change to Redis
 * and publishes it (fire and forget, link.c), applies the other nodes'
 * changes when they are newer (stamps.c), reads the whole table before it
 * takes part and writes its own changes again after Redis came back, sends
 * this node's heartbeat (sessions per VM, draining, runner) every second
 * and soon after a change, folds the other nodes' sessions into every VM's
 * load (mbr_set_remote), and holds or seeks the hook runner's lease. The
 * hook runner shares the busy/idle edges it ran (cl_node_edge); the others'
 * go back to the daemon through its sink.
 * Main thread only.
 */
#ifndef POOLGATE_CLUSTER_CLUSTER_H
#define POOLGATE_CLUSTER_CLUSTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backends/members.h"
#include "cluster/link.h"
#include "cluster/peers.h"
#include "config/config.h"

struct event_base;
struct cl_node;

/*
 * What the cluster hands back to the daemon. edge: another node's hook
 * runner ran vm_busy (busy) or vm_idle (!busy) for the VM `vm` (borrowed
 * for the call), heard now or read back from Redis; the daemon's hook
 * detector adopts it (hk_adopt). May be NULL.
 */
struct cl_node_sink {
	void (*edge)(void *arg, const char *vm, bool busy);
	void  *arg;
};

/*
 * Start this node's part: cfg is read now (not kept); password may be NULL
 * (no AUTH); m is borrowed for the node's life; sink is copied (NULL: none).
 * aff_ttl_ms is the affinity ttl, the expiry written for a key with live
 * sessions. Returns NULL when out of memory.
 */
struct cl_node *cl_node_new(struct event_base *base,
    const struct cfg_cluster *cfg, const char *password, struct members *m,
    uint64_t aff_ttl_ms, const struct cl_node_sink *sink);

/* Stop and free (Redis keeps what was written). c may be NULL. */
void cl_node_free(struct cl_node *c);

/* The pool module's sink reported a shared change (see sink.h). */
void cl_node_shared(struct cl_node *c, enum mbr_shared what,
    const char *name);

/*
 * This node, the hook runner, just ran vm_busy (busy) or vm_idle (!busy)
 * for the VM `vm`: share it as the VM's hook edge (h:<vm>), so that a node
 * taking over later goes on from what the scale set was told. Written
 * again after Redis was away, like the node's other changes. c may be NULL.
 */
void cl_node_edge(struct cl_node *c, const char *vm, bool busy);

/* The affinity ttl changed (reload). */
void cl_node_set_ttl(struct cl_node *c, uint64_t aff_ttl_ms);

/* Redis reachable and the table read: false means degraded. */
bool cl_node_up(const struct cl_node *c);

/* This node holds the hook runner's lease now. */
bool cl_node_runner(struct cl_node *c);

/*
 * Redis is up and a hook runner is known: this node, or another whose
 * heartbeat said so within the last 1.5 s. Without one, an edge detected
 * now might be run by nobody; the daemon holds vm_idle back meanwhile
 * (like for a silent agent). True without a cluster (c NULL).
 */
bool cl_node_runner_known(struct cl_node *c);

/* The operator took this node out of the front (or back in). */
void cl_node_set_draining(struct cl_node *c, bool draining);
bool cl_node_draining(const struct cl_node *c);

/* For /status, the admin API and /metrics. Borrowed from c; valid until
 * control returns to the event loop. */
struct cl_status {
	const char             *node;
	bool                    up;
	bool                    draining;
	bool                    runner;
	uint64_t                applied;    /* other nodes' changes applied */
	uint64_t                refused;    /* entries read back and refused */
	uint64_t                unchanged;  /* affinity changes not shared:
	                                     * same VM, expiry moved < 1 s */
	struct cl_link_stats    link;
	const struct cl_peers  *peers;      /* the other nodes heard of */
};
void cl_node_status(const struct cl_node *c, struct cl_status *st);

#endif
