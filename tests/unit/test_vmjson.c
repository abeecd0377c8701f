/*
 * test_vmjson.c -- the one VM serializer of the operator endpoint
 * (admin/vmjson.c): /status (VMJ_STATUS) and the admin API (VMJ_API) keep
 * their own fields in their own order, and a VM's text that is not UTF-8
 * -- a health check's last_error holding 0xff, 0xc3 0x28, an overlong or a
 * surrogate sequence -- comes out escaped the same way on both: one
 * \ufffd per invalid byte, \u00XX per control character, and both read
 * back with lib/json.c to the same strings.
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

#include "admin/admin.h"
#include "admin/vmjson.h"
#include "backends/affinity.h"
#include "backends/members.h"
#include "backends/report.h"
#include "backends/usersess.h"
#include "lib/json.h"
#include "lib/log.h"
#include "proxy/proxy.h"

static struct members mbr;
static struct px_ctx  px;
static struct adm_ctx adm;
static struct service svc_ssh, svc_jup;

/* What a VM sent: quotes, controls, and bytes that are not UTF-8. */
#define BAD_TEXT "bad \"x\" \xff|\xc3\x28|\xc0\xaf|\xe0\x80\xaf|\xed\xa0\x80|" \
	"\xf4\x90\x80\x80|\x01\n|caf\xc3\xa9|\xe2\x82"
/* ... as every endpoint writes it */
#define BAD_JSON "\"bad \\\"x\\\" \\ufffd|\\ufffd(|\\ufffd\\ufffd|" \
	"\\ufffd\\ufffd\\ufffd|\\ufffd\\ufffd\\ufffd|" \
	"\\ufffd\\ufffd\\ufffd\\ufffd|\\u0001\\u000a|caf\xc3\xa9|" \
	"\\ufffd\\ufffd\""
/* ... and as it reads back */
#define FFFD "\xef\xbf\xbd"
#define BAD_READ "bad \"x\" " FFFD "|" FFFD "(|" FFFD FFFD "|" FFFD FFFD FFFD \
	"|" FFFD FFFD FFFD "|" FFFD FFFD FFFD FFFD "|\x01\n|caf\xc3\xa9|" FFFD FFFD

static int
setup(void **state)
{
	struct cfg_backend cb;
	struct backend *b;
	struct us_ended ended;
	uint64_t now = pg_now_ms();

	memset(&mbr, 0, sizeof(mbr));
	memset(&px, 0, sizeof(px));
	memset(&adm, 0, sizeof(adm));
	pg_log_set_level(PG_LOG_ERR);
	snprintf(svc_ssh.cfg.name, sizeof(svc_ssh.cfg.name), "ssh");
	snprintf(svc_jup.cfg.name, sizeof(svc_jup.cfg.name), "jupyter");
	px.svc[0] = &svc_ssh;
	px.svc[1] = &svc_jup;
	px.nsvc = 2;
	px.mbr = &mbr;
	adm.px = &px;
	pool_init(&mbr.pool);
	assert_non_null(mbr.aff = aff_new(100, 3600000));
	assert_non_null(mbr.us = us_new(100, 600000));

	memset(&cb, 0, sizeof(cb));
	snprintf(cb.name, sizeof(cb.name), "vm1");
	assert_int_equal(cfg_parse_addr("10.0.0.4", false, &cb.address), 0);
	cb.address.text = "10.0.0.4";
	cb.weight = 2;
	cb.max_sessions = 20;
	assert_non_null(b = pool_add(&mbr.pool, &cb));
	b->sessions = 3;
	b->health[0].hc.up = true;
	b->health[0].last_check_ms = now;
	snprintf(b->health[1].last_error, sizeof(b->health[1].last_error), "%s",
	    BAD_TEXT);
	snprintf(b->agent_last, sizeof(b->agent_last), "%s", BAD_TEXT);
	assert_int_equal(us_request(mbr.us, "alice", "vm1", "10.1.1.1", now,
	    &ended), US_STARTED);
	assert_int_equal(aff_session_start(mbr.aff, "ip:10.1.1.1", "vm1", now), 0);
	return 0;
}

static int
teardown(void **state)
{
	pool_clear(&mbr.pool);
	aff_free(mbr.aff);
	us_free(mbr.us);
	return 0;
}

/* One VM in view, as a C string (freed by the caller). */
static char *
vm_json(enum vmj_view view)
{
	struct evbuffer *out = evbuffer_new();
	size_t n;
	char *s;

	assert_non_null(out);
	vmj_backend(out, &adm, mbr.pool.be[0], view, pg_now_ms());
	n = evbuffer_get_length(out);
	assert_non_null(s = malloc(n + 1));
	evbuffer_copyout(out, s, n);
	s[n] = '\0';
	evbuffer_free(out);
	return s;
}

/* The member names of the object s, in order, comma-separated. */
static void
keys_of(const char *s, char *buf, size_t len)
{
	char err[256];
	struct json_doc *d = json_parse(s, strlen(s), err, sizeof(err));
	size_t o = 0;

	if (d == NULL)
		fail_msg("not JSON: %s: %s", err, s);
	buf[0] = '\0';
	for (const struct json_node *c = json_root(d)->child; c != NULL;
	    c = c->next)
		o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? "," : "",
		    c->key);
	json_free(d);
}

static void
test_views_keep_their_fields(void **state)
{
	char *st = vm_json(VMJ_STATUS), *api = vm_json(VMJ_API), keys[512];

	keys_of(st, keys, sizeof(keys));
	assert_string_equal(keys, "name,address,state,takes_new,removed,weight,"
	    "max_sessions,sessions,load,http_connections,connections_total,"
	    "affinity,users,live,work,report,health");
	keys_of(api, keys, sizeof(keys));
	assert_string_equal(keys, "name,address,state,admin,agent_admin,source,"
	    "removed,weight,max_sessions,effective_weight_pct,"
	    "effective_max_sessions,sessions,load,agent,health");
	/* the fields both show are written alike */
	assert_true(strncmp(st, "{\"name\":\"vm1\",\"address\":\"10.0.0.4\","
	    "\"state\":\"down\",", 47) == 0);
	assert_true(strncmp(api, "{\"name\":\"vm1\",\"address\":\"10.0.0.4\","
	    "\"state\":\"down\",", 47) == 0);
	assert_non_null(strstr(st, ",\"removed\":false,\"weight\":2,"
	    "\"max_sessions\":20,\"sessions\":3,"));
	assert_non_null(strstr(api, ",\"removed\":false,\"weight\":2,"
	    "\"max_sessions\":20,"));
	assert_non_null(strstr(st, ",\"affinity\":1,\"users\":[\"alice\"],"));
	assert_non_null(strstr(api, ",\"load\":1.500,"));
	free(st);
	free(api);
}

static void
test_invalid_utf8_same_on_both(void **state)
{
	char *st = vm_json(VMJ_STATUS), *api = vm_json(VMJ_API), err[256];
	const char *want = "\"jupyter\":{\"up\":false,\"last_error\":" BAD_JSON;
	const char *ps = strstr(st, want), *pa = strstr(api, want);
	struct json_doc *ds, *da;
	const struct json_node *hs, *ha;

	/* byte for byte, the same escaping */
	if (ps == NULL)
		fail_msg("/status: %s", st);
	if (pa == NULL)
		fail_msg("/api/v1: %s", api);
	assert_non_null(strstr(api, "\"agent\":" BAD_JSON ","));

	/* both are valid JSON and read back to the same text */
	ds = json_parse(st, strlen(st), err, sizeof(err));
	if (ds == NULL)
		fail_msg("/status: %s", err);
	da = json_parse(api, strlen(api), err, sizeof(err));
	if (da == NULL)
		fail_msg("/api/v1: %s", err);
	hs = json_get(json_get(json_root(ds), "health"), "jupyter");
	ha = json_get(json_get(json_root(da), "health"), "jupyter");
	assert_string_equal(json_get_str(hs, "last_error"), BAD_READ);
	assert_string_equal(json_get_str(ha, "last_error"), BAD_READ);
	assert_string_equal(json_get_str(json_root(da), "agent"), BAD_READ);
	json_free(ds);
	json_free(da);
	free(st);
	free(api);
}

static void
test_invalid_utf8_in_names(void **state)
{
	struct backend *b = mbr.pool.be[0];
	char *st, *api;

	/* names are validated on the way in; the writer copes all the same */
	snprintf(svc_jup.cfg.name, sizeof(svc_jup.cfg.name), "j\xffp");
	snprintf(b->name, sizeof(b->name), "v\xc3\x28m");
	st = vm_json(VMJ_STATUS);
	api = vm_json(VMJ_API);
	assert_true(strncmp(st, "{\"name\":\"v\\ufffd(m\",", 19) == 0);
	assert_true(strncmp(api, "{\"name\":\"v\\ufffd(m\",", 19) == 0);
	assert_non_null(strstr(st, "\"j\\ufffdp\":{\"up\":false,"));
	assert_non_null(strstr(api, "\"j\\ufffdp\":{\"up\":false,"));
	snprintf(svc_jup.cfg.name, sizeof(svc_jup.cfg.name), "jupyter");
	free(st);
	free(api);
}

static void
test_str(void **state)
{
	struct evbuffer *out = evbuffer_new();
	char buf[64];
	size_t n;

	assert_non_null(out);
	vmj_str(out, "a\"\\\x7f\xff");
	n = evbuffer_get_length(out);
	assert_true(n < sizeof(buf));
	evbuffer_copyout(out, buf, n);
	buf[n] = '\0';
	assert_string_equal(buf, "\"a\\\"\\\\\\u007f\\ufffd\"");
	evbuffer_free(out);
}

/* The agent's report in /status: who has work, what kind, from where. */
static void
test_status_shows_the_report(void **state)
{
	struct backend *b = mbr.pool.be[0];
	struct vm_report *r = calloc(1, sizeof(*r));
	char *st;

	(void)state;
	assert_non_null(r);
	st = vm_json(VMJ_STATUS);
	assert_non_null(strstr(st, "\"work\":[],\"report\":null,"));
	free(st);
	r->users_with_work = 5;
	r->nusers = 2;
	snprintf(r->users[0].name, sizeof(r->users[0].name), "alice");
	r->users[0].work = true;
	r->users[0].kinds = (1u << REP_K_SSH) | (1u << REP_K_PROCESS);
	r->users[0].idle_s = 7;
	snprintf(r->users[1].name, sizeof(r->users[1].name), "idle\"one");
	r->users[1].idle_s = -1;
	r->nsessions = 1;
	snprintf(r->sessions[0].user, sizeof(r->sessions[0].user), "alice");
	snprintf(r->sessions[0].peer_addr, sizeof(r->sessions[0].peer_addr),
	    "10.231.0.1");
	r->sessions[0].peer_port = 40000;
	r->evict_pending = true;
	snprintf(r->evict.type, sizeof(r->evict.type), "Terminate");
	r->evict.deadline_s = -1;
	b->report = r;
	b->report_ok = true;
	b->report_ms = pg_now_ms();
	b->reported = 5;
	b->evicting = true;
	b->identity_bad = true;
	snprintf(b->identity_why, sizeof(b->identity_why), "%s", BAD_TEXT);
	st = vm_json(VMJ_STATUS);
	/* load = max(3 sessions, 5 users with work) / weight 2 */
	assert_non_null(strstr(st, "\"load\":2.500,"));
	assert_non_null(strstr(st, "\"work\":[{\"user\":\"alice\",\"kinds\":"
	    "[\"ssh\",\"process\"],\"idle_s\":7,\"ssh_peers\":[{\"address\":"
	    "\"10.231.0.1\",\"port\":40000,\"client\":null}]}],"));
	assert_non_null(strstr(st, "\"report\":{\"ok\":true,\"ms_ago\":"));
	assert_non_null(strstr(st, "\"users_with_work\":5,\"reported_load\":5,"
	    "\"claims_lost\":0,"));
	assert_non_null(strstr(st, "\"host_identity\":{\"ok\":false,\"why\":"
	    BAD_JSON "},\"eviction\":{\"type\":\"Terminate\",\"id\":\"\","
	    "\"not_before\":\"\",\"deadline_s\":null}}"));
	free(st);
	/* A silent agent: the error, and the last report stays. */
	b->report_ok = false;
	snprintf(b->report_err, sizeof(b->report_err), "timeout");
	st = vm_json(VMJ_STATUS);
	assert_non_null(strstr(st, "\"ok\":false,"));
	assert_non_null(strstr(st, "\"error\":\"timeout\""));
	free(st);
	/* pool_clear frees b->report */
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_views_keep_their_fields),
		T(test_status_shows_the_report),
		T(test_invalid_utf8_same_on_both),
		T(test_invalid_utf8_in_names),
		cmocka_unit_test(test_str),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
