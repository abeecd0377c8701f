/*
 * test_statuspage.c -- the operator's HTML status page and its parts.
 *
 * The pure parts (html.c: HTML escaping; signin.c: reading its cookie,
 * the Origin check, the CSRF and token compares; events.c: the
 * recent-events ring), the rendered page (every outside string escaped,
 * buttons only when signed in, 200 VMs), and the sign-in and action flows
 * over real HTTP: an evhttp server on 127.0.0.1 serves a struct adm_ctx
 * through statuspage_handle(), and the requests go to it through the one
 * harness (evhttp_harness.h). The pool module's mbr_set_admin() is a stub
 * defined here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "admin/admin.h"
#include "admin/events.h"
#include "admin/html.h"
#include "admin/signin.h"
#include "admin/history.h"
#include "admin/statuspage.h"
#include "cluster/cluster.h"
#include "backends/affinity.h"
#include "backends/hookrun.h"
#include "backends/members.h"
#include "backends/usersess.h"
#include "lib/log.h"
#include "proxy/proxy.h"
#include "evhttp_harness.h"

#define TOKEN "s3cret-token-0123456789"

/* ---- Stub of the pool module ----------------------------------------------- */

static struct members mbr;
static struct px_ctx  px;
static struct adm_ctx adm;
static struct pg_config pgcfg;   /* px.cfg: only ssh_host_ca is read */
static struct service svc_ssh, svc_jup;

static struct {
	int           admins;
	char          name[CFG_NAME_MAX + 1];
	enum be_admin admin;
} calls;

int
mbr_set_admin(struct members *s, const char *name,
    enum be_admin admin, char *err, size_t errlen)
{
	struct backend *b = pool_find(&s->pool, name);

	calls.admins++;
	calls.admin = admin;
	snprintf(calls.name, sizeof(calls.name), "%s", name);
	if (b == NULL) {
		snprintf(err, errlen, "no VM named %s", name);
		return -1;
	}
	b->admin = admin;
	return 0;
}

/* ---- Stub of the cluster link ---------------------------------------------- */

static struct cl_peers fake_peers;
static struct cl_status fake_cl;

void
cl_node_status(const struct cl_node *c, struct cl_status *st)
{
	assert_non_null(c);
	*st = fake_cl;
	st->peers = &fake_peers;
}

/* ---- Helpers --------------------------------------------------------------- */

/* The page or a fragment as a C string (freed by the caller). */
static char *
text_of(struct evbuffer *b)
{
	size_t n = evbuffer_get_length(b);
	char *s = malloc(n + 1);

	assert_non_null(s);
	evbuffer_copyout(b, s, n);
	s[n] = '\0';
	return s;
}

static char *
escaped(const char *in)
{
	struct evbuffer *b = evbuffer_new();
	char *s;

	assert_non_null(b);
	html_escape(b, in);
	s = text_of(b);
	evbuffer_free(b);
	return s;
}

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return n;
}

static struct backend *
add_vm(const char *name, const char *address, int max_sessions, int sessions,
    bool up)
{
	struct cfg_backend cb;
	struct backend *b;

	memset(&cb, 0, sizeof(cb));
	snprintf(cb.name, sizeof(cb.name), "%s", name);
	assert_int_equal(cfg_parse_addr(address, false, &cb.address), 0);
	cb.address.text = (char *)address;
	cb.weight = 1;
	cb.max_sessions = max_sessions;
	assert_non_null(b = pool_add(&mbr.pool, &cb));
	b->sessions = sessions;
	for (size_t s = 0; s < px.nsvc; s++) {
		b->health[s].hc.up = up;
		b->health[s].last_check_ms = pg_now_ms();
		b->health[s].last_latency_ms = 3;
		b->health[s].checks = 10;
	}
	return b;
}

static void
add_user(const char *user, const char *vm)
{
	struct us_ended ended;

	assert_int_equal(us_request(mbr.us, user, vm, "10.1.1.1", pg_now_ms(),
	    &ended), US_STARTED);
}

static void
ctx_setup(void)
{
	memset(&mbr, 0, sizeof(mbr));
	memset(&px, 0, sizeof(px));
	memset(&pgcfg, 0, sizeof(pgcfg));
	memset(&adm, 0, sizeof(adm));
	memset(&calls, 0, sizeof(calls));
	pg_log_set_level(PG_LOG_ERR);
	snprintf(svc_ssh.cfg.name, sizeof(svc_ssh.cfg.name), "ssh");
	svc_ssh.cfg.mode = SVC_MODE_TCP;
	snprintf(svc_jup.cfg.name, sizeof(svc_jup.cfg.name), "jupyter");
	svc_jup.cfg.mode = SVC_MODE_HTTP;
	px.svc[0] = &svc_ssh;
	px.svc[1] = &svc_jup;
	px.nsvc = 2;
	px.mbr = &mbr;
	px.cfg = &pgcfg;
	adm.px = &px;
	pool_init(&mbr.pool);
	assert_non_null(mbr.aff = aff_new(1000, 3600000));
	assert_non_null(mbr.us = us_new(1000, 600000));
	adm.started_ms = pg_now_ms();
	snprintf(adm.token, sizeof(adm.token), "%s", TOKEN);
	adm.token_set = true;
}

static void
ctx_teardown(void)
{
	hist_free(adm.history);
	adm.history = NULL;
	statuspage_free(&adm);
	assert_null(adm.statuspage);
	pool_clear(&mbr.pool);
	aff_free(mbr.aff);
	us_free(mbr.us);
}

static char *
render(const char *csrf)
{
	struct evbuffer *b = evbuffer_new();
	struct sp_view v = { csrf, NULL, false, "00ff" };
	char *s;

	assert_non_null(b);
	assert_int_equal(sp_render(&adm, b, &v, pg_now_ms(), pg_wall_ms()), 0);
	s = text_of(b);
	evbuffer_free(b);
	return s;
}

/* ---- Pure parts ------------------------------------------------------------ */

static void
test_html_escape(void **state)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "vm-1.a_b", "vm-1.a_b" },
		{ "<script>alert('x')</script>",
		  "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" },
		{ "a&b \"q\"", "a&amp;b &quot;q&quot;" },
		{ "\"><img src=x onerror=alert(1)>",
		  "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" },
		{ "line1\nline2\tend\r", "line1 line2 end " },
		{ "bell\a del\x7f", "bell\xef\xbf\xbd del\xef\xbf\xbd" },
		{ "caf\xc3\xa9 \xe2\x9c\x93", "caf\xc3\xa9 \xe2\x9c\x93" },   /* UTF-8 kept */
		{ "bad \xff\xfe end", "bad \xef\xbf\xbd\xef\xbf\xbd end" },
		{ "cut \xc3", "cut \xef\xbf\xbd" },                          /* truncated */
		{ "over \xc0\xbc", "over \xef\xbf\xbd\xef\xbf\xbd" },        /* overlong '<' */
		{ "", "" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = escaped(cases[i].in);
		if (strcmp(got, cases[i].out) != 0)
			fail_msg("html_escape(%s) = %s, want %s", cases[i].in, got,
			    cases[i].out);
		free(got);
	}
}

static void
test_cookie_value(void **state)
{
	char v[8];

	(void)state;
	assert_true(si_cookie_value("a=b; pg_admin=xyz; c=d", "pg_admin", v,
	    sizeof(v)));
	assert_string_equal(v, "xyz");
	assert_true(si_cookie_value("pg_admin=1", "pg_admin", v, sizeof(v)));
	assert_string_equal(v, "1");
	/* a longer name with our name as prefix is another cookie */
	assert_true(si_cookie_value("pg_adminx=1;pg_admin=2", "pg_admin", v,
	    sizeof(v)));
	assert_string_equal(v, "2");
	assert_true(si_cookie_value("x=1;  pg_admin=\"q\" ", "pg_admin", v,
	    sizeof(v)));
	assert_string_equal(v, "q");
	assert_false(si_cookie_value("a=b; c=d", "pg_admin", v, sizeof(v)));
	assert_false(si_cookie_value("", "pg_admin", v, sizeof(v)));
	assert_false(si_cookie_value("pg_admin", "pg_admin", v, sizeof(v)));
	/* 7 bytes fit in 8, 8 do not */
	assert_true(si_cookie_value("pg_admin=1234567", "pg_admin", v, sizeof(v)));
	assert_false(si_cookie_value("pg_admin=12345678", "pg_admin", v,
	    sizeof(v)));
}

static void
test_same_origin(void **state)
{
	static const struct {
		const char *host, *origin, *referer;
		bool ok;
	} cases[] = {
		{ "127.0.0.1:9100", "http://127.0.0.1:9100", NULL, true },
		{ "127.0.0.1:9100", "https://127.0.0.1:9100", NULL, true },
		{ "Admin.Example:9100", "http://admin.example:9100", NULL, true },
		{ "127.0.0.1:9100", "http://127.0.0.1:8000", NULL, false },  /* port */
		{ "127.0.0.1:9100", "http://127.0.0.1", NULL, false },
		{ "127.0.0.1:9100", "http://evil.example:9100", NULL, false },
		{ "127.0.0.1:9100", "http://127.0.0.1:9100.evil.example", NULL, false },
		{ "127.0.0.1:9100", "null", NULL, false },
		{ "127.0.0.1:9100", "", NULL, false },
		{ "127.0.0.1:9100", "ftp://127.0.0.1:9100", NULL, false },
		{ "127.0.0.1:9100", "http://x@127.0.0.1:9100", NULL, false },
		/* the Origin decides when present, even with a good Referer */
		{ "127.0.0.1:9100", "http://evil.example",
		  "http://127.0.0.1:9100/", false },
		{ "127.0.0.1:9100", NULL, "http://127.0.0.1:9100/?x=1", true },
		{ "127.0.0.1:9100", NULL, "http://127.0.0.1:9100", true },
		{ "127.0.0.1:9100", NULL, "http://evil.example/127.0.0.1:9100", false },
		{ "127.0.0.1:9100", NULL, "http://127.0.0.1:91/", false },
		/* not a browser, or nothing to compare: the CSRF token decides */
		{ "127.0.0.1:9100", NULL, NULL, true },
		{ NULL, "http://evil.example", NULL, true },
		{ "", "http://evil.example", NULL, true },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (si_same_origin(cases[i].host, cases[i].origin,
		    cases[i].referer) != cases[i].ok)
			fail_msg("case %zu: host %s origin %s referer %s: want %s", i,
			    cases[i].host ? cases[i].host : "(none)",
			    cases[i].origin ? cases[i].origin : "(none)",
			    cases[i].referer ? cases[i].referer : "(none)",
			    cases[i].ok ? "allowed" : "refused");
}

static void
test_hex_matches(void **state)
{
	const uint8_t want[4] = { 0xde, 0xad, 0xbe, 0xef };

	(void)state;
	assert_true(si_hex_matches(want, 4, "deadbeef"));
	assert_true(si_hex_matches(want, 4, "DEADBEEF"));
	assert_false(si_hex_matches(want, 4, "deadbeee"));
	assert_false(si_hex_matches(want, 4, "eeadbeef"));
	assert_false(si_hex_matches(want, 4, "deadbe"));
	assert_false(si_hex_matches(want, 4, "deadbeef00"));
	assert_false(si_hex_matches(want, 4, "deadbeeg"));
	assert_false(si_hex_matches(want, 4, ""));
	assert_false(si_hex_matches(want, 4, NULL));
}

static void
test_token_equal(void **state)
{
	(void)state;
	assert_true(si_token_equal(TOKEN, TOKEN, strlen(TOKEN)));
	/* a prefix, one byte more, one byte off, empty */
	assert_false(si_token_equal(TOKEN, TOKEN, strlen(TOKEN) - 1));
	assert_false(si_token_equal(TOKEN, TOKEN "x", strlen(TOKEN) + 1));
	assert_false(si_token_equal(TOKEN, "s3cret-token-0123456788",
	    strlen(TOKEN)));
	assert_false(si_token_equal(TOKEN, "", 0));
	/* only gotlen bytes count */
	assert_true(si_token_equal(TOKEN, TOKEN "garbage", strlen(TOKEN)));
}

/* The failure table alone, with the clock given. */
static void
test_fails_per_address(void **state)
{
	struct si_fails *f = si_fails_new(4);
	const uint64_t t0 = 1000000;

	(void)state;
	assert_non_null(f);
	assert_int_equal(si_fails_wait(f, "10.0.0.1", t0), 0);
	/* the SI_FAILS_MAX-th failure locks, and says so once */
	for (int i = 0; i < SI_FAILS_MAX - 1; i++) {
		assert_false(si_fails_add(f, "10.0.0.1", t0 + i));
		assert_int_equal(si_fails_wait(f, "10.0.0.1", t0 + i), 0);
	}
	assert_true(si_fails_add(f, "10.0.0.1", t0 + 100));
	assert_false(si_fails_add(f, "10.0.0.1", t0 + 101));
	/* locked until a minute after its first failure */
	assert_int_equal(si_fails_wait(f, "10.0.0.1", t0 + 100),
	    SI_FAIL_WINDOW_MS - 100);
	assert_int_equal(si_fails_wait(f, "10.0.0.1", t0 + SI_FAIL_WINDOW_MS - 1),
	    1);
	/* another address is not: its failures are its own */
	assert_int_equal(si_fails_wait(f, "10.0.0.2", t0 + 100), 0);
	for (int i = 0; i < SI_FAILS_MAX - 1; i++)
		assert_false(si_fails_add(f, "10.0.0.2", t0 + 200));
	assert_int_equal(si_fails_wait(f, "10.0.0.2", t0 + 200), 0);
	assert_int_equal(si_fails_wait(f, "10.0.0.1", t0 + 200),
	    SI_FAIL_WINDOW_MS - 200);
	/* the window over, the address starts again from nothing */
	assert_int_equal(si_fails_wait(f, "10.0.0.1", t0 + SI_FAIL_WINDOW_MS), 0);
	assert_false(si_fails_add(f, "10.0.0.1", t0 + SI_FAIL_WINDOW_MS));
	assert_int_equal(si_fails_wait(f, "10.0.0.1", t0 + SI_FAIL_WINDOW_MS), 0);
	/* time given back by si_fails_advance ends a window too */
	for (int i = 0; i < SI_FAILS_MAX; i++)
		si_fails_add(f, "10.0.0.3", t0);
	assert_int_equal(si_fails_wait(f, "10.0.0.3", t0), SI_FAIL_WINDOW_MS);
	si_fails_advance(f, SI_FAIL_WINDOW_MS);
	assert_int_equal(si_fails_wait(f, "10.0.0.3", t0), 0);
	/* NULL and "" are one address like any other */
	for (int i = 0; i < SI_FAILS_MAX; i++)
		si_fails_add(f, NULL, t0);
	assert_true(si_fails_wait(f, "", t0) > 0);
	si_fails_free(f);
}

/* At its cap the table forgets the address that failed least recently. */
static void
test_fails_table_bounded(void **state)
{
	struct si_fails *f = si_fails_new(3), *lazy = NULL;
	char addr[SI_PEER_MAX + 16];

	(void)state;
	assert_non_null(f);
	for (int i = 0; i < SI_FAILS_MAX; i++) {
		si_fails_add(f, "10.0.0.1", 10);
		si_fails_add(f, "10.0.0.2", 10);
	}
	si_fails_add(f, "10.0.0.3", 20);
	/* 10.0.0.1 fails again: now 10.0.0.2 is the least recent */
	si_fails_add(f, "10.0.0.1", 30);
	assert_int_equal(si_fails_count(f), 3);
	si_fails_add(f, "10.0.0.4", 40);
	assert_int_equal(si_fails_count(f), 3);
	assert_int_equal(si_fails_wait(f, "10.0.0.2", 50), 0);
	assert_true(si_fails_wait(f, "10.0.0.1", 50) > 0);
	/* many more addresses: still 3, the newest kept */
	for (int i = 0; i < 1000; i++) {
		snprintf(addr, sizeof(addr), "2001:db8::%x", i);
		si_fails_add(f, addr, 60);
	}
	assert_int_equal(si_fails_count(f), 3);
	for (int i = 0; i < SI_FAILS_MAX - 1; i++)
		si_fails_add(f, addr, 60);
	assert_true(si_fails_wait(f, addr, 60) > 0);
	/* an address longer than SI_PEER_MAX - 1 is cut, never overflows */
	memset(addr, 'a', sizeof(addr) - 1);
	addr[sizeof(addr) - 1] = '\0';
	si_fails_add(f, addr, 70);
	si_fails_free(f);
	si_fails_free(NULL);
	/* si_fails_of makes the table once */
	assert_non_null(f = si_fails_of(&lazy));
	assert_ptr_equal(si_fails_of(&lazy), f);
	si_fails_free(lazy);
	/* a table of no address counts nothing */
	assert_non_null(f = si_fails_new(0));
	for (int i = 0; i < SI_FAILS_MAX; i++)
		assert_false(si_fails_add(f, "10.0.0.1", 10));
	assert_int_equal(si_fails_wait(f, "10.0.0.1", 10), 0);
	si_fails_free(f);
}

static void
evr_add(struct evr_ring *r, uint64_t wall, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
evr_add(struct evr_ring *r, uint64_t wall, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	evr_addv(r, wall, fmt, ap);
	va_end(ap);
}

static void
test_events_ring(void **state)
{
	struct evr_ring *r = calloc(1, sizeof(*r));
	const struct evr_entry *e;

	(void)state;
	assert_non_null(r);
	assert_int_equal(evr_count(r), 0);
	assert_null(evr_at(r, 0));
	evr_add(r, 7, "one");
	assert_int_equal(evr_count(r), 1);
	assert_string_equal(evr_at(r, 0)->text, "one");
	assert_int_equal(evr_at(r, 0)->wall_ms, 7);
	assert_null(evr_at(r, 1));
	/* bounded: the oldest are dropped, the newest comes first */
	for (int i = 0; i < EVR_MAX + 5; i++)
		evr_add(r, 100 + (uint64_t)i, "e%d", i);
	assert_int_equal(evr_count(r), EVR_MAX);
	assert_string_equal(evr_at(r, 0)->text, "e104");
	assert_int_equal(evr_at(r, 0)->wall_ms, 204);
	assert_string_equal(evr_at(r, EVR_MAX - 1)->text, "e5");
	assert_null(evr_at(r, EVR_MAX));
	/* one line, cut to fit */
	evr_add(r, 1, "a\nb\x1b[31m\x7f%0300d", 7);
	e = evr_at(r, 0);
	assert_int_equal(strlen(e->text), EVR_TEXT - 1);
	assert_memory_equal(e->text, "a?b?[31m?000", 12);
	assert_int_equal(evr_count(r), EVR_MAX);
	free(r);
}

/* ---- The rendered page ----------------------------------------------------- */

static struct event_base *base;

static void
hook_done(const struct hr_result *r, void *arg)
{
	(void)r;
	(void)arg;
	event_base_loopbreak(base);
}

/* The pool's @cert-authority line: shown when configured, escaped. */
static void
test_render_known_hosts(void **state)
{
	char *page;

	(void)state;
	ctx_setup();
	page = render(NULL);
	assert_null(strstr(page, "SSH host identity"));
	assert_null(strstr(page, "@cert-authority"));
	free(page);

	/* the CA alone makes no line: it needs the names users dial */
	pgcfg.ssh_host_ca = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA <b>ca</b>";
	page = render(NULL);
	assert_null(strstr(page, "@cert-authority"));
	free(page);

	pgcfg.ssh_host_principal = "pool.example.com";
	page = render(NULL);
	assert_non_null(strstr(page, "<pre id=\"known_hosts\">@cert-authority "
	    "pool.example.com,[pool.example.com]:* ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAA"
	    " &lt;b&gt;ca&lt;/b&gt;</pre>"));
	assert_non_null(strstr(page, "href=\"/ssh_known_hosts\""));
	free(page);

	/* a whole @cert-authority line is shown as it is */
	pgcfg.ssh_host_ca = "@cert-authority *.pool.example.com ssh-ed25519 AAAAC3Nza";
	page = render(NULL);
	assert_non_null(strstr(page, ">@cert-authority *.pool.example.com ssh-ed25519"
	    " AAAAC3Nza</pre>"));
	free(page);

	/* two lines would be two known_hosts entries: none */
	pgcfg.ssh_host_ca = "ssh-ed25519 AAAA\n@cert-authority * ssh-rsa AAAA";
	page = render(NULL);
	assert_null(strstr(page, "known_hosts\">"));
	free(page);
	ctx_teardown();
}

static void
test_render_escapes_everything(void **state)
{
	struct backend *b;
	struct timeval tv = { 10, 0 };
	char *page;

	(void)state;
	ctx_setup();
	b = add_vm("vm1", "10.0.0.4", 10, 3, true);
	snprintf(b->health[1].last_error, sizeof(b->health[1].last_error),
	    "<script>alert(1)</script> HTTP 500");
	snprintf(b->agent_last, sizeof(b->agent_last), "\"><img src=x onerror=1>");
	b->agent_last_ms = pg_now_ms();
	b->agent_last_ok = false;
	b = add_vm("vm2", "10.0.0.5", 0, 1, false);
	b->admin = BE_ADMIN_DRAIN;
	add_user("alice", "vm1");
	add_user("<b>mallory</b>", "vm1");
	add_user("bob", "vm2");
	assert_int_equal(aff_session_start(mbr.aff, "ip:10.1.1.1", "vm1",
	    pg_now_ms()), 0);
	assert_int_equal(aff_session_start(mbr.aff, "user:alice", "vm1",
	    pg_now_ms()), 0);
	statuspage_event(&adm, "vm2: up -> <i>drain</i> %s", "\x1b[31mred");

	/* a real hook run that fails: false vm_busy vm1 exits 1 */
	assert_non_null(base = event_base_new());
	assert_non_null(adm.hr = hr_new(base));
	hr_set_done_cb(adm.hr, hook_done, NULL);
	assert_int_equal(hr_configure(adm.hr, "/bin/false", 5000), 0);
	assert_int_equal(hr_run(adm.hr, "vm_busy", "vm1", NULL), HR_STARTED);
	event_base_loopexit(base, &tv);
	event_base_dispatch(base);

	page = render(NULL);
	/* nothing from outside arrives as markup */
	assert_null(strstr(page, "<script>alert"));
	assert_null(strstr(page, "<img"));
	assert_null(strstr(page, "<b>mallory"));
	assert_null(strstr(page, "<i>drain"));
	assert_null(strstr(page, "\x1b"));
	assert_non_null(strstr(page, "&lt;script&gt;alert(1)&lt;/script&gt; HTTP 500"));
	assert_non_null(strstr(page, "&quot;&gt;&lt;img src=x onerror=1&gt;"));
	assert_non_null(strstr(page, "&lt;b&gt;mallory&lt;/b&gt;"));
	assert_non_null(strstr(page, "vm2: up -&gt; &lt;i&gt;drain&lt;/i&gt; ?[31mred"));
	assert_int_equal(count(page, "<script"), 1);
	assert_non_null(strstr(page, "<script nonce=\"00ff\">"));

	/* the rows: state, users (sorted), ssh = sessions - users, affinity */
	assert_non_null(strstr(page, "<tr id=\"vm-vm1\" class=\"s-up\" "
	    "data-state=\"up\">"));
	assert_non_null(strstr(page, "<tr id=\"vm-vm2\" class=\"s-drain\" "
	    "data-state=\"drain\">"));
	assert_non_null(strstr(page, "operator: drain"));
	assert_non_null(strstr(page, "data-n=\"2\">&lt;b&gt;mallory&lt;/b&gt;, "
	    "alice</td>"));
	assert_non_null(strstr(page, "data-n=\"1\">bob</td>"));
	assert_non_null(strstr(page, "<td class=\"n ssh\">1</td>"));   /* vm1: 3 - 2 */
	assert_non_null(strstr(page, "<td class=\"n ssh\">0</td>"));   /* vm2: 1 - 1 */
	assert_non_null(strstr(page, "<td class=\"n aff\">2</td>"));
	assert_non_null(strstr(page, "width:30%"));                    /* 3 of 10 */
	assert_non_null(strstr(page, "3/10"));
	assert_non_null(strstr(page, "<b id=\"t-users\">3</b>"));

	/* the hook run, with its exit status */
	assert_non_null(strstr(page, "hook vm_busy vm1: <span class=\"bad\">exit 1</span>"));

	/* signed out: a sign-in form, no operator buttons */
	assert_non_null(strstr(page, "action=\"/login\""));
	assert_null(strstr(page, "action=\"/action\""));
	assert_null(strstr(page, "name=\"csrf\""));
	free(page);

	/* signed in: one form per VM, each with the CSRF token; sign-out form */
	page = render("c0ffee");
	assert_null(strstr(page, "action=\"/login\""));
	assert_int_equal(count(page, "action=\"/action\""), 2);
	assert_int_equal(count(page, "name=\"csrf\" value=\"c0ffee\""), 3);
	assert_non_null(strstr(page, "action=\"/logout\""));
	/* vm2 is draining: its drain button is off, the others on */
	assert_non_null(strstr(page, "value=\"vm2\"><input type=\"hidden\" "
	    "name=\"csrf\" value=\"c0ffee\"><button name=\"op\" value=\"drain\" "
	    "disabled>"));
	free(page);

	/* without a token nobody can sign in */
	adm.token_set = false;
	page = render(NULL);
	assert_null(strstr(page, "action=\"/login\""));
	assert_non_null(strstr(page, "read-only"));
	free(page);

	hr_free(adm.hr);
	adm.hr = NULL;
	event_base_free(base);
	base = NULL;
	ctx_teardown();
}

/* This node in its cluster: Redis up or degraded, the others, drained. */
static void
test_render_cluster(void **state)
{
	char *page;

	(void)state;
	ctx_setup();
	page = render(NULL);
	assert_null(strstr(page, "id=\"cluster\""));
	assert_null(strstr(page, "drained"));
	free(page);
	adm.node_draining = true;
	page = render(NULL);
	assert_non_null(strstr(page, "<b class=\"bad\">drained</b>healthz answers 503"));
	free(page);
	adm.cl = (struct cl_node *)&fake_cl;   /* only passed back to the stub */
	fake_cl.node = "pg<1>";
	fake_cl.up = false;
	fake_cl.runner = true;
	fake_peers.n = 1;
	page = render(NULL);
	assert_non_null(strstr(page, "cluster node pg&lt;1&gt;</span><b class=\"bad\">"
	    "degraded: Redis unreachable</b>1 other node &middot; runs the hooks "
	    "&middot; <span class=\"bad\">drained</span>"));
	free(page);
	fake_cl.up = true;
	fake_cl.runner = false;
	fake_peers.n = 2;
	adm.node_draining = false;
	page = render(NULL);
	assert_non_null(strstr(page, "<b class=\"ok\">Redis up</b>2 other nodes</div>"));
	free(page);
	adm.cl = NULL;
	fake_peers.n = 0;
	ctx_teardown();
}

static void
test_render_events_ring(void **state)
{
	char *page;

	(void)state;
	ctx_setup();
	for (int i = 0; i < EVR_MAX + 20; i++)
		statuspage_event(&adm, "event number %d;", i);
	/* longer than the text buffer: cut, not overflowing */
	statuspage_event(&adm, "%0300d", 7);
	page = render(NULL);
	assert_int_equal(count(page, "event number "), EVR_MAX - 1);
	assert_null(strstr(page, "event number 20;"));
	assert_non_null(strstr(page, "event number 21;"));
	assert_non_null(strstr(page, "event number 119;"));
	/* newest first */
	assert_true(strstr(page, "event number 119;") <
	    strstr(page, "event number 21;"));
	free(page);
	ctx_teardown();
}

/* The last hour per VM: an inline chart in the load cell, no external asset. */
static void
test_render_history(void **state)
{
	uint64_t now = pg_now_ms();
	char name[16], addr[16], *page, *row, *end;

	(void)state;
	ctx_setup();
	add_vm("vm1", "10.0.0.4", 10, 3, true);
	add_vm("vm2", "10.0.0.5", 0, 1, true);
	/* vm1: 2, 9 and 4 sessions in three minutes of the last hour */
	assert_non_null(adm.history = hist_new());
	assert_int_equal(hist_note(adm.history, "vm1", 2, now - 30 * HIST_SLOT_MS), 0);
	assert_int_equal(hist_note(adm.history, "vm1", 9, now - 29 * HIST_SLOT_MS), 0);
	assert_int_equal(hist_note(adm.history, "vm1", 4, now), 0);
	page = render(NULL);
	assert_non_null(row = strstr(page, "<tr id=\"vm-vm1\""));
	assert_non_null(end = strstr(row, "</tr>"));
	*end = '\0';
	assert_non_null(strstr(row, "<span class=\"hist\" title=\"sessions, last hour: "
	    "at most 9\"><svg class=\"hist\" width=\"120\" height=\"24\""));
	*end = '<';
	/* vm2 has no history yet: no chart */
	assert_non_null(row = strstr(page, "<tr id=\"vm-vm2\""));
	assert_null(strstr(row, "<svg"));
	assert_int_equal(count(page, "<svg class=\"hist\""), 1);
	free(page);
	ctx_teardown();

	/* 200 VMs with an hour each: still a page to reload every few seconds */
	ctx_setup();
	assert_non_null(adm.history = hist_new());
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "vm%03d", i);
		snprintf(addr, sizeof(addr), "10.0.%d.%d", i / 200, i % 200 + 1);
		add_vm(name, addr, 20, 3 + i % 17, true);
		for (int m = 0; m < HIST_SLOTS; m++)
			assert_int_equal(hist_note(adm.history, name, (unsigned)((i + m) % 21),
			    now - (uint64_t)m * HIST_SLOT_MS), 0);
	}
	page = render(NULL);
	assert_int_equal(count(page, "<svg class=\"hist\""), 200);
	if (strlen(page) > 800 * 1024)
		fail_msg("page for 200 VMs with their hour is %zu bytes", strlen(page));
	free(page);
	ctx_teardown();
}

static void
test_render_200_vms(void **state)
{
	char name[16], user[16], addr[16], *page;

	(void)state;
	ctx_setup();
	for (int i = 0; i < 200; i++) {
		snprintf(name, sizeof(name), "vm%03d", i);
		snprintf(addr, sizeof(addr), "10.0.%d.%d", i / 200, i % 200 + 1);
		add_vm(name, addr, 20, 3 + i % 17, i % 10 != 0);
		for (int k = 0; k < 3; k++) {
			snprintf(user, sizeof(user), "user%03d%c", i, 'a' + k);
			add_user(user, name);
		}
	}
	page = render("c0ffee");
	assert_int_equal(count(page, "<tr id=\"vm-"), 200);
	assert_int_equal(count(page, "action=\"/action\""), 200);
	assert_non_null(strstr(page, "<b id=\"t-vms\">200</b>"));
	assert_non_null(strstr(page, "<b id=\"t-users\">600</b>"));
	assert_non_null(strstr(page, "data-n=\"3\">user199a, user199b, user199c"));
	/* compact enough to reload every few seconds */
	if (strlen(page) > 600 * 1024)
		fail_msg("page for 200 VMs is %zu bytes", strlen(page));
	free(page);
	ctx_teardown();
}

static void
test_users_shown_are_capped(void **state)
{
	char user[16], *page, more[32];

	(void)state;
	ctx_setup();
	add_vm("vm1", "10.0.0.4", 0, SP_USERS_SHOWN + 5, true);
	for (int k = 0; k < SP_USERS_SHOWN + 5; k++) {
		snprintf(user, sizeof(user), "u%02d", k);
		add_user(user, "vm1");
	}
	page = render(NULL);
	snprintf(more, sizeof(more), "+5 more");
	assert_non_null(strstr(page, more));
	assert_non_null(strstr(page, "u00"));
	assert_null(strstr(page, "u16"));
	free(page);
	ctx_teardown();
}

/* ---- HTTP flows ------------------------------------------------------------ */

/*
 * Each VM shows its own users, the first SP_USERS_SHOWN by name whatever
 * order they came in, and counts them all (one pass over each VM's list).
 */
static void
test_users_shown_first_by_name(void **state)
{
	char user[16], want[512], *page;
	size_t n;

	(void)state;
	ctx_setup();
	add_vm("vm1", "10.0.0.4", 0, 100, true);
	add_vm("vm2", "10.0.0.5", 0, 100, true);
	/* 30 users on vm1 in a scrambled order, 2 on vm2 */
	for (int k = 0; k < 30; k++) {
		snprintf(user, sizeof(user), "u%02d", (k * 7) % 30);
		add_user(user, "vm1");
	}
	add_user("zed", "vm2");
	add_user("amy", "vm2");
	page = render(NULL);
	n = 0;
	for (int k = 0; k < SP_USERS_SHOWN; k++)
		n += (size_t)snprintf(want + n, sizeof(want) - n, "%su%02d",
		    k > 0 ? ", " : "", k);
	snprintf(want + n, sizeof(want) - n, " <span class=\"mut\">+%d more</span>",
	    30 - SP_USERS_SHOWN);
	assert_non_null(strstr(page, "data-n=\"30\">"));
	assert_non_null(strstr(page, want));
	assert_non_null(strstr(page, "data-n=\"2\">amy, zed</td>"));
	assert_non_null(strstr(page, "<b id=\"t-users\">32</b>"));
	free(page);
	ctx_teardown();
}

static struct eh_server srv;

static void
gencb(struct evhttp_request *req, void *arg)
{
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));

	(void)arg;
	statuspage_handle(&adm, req, path != NULL ? path : "/");
}

struct resp {
	struct eh_reply er;     /* owns body */
	int   code;
	char *body;
	char  cookie[256];      /* Set-Cookie */
	char  location[64];
	char  ctype[64];
	char  csp[256];
	char  xfo[16];
};

static struct resp last;

static void
hdr(const struct eh_reply *er, const char *name, char *out, size_t len)
{
	const char *v = eh_header(er, name);

	snprintf(out, len, "%s", v != NULL ? v : "");
}

/* Append one header line "name: value\r\n" to h[0..hlen); it must fit. */
static void
add_line(char *h, size_t hlen, const char *name, const char *value)
{
	size_t n = strlen(h);
	int w = snprintf(h + n, hlen - n, "%s: %s\r\n", name, value);

	assert_true(w > 0 && (size_t)w < hlen - n);
}

/*
 * One request on a fresh connection from local address `from` (NULL:
 * 127.0.0.1), through the harness. cookie is the pg_admin value or NULL;
 * origin the Origin header or NULL; body a form (Content-Type
 * form-urlencoded) or NULL. The reply's code is -1 when none came (the
 * harness's reason is printed).
 */
static struct resp *
call_from(const char *from, const char *method, const char *uri,
    const char *cookie, const char *origin, const char *body)
{
	struct eh_reply er;
	char hdrs[512] = "", line[256];

	eh_reply_free(&last.er);
	memset(&last, 0, sizeof(last));
	last.code = -2;
	if (cookie != NULL) {
		snprintf(line, sizeof(line), "theme=dark; pg_admin=%s", cookie);
		add_line(hdrs, sizeof(hdrs), "Cookie", line);
	}
	if (origin != NULL)
		add_line(hdrs, sizeof(hdrs), "Origin", origin);
	if (body != NULL)
		add_line(hdrs, sizeof(hdrs), "Content-Type",
		    "application/x-www-form-urlencoded");
	if (eh_request(&srv, from, method, uri, hdrs, body,
	    body != NULL ? strlen(body) : 0, &er) != 0)
		print_message("%s %s: %s\n", method, uri, er.error);
	last.er = er;
	last.code = er.status;
	last.body = er.body;
	hdr(&er, "Set-Cookie", last.cookie, sizeof(last.cookie));
	hdr(&er, "Location", last.location, sizeof(last.location));
	hdr(&er, "Content-Type", last.ctype, sizeof(last.ctype));
	hdr(&er, "Content-Security-Policy", last.csp, sizeof(last.csp));
	hdr(&er, "X-Frame-Options", last.xfo, sizeof(last.xfo));
	assert_int_not_equal(last.code, -2);
	assert_non_null(last.body);
	return &last;
}

static struct resp *
call(const char *method, const char *uri, const char *cookie,
    const char *origin, const char *body)
{
	return call_from(NULL, method, uri, cookie, origin, body);
}

static struct resp *
post(const char *uri, const char *cookie, const char *body)
{
	char origin[48];

	snprintf(origin, sizeof(origin), "http://127.0.0.1:%d", srv.port);
	return call("POST", uri, cookie, origin, body);
}

/* Sign in; the cookie value goes to cookie (65 bytes). */
static void
sign_in(char *cookie)
{
	struct resp *r = post("/login", NULL, "token=" TOKEN);
	const char *v;

	assert_int_equal(r->code, 303);
	assert_string_equal(r->location, "/");
	assert_true(strncmp(r->cookie, "pg_admin=", 9) == 0);
	v = r->cookie + 9;
	assert_int_equal(strcspn(v, ";"), 64);
	memcpy(cookie, v, 64);
	cookie[64] = '\0';
}

/* The CSRF token in the page a signed-in cookie gets (65 bytes). */
static void
csrf_of(const char *cookie, char *csrf)
{
	struct resp *r = call("GET", "/", cookie, NULL, NULL);
	const char *p;

	assert_int_equal(r->code, 200);
	p = strstr(r->body, "name=\"csrf\" value=\"");
	assert_non_null(p);
	p += 19;
	assert_int_equal(strspn(p, "0123456789abcdef"), 64);
	memcpy(csrf, p, 64);
	csrf[64] = '\0';
}

static int
http_setup(void **state)
{
	(void)state;
	ctx_setup();
	add_vm("vm1", "10.0.0.4", 10, 0, true);
	add_vm("vm2", "10.0.0.5", 10, 0, true);
	assert_int_equal(eh_start(&srv, gencb, NULL), 0);
	return 0;
}

static int
http_teardown(void **state)
{
	(void)state;
	eh_reply_free(&last.er);
	memset(&last, 0, sizeof(last));
	eh_stop(&srv);
	ctx_teardown();
	return 0;
}

static void
test_page_signed_out(void **state)
{
	struct resp *r;

	(void)state;
	r = call("GET", "/", NULL, NULL, NULL);
	assert_int_equal(r->code, 200);
	assert_string_equal(r->ctype, "text/html; charset=utf-8");
	assert_string_equal(r->xfo, "DENY");
	assert_non_null(strstr(r->csp, "frame-ancestors 'none'"));
	assert_non_null(strstr(r->csp, "script-src 'nonce-"));
	assert_non_null(strstr(r->body, "action=\"/login\""));
	assert_null(strstr(r->body, "action=\"/action\""));
	/* the nonce of the header is the nonce of the script */
	{
		char tag[64];
		const char *n = strstr(r->csp, "'nonce-") + 7;
		snprintf(tag, sizeof(tag), "<script nonce=\"%.32s\">", n);
		assert_non_null(strstr(r->body, tag));
	}

	/* a wrong cookie is no session */
	r = call("GET", "/", "00112233445566778899aabbccddeeff"
	    "00112233445566778899aabbccddeeff", NULL, NULL);
	assert_int_equal(r->code, 200);
	assert_non_null(strstr(r->body, "action=\"/login\""));

	r = call("HEAD", "/", NULL, NULL, NULL);
	assert_int_equal(r->code, 200);
}

static void
test_methods_and_paths(void **state)
{
	struct resp *r;

	(void)state;
	assert_int_equal(call("GET", "/login", NULL, NULL, NULL)->code, 405);
	assert_int_equal(call("GET", "/action", NULL, NULL, NULL)->code, 405);
	assert_int_equal(call("POST", "/", NULL, NULL, "a=b")->code, 405);
	assert_int_equal(call("PUT", "/logout", NULL, NULL, "a=b")->code, 405);
	assert_int_equal(call("GET", "/other", NULL, NULL, NULL)->code, 404);
	/* forms only */
	r = call("POST", "/login", NULL, NULL, NULL);
	assert_int_equal(r->code, 415);
}

static void
test_login(void **state)
{
	char cookie[65], big[SP_FORM_MAX + 64];
	struct resp *r;

	(void)state;
	r = post("/login", NULL, "token=wrong");
	assert_int_equal(r->code, 403);
	assert_non_null(strstr(r->body, "Wrong token."));
	assert_string_equal(r->cookie, "");
	/* a prefix of the token, and the token with more after it */
	assert_int_equal(post("/login", NULL, "token=s3cret")->code, 403);
	assert_int_equal(post("/login", NULL, "token=" TOKEN "x")->code, 403);
	assert_int_equal(post("/login", NULL, "nothing=here")->code, 400);

	sign_in(cookie);
	assert_non_null(strstr(last.cookie, "; Path=/; Max-Age=28800; HttpOnly; "
	    "SameSite=Strict"));
	r = call("GET", "/", cookie, NULL, NULL);
	assert_int_equal(r->code, 200);
	assert_non_null(strstr(r->body, "signed in"));
	assert_int_equal(count(r->body, "action=\"/action\""), 2);

	/* a cross-origin sign-in is refused before the token is looked at */
	r = call("POST", "/login", NULL, "http://evil.example", "token=" TOKEN);
	assert_int_equal(r->code, 403);
	assert_string_equal(r->cookie, "");

	/* a body over SP_FORM_MAX */
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "token=", 6);
	assert_int_equal(post("/login", NULL, big)->code, 413);
}

static void
test_login_rate_limited(void **state)
{
	char cookie[65];

	(void)state;
	for (int i = 0; i < SI_LOGIN_FAILS_MAX; i++)
		assert_int_equal(post("/login", NULL, "token=wrong")->code, 403);
	/* past the limit even the right token waits */
	assert_int_equal(post("/login", NULL, "token=wrong")->code, 429);
	assert_int_equal(post("/login", NULL, "token=" TOKEN)->code, 429);
	/* a minute later it works again */
	sp_advance(&adm, 60000);
	sign_in(cookie);
}

/* POST /login from `from` (an Origin naming the server, as a browser sends). */
static struct resp *
post_from(const char *from, const char *uri, const char *body)
{
	char origin[48];

	snprintf(origin, sizeof(origin), "http://127.0.0.1:%d", srv.port);
	return call_from(from, "POST", uri, NULL, origin, body);
}

/* The lock-out is per client address; 429 says when to come back. */
static void
test_login_locked_out_per_address(void **state)
{
	const char *ra;
	struct resp *r;
	char cookie[65], csrf[65];

	(void)state;
	for (int i = 0; i < SI_LOGIN_FAILS_MAX; i++) {
		r = post_from("127.0.0.2", "/login", "token=wrong");
		if (r->code == -1)
			fail_msg("cannot use 127.0.0.2 (all of 127/8 is loopback on "
			    "Linux)");
		assert_int_equal(r->code, 403);
	}
	r = post_from("127.0.0.2", "/login", "token=" TOKEN);
	assert_int_equal(r->code, 429);
	ra = eh_header(&r->er, "Retry-After");
	assert_non_null(ra);
	assert_true(atoi(ra) >= 59 && atoi(ra) <= 60);
	assert_non_null(strstr(r->body, "Too many failed sign-ins"));
	assert_string_equal(r->cookie, "");
	/* meanwhile another address signs in and works */
	sign_in(cookie);
	csrf_of(cookie, csrf);
	/* and its success frees nobody else */
	assert_int_equal(post_from("127.0.0.2", "/login", "token=" TOKEN)->code,
	    429);
	/* nearly a minute later still locked; at the minute free again */
	sp_advance(&adm, SI_FAIL_WINDOW_MS - 1000);
	r = post_from("127.0.0.2", "/login", "token=" TOKEN);
	assert_int_equal(r->code, 429);
	assert_string_equal(eh_header(&r->er, "Retry-After"), "1");
	sp_advance(&adm, 1000);
	assert_int_equal(post_from("127.0.0.2", "/login", "token=" TOKEN)->code,
	    303);
}

static void
test_login_without_token_file(void **state)
{
	struct resp *r;

	(void)state;
	adm.token_set = false;
	r = post("/login", NULL, "token=" TOKEN);
	assert_int_equal(r->code, 403);
	assert_non_null(strstr(r->body, "admin.token_file is not set"));
}

static void
test_action(void **state)
{
	char cookie[65], csrf[65], body[256], origin[48];
	struct resp *r;

	(void)state;
	sign_in(cookie);
	csrf_of(cookie, csrf);

	/* without a session */
	snprintf(body, sizeof(body), "vm=vm1&op=drain&csrf=%s", csrf);
	assert_int_equal(post("/action", NULL, body)->code, 403);
	/* with a wrong, missing or altered CSRF token */
	assert_int_equal(post("/action", cookie, "vm=vm1&op=drain&csrf=00")->code,
	    403);
	assert_int_equal(post("/action", cookie, "vm=vm1&op=drain")->code, 403);
	snprintf(body, sizeof(body), "vm=vm1&op=drain&csrf=%.63s%c", csrf,
	    csrf[63] == '0' ? '1' : '0');
	assert_int_equal(post("/action", cookie, body)->code, 403);
	/* the session id is not the CSRF token */
	snprintf(body, sizeof(body), "vm=vm1&op=drain&csrf=%s", cookie);
	assert_int_equal(post("/action", cookie, body)->code, 403);
	/* from another origin, Origin null, or another port of this host */
	snprintf(body, sizeof(body), "vm=vm1&op=drain&csrf=%s", csrf);
	assert_int_equal(call("POST", "/action", cookie,
	    "http://evil.example", body)->code, 403);
	assert_int_equal(call("POST", "/action", cookie, "null", body)->code,
	    403);
	snprintf(origin, sizeof(origin), "http://127.0.0.1:%d", srv.port + 1);
	assert_int_equal(call("POST", "/action", cookie, origin,
	    body)->code, 403);
	assert_int_equal(calls.admins, 0);
	assert_int_equal(mbr.pool.be[0]->admin, BE_ADMIN_READY);

	/* bad fields */
	snprintf(body, sizeof(body), "vm=vm1&op=reboot&csrf=%s", csrf);
	assert_int_equal(post("/action", cookie, body)->code, 400);
	snprintf(body, sizeof(body), "vm=vm%%2F1&op=drain&csrf=%s", csrf);
	assert_int_equal(post("/action", cookie, body)->code, 400);
	/* the one name rule: never an option or a path for a hook */
	snprintf(body, sizeof(body), "vm=-rf&op=drain&csrf=%s", csrf);
	r = post("/action", cookie, body);
	assert_int_equal(r->code, 400);
	assert_non_null(strstr(r->body, "vm: &quot;-rf&quot; is not a valid VM "
	    "name (expected 1 to 63 of A-Z a-z 0-9 _ - . (not starting with - or "
	    ".))."));
	snprintf(body, sizeof(body), "vm=..&op=drain&csrf=%s", csrf);
	assert_int_equal(post("/action", cookie, body)->code, 400);
	snprintf(body, sizeof(body), "vm=vm9&op=drain&csrf=%s", csrf);
	r = post("/action", cookie, body);
	assert_int_equal(r->code, 404);
	assert_non_null(strstr(r->body, "No VM named vm9."));
	assert_int_equal(calls.admins, 0);

	/* the real thing; without an Origin (not a browser) too */
	snprintf(body, sizeof(body), "vm=vm1&op=drain&csrf=%s", csrf);
	r = post("/action", cookie, body);
	assert_int_equal(r->code, 303);
	assert_string_equal(r->location, "/");
	assert_int_equal(calls.admins, 1);
	assert_string_equal(calls.name, "vm1");
	assert_int_equal(calls.admin, BE_ADMIN_DRAIN);
	snprintf(body, sizeof(body), "csrf=%s&op=maint&vm=vm2", csrf);
	assert_int_equal(call("POST", "/action", cookie, NULL, body)->code,
	    303);
	assert_int_equal(mbr.pool.be[1]->admin, BE_ADMIN_MAINT);

	/* the page shows the outcome once, the new states and the events */
	r = call("GET", "/", cookie, NULL, NULL);
	assert_non_null(strstr(r->body, "id=\"notice\">vm2: maint</p>"));
	assert_non_null(strstr(r->body, "data-state=\"drain\""));
	assert_non_null(strstr(r->body, "data-state=\"maint\""));
	assert_non_null(strstr(r->body, "vm1: operator set drain (status page, "
	    "127.0.0.1)"));
	r = call("GET", "/", cookie, NULL, NULL);
	assert_null(strstr(r->body, "id=\"notice\""));
}

static void
test_session_bound_to_address(void **state)
{
	char cookie[65], csrf[65], body[256];
	struct resp *r;

	(void)state;
	sign_in(cookie);
	csrf_of(cookie, csrf);
	snprintf(body, sizeof(body), "vm=vm1&op=drain&csrf=%s", csrf);
	/* the same cookie from another client address is no session */
	r = call_from("127.0.0.2", "GET", "/", cookie, NULL, NULL);
	if (r->code == -1)
		fail_msg("cannot use 127.0.0.2 (all of 127/8 is loopback on Linux)");
	assert_int_equal(r->code, 200);
	assert_non_null(strstr(r->body, "action=\"/login\""));
	r = call_from("127.0.0.2", "POST", "/action", cookie, NULL, body);
	assert_int_equal(r->code, 403);
	assert_int_equal(calls.admins, 0);
}

static void
test_logout_and_token_change(void **state)
{
	char cookie[65], csrf[65], body[256];
	struct resp *r;

	(void)state;
	sign_in(cookie);
	csrf_of(cookie, csrf);
	/* sign-out needs the CSRF token too */
	assert_int_equal(post("/logout", cookie, "csrf=00")->code, 403);
	snprintf(body, sizeof(body), "csrf=%s", csrf);
	r = post("/logout", cookie, body);
	assert_int_equal(r->code, 303);
	assert_non_null(strstr(r->cookie, "pg_admin=; Path=/; Max-Age=0"));
	snprintf(body, sizeof(body), "vm=vm1&op=drain&csrf=%s", csrf);
	assert_int_equal(post("/action", cookie, body)->code, 403);
	/* signing out without a session only clears the cookie */
	assert_int_equal(post("/logout", NULL, "")->code, 303);

	/* a new token (reload) ends every session */
	sign_in(cookie);
	csrf_of(cookie, csrf);
	snprintf(adm.token, sizeof(adm.token), "another-token-123456");
	snprintf(body, sizeof(body), "vm=vm1&op=drain&csrf=%s", csrf);
	assert_int_equal(post("/action", cookie, body)->code, 403);
	snprintf(adm.token, sizeof(adm.token), "%s", TOKEN);
	assert_int_equal(post("/action", cookie, body)->code, 403);
	assert_int_equal(calls.admins, 0);
}

static void
test_sessions_bounded_and_expire(void **state)
{
	char first[65], cookie[65], csrf[65], body[256];

	(void)state;
	sign_in(first);
	for (int i = 0; i < SI_SESSIONS_MAX - 1; i++)
		sign_in(cookie);
	/* still SI_SESSIONS_MAX: the first one lives */
	csrf_of(first, csrf);
	sign_in(cookie);
	/* one more pushed the oldest out */
	assert_non_null(strstr(call("GET", "/", first, NULL, NULL)->body,
	    "action=\"/login\""));
	csrf_of(cookie, csrf);

	/* one second before Max-Age it still works, at Max-Age it ends */
	sp_advance(&adm, (uint64_t)SI_SESSION_TTL_S * 1000 - 1000);
	csrf_of(cookie, csrf);
	sp_advance(&adm, 1000);
	snprintf(body, sizeof(body), "vm=vm1&op=drain&csrf=%s", csrf);
	assert_int_equal(post("/action", cookie, body)->code, 403);
	assert_int_equal(calls.admins, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_html_escape),
		cmocka_unit_test(test_cookie_value),
		cmocka_unit_test(test_same_origin),
		cmocka_unit_test(test_hex_matches),
		cmocka_unit_test(test_token_equal),
		cmocka_unit_test(test_fails_per_address),
		cmocka_unit_test(test_fails_table_bounded),
		cmocka_unit_test(test_events_ring),
		cmocka_unit_test(test_render_escapes_everything),
		cmocka_unit_test(test_render_known_hosts),
		cmocka_unit_test(test_render_events_ring),
		cmocka_unit_test(test_render_cluster),
		cmocka_unit_test(test_render_200_vms),
		cmocka_unit_test(test_render_history),
		cmocka_unit_test(test_users_shown_are_capped),
		cmocka_unit_test(test_users_shown_first_by_name),
		cmocka_unit_test_setup_teardown(test_page_signed_out, http_setup,
		    http_teardown),
		cmocka_unit_test_setup_teardown(test_methods_and_paths, http_setup,
		    http_teardown),
		cmocka_unit_test_setup_teardown(test_login, http_setup,
		    http_teardown),
		cmocka_unit_test_setup_teardown(test_login_rate_limited, http_setup,
		    http_teardown),
		cmocka_unit_test_setup_teardown(test_login_locked_out_per_address,
		    http_setup, http_teardown),
		cmocka_unit_test_setup_teardown(test_login_without_token_file,
		    http_setup, http_teardown),
		cmocka_unit_test_setup_teardown(test_action, http_setup,
		    http_teardown),
		cmocka_unit_test_setup_teardown(test_session_bound_to_address,
		    http_setup, http_teardown),
		cmocka_unit_test_setup_teardown(test_logout_and_token_change,
		    http_setup, http_teardown),
		cmocka_unit_test_setup_teardown(test_sessions_bounded_and_expire,
		    http_setup, http_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
