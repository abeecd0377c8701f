/*
 * members.h -- the pool module: the one owner of membership and accounting.
 *
 * Every change to what selection reads goes through a function here, so no
 * caller can forget a step (HAProxy's lb_ops: server_take_conn and
 * server_drop_conn): a session starts or ends with its count on the VM, the
 * VM's place in the ready heaps (pool_touch, private to backends/) and its
 * affinity together; a Jupyter user's request, websocket and idle end
 * likewise; members are added, updated, removed and reaped here whatever
 * their source (configuration file, admin API, discovery), and operator
 * states set and saved here. What the daemon must do in turn (start or stop
 * checks, dispatch queued logins, record an event for the operator) it
 * learns through the event sink (backends/sink.h).
 *
 * Pure: no libevent. The clock is injected (`now`, monotonic ms). Runs on
 * the main thread only. Logs through lib/log.h. The file it keeps in
 * state_dir (backends.state: the admin API's VMs and operator states) is
 * written with af_write_atomic().
 */
#ifndef POOLGATE_MEMBERS_H
#define POOLGATE_MEMBERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backends/affinity.h"
#include "backends/backend.h"
#include "backends/report.h"
#include "backends/route.h"
#include "backends/sink.h"
#include "backends/usersess.h"
#include "config/config.h"

#define MBR_PENDING_MAX 256
#define MBR_FILE        "backends.state"

struct members {
	struct pool           pool;       /* every member; read freely, change only here */
	struct aff_table     *aff;        /* owned */
	struct us_table      *us;         /* owned: Jupyter users per VM */
	bool                  aff_dirty;  /* affinity changed since the daemon last saved it */
	const struct pg_sink *sink;       /* borrowed, set once; may be NULL */
	char                  state_dir[4096]; /* where backends.state lives; "" = nowhere */
	/*
	 * Operator states saved for VMs not (yet) in the pool, such as
	 * discovery's before its first refresh: applied when the VM appears.
	 */
	struct mbr_pending {
		char          name[CFG_NAME_MAX + 1];
		enum be_admin admin;
	}                     pending[MBR_PENDING_MAX];
	size_t                npending;
	bool                  applying;   /* an mbr_apply_* call: shared() stays quiet */
	uint64_t              sel_count;  /* VM choices made ... */
	uint64_t              sel_ns;     /* ... and the time they took */
	char                  host_ca_fp[REP_FP_MAX + 1]; /* "" = no identity check */
	char                  host_principal[CFG_NAME_MAX + 1];
};

/*
 * Set up m: an empty pool, an affinity table of at most aff_max entries and
 * a Jupyter user table of at most us_max users idling out after idle_ms.
 * sink is borrowed for m's life (NULL: tell nobody). Returns 0, or -1 when
 * out of memory (m is then freed).
 */
int  mbr_init(struct members *m, size_t aff_max, size_t us_max,
    uint64_t idle_ms, const struct pg_sink *sink);

/*
 * Free everything. Check contexts of members must have been stopped first
 * (the daemon does, told by MBR_REMOVED/MBR_GONE or at exit).
 */
void mbr_free(struct members *m);

/* Where backends.state is saved and read from (copied; NULL or "": nowhere). */
void mbr_set_state_dir(struct members *m, const char *dir);

/*
 * The pool serves services [0, n): new sessions need health on all of them
 * (pool_set_services). map[i] is the old index of new service i, or -1 for
 * a new service, whose health starts fresh (down) on every member.
 */
void mbr_set_services(struct members *m, const int *map, size_t n);

/*
 * Choose a VM (route_pick with m's pool and affinities) and account the time
 * it took. Same contract as route_pick().
 */
struct backend *mbr_pick(struct members *m, size_t svc,
    const struct route_in *in, struct backend *const *tried, size_t ntried,
    enum route_why *why, uint64_t now);

/*
 * A session of a tcp service starts on b: counted on b, and under affinity
 * `key` (NULL: none) until it ends. Returns 0, or -1 when the affinity table
 * is full (the session still counts; the key is not remembered).
 */
int  mbr_session_start(struct members *m, struct backend *b, const char *key,
    uint64_t now);

/* The session started with mbr_session_start(m, b, key, ...) ended. */
void mbr_session_end(struct members *m, struct backend *b, const char *key,
    uint64_t now);

/*
 * The VM vm authenticated a request of Jupyter user `user` from client
 * address addr: the user's session on vm starts or goes on (a session on
 * another VM ends, "moved"), and affinity user:<name> follows it.
 */
void mbr_user_seen(struct members *m, const char *user, struct backend *vm,
    const char *addr, uint64_t now);

/*
 * A websocket of `user` to vm opened: the session stays alive while it is
 * open. Returns its id for mbr_ws_close, 0 when the user has no live
 * session on vm (then nothing is kept).
 */
uint64_t mbr_ws_open(struct members *m, const char *user, struct backend *vm,
    uint64_t now);
void     mbr_ws_close(struct members *m, const char *user, uint64_t id,
    uint64_t now);

/*
 * An anonymous request of an http service went to b for affinity `key`
 * ("ip:<addr>"): remembered for the affinity ttl from now.
 */
void mbr_addr_seen(struct members *m, const char *key, struct backend *b,
    uint64_t now);

/*
 * Once a second: Jupyter users idle past session_idle end. Returns the
 * number of sessions that ended.
 */
size_t mbr_tick(struct members *m, uint64_t now);

/*
 * Sweep expired affinities, at most MBR_SWEEP_MAX per call, so that a mass
 * expiry (a table of a million keys that all ended together, or a process
 * that was stopped for a while) never stalls the event loop for long.
 * Returns true when expired entries remain: call again on a later turn.
 * Unswept entries are harmless meanwhile: lookups drop them and counts
 * leave them out.
 */
#define MBR_SWEEP_MAX 1024  /* about 1 ms a slice */
bool   mbr_sweep(struct members *m, uint64_t now);

/*
 * One health check result of service svc (named svcname) on b, from an
 * active check or a failed client connect (passive): counts, rise and fall;
 * on a change, b's place for selection is redone and the sink told.
 */
void mbr_check_result(struct members *m, struct backend *b, size_t svc,
    const char *svcname, int rise, int fall, bool ok, const char *err,
    uint64_t latency_ms, uint64_t now);

/* The agent changed what it reports of b (weight, cap, state). */
void mbr_agent_changed(struct members *m, struct backend *b);

/*
 * The pool's SSH host CA (the fingerprint of `ssh_host_ca`, "SHA256:...")
 * and the principal its host certificates must name (copied; NULL or "":
 * none). With a CA, a VM whose agent reports a host key without the pool's
 * certificate is down ("host identity"). Applies from the next report.
 */
void mbr_set_host_ca(struct members *m, const char *ca_fp,
    const char *principal);

/*
 * The agent of b answered GET /v1/report with *r, or could not be read (r
 * NULL, err says why; the last report stays for the status page but no
 * longer counts). From a report: the users with work count as b's load
 * (be_load), a pending eviction drains b, a host key without the pool's
 * certificate takes b down, and every user with work on b gets affinity
 * `user:<name>` to b -- unless another VM's report holds the same user's
 * more recent work (least idle_s), which then keeps it and is counted in
 * claims_lost of the loser. Changes are logged and noted for the operator.
 */
void mbr_report(struct members *m, struct backend *b,
    const struct vm_report *r, const char *err, uint64_t now);

/* b's HTTP connections (not sessions) went up or down by delta. */
void mbr_conns(struct members *m, struct backend *b, int delta);

/*
 * Create or update the VM `name` as `src` says. A new VM starts down until
 * its checks pass; an update keeps sessions and health (an address change
 * restarts health). A VM owned by another source is refused. API changes
 * are saved in state_dir. Returns 1 when created, 0 when updated, -1 on
 * error (err filled: an invalid name, address, weight or cap, another
 * owner, no memory).
 */
int  mbr_upsert(struct members *m, enum be_source src, const char *name,
    const char *address, int weight, int max_sessions, char *err,
    size_t errlen);

/*
 * Remove the VM `name` on behalf of `src`: it drains (no new sessions, live
 * ones run on) and is forgotten once its last session ended. Returns 0, or
 * -1 when unknown or owned by another source (err filled).
 */
int  mbr_remove(struct members *m, enum be_source src, const char *name,
    char *err, size_t errlen);

/*
 * Set the operator state of `name`. Saved in state_dir so it survives a
 * restart. Returns 0 or -1 (unknown VM; err filled).
 */
int  mbr_set_admin(struct members *m, const char *name, enum be_admin admin,
    char *err, size_t errlen);

/*
 * The configuration file's backends after a (re)load: each is added or
 * updated (and taken over from another source), and the file's members
 * not listed drain towards removal (reload: new ones are logged). Counts what happened in the three
 * pointers (each may be NULL). Returns 0, or -1 when out of memory.
 */
int  mbr_apply_file(struct members *m, const struct cfg_backend *list,
    size_t n, const char *path, bool reload, int *added, int *kept,
    int *removed);

/*
 * Forget removed members with no session and no HTTP connection left
 * (the sink hears MBR_GONE first), with their affinities and Jupyter users.
 */
void mbr_reap(struct members *m);

/* At start: bring back the admin API's VMs and the operator states. */
void mbr_load(struct members *m);

/*
 * Another poolgate node's changes (cluster/), applied like this node's own
 * but without telling the sink's shared() again:
 *
 * mbr_apply_affinity: key -> vm, idle until expires_ms (our monotonic
 * clock). Returns aff_put()'s result.
 */
int  mbr_apply_affinity(struct members *m, const char *key, const char *vm,
    uint64_t expires_ms, uint64_t now);

/* The operator state of `name`: mbr_set_admin()'s contract. */
int  mbr_apply_admin(struct members *m, const char *name, enum be_admin admin,
    char *err, size_t errlen);

/*
 * The admin API's VM `name` was added or changed (removed false) or
 * removed: mbr_upsert() or mbr_remove() on behalf of the API.
 */
int  mbr_apply_vm(struct members *m, const char *name, const char *address,
    int weight, int max_sessions, bool removed, char *err, size_t errlen);

/* The other nodes' sessions on b (be_load counts them). */
void mbr_set_remote(struct members *m, struct backend *b, int sessions);

#endif
