/*
 * hooks.h -- when to run the operator's event hooks (pure).
 *
 * The daemon hands the detector a snapshot of the pool once per tick (every
 * second) and after each session start and end; the detector compares it
 * with what it saw before and queues the events below, which the caller
 * drains with hk_next() and hands to the runner (backends/hookrun.h). No clock,
 * no I/O: `now` is passed in (pg_now_ms()).
 *
 * Events, per VM ("backend" is its name):
 *
 *   vm_up        the VM became up. "Up" is whatever the caller sets in
 *                hk_vm.up; the daemon passes be_state() == BE_UP: healthy
 *                for every service and taking new sessions. So a drained,
 *                maint or removed VM is down here, since it no longer adds
 *                capacity.
 *   vm_down      the VM stopped being up.
 *   vm_busy      the VM's sessions went from 0 to >= 1 (an edge: not again
 *                while it keeps sessions).
 *   vm_idle      the VM has had 0 sessions and no work continuously for
 *                idle_grace, its agent is not silent, and the pool can
 *                spare it (below). Once per idle period: re-armed only by a
 *                session or work on the VM. `work` is what the VM's agent
 *                reports (a user's detached process, a running Jupyter
 *                server, a busy kernel, a GPU job: the daemon passes the
 *                agent's `idle` false); `silent` is an agent that did not
 *                answer: it neither re-arms nor counts, it only holds the
 *                event back, since a VM nobody can see into may hold
 *                someone's work. A down VM with no session and no work is
 *                idle too.
 *   vm_evicting  the cloud announced the VM's eviction (the agent reports a
 *                pending Preempt, Terminate, Reboot or Redeploy). An edge.
 *
 * and for the whole pool (backend ""):
 *
 *   capacity_low free slots fell below headroom while the pool has sessions.
 *                An edge: fires on the crossing, re-armed once the pool is
 *                no longer low.
 *   no_capacity  a login found no VM to take it (reported by the caller
 *                through hk_no_capacity(); at most once per
 *                no_capacity_interval_ms per service).
 *
 * Free slots: the sum over up VMs of max_sessions - sessions (never below 0).
 * A VM without max_sessions has no fullness to measure; it counts as
 * `headroom` slots. Then "low" agrees with what an operator without
 * max_sessions expects: capacity is low only when no VM is up. The count
 * passed to the hook (POOLGATE_FREE_SLOTS) is the same number, so a script
 * that compares it with the headroom agrees with the detector.
 *
 * An empty pool is never low. With no session anywhere nobody is waiting
 * for room; were it low, the scale-in of the last idle VM would immediately
 * cause a scale-out, and a pool could never rest at zero VMs. The first login
 * into an empty pool is announced by no_capacity instead.
 *
 * Sparing an idle VM: vm_idle tells a scale set "this one may go", so it is
 * held back while removing the VM would make the pool low: when the pool has
 * sessions and its free slots, less those of the VMs already reported idle
 * (and still idle) and less this VM's own, would fall below headroom. Without
 * this rule, deleting an idle VM that the headroom needs fires capacity_low,
 * the scale set adds a VM, it sits idle, and the cycle repeats. Idle VMs of
 * one snapshot are weighed in snapshot order, each counting the ones before
 * it. A held-back VM is reported as soon as the pool can spare it. With
 * headroom 0 every idle VM is spared.
 *
 * A VM is known by name. It is new the first time a snapshot lists it; it
 * then counts as having been down with no session since that moment, so a
 * VM seen up reports vm_up, one seen with sessions reports vm_busy, and one
 * never used reports vm_idle after idle_grace. A VM missing from a snapshot
 * is forgotten without an event (the registry reports removals as vm_down
 * while the VM drains; the daemon may also simply stop listing it).
 *
 * Bounds: at most HK_MAX_VMS VMs are tracked (the configuration allows
 * CFG_MAX_BACKENDS; removed VMs still draining may be listed beside as many
 * new ones); snapshot entries past that are ignored and counted. The event
 * queue holds HK_QUEUE_MAX events, enough for every edge of one snapshot
 * plus one no_capacity per service (hk_resync() before hk_update() adds
 * none beyond: a VM it queues vm_busy for has no busy edge left to report):
 * drain it after each call. Events that do
 * not fit are dropped and counted.
 */
#ifndef POOLGATE_HOOKS_H
#define POOLGATE_HOOKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

enum hk_event {
	HK_VM_BUSY = 0,
	HK_VM_IDLE,
	HK_CAPACITY_LOW,
	HK_NO_CAPACITY,
	HK_VM_UP,
	HK_VM_DOWN,
	HK_VM_EVICTING,
};
#define HK_NEVENTS 7

#define HK_MAX_VMS    (2 * CFG_MAX_BACKENDS)
/* Three edges per VM (up/down, busy/idle, evicting), capacity_low, no_capacity per service. */
#define HK_QUEUE_MAX  (3 * HK_MAX_VMS + 1 + CFG_MAX_SERVICES)
#define HK_ADDR_MAX   63    /* a numeric address as written, v6 in brackets */
#define HK_NO_CAPACITY_INTERVAL_MS 10000u
#define HK_EVICTION_MAX 63  /* "Terminate 2026-12-07T10:00:00Z" */

struct hk_params {
	uint64_t idle_grace_ms;
	int      headroom;                  /* >= 0; 0: capacity_low never fires */
	uint64_t no_capacity_interval_ms;   /* per service; 0: every report fires */
};

/* One VM of a snapshot. Pointers are borrowed for the duration of the call. */
struct hk_vm {
	const char *name;                   /* 1..CFG_NAME_MAX bytes, unique */
	const char *address;                /* may be NULL */
	int         sessions;               /* >= 0 */
	int         max_sessions;           /* 0 = no cap */
	bool        up;                     /* healthy and takes new sessions */
	bool        work;                   /* its agent reports users' work */
	bool        silent;                 /* its agent did not answer */
	bool        evicting;               /* its eviction is announced */
	const char *eviction;               /* "TYPE NOT_BEFORE" of it; may be NULL */
};

/* The pool as of the last snapshot; carried by every event. */
struct hk_pool {
	int pool_sessions;                  /* every listed VM, up or not */
	int free_slots;                     /* as defined above */
	int up_count;
};

/* One event, self-contained: it owns copies of every string. */
struct hk_emit {
	enum hk_event  event;
	char           backend[CFG_NAME_MAX + 1];  /* "" for pool events */
	char           address[HK_ADDR_MAX + 1];   /* "" for pool events or unknown */
	char           service[CFG_NAME_MAX + 1];  /* no_capacity only, else "" */
	int            sessions;                   /* the VM's; 0 for pool events */
	char           eviction[HK_EVICTION_MAX + 1]; /* vm_evicting only, else "" */
	struct hk_pool pool;
};

struct hk_state;

/* "vm_busy", "vm_idle", ...; "unknown" for a value out of range. Static. */
const char      *hk_event_name(enum hk_event e);

/*
 * A new detector with nothing seen yet and capacity_low armed. The params
 * are copied; headroom below 0 is taken as 0. Returns NULL on allocation
 * failure. Freed with hk_free() (NULL is fine).
 */
struct hk_state *hk_new(const struct hk_params *p);
void             hk_free(struct hk_state *st);

/*
 * New settings (reload). Per-VM state is kept: an idle VM's time so far
 * counts toward the new idle_grace.
 */
void             hk_set_params(struct hk_state *st, const struct hk_params *p);

/*
 * Compare the snapshot vms[0..n) (n may be 0, vms then may be NULL) with
 * the previous one and queue the events it causes: per VM in snapshot order
 * vm_up/vm_down, vm_busy, then vm_evicting; then every vm_idle, in snapshot order; then
 * capacity_low. Entries with a NULL, empty or too long name are skipped.
 * Returns the number of events queued (dropped ones excluded).
 */
size_t           hk_update(struct hk_state *st, const struct hk_vm *vms,
    size_t n, uint64_t now);

/*
 * A login for `service` (not NULL) found no VM. Queues no_capacity, carrying
 * the pool of the last snapshot, unless one was queued for the same service
 * less than no_capacity_interval_ms ago. Returns true when queued.
 */
bool             hk_no_capacity(struct hk_state *st, const char *service,
    uint64_t now);

/*
 * Another node ran vm_busy (busy) or vm_idle (!busy) for the VM `name`
 * (docs/design.md, "Several nodes"): take over what the scale set was told,
 * so that a node that runs hooks later goes on from there. Adopting busy
 * re-arms vm_idle; a VM without sessions in the last snapshot starts its
 * idle period at `now`, so vm_idle follows after idle_grace. Adopting idle
 * marks vm_idle as run for the current idle period (or, while the VM has
 * sessions here, for the one that ends with them: the runner had not seen
 * them when it ran vm_idle, and nobody told the scale set of them). Queues
 * no event. For a name this detector does not know (not in the last
 * snapshot) only what was announced is kept (below): the VM is new when it
 * shows up, as after a start. Returns true when the VM was known.
 */
bool             hk_adopt(struct hk_state *st, const char *name, bool busy,
    uint64_t now);

/*
 * What the hooks were told. Beside what it saw, the detector remembers per
 * VM the last of vm_busy and vm_idle that was run for it, by this node
 * (hk_ran) or by another (hk_adopt): busy, idle, or nothing known. Where
 * the two disagree, hk_resync() makes up for it. It matters only where
 * edges can be detected and not run (several nodes, one runner): a node
 * that always runs its events (a single poolgate) never calls hk_resync(),
 * and its detector behaves as if none of this were there.
 *
 * An edge adopted for a VM not in the last snapshot (a node reads every
 * h:<vm> back from Redis before its first snapshot) is kept until the VM
 * shows up, at most HK_MAX_VMS names (the oldest goes first); the VM is
 * still new then (it reports vm_busy or vm_idle as it is seen), only what
 * was last told of it is known.
 */

/* The event *e (from hk_next) was run: vm_busy and vm_idle are remembered. */
void             hk_ran(struct hk_state *st, const struct hk_emit *e);

/*
 * This node runs the hooks now (it just took over, or another runner's
 * edge came in meanwhile): make what the hooks were told agree with what
 * the detector saw in the last snapshot. A VM with sessions whose last
 * announcement was vm_idle gets vm_busy queued (sessions the runner never
 * heard of, such as ones seen through this node while Redis was away). A
 * VM without sessions whose vm_idle the detector passed over (it was
 * detected while another node ran hooks) but whose last announcement was
 * vm_busy gets vm_idle re-armed: its idle period goes on from when it
 * began, so the next hk_update() queues it once the grace is over and the
 * usual conditions hold. A VM with no announcement known is left as the
 * detector has it: its own edges stand, as on a single node, so that a node
 * knowing nothing does not repeat vm_busy for every busy VM when it takes
 * over. Call it only with the queue drained and every run event reported
 * through hk_ran(), or an event not yet reported would be queued twice.
 * Returns the number of VMs it queued vm_busy for or re-armed.
 */
size_t           hk_resync(struct hk_state *st);

/* Pop the oldest queued event into *out. Returns false when none is left. */
bool             hk_next(struct hk_state *st, struct hk_emit *out);

/* The pool as of the last snapshot. */
struct hk_pool   hk_pool_now(const struct hk_state *st);

/* Events dropped on a full queue, and snapshot VMs ignored past HK_MAX_VMS. */
uint64_t         hk_dropped_events(const struct hk_state *st);
uint64_t         hk_ignored_vms(const struct hk_state *st);

/*
 * The hook environment of an event, for hr_run(): NULL-terminated "K=V"
 * strings in env->v, pointing into env->buf (valid while *env lives):
 * POOLGATE_EVENT, POOLGATE_BACKEND, POOLGATE_ADDRESS, POOLGATE_SESSIONS,
 * POOLGATE_POOL_SESSIONS, POOLGATE_FREE_SLOTS, POOLGATE_UP_COUNT,
 * POOLGATE_SERVICE and POOLGATE_EVICTION. Pool events have empty BACKEND,
 * ADDRESS and SESSIONS; SERVICE is empty except for no_capacity, EVICTION
 * except for vm_evicting ("TYPE NOT_BEFORE", such as "Terminate
 * Mon, 07 Dec 2026 10:00:00 GMT"; NOT_BEFORE may be empty).
 */
#define HK_ENV_N 9
struct hk_env {
	const char *v[HK_ENV_N + 1];
	char        buf[HK_ENV_N * 32 + 2 * CFG_NAME_MAX + HK_ADDR_MAX +
	    HK_EVICTION_MAX + 64];
};
void             hk_env(const struct hk_emit *e, struct hk_env *env);

#endif
