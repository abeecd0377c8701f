/*
 * decide.c -- see decide.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/decide.h"
#include "agent/util.h"

struct dc_mem_user {
	char     name[AG_NAME_MAX + 1];
	uint64_t last_active_ms;   /* wall */
	uint64_t notice_ms;        /* wall of the stale notice, 0 none */
	uint64_t notice_mono_ms;   /* the same on the monotonic clock */
};

void
dc_memory_init(struct dc_memory *m, uint64_t wall_ms)
{
	memset(m, 0, sizeof(*m));
	m->started_ms = wall_ms;
}

void
dc_memory_free(struct dc_memory *m)
{
	free(m->users);
	m->users = NULL;
	m->n = 0;
}

void
dc_view_free(struct dc_view *v)
{
	free(v->u);
	memset(v, 0, sizeof(*v));
}

uint64_t
dc_seconds_since(uint64_t last, uint64_t now)
{
	return now > last ? (now - last) / 1000u : 0;
}

static void
later(uint64_t *a, uint64_t b)
{
	if (b > *a)
		*a = b;
}

/* Building the table: users found by name or uid, created up to the cap. */
struct table {
	struct dc_user *u;
	size_t          n, max;
	bool            truncated;
};

static struct dc_user *
by_name(struct table *t, const char *name, int64_t uid)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (strcmp(t->u[i].name, name) == 0) {
			if (t->u[i].uid < 0 && uid >= 0)
				t->u[i].uid = uid;
			return &t->u[i];
		}
	if (t->n == t->max) {
		t->truncated = true;
		return NULL;
	}
	memset(&t->u[t->n], 0, sizeof(t->u[0]));
	ag_copy(t->u[t->n].name, sizeof(t->u[0].name), name);
	t->u[t->n].uid = uid;
	t->u[t->n].gpu_sm_pct = -1;
	t->u[t->n].gpu_fb_mib = -1;
	return &t->u[t->n++];
}

static struct dc_user *
by_uid(struct table *t, const struct dc_input *in, uint32_t uid)
{
	char name[AG_NAME_MAX + 1];
	size_t i;

	for (i = 0; i < t->n; i++)
		if (t->u[i].uid == (int64_t)uid)
			return &t->u[i];
	if (in->uid_name == NULL || !in->uid_name(in->uid_arg, uid, name,
	    sizeof(name)) || name[0] == '\0')
		snprintf(name, sizeof(name), "#%u", uid);
	return by_name(t, name, uid);
}

static bool
ignored(const struct dc_input *in, const char *comm)
{
	size_t i;

	for (i = 0; i < in->nignore; i++)
		if (strcmp(in->ignore[i], comm) == 0)
			return true;
	return false;
}

static int
cmp_user(const void *a, const void *b)
{
	return strcmp(((const struct dc_user *)a)->name,
	    ((const struct dc_user *)b)->name);
}

static const struct dc_mem_user *
mem_user(const struct dc_memory *m, const char *name)
{
	size_t lo = 0, hi = m->n, mid;
	int c;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(m->users[mid].name, name);
		if (c == 0)
			return &m->users[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The wall time of a monotonic instant of this cycle. */
static uint64_t
to_wall(const struct dc_clock *now, uint64_t mono)
{
	uint64_t ago = now->mono_ms > mono ? now->mono_ms - mono : 0;

	return now->wall_ms > ago ? now->wall_ms - ago : 0;
}

static void
gather(const struct dc_input *in, struct table *t)
{
	const struct ps_proc *p;
	struct dc_user *u;
	size_t i;

	/* Sessions first: a utmp session gives a name, a process a uid. */
	for (i = 0; i < in->nsess; i++) {
		if ((u = by_name(t, in->sess[i].user, in->sess[i].uid)) == NULL)
			continue;
		u->nsessions++;
		later(&u->last_active_ms, in->sess[i].since_ms);
		later(&u->last_active_ms, in->sess[i].input_ms);
	}
	for (i = 0; i < in->nprocs; i++) {
		p = &in->procs[i];
		if (p->uid < in->min_uid || p->state == 'Z' || p->state == 'X')
			continue;
		if ((u = by_uid(t, in, p->uid)) == NULL)
			continue;
		if (ignored(in, p->comm)) {
			u->procs_ignored++;
			continue;
		}
		u->procs++;
		if (p->cpu_known) {
			u->cpu_known = true;
			u->cpu_ms += p->cpu_ms;
		}
		later(&u->last_active_ms, to_wall(&in->now, p->last_cpu_ms));
		if (in->stale_after_ms > 0 && p->last_cpu_ms <= in->now.mono_ms &&
		    in->now.mono_ms - p->last_cpu_ms >= in->stale_after_ms)
			u->procs_stale++;
	}
	for (i = 0; in->jh != NULL && i < in->njh; i++) {
		if (strlen(in->jh[i].name) > AG_NAME_MAX ||
		    (u = by_name(t, in->jh[i].name, -1)) == NULL)
			continue;
		u->jh = &in->jh[i];
		later(&u->last_active_ms, in->jh[i].last_activity_ms);
		later(&u->last_active_ms, in->jh[i].kernel_activity_ms);
		if (in->jh[i].kernels_busy > 0)
			later(&u->last_active_ms, in->now.wall_ms);
	}
	for (i = 0; in->gpu != NULL && i < in->gpu->n; i++) {
		const struct gpu_proc *g = &in->gpu->p[i];

		p = ps_find(in->procs, in->nprocs, g->pid);
		if (p == NULL || p->uid < in->min_uid)
			continue;
		if ((u = by_uid(t, in, p->uid)) == NULL)
			continue;
		u->gpu_procs++;
		if (g->sm_pct >= 0)
			u->gpu_sm_pct = (u->gpu_sm_pct < 0 ? 0 : u->gpu_sm_pct) + g->sm_pct;
		if (g->fb_mib >= 0)
			u->gpu_fb_mib = (u->gpu_fb_mib < 0 ? 0 : u->gpu_fb_mib) + g->fb_mib;
	}
}

/* Stale or not, notice, and the work bits of u; m is its memory or NULL. */
static void
judge(const struct dc_input *in, const struct dc_mem_user *m,
    struct dc_user *u, uint64_t *notice_mono)
{
	bool busy = u->jh != NULL && u->jh->kernels_busy > 0;

	*notice_mono = 0;
	if (m != NULL)
		later(&u->last_active_ms, m->last_active_ms);
	u->stale = in->stale_after_ms > 0 && !busy &&
	    (u->nsessions > 0 || u->procs > 0) &&
	    in->now.wall_ms - (u->last_active_ms < in->now.wall_ms ?
	    u->last_active_ms : in->now.wall_ms) >= in->stale_after_ms;
	u->work = 0;
	if (u->stale) {
		if (m == NULL || m->notice_ms == 0) {
			u->notice_ms = in->now.wall_ms;
			*notice_mono = in->now.mono_ms;
			u->notify_stale = true;
		} else {
			u->notice_ms = m->notice_ms;
			*notice_mono = m->notice_mono_ms;
		}
		if (in->now.mono_ms - *notice_mono < in->stale_notice_ms)
			u->work = DC_WORK_NOTICE;
		return;
	}
	if (u->nsessions > 0)
		u->work |= DC_WORK_SESSION;
	if (u->procs > 0)
		u->work |= DC_WORK_PROCS;
	if (busy)
		u->work |= DC_WORK_KERNEL;
}

int
dc_build(const struct dc_input *in, struct dc_memory *mem, struct dc_view *out)
{
	struct table t = { 0 };
	struct dc_mem_user *nm = NULL;
	uint64_t notice_mono;
	size_t i;

	memset(out, 0, sizeof(*out));
	t.max = in->max_users;
	if (t.max > 0 && (t.u = calloc(t.max, sizeof(*t.u))) == NULL)
		goto oom;
	gather(in, &t);
	qsort(t.u, t.n, sizeof(*t.u), cmp_user);
	if ((nm = calloc(t.n > 0 ? t.n : 1, sizeof(*nm))) == NULL)
		goto oom;
	out->last_activity_ms = mem->last_activity_ms;
	for (i = 0; i < t.n; i++) {
		judge(in, mem_user(mem, t.u[i].name), &t.u[i], &notice_mono);
		ag_copy(nm[i].name, sizeof(nm[i].name), t.u[i].name);
		nm[i].last_active_ms = t.u[i].last_active_ms;
		nm[i].notice_ms = t.u[i].stale ? t.u[i].notice_ms : 0;
		nm[i].notice_mono_ms = t.u[i].stale ? notice_mono : 0;
		later(&out->last_activity_ms, t.u[i].last_active_ms);
		if (t.u[i].work != 0)
			out->with_work++;
	}
	/* Activity in the future (a skewed clock) is now. */
	if (out->last_activity_ms > in->now.wall_ms)
		out->last_activity_ms = in->now.wall_ms;
	free(mem->users);
	mem->users = nm;
	mem->n = t.n;
	mem->last_activity_ms = out->last_activity_ms;
	out->u = t.u;
	out->n = t.n;
	out->users_truncated = t.truncated;
	out->has_work = out->with_work > 0 || t.truncated || in->procs_truncated;
	return 0;
oom:
	free(t.u);
	free(nm);
	out->has_work = true;
	out->last_activity_ms = mem->last_activity_ms;
	return -1;
}

struct dc_mem_event *
dc_event_mem(struct dc_memory *m, const char *id)
{
	size_t i;

	for (i = 0; i < m->nevents; i++)
		if (strcmp(m->events[i].id, id) == 0)
			return &m->events[i];
	if (m->nevents == sizeof(m->events) / sizeof(m->events[0]))
		return NULL;
	memset(&m->events[m->nevents], 0, sizeof(m->events[0]));
	ag_copy(m->events[m->nevents].id, sizeof(m->events[0].id), id);
	return &m->events[m->nevents++];
}

void
dc_events_forget(struct dc_memory *m, const struct se_doc *doc)
{
	size_t i, j, k = 0;
	bool keep;

	for (i = 0; i < m->nevents; i++) {
		for (keep = false, j = 0; j < doc->n && !keep; j++)
			keep = strcmp(doc->ev[j].id, m->events[i].id) == 0;
		if (keep)
			m->events[k++] = m->events[i];
	}
	m->nevents = k;
}

bool
dc_event_notify(const struct se_event *e, const struct dc_mem_event *em)
{
	return se_pending(e) && em != NULL && !em->notified;
}

bool
dc_event_approve(const struct se_event *e, const struct dc_mem_event *em,
    bool has_work, uint64_t now_wall)
{
	if (!se_pending(e) || em == NULL || em->approved ||
	    strcmp(e->type, "Terminate") != 0 || strcmp(e->status, "Scheduled") != 0)
		return false;
	return !has_work || (e->not_before_ms > 0 && now_wall >= e->not_before_ms);
}
