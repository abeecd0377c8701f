/*
 * statuspage.c -- see statuspage.h: the routes and the rendering. The page
 * is rendered straight from the live structures into the reply; the only
 * state kept here is a->statuspage: the sign-in sessions (signin.c) and
 * the ring of recent events (events.c).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "admin/events.h"
#include "admin/history.h"
#include "admin/html.h"
#include "admin/knownhosts.h"
#include "admin/signin.h"
#include "admin/statuspage.h"
#include "cluster/cluster.h"
#include "backends/affinity.h"
#include "backends/hookrun.h"
#include "backends/report.h"
#include "backends/usersess.h"
#include "http/httpuser.h"
#include "lib/log.h"
#include "lib/text.h"
#include "proxy/proxy.h"

/* Append a string literal, without its NUL. */
#define ADD_LIT(out, lit) evbuffer_add((out), (lit), sizeof(lit) - 1)

struct statuspage {
	struct signin   si;
	struct evr_ring ev;
};

/* ---- Events ---------------------------------------------------------------- */

static struct statuspage *
sp_get(struct adm_ctx *a)
{
	if (a->statuspage == NULL)
		a->statuspage = calloc(1, sizeof(*a->statuspage));
	return a->statuspage;
}

void
statuspage_event(struct adm_ctx *a, const char *fmt, ...)
{
	struct statuspage *sp = sp_get(a);
	va_list ap;

	if (sp == NULL)
		return;
	va_start(ap, fmt);
	evr_addv(&sp->ev, pg_wall_ms(), fmt, ap);
	va_end(ap);
}

void
statuspage_free(struct adm_ctx *a)
{
	si_fails_free(a->fails);
	a->fails = NULL;
	if (a->statuspage == NULL)
		return;
	OPENSSL_cleanse(&a->statuspage->si, sizeof(a->statuspage->si));
	free(a->statuspage);
	a->statuspage = NULL;
}

void
sp_advance(struct adm_ctx *a, uint64_t ms)
{
	if (a->statuspage != NULL)
		si_advance(&a->statuspage->si, ms);
	si_fails_advance(a->fails, ms);
}

/* ---- Rendering ------------------------------------------------------------- */

static const char page_css[] =
":root{color-scheme:light dark;--bg:#fff;--fg:#1f2328;--mut:#636c76;"
"--line:#d8dee4;--head:#f3f5f7;--ok:#1a7f37;--bad:#cf222e;--warn:#bc4c00;"
"--off:#6e7781;--bar:#eaeef2}"
"@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;"
"--mut:#8d96a0;--line:#30363d;--head:#161b22;--ok:#3fb950;--bad:#f85149;"
"--warn:#d29922;--off:#8b949e;--bar:#21262d}}"
"*{box-sizing:border-box}"
"body{margin:0;font:12px/1.35 system-ui,-apple-system,'Segoe UI',sans-serif;"
"background:var(--bg);color:var(--fg)}"
"header{display:flex;flex-wrap:wrap;gap:4px 18px;align-items:center;"
"padding:6px 10px;border-bottom:1px solid var(--line)}"
"h1{font-size:15px;margin:0}h2{font-size:13px;margin:14px 10px 4px}"
".mut{color:var(--mut)}.r{margin-left:auto}"
"header form{display:flex;gap:4px;align-items:center;margin:0}"
"input,button{font:inherit}button{font-size:11px;padding:0 6px;cursor:pointer}"
"button[disabled]{cursor:default;opacity:.45}"
".note{margin:6px 10px;padding:4px 8px;border-radius:3px;"
"border:1px solid var(--ok)}.note.bad{border-color:var(--bad)}"
".tot{display:flex;flex-wrap:wrap;gap:6px;padding:8px 10px}"
".tot>div{border:1px solid var(--line);border-radius:4px;padding:3px 8px}"
".tot b{display:block;font-size:15px}"
"table{border-collapse:collapse;width:100%}"
"th,td{padding:2px 6px;border-bottom:1px solid var(--line);text-align:left;"
"vertical-align:top;white-space:nowrap}"
"thead th{position:sticky;top:0;background:var(--head);z-index:1}"
"tbody tr:hover{background:var(--head)}"
".n{text-align:right;font-variant-numeric:tabular-nums}"
".st{display:inline-block;min-width:3.8em;text-align:center;border-radius:3px;"
"padding:0 4px;color:#fff;font-weight:600}"
".st-up{background:var(--ok)}.st-down{background:var(--bad)}"
".st-drain{background:var(--warn)}.st-maint{background:var(--off)}"
"tr.s-down>td:first-child{box-shadow:inset 3px 0 var(--bad)}"
"tr.s-drain>td:first-child{box-shadow:inset 3px 0 var(--warn)}"
"tr.s-maint>td:first-child{box-shadow:inset 3px 0 var(--off)}"
".sub{display:block;font-size:11px;color:var(--mut)}.addr{font-size:11px}"
".hc{display:block}.ok{color:var(--ok)}.bad{color:var(--bad)}"
".wrap{white-space:normal;max-width:26em;overflow-wrap:anywhere}"
".bar{display:inline-block;width:70px;height:8px;background:var(--bar);"
"border-radius:2px;vertical-align:middle;margin-right:4px;overflow:hidden}"
".bar i{display:block;height:100%;background:var(--ok)}"
".bar i.hi{background:var(--warn)}.bar i.full{background:var(--bad)}"
".bar i.rel{background:var(--off)}"
"form.act{display:inline-flex;gap:2px;margin:0}"
"table.ev{width:auto;min-width:50%}table.ev td{white-space:normal}";

/*
 * Reload every SP_REFRESH_S seconds, except while an input has focus or a
 * text field holds something (a half-typed token). After a POST answered
 * with an error page the URL is not "/": go to "/" rather than re-POST.
 */
static const char page_js[] =
"(function(){var a=document.getElementById('auto'),l=document.getElementById"
"('autol');l.hidden=false;try{if(sessionStorage.getItem('pg-auto')==='0')"
"a.checked=false;}catch(e){}a.addEventListener('change',function(){try{"
"sessionStorage.setItem('pg-auto',a.checked?'1':'0');}catch(e){}});"
"setInterval(function(){if(!a.checked)return;var f=document.activeElement;"
"if(f&&f!==a&&/^(INPUT|TEXTAREA|SELECT)$/.test(f.tagName))return;"
"var t=document.querySelectorAll('input[type=password],input[type=text]');"
"for(var i=0;i<t.length;i++)if(t[i].value)return;"
"if(location.pathname==='/'&&!location.search)location.reload();"
"else location.replace('/');},%d);})();";

/* "3d 4h", "5h 12m", "12m 3s", "42s" */
static void
fmt_span(char *buf, size_t len, uint64_t s)
{
	if (s >= 86400)
		snprintf(buf, len, "%llud %lluh", (unsigned long long)(s / 86400),
		    (unsigned long long)(s % 86400 / 3600));
	else if (s >= 3600)
		snprintf(buf, len, "%lluh %llum", (unsigned long long)(s / 3600),
		    (unsigned long long)(s % 3600 / 60));
	else if (s >= 60)
		snprintf(buf, len, "%llum %llus", (unsigned long long)(s / 60),
		    (unsigned long long)(s % 60));
	else
		snprintf(buf, len, "%llus", (unsigned long long)s);
}

/* "0.4s", "12s", "3m 2s" for a time in ms ago */
static void
fmt_ago(char *buf, size_t len, uint64_t ms)
{
	if (ms < 10000)
		snprintf(buf, len, "%llu.%llus", (unsigned long long)(ms / 1000),
		    (unsigned long long)(ms % 1000 / 100));
	else
		fmt_span(buf, len, ms / 1000);
}

/* "12:34:56" for today (UTC, like the log), "2026-11-27 12:34:56" before. */
static void
fmt_clock(char *buf, size_t len, uint64_t wall, uint64_t now_wall)
{
	char iso[32];

	pg_format_time(wall, iso, sizeof(iso));  /* 2026-11-27T12:34:56.789Z */
	if (wall / 86400000 == now_wall / 86400000)
		snprintf(buf, len, "%.8s", iso + 11);
	else
		snprintf(buf, len, "%.10s %.8s", iso, iso + 11);
}

/*
 * Per-render lookups built once: each VM's affinity count comes from the
 * table's count per VM (no walk), and each VM's users from its own list
 * (us_foreach_on), keeping only the first SP_USERS_SHOWN names, so 400 VMs
 * and 100k users cost one pass over the users and no sort of all of them.
 */

/* The live Jupyter users of one VM: how many, and the first by name. */
struct vm_users {
	size_t n;
	size_t nshown;
	char   shown[SP_USERS_SHOWN][US_USER_MAX + 1];
};

struct gather {
	size_t           n;
	size_t          *aff;       /* affinity entries per VM */
	struct vm_users *vu;        /* per VM */
	size_t           nusers;    /* on the VMs of the pool */
};

/* Count the user, and keep its name if it is among the first by name. */
static void
gather_user(const struct us_session *s, void *arg)
{
	struct vm_users *vu = arg;
	size_t k;

	vu->n++;
	if (vu->nshown == SP_USERS_SHOWN &&
	    strcmp(s->user, vu->shown[SP_USERS_SHOWN - 1]) >= 0)
		return;
	k = vu->nshown < SP_USERS_SHOWN ? vu->nshown++ : SP_USERS_SHOWN - 1;
	for (; k > 0 && strcmp(s->user, vu->shown[k - 1]) < 0; k--)
		memcpy(vu->shown[k], vu->shown[k - 1], sizeof(vu->shown[k]));
	snprintf(vu->shown[k], sizeof(vu->shown[k]), "%s", s->user);
}

static void
gather_free(struct gather *g)
{
	free(g->aff);
	free(g->vu);
}

static int
gather(const struct adm_ctx *a, struct gather *g, uint64_t now)
{
	const struct members *m = a->px->mbr;
	size_t n = m->pool.n;

	memset(g, 0, sizeof(*g));
	g->n = n;
	g->aff = calloc(n + 1, sizeof(*g->aff));
	g->vu = calloc(n + 1, sizeof(*g->vu));
	if (g->aff == NULL || g->vu == NULL)
		return -1;
	if (m->aff != NULL) {
		const char **names = calloc(n + 1, sizeof(*names));

		if (names == NULL)
			return -1;
		for (size_t i = 0; i < n; i++)
			names[i] = m->pool.be[i]->name;
		aff_count_backends(m->aff, names, n, g->aff, now);
		free(names);
	}
	for (size_t i = 0; m->us != NULL && i < n; i++) {
		us_foreach_on(m->us, m->pool.be[i]->name, now, gather_user,
		    &g->vu[i]);
		g->nusers += g->vu[i].n;
	}
	return 0;
}

/* This node: drained by the operator; in a cluster, Redis and the others. */
static void
render_node(const struct adm_ctx *a, struct evbuffer *out)
{
	struct cl_status st;

	if (a->cl == NULL) {
		if (a->node_draining)
			ADD_LIT(out, "<div id=\"node\"><span class=\"mut\">this node"
			    "</span><b class=\"bad\">drained</b>healthz answers 503"
			    "</div>");
		return;
	}
	cl_node_status(a->cl, &st);
	ADD_LIT(out, "<div id=\"cluster\"><span class=\"mut\">cluster node ");
	html_escape(out, st.node);
	evbuffer_add_printf(out, "</span><b class=\"%s\">%s</b>%zu other node%s",
	    st.up ? "ok" : "bad", st.up ? "Redis up" : "degraded: Redis unreachable",
	    st.peers->n, st.peers->n == 1 ? "" : "s");
	if (st.runner)
		ADD_LIT(out, " &middot; runs the hooks");
	if (a->node_draining)
		ADD_LIT(out, " &middot; <span class=\"bad\">drained</span>");
	ADD_LIT(out, "</div>");
}

static void
render_totals(const struct adm_ctx *a, struct evbuffer *out,
    const struct gather *g, uint64_t now)
{
	const struct px_ctx *px = a->px;
	const struct pool *pool = &px->mbr->pool;
	size_t st[4] = { 0, 0, 0, 0 };
	long long sessions = 0, cap = 0;
	bool capped = pool->n > 0;
	char span[32];

	for (size_t i = 0; i < pool->n; i++) {
		const struct backend *b = pool->be[i];
		enum be_state s = be_state(b, px->nsvc);
		int m = be_max_sessions(b);

		if ((unsigned)s < 4)
			st[s]++;
		sessions += b->sessions;
		if (m > 0)
			cap += m;
		else
			capped = false;
	}
	evbuffer_add_printf(out, "<section class=\"tot\" id=\"totals\">"
	    "<div><span class=\"mut\">VMs</span><b id=\"t-vms\">%zu</b>"
	    "<span class=\"ok\">%zu up</span> &middot; <span class=\"bad\">%zu "
	    "down</span> &middot; %zu drain &middot; %zu maint</div>",
	    pool->n, st[BE_UP], st[BE_DOWN], st[BE_DRAIN], st[BE_MAINT]);
	evbuffer_add_printf(out, "<div><span class=\"mut\">sessions</span>"
	    "<b id=\"t-sessions\">%lld", sessions);
	if (capped)
		evbuffer_add_printf(out, " / %lld", cap);
	evbuffer_add_printf(out, "</b>%s</div>", capped ? "of max_sessions" :
	    "some VMs have no max_sessions");
	evbuffer_add_printf(out, "<div><span class=\"mut\">Jupyter users</span>"
	    "<b id=\"t-users\">%zu</b>&nbsp;</div>", g->nusers);
	evbuffer_add_printf(out, "<div><span class=\"mut\">affinity entries</span>"
	    "<b>%zu</b>&nbsp;</div>", px->mbr->aff != NULL ?
	    aff_count(px->mbr->aff) : 0);
	for (size_t s = 0; s < px->nsvc; s++) {
		const struct service *sv = px->svc[s];
		size_t up = 0;

		for (size_t i = 0; i < pool->n; i++)
			up += be_takes_new(pool->be[i], s);
		ADD_LIT(out, "<div><span class=\"mut\">service ");
		html_escape(out, sv->cfg.name);
		evbuffer_add_printf(out, " (%s)</span><b>%llu open</b>%zu VMs take "
		    "new &middot; %llu total</div>", cfg_mode_name(sv->cfg.mode),
		    (unsigned long long)sv->active, up,
		    (unsigned long long)sv->connections_total);
	}
	fmt_span(span, sizeof(span), (now - a->started_ms) / 1000);
	evbuffer_add_printf(out, "<div><span class=\"mut\">up for</span><b>%s</b>"
	    "%llu reloads", span, (unsigned long long)a->reloads);
	if (a->reload_failures > 0)
		evbuffer_add_printf(out, ", <span class=\"bad\">%llu failed</span>",
		    (unsigned long long)a->reload_failures);
	ADD_LIT(out, "</div>");
	/* Where the operator looks: why the last reload was refused. */
	if (a->reload_error[0] != '\0') {
		ADD_LIT(out, "<div id=\"reload-error\"><span class=\"mut\">last "
		    "reload refused</span><b class=\"bad\">");
		html_escape(out, a->reload_error);
		ADD_LIT(out, "</b>the running configuration stays</div>");
	}
	evbuffer_add_printf(out, "<div><span class=\"mut\">state dir</span><b "
	    "class=\"%s\">%s</b>", a->state_failing ? "bad" : "ok",
	    a->state_failing ? "not writable" : "saved");
	if (px->cfg != NULL && px->cfg->state_dir != NULL)
		html_escape(out, px->cfg->state_dir);
	ADD_LIT(out, "</div>");
	if (a->hr != NULL)
		evbuffer_add_printf(out, "<div><span class=\"mut\">hooks</span><b>"
		    "%zu running</b>%zu waiting</div>", hr_running(a->hr),
		    hr_waiting(a->hr));
	render_node(a, out);
	ADD_LIT(out, "</section>\n");
}

static void
render_health(const struct adm_ctx *a, struct evbuffer *out,
    const struct backend *b, uint64_t now)
{
	const struct px_ctx *px = a->px;

	for (size_t s = 0; s < px->nsvc && s < CFG_MAX_SERVICES; s++) {
		const struct be_health *h = &b->health[s];
		char ago[32];

		if (h->last_check_ms == 0) {
			ADD_LIT(out, "<span class=\"hc mut\" title=\"not checked "
			    "yet\">");
			html_escape(out, px->svc[s]->cfg.name);
			ADD_LIT(out, " &ndash;</span>");
			continue;
		}
		fmt_ago(ago, sizeof(ago), now > h->last_check_ms ?
		    now - h->last_check_ms : 0);
		evbuffer_add_printf(out, "<span class=\"hc %s\" title=\"%s; last check "
		    "%s ago; %llu checks, %llu failed\">", h->hc.up ? "ok" : "bad",
		    h->hc.up ? "healthy" : "unhealthy", ago,
		    (unsigned long long)h->checks, (unsigned long long)h->failures);
		html_escape(out, px->svc[s]->cfg.name);
		evbuffer_add_printf(out, " %s %llu&nbsp;ms",
		    h->last_error[0] == '\0' ? "&#10003;" : "&#10007;",
		    (unsigned long long)h->last_latency_ms);
		if (h->last_error[0] != '\0') {
			ADD_LIT(out, " <span class=\"wrap\">");
			html_escape(out, h->last_error);
			ADD_LIT(out, "</span>");
		}
		ADD_LIT(out, "</span>");
	}
}

/* RDP and SSH-in-TLS sessions of b, with the users they announced. */
struct sp_live {
	const struct backend *b;
	struct evbuffer      *out;
	size_t                n;
};

static void
live_line(const struct px_live *l, void *arg)
{
	struct sp_live *sl = arg;

	if (l->backend != sl->b || strcmp(l->mode, "ssh") == 0)
		return;
	if (sl->n++ == SP_USERS_SHOWN) {
		ADD_LIT(sl->out, ", &hellip;");
		return;
	}
	if (sl->n > SP_USERS_SHOWN)
		return;
	if (sl->n > 1)
		ADD_LIT(sl->out, ", ");
	html_escape(sl->out, l->mode);
	ADD_LIT(sl->out, " ");
	html_escape(sl->out, l->user[0] != '\0' ? l->user : "?");
}

static void
render_live(const struct adm_ctx *a, struct evbuffer *out,
    const struct backend *b)
{
	struct sp_live sl = { b, NULL, 0 };

	if (a->foreach_live == NULL || (sl.out = evbuffer_new()) == NULL)
		return;
	a->foreach_live(a->px, live_line, &sl);
	if (sl.n > 0) {
		ADD_LIT(out, "<span class=\"sub live\">");
		evbuffer_add_buffer(out, sl.out);
		ADD_LIT(out, "</span>");
	}
	evbuffer_free(sl.out);
}

/*
 * Under the agent's line: what its report says of users' work ("work:
 * alice (ssh, process) from 192.0.2.7, bob (kernel)"), a report that cannot be read, and
 * users whose more recent work another VM holds.
 */
static void
render_work(const struct adm_ctx *a, struct evbuffer *out,
    const struct backend *b)
{
	const struct vm_report *r = b->report;
	size_t n = 0;

	if (b->report_ms == 0 || (r == NULL && b->report_ok))
		return;
	if (!b->report_ok) {
		ADD_LIT(out, "<span class=\"sub bad report\">report: ");
		html_escape(out, b->report_err);
		ADD_LIT(out, "</span>");
		return;
	}
	ADD_LIT(out, "<span class=\"sub work\">");
	if (r->idle)
		ADD_LIT(out, "no user work");
	for (size_t i = 0; i < r->nusers && n < SP_USERS_SHOWN; i++) {
		const struct rep_user *u = &r->users[i];
		size_t nk = 0;

		if (!u->work)
			continue;
		if (n++ == 0)
			ADD_LIT(out, "work: ");
		else
			ADD_LIT(out, ", ");
		html_escape(out, u->name);
		ADD_LIT(out, " (");
		for (int k = 0; k < REP_NKINDS; k++)
			if (u->kinds & (1u << k))
				evbuffer_add_printf(out, "%s%s", nk++ ? ", " : "",
				    rep_kind_name((enum rep_kind)k));
		ADD_LIT(out, ")");
		/* the real client of their SSH logins relayed by poolgate */
		for (size_t j = 0; a->client_of != NULL && j < r->nsessions; j++) {
			const char *cl;

			if (strcmp(r->sessions[j].user, u->name) != 0 ||
			    (cl = a->client_of(a->px, b,
			    r->sessions[j].peer_port)) == NULL)
				continue;
			ADD_LIT(out, " from ");
			html_escape(out, cl);
			break;
		}
	}
	if ((size_t)r->users_with_work > n && n > 0)
		evbuffer_add_printf(out, " <span class=\"mut\">+%zu more</span>",
		    (size_t)r->users_with_work - n);
	ADD_LIT(out, "</span>");
	if (b->claims_lost > 0)
		evbuffer_add_printf(out, "<span class=\"sub bad claims\" title=\""
		    "their work on another VM is more recent: they are routed "
		    "there\">%d user%s also on another VM</span>", b->claims_lost,
		    b->claims_lost == 1 ? "" : "s");
}

/* The last hour of the VM's sessions, on the scale of its cap if it has one. */
static void
render_history(const struct adm_ctx *a, struct evbuffer *out,
    const struct backend *b, int cap, uint64_t now)
{
	char svg[HIST_SVG_MAX], title[64];
	int v[HIST_SLOTS], peak = 0;
	size_t n;

	if (!hist_series(a->history, b->name, now, v))
		return;
	for (size_t k = 0; k < HIST_SLOTS; k++)
		if (v[k] > peak)
			peak = v[k];
	snprintf(title, sizeof(title), "sessions, last hour: at most %d", peak);
	/* the tooltip on a span: the cell's text stays the load alone */
	if ((n = hist_svg(v, HIST_SLOTS, cap, title, svg, sizeof(svg))) > 0) {
		evbuffer_add_printf(out, "<span class=\"hist\" title=\"%s\">", title);
		evbuffer_add(out, svg, n);
		ADD_LIT(out, "</span>");
	}
}

static void
render_vm(const struct adm_ctx *a, struct evbuffer *out,
    const struct sp_view *v, const struct gather *g, size_t i, int busiest,
    uint64_t now)
{
	static const enum be_admin ops[] = { BE_ADMIN_DRAIN, BE_ADMIN_READY,
	    BE_ADMIN_MAINT };
	const struct backend *b = a->px->mbr->pool.be[i];
	const char *st = be_state_name(be_state(b, a->px->nsvc));
	int cap = be_max_sessions(b), w = be_weight(b), pct;
	const struct vm_users *vu = &g->vu[i];
	size_t nu = vu->n, sess;
	const char *cls;

	/* b->sessions counts TCP sessions and Jupyter users alike */
	sess = b->sessions > 0 ? (size_t)b->sessions : 0;

	ADD_LIT(out, "<tr id=\"vm-");
	html_escape(out, b->name);
	evbuffer_add_printf(out, "\" class=\"s-%s\" data-state=\"%s\"><td><b>",
	    st, st);
	html_escape(out, b->name);
	ADD_LIT(out, "</b> <span class=\"mut addr\" title=\"from the ");
	html_escape(out, be_source_name(b->source));
	ADD_LIT(out, "\">");
	html_escape(out, b->addr.text != NULL ? b->addr.text : "");
	ADD_LIT(out, "</span></td>");

	/* state, and who asked for it */
	evbuffer_add_printf(out, "<td class=\"state\"><span class=\"st st-%s\">%s"
	    "</span>", st, st);
	if (b->removed)
		ADD_LIT(out, "<span class=\"sub\">removed</span>");
	if (b->admin != BE_ADMIN_READY)
		evbuffer_add_printf(out, "<span class=\"sub\">operator: %s</span>",
		    be_admin_name(b->admin));
	if (b->agent_admin != BE_ADMIN_READY)
		evbuffer_add_printf(out, "<span class=\"sub\">agent: %s</span>",
		    be_admin_name(b->agent_admin));
	if (b->agent_down)
		ADD_LIT(out, "<span class=\"sub\">agent: down</span>");
	if (b->evicting && b->report != NULL) {
		ADD_LIT(out, "<span class=\"sub bad evict\">evicting: ");
		html_escape(out, b->report->evict.type);
		if (b->report->evict.not_before[0] != '\0') {
			ADD_LIT(out, ", not before ");
			html_escape(out, b->report->evict.not_before);
		}
		ADD_LIT(out, "</span>");
	}
	if (b->identity_bad) {
		ADD_LIT(out, "<span class=\"sub bad ident\" title=\"");
		html_escape(out, b->identity_why);
		ADD_LIT(out, "\">host identity</span>");
	}
	ADD_LIT(out, "</td><td>");
	render_health(a, out, b, now);

	/* SSH (TCP) sessions: all sessions but the Jupyter users */
	evbuffer_add_printf(out, "</td><td class=\"n ssh\">%zu", sess > nu ?
	    sess - nu : 0);
	render_live(a, out, b);
	evbuffer_add_printf(out, "</td><td class=\"users wrap\" data-n=\"%zu\">",
	    nu);
	for (size_t k = 0; k < vu->nshown; k++) {
		if (k > 0)
			ADD_LIT(out, ", ");
		html_escape(out, vu->shown[k]);
	}
	if (nu > SP_USERS_SHOWN)
		evbuffer_add_printf(out, " <span class=\"mut\">+%zu more</span>",
		    nu - SP_USERS_SHOWN);

	/* load against max_sessions, or against the busiest VM without a cap */
	if (cap > 0) {
		pct = (int)(sess * 100 / (size_t)cap);
		cls = pct >= 100 ? "full" : pct >= 75 ? "hi" : "";
		evbuffer_add_printf(out, "</td><td class=\"load\" title=\"%zu of "
		    "max_sessions %d\"><span class=\"bar\"><i class=\"%s\" style=\""
		    "width:%d%%\"></i></span>%zu/%d", sess, cap, cls,
		    pct > 100 ? 100 : pct, sess, cap);
	} else {
		pct = busiest > 0 ? (int)(sess * 100 / (size_t)busiest) : 0;
		evbuffer_add_printf(out, "</td><td class=\"load\" title=\"no "
		    "max_sessions: the bar is relative to the busiest VM\">"
		    "<span class=\"bar\"><i class=\"rel\" style=\"width:%d%%\"></i>"
		    "</span>%zu", pct > 100 ? 100 : pct, sess);
	}

	render_history(a, out, b, cap, now);

	/* weight: configured, and the agent's effective share when it differs */
	evbuffer_add_printf(out, "</td><td class=\"n\">%d", b->weight);
	if (w != b->weight * 100)
		evbuffer_add_printf(out, "<span class=\"sub\">eff. %d.%02d</span>",
		    w / 100, w % 100);
	ADD_LIT(out, "</td><td class=\"wrap\">");
	if (b->agent_last_ms == 0)
		ADD_LIT(out, "<span class=\"mut\">&ndash;</span>");
	else {
		char ago[32];
		fmt_ago(ago, sizeof(ago), now > b->agent_last_ms ?
		    now - b->agent_last_ms : 0);
		evbuffer_add_printf(out, "<span class=\"%s\" title=\"%s ago\">",
		    b->agent_last_ok ? "" : "bad", ago);
		html_escape(out, b->agent_last);
		ADD_LIT(out, "</span>");
	}
	render_work(a, out, b);
	evbuffer_add_printf(out, "</td><td class=\"n aff\">%zu</td>", g->aff[i]);

	if (v->csrf != NULL) {
		/* one form per VM; the pressed button names the operation */
		ADD_LIT(out, "<td><form class=\"act\" method=\"post\" "
		    "action=\"/action\"><input type=\"hidden\" name=\"vm\" value=\"");
		html_escape(out, b->name);
		ADD_LIT(out, "\"><input type=\"hidden\" name=\"csrf\" value=\"");
		html_escape(out, v->csrf);
		ADD_LIT(out, "\">");
		for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++)
			evbuffer_add_printf(out, "<button name=\"op\" value=\"%s\"%s>%s"
			    "</button>", be_admin_name(ops[k]),
			    b->admin == ops[k] ? " disabled" : "", be_admin_name(ops[k]));
		ADD_LIT(out, "</form></td>");
	}
	ADD_LIT(out, "</tr>\n");
}

/* One line of "recent events": ours, or a hook run. */
struct ev_line {
	uint64_t                wall_ms;
	const char             *text;
	const struct hr_result *hr;
};

static int
ev_cmp(const void *a, const void *b)
{
	const struct ev_line *x = a, *y = b;

	if (x->wall_ms != y->wall_ms)
		return x->wall_ms > y->wall_ms ? -1 : 1;   /* newest first */
	return 0;
}

static void
render_hook(struct evbuffer *out, const struct hr_result *r)
{
	ADD_LIT(out, "hook ");
	html_escape(out, r->event);
	if (r->backend[0] != '\0') {
		ADD_LIT(out, " ");
		html_escape(out, r->backend);
	}
	evbuffer_add_printf(out, ": <span class=\"%s\">", r->outcome == HR_OK ?
	    "ok" : "bad");
	switch (r->outcome) {
	case HR_OK:
		evbuffer_add_printf(out, "exit 0");
		break;
	case HR_FAILED:
		if (r->status < 0)
			evbuffer_add_printf(out, "killed by signal %d", -r->status);
		else
			evbuffer_add_printf(out, "exit %d", r->status);
		break;
	case HR_TIMEOUT:
		evbuffer_add_printf(out, "timed out, killed");
		break;
	case HR_SPAWN_ERROR:
		evbuffer_add_printf(out, "could not start");
		break;
	}
	evbuffer_add_printf(out, "</span> after %llu&nbsp;ms",
	    (unsigned long long)r->duration_ms);
	if (r->output_dropped > 0)
		evbuffer_add_printf(out, " (%llu bytes of output dropped)",
		    (unsigned long long)r->output_dropped);
}

static int
render_events(const struct adm_ctx *a, struct evbuffer *out, uint64_t wall)
{
	const struct statuspage *sp = a->statuspage;
	struct hr_result hr[HR_RECENT];
	struct ev_line lines[EVR_MAX + HR_RECENT];
	const struct evr_entry *e;
	size_t n = 0, nhr = 0;

	for (size_t k = 0; sp != NULL && (e = evr_at(&sp->ev, k)) != NULL; k++)
		lines[n++] = (struct ev_line){ e->wall_ms, e->text, NULL };
	if (a->hr != NULL)
		nhr = hr_recent(a->hr, hr, HR_RECENT);
	for (size_t k = 0; k < nhr; k++)
		lines[n++] = (struct ev_line){ (uint64_t)hr[k].started * 1000 +
		    hr[k].duration_ms, NULL, &hr[k] };
	qsort(lines, n, sizeof(lines[0]), ev_cmp);

	evbuffer_add_printf(out, "<h2>Recent events <span class=\"mut\">(%zu, "
	    "newest first, times UTC)</span></h2>\n<table class=\"ev\" "
	    "id=\"events\"><thead><tr><th>time</th><th>event</th></tr></thead>"
	    "<tbody>\n", n);
	if (n == 0)
		ADD_LIT(out, "<tr><td></td><td class=\"mut\">nothing yet</td>"
		    "</tr>\n");
	for (size_t k = 0; k < n; k++) {
		char when[32], iso[32];

		fmt_clock(when, sizeof(when), lines[k].wall_ms, wall);
		pg_format_time(lines[k].wall_ms, iso, sizeof(iso));
		evbuffer_add_printf(out, "<tr><td class=\"n\" title=\"%s\">%s</td>"
		    "<td%s>", iso, when, lines[k].hr != NULL ? " class=\"hook\"" : "");
		if (lines[k].hr != NULL)
			render_hook(out, lines[k].hr);
		else
			html_escape(out, lines[k].text);
		ADD_LIT(out, "</td></tr>\n");
	}
	return ADD_LIT(out, "</tbody></table>\n");
}

int
sp_render(const struct adm_ctx *a, struct evbuffer *out,
    const struct sp_view *v, uint64_t now, uint64_t wall)
{
	const struct pool *pool = &a->px->mbr->pool;
	struct gather g;
	int busiest = 0, rc = -1;
	char when[32];

	if (gather(a, &g, now) != 0)
		goto out;
	for (size_t i = 0; i < pool->n; i++)
		if (pool->be[i]->sessions > busiest)
			busiest = pool->be[i]->sessions;

	evbuffer_add_printf(out, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\"><meta name=\"viewport\" content=\""
	    "width=device-width,initial-scale=1\"><title>poolgate &middot; %zu "
	    "VMs</title>\n<style>%s</style></head><body>\n<header><h1>poolgate"
	    "</h1><span class=\"mut\">%s</span>", pool->n, page_css,
	    POOLGATE_VERSION);
	fmt_clock(when, sizeof(when), wall, wall);
	evbuffer_add_printf(out, "<span class=\"mut\" id=\"generated\">as of %s "
	    "UTC</span><label id=\"autol\" hidden><input type=\"checkbox\" "
	    "id=\"auto\" checked> refresh every %d&nbsp;s</label>", when,
	    SP_REFRESH_S);
	if (v->csrf != NULL) {
		ADD_LIT(out, "<form class=\"r\" method=\"post\" action=\"/logout\""
		    " id=\"logout\"><input type=\"hidden\" name=\"csrf\" value=\"");
		html_escape(out, v->csrf);
		evbuffer_add_printf(out, "\"><span class=\"ok\">signed in</span>"
		    "<button>sign out</button></form>");
	} else if (a->token_set)
		evbuffer_add_printf(out, "<form class=\"r\" method=\"post\" "
		    "action=\"/login\" id=\"login\"><input type=\"password\" "
		    "name=\"token\" placeholder=\"admin token\" aria-label=\"admin "
		    "token\" autocomplete=\"current-password\" required size=\"20\">"
		    "<button>sign in</button></form>");
	else
		evbuffer_add_printf(out, "<span class=\"r mut\">read-only: "
		    "admin.token_file is not set</span>");
	ADD_LIT(out, "</header>\n");
	if (v->notice != NULL) {
		evbuffer_add_printf(out, "<p class=\"note%s\" id=\"notice\">",
		    v->notice_err ? " bad" : "");
		html_escape(out, v->notice);
		ADD_LIT(out, "</p>\n");
	}
	render_totals(a, out, &g, now);

	evbuffer_add_printf(out, "<table id=\"vms\"><thead><tr><th>VM</th>"
	    "<th>state</th><th>health (last check, latency)</th>"
	    "<th class=\"n\" title=\"TCP (SSH) sessions\">ssh</th>"
	    "<th>Jupyter users</th><th>load</th><th class=\"n\">weight</th>"
	    "<th>agent</th><th class=\"n\" title=\"affinity entries\">aff.</th>"
	    "%s</tr></thead><tbody>\n", v->csrf != NULL ? "<th>operator</th>" : "");
	for (size_t i = 0; i < pool->n; i++)
		render_vm(a, out, v, &g, i, busiest, now);
	if (pool->n == 0)
		evbuffer_add_printf(out, "<tr><td colspan=\"9\" class=\"mut\">no VM "
		    "in the pool</td></tr>\n");
	ADD_LIT(out, "</tbody></table>\n");
	kh_render_html(a->px->cfg, out);
	render_events(a, out, wall);
	evbuffer_add_printf(out, "<script nonce=\"%s\">", v->nonce);
	evbuffer_add_printf(out, page_js, SP_REFRESH_S * 1000);
	if (ADD_LIT(out, "</script>\n</body></html>\n") == 0)
		rc = 0;
out:
	gather_free(&g);
	return rc;
}

/* ---- Requests ------------------------------------------------------------- */

struct sp_req {
	struct adm_ctx        *a;
	struct statuspage     *sp;
	struct evhttp_request *req;
	char                   peer[SI_PEER_MAX];
	uint64_t               now;
};

static const char *
reason(int code)
{
	switch (code) {
	case 200: return "OK";
	case 303: return "See Other";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	default:  return "Internal Server Error";
	}
}

/*
 * Headers of every reply: no caching (the page holds a CSRF token), no
 * framing (clickjacking of the buttons), only the page's own script.
 */
static void
sec_headers(struct evhttp_request *req, const char *nonce)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	char csp[256];

	snprintf(csp, sizeof(csp), "default-src 'none'; style-src "
	    "'unsafe-inline'; script-src %s%s%s; form-action 'self'; "
	    "frame-ancestors 'none'; base-uri 'none'", nonce ? "'nonce-" : "'none'",
	    nonce ? nonce : "", nonce ? "'" : "");
	evhttp_add_header(h, "Content-Security-Policy", csp);
	evhttp_add_header(h, "X-Frame-Options", "DENY");
	evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
	evhttp_add_header(h, "Referrer-Policy", "same-origin");
	evhttp_add_header(h, "Cache-Control", "no-store");
}

static void
send_page(struct sp_req *r, int code, struct evbuffer *body, const char *nonce)
{
	sec_headers(r->req, nonce);
	evhttp_add_header(evhttp_request_get_output_headers(r->req),
	    "Content-Type", "text/html; charset=utf-8");
	evhttp_send_reply(r->req, code, reason(code), body);
}

/* A small page with one message and a link back. */
static void
send_error(struct sp_req *r, int code, const char *msg)
{
	struct evbuffer *out = evbuffer_new();

	if (out == NULL) {
		evhttp_send_error(r->req, 500, "out of memory");
		return;
	}
	evbuffer_add_printf(out, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\"><title>%d %s</title></head><body>"
	    "<h1>%d %s</h1><p id=\"error\">", code, reason(code), code,
	    reason(code));
	html_escape(out, msg);
	evbuffer_add_printf(out, "</p><p><a href=\"/\">back to the status page"
	    "</a></p></body></html>\n");
	send_page(r, code, out, NULL);
	evbuffer_free(out);
}

static void
send_redirect(struct sp_req *r)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
	struct evbuffer *out = evbuffer_new();

	if (out == NULL) {
		evhttp_send_error(r->req, 500, "out of memory");
		return;
	}
	sec_headers(r->req, NULL);
	evhttp_add_header(h, "Location", "/");
	evhttp_add_header(h, "Content-Type", "text/html; charset=utf-8");
	ADD_LIT(out, "<a href=\"/\">the status page</a>\n");
	evhttp_send_reply(r->req, 303, reason(303), out);
	evbuffer_free(out);
}

/*
 * The session named by the request's cookie, from this client, or NULL.
 * Sessions past their time or of another token end first.
 */
static struct si_session *
session_of(struct sp_req *r)
{
	const struct evkeyvalq *hs = evhttp_request_get_input_headers(r->req);
	const struct evkeyval *kv;
	struct si_session *found = NULL;
	char hex[SI_HEX_LEN + 1];
	bool have = false;

	si_sweep(&r->sp->si, r->a->token_set ? r->a->token : NULL, r->now);
	TAILQ_FOREACH(kv, hs, next)
		if (strcasecmp(kv->key, "Cookie") == 0 &&
		    (have = si_cookie_value(kv->value, SI_COOKIE, hex, sizeof(hex))))
			break;
	if (have)
		found = si_find(&r->sp->si, hex, r->peer);
	explicit_bzero(hex, sizeof(hex));
	return found;
}

static void
set_cookie(struct sp_req *r, const struct si_session *s)
{
	char hex[SI_HEX_LEN + 1], line[SI_HEX_LEN + 128];

	if (s != NULL) {
		si_hex_encode(s->id, sizeof(s->id), hex);
		snprintf(line, sizeof(line), SI_COOKIE "=%s; Path=/; Max-Age=%d; "
		    "HttpOnly; SameSite=Strict", hex, SI_SESSION_TTL_S);
	} else
		snprintf(line, sizeof(line), SI_COOKIE "=; Path=/; Max-Age=0; "
		    "HttpOnly; SameSite=Strict");
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "Set-Cookie",
	    line);
	explicit_bzero(hex, sizeof(hex));
	explicit_bzero(line, sizeof(line));
}

static void
page(struct sp_req *r, int code, const char *notice, bool notice_err)
{
	struct si_session *s = session_of(r);
	struct evbuffer *out = evbuffer_new();
	char csrf[SI_HEX_LEN + 1], nonce[33], flash[SI_FLASH_MAX];
	uint8_t rnd[16];
	struct sp_view v = { NULL, notice, notice_err, nonce };

	if (out == NULL || RAND_bytes(rnd, sizeof(rnd)) != 1) {
		send_error(r, 500, "out of memory or no randomness");
		goto out;
	}
	si_hex_encode(rnd, sizeof(rnd), nonce);
	if (s != NULL) {
		si_hex_encode(s->csrf, sizeof(s->csrf), csrf);
		v.csrf = csrf;
		/* the outcome of the last action is shown once (not for HEAD) */
		if (v.notice == NULL && s->flash[0] != '\0') {
			snprintf(flash, sizeof(flash), "%s", s->flash);
			v.notice = flash;
			v.notice_err = s->flash_err;
			if (evhttp_request_get_command(r->req) == EVHTTP_REQ_GET)
				s->flash[0] = '\0';
		}
	}
	if (sp_render(r->a, out, &v, r->now, pg_wall_ms()) != 0) {
		send_error(r, 500, "out of memory");
		goto out;
	}
	send_page(r, code, out, nonce);
out:
	if (out != NULL)
		evbuffer_free(out);
	explicit_bzero(csrf, sizeof(csrf));
}

/* 429 with Retry-After: the whole seconds of wait_ms, rounded up. */
static void
send_locked_out(struct sp_req *r, uint64_t wait_ms)
{
	char secs[24];

	snprintf(secs, sizeof(secs), "%llu",
	    (unsigned long long)((wait_ms + 999) / 1000));
	evhttp_add_header(evhttp_request_get_output_headers(r->req),
	    "Retry-After", secs);
	send_error(r, 429, "Too many failed sign-ins from this address; wait "
	    "a minute.");
}

static void
do_login(struct sp_req *r, const char *body, size_t len)
{
	struct signin *si = &r->sp->si;
	struct si_fails *fails = si_fails_of(&r->a->fails);
	struct si_session *s;
	char got[SI_TOKEN_MAX];
	uint64_t wait;
	bool right;
	enum hu_form rc;

	memset(got, 0, sizeof(got));
	if (!r->a->token_set) {
		log_warn("status page: sign-in from %s refused: admin.token_file is "
		    "not set", r->peer);
		send_error(r, 403, "Signing in is off: admin.token_file is not set.");
		goto out;
	}
	if (fails == NULL) {
		send_error(r, 500, "out of memory");
		goto out;
	}
	/* refused unlogged: the line that locked the address said it all */
	if ((wait = si_fails_wait(fails, r->peer, r->now)) > 0) {
		send_locked_out(r, wait);
		goto out;
	}
	rc = hu_form_value(body, len, "token", got, sizeof(got), HU_FORM_STRICT);
	if (rc == HU_FORM_MISSING) {
		send_error(r, 400, "The form has no token field.");
		goto out;
	}
	/* compared whatever rc says: the time tells nothing about the token */
	right = si_token_equal(r->a->token, got, strlen(got));
	if (!right || rc != HU_FORM_OK) {
		log_warn("status page: sign-in from %s refused: wrong token",
		    r->peer);
		if (si_fails_add(fails, r->peer, r->now))
			log_warn("admin: %s locked out for %d s: %d wrong tokens "
			    "(sign-in or API) within a minute; it gets 429 until then",
			    r->peer, SI_FAIL_WINDOW_MS / 1000, SI_FAILS_MAX);
		page(r, 403, "Wrong token.", true);
		goto out;
	}
	/* a browser signing in again replaces its old session */
	if ((s = session_of(r)) != NULL)
		si_end(s);
	if ((s = si_new(si, r->a->token, r->peer, r->now)) == NULL) {
		send_error(r, 500, "no randomness for a session id");
		goto out;
	}
	log_info("status page: signed in from %s", r->peer);
	set_cookie(r, s);
	send_redirect(r);
out:
	explicit_bzero(got, sizeof(got));
}

/* The session's CSRF token is the form's "csrf"; else a 403 is sent. */
static bool
csrf_ok(struct sp_req *r, const struct si_session *s, const char *body,
    size_t len, const char *what)
{
	char csrf[SI_HEX_LEN + 2];

	if (hu_form_value(body, len, "csrf", csrf, sizeof(csrf),
	    HU_FORM_STRICT) == HU_FORM_OK &&
	    si_hex_matches(s->csrf, sizeof(s->csrf), csrf))
		return true;
	log_warn("status page: %s from %s refused: wrong CSRF token", what,
	    r->peer);
	send_error(r, 403, "The form's CSRF token is missing or stale: reload "
	    "the page.");
	return false;
}

static void
do_logout(struct sp_req *r, const char *body, size_t len)
{
	struct si_session *s = session_of(r);

	if (s != NULL) {
		if (!csrf_ok(r, s, body, len, "sign-out"))
			return;
		si_end(s);
		log_info("status page: signed out from %s", r->peer);
	}
	set_cookie(r, NULL);
	send_redirect(r);
}

static void
do_action(struct sp_req *r, const char *body, size_t len)
{
	struct si_session *s = session_of(r);
	char vm[CFG_NAME_MAX + 2], op[16], err[256];
	struct members *m = r->a->px->mbr;
	enum be_admin admin;

	if (s == NULL) {
		log_warn("status page: action from %s refused: not signed in",
		    r->peer);
		send_error(r, 403, "Not signed in (or the session ended): sign in "
		    "on the status page first.");
		return;
	}
	if (!csrf_ok(r, s, body, len, "action"))
		return;
	if (hu_form_value(body, len, "vm", vm, sizeof(vm), HU_FORM_STRICT) !=
	    HU_FORM_OK ||
	    !pg_name_valid(vm, CFG_NAME_MAX)) {
		snprintf(err, sizeof(err), "vm: \"%s\" is not a valid VM name "
		    "(expected 1 to %d of " PG_NAME_RULE ").", vm, CFG_NAME_MAX);
		send_error(r, 400, err);
		return;
	}
	if (hu_form_value(body, len, "op", op, sizeof(op), HU_FORM_STRICT) !=
	    HU_FORM_OK ||
	    !be_admin_parse(op, &admin)) {
		send_error(r, 400, "op: expected drain, ready or maint");
		return;
	}
	if (pool_find(&m->pool, vm) == NULL) {
		snprintf(err, sizeof(err), "No VM named %s.", vm);
		send_error(r, 404, err);
		return;
	}
	err[0] = '\0';
	if (mbr_set_admin(m, vm, admin, err, sizeof(err)) != 0) {
		log_warn("status page: %s %s by %s: refused: %s", op, vm, r->peer,
		    err);
		send_error(r, 409, err[0] != '\0' ? err : "refused");
		return;
	}
	log_info("status page: %s %s by %s: ok", op, vm, r->peer);
	statuspage_event(r->a, "%s: operator set %s (status page, %s)", vm, op,
	    r->peer);
	snprintf(s->flash, sizeof(s->flash), "%s: %s", vm, op);
	s->flash_err = false;
	send_redirect(r);
}

/* "application/x-www-form-urlencoded", any case, parameters allowed. */
static bool
is_form_type(const char *ct)
{
	static const char want[] = "application/x-www-form-urlencoded";
	size_t n;

	if (ct == NULL)
		return false;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	n = strcspn(ct, "; \t");
	return n == sizeof(want) - 1 && strncasecmp(ct, want, n) == 0;
}

/* Zero the request body in place: the sign-in form holds the token. */
static void
wipe_input(struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct evbuffer_iovec v[8];
	int n = evbuffer_peek(in, -1, NULL, v, 8);

	for (int i = 0; i < n && i < 8; i++)
		explicit_bzero(v[i].iov_base, v[i].iov_len);
}

static void
post(struct sp_req *r, const char *path)
{
	struct evkeyvalq *h = evhttp_request_get_input_headers(r->req);
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	char body[SP_FORM_MAX + 1];
	size_t len = evbuffer_get_length(in);

	if (!si_same_origin(evhttp_find_header(h, "Host"),
	    evhttp_find_header(h, "Origin"), evhttp_find_header(h, "Referer"))) {
		log_warn("status page: POST %s from %s refused: Origin/Referer is not "
		    "this host", path, r->peer);
		send_error(r, 403, "Cross-origin form posts are refused.");
		return;
	}
	if (!is_form_type(evhttp_find_header(h, "Content-Type"))) {
		send_error(r, 415, "Content-Type must be "
		    "application/x-www-form-urlencoded.");
		return;
	}
	if (len > SP_FORM_MAX) {
		send_error(r, 413, "The form is too large.");
		return;
	}
	evbuffer_copyout(in, body, len);
	body[len] = '\0';
	wipe_input(r->req);
	if (strcmp(path, "/login") == 0)
		do_login(r, body, len);
	else if (strcmp(path, "/logout") == 0)
		do_logout(r, body, len);
	else
		do_action(r, body, len);
	explicit_bzero(body, len);
}

void
statuspage_handle(struct adm_ctx *a, struct evhttp_request *req,
    const char *path)
{
	struct sp_req r = { a, sp_get(a), req, "", pg_now_ms() };
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	bool is_post = strcmp(path, "/login") == 0 ||
	    strcmp(path, "/logout") == 0 || strcmp(path, "/action") == 0;

	if (conn != NULL) {
		char *addr = NULL;
		ev_uint16_t port = 0;
		evhttp_connection_get_peer(conn, &addr, &port);
		snprintf(r.peer, sizeof(r.peer), "%s", addr != NULL ? addr : "?");
	}
	if (r.sp == NULL) {
		send_error(&r, 500, "out of memory");
		return;
	}
	if (strcmp(path, "/") == 0) {
		if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
			evhttp_add_header(evhttp_request_get_output_headers(req),
			    "Allow", "GET, HEAD");
			send_error(&r, 405, "Use GET.");
		} else
			page(&r, 200, NULL, false);
	} else if (is_post) {
		if (cmd != EVHTTP_REQ_POST) {
			evhttp_add_header(evhttp_request_get_output_headers(req),
			    "Allow", "POST");
			send_error(&r, 405, "Use the form on the status page.");
		} else
			post(&r, path);
	} else
		send_error(&r, 404, "No such page.");
}
