/*
 * test_adminapi.c -- the admin API over real HTTP: an evhttp server on
 * 127.0.0.1 (port chosen by the kernel) serves a struct adm_ctx through
 * adminapi_handle(), and raw requests go to it through the one harness
 * (evhttp_harness.h), which also reads the replies byte for byte. The
 * three membership functions of the pool module (backends/members.c) are
 * stubs defined here that record their calls. Every reply body is checked
 * to be one valid JSON object. VM names follow the one rule (lib/text.h):
 * "-rf" and ".." are refused.
 *
 * Also: adminapi_load_token() on real files (modes, newline, length).
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/http.h>

#include "admin/admin.h"
#include "admin/adminapi.h"
#include "cluster/cluster.h"
#include "admin/signin.h"
#include "backends/members.h"
#include "lib/json.h"
#include "lib/log.h"
#include "proxy/proxy.h"
#include "evhttp_harness.h"

#define TOKEN "s3cret-token-0123456789"     /* 23 bytes */

/* ---- Stubs of the pool module ---------------------------------------------- */

static struct members mbr;
static struct px_ctx  px;
static struct adm_ctx adm;
static struct service svc_ssh, svc_jup;

static struct {
	int            upserts, removes, admins;
	enum be_source src;
	char           name[CFG_NAME_MAX + 1];
	char           address[128];
	int            weight, max_sessions;
	enum be_admin  admin;
} calls;

int
mbr_upsert(struct members *s, enum be_source src, const char *name,
    const char *address, int weight, int max_sessions, char *err,
    size_t errlen)
{
	struct backend *b;

	calls.upserts++;
	calls.src = src;
	snprintf(calls.name, sizeof(calls.name), "%s", name);
	snprintf(calls.address, sizeof(calls.address), "%s", address);
	calls.weight = weight;
	calls.max_sessions = max_sessions;
	if (strcmp(name, "filevm") == 0) {
		snprintf(err, errlen, "VM filevm is owned by the configuration file");
		return -1;
	}
	if (strcmp(address, "10.9.9.9") == 0) {
		snprintf(err, errlen, "address 10.9.9.9 is already used by vm1");
		return -1;
	}
	if ((b = pool_find(&s->pool, name)) == NULL) {
		struct cfg_backend cb;

		memset(&cb, 0, sizeof(cb));
		snprintf(cb.name, sizeof(cb.name), "%s", name);
		assert_int_equal(cfg_parse_addr(address, false, &cb.address), 0);
		cb.address.text = (char *)address;
		cb.weight = weight;
		cb.max_sessions = max_sessions;
		assert_non_null(pool_add(&s->pool, &cb));
		return 1;
	}
	free(b->addr.text);
	b->addr.text = strdup(address);
	b->weight = weight;
	b->max_sessions = max_sessions;
	return 0;
}

int
mbr_remove(struct members *s, enum be_source src, const char *name,
    char *err, size_t errlen)
{
	calls.removes++;
	calls.src = src;
	snprintf(calls.name, sizeof(calls.name), "%s", name);
	if (strcmp(name, "filevm") == 0) {
		snprintf(err, errlen, "VM filevm is owned by the configuration file");
		return -1;
	}
	for (size_t i = 0; i < s->pool.n; i++) {
		struct backend *b = s->pool.be[i];
		if (strcmp(b->name, name) != 0)
			continue;
		/* like mbr_reap(): without sessions it is forgotten at once */
		if (b->sessions == 0)
			pool_remove_at(&s->pool, i);
		else
			b->removed = true;
		return 0;
	}
	snprintf(err, errlen, "no VM named %s", name);
	return -1;
}

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

/* ---- The server and the client --------------------------------------------- */

static struct eh_server srv;

/* As admin.c's admin_cb dispatches. */
static void
gencb(struct evhttp_request *req, void *arg)
{
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));

	if (path != NULL && strncmp(path, "/api/v1/", 8) == 0)
		adminapi_handle(&adm, req, path);
	else
		evhttp_send_error(req, 404, NULL);
}

struct resp {
	int  code;
	char body[16384];
	char ctype[64];
	char allow[64];
	char www[64];
	char location[128];
	char retry_after[32];
	char error[512];          /* the "error" member, if any */
};

/* The client address of the next calls (NULL: 127.0.0.1). */
static const char *call_src;

static void
hdr(const struct eh_reply *er, const char *name, char *out, size_t len)
{
	const char *v = eh_header(er, name);

	snprintf(out, len, "%s", v != NULL ? v : "");
}

/*
 * One request on a fresh connection (evhttp_harness.h). auth is the whole
 * Authorization value or NULL; ctype the Content-Type or NULL; body NULL
 * for none.
 */
static struct resp *
call(const char *method, const char *uri, const char *auth,
    const char *ctype, const char *body, size_t bodylen)
{
	static struct resp r;
	struct eh_reply er;
	char headers[512];

	memset(&r, 0, sizeof(r));
	snprintf(headers, sizeof(headers), "%s%s%s%s%s%s",
	    auth != NULL ? "Authorization: " : "", auth != NULL ? auth : "",
	    auth != NULL ? "\r\n" : "",
	    ctype != NULL ? "Content-Type: " : "", ctype != NULL ? ctype : "",
	    ctype != NULL ? "\r\n" : "");
	if (eh_request(&srv, call_src, method, uri, headers, body, bodylen,
	    &er) != 0)
		fail_msg("%s %s from %s: %s", method, uri,
		    call_src != NULL ? call_src : "127.0.0.1", er.error);
	r.code = er.status;
	assert_true(er.body_len < sizeof(r.body));
	memcpy(r.body, er.body, er.body_len + 1);
	hdr(&er, "Content-Type", r.ctype, sizeof(r.ctype));
	hdr(&er, "Allow", r.allow, sizeof(r.allow));
	hdr(&er, "WWW-Authenticate", r.www, sizeof(r.www));
	hdr(&er, "Location", r.location, sizeof(r.location));
	hdr(&er, "Retry-After", r.retry_after, sizeof(r.retry_after));
	eh_reply_free(&er);

	/* every reply of the API is one JSON object, newline-terminated */
	if (strcmp(method, "HEAD") != 0 && r.code > 0) {
		struct json_member m[32];
		char arena[sizeof(r.body)], err[256];
		size_t n, len = strlen(r.body);
		const struct json_member *e;

		assert_string_equal(r.ctype, "application/json");
		assert_true(len > 0 && r.body[len - 1] == '\n');
		if (json_parse_object(r.body, len, m, 32, &n, arena, sizeof(arena),
		    err, sizeof(err)) != 0)
			fail_msg("reply is not JSON: %s: %s", err, r.body);
		if ((e = json_find(m, n, "error")) != NULL) {
			assert_int_equal(e->type, JSON_STRING);
			assert_int_equal(n, 1);
			snprintf(r.error, sizeof(r.error), "%s", e->str);
		}
	}
	return &r;
}

static struct resp *
get(const char *uri)
{
	return call("GET", uri, NULL, NULL, NULL, 0);
}

/* A mutating call with the right token, JSON content type when body. */
static struct resp *
mut(const char *method, const char *uri, const char *body)
{
	return call(method, uri, "Bearer " TOKEN, body ? "application/json" : NULL,
	    body, body ? strlen(body) : 0);
}

static struct backend *
add_vm(const char *name, const char *address, int weight, int max_sessions,
    int sessions)
{
	struct cfg_backend cb;
	struct backend *b;

	memset(&cb, 0, sizeof(cb));
	snprintf(cb.name, sizeof(cb.name), "%s", name);
	assert_int_equal(cfg_parse_addr(address, false, &cb.address), 0);
	cb.address.text = (char *)address;
	cb.weight = weight;
	cb.max_sessions = max_sessions;
	assert_non_null(b = pool_add(&mbr.pool, &cb));
	b->sessions = sessions;
	return b;
}

static int
setup(void **state)
{
	struct backend *b;

	memset(&mbr, 0, sizeof(mbr));
	memset(&px, 0, sizeof(px));
	memset(&adm, 0, sizeof(adm));
	memset(&calls, 0, sizeof(calls));
	pg_log_set_level(PG_LOG_ERR);   /* quiet, unless a test captures the log */
	snprintf(svc_ssh.cfg.name, sizeof(svc_ssh.cfg.name), "ssh");
	snprintf(svc_jup.cfg.name, sizeof(svc_jup.cfg.name), "jupyter");
	px.svc[0] = &svc_ssh;
	px.svc[1] = &svc_jup;
	px.nsvc = 2;
	px.mbr = &mbr;
	adm.px = &px;
	pool_init(&mbr.pool);
	snprintf(adm.token, sizeof(adm.token), "%s", TOKEN);
	adm.token_set = true;

	b = add_vm("vm1", "10.0.0.4", 2, 20, 3);
	b->health[0].hc.up = true;
	snprintf(b->health[1].last_error, sizeof(b->health[1].last_error),
	    "connect: refused");
	add_vm("filevm", "10.0.0.5", 1, 0, 1);
	add_vm("emptyvm", "10.0.0.6", 1, 0, 0);

	assert_int_equal(eh_start(&srv, gencb, NULL), 0);
	/*
	 * admin.c caps bodies at 64 KiB in evhttp itself; here the cap is
	 * higher so the API's own 413 is reached.
	 */
	evhttp_set_max_body_size(srv.http, 1 << 20);
	return 0;
}

static int
teardown(void **state)
{
	eh_stop(&srv);
	pool_clear(&mbr.pool);
	si_fails_free(adm.fails);
	adm.fails = NULL;
	call_src = NULL;
	return 0;
}

/* ---- Capturing the log ------------------------------------------------------ */

static FILE *log_file;
static int   saved_stderr = -1;

static void
log_capture(void)
{
	pg_log_set_level(PG_LOG_INFO);
	assert_non_null(log_file = tmpfile());
	fflush(stderr);
	saved_stderr = dup(2);
	assert_true(dup2(fileno(log_file), 2) >= 0);
}

/* Stop capturing; returns what was logged (static). */
static const char *
log_captured(void)
{
	static char buf[4096];
	size_t n;

	fflush(stderr);
	dup2(saved_stderr, 2);
	close(saved_stderr);
	rewind(log_file);
	n = fread(buf, 1, sizeof(buf) - 1, log_file);
	buf[n] = '\0';
	fclose(log_file);
	pg_log_set_level(PG_LOG_ERR);
	return buf;
}

/* ---- Reading ------------------------------------------------------------------ */

#define VM1_JSON "{\"name\":\"vm1\",\"address\":\"10.0.0.4\",\"state\":\"down\"," \
	"\"admin\":\"ready\",\"agent_admin\":\"ready\",\"source\":\"configuration file\",\"removed\":false,\"weight\":2,\"max_sessions\":20,\"effective_weight_pct\":200,\"effective_max_sessions\":20," \
	"\"sessions\":3,\"load\":1.500,\"agent\":\"\",\"health\":{\"ssh\":{\"up\":true," \
	"\"last_error\":\"\"},\"jupyter\":{\"up\":false,\"last_error\":" \
	"\"connect: refused\"}}}"

static void
test_get_list(void **state)
{
	struct resp *r = get("/api/v1/backends");

	assert_int_equal(r->code, 200);
	assert_string_equal(r->body, "{\"backends\":[" VM1_JSON ",{\"name\":"
	    "\"filevm\",\"address\":\"10.0.0.5\",\"state\":\"down\",\"admin\":"
	    "\"ready\",\"agent_admin\":\"ready\",\"source\":\"configuration file\",\"removed\":false,\"weight\":1,\"max_sessions\":0,\"effective_weight_pct\":100,\"effective_max_sessions\":0,"
	    "\"sessions\":1,\"load\":1.000,\"agent\":\"\",\"health\":{\"ssh\":{\"up\":false,"
	    "\"last_error\":\"\"},\"jupyter\":{\"up\":false,\"last_error\":\"\"}}},"
	    "{\"name\":\"emptyvm\",\"address\":\"10.0.0.6\",\"state\":\"down\","
	    "\"admin\":\"ready\",\"agent_admin\":\"ready\",\"source\":\"configuration file\",\"removed\":false,\"weight\":1,\"max_sessions\":0,\"effective_weight_pct\":100,\"effective_max_sessions\":0,"
	    "\"sessions\":0,\"load\":0.000,\"agent\":\"\",\"health\":{\"ssh\":{\"up\":false,"
	    "\"last_error\":\"\"},\"jupyter\":{\"up\":false,\"last_error\":\"\"}}}"
	    "]}\n");
	/* a trailing slash is the same list; no token is needed to read */
	assert_int_equal(get("/api/v1/backends/")->code, 200);
	pool_clear(&mbr.pool);
	r = get("/api/v1/backends");
	assert_int_equal(r->code, 200);
	assert_string_equal(r->body, "{\"backends\":[]}\n");
}

static void
test_get_one(void **state)
{
	struct resp *r = get("/api/v1/backends/vm1");

	assert_int_equal(r->code, 200);
	assert_string_equal(r->body, VM1_JSON "\n");
	r = get("/api/v1/backends/vm1?pretty=1");
	assert_int_equal(r->code, 200);
	assert_string_equal(r->body, VM1_JSON "\n");

	r = get("/api/v1/backends/nope");
	assert_int_equal(r->code, 404);
	assert_string_equal(r->error, "no VM named nope");

	r = get("/api/v1/backends/bad%20name");
	assert_int_equal(r->code, 400);
	assert_string_equal(r->error, "\"bad%20name\" is not a valid VM name "
	    "(expected 1 to 63 of A-Z a-z 0-9 _ - . (not starting with - or .))");

	r = call("HEAD", "/api/v1/backends/vm1", NULL, NULL, NULL, 0);
	assert_int_equal(r->code, 200);
	assert_string_equal(r->body, "");
	assert_string_equal(r->ctype, "application/json");
	assert_int_equal(calls.upserts + calls.removes + calls.admins, 0);
}

static void
test_output_escaped(void **state)
{
	struct backend *b = pool_find(&mbr.pool, "vm1");
	struct resp *r;

	/* what a VM sent may be anything: the reply stays valid JSON */
	snprintf(b->health[1].last_error, sizeof(b->health[1].last_error),
	    "bad \"reply\"\n\\ \xff\xc3\xa9\xed\xa0\x80\x01");
	r = get("/api/v1/backends/vm1");
	assert_int_equal(r->code, 200);
	assert_non_null(strstr(r->body, "\"last_error\":\"bad \\\"reply\\\"\\u000a"
	    "\\\\ \\ufffd\xc3\xa9\\ufffd\\ufffd\\ufffd\\u0001\"}"));
}

/*
 * The one VM name rule: a name that would be an option ("-rf") or a path
 * ("..") to a hook command is refused by every call, and nothing reaches
 * the pool module.
 */
static void
test_name_rule(void **state)
{
	static const char *const bad[] = { "-rf", "..", ".", "-", ".hidden",
	    "-vm1" };
	static const char *const tail = " is not a valid VM name (expected 1 to "
	    "63 of A-Z a-z 0-9 _ - . (not starting with - or .))";
	char uri[128], want[160];
	struct resp *r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(want, sizeof(want), "\"%s\"%s", bad[i], tail);
		snprintf(uri, sizeof(uri), "/api/v1/backends/%s", bad[i]);
		r = get(uri);
		if (r->code != 400 || strcmp(r->error, want) != 0)
			fail_msg("GET %s: %d %s", uri, r->code, r->error);
		r = mut("PUT", uri, "{\"address\":\"10.0.0.9\"}");
		if (r->code != 400 || strcmp(r->error, want) != 0)
			fail_msg("PUT %s: %d %s", uri, r->code, r->error);
		r = mut("DELETE", uri, NULL);
		if (r->code != 400 || strcmp(r->error, want) != 0)
			fail_msg("DELETE %s: %d %s", uri, r->code, r->error);
		snprintf(uri, sizeof(uri), "/api/v1/backends/%s/drain", bad[i]);
		r = mut("POST", uri, NULL);
		if (r->code != 400 || strcmp(r->error, want) != 0)
			fail_msg("POST %s: %d %s", uri, r->code, r->error);
	}
	assert_int_equal(calls.upserts + calls.removes + calls.admins, 0);
	/* '-' and '.' inside a name are fine */
	r = mut("PUT", "/api/v1/backends/vm-1.a", "{\"address\":"
	    "\"10.0.0.9\"}");
	assert_int_equal(r->code, 201);
}

/* ---- Authorisation ------------------------------------------------------------ */

static void
test_auth_missing_401(void **state)
{
	const char *body = "{\"address\":\"10.0.0.9\"}";
	static const char *const bad[] = { NULL, "Basic dXNlcjpwYXNz", "Bearer",
	    "Bearer ", "Bearer    ", "Token " TOKEN, TOKEN };
	struct resp *r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = call("PUT", "/api/v1/backends/vm4", bad[i],
		    "application/json", body, strlen(body));
		if (r->code != 401)
			fail_msg("Authorization \"%s\": %d", bad[i] ? bad[i] : "(none)",
			    r->code);
		assert_string_equal(r->www, "Bearer realm=\"poolgate\"");
		assert_non_null(strstr(r->error, "authorization required"));
	}
	r = call("DELETE", "/api/v1/backends/vm1", NULL, NULL, NULL, 0);
	assert_int_equal(r->code, 401);
	r = call("POST", "/api/v1/backends/vm1/drain", NULL, NULL, NULL, 0);
	assert_int_equal(r->code, 401);
	/* authorisation comes before anything about the request itself */
	r = call("PUT", "/api/v1/backends/bad%20name", NULL, NULL, "x", 1);
	assert_int_equal(r->code, 401);
	assert_int_equal(calls.upserts + calls.removes + calls.admins, 0);
	assert_int_equal(pool_find(&mbr.pool, "vm1")->admin, BE_ADMIN_READY);
}

static void
test_auth_wrong_403(void **state)
{
	static const char *const bad[] = {
		"Bearer wrong",                             /* other length */
		"Bearer s3cret-token-0123456788",           /* same length, last byte */
		"Bearer S3cret-token-0123456789",           /* same length, first byte */
		"Bearer s3cret-token-012345678",            /* a prefix */
		"Bearer " TOKEN "0",                        /* one byte more */
		"Bearer " TOKEN TOKEN TOKEN TOKEN TOKEN TOKEN TOKEN TOKEN TOKEN TOKEN
		    TOKEN TOKEN,                            /* over 256 bytes */
	};
	struct resp *r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = call("POST", "/api/v1/backends/vm1/drain", bad[i], NULL,
		    NULL, 0);
		if (r->code != 403)
			fail_msg("Authorization \"%s\": %d", bad[i], r->code);
		assert_string_equal(r->error, "invalid token");
		assert_string_equal(r->www, "");
	}
	assert_int_equal(calls.admins, 0);
	assert_int_equal(pool_find(&mbr.pool, "vm1")->admin, BE_ADMIN_READY);

	/* the scheme is case-insensitive; spaces around the token are not part */
	r = call("POST", "/api/v1/backends/vm1/drain",
	    "bearer   " TOKEN "  ", NULL, NULL, 0);
	assert_int_equal(r->code, 200);
	assert_int_equal(calls.admins, 1);
}

static void
test_auth_token_not_set(void **state)
{
	struct resp *r;

	memset(adm.token, 0, sizeof(adm.token));
	adm.token_set = false;
	r = mut("PUT", "/api/v1/backends/vm4", "{\"address\":\"10.0.0.9\"}");
	assert_int_equal(r->code, 403);
	assert_string_equal(r->error, "mutating calls are refused: "
	    "admin.token_file is not set");
	/* an empty token must not match the empty configured one */
	r = call("DELETE", "/api/v1/backends/vm1", "Bearer ", NULL,
	    NULL, 0);
	assert_int_equal(r->code, 403);
	r = call("DELETE", "/api/v1/backends/vm1", NULL, NULL, NULL, 0);
	assert_int_equal(r->code, 403);
	assert_int_equal(calls.upserts + calls.removes + calls.admins, 0);
	/* reading still works */
	assert_int_equal(get("/api/v1/backends")->code, 200);
}

static void
test_auth_logged(void **state)
{
	const char *log;

	log_capture();
	call("POST", "/api/v1/backends/vm1/maint", "Bearer nope", NULL,
	    NULL, 0);
	call("PUT", "/api/v1/backends/bad\x7fname", NULL, NULL, NULL, 0);
	log = log_captured();
	assert_non_null(strstr(log, " WARN admin api: POST vm1 maint by 127.0.0.1: "
	    "refused (403): invalid token\n"));
	/* the raw name is not trusted in the log line */
	assert_non_null(strstr(log, " WARN admin api: PUT bad?name by 127.0.0.1: "
	    "refused (401)"));
	assert_null(strstr(log, TOKEN));

	/* what the body says is quoted in the reply, never breaks the log line */
	log_capture();
	mut("PUT", "/api/v1/backends/vm1",
	    "{\"a\\nINFO fake\":1}");
	log = log_captured();
	assert_non_null(strstr(log, " INFO admin api: PUT vm1 by 127.0.0.1: "
	    "refused (400): unknown member \"a?INFO fake\" (expected address, "
	    "weight, max_sessions)\n"));
}

/*
 * Wrong bearer tokens are limited per client address: past SI_FAILS_MAX
 * in a minute that address gets 429 with Retry-After for every mutating
 * call, right token or not; another address is unaffected, and reading
 * stays open to everyone.
 */
static void
test_auth_locked_out_per_address(void **state)
{
	const char *body = "{\"address\":\"10.0.0.9\"}";
	struct resp *r;
	const char *log;

	log_capture();
	call_src = "127.0.0.3";
	for (int i = 0; i < SI_FAILS_MAX; i++)
		assert_int_equal(call("POST", "/api/v1/backends/vm1/drain",
		    "Bearer wrong", NULL, NULL, 0)->code, 403);
	r = call("POST", "/api/v1/backends/vm1/drain", "Bearer " TOKEN, NULL,
	    NULL, 0);
	assert_int_equal(r->code, 429);
	assert_true(atoi(r->retry_after) >= 59 && atoi(r->retry_after) <= 60);
	assert_non_null(strstr(r->error, "too many wrong tokens from 127.0.0.3"));
	/* whatever it sends, before its header is looked at */
	assert_int_equal(call("PUT", "/api/v1/backends/vm4", NULL,
	    "application/json", body, strlen(body))->code, 429);
	/* reading needs no token and is not limited */
	assert_int_equal(get("/api/v1/backends/vm1")->code, 200);
	assert_int_equal(calls.admins + calls.upserts, 0);
	/* another address: its right token works, its wrong ones are its own */
	call_src = "127.0.0.4";
	assert_int_equal(call("POST", "/api/v1/backends/vm1/drain",
	    "Bearer wrong", NULL, NULL, 0)->code, 403);
	assert_int_equal(mut("POST", "/api/v1/backends/vm1/drain", NULL)->code,
	    200);
	assert_int_equal(calls.admins, 1);
	/* its success frees nobody else */
	call_src = "127.0.0.3";
	assert_int_equal(mut("POST", "/api/v1/backends/vm1/ready", NULL)->code,
	    429);
	log = log_captured();
	/* the lock-out is logged once, the 429s are not */
	assert_non_null(strstr(log, " WARN admin: 127.0.0.3 locked out for 60 s: "
	    "10 wrong tokens (sign-in or API) within a minute"));
	assert_null(strstr(strstr(log, "locked out") + 1, "locked out"));
	assert_null(strstr(log, "refused (429)"));
	/* a minute after its first failure the address may try again */
	si_fails_advance(adm.fails, SI_FAIL_WINDOW_MS - 1000);
	r = mut("POST", "/api/v1/backends/vm1/ready", NULL);
	assert_int_equal(r->code, 429);
	assert_string_equal(r->retry_after, "1");
	si_fails_advance(adm.fails, 1000);
	assert_int_equal(mut("POST", "/api/v1/backends/vm1/ready", NULL)->code,
	    200);
	assert_int_equal(calls.admins, 2);
}

/* ---- PUT ------------------------------------------------------------------------ */

static void
test_put_create(void **state)
{
	struct resp *r;
	const char *log;

	log_capture();
	r = mut("PUT", "/api/v1/backends/vm4",
	    "{\"address\": \"10.0.0.9\", \"weight\": 3, \"max_sessions\": 5}");
	log = log_captured();
	assert_int_equal(r->code, 201);
	assert_string_equal(r->location, "/api/v1/backends/vm4");
	/* a new VM is down until its checks pass */
	assert_string_equal(r->body, "{\"name\":\"vm4\",\"address\":\"10.0.0.9\","
	    "\"state\":\"down\",\"admin\":\"ready\",\"agent_admin\":\"ready\",\"source\":\"configuration file\",\"removed\":false,\"weight\":3,"
	    "\"max_sessions\":5,\"effective_weight_pct\":300,"
	    "\"effective_max_sessions\":5,\"sessions\":0,\"load\":0.000,\"agent\":\"\",\"health\":{\"ssh\":"
	    "{\"up\":false,\"last_error\":\"\"},\"jupyter\":{\"up\":false,"
	    "\"last_error\":\"\"}}}\n");
	assert_int_equal(calls.upserts, 1);
	assert_int_equal(calls.src, BE_SRC_API);
	assert_string_equal(calls.name, "vm4");
	assert_string_equal(calls.address, "10.0.0.9");
	assert_int_equal(calls.weight, 3);
	assert_int_equal(calls.max_sessions, 5);
	assert_non_null(strstr(log, " INFO admin api: PUT vm4 (10.0.0.9) by "
	    "127.0.0.1: created\n"));

	/* defaults on create; IPv6 */
	r = mut("PUT", "/api/v1/backends/vm5", "{\"address\":\"fd00::5\"}");
	assert_int_equal(r->code, 201);
	assert_int_equal(calls.weight, 1);
	assert_int_equal(calls.max_sessions, 0);
	assert_string_equal(calls.address, "fd00::5");
	r = mut("PUT", "/api/v1/backends/vm6",
	    "{\"address\":\"[fd00::6]\",\"weight\":1000,\"max_sessions\":100000}");
	assert_int_equal(r->code, 201);
	assert_int_equal(calls.weight, 1000);
	assert_int_equal(calls.max_sessions, 100000);
}

static void
test_put_update(void **state)
{
	struct resp *r;
	const char *log;

	/* members left out keep their values */
	log_capture();
	r = mut("PUT", "/api/v1/backends/vm1", "{\"weight\":5}");
	log = log_captured();
	assert_int_equal(r->code, 200);
	assert_string_equal(r->location, "");
	assert_string_equal(calls.address, "10.0.0.4");
	assert_int_equal(calls.weight, 5);
	assert_int_equal(calls.max_sessions, 20);
	assert_non_null(strstr(r->body, "\"weight\":5,\"max_sessions\":20,\"effective_weight_pct\":500,\"effective_max_sessions\":20,"
	    "\"sessions\":3,\"load\":0.600,\"agent\":\"\","));
	assert_non_null(strstr(log, "admin api: PUT vm1 (10.0.0.4) by 127.0.0.1: "
	    "updated\n"));

	r = mut("PUT", "/api/v1/backends/vm1",
	    "{\"address\":\"10.0.0.14\",\"max_sessions\":0}");
	assert_int_equal(r->code, 200);
	assert_int_equal(calls.weight, 5);
	assert_int_equal(calls.max_sessions, 0);
	assert_non_null(strstr(r->body, "\"address\":\"10.0.0.14\""));
	/* an empty object changes nothing, and is fine */
	r = mut("PUT", "/api/v1/backends/vm1", "{}");
	assert_int_equal(r->code, 200);
	assert_string_equal(calls.address, "10.0.0.14");
	assert_int_equal(calls.upserts, 3);
}

static void
test_put_invalid(void **state)
{
	static const struct {
		const char *uri, *body, *error;
	} cases[] = {
		{ "vm4", "{\"weight\":2}", "address is required to create VM vm4" },
		{ "vm4", "{\"address\":\"vm.example.com\"}", "address: "
		    "\"vm.example.com\" is not a numeric IPv4 or IPv6 address" },
		{ "vm4", "{\"address\":\"10.0.0.1:22\"}", "address: \"10.0.0.1:22\" "
		    "is not a numeric IPv4 or IPv6 address" },
		{ "vm4", "{\"address\":\"\"}", "address: \"\" is not a numeric IPv4 "
		    "or IPv6 address" },
		{ "vm4", "{\"address\":10}", "address: expected a string, got a "
		    "number" },
		{ "vm1", "{\"weight\":0}", "weight: expected an integer from 1 to "
		    "1000, got 0" },
		{ "vm1", "{\"weight\":1001}", "weight: expected an integer from 1 to "
		    "1000, got 1001" },
		{ "vm1", "{\"weight\":-1}", "weight: expected an integer from 1 to "
		    "1000, got -1" },
		{ "vm1", "{\"weight\":1.5}", "weight: expected an integer from 1 to "
		    "1000, got 1.5" },
		{ "vm1", "{\"weight\":2e0}", "weight: expected an integer from 1 to "
		    "1000, got 2e0" },
		{ "vm1", "{\"weight\":4294967297}", "weight: expected an integer "
		    "from 1 to 1000, got 4294967297" },
		{ "vm1", "{\"weight\":\"3\"}", "weight: expected an integer from 1 "
		    "to 1000, got a string" },
		{ "vm1", "{\"weight\":null}", "weight: expected an integer from 1 "
		    "to 1000, got null" },
		{ "vm1", "{\"max_sessions\":-1}", "max_sessions: expected an integer "
		    "from 0 to 100000, got -1" },
		{ "vm1", "{\"max_sessions\":100001}", "max_sessions: expected an "
		    "integer from 0 to 100000, got 100001" },
		{ "vm1", "{\"max_sessions\":true}", "max_sessions: expected an "
		    "integer from 0 to 100000, got a boolean" },
		{ "vm1", "{\"nmae\":\"x\"}", "unknown member \"nmae\" (expected "
		    "address, weight, max_sessions)" },
		{ "vm1", "{\"weight\":2,\"labels\":{\"a\":1}}", "unknown member "
		    "\"labels\" (expected address, weight, max_sessions)" },
		{ "vm1", "{\"name\":\"vm1\"}", "unknown member \"name\" (expected "
		    "address, weight, max_sessions)" },
		{ "vm1", "", "invalid JSON: offset 0: expected '{' (a JSON object), "
		    "found end of input" },
		{ "vm1", "{\"weight\":2,}", "invalid JSON: offset 12: expected a "
		    "member name (a string), found '}'" },
		{ "vm1", "{\"weight\":2,\"weight\":3}", "invalid JSON: offset 12: "
		    "duplicate member \"weight\"" },
		{ "vm1", "[{\"weight\":2}]", "invalid JSON: offset 0: expected '{' "
		    "(a JSON object), found '['" },
		{ "vm1", "{\"address\":\"10.0.0.\xff\"}", "invalid JSON: offset 19: "
		    "invalid UTF-8 (byte 0xff) in a string" },
		{ "bad%2Fname", "{}", "\"bad%2Fname\" is not a valid VM name "
		    "(expected 1 to 63 of A-Z a-z 0-9 _ - . (not starting with - or "
		    ".))" },
		{ "0123456789012345678901234567890123456789012345678901234567890123",
		    "{}", "\"01234567890123456789012345678901234567890"
		    "12345678901234567890123\" is not a valid VM name (expected 1 to "
		    "63 of A-Z a-z 0-9 _ - . (not starting with - or .))" },
	};
	char uri[256];
	struct resp *r;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(uri, sizeof(uri), "/api/v1/backends/%s", cases[i].uri);
		r = mut("PUT", uri, cases[i].body);
		if (r->code != 400 || strcmp(r->error, cases[i].error) != 0)
			fail_msg("case %zu: %d %s", i, r->code, r->error);
	}
	assert_int_equal(calls.upserts, 0);
	/* a 63-byte name is fine */
	r = mut("PUT", "/api/v1/backends/"
	    "012345678901234567890123456789012345678901234567890123456789012",
	    "{\"address\":\"10.0.0.63\"}");
	assert_int_equal(r->code, 201);
	r = mut("PUT", "/api/v1/backends/A-z_0.9",
	    "{\"address\":\"10.0.0.64\"}");
	assert_int_equal(r->code, 201);
}

static void
test_put_content_type_415(void **state)
{
	static const char *const bad[] = { NULL, "text/plain", "application/jsonx",
	    "application/x-www-form-urlencoded", "json", "application/json+x",
	    "application/json x", "application/json,text/plain" };
	static const char *const good[] = { "application/json",
	    "application/json; charset=utf-8", "Application/JSON",
	    "application/json ;charset=utf-8" };
	const char *body = "{\"weight\":2}";
	struct resp *r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = call("PUT", "/api/v1/backends/vm1", "Bearer " TOKEN,
		    bad[i], body, strlen(body));
		if (r->code != 415)
			fail_msg("Content-Type %s: %d", bad[i] ? bad[i] : "(none)",
			    r->code);
		assert_string_equal(r->error, "Content-Type must be application/json");
	}
	assert_int_equal(calls.upserts, 0);
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		r = call("PUT", "/api/v1/backends/vm1", "Bearer " TOKEN,
		    good[i], body, strlen(body));
		if (r->code != 200)
			fail_msg("Content-Type %s: %d %s", good[i], r->code, r->error);
	}
}

static void
test_put_too_large_413(void **state)
{
	size_t len = JSON_BODY_MAX + 1;
	char *body = malloc(len);
	struct resp *r;

	assert_non_null(body);
	memset(body, ' ', len);
	memcpy(body, "{\"weight\":2}", 12);
	r = call("PUT", "/api/v1/backends/vm1", "Bearer " TOKEN,
	    "application/json", body, len);
	assert_int_equal(r->code, 413);
	assert_string_equal(r->error, "body of 65537 bytes is over the limit of "
	    "65536 bytes");
	assert_int_equal(calls.upserts, 0);
	/* exactly the limit is fine */
	r = call("PUT", "/api/v1/backends/vm1", "Bearer " TOKEN,
	    "application/json", body, len - 1);
	assert_int_equal(r->code, 200);
	free(body);
}

static void
test_put_conflict_409(void **state)
{
	struct resp *r;

	r = mut("PUT", "/api/v1/backends/filevm",
	    "{\"address\":\"10.0.0.5\",\"weight\":4}");
	assert_int_equal(r->code, 409);
	assert_string_equal(r->error, "VM filevm is owned by the configuration file");
	/* other refusals of the pool module are the request's fault */
	r = mut("PUT", "/api/v1/backends/vm9", "{\"address\":\"10.9.9.9\"}");
	assert_int_equal(r->code, 400);
	assert_string_equal(r->error, "address 10.9.9.9 is already used by vm1");
	assert_null(pool_find(&mbr.pool, "vm9"));
}

/* ---- DELETE ------------------------------------------------------------------- */

static void
test_delete_202(void **state)
{
	struct resp *r;
	const char *log;

	log_capture();
	r = mut("DELETE", "/api/v1/backends/vm1", NULL);
	log = log_captured();
	assert_int_equal(r->code, 202);
	assert_int_equal(calls.removes, 1);
	assert_int_equal(calls.src, BE_SRC_API);
	/* its three sessions run on: it drains */
	assert_non_null(strstr(r->body, "\"state\":\"drain\",\"admin\":\"ready\","));
	assert_non_null(strstr(r->body, "\"removed\":true,"));
	assert_non_null(strstr(log, " INFO admin api: DELETE vm1 by 127.0.0.1: "
	    "removed; drains its 3 sessions, then is forgotten\n"));

	/* without sessions it is gone at once */
	r = mut("DELETE", "/api/v1/backends/emptyvm", NULL);
	assert_int_equal(r->code, 202);
	assert_string_equal(r->body, "{\"name\":\"emptyvm\",\"removed\":true}\n");
	assert_null(pool_find(&mbr.pool, "emptyvm"));

	r = mut("DELETE", "/api/v1/backends/emptyvm", NULL);
	assert_int_equal(r->code, 404);
	assert_string_equal(r->error, "no VM named emptyvm");
	r = mut("DELETE", "/api/v1/backends/filevm", NULL);
	assert_int_equal(r->code, 409);
	assert_string_equal(r->error, "VM filevm is owned by the configuration file");
	assert_false(pool_find(&mbr.pool, "filevm")->removed);
}

/* ---- Operator states --------------------------------------------------------------- */

static void
test_drain_ready_maint(void **state)
{
	struct resp *r;
	const char *log;

	log_capture();
	r = mut("POST", "/api/v1/backends/vm1/drain", NULL);
	log = log_captured();
	assert_int_equal(r->code, 200);
	assert_int_equal(calls.admin, BE_ADMIN_DRAIN);
	assert_non_null(strstr(r->body, "{\"name\":\"vm1\",\"address\":\"10.0.0.4\","
	    "\"state\":\"drain\",\"admin\":\"drain\","));
	assert_non_null(strstr(log, "admin api: POST vm1 drain by 127.0.0.1: ok\n"));

	r = mut("POST", "/api/v1/backends/vm1/maint", NULL);
	assert_int_equal(r->code, 200);
	assert_int_equal(calls.admin, BE_ADMIN_MAINT);
	assert_non_null(strstr(r->body, "\"state\":\"maint\",\"admin\":\"maint\","));

	/* ready again, but jupyter is down: the state says so */
	r = mut("POST", "/api/v1/backends/vm1/ready", NULL);
	assert_int_equal(r->code, 200);
	assert_int_equal(calls.admin, BE_ADMIN_READY);
	assert_string_equal(r->body, VM1_JSON "\n");

	/* a body, if any, is ignored */
	r = mut("POST", "/api/v1/backends/vm1/drain", "{\"why\":1}");
	assert_int_equal(r->code, 200);
	assert_int_equal(calls.admins, 4);

	r = mut("POST", "/api/v1/backends/nope/drain", NULL);
	assert_int_equal(r->code, 404);
	assert_string_equal(r->error, "no VM named nope");
	r = mut("POST", "/api/v1/backends/vm1/reboot", NULL);
	assert_int_equal(r->code, 404);
	assert_int_equal(calls.admins, 4);
}

/* The node itself: its document, drain and ready with the token. */
static void
test_node_drain_ready(void **state)
{
	struct resp *r;
	const char *log;

	(void)state;
	r = get("/api/v1/node");
	assert_int_equal(r->code, 200);
	assert_string_equal(r->body, "{\"node\":null,\"redis\":\"off\","
	    "\"draining\":false,\"sessions\":4,\"nodes\":[]}\n");
	r = call("POST", "/api/v1/node/drain", NULL, NULL, NULL, 0);
	assert_int_equal(r->code, 401);
	assert_false(adm.node_draining);
	log_capture();
	r = mut("POST", "/api/v1/node/drain", NULL);
	log = log_captured();
	assert_int_equal(r->code, 200);
	assert_true(adm.node_draining);
	assert_non_null(strstr(r->body, "\"draining\":true"));
	assert_non_null(strstr(log, "admin api: POST node/drain by 127.0.0.1: ok\n"));
	r = mut("POST", "/api/v1/node/ready", NULL);
	assert_int_equal(r->code, 200);
	assert_false(adm.node_draining);
	r = mut("PUT", "/api/v1/node/drain", NULL);
	assert_int_equal(r->code, 405);
	assert_string_equal(r->allow, "POST");
	r = mut("POST", "/api/v1/node", NULL);
	assert_int_equal(r->code, 405);
	r = mut("POST", "/api/v1/node/reboot", NULL);
	assert_int_equal(r->code, 404);
}

/* ---- Routing and methods -------------------------------------------------------------- */

static void
test_methods_405(void **state)
{
	static const struct {
		const char *cmd;
		const char *uri, *allow;
	} cases[] = {
		{ "POST", "/api/v1/backends", "GET, HEAD" },
		{ "PUT", "/api/v1/backends", "GET, HEAD" },
		{ "DELETE", "/api/v1/backends/", "GET, HEAD" },
		{ "POST", "/api/v1/backends/vm1", "GET, HEAD, PUT, DELETE" },
		{ "GET", "/api/v1/backends/vm1/drain", "POST" },
		{ "PUT", "/api/v1/backends/vm1/ready", "POST" },
		{ "DELETE", "/api/v1/backends/vm1/maint", "POST" },
	};
	struct resp *r;
	char want[128];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = mut(cases[i].cmd, cases[i].uri, NULL);
		if (r->code != 405)
			fail_msg("case %zu: %d", i, r->code);
		assert_string_equal(r->allow, cases[i].allow);
		snprintf(want, sizeof(want), "allowed: %s)", cases[i].allow);
		assert_non_null(strstr(r->error, want));
	}
	r = mut("POST", "/api/v1/backends/vm1", NULL);
	assert_string_equal(r->error, "method POST not allowed here (allowed: GET, "
	    "HEAD, PUT, DELETE)");
	assert_int_equal(calls.upserts + calls.removes + calls.admins, 0);
}

static void
test_routes_404(void **state)
{
	static const char *const uris[] = { "/api/v1/", "/api/v1/backendsx",
	    "/api/v1/backend/vm1", "/api/v1/backends/vm1/drain/now",
	    "/api/v1/backends/vm1/", "/api/v1/status" };
	struct resp *r;

	for (size_t i = 0; i < sizeof(uris) / sizeof(uris[0]); i++) {
		r = get(uris[i]);
		if (r->code != 404)
			fail_msg("%s: %d", uris[i], r->code);
	}
	r = get("/api/v1/nothing");
	assert_string_equal(r->error, "no such endpoint /api/v1/nothing (try "
	    "/api/v1/backends)");
}

/* ---- The token file ------------------------------------------------------------------ */

static char tokpath[64];

static void
token_file(const char *content, size_t len, mode_t mode)
{
	int fd;

	snprintf(tokpath, sizeof(tokpath), "/tmp/pg-test-token.XXXXXX");
	assert_true((fd = mkstemp(tokpath)) >= 0);
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static int
load(char *tok, size_t toklen, char *err, size_t errlen)
{
	int rc;

	memset(tok, 'x', toklen);
	err[0] = '\0';
	rc = adminapi_load_token(tokpath, tok, toklen, err, errlen);
	unlink(tokpath);
	return rc;
}

static void
assert_wiped(const char *tok, size_t len)
{
	for (size_t i = 0; i < len; i++)
		assert_int_equal(tok[i], 0);
}

static void
test_load_token(void **state)
{
	char tok[256], err[512], big[400];

	token_file(TOKEN "\n", strlen(TOKEN) + 1, 0600);
	assert_int_equal(load(tok, sizeof(tok), err, sizeof(err)), 0);
	assert_string_equal(tok, TOKEN);
	token_file(TOKEN "\r\n", strlen(TOKEN) + 2, 0400);
	assert_int_equal(load(tok, sizeof(tok), err, sizeof(err)), 0);
	assert_string_equal(tok, TOKEN);
	token_file(TOKEN, strlen(TOKEN), 0640);     /* group may read */
	assert_int_equal(load(tok, sizeof(tok), err, sizeof(err)), 0);
	assert_string_equal(tok, TOKEN);
	token_file("0123456789abcdef", 16, 0600);   /* the shortest */
	assert_int_equal(load(tok, sizeof(tok), err, sizeof(err)), 0);
	assert_string_equal(tok, "0123456789abcdef");
	memset(big, 'a', 255);
	big[255] = '\n';
	token_file(big, 256, 0600);                 /* the longest */
	assert_int_equal(load(tok, sizeof(tok), err, sizeof(err)), 0);
	assert_int_equal(strlen(tok), 255);
}

static void
test_load_token_refused(void **state)
{
	static const struct {
		const char *content;
		mode_t      mode;
		const char *error;      /* after "admin.token_file PATH: " */
	} cases[] = {
		{ TOKEN "\n", 0644, "readable or writable by others (mode 0644); "
		    "chmod o-rw " },
		{ TOKEN "\n", 0604, "readable or writable by others (mode 0604); "
		    "chmod o-rw " },
		{ TOKEN "\n", 0602, "readable or writable by others (mode 0602); "
		    "chmod o-rw " },
		{ "0123456789abcde\n", 0600, "the token has 15 bytes; at least 16 are "
		    "needed" },
		{ "", 0600, "the token has 0 bytes; at least 16 are needed" },
		{ "\n", 0600, "the token has 0 bytes; at least 16 are needed" },
		{ TOKEN "\n\n", 0600, "byte 23 of the token is a space or not "
		    "printable ASCII" },
		{ "s3cret token 0123456789\n", 0600, "byte 6 of the token is a space "
		    "or not printable ASCII" },
		{ "s3cret-token-012345678\xc3\xa9", 0600, "byte 22 of the token is a "
		    "space or not printable ASCII" },
	};
	char tok[256], err[512], want[512], big[400];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		token_file(cases[i].content, strlen(cases[i].content), cases[i].mode);
		snprintf(want, sizeof(want), "admin.token_file %s: %s", tokpath,
		    cases[i].error);
		assert_int_equal(load(tok, sizeof(tok), err, sizeof(err)), -1);
		if (strncmp(err, want, strlen(want)) != 0)
			fail_msg("case %zu: %s", i, err);
		assert_wiped(tok, sizeof(tok));
	}

	/* a NUL inside is not printable either */
	token_file("0123456789\0abcdefgh", 19, 0600);
	assert_int_equal(load(tok, sizeof(tok), err, sizeof(err)), -1);
	assert_non_null(strstr(err, ": byte 10 of the token is a space"));

	/* 256 bytes do not fit in 256 with the NUL, newline or not */
	memset(big, 'a', sizeof(big));
	token_file(big, 256, 0600);
	assert_int_equal(load(tok, sizeof(tok), err, sizeof(err)), -1);
	assert_non_null(strstr(err, ": the token is longer than 255 bytes"));
	assert_wiped(tok, sizeof(tok));
	big[256] = '\n';
	token_file(big, 257, 0600);
	assert_int_equal(load(tok, sizeof(tok), err, sizeof(err)), -1);
	assert_non_null(strstr(err, ": the token is longer than 255 bytes"));
	token_file(big, sizeof(big), 0600);
	assert_int_equal(load(tok, sizeof(tok), err, sizeof(err)), -1);
	assert_non_null(strstr(err, ": the token is longer than 255 bytes"));

	/* missing, or not a file */
	memset(tok, 'x', sizeof(tok));
	assert_int_equal(adminapi_load_token("/nonexistent/poolgate.token", tok,
	    sizeof(tok), err, sizeof(err)), -1);
	assert_string_equal(err, "admin.token_file /nonexistent/poolgate.token: "
	    "No such file or directory");
	assert_wiped(tok, sizeof(tok));
	assert_int_equal(adminapi_load_token("/tmp", tok, sizeof(tok), err,
	    sizeof(err)), -1);
	assert_string_equal(err, "admin.token_file /tmp: not a regular file");
}

/*
 * The cluster link is not under test here (the pool functions are faked
 * above): a node without a cluster group never calls these but the drain.
 */
void
cl_node_set_draining(struct cl_node *c, bool draining)
{
	assert_null(c);
	(void)draining;
}

void
cl_node_status(const struct cl_node *c, struct cl_status *st)
{
	(void)c;
	(void)st;
	fail_msg("cl_node_status without a cluster");
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_get_list),
		T(test_get_one),
		T(test_output_escaped),
		T(test_name_rule),
		T(test_auth_missing_401),
		T(test_auth_wrong_403),
		T(test_auth_token_not_set),
		T(test_auth_logged),
		T(test_auth_locked_out_per_address),
		T(test_put_create),
		T(test_put_update),
		T(test_put_invalid),
		T(test_put_content_type_415),
		T(test_put_too_large_413),
		T(test_put_conflict_409),
		T(test_delete_202),
		T(test_drain_ready_maint),
		T(test_node_drain_ready),
		T(test_methods_405),
		T(test_routes_404),
		cmocka_unit_test(test_load_token),
		cmocka_unit_test(test_load_token_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
