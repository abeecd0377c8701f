/*
 * link.h -- the link to Redis: hiredis' async API on the daemon's libevent
 * base, so the event loop never waits for Redis.
 *
 * Two connections to the master: one for commands (the conditional
 * writes, the whole table read at start, the lease) and one subscribed to
 * the change channel `<prefix>events`. Debian's hiredis (0.14) has no
 * timeouts in its async API, so the link keeps its own: every command must
 * be answered within `deadline_ms`, and the subscribed connection must
 * hear the link's own probe, published every deadline/3, within the
 * deadline as well; otherwise the link counts Redis as unreachable, drops
 * both connections and connects again after a backoff (200 ms doubling to
 * 5 s). A silent Redis is therefore "down" after the deadline, however
 * TCP behaves.
 *
 * Where the master is: the listed addresses in turn, or with `sentinels`
 * the answer of `SENTINEL get-master-addr-by-name MASTER` from the first
 * sentinel that answers; the link then stays subscribed to that sentinel's
 * `+switch-master` and reconnects when the master moves (and asks again
 * whenever the master fails, e.g. a READONLY answer from a demoted one).
 *
 * Up means: connected, authenticated (AUTH with the password, when one is
 * set), subscribed, and the whole table read once (SCAN and MGET; every
 * entry went to the entry callback). Changes published meanwhile arrive
 * through the subscription, which starts first, so nothing is missed.
 *
 * Writes are fire and forget: cl_link_put() queues one command and never
 * waits; while the link is not up it drops the write (the caller replays
 * what it changed meanwhile when the link comes up). At most
 * CL_LINK_INFLIGHT_MAX commands are out at once; past that a write is
 * dropped and counted.
 */
#ifndef POOLGATE_CLUSTER_LINK_H
#define POOLGATE_CLUSTER_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cluster/lease.h"
#include "config/config.h"

struct event_base;
struct cl_link;

#define CL_LINK_INFLIGHT_MAX 4096
#define CL_LINK_ADDRS_MAX    8

struct cl_link_conf {
	char        node[CFG_NAME_MAX + 1];
	const char *prefix;                  /* borrowed for the call only */
	const char *password;                /* borrowed for the call; NULL: no AUTH */
	/* numeric "ADDR:PORT" texts, copied */
	const char *redis[CL_LINK_ADDRS_MAX];
	size_t      nredis;
	const char *sentinels[CL_LINK_ADDRS_MAX];
	size_t      nsentinels;              /* > 0: ask them (master must be set) */
	const char *master;                  /* the Sentinel master name */
	uint64_t    deadline_ms;             /* an answer later than this: unreachable */
};

struct cl_link_cb {
	void *arg;
	/*
	 * One entry, from the table read at start or from the channel: its
	 * key without the prefix and its value, neither NUL-terminated, both
	 * untrusted (the caller decodes them with cl_decode()).
	 */
	void (*entry)(void *arg, const char *name, size_t namelen,
	    const char *value, size_t valuelen);
	/* The link came up (table read) or went down. */
	void (*state)(void *arg, bool up);
};

/*
 * Start linking (the first connection goes out from the event loop at
 * once). Returns NULL when out of memory or an address is not numeric
 * "ADDR:PORT". cb is copied.
 */
struct cl_link *cl_link_new(struct event_base *base,
    const struct cl_link_conf *conf, const struct cl_link_cb *cb);

/* Close both connections and free; no callback runs afterwards. l may be NULL. */
void cl_link_free(struct cl_link *l);

bool cl_link_up(const struct cl_link *l);

/*
 * Write `name` (without the prefix) = value unless Redis holds a value
 * with a later stamp (the stamp leads every value: see entry.h), with an
 * expiry of ttl_ms (0: none), and publish "name value" on the channel when
 * written. Returns 0 when queued, -1 when dropped (link not up, too many
 * commands out, name or value too long).
 */
int  cl_link_put(struct cl_link *l, const char *name, const char *value,
    uint64_t stamp, uint64_t ttl_ms);

/*
 * Send the lease command `act` (CL_LEASE_TRY or CL_LEASE_RENEW) for
 * lease_ms; done() gets the answer (CL_LEASE_FAILED when the link fails
 * or the deadline passes first) from the event loop, exactly once, unless
 * the link is freed first. Returns 0, or -1 when it could not be sent
 * (then done is not called).
 */
int  cl_link_lease(struct cl_link *l, enum cl_lease_act act,
    uint64_t lease_ms, void (*done)(void *arg, enum cl_lease_answer a),
    void *arg);

/* For /status: the master in use ("" when none) and counters. */
struct cl_link_stats {
	char     master[64];
	uint64_t connects;        /* times the link came up */
	uint64_t failures;        /* times it went down or failed to come up */
	uint64_t dropped;         /* writes dropped (down, too many out) */
	uint64_t loaded;          /* entries read at the last load */
	uint64_t up_since_ms;     /* monotonic, 0 when down */
	uint64_t down_since_ms;   /* monotonic, 0 when up */
	char     last_error[128];
};
void cl_link_stats(const struct cl_link *l, struct cl_link_stats *st);

#endif
