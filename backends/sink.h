/*
 * sink.h -- the one event sink: how the pool and the data path tell the
 * daemon what happened, without calling up into it.
 *
 * The daemon sets one struct pg_sink at start (daemon/server.c) and hands a
 * pointer to the pool module (backends/members.h) and the data path
 * (proxy/proxy.h). Checks end in one call to the pool module (relayd's
 * hce_notify_done), which tells the sink when health changed; nobody else
 * keeps an observer. Every callback may be NULL (nothing to do), runs on
 * the main thread, and must not free the backend it is given (MB_GONE: the
 * backend is freed right after the call returns).
 */
#ifndef POOLGATE_SINK_H
#define POOLGATE_SINK_H

#include <stdbool.h>
#include <stddef.h>

struct backend;

/* What happened to a pool member (pg_sink.member). */
enum mbr_change {
	MBR_ADDED = 0,   /* new: down for every service; start its checks */
	MBR_UPDATED,     /* kept: weight, cap, address or owner may differ; restart its checks */
	MBR_REMOVED,     /* draining towards removal: stop its checks */
	MBR_GONE,        /* about to be freed (removed, last session ended) */
};

/* What other poolgate nodes share changed here (pg_sink.shared). */
enum mbr_shared {
	MBR_SH_AFFINITY = 0,  /* the affinity of key `name` (look it up) */
	MBR_SH_ADMIN,         /* the operator state of VM `name` */
	MBR_SH_VM,            /* the admin API added, changed or removed VM `name` */
};

struct pg_sink {
	void *arg;   /* passed to every callback */
	/* Service `svc` of b went up or down (why: the last error, or ""). */
	void (*health)(void *arg, struct backend *b, const char *svc, bool up,
	    const char *why);
	/* A member was added, updated, removed or is going (see above). */
	void (*member)(void *arg, struct backend *b, enum mbr_change what);
	/*
	 * Capacity may have appeared (a VM came up, was added or made ready, a
	 * session ended): hand queued connections to VMs.
	 */
	void (*capacity)(void *arg);
	/* A session or connection ended: reap, hooks, maybe finish a stop. */
	void (*session_gone)(void *arg);
	/* A login found no VM that could take it (service index svc). */
	void (*no_capacity)(void *arg, size_t svc);
	/*
	 * Something the nodes of a cluster share changed on this node
	 * (cluster/ passes it on); not called for what another node's change
	 * did here (mbr_apply_*).
	 */
	void (*shared)(void *arg, enum mbr_shared what, const char *name);
	/* A line for the operator's recent events (status page). */
	void (*note)(void *arg, const char *text);
};

/* sink->note with a formatted text (cut at 240 bytes); s may be NULL. */
void sink_notef(const struct pg_sink *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#endif
