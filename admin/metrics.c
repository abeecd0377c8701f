/*
 * metrics.c -- see metrics.h. One table, one loop: a row names a metric,
 * says what it is counted over, and has a getter for one sample. Adding a
 * metric is adding a row (and a line to docs/metrics.md).
 */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>

#include "admin/metrics.h"
#include "admin/opsmetrics.h"
#include "cluster/cluster.h"
#include "backends/affinity.h"
#include "backends/hookrun.h"
#include "backends/report.h"
#include "backends/usersess.h"
#include "lib/log.h"
#include "proxy/proxy.h"

/* A sample's value, printed as an integer or with a fixed number of decimals. */
struct mval {
	enum { MV_INT, MV_UINT, MV_FIXED } kind;
	int                prec;     /* MV_FIXED: digits after the point */
	long long          i;        /* MV_INT */
	unsigned long long u;        /* MV_UINT */
	double             f;        /* MV_FIXED */
};

#define MV_I(v)    ((struct mval){ .kind = MV_INT, .i = (long long)(v) })
#define MV_U(v)    ((struct mval){ .kind = MV_UINT, .u = (unsigned long long)(v) })
#define MV_F(v, p) ((struct mval){ .kind = MV_FIXED, .prec = (p), .f = (v) })

/* Where one sample is taken. */
struct m_at {
	const struct adm_ctx *a;
	const struct backend *b;     /* M_VM, M_VM_SVC: the VM */
	size_t                svc;   /* M_SVC, M_VM_SVC: the service's index */
	size_t                k;     /* the value of the extra label, by index */
	uint64_t              now;
};

/* What a metric is counted over: one sample, or one per VM, service, both. */
enum m_over { M_ONE, M_VM, M_SVC, M_VM_SVC, M_CUSTOM };

/* An extra label: its name and its values (k from 0 to count - 1). */
struct m_label {
	const char  *name;
	size_t     (*count)(const struct adm_ctx *a);
	const char *(*value)(const struct adm_ctx *a, size_t k, char buf[32]);
};

struct metric {
	const char           *name;
	const char           *type;  /* gauge, counter, summary */
	const char           *help;
	enum m_over           over;
	const struct m_label *label; /* NULL: none */
	struct mval         (*get)(const struct m_at *at);
	/* M_CUSTOM: writes its samples itself */
	void                (*write)(struct evbuffer *out,
	    const struct metric *m, const struct adm_ctx *a);
};

/* ---- Extra labels ----------------------------------------------------------- */

/* The states of poolgate_backend_state, in their order. */
static const enum be_state states[] = { BE_UP, BE_DOWN, BE_DRAIN, BE_MAINT };

static size_t
count_2(const struct adm_ctx *a)
{
	return 2;
}

static size_t
count_states(const struct adm_ctx *a)
{
	return sizeof(states) / sizeof(states[0]);
}

static size_t
count_errors(const struct adm_ctx *a)
{
	return ERR__COUNT;
}

static size_t
count_threads(const struct adm_ctx *a)
{
	return 1 + a->px->wk.n;
}

static const char *
v_state(const struct adm_ctx *a, size_t k, char buf[32])
{
	return be_state_name(states[k]);
}

static const char *
v_direction(const struct adm_ctx *a, size_t k, char buf[32])
{
	return k == 0 ? "up" : "down";
}

static const char *
v_reason(const struct adm_ctx *a, size_t k, char buf[32])
{
	return conn_err_name((enum conn_err)k);
}

static const char *
v_check_result(const struct adm_ctx *a, size_t k, char buf[32])
{
	return k == 0 ? "failed" : "ok";
}

static const char *
v_reload_result(const struct adm_ctx *a, size_t k, char buf[32])
{
	return k == 0 ? "ok" : "failed";
}

/* "main", then the relay threads 1..workers */
static const char *
v_thread(const struct adm_ctx *a, size_t k, char buf[32])
{
	if (k == 0)
		return "main";
	snprintf(buf, 32, "%zu", k);
	return buf;
}

/*
 * Kinds of poolgate_backend_users: what poolgate itself sees (Jupyter users
 * active through it), the agent's users with work, then by kind of work.
 */
static size_t
count_user_kinds(const struct adm_ctx *a)
{
	return 2 + REP_NKINDS;
}

static const char *
v_user_kind(const struct adm_ctx *a, size_t k, char buf[32])
{
	if (k == 0)
		return "jupyter_active";
	if (k == 1)
		return "work";
	return rep_kind_name((enum rep_kind)(k - 2));
}

static const struct m_label l_state = { "state", count_states, v_state };
static const struct m_label l_user_kind = { "kind", count_user_kinds, v_user_kind };
static const struct m_label l_direction = { "direction", count_2, v_direction };
static const struct m_label l_reason = { "reason", count_errors, v_reason };
static const struct m_label l_check = { "result", count_2, v_check_result };
static const struct m_label l_reload = { "result", count_2, v_reload_result };
static const struct m_label l_thread = { "thread", count_threads, v_thread };

/* ---- Getters ---------------------------------------------------------------- */

static struct mval
g_up(const struct m_at *at)
{
	return MV_I(1);
}

static struct mval
g_backend_up(const struct m_at *at)
{
	return MV_I(at->b->health[at->svc].hc.up ? 1 : 0);
}

static struct mval
g_backend_sessions(const struct m_at *at)
{
	return MV_I(at->b->sessions);
}

static struct mval
g_backend_state(const struct m_at *at)
{
	return MV_I(be_state(at->b, at->a->px->nsvc) == states[at->k]);
}

static struct mval
g_backend_users(const struct m_at *at)
{
	const struct vm_report *r = at->b->report;
	unsigned long long n = 0;

	if (at->k == 0)
		return MV_U(us_users_on(at->a->px->mbr->us, at->b->name, at->now));
	if (!at->b->report_ok)
		return MV_U(0);
	if (at->k == 1)
		return MV_U(r->users_with_work);
	for (size_t i = 0; i < r->nusers; i++)
		if (r->users[i].work && (r->users[i].kinds & (1u << (at->k - 2))))
			n++;
	return MV_U(n);
}

static struct mval
g_state_writable(const struct m_at *at)
{
	return MV_I(at->a->state_failing ? 0 : 1);
}

static struct mval
g_backend_connections(const struct m_at *at)
{
	/* relay threads add to it */
	return MV_U(__atomic_load_n(&at->b->connections, __ATOMIC_RELAXED));
}

static struct mval
g_connections_total(const struct m_at *at)
{
	return MV_U(at->a->px->svc[at->svc]->connections_total);
}

static struct mval
g_connections_active(const struct m_at *at)
{
	return MV_U(at->a->px->svc[at->svc]->active);
}

static struct mval
g_connection_errors(const struct m_at *at)
{
	return MV_U(at->a->px->svc[at->svc]->errors[at->k]);
}

static struct mval
g_affinity_entries(const struct m_at *at)
{
	return MV_U(aff_count(at->a->px->mbr->aff));
}

static struct mval
g_backend_bytes(const struct m_at *at)
{
	/* relay threads add to them */
	return MV_U(__atomic_load_n(at->k == 0 ? &at->b->bytes_up :
	    &at->b->bytes_down, __ATOMIC_RELAXED));
}

static struct mval
g_bytes(const struct m_at *at)
{
	const struct service *s = at->a->px->svc[at->svc];

	return MV_U(__atomic_load_n(at->k == 0 ? &s->bytes_up : &s->bytes_down,
	    __ATOMIC_RELAXED));
}

static struct mval
g_check_latency(const struct m_at *at)
{
	return MV_F((double)at->b->health[at->svc].last_latency_ms / 1000.0, 3);
}

static struct mval
g_checks(const struct m_at *at)
{
	const struct be_health *h = &at->b->health[at->svc];

	return MV_U(at->k == 0 ? h->failures : h->checks - h->failures);
}

static struct mval
g_queue_length(const struct m_at *at)
{
	return MV_U(at->a->px->svc[at->svc]->wq.n);
}

static struct mval
g_jupyter_users(const struct m_at *at)
{
	return MV_U(us_count(at->a->px->mbr->us));
}

static struct mval
g_connections_open(const struct m_at *at)
{
	return MV_U(at->a->px->nconns);
}

static struct mval
g_relay_sessions(const struct m_at *at)
{
	const struct wk_pool *wk = &at->a->px->wk;

	return MV_U(at->k == 0 ? wk->home.load : wk->w[at->k - 1].load);
}

static struct mval
g_relay_moves(const struct m_at *at)
{
	return MV_U(at->a->px->wk.moves);
}

static struct mval
g_reloads(const struct m_at *at)
{
	return MV_U(at->k == 0 ? at->a->reloads : at->a->reload_failures);
}

/* ---- Metrics that are not one sample per place -------------------------------- */

static void
w_selection(struct evbuffer *out, const struct metric *m,
    const struct adm_ctx *a)
{
	evbuffer_add_printf(out, "%s_sum %.9f\n%s_count %llu\n", m->name,
	    (double)a->px->mbr->sel_ns / 1e9, m->name,
	    (unsigned long long)a->px->mbr->sel_count);
}

/* Per hook event and outcome; no sample at all while hooks are off. */
static void
w_hook_runs(struct evbuffer *out, const struct metric *m,
    const struct adm_ctx *a)
{
	static const enum hr_outcome outcomes[] = { HR_OK, HR_FAILED,
	    HR_TIMEOUT, HR_SPAWN_ERROR };
	const char *ev;

	if (a->hr == NULL)
		return;
	for (size_t e = 0; (ev = hr_event_at(a->hr, e)) != NULL; e++)
		for (size_t o = 0; o < sizeof(outcomes) / sizeof(outcomes[0]); o++)
			evbuffer_add_printf(out, "%s{event=\"%s\",outcome=\"%s\"} "
			    "%llu\n", m->name, ev, hr_outcome_name(outcomes[o]),
			    (unsigned long long)hr_count(a->hr, ev, outcomes[o]));
}

static void prom_str(struct evbuffer *out, const char *s);

/* Seconds since a user did anything, per VM whose agent's report was read. */
static void
w_activity(struct evbuffer *out, const struct metric *m,
    const struct adm_ctx *a)
{
	const struct pool *p = &a->px->mbr->pool;

	for (size_t i = 0; i < p->n; i++) {
		const struct backend *b = p->be[i];

		if (!b->report_ok || b->report->activity_s < 0)
			continue;
		evbuffer_add_printf(out, "%s{backend=\"", m->name);
		prom_str(out, b->name);
		evbuffer_add_printf(out, "\"} %lld\n",
		    (long long)b->report->activity_s);
	}
}

/* Only with a cluster group: 1 while Redis answers and the table is read. */
static void
w_cluster_up(struct evbuffer *out, const struct metric *m,
    const struct adm_ctx *a)
{
	if (a->cl != NULL)
		evbuffer_add_printf(out, "%s %d\n", m->name, cl_node_up(a->cl));
}

static void
count_live(const struct px_live *l, void *arg)
{
	size_t *n = arg;

	if (strcmp(l->mode, "rdp") == 0)
		n[1]++;
	else if (strcmp(l->mode, "tls-ssh") == 0)
		n[2]++;
	else
		n[0]++;
}

/* Live relayed sessions by mode (Jupyter users are counted apart). */
static void
w_sessions_mode(struct evbuffer *out, const struct metric *m,
    const struct adm_ctx *a)
{
	static const char *const modes[3] = { "ssh", "rdp", "tls-ssh" };
	size_t n[3] = { 0, 0, 0 };

	if (a->foreach_live != NULL)
		a->foreach_live(a->px, count_live, n);
	for (size_t k = 0; k < 3; k++)
		evbuffer_add_printf(out, "%s{mode=\"%s\"} %zu\n", m->name, modes[k],
		    n[k]);
}

/* ---- The table ---------------------------------------------------------------- */

static const struct metric metrics[] = {
	{ "poolgate_up", "gauge", "1 while poolgate runs.",
	    M_ONE, NULL, g_up, NULL },
	{ "poolgate_backend_up", "gauge",
	    "1 when the VM passes its health checks for the service.",
	    M_VM_SVC, NULL, g_backend_up, NULL },
	{ "poolgate_backend_sessions", "gauge",
	    "Live sessions on the VM, all services.",
	    M_VM, NULL, g_backend_sessions, NULL },
	{ "poolgate_backend_state", "gauge",
	    "1 for the state the VM is in (up, down, drain, maint).",
	    M_VM, &l_state, g_backend_state, NULL },
	{ "poolgate_backend_users", "gauge",
	    "Users on the VM: Jupyter users active through poolgate "
	    "(jupyter_active), and by the VM's agent those with work, by kind.",
	    M_VM, &l_user_kind, g_backend_users, NULL },
	{ "poolgate_backend_activity_seconds", "gauge",
	    "Seconds since any user did anything on the VM, by its agent.",
	    M_CUSTOM, NULL, NULL, w_activity },
	{ "poolgate_sessions_live", "gauge",
	    "Relayed sessions open, by mode (ssh, rdp, tls-ssh).",
	    M_CUSTOM, NULL, NULL, w_sessions_mode },
	{ "poolgate_state_writable", "gauge",
	    "1 while the affinity table can be saved in state_dir.",
	    M_ONE, NULL, g_state_writable, NULL },
	{ "poolgate_backend_connections_total", "counter",
	    "Connections relayed to the VM.",
	    M_VM, NULL, g_backend_connections, NULL },
	{ "poolgate_connections_total", "counter",
	    "Client connections accepted by the service.",
	    M_SVC, NULL, g_connections_total, NULL },
	{ "poolgate_connections_active", "gauge",
	    "Client connections open on the service.",
	    M_SVC, NULL, g_connections_active, NULL },
	{ "poolgate_connection_errors_total", "counter",
	    "Connections refused or failed, by reason.",
	    M_SVC, &l_reason, g_connection_errors, NULL },
	{ "poolgate_affinity_entries", "gauge", "Entries in the affinity table.",
	    M_ONE, NULL, g_affinity_entries, NULL },
	{ "poolgate_backend_bytes_total", "counter",
	    "Bytes relayed for SSH/TCP sessions to the VM, as they move.",
	    M_VM, &l_direction, g_backend_bytes, NULL },
	{ "poolgate_bytes_total", "counter",
	    "Bytes relayed by the service (up: client to VM): tcp and websockets "
	    "as they move, other http when connections end.",
	    M_SVC, &l_direction, g_bytes, NULL },
	{ "poolgate_backend_check_latency_seconds", "gauge",
	    "Duration of the last health check of the VM for the service.",
	    M_VM_SVC, NULL, g_check_latency, NULL },
	{ "poolgate_backend_checks_total", "counter",
	    "Health check results (active and passive), by result.",
	    M_VM_SVC, &l_check, g_checks, NULL },
	{ "poolgate_selection_seconds", "summary",
	    "Time spent choosing a VM for a connection or request.",
	    M_CUSTOM, NULL, NULL, w_selection },
	{ "poolgate_queue_length", "gauge",
	    "Connections waiting for a VM (wake from zero), by service.",
	    M_SVC, NULL, g_queue_length, NULL },
	{ "poolgate_hook_runs_total", "counter",
	    "Hook command runs, by event and outcome.",
	    M_CUSTOM, NULL, NULL, w_hook_runs },
	{ "poolgate_cluster_up", "gauge",
	    "1 while this node reaches Redis and shares the pool; 0 degraded.",
	    M_CUSTOM, NULL, NULL, w_cluster_up },
	{ "poolgate_jupyter_users", "gauge", "Jupyter users active in the pool.",
	    M_ONE, NULL, g_jupyter_users, NULL },
	{ "poolgate_connections_open", "gauge",
	    "Client connections open, all services.",
	    M_ONE, NULL, g_connections_open, NULL },
	{ "poolgate_relay_sessions", "gauge",
	    "TCP sessions each thread holds: main, or relay thread 1..workers.",
	    M_ONE, &l_thread, g_relay_sessions, NULL },
	{ "poolgate_relay_moves_total", "counter",
	    "TCP sessions moved from the main thread to a relay thread when "
	    "their bytes turned bulk.",
	    M_ONE, NULL, g_relay_moves, NULL },
	{ "poolgate_reloads_total", "counter",
	    "Configuration reloads, by result.",
	    M_ONE, &l_reload, g_reloads, NULL },
};

/* ---- The loop ----------------------------------------------------------------- */

/* A label value from outside: backslash, quote and newline escaped. */
static void
prom_str(struct evbuffer *out, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			evbuffer_add_printf(out, "\\%c", *s);
		else if (*s == '\n')
			evbuffer_add(out, "\\n", 2);
		else
			evbuffer_add(out, s, 1);
	}
}

/* One line: name{backend="..",service="..",label=".."} value */
static void
sample(struct evbuffer *out, const struct metric *m, const struct m_at *at)
{
	const char *sep = "{";
	struct mval v;
	char buf[32];

	evbuffer_add_printf(out, "%s", m->name);
	if (m->over == M_VM || m->over == M_VM_SVC) {
		evbuffer_add_printf(out, "%sbackend=\"", sep);
		prom_str(out, at->b->name);
		evbuffer_add(out, "\"", 1);
		sep = ",";
	}
	if (m->over == M_SVC || m->over == M_VM_SVC) {
		evbuffer_add_printf(out, "%sservice=\"", sep);
		prom_str(out, at->a->px->svc[at->svc]->cfg.name);
		evbuffer_add(out, "\"", 1);
		sep = ",";
	}
	if (m->label != NULL) {
		evbuffer_add_printf(out, "%s%s=\"%s\"", sep, m->label->name,
		    m->label->value(at->a, at->k, buf));
		sep = ",";
	}
	if (sep[0] == ',')
		evbuffer_add(out, "}", 1);
	v = m->get(at);
	switch (v.kind) {
	case MV_INT:
		evbuffer_add_printf(out, " %lld\n", v.i);
		break;
	case MV_UINT:
		evbuffer_add_printf(out, " %llu\n", v.u);
		break;
	case MV_FIXED:
		evbuffer_add_printf(out, " %.*f\n", v.prec, v.f);
		break;
	}
}

void
metrics_write(struct evbuffer *out, const struct adm_ctx *a, uint64_t now)
{
	const struct px_ctx *px = a->px;
	const struct pool *pool = &px->mbr->pool;

	for (size_t r = 0; r < sizeof(metrics) / sizeof(metrics[0]); r++) {
		const struct metric *m = &metrics[r];
		bool by_vm = m->over == M_VM || m->over == M_VM_SVC;
		bool by_svc = m->over == M_SVC || m->over == M_VM_SVC;
		size_t nvm = by_vm ? pool->n : 1, nsvc = by_svc ? px->nsvc : 1;
		size_t nk = m->label != NULL ? m->label->count(a) : 1;
		struct m_at at = { a, NULL, 0, 0, now };

		evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", m->name,
		    m->help, m->name, m->type);
		if (m->over == M_CUSTOM) {
			m->write(out, m, a);
			continue;
		}
		for (size_t i = 0; i < nvm; i++)
			for (size_t s = 0; s < nsvc; s++)
				for (size_t k = 0; k < nk; k++) {
					at.b = by_vm ? pool->be[i] : NULL;
					at.svc = s;
					at.k = k;
					sample(out, m, &at);
				}
	}
	opsmetrics_write(out, a, now, pg_wall_ms());
}
