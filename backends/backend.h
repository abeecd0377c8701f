/*
 * backend.h -- the VM registry: every pool member, its state and its load.
 *
 * A backend is one VM. It serves every service; its health is kept per
 * service (indexed like pg_config.services). Its state for the operator is
 * derived: maint > drain (operator or agent drain, removed from the
 * configuration, or an agent weight of 0%) > down (some service unhealthy,
 * or the agent says down) > up.
 *
 * The admin state has two owners: the operator (`admin`: admin API, state
 * file) and the VM's agent (`agent_admin`, backends/agent.c). Each undoes
 * only its own; the effective state is the stronger of the two
 * (be_admin_effective), so an operator's `ready` leaves an agent's drain in
 * place and the other way round.
 *
 * The registry (struct pool) owns its backends. A backend removed from the
 * configuration is marked `removed`: it takes no new sessions and is freed by
 * srv_reap() (daemon/server.c) once its last session has ended.
 *
 * The pool keeps, per service, the VMs that take new sessions in load order
 * (backends/ready.h), so that choosing the least loaded one does not scan
 * the pool. Whoever changes what be_takes_new() or the load reads --
 * sessions, weight, max_sessions, admin, removed, a service's health, any
 * agent_* figure -- calls pool_touch() on that backend afterwards.
 */
#ifndef POOLGATE_BACKEND_H
#define POOLGATE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backends/health.h"
#include "backends/ready.h"
#include "config/config.h"

struct vm_report;   /* backends/report.h */

enum be_admin { BE_ADMIN_READY = 0, BE_ADMIN_DRAIN, BE_ADMIN_MAINT };

/* Where a VM's membership comes from; each source manages only its own. */
enum be_source { BE_SRC_FILE = 0, BE_SRC_API, BE_SRC_DISCOVERY_FILE, BE_SRC_DNS };
enum be_state { BE_UP = 0, BE_DOWN, BE_DRAIN, BE_MAINT };

struct be_health {
	struct hc_state hc;
	char            last_error[128];  /* "" when the last check passed */
	uint64_t        last_check_ms;    /* clock of the last result, 0 = never */
	uint64_t        last_latency_ms;
	uint64_t        checks;
	uint64_t        failures;
};

struct backend {
	/*
	 * What selection reads for every VM comes first, so a scan over many
	 * VMs touches one cache line each (with health[0], the first service's
	 * health, right behind): see bench/bench_select.c.
	 */
	int              sessions;        /* live sessions, all services */
	int              reported;        /* users with work, as the agent's report says */
	int              remote;          /* sessions other poolgate nodes hold on it (cluster/) */
	int              weight;          /* >= 1 */
	int              max_sessions;    /* 0 = no cap */
	enum be_admin    admin;
	bool             removed;         /* gone from the config: drain, then free */
	bool             agent_down;      /* agent said down/fail/stopped */
	bool             identity_bad;    /* its SSH host keys are not the pool's */
	bool             evicting;        /* the cloud evicts it: drain (report) */
	enum be_admin    agent_admin;     /* the agent's own ready/drain/maint */
	int              agent_weight_pct; /* -1 = none, else 0..AGENT_PCT_MAX of weight */
	int              agent_maxconn;   /* -1 = none, 0 = no cap from the agent */
	/*
	 * The services the VM serves: [0, nservices) of health[]. A new
	 * session of any service goes only to a VM healthy for all of them
	 * (be_takes_new); set by pool_add and pool_set_services.
	 */
	size_t           nservices;
	struct be_health health[CFG_MAX_SERVICES];

	char             name[CFG_NAME_MAX + 1];
	struct cfg_addr  addr;            /* port 0; addr.text owned */
	int              conns;           /* open HTTP connections to it (not sessions) */
	uint64_t         connections;     /* total connections relayed */
	/* client -> VM and back, of tcp sessions as the bytes move (atomic:
	   relay threads add to them) */
	uint64_t         bytes_up;
	uint64_t         bytes_down;
	void            *check[CFG_MAX_SERVICES]; /* owned by backends/check.c */

	/*
	 * What the VM's agent reported (backends/agent.c, HAProxy agent-check
	 * grammar), besides the figures above that selection reads. Each stays
	 * until the agent reports it again or the agent check is reset
	 * (be_agent_clear); an unreachable agent changes none of them.
	 */
	char             agent_reason[128]; /* "#text" of the last reply with a state word */
	char             agent_last[128]; /* last reply (normalised) or error, for status */
	bool             agent_last_ok;   /* the last attempt got a valid reply */
	uint64_t         agent_last_ms;   /* clock of the last attempt, 0 = never */
	void            *agent_check;     /* owned by backends/check_agent.c */
	/*
	 * The agent's last report (GET /v1/report, backends/report.h), kept
	 * by members (mbr_report): `report` is the last one read (NULL before
	 * the first), report_ok whether the last attempt read one.
	 */
	struct vm_report *report;         /* owned */
	bool             report_ok;
	uint64_t         report_ms;       /* clock of the last attempt, 0 = never */
	char             report_err[128]; /* why the last attempt failed */
	char             identity_why[192]; /* identity_bad: the first reason */
	int              claims_lost;     /* users with work here whose affinity
	                                     another VM holds (more recent work) */
	enum be_source   source;          /* who manages it */

	/*
	 * Selection's bookkeeping (backend.c, ready.c, select.c). Equal loads
	 * go lowest turn first: pool->added at its addition, then pool->turn
	 * at each pick by load, always above any pool->added. So VMs never
	 * chosen come first, in the order they were added, then the one
	 * chosen longest ago.
	 */
	uint64_t         turn;
	uint32_t         ready_at[CFG_MAX_SERVICES]; /* slot + 1 in pool->ready[svc], 0 = not in it */
};

/* Where the turns of picks by load start (backend->turn). */
#define POOL_TURN_PICKED (UINT64_C(1) << 63)

struct pool {
	struct backend **be;              /* owned array of owned backends */
	size_t           n;
	size_t           cap;
	/*
	 * Per service, the members that take new sessions, lightest first.
	 * A service's heap is built at its first pick by load (select.c) and
	 * kept from then on: bit svc of `ready_live`.
	 */
	struct rdy_heap  ready[CFG_MAX_SERVICES];
	uint32_t         ready_live;
	uint64_t         added;           /* last backend->turn given by pool_add */
	uint64_t         turn;            /* last one given by a pick by load, from 2^63 */
	/*
	 * Names -> backends, open addressing, at most half full: pool_find is
	 * O(1) on the hot path (every affinity hit resolves a name). Rebuilt
	 * on each add and remove, which are rare.
	 */
	struct backend **idx;
	size_t           idxcap;          /* power of two, or 0 */
	size_t           nservices;       /* given to each member (backend->nservices) */
};

void            pool_init(struct pool *p);
/* Frees every backend; check contexts must have been stopped first. */
void            pool_clear(struct pool *p);
/* The backend called `name`, or NULL. Borrowed. */
struct backend *pool_find(const struct pool *p, const char *name);
/*
 * Add a new backend from its configuration, down for every service with
 * fresh health. Returns the borrowed backend, or NULL on allocation failure.
 */
struct backend *pool_add(struct pool *p, const struct cfg_backend *cb);
/*
 * The pool serves services [0, n): every member (and every one added later)
 * must be healthy for each of them to take a new session. Touches every
 * member. n is capped at CFG_MAX_SERVICES.
 */
void            pool_set_services(struct pool *p, size_t n);
/* Remove and free backend at index i (order of others is kept). */
void            pool_remove_at(struct pool *p, size_t i);
/*
 * Put b (a member of p) back in its place for selection after any change to
 * its sessions, weight, max_sessions, admin, removed, health or agent_*
 * fields: O(log n) per service in use. Cheap enough to call when unsure.
 * Selection checks the VM it is about to choose, so a missed call can never
 * choose a VM that should take no new session; but a VM that became able to
 * take them, or lighter, is passed over until it is touched.
 */
void            pool_touch(struct pool *p, struct backend *b);
/*
 * The heap of the members that take new sessions for svc (borrowed from p),
 * built now from the members' state if it was not kept yet. NULL when svc is
 * out of range or memory ran out (the caller then scans p->be).
 */
struct rdy_heap *pool_ready(struct pool *p, size_t svc);

/* The state an operator sees, derived as described above. */
enum be_state   be_state(const struct backend *b, size_t nservices);
const char     *be_state_name(enum be_state s);
/*
 * True when the backend may take a new session for service svc: ready (no
 * drain, maint or removal, a weight above 0), healthy for svc and for every
 * other service it serves (backend->nservices), and below its session cap.
 * This is the one meaning of "takes new sessions": be_state() == BE_UP
 * plus room, used by selection, /status, the status page and the hooks.
 */
bool            be_takes_new(const struct backend *b, size_t svc);
/* True when b is one of list[0..n) (a connection's VMs tried already). */
bool            be_in_list(const struct backend *b,
    struct backend *const *list, size_t n);
/* True when an existing affinity to the backend may still be honoured. */
bool            be_takes_affine(const struct backend *b, size_t svc);

/* "configuration file", "admin API", ... for messages and status. */
const char     *be_source_name(enum be_source s);
/* The one table of admin-state names: "ready", "drain", "maint". */
const char     *be_admin_name(enum be_admin a);
/* The admin state called `name` into *out; false when there is none. */
bool            be_admin_parse(const char *name, enum be_admin *out);

/* The stronger of the operator's and the agent's admin state. */
enum be_admin   be_admin_effective(const struct backend *b);
/*
 * The effective weight in hundredths of a configured unit: weight times the
 * agent's percentage (100 when it gave none), so 100 = weight 1 at 100%.
 * Kept in hundredths so that a percentage still matters for the usual
 * weight 1. 0 (an agent's 0%) means no new sessions.
 */
int             be_weight(const struct backend *b);
/*
 * The load selection and max_sessions compare: the larger of the pool's
 * count (this node's sessions and, in a cluster, the other nodes') and the
 * users with work the agent reports (a user's detached job is load
 * poolgate never saw connect).
 */
int             be_load(const struct backend *b);
/* The session cap: the lower of max_sessions and the agent's maxconn; 0 = none. */
int             be_max_sessions(const struct backend *b);
/* Forget everything the agent reported (no agent yet, or its check removed). */
void            be_agent_clear(struct backend *b);

#endif
