/*
 * vmjson.c -- see vmjson.h. A VM is written as a list of fields; each
 * field has one writer, and a view is the list of fields an endpoint
 * shows, in its order.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "admin/vmjson.h"
#include "backends/affinity.h"
#include "backends/report.h"
#include "backends/usersess.h"
#include "lib/json.h"
#include "proxy/proxy.h"

/* Append a string literal, without its NUL. */
#define ADD_LIT(out, lit) evbuffer_add((out), (lit), sizeof(lit) - 1)

static int
put_evbuffer(void *arg, const char *bytes, size_t n)
{
	return evbuffer_add(arg, bytes, n);
}

void
vmj_str(struct evbuffer *out, const char *s)
{
	json_write_str(put_evbuffer, out, s);
}

/* What every field writer is given. */
struct vmj {
	struct evbuffer       *out;
	const struct adm_ctx  *a;
	const struct backend  *b;
	size_t                 nsvc;
	uint64_t               now;
	const size_t          *aff;   /* the VM's live affinity entries, counted
	                                 for the whole pool at once; NULL: count */
};

static const char *
bool_text(bool v)
{
	return v ? "true" : "false";
}

static void
f_name(const struct vmj *c)
{
	vmj_str(c->out, c->b->name);
}

static void
f_address(const struct vmj *c)
{
	vmj_str(c->out, c->b->addr.text != NULL ? c->b->addr.text : "");
}

static void
f_state(const struct vmj *c)
{
	vmj_str(c->out, be_state_name(be_state(c->b, c->nsvc)));
}

static void
f_takes_new(const struct vmj *c)
{
	evbuffer_add_printf(c->out, "%s",
	    bool_text(c->nsvc > 0 && be_takes_new(c->b, 0)));
}

static void
f_admin(const struct vmj *c)
{
	vmj_str(c->out, be_admin_name(c->b->admin));
}

static void
f_agent_admin(const struct vmj *c)
{
	vmj_str(c->out, be_admin_name(c->b->agent_admin));
}

static void
f_source(const struct vmj *c)
{
	vmj_str(c->out, be_source_name(c->b->source));
}

static void
f_removed(const struct vmj *c)
{
	evbuffer_add_printf(c->out, "%s", bool_text(c->b->removed));
}

static void
f_weight(const struct vmj *c)
{
	evbuffer_add_printf(c->out, "%d", c->b->weight);
}

static void
f_max_sessions(const struct vmj *c)
{
	evbuffer_add_printf(c->out, "%d", c->b->max_sessions);
}

static void
f_eff_weight(const struct vmj *c)
{
	evbuffer_add_printf(c->out, "%d", be_weight(c->b));
}

static void
f_eff_max_sessions(const struct vmj *c)
{
	evbuffer_add_printf(c->out, "%d", be_max_sessions(c->b));
}

static void
f_sessions(const struct vmj *c)
{
	evbuffer_add_printf(c->out, "%d", c->b->sessions);
}

/* sessions / weight with 3 decimals; be_weight() is in hundredths. */
static void
f_load(const struct vmj *c)
{
	int w = be_weight(c->b);
	long long milli = w > 0 ? (long long)be_load(c->b) * 100000 / w : -1;

	if (milli < 0)
		ADD_LIT(c->out, "null");
	else
		evbuffer_add_printf(c->out, "%lld.%03lld", milli / 1000,
		    milli % 1000);
}

static void
f_agent(const struct vmj *c)
{
	vmj_str(c->out, c->b->agent_last);
}

static void
f_http_connections(const struct vmj *c)
{
	evbuffer_add_printf(c->out, "%d", c->b->conns);
}

static void
f_connections_total(const struct vmj *c)
{
	/* relay threads add to it */
	evbuffer_add_printf(c->out, "%llu", (unsigned long long)
	    __atomic_load_n(&c->b->connections, __ATOMIC_RELAXED));
}

static void
f_affinity(const struct vmj *c)
{
	/* the table keeps a count per VM: no walk */
	evbuffer_add_printf(c->out, "%zu", c->aff != NULL ? *c->aff :
	    aff_count_backend(c->a->px->mbr->aff, c->b->name, c->now));
}

struct users_arg {
	struct evbuffer *out;
	size_t           n;
};

static void
user_of_backend(const struct us_session *us, void *arg)
{
	struct users_arg *ua = arg;

	if (ua->n++ > 0)
		ADD_LIT(ua->out, ",");
	vmj_str(ua->out, us->user);
}

static void
f_users(const struct vmj *c)
{
	struct users_arg ua = { c->out, 0 };

	ADD_LIT(c->out, "[");
	us_foreach_on(c->a->px->mbr->us, c->b->name, c->now, user_of_backend,
	    &ua);
	ADD_LIT(c->out, "]");
}

/* The agent's users with work in the last report read, as [kind, ...]. */
static void
put_kinds(struct evbuffer *out, unsigned kinds)
{
	size_t n = 0;

	ADD_LIT(out, "[");
	for (int k = 0; k < REP_NKINDS; k++)
		if (kinds & (1u << k))
			evbuffer_add_printf(out, "%s\"%s\"", n++ ? "," : "",
			    rep_kind_name((enum rep_kind)k));
	ADD_LIT(out, "]");
}

/*
 * "work": who has work on the VM by its agent's last report, with what
 * kind, how long they have been idle, and where they logged in from: the
 * sshd sessions' TCP peers and, when the peer is poolgate's source port of
 * a session it relays, that session's client address; [] without a report.
 */
static void
f_work(const struct vmj *c)
{
	const struct vm_report *r = c->b->report;
	size_t n = 0;

	ADD_LIT(c->out, "[");
	for (size_t i = 0; r != NULL && i < r->nusers; i++) {
		const struct rep_user *u = &r->users[i];
		size_t np = 0;

		if (!u->work)
			continue;
		if (n++ > 0)
			ADD_LIT(c->out, ",");
		ADD_LIT(c->out, "{\"user\":");
		vmj_str(c->out, u->name);
		ADD_LIT(c->out, ",\"kinds\":");
		put_kinds(c->out, u->kinds);
		if (u->idle_s >= 0)
			evbuffer_add_printf(c->out, ",\"idle_s\":%lld",
			    (long long)u->idle_s);
		else
			ADD_LIT(c->out, ",\"idle_s\":null");
		ADD_LIT(c->out, ",\"ssh_peers\":[");
		for (size_t j = 0; j < r->nsessions; j++) {
			const struct rep_session *rs = &r->sessions[j];

			if (strcmp(rs->user, u->name) != 0 ||
			    rs->peer_addr[0] == '\0')
				continue;
			if (np++ > 0)
				ADD_LIT(c->out, ",");
			const char *client = c->a->client_of == NULL ? NULL :
			    c->a->client_of(c->a->px, c->b, rs->peer_port);

			ADD_LIT(c->out, "{\"address\":");
			vmj_str(c->out, rs->peer_addr);
			evbuffer_add_printf(c->out, ",\"port\":%d,\"client\":",
			    rs->peer_port);
			if (client != NULL)
				vmj_str(c->out, client);
			else
				ADD_LIT(c->out, "null");
			ADD_LIT(c->out, "}");
		}
		ADD_LIT(c->out, "]}");
	}
	ADD_LIT(c->out, "]");
}

/*
 * "report": the agent's last answer to GET /v1/report as poolgate used it,
 * or null when none was ever asked for.
 */
static void
f_report(const struct vmj *c)
{
	const struct backend *b = c->b;
	const struct vm_report *r = b->report;

	if (b->report_ms == 0) {
		ADD_LIT(c->out, "null");
		return;
	}
	evbuffer_add_printf(c->out, "{\"ok\":%s,\"ms_ago\":%llu,\"error\":",
	    bool_text(b->report_ok), (unsigned long long)(c->now > b->report_ms ?
	    c->now - b->report_ms : 0));
	if (b->report_ok)
		ADD_LIT(c->out, "null");
	else
		vmj_str(c->out, b->report_err);
	if (r == NULL) {
		ADD_LIT(c->out, "}");
		return;
	}
	ADD_LIT(c->out, ",\"host\":");
	vmj_str(c->out, r->host);
	evbuffer_add_printf(c->out, ",\"idle\":%s,\"users_with_work\":%d,"
	    "\"reported_load\":%d,\"claims_lost\":%d,\"truncated\":%s",
	    bool_text(r->idle), r->users_with_work, b->reported, b->claims_lost,
	    bool_text(r->truncated));
	if (r->activity_s >= 0)
		evbuffer_add_printf(c->out, ",\"activity_s\":%lld",
		    (long long)r->activity_s);
	else
		ADD_LIT(c->out, ",\"activity_s\":null");
	evbuffer_add_printf(c->out, ",\"host_identity\":{\"ok\":%s,\"why\":",
	    bool_text(!b->identity_bad));
	if (b->identity_bad)
		vmj_str(c->out, b->identity_why);
	else
		ADD_LIT(c->out, "null");
	ADD_LIT(c->out, "},\"eviction\":");
	if (b->evicting) {
		ADD_LIT(c->out, "{\"type\":");
		vmj_str(c->out, r->evict.type);
		ADD_LIT(c->out, ",\"id\":");
		vmj_str(c->out, r->evict.id);
		ADD_LIT(c->out, ",\"not_before\":");
		vmj_str(c->out, r->evict.not_before);
		if (r->evict.deadline_s >= 0)
			evbuffer_add_printf(c->out, ",\"deadline_s\":%lld}",
			    (long long)r->evict.deadline_s);
		else
			ADD_LIT(c->out, ",\"deadline_s\":null}");
	} else
		ADD_LIT(c->out, "null");
	ADD_LIT(c->out, "}");
}

#define VMJ_LIVE_SHOWN 32

/* The live sessions of one VM: counts by mode, the users they announced. */
struct live_arg {
	const struct backend *b;
	size_t                n[3];   /* ssh, rdp, tls-ssh */
	struct evbuffer      *out;    /* the announced users' list */
	size_t                shown, more;
};

static const char *const live_modes[3] = { "ssh", "rdp", "tls-ssh" };

static void
live_of_backend(const struct px_live *l, void *arg)
{
	struct live_arg *la = arg;

	if (l->backend != la->b)
		return;
	for (size_t k = 0; k < 3; k++)
		if (strcmp(l->mode, live_modes[k]) == 0)
			la->n[k]++;
	if (l->user[0] == '\0')
		return;
	if (la->shown == VMJ_LIVE_SHOWN) {
		la->more++;
		return;
	}
	if (la->shown++ > 0)
		ADD_LIT(la->out, ",");
	ADD_LIT(la->out, "{\"user\":");
	vmj_str(la->out, l->user);
	ADD_LIT(la->out, ",\"mode\":");
	vmj_str(la->out, l->mode);
	ADD_LIT(la->out, ",\"client\":");
	vmj_str(la->out, l->client);
	ADD_LIT(la->out, "}");
}

/*
 * "live": the VM's relayed sessions by mode (ssh, rdp, tls-ssh; Jupyter
 * users are in "users") and the users the rdp and tls-ssh ones announced,
 * at most VMJ_LIVE_SHOWN of them ("announced_more" counts the rest).
 */
static void
f_live(const struct vmj *c)
{
	struct live_arg la = { .b = c->b };

	if ((la.out = evbuffer_new()) == NULL || c->a->foreach_live == NULL) {
		ADD_LIT(c->out, "null");
		if (la.out != NULL)
			evbuffer_free(la.out);
		return;
	}
	c->a->foreach_live(c->a->px, live_of_backend, &la);
	evbuffer_add_printf(c->out, "{\"ssh\":%zu,\"rdp\":%zu,\"tls-ssh\":%zu,"
	    "\"announced\":[", la.n[0], la.n[1], la.n[2]);
	evbuffer_add_buffer(c->out, la.out);
	evbuffer_add_printf(c->out, "],\"announced_more\":%zu}", la.more);
	evbuffer_free(la.out);
}

/* Per service {"up", "last_error"}, and with checks the check figures. */
static void
health(const struct vmj *c, bool checks)
{
	ADD_LIT(c->out, "{");
	for (size_t s = 0; s < c->nsvc; s++) {
		const struct be_health *h = &c->b->health[s];

		if (s > 0)
			ADD_LIT(c->out, ",");
		vmj_str(c->out, c->a->px->svc[s]->cfg.name);
		evbuffer_add_printf(c->out, ":{\"up\":%s,\"last_error\":",
		    bool_text(h->hc.up));
		vmj_str(c->out, h->last_error);
		if (checks) {
			if (h->last_check_ms != 0)
				evbuffer_add_printf(c->out, ",\"last_check_ms_ago\":%llu",
				    (unsigned long long)(c->now - h->last_check_ms));
			else
				ADD_LIT(c->out, ",\"last_check_ms_ago\":null");
			evbuffer_add_printf(c->out, ",\"latency_ms\":%llu,"
			    "\"checks\":%llu,\"failures\":%llu",
			    (unsigned long long)h->last_latency_ms,
			    (unsigned long long)h->checks,
			    (unsigned long long)h->failures);
		}
		ADD_LIT(c->out, "}");
	}
	ADD_LIT(c->out, "}");
}

static void
f_health(const struct vmj *c)
{
	health(c, false);
}

static void
f_health_checks(const struct vmj *c)
{
	health(c, true);
}

enum field {
	F_NAME, F_ADDRESS, F_STATE, F_TAKES_NEW, F_ADMIN, F_AGENT_ADMIN,
	F_SOURCE, F_REMOVED, F_WEIGHT, F_MAX_SESSIONS, F_EFF_WEIGHT,
	F_EFF_MAX_SESSIONS, F_SESSIONS, F_LOAD, F_AGENT, F_HTTP_CONNECTIONS,
	F_CONNECTIONS_TOTAL, F_AFFINITY, F_USERS, F_HEALTH, F_HEALTH_CHECKS,
	F_WORK, F_REPORT, F_LIVE,
};

static const struct {
	const char *key;
	void      (*put)(const struct vmj *c);
} fields[] = {
	[F_NAME]              = { "name", f_name },
	[F_ADDRESS]           = { "address", f_address },
	[F_STATE]             = { "state", f_state },
	[F_TAKES_NEW]         = { "takes_new", f_takes_new },
	[F_ADMIN]             = { "admin", f_admin },
	[F_AGENT_ADMIN]       = { "agent_admin", f_agent_admin },
	[F_SOURCE]            = { "source", f_source },
	[F_REMOVED]           = { "removed", f_removed },
	[F_WEIGHT]            = { "weight", f_weight },
	[F_MAX_SESSIONS]      = { "max_sessions", f_max_sessions },
	[F_EFF_WEIGHT]        = { "effective_weight_pct", f_eff_weight },
	[F_EFF_MAX_SESSIONS]  = { "effective_max_sessions", f_eff_max_sessions },
	[F_SESSIONS]          = { "sessions", f_sessions },
	[F_LOAD]              = { "load", f_load },
	[F_AGENT]             = { "agent", f_agent },
	[F_HTTP_CONNECTIONS]  = { "http_connections", f_http_connections },
	[F_CONNECTIONS_TOTAL] = { "connections_total", f_connections_total },
	[F_AFFINITY]          = { "affinity", f_affinity },
	[F_USERS]             = { "users", f_users },
	[F_HEALTH]            = { "health", f_health },
	[F_HEALTH_CHECKS]     = { "health", f_health_checks },
	[F_WORK]              = { "work", f_work },
	[F_REPORT]            = { "report", f_report },
	[F_LIVE]              = { "live", f_live },
};

/* The views: what each endpoint has always shown, in its order. */
static const enum field view_status[] = {
	F_NAME, F_ADDRESS, F_STATE, F_TAKES_NEW, F_REMOVED, F_WEIGHT,
	F_MAX_SESSIONS, F_SESSIONS, F_LOAD, F_HTTP_CONNECTIONS,
	F_CONNECTIONS_TOTAL, F_AFFINITY, F_USERS, F_LIVE, F_WORK, F_REPORT,
	F_HEALTH_CHECKS,
};
static const enum field view_api[] = {
	F_NAME, F_ADDRESS, F_STATE, F_ADMIN, F_AGENT_ADMIN, F_SOURCE, F_REMOVED,
	F_WEIGHT, F_MAX_SESSIONS, F_EFF_WEIGHT, F_EFF_MAX_SESSIONS, F_SESSIONS,
	F_LOAD, F_AGENT, F_HEALTH,
};

static void
put_backend(struct vmj *c, enum vmj_view view)
{
	const enum field *list = view == VMJ_API ? view_api : view_status;
	size_t n = view == VMJ_API ? sizeof(view_api) / sizeof(view_api[0]) :
	    sizeof(view_status) / sizeof(view_status[0]);

	if (c->nsvc > CFG_MAX_SERVICES)
		c->nsvc = CFG_MAX_SERVICES;
	for (size_t i = 0; i < n; i++) {
		/* the keys are ours: plain ASCII, written as they are */
		evbuffer_add_printf(c->out, "%s\"%s\":", i == 0 ? "{" : ",",
		    fields[list[i]].key);
		fields[list[i]].put(c);
	}
	ADD_LIT(c->out, "}");
}

void
vmj_backend(struct evbuffer *out, const struct adm_ctx *a,
    const struct backend *b, enum vmj_view view, uint64_t now)
{
	struct vmj c = { out, a, b, a->px->nsvc, now, NULL };

	put_backend(&c, view);
}

/* ---- Every VM at once (/status) --------------------------------------------- */

int
vmj_status_backends(struct evbuffer *out, const struct adm_ctx *a,
    uint64_t now)
{
	const struct members *m = a->px->mbr;
	const char **names = calloc(m->pool.n + 1, sizeof(*names));
	size_t *aff = calloc(m->pool.n + 1, sizeof(*aff));
	int ret = -1;

	if (names == NULL || aff == NULL)
		goto out;
	for (size_t i = 0; i < m->pool.n; i++)
		names[i] = m->pool.be[i]->name;
	/* the table counts per VM: one call, no walk of the table */
	aff_count_backends(m->aff, names, m->pool.n, aff, now);
	ADD_LIT(out, "[");
	for (size_t i = 0; i < m->pool.n; i++) {
		struct vmj c = { out, a, m->pool.be[i], a->px->nsvc, now,
		    &aff[i] };

		if (i > 0)
			ADD_LIT(out, ",");
		put_backend(&c, VMJ_STATUS);
	}
	ADD_LIT(out, "]");
	ret = 0;
out:
	free(names);
	free(aff);
	return ret;
}
