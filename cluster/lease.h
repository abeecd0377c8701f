/*
 * lease.h -- who runs the hooks: one node at a time, by a lease in Redis
 * (pure state machine; link.c sends the commands).
 *
 * The lease is one key holding the runner's node name with an expiry.
 * A node that is not the runner tries `SET key NODE NX PX lease` every
 * lease/3; the runner renews it as often with a compare-and-expire (only
 * while the key still names this node). The runner's own view of its lease
 * runs from when it *sent* the command that won or renewed it (Redis
 * started the expiry no earlier), shortened by a margin for clock rates, so
 * a runner cut off from Redis stops running hooks before the key can
 * expire there and another node can take it: two runners never overlap.
 * A dead runner's key expires within the lease and the next try of another
 * node takes it.
 */
#ifndef POOLGATE_CLUSTER_LEASE_H
#define POOLGATE_CLUSTER_LEASE_H

#include <stdbool.h>
#include <stdint.h>

enum cl_lease_act {
	CL_LEASE_NONE = 0,  /* nothing to send now */
	CL_LEASE_TRY,       /* send SET key NODE NX PX lease_ms */
	CL_LEASE_RENEW,     /* send the compare-and-expire of key to lease_ms */
};

enum cl_lease_answer {
	CL_LEASE_WON = 0,   /* SET NX took it, or the renewal extended it */
	CL_LEASE_HELD,      /* another node holds it (SET NX nil, renewal 0) */
	CL_LEASE_FAILED,    /* error reply, no reply within the deadline, link lost */
};

struct cl_lease {
	uint64_t lease_ms;      /* the key's expiry */
	uint64_t margin_ms;     /* given up this much before it */
	bool     runner;        /* we held it at the last answer */
	uint64_t valid_until;   /* runner: our lease ends here (monotonic ms) */
	bool     inflight;      /* a command is out, no answer yet */
	uint64_t sent_at;       /* when it went out */
	uint64_t next_at;       /* when the next command is due */
	uint64_t changes;       /* times we became or stopped being runner */
};

/* A follower with nothing sent; the first try is due at once. */
void cl_lease_init(struct cl_lease *l, uint64_t lease_ms);

/*
 * What to send now. link_up: Redis answers (nothing is sent otherwise).
 * Also ends a runner whose lease ran out unrenewed. The caller sends the
 * command and reports the answer with cl_lease_answer(); at most one is
 * out at a time.
 */
enum cl_lease_act cl_lease_tick(struct cl_lease *l, bool link_up,
    uint64_t now);

/* The answer to the command sent at the last tick. */
void cl_lease_answer(struct cl_lease *l, enum cl_lease_answer a,
    uint64_t now);

/* Whether this node runs the hooks now. */
bool cl_lease_runner(struct cl_lease *l, uint64_t now);

#endif
