/*
 * hooks.c -- when to run the operator's event hooks (pure); see hooks.h.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/hooks.h"

/* The last of vm_busy and vm_idle the hooks were told of for a VM. */
enum hk_ann {
	ANN_NONE = 0,               /* nothing known */
	ANN_BUSY,
	ANN_IDLE,
};

/* What the detector remembers of one VM between snapshots. */
struct hk_vmst {
	char     name[CFG_NAME_MAX + 1];
	char     address[HK_ADDR_MAX + 1];  /* last snapshot's, for hk_resync() */
	int      sessions;          /* last snapshot's, for hk_resync() */
	enum hk_ann announced;      /* hk_ran(), hk_adopt() */
	bool     up;
	bool     busy;              /* had sessions in the last snapshot */
	bool     idle_fired;        /* vm_idle reported in this idle period */
	bool     silent;            /* its agent was silent in the last snapshot */
	bool     evicting;          /* vm_evicting reported, not yet re-armed */
	bool     taken;             /* matched by the snapshot being applied */
	uint64_t idle_since;        /* when its sessions last became 0 */
	int64_t  slots;             /* what it adds to free slots, last snapshot */
	size_t   snap;              /* its index in the snapshot being applied */
};

/* An edge adopted for a VM not known yet, kept until it shows up. */
struct hk_pend {
	char        name[CFG_NAME_MAX + 1];
	enum hk_ann announced;
};

/* The last no_capacity queued for a service. */
struct hk_noc {
	char     service[CFG_NAME_MAX + 1];   /* "" = unused */
	uint64_t last;
};

struct hk_state {
	struct hk_params p;

	/*
	 * vm[] holds the VMs in the order of the last snapshot; next[] is
	 * built from it for the snapshot being applied, then the two swap.
	 * Keeping snapshot order makes the usual lookup (the pool lists its
	 * VMs in a stable order) one comparison instead of a scan.
	 */
	struct hk_vmst  *vm, *next;
	size_t           nvm, capvm;

	struct hk_emit  *q;         /* ring of queued events */
	size_t           qcap, qhead, qlen;

	struct hk_pend  *pend;      /* HK_MAX_VMS entries once needed */
	size_t           npend;

	bool             low;       /* capacity_low reported, not yet re-armed */
	struct hk_pool   pool;
	struct hk_noc    noc[CFG_MAX_SERVICES];
	uint64_t         dropped;
	uint64_t         ignored;
};

static const char *const event_names[HK_NEVENTS] = {
	[HK_VM_BUSY] = "vm_busy",
	[HK_VM_IDLE] = "vm_idle",
	[HK_VM_EVICTING] = "vm_evicting",
	[HK_CAPACITY_LOW] = "capacity_low",
	[HK_NO_CAPACITY] = "no_capacity",
	[HK_VM_UP] = "vm_up",
	[HK_VM_DOWN] = "vm_down",
};

const char *
hk_event_name(enum hk_event e)
{
	if ((unsigned)e >= HK_NEVENTS)
		return "unknown";
	return event_names[e];
}

static void
set_params(struct hk_state *st, const struct hk_params *p)
{
	st->p = *p;
	if (st->p.headroom < 0)
		st->p.headroom = 0;
}

struct hk_state *
hk_new(const struct hk_params *p)
{
	struct hk_state *st;

	if ((st = calloc(1, sizeof(*st))) == NULL)
		return NULL;
	set_params(st, p);
	return st;
}

void
hk_free(struct hk_state *st)
{
	if (st == NULL)
		return;
	free(st->vm);
	free(st->next);
	free(st->q);
	free(st->pend);
	free(st);
}

void
hk_set_params(struct hk_state *st, const struct hk_params *p)
{
	set_params(st, p);
}

struct hk_pool
hk_pool_now(const struct hk_state *st)
{
	return st->pool;
}

uint64_t
hk_dropped_events(const struct hk_state *st)
{
	return st->dropped;
}

uint64_t
hk_ignored_vms(const struct hk_state *st)
{
	return st->ignored;
}

/* Copy at most dstsz-1 bytes of src (NULL = "") and terminate. */
static void
copy_str(char *dst, size_t dstsz, const char *src)
{
	size_t len;

	if (src == NULL)
		src = "";
	len = strnlen(src, dstsz - 1);
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/* A free entry at the tail of the queue, or NULL (counted) when full. */
static struct hk_emit *
q_push(struct hk_state *st)
{
	struct hk_emit *nq, *e;
	size_t ncap, i;

	if (st->qlen == st->qcap) {
		if (st->qcap >= HK_QUEUE_MAX)
			goto full;
		ncap = st->qcap ? st->qcap * 2 : 16;
		if (ncap > HK_QUEUE_MAX)
			ncap = HK_QUEUE_MAX;
		if ((nq = calloc(ncap, sizeof(*nq))) == NULL)
			goto full;
		/* Unwrap into the new ring, oldest first. */
		for (i = 0; i < st->qlen; i++)
			nq[i] = st->q[(st->qhead + i) % st->qcap];
		free(st->q);
		st->q = nq;
		st->qcap = ncap;
		st->qhead = 0;
	}
	e = &st->q[(st->qhead + st->qlen) % st->qcap];
	st->qlen++;
	memset(e, 0, sizeof(*e));
	return e;
full:
	st->dropped++;
	return NULL;
}

static size_t
emit_vm(struct hk_state *st, enum hk_event ev, const struct hk_vm *v)
{
	struct hk_emit *e;

	if ((e = q_push(st)) == NULL)
		return 0;
	e->event = ev;
	copy_str(e->backend, sizeof(e->backend), v->name);
	copy_str(e->address, sizeof(e->address), v->address);
	e->sessions = v->sessions;
	e->eviction[0] = '\0';
	if (ev == HK_VM_EVICTING)
		copy_str(e->eviction, sizeof(e->eviction), v->eviction);
	e->pool = st->pool;
	return 1;
}

static size_t
emit_pool(struct hk_state *st, enum hk_event ev, const char *service)
{
	struct hk_emit *e;

	if ((e = q_push(st)) == NULL)
		return 0;
	e->event = ev;
	copy_str(e->service, sizeof(e->service), service);
	e->pool = st->pool;
	return 1;
}

bool
hk_next(struct hk_state *st, struct hk_emit *out)
{
	if (st->qlen == 0)
		return false;
	*out = st->q[st->qhead];
	st->qhead = (st->qhead + 1) % st->qcap;
	st->qlen--;
	return true;
}

static bool
valid_name(const char *name)
{
	return name != NULL && name[0] != '\0' &&
	    strnlen(name, CFG_NAME_MAX + 1) <= CFG_NAME_MAX;
}

/* Room for n VMs in vm[] and next[]; returns how many fit (n or fewer). */
static size_t
reserve(struct hk_state *st, size_t n)
{
	struct hk_vmst *a;
	size_t ncap;

	if (n <= st->capvm)
		return n;
	ncap = st->capvm ? st->capvm : 16;
	while (ncap < n)
		ncap *= 2;
	if (ncap > HK_MAX_VMS)
		ncap = HK_MAX_VMS;
	/* Grow one at a time; a failure leaves both usable at the old size. */
	if ((a = reallocarray(st->vm, ncap, sizeof(*a))) == NULL)
		return st->capvm;
	st->vm = a;
	if ((a = reallocarray(st->next, ncap, sizeof(*a))) == NULL)
		return st->capvm;
	st->next = a;
	st->capvm = ncap;
	return n < ncap ? n : ncap;
}

/* The free slots a VM adds to the pool (see hooks.h). */
static int64_t
vm_slots(const struct hk_vm *v, int headroom)
{
	if (!v->up)
		return 0;
	if (v->max_sessions <= 0)
		return headroom;
	return v->sessions < v->max_sessions ?
	    (int64_t)v->max_sessions - v->sessions : 0;
}

static int
clamp_int(int64_t v)
{
	return v > INT_MAX ? INT_MAX : (int)v;
}

/*
 * The remembered state of `name` from the previous snapshot, or NULL for a
 * VM not seen before. *cursor is where the last match was, plus one: in the
 * usual case the snapshot lists VMs in the same order as last time.
 */
static struct hk_vmst *
find_prev(struct hk_state *st, const char *name, size_t *cursor)
{
	size_t i;

	if (*cursor < st->nvm && !st->vm[*cursor].taken &&
	    strcmp(st->vm[*cursor].name, name) == 0) {
		i = *cursor;
		goto found;
	}
	for (i = 0; i < st->nvm; i++)
		if (!st->vm[i].taken && strcmp(st->vm[i].name, name) == 0)
			goto found;
	return NULL;
found:
	st->vm[i].taken = true;
	*cursor = i + 1;
	return &st->vm[i];
}

/* Drop pend[i], keeping the rest oldest first. */
static void
pend_drop(struct hk_state *st, size_t i)
{
	memmove(&st->pend[i], &st->pend[i + 1],
	    (st->npend - i - 1) * sizeof(*st->pend));
	st->npend--;
}

/* The edge adopted for `name` while it was unknown (taken), or ANN_NONE. */
static enum hk_ann
pend_take(struct hk_state *st, const char *name)
{
	enum hk_ann a;

	for (size_t i = 0; i < st->npend; i++) {
		if (strcmp(st->pend[i].name, name) != 0)
			continue;
		a = st->pend[i].announced;
		pend_drop(st, i);
		return a;
	}
	return ANN_NONE;
}

/*
 * Keep an edge adopted for a VM not known yet: a node reads every h:<vm>
 * back from Redis before its first snapshot. The newest per name wins; a
 * full table (more names than VMs can be) forgets the oldest.
 */
static void
pend_put(struct hk_state *st, const char *name, enum hk_ann a)
{
	struct hk_pend *p;

	if (st->pend == NULL &&
	    (st->pend = calloc(HK_MAX_VMS, sizeof(*st->pend))) == NULL)
		return;
	(void)pend_take(st, name);
	if (st->npend == HK_MAX_VMS)
		pend_drop(st, 0);
	p = &st->pend[st->npend++];
	copy_str(p->name, sizeof(p->name), name);
	p->announced = a;
}

size_t
hk_update(struct hk_state *st, const struct hk_vm *vms, size_t n,
    uint64_t now)
{
	const struct hk_vm *v;
	struct hk_vmst *prev, *cur, *tmp;
	int64_t sessions = 0, free_slots = 0, reserved = 0;
	size_t i, k, nvalid = 0, nfit, cursor = 0, queued = 0;
	int up = 0;
	bool low;

	for (i = 0; i < n; i++)
		if (valid_name(vms[i].name))
			nvalid++;
	nfit = reserve(st, nvalid);
	if (nfit < nvalid)
		st->ignored += nvalid - nfit;

	/* The pool first: every event carries it. */
	for (i = 0, k = 0; i < n && k < nfit; i++) {
		v = &vms[i];
		if (!valid_name(v->name))
			continue;
		k++;
		if (v->sessions > 0)
			sessions += v->sessions;
		if (v->up)
			up++;
		free_slots += vm_slots(v, st->p.headroom);
	}
	st->pool.pool_sessions = clamp_int(sessions);
	st->pool.free_slots = clamp_int(free_slots);
	st->pool.up_count = up;

	for (i = 0; i < st->nvm; i++)
		st->vm[i].taken = false;

	/* Health and sessions edges, VM by VM in snapshot order. */
	for (i = 0, k = 0; i < n && k < nfit; i++) {
		v = &vms[i];
		if (!valid_name(v->name))
			continue;
		cur = &st->next[k++];
		if ((prev = find_prev(st, v->name, &cursor)) != NULL) {
			*cur = *prev;
		} else {
			/* New: as if down with no session since now. */
			memset(cur, 0, sizeof(*cur));
			copy_str(cur->name, sizeof(cur->name), v->name);
			cur->idle_since = now;
			cur->announced = pend_take(st, v->name);
		}
		cur->snap = i;
		copy_str(cur->address, sizeof(cur->address), v->address);
		cur->sessions = v->sessions > 0 ? v->sessions : 0;
		cur->slots = vm_slots(v, st->p.headroom);

		if (v->up != cur->up) {
			cur->up = v->up;
			queued += emit_vm(st, v->up ? HK_VM_UP : HK_VM_DOWN, v);
		}
		if (v->sessions > 0 && !cur->busy) {
			cur->busy = true;
			cur->idle_fired = false;
			queued += emit_vm(st, HK_VM_BUSY, v);
		} else if (v->sessions <= 0 && cur->busy) {
			cur->busy = false;
			cur->idle_since = now;
		}
		/*
		 * Work the agent sees re-arms vm_idle like a session, and the
		 * idle period starts when the last of it is gone.
		 */
		if (v->work) {
			cur->idle_fired = false;
			cur->idle_since = now;
		}
		cur->silent = v->silent;
		if (v->evicting && !cur->evicting)
			queued += emit_vm(st, HK_VM_EVICTING, v);
		cur->evicting = v->evicting;
		if (!cur->busy && cur->idle_fired)
			reserved += cur->slots;
	}

	/*
	 * Idle VMs, once their edges are known: whether the pool can spare
	 * one depends on every VM already reported idle, wherever it is in
	 * the snapshot.
	 */
	for (i = 0; i < k; i++) {
		cur = &st->next[i];
		if (cur->busy || cur->idle_fired || cur->silent ||
		    vms[cur->snap].work)
			continue;
		/* A clock that went back counts as no time idle. */
		if (now < cur->idle_since ||
		    now - cur->idle_since < st->p.idle_grace_ms)
			continue;
		if (sessions > 0 &&
		    free_slots - reserved - cur->slots < st->p.headroom)
			continue;
		cur->idle_fired = true;
		reserved += cur->slots;
		queued += emit_vm(st, HK_VM_IDLE, &vms[cur->snap]);
	}

	low = st->p.headroom > 0 && sessions > 0 &&
	    free_slots < st->p.headroom;
	if (low && !st->low)
		queued += emit_pool(st, HK_CAPACITY_LOW, NULL);
	st->low = low;

	/* VMs left untaken in vm[] were not listed: forgotten here. */
	tmp = st->vm;
	st->vm = st->next;
	st->next = tmp;
	st->nvm = k;
	return queued;
}

/* The VM `name` of the last snapshot, or NULL. */
static struct hk_vmst *
find_vm(struct hk_state *st, const char *name)
{
	if (!valid_name(name))
		return NULL;
	for (size_t i = 0; i < st->nvm; i++)
		if (strcmp(st->vm[i].name, name) == 0)
			return &st->vm[i];
	return NULL;
}

bool
hk_adopt(struct hk_state *st, const char *name, bool busy, uint64_t now)
{
	struct hk_vmst *v;

	if (!valid_name(name))
		return false;
	if ((v = find_vm(st, name)) == NULL) {
		pend_put(st, name, busy ? ANN_BUSY : ANN_IDLE);
		return false;
	}
	v->announced = busy ? ANN_BUSY : ANN_IDLE;
	if (!busy) {
		v->idle_fired = true;
		return true;
	}
	v->idle_fired = false;
	if (!v->busy)
		v->idle_since = now;
	return true;
}

void
hk_ran(struct hk_state *st, const struct hk_emit *e)
{
	struct hk_vmst *v;

	if (e->event != HK_VM_BUSY && e->event != HK_VM_IDLE)
		return;
	if ((v = find_vm(st, e->backend)) != NULL)
		v->announced = e->event == HK_VM_BUSY ? ANN_BUSY : ANN_IDLE;
}

size_t
hk_resync(struct hk_state *st)
{
	struct hk_vmst *v;
	struct hk_vm vm;
	size_t n = 0;

	for (size_t i = 0; i < st->nvm; i++) {
		v = &st->vm[i];
		if (v->busy && v->announced == ANN_IDLE) {
			/* sessions the hooks never heard of */
			memset(&vm, 0, sizeof(vm));
			vm.name = v->name;
			vm.address = v->address;
			vm.sessions = v->sessions;
			n += emit_vm(st, HK_VM_BUSY, &vm);
		} else if (!v->busy && v->idle_fired &&
		    v->announced == ANN_BUSY) {
			/* an idle edge passed over: its idle period goes on */
			v->idle_fired = false;
			n++;
		}
	}
	return n;
}

bool
hk_no_capacity(struct hk_state *st, const char *service, uint64_t now)
{
	struct hk_noc *slot = NULL, *oldest = NULL;
	size_t i;

	for (i = 0; i < CFG_MAX_SERVICES; i++) {
		struct hk_noc *c = &st->noc[i];

		if (c->service[0] == '\0') {
			if (slot == NULL)
				slot = c;
			continue;
		}
		if (strncmp(c->service, service, sizeof(c->service)) == 0) {
			if (now < c->last ||
			    now - c->last < st->p.no_capacity_interval_ms)
				return false;
			slot = c;
			goto fire;
		}
		if (oldest == NULL || c->last < oldest->last)
			oldest = c;
	}
	/* More services than the configuration allows: reuse the stalest. */
	if (slot == NULL)
		slot = oldest;
	copy_str(slot->service, sizeof(slot->service), service);
fire:
	slot->last = now;
	return emit_pool(st, HK_NO_CAPACITY, service) == 1;
}

/* Append "key=value" to env at index i, advancing *off in env->buf. */
static void
env_put(struct hk_env *env, size_t i, size_t *off, const char *key,
    const char *value)
{
	int w;

	w = snprintf(env->buf + *off, sizeof(env->buf) - *off, "%s=%s", key,
	    value);
	/* The buffer is sized for the largest values hk_emit can hold. */
	if (w < 0 || (size_t)w >= sizeof(env->buf) - *off)
		abort();
	env->v[i] = env->buf + *off;
	*off += (size_t)w + 1;
}

void
hk_env(const struct hk_emit *e, struct hk_env *env)
{
	char sess[16] = "", psess[16], freeb[16], upb[16];
	bool vm_event = e->backend[0] != '\0';
	size_t off = 0;

	if (vm_event)
		snprintf(sess, sizeof(sess), "%d", e->sessions);
	snprintf(psess, sizeof(psess), "%d", e->pool.pool_sessions);
	snprintf(freeb, sizeof(freeb), "%d", e->pool.free_slots);
	snprintf(upb, sizeof(upb), "%d", e->pool.up_count);
	env_put(env, 0, &off, "POOLGATE_EVENT", hk_event_name(e->event));
	env_put(env, 1, &off, "POOLGATE_BACKEND", e->backend);
	env_put(env, 2, &off, "POOLGATE_ADDRESS", e->address);
	env_put(env, 3, &off, "POOLGATE_SESSIONS", sess);
	env_put(env, 4, &off, "POOLGATE_POOL_SESSIONS", psess);
	env_put(env, 5, &off, "POOLGATE_FREE_SLOTS", freeb);
	env_put(env, 6, &off, "POOLGATE_UP_COUNT", upb);
	env_put(env, 7, &off, "POOLGATE_SERVICE", e->service);
	env_put(env, 8, &off, "POOLGATE_EVICTION", e->eviction);
	env->v[HK_ENV_N] = NULL;
}
