/*
 * statuspage.c -- see statuspage.h. The page is rendered straight from the
 * live structures into the reply; the only state kept here is the sign-in
 * sessions and the ring of recent events.
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
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "backends/affinity.h"
#include "backends/usersess.h"
#include "proxy/hookrun.h"
#include "proxy/json.h"
#include "proxy/log.h"
#include "proxy/statuspage.h"

#define SP_HEX_LEN        (2 * SP_ID_BYTES)
#define SP_FLASH_MAX      200
#define SP_FAIL_WINDOW_MS 60000

/* Append a string literal, without its NUL. */
#define ADD_LIT(out, lit) evbuffer_add((out), (lit), sizeof(lit) - 1)

/* One signed-in browser. Unused slots are all zero. */
struct sp_session {
	bool     used;
	uint8_t  id[SP_ID_BYTES];       /* the cookie's value, decoded */
	uint8_t  csrf[SP_ID_BYTES];     /* put in every form of its pages */
	uint8_t  tokhash[32];           /* SHA-256 of the token it signed in with */
	char     peer[64];              /* client address it signed in from */
	uint64_t created_ms;            /* monotonic */
	uint64_t expires_ms;
	char     flash[SP_FLASH_MAX];   /* outcome of its last action, shown once */
	bool     flash_err;
};

struct sp_event {
	uint64_t wall_ms;
	char     text[SP_EVENT_TEXT];
};

struct statuspage {
	struct sp_session sess[SP_SESSIONS_MAX];
	struct sp_event   ev[SP_EVENTS_MAX];
	size_t            ev_next;      /* slot of the next event */
	size_t            ev_n;         /* events held, <= SP_EVENTS_MAX */
	uint64_t          fail_start_ms;/* failed sign-ins: window start, count */
	unsigned          fails;
};

/* ---- Small pure helpers --------------------------------------------------- */

void
sp_html(struct evbuffer *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), k, run;

	while (n > 0) {
		/* copy plain ASCII in runs: most text has nothing to escape */
		for (run = 0; run < n && p[run] >= 0x20 && p[run] < 0x7f &&
		    strchr("&<>\"'", p[run]) == NULL; run++)
			;
		if (run > 0) {
			evbuffer_add(out, p, run);
			p += run;
			n -= run;
			continue;
		}
		k = 1;
		switch (*p) {
		case '&':  ADD_LIT(out, "&amp;"); break;
		case '<':  ADD_LIT(out, "&lt;"); break;
		case '>':  ADD_LIT(out, "&gt;"); break;
		case '"':  ADD_LIT(out, "&quot;"); break;
		case '\'': ADD_LIT(out, "&#39;"); break;
		case '\t':
		case '\n':
		case '\r': ADD_LIT(out, " "); break;
		default:
			if (*p < 0x20 || *p == 0x7f ||
			    (k = json_utf8_seq(p, n)) == 0) {
				ADD_LIT(out, "\xef\xbf\xbd");
				k = 1;
			} else
				evbuffer_add(out, p, k);
		}
		p += k;
		n -= k;
	}
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void
hex_encode(const uint8_t *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Exactly 2 * n hex digits into out[0..n). */
static bool
hex_decode(const char *hex, uint8_t *out, size_t n)
{
	if (strlen(hex) != 2 * n)
		return false;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

bool
sp_hex_matches(const uint8_t *want, size_t n, const char *hex)
{
	uint8_t got[64];
	bool ok;

	if (hex == NULL || n == 0 || n > sizeof(got) || !hex_decode(hex, got, n))
		return false;
	ok = CRYPTO_memcmp(want, got, n) == 0;
	explicit_bzero(got, sizeof(got));
	return ok;
}

/* %-decode s[0..n) into out; -1 on a bad escape, a NUL or no room. */
static int
form_decode(const char *s, size_t n, char *out, size_t outlen)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		int c = (unsigned char)s[i];
		if (c == '+')
			c = ' ';
		else if (c == '%') {
			int hi, lo;
			if (i + 2 >= n)
				return -1;
			if ((hi = hexval(s[i + 1])) < 0 || (lo = hexval(s[i + 2])) < 0)
				return -1;
			c = hi << 4 | lo;
			i += 2;
		}
		if (c == '\0' || o + 1 >= outlen)
			return -1;
		out[o++] = (char)c;
	}
	if (outlen == 0)
		return -1;
	out[o] = '\0';
	return (int)o;
}

int
sp_form_value(const char *body, size_t len, const char *key, char *out,
    size_t outlen)
{
	const char *p = body, *end = body + len, *amp, *eq;
	char name[64];
	int rc = SP_FORM_MISSING;

	if (outlen > 0)
		out[0] = '\0';
	while (p < end) {
		amp = memchr(p, '&', (size_t)(end - p));
		if (amp == NULL)
			amp = end;
		eq = memchr(p, '=', (size_t)(amp - p));
		if (eq == NULL)
			eq = amp;
		if (eq > p) {
			/* a name too long for the buffer is not ours: skip it */
			if ((size_t)(eq - p) < sizeof(name)) {
				if (form_decode(p, (size_t)(eq - p), name,
				    sizeof(name)) < 0)
					goto bad;
				if (strcmp(name, key) == 0) {
					if (rc == 0)
						goto bad;   /* twice */
					if (form_decode(eq < amp ? eq + 1 : amp,
					    eq < amp ? (size_t)(amp - eq - 1) : 0,
					    out, outlen) < 0)
						goto bad;
					rc = 0;
				}
			}
		}
		p = amp + 1;
	}
	return rc;
bad:
	if (outlen > 0)
		explicit_bzero(out, outlen);
	return SP_FORM_BAD;
}

bool
sp_cookie_value(const char *header, const char *name, char *out,
    size_t outlen)
{
	size_t nlen = strlen(name);
	const char *p = header, *end;

	while (p != NULL && *p != '\0') {
		while (*p == ' ' || *p == '\t' || *p == ';')
			p++;
		end = strchr(p, ';');
		if (end == NULL)
			end = p + strlen(p);
		if ((size_t)(end - p) > nlen && strncmp(p, name, nlen) == 0 &&
		    p[nlen] == '=') {
			const char *v = p + nlen + 1;
			size_t vl = (size_t)(end - v);
			while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
				vl--;
			if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
				v++;
				vl -= 2;
			}
			if (vl + 1 > outlen)
				return false;
			memcpy(out, v, vl);
			out[vl] = '\0';
			return true;
		}
		p = *end != '\0' ? end + 1 : NULL;
	}
	return false;
}

/* The host[:port] of an http(s) URL equals host. */
static bool
url_names_host(const char *url, const char *host)
{
	const char *a;
	size_t n;

	if (strncasecmp(url, "http://", 7) == 0)
		a = url + 7;
	else if (strncasecmp(url, "https://", 8) == 0)
		a = url + 8;
	else
		return false;
	n = strcspn(a, "/?#");
	if (memchr(a, '@', n) != NULL)
		return false;
	return n == strlen(host) && n > 0 && strncasecmp(a, host, n) == 0;
}

bool
sp_same_origin(const char *host, const char *origin, const char *referer)
{
	if (host == NULL || host[0] == '\0')
		return true;
	if (origin != NULL)
		return url_names_host(origin, host);
	if (referer != NULL)
		return url_names_host(referer, host);
	return true;
}

/* ---- Events ---------------------------------------------------------------- */

static struct statuspage *
sp_get(struct pg_server *srv)
{
	if (srv->statuspage == NULL)
		srv->statuspage = calloc(1, sizeof(*srv->statuspage));
	return srv->statuspage;
}

void
statuspage_event(struct pg_server *srv, const char *fmt, ...)
{
	struct statuspage *sp = sp_get(srv);
	struct sp_event *e;
	va_list ap;

	if (sp == NULL)
		return;
	e = &sp->ev[sp->ev_next];
	e->wall_ms = pg_wall_ms();
	va_start(ap, fmt);
	vsnprintf(e->text, sizeof(e->text), fmt, ap);
	va_end(ap);
	for (char *c = e->text; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	sp->ev_next = (sp->ev_next + 1) % SP_EVENTS_MAX;
	if (sp->ev_n < SP_EVENTS_MAX)
		sp->ev_n++;
}

void
statuspage_free(struct pg_server *srv)
{
	if (srv->statuspage == NULL)
		return;
	explicit_bzero(srv->statuspage->sess, sizeof(srv->statuspage->sess));
	free(srv->statuspage);
	srv->statuspage = NULL;
}

static uint64_t
back(uint64_t t, uint64_t ms)
{
	return t > ms ? t - ms : 0;
}

void
sp_advance(struct pg_server *srv, uint64_t ms)
{
	struct statuspage *sp = srv->statuspage;

	if (sp == NULL)
		return;
	for (size_t i = 0; i < SP_SESSIONS_MAX; i++) {
		sp->sess[i].created_ms = back(sp->sess[i].created_ms, ms);
		sp->sess[i].expires_ms = back(sp->sess[i].expires_ms, ms);
	}
	sp->fail_start_ms = back(sp->fail_start_ms, ms);
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

static const char *
admin_name(enum be_admin a)
{
	switch (a) {
	case BE_ADMIN_READY: return "ready";
	case BE_ADMIN_DRAIN: return "drain";
	case BE_ADMIN_MAINT: return "maint";
	}
	return "?";
}

/* Per-render lookups built once, so 200 VMs cost one pass over each table. */
struct name_idx {
	const char *name;
	size_t      idx;
};

struct user_ent {
	size_t vm;
	char   user[US_USER_MAX + 1];
};

struct gather {
	struct name_idx *names;
	size_t           n;
	size_t          *aff;       /* affinity entries per VM */
	struct user_ent *users;
	size_t           nusers, capusers;
};

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(((const struct name_idx *)a)->name,
	    ((const struct name_idx *)b)->name);
}

static bool
vm_index(const struct gather *g, const char *name, size_t *idx)
{
	struct name_idx key = { name, 0 }, *f;

	f = bsearch(&key, g->names, g->n, sizeof(key), name_cmp);
	if (f == NULL)
		return false;
	*idx = f->idx;
	return true;
}

static void
gather_aff(const struct aff_entry *e, void *arg)
{
	struct gather *g = arg;
	size_t i;

	if (vm_index(g, e->backend, &i))
		g->aff[i]++;
}

static void
gather_user(const struct us_session *s, void *arg)
{
	struct gather *g = arg;
	struct user_ent *u;
	size_t i;

	if (g->nusers >= g->capusers || !vm_index(g, s->backend, &i))
		return;
	u = &g->users[g->nusers++];
	u->vm = i;
	snprintf(u->user, sizeof(u->user), "%s", s->user);
}

static int
user_cmp(const void *a, const void *b)
{
	const struct user_ent *x = a, *y = b;

	if (x->vm != y->vm)
		return x->vm < y->vm ? -1 : 1;
	return strcmp(x->user, y->user);
}

static void
gather_free(struct gather *g)
{
	free(g->names);
	free(g->aff);
	free(g->users);
}

static int
gather(struct pg_server *srv, struct gather *g, uint64_t now)
{
	size_t n = srv->pool.n;

	memset(g, 0, sizeof(*g));
	g->n = n;
	g->names = calloc(n + 1, sizeof(*g->names));
	g->aff = calloc(n + 1, sizeof(*g->aff));
	g->capusers = srv->us != NULL ? us_count(srv->us) : 0;
	g->users = calloc(g->capusers + 1, sizeof(*g->users));
	if (g->names == NULL || g->aff == NULL || g->users == NULL)
		return -1;
	for (size_t i = 0; i < n; i++) {
		g->names[i].name = srv->pool.be[i]->name;
		g->names[i].idx = i;
	}
	qsort(g->names, n, sizeof(*g->names), name_cmp);
	if (srv->aff != NULL)
		aff_foreach(srv->aff, now, gather_aff, g);
	if (srv->us != NULL)
		us_foreach(srv->us, now, gather_user, g);
	qsort(g->users, g->nusers, sizeof(*g->users), user_cmp);
	return 0;
}

static void
render_totals(struct pg_server *srv, struct evbuffer *out,
    const struct gather *g, uint64_t now)
{
	size_t st[4] = { 0, 0, 0, 0 };
	long long sessions = 0, cap = 0;
	bool capped = srv->pool.n > 0;
	char span[32];

	for (size_t i = 0; i < srv->pool.n; i++) {
		const struct backend *b = srv->pool.be[i];
		enum be_state s = be_state(b, srv->nsvc);
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
	    srv->pool.n, st[BE_UP], st[BE_DOWN], st[BE_DRAIN], st[BE_MAINT]);
	evbuffer_add_printf(out, "<div><span class=\"mut\">sessions</span>"
	    "<b id=\"t-sessions\">%lld", sessions);
	if (capped)
		evbuffer_add_printf(out, " / %lld", cap);
	evbuffer_add_printf(out, "</b>%s</div>", capped ? "of max_sessions" :
	    "some VMs have no max_sessions");
	evbuffer_add_printf(out, "<div><span class=\"mut\">Jupyter users</span>"
	    "<b id=\"t-users\">%zu</b>&nbsp;</div>", g->nusers);
	evbuffer_add_printf(out, "<div><span class=\"mut\">affinity entries</span>"
	    "<b>%zu</b>&nbsp;</div>", srv->aff != NULL ? aff_count(srv->aff) : 0);
	for (size_t s = 0; s < srv->nsvc; s++) {
		const struct service *sv = srv->svc[s];
		size_t up = 0;

		for (size_t i = 0; i < srv->pool.n; i++)
			up += be_takes_new(srv->pool.be[i], s);
		ADD_LIT(out, "<div><span class=\"mut\">service ");
		sp_html(out, sv->cfg.name);
		evbuffer_add_printf(out, " (%s)</span><b>%llu open</b>%zu VMs take "
		    "new &middot; %llu total</div>", cfg_mode_name(sv->cfg.mode),
		    (unsigned long long)sv->active, up,
		    (unsigned long long)sv->connections_total);
	}
	fmt_span(span, sizeof(span), (now - srv->started_ms) / 1000);
	evbuffer_add_printf(out, "<div><span class=\"mut\">up for</span><b>%s</b>"
	    "%llu reloads", span, (unsigned long long)srv->reloads);
	if (srv->reload_failures > 0)
		evbuffer_add_printf(out, ", <span class=\"bad\">%llu failed</span>",
		    (unsigned long long)srv->reload_failures);
	ADD_LIT(out, "</div>");
	evbuffer_add_printf(out, "<div><span class=\"mut\">state dir</span><b "
	    "class=\"%s\">%s</b>", srv->state_failing ? "bad" : "ok",
	    srv->state_failing ? "not writable" : "saved");
	if (srv->cfg != NULL && srv->cfg->state_dir != NULL)
		sp_html(out, srv->cfg->state_dir);
	ADD_LIT(out, "</div>");
	if (srv->hr != NULL)
		evbuffer_add_printf(out, "<div><span class=\"mut\">hooks</span><b>"
		    "%zu running</b>%zu waiting</div>", hr_running(srv->hr),
		    hr_waiting(srv->hr));
	ADD_LIT(out, "</section>\n");
}

static void
render_health(struct pg_server *srv, struct evbuffer *out,
    const struct backend *b, uint64_t now)
{
	for (size_t s = 0; s < srv->nsvc && s < CFG_MAX_SERVICES; s++) {
		const struct be_health *h = &b->health[s];
		char ago[32];

		if (h->last_check_ms == 0) {
			ADD_LIT(out, "<span class=\"hc mut\" title=\"not checked "
			    "yet\">");
			sp_html(out, srv->svc[s]->cfg.name);
			ADD_LIT(out, " &ndash;</span>");
			continue;
		}
		fmt_ago(ago, sizeof(ago), now > h->last_check_ms ?
		    now - h->last_check_ms : 0);
		evbuffer_add_printf(out, "<span class=\"hc %s\" title=\"%s; last check "
		    "%s ago; %llu checks, %llu failed\">", h->hc.up ? "ok" : "bad",
		    h->hc.up ? "healthy" : "unhealthy", ago,
		    (unsigned long long)h->checks, (unsigned long long)h->failures);
		sp_html(out, srv->svc[s]->cfg.name);
		evbuffer_add_printf(out, " %s %llu&nbsp;ms",
		    h->last_error[0] == '\0' ? "&#10003;" : "&#10007;",
		    (unsigned long long)h->last_latency_ms);
		if (h->last_error[0] != '\0') {
			ADD_LIT(out, " <span class=\"wrap\">");
			sp_html(out, h->last_error);
			ADD_LIT(out, "</span>");
		}
		ADD_LIT(out, "</span>");
	}
}

static void
render_vm(struct pg_server *srv, struct evbuffer *out, const struct sp_view *v,
    const struct gather *g, size_t i, size_t *ucur, int busiest, uint64_t now)
{
	static const enum be_admin ops[] = { BE_ADMIN_DRAIN, BE_ADMIN_READY,
	    BE_ADMIN_MAINT };
	const struct backend *b = srv->pool.be[i];
	const char *st = be_state_name(be_state(b, srv->nsvc));
	int cap = be_max_sessions(b), w = be_weight(b), pct;
	size_t nu = 0, first = *ucur, sess;
	const char *cls;

	while (*ucur < g->nusers && g->users[*ucur].vm == i) {
		(*ucur)++;
		nu++;
	}
	/* b->sessions counts TCP sessions and Jupyter users alike */
	sess = b->sessions > 0 ? (size_t)b->sessions : 0;

	ADD_LIT(out, "<tr id=\"vm-");
	sp_html(out, b->name);
	evbuffer_add_printf(out, "\" class=\"s-%s\" data-state=\"%s\"><td><b>",
	    st, st);
	sp_html(out, b->name);
	ADD_LIT(out, "</b> <span class=\"mut addr\" title=\"from the ");
	sp_html(out, srv_source_name(b->source));
	ADD_LIT(out, "\">");
	sp_html(out, b->addr.text != NULL ? b->addr.text : "");
	ADD_LIT(out, "</span></td>");

	/* state, and who asked for it */
	evbuffer_add_printf(out, "<td class=\"state\"><span class=\"st st-%s\">%s"
	    "</span>", st, st);
	if (b->removed)
		ADD_LIT(out, "<span class=\"sub\">removed</span>");
	if (b->admin != BE_ADMIN_READY)
		evbuffer_add_printf(out, "<span class=\"sub\">operator: %s</span>",
		    admin_name(b->admin));
	if (b->agent_admin != BE_ADMIN_READY)
		evbuffer_add_printf(out, "<span class=\"sub\">agent: %s</span>",
		    admin_name(b->agent_admin));
	if (b->agent_down)
		ADD_LIT(out, "<span class=\"sub\">agent: down</span>");
	ADD_LIT(out, "</td><td>");
	render_health(srv, out, b, now);

	/* SSH (TCP) sessions: all sessions but the Jupyter users */
	evbuffer_add_printf(out, "</td><td class=\"n ssh\">%zu</td>"
	    "<td class=\"users wrap\" data-n=\"%zu\">", sess > nu ? sess - nu : 0,
	    nu);
	for (size_t k = 0; k < nu && k < SP_USERS_SHOWN; k++) {
		if (k > 0)
			ADD_LIT(out, ", ");
		sp_html(out, g->users[first + k].user);
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
		sp_html(out, b->agent_last);
		ADD_LIT(out, "</span>");
	}
	evbuffer_add_printf(out, "</td><td class=\"n aff\">%zu</td>", g->aff[i]);

	if (v->csrf != NULL) {
		/* one form per VM; the pressed button names the operation */
		ADD_LIT(out, "<td><form class=\"act\" method=\"post\" "
		    "action=\"/action\"><input type=\"hidden\" name=\"vm\" value=\"");
		sp_html(out, b->name);
		ADD_LIT(out, "\"><input type=\"hidden\" name=\"csrf\" value=\"");
		sp_html(out, v->csrf);
		ADD_LIT(out, "\">");
		for (size_t k = 0; k < sizeof(ops) / sizeof(ops[0]); k++)
			evbuffer_add_printf(out, "<button name=\"op\" value=\"%s\"%s>%s"
			    "</button>", admin_name(ops[k]),
			    b->admin == ops[k] ? " disabled" : "", admin_name(ops[k]));
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
	sp_html(out, r->event);
	if (r->backend[0] != '\0') {
		ADD_LIT(out, " ");
		sp_html(out, r->backend);
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
render_events(struct pg_server *srv, struct evbuffer *out, uint64_t wall)
{
	const struct statuspage *sp = srv->statuspage;
	struct hr_result hr[HR_RECENT];
	struct ev_line lines[SP_EVENTS_MAX + HR_RECENT];
	size_t n = 0, nhr = 0;

	if (sp != NULL)
		for (size_t k = 0; k < sp->ev_n; k++) {
			const struct sp_event *e = &sp->ev[(sp->ev_next +
			    SP_EVENTS_MAX - 1 - k) % SP_EVENTS_MAX];
			lines[n++] = (struct ev_line){ e->wall_ms, e->text, NULL };
		}
	if (srv->hr != NULL)
		nhr = hr_recent(srv->hr, hr, HR_RECENT);
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
			sp_html(out, lines[k].text);
		ADD_LIT(out, "</td></tr>\n");
	}
	return ADD_LIT(out, "</tbody></table>\n");
}

int
sp_render(struct pg_server *srv, struct evbuffer *out, const struct sp_view *v,
    uint64_t now, uint64_t wall)
{
	struct gather g;
	size_t ucur = 0;
	int busiest = 0, rc = -1;
	char when[32];

	if (gather(srv, &g, now) != 0)
		goto out;
	for (size_t i = 0; i < srv->pool.n; i++)
		if (srv->pool.be[i]->sessions > busiest)
			busiest = srv->pool.be[i]->sessions;

	evbuffer_add_printf(out, "<!DOCTYPE html>\n<html lang=\"en\"><head>"
	    "<meta charset=\"utf-8\"><meta name=\"viewport\" content=\""
	    "width=device-width,initial-scale=1\"><title>poolgate &middot; %zu "
	    "VMs</title>\n<style>%s</style></head><body>\n<header><h1>poolgate"
	    "</h1><span class=\"mut\">%s</span>", srv->pool.n, page_css,
	    POOLGATE_VERSION);
	fmt_clock(when, sizeof(when), wall, wall);
	evbuffer_add_printf(out, "<span class=\"mut\" id=\"generated\">as of %s "
	    "UTC</span><label id=\"autol\" hidden><input type=\"checkbox\" "
	    "id=\"auto\" checked> refresh every %d&nbsp;s</label>", when,
	    SP_REFRESH_S);
	if (v->csrf != NULL) {
		ADD_LIT(out, "<form class=\"r\" method=\"post\" action=\"/logout\""
		    " id=\"logout\"><input type=\"hidden\" name=\"csrf\" value=\"");
		sp_html(out, v->csrf);
		evbuffer_add_printf(out, "\"><span class=\"ok\">signed in</span>"
		    "<button>sign out</button></form>");
	} else if (srv->admin_token_set)
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
		sp_html(out, v->notice);
		ADD_LIT(out, "</p>\n");
	}
	render_totals(srv, out, &g, now);

	evbuffer_add_printf(out, "<table id=\"vms\"><thead><tr><th>VM</th>"
	    "<th>state</th><th>health (last check, latency)</th>"
	    "<th class=\"n\" title=\"TCP (SSH) sessions\">ssh</th>"
	    "<th>Jupyter users</th><th>load</th><th class=\"n\">weight</th>"
	    "<th>agent</th><th class=\"n\" title=\"affinity entries\">aff.</th>"
	    "%s</tr></thead><tbody>\n", v->csrf != NULL ? "<th>operator</th>" : "");
	for (size_t i = 0; i < srv->pool.n; i++)
		render_vm(srv, out, v, &g, i, &ucur, busiest, now);
	if (srv->pool.n == 0)
		evbuffer_add_printf(out, "<tr><td colspan=\"9\" class=\"mut\">no VM "
		    "in the pool</td></tr>\n");
	ADD_LIT(out, "</tbody></table>\n");
	render_events(srv, out, wall);
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
	struct pg_server      *srv;
	struct statuspage     *sp;
	struct evhttp_request *req;
	char                   peer[64];
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
	sp_html(out, msg);
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

/* SHA-256 of the current admin token: a session is tied to the token. */
static bool
token_hash(const struct pg_server *srv, uint8_t out[32])
{
	unsigned int n = 0;

	return srv->admin_token_set && EVP_Digest(srv->admin_token,
	    strnlen(srv->admin_token, sizeof(srv->admin_token)), out, &n,
	    EVP_sha256(), NULL) == 1 && n == 32;
}

/*
 * OPENSSL_cleanse rather than explicit_bzero: the same wipe, but GCC's
 * -fsanitize=nonnull-attribute check of a pointer into an array made
 * -Wnonnull fire on its own "if NULL" path.
 */
static void
session_end(struct sp_session *s)
{
	OPENSSL_cleanse(s, sizeof(*s));
}

/* End sessions past their time or signed in with another token. */
static void
sessions_sweep(struct sp_req *r)
{
	uint8_t th[32];
	bool have = token_hash(r->srv, th);

	for (size_t i = 0; i < SP_SESSIONS_MAX; i++) {
		struct sp_session *s = &r->sp->sess[i];
		if (s->used && (!have || r->now >= s->expires_ms ||
		    CRYPTO_memcmp(s->tokhash, th, sizeof(th)) != 0))
			session_end(s);
	}
	explicit_bzero(th, sizeof(th));
}

/* The session named by the request's cookie, from this client, or NULL. */
static struct sp_session *
session_of(struct sp_req *r)
{
	const struct evkeyvalq *hs = evhttp_request_get_input_headers(r->req);
	const struct evkeyval *kv;
	struct sp_session *found = NULL;
	char hex[SP_HEX_LEN + 1];
	uint8_t id[SP_ID_BYTES];
	bool have = false;

	sessions_sweep(r);
	TAILQ_FOREACH(kv, hs, next)
		if (strcasecmp(kv->key, "Cookie") == 0 &&
		    (have = sp_cookie_value(kv->value, SP_COOKIE, hex, sizeof(hex))))
			break;
	if (!have || !hex_decode(hex, id, sizeof(id)))
		goto out;
	for (size_t i = 0; i < SP_SESSIONS_MAX; i++) {
		struct sp_session *s = &r->sp->sess[i];
		if (s->used && CRYPTO_memcmp(s->id, id, sizeof(id)) == 0 &&
		    strcmp(s->peer, r->peer) == 0)
			found = s;
	}
out:
	explicit_bzero(id, sizeof(id));
	explicit_bzero(hex, sizeof(hex));
	return found;
}

/* A new session in a free slot, else in place of the oldest. */
static struct sp_session *
session_new(struct sp_req *r)
{
	struct sp_session *sess = r->sp->sess, *s;
	size_t pick = 0;

	for (size_t i = 0; i < SP_SESSIONS_MAX; i++) {
		if (!sess[i].used) {
			pick = i;
			break;
		}
		if (sess[i].created_ms < sess[pick].created_ms)
			pick = i;
	}
	s = &sess[pick];
	if (s->used)
		log_info("status page: session of %s ended: %d newer sessions",
		    s->peer, SP_SESSIONS_MAX);
	session_end(s);
	if (RAND_bytes(s->id, sizeof(s->id)) != 1 ||
	    RAND_bytes(s->csrf, sizeof(s->csrf)) != 1 ||
	    !token_hash(r->srv, s->tokhash)) {
		session_end(s);
		return NULL;
	}
	snprintf(s->peer, sizeof(s->peer), "%s", r->peer);
	s->created_ms = r->now;
	s->expires_ms = r->now + (uint64_t)SP_SESSION_TTL_S * 1000;
	s->used = true;
	return s;
}

static void
set_cookie(struct sp_req *r, const struct sp_session *s)
{
	char hex[SP_HEX_LEN + 1], line[SP_HEX_LEN + 128];

	if (s != NULL) {
		hex_encode(s->id, sizeof(s->id), hex);
		snprintf(line, sizeof(line), SP_COOKIE "=%s; Path=/; Max-Age=%d; "
		    "HttpOnly; SameSite=Strict", hex, SP_SESSION_TTL_S);
	} else
		snprintf(line, sizeof(line), SP_COOKIE "=; Path=/; Max-Age=0; "
		    "HttpOnly; SameSite=Strict");
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "Set-Cookie",
	    line);
	explicit_bzero(hex, sizeof(hex));
	explicit_bzero(line, sizeof(line));
}

static void
page(struct sp_req *r, int code, const char *notice, bool notice_err)
{
	struct sp_session *s = session_of(r);
	struct evbuffer *out = evbuffer_new();
	char csrf[SP_HEX_LEN + 1], nonce[33], flash[SP_FLASH_MAX];
	uint8_t rnd[16];
	struct sp_view v = { NULL, notice, notice_err, nonce };

	if (out == NULL || RAND_bytes(rnd, sizeof(rnd)) != 1) {
		send_error(r, 500, "out of memory or no randomness");
		goto out;
	}
	hex_encode(rnd, sizeof(rnd), nonce);
	if (s != NULL) {
		hex_encode(s->csrf, sizeof(s->csrf), csrf);
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
	if (sp_render(r->srv, out, &v, r->now, pg_wall_ms()) != 0) {
		send_error(r, 500, "out of memory");
		goto out;
	}
	send_page(r, code, out, nonce);
out:
	if (out != NULL)
		evbuffer_free(out);
	explicit_bzero(csrf, sizeof(csrf));
}

static bool
name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CFG_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

static void
do_login(struct sp_req *r, const char *body, size_t len)
{
	struct pg_server *srv = r->srv;
	struct statuspage *sp = r->sp;
	struct sp_session *s;
	char want[sizeof(srv->admin_token)], got[sizeof(srv->admin_token)];
	size_t wl, gl;
	int rc, diff;

	memset(got, 0, sizeof(got));
	memset(want, 0, sizeof(want));
	if (!srv->admin_token_set) {
		log_warn("status page: sign-in from %s refused: admin.token_file is "
		    "not set", r->peer);
		send_error(r, 403, "Signing in is off: admin.token_file is not set.");
		goto out;
	}
	if (r->now - sp->fail_start_ms >= SP_FAIL_WINDOW_MS || sp->fail_start_ms == 0) {
		sp->fail_start_ms = r->now;
		sp->fails = 0;
	}
	if (sp->fails >= SP_LOGIN_FAILS_MAX) {
		log_warn("status page: sign-in from %s refused: %d failed sign-ins "
		    "in the last minute", r->peer, SP_LOGIN_FAILS_MAX);
		send_error(r, 429, "Too many failed sign-ins; wait a minute.");
		goto out;
	}
	rc = sp_form_value(body, len, "token", got, sizeof(got));
	if (rc == SP_FORM_MISSING) {
		send_error(r, 400, "The form has no token field.");
		goto out;
	}
	/* as adminapi.c's authorise(): whole buffers, lengths folded in */
	wl = strnlen(srv->admin_token, sizeof(want) - 1);
	memcpy(want, srv->admin_token, wl);
	gl = rc == 0 ? strlen(got) : 0;
	diff = CRYPTO_memcmp(want, got, sizeof(want)) | (gl != wl) | (rc != 0);
	if (diff != 0) {
		sp->fails++;
		log_warn("status page: sign-in from %s refused: wrong token",
		    r->peer);
		page(r, 403, "Wrong token.", true);
		goto out;
	}
	/* a browser signing in again replaces its old session */
	if ((s = session_of(r)) != NULL)
		session_end(s);
	if ((s = session_new(r)) == NULL) {
		send_error(r, 500, "no randomness for a session id");
		goto out;
	}
	log_info("status page: signed in from %s", r->peer);
	set_cookie(r, s);
	send_redirect(r);
out:
	explicit_bzero(want, sizeof(want));
	explicit_bzero(got, sizeof(got));
}

static void
do_logout(struct sp_req *r, const char *body, size_t len)
{
	struct sp_session *s = session_of(r);
	char csrf[SP_HEX_LEN + 2];

	if (s != NULL) {
		if (sp_form_value(body, len, "csrf", csrf, sizeof(csrf)) != 0 ||
		    !sp_hex_matches(s->csrf, sizeof(s->csrf), csrf)) {
			log_warn("status page: sign-out from %s refused: wrong CSRF "
			    "token", r->peer);
			send_error(r, 403, "The form's CSRF token is missing or stale: "
			    "reload the page.");
			return;
		}
		session_end(s);
		log_info("status page: signed out from %s", r->peer);
	}
	set_cookie(r, NULL);
	send_redirect(r);
}

static void
do_action(struct sp_req *r, const char *body, size_t len)
{
	struct sp_session *s = session_of(r);
	char csrf[SP_HEX_LEN + 2], vm[CFG_NAME_MAX + 2], op[16], err[256];
	enum be_admin admin;

	if (s == NULL) {
		log_warn("status page: action from %s refused: not signed in",
		    r->peer);
		send_error(r, 403, "Not signed in (or the session ended): sign in "
		    "on the status page first.");
		return;
	}
	if (sp_form_value(body, len, "csrf", csrf, sizeof(csrf)) != 0 ||
	    !sp_hex_matches(s->csrf, sizeof(s->csrf), csrf)) {
		log_warn("status page: action from %s refused: wrong CSRF token",
		    r->peer);
		send_error(r, 403, "The form's CSRF token is missing or stale: "
		    "reload the page.");
		return;
	}
	if (sp_form_value(body, len, "vm", vm, sizeof(vm)) != 0 ||
	    !name_valid(vm)) {
		send_error(r, 400, "vm: expected 1 to 63 of A-Z a-z 0-9 _ . -");
		return;
	}
	if (sp_form_value(body, len, "op", op, sizeof(op)) != 0)
		op[0] = '\0';
	if (strcmp(op, "drain") == 0)
		admin = BE_ADMIN_DRAIN;
	else if (strcmp(op, "ready") == 0)
		admin = BE_ADMIN_READY;
	else if (strcmp(op, "maint") == 0)
		admin = BE_ADMIN_MAINT;
	else {
		send_error(r, 400, "op: expected drain, ready or maint");
		return;
	}
	if (pool_find(&r->srv->pool, vm) == NULL) {
		snprintf(err, sizeof(err), "No VM named %s.", vm);
		send_error(r, 404, err);
		return;
	}
	err[0] = '\0';
	if (srv_backend_set_admin(r->srv, vm, admin, err, sizeof(err)) != 0) {
		log_warn("status page: %s %s by %s: refused: %s", op, vm, r->peer,
		    err);
		send_error(r, 409, err[0] != '\0' ? err : "refused");
		return;
	}
	log_info("status page: %s %s by %s: ok", op, vm, r->peer);
	statuspage_event(r->srv, "%s: operator set %s (status page, %s)", vm, op,
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

	if (!sp_same_origin(evhttp_find_header(h, "Host"),
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
statuspage_handle(struct pg_server *srv, struct evhttp_request *req,
    const char *path)
{
	struct sp_req r = { srv, sp_get(srv), req, "", pg_now_ms() };
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
