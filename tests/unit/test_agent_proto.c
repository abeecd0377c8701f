/*
 * test_agent_proto.c -- poolgate-agent's port: telling the agent-check line
 * from HTTP, the HTTP request head, the line itself (the shell agent's cases
 * byte for byte, and read back by poolgate's own parser, backends/agent.c),
 * and the live server (agent/serve.c) on 127.0.0.1: a silent checker, a
 * checker that sends first, GET /v1/report, bad requests, the caps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>

#include "agent/collect.h"
#include "agent/conf.h"
#include "agent/load.h"
#include "agent/proto.h"
#include "agent/serve.h"
#include "agent/util.h"
#include "backends/agent.h"
#include "lib/json.h"

/* ---- sniffing ------------------------------------------------------------ */

static void
test_sniff(void **state)
{
	(void)state;
	assert_int_equal(ap_sniff("", 0), AP_SNIFF_MORE);
	assert_int_equal(ap_sniff("G", 1), AP_SNIFF_MORE);
	assert_int_equal(ap_sniff("GET", 3), AP_SNIFF_MORE);
	assert_int_equal(ap_sniff("GET ", 4), AP_SNIFF_HTTP);
	assert_int_equal(ap_sniff("GET /v1/report", 14), AP_SNIFF_HTTP);
	assert_int_equal(ap_sniff("HEAD /", 6), AP_SNIFF_HTTP);
	assert_int_equal(ap_sniff("POST ", 5), AP_SNIFF_HTTP);
	assert_int_equal(ap_sniff("OPTIONS ", 8), AP_SNIFF_HTTP);
	assert_int_equal(ap_sniff("OPTION", 6), AP_SNIFF_MORE);
	/* HAProxy's agent-send, or anything else: the line at once */
	assert_int_equal(ap_sniff("ping\n", 5), AP_SNIFF_LINE);
	assert_int_equal(ap_sniff("\n", 1), AP_SNIFF_LINE);
	assert_int_equal(ap_sniff("get ", 4), AP_SNIFF_LINE);
	assert_int_equal(ap_sniff("GETX", 4), AP_SNIFF_LINE);
	assert_int_equal(ap_sniff("GET\t", 4), AP_SNIFF_LINE);
	assert_int_equal(ap_sniff("\x16\x03\x01", 3), AP_SNIFF_LINE);  /* TLS */
}

/* ---- the request head ---------------------------------------------------- */

static int
parse(const char *head, struct ap_request *r, const char **why)
{
	size_t hl = ap_head_len(head, strlen(head));

	if (hl == 0)
		return 0;
	return ap_parse_head(head, hl, r, why);
}

static void
test_head_len(void **state)
{
	char big[AP_HEAD_MAX + 100];

	(void)state;
	assert_int_equal(ap_head_len("GET / HTTP/1.1\r\nHost: a\r\n\r\nrest", 31), 27);
	assert_int_equal(ap_head_len("GET / HTTP/1.0\n\n", 16), 16);
	assert_int_equal(ap_head_len("GET / HTTP/1.1\r\nHost: a\r\n", 25), 0);
	assert_int_equal(ap_head_len("GET / HTTP/1.1\r\n\r", 17), 0);
	/* The end beyond the cap is not looked for. */
	memset(big, 'a', sizeof(big));
	memcpy(big + AP_HEAD_MAX, "\r\n\r\n", 4);
	assert_int_equal(ap_head_len(big, sizeof(big)), 0);
}

static void
test_head_ok(void **state)
{
	struct ap_request r;
	const char *why;

	(void)state;
	assert_int_equal(parse("GET /v1/report HTTP/1.1\r\nHost: vm1:9101\r\n"
	    "Accept: */*\r\n\r\n", &r, &why), 200);
	assert_string_equal(r.method, "GET");
	assert_string_equal(r.path, "/v1/report");
	assert_int_equal(r.minor, 1);
	assert_int_equal(parse("HEAD /v1/report?x=1#f HTTP/1.1\r\nhost: a\r\n\r\n",
	    &r, &why), 200);
	assert_string_equal(r.method, "HEAD");
	assert_string_equal(r.path, "/v1/report");
	/* HTTP/1.0 needs no Host; bare LF is accepted */
	assert_int_equal(parse("GET /v1/report HTTP/1.0\n\n", &r, &why), 200);
	assert_int_equal(r.minor, 0);
	/* absolute-form: the authority is dropped */
	assert_int_equal(parse("GET http://vm1:9101/v1/report HTTP/1.1\r\n"
	    "Host: vm1\r\n\r\n", &r, &why), 200);
	assert_int_equal(parse("GET /v1/report HTTP/1.1\r\nHost: a\r\nX-Empty:\r\n"
	    "X-Tab: a\tb\r\n\r\n", &r, &why), 200);
}

static void
test_head_statuses(void **state)
{
	struct ap_request r;
	const char *why;
	char *big;
	size_t i, n;

	(void)state;
	assert_int_equal(parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n", &r, &why), 404);
	assert_int_equal(parse("GET /v1/report/ HTTP/1.1\r\nHost: a\r\n\r\n", &r, &why), 404);
	assert_int_equal(parse("GET /v1/reportx HTTP/1.1\r\nHost: a\r\n\r\n", &r, &why), 404);
	assert_int_equal(parse("POST /v1/report HTTP/1.1\r\nHost: a\r\n\r\n", &r, &why), 405);
	assert_int_equal(parse("DELETE /v1/report HTTP/1.1\r\nHost: a\r\n\r\n", &r, &why), 405);
	assert_string_equal(why, "method not allowed");
	/* malformed: 400 */
	assert_int_equal(parse("GET /v1/report HTTP/1.1\r\n\r\n", &r, &why), 400);
	assert_string_equal(why, "HTTP/1.1 needs exactly one Host");
	assert_int_equal(parse("GET /v1/report HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
	    &r, &why), 400);
	assert_int_equal(parse("GET /v1/report HTTP/2.0\r\nHost: a\r\n\r\n", &r, &why), 400);
	assert_int_equal(parse("GET /v1/report HTTP/1.1 \r\nHost: a\r\n\r\n", &r, &why), 400);
	assert_int_equal(parse("GET  /v1/report HTTP/1.1\r\nHost: a\r\n\r\n", &r, &why), 400);
	assert_int_equal(parse("GET /v1/report\r\nHost: a\r\n\r\n", &r, &why), 400);
	assert_int_equal(parse("GET v1/report HTTP/1.1\r\nHost: a\r\n\r\n", &r, &why), 400);
	assert_int_equal(parse("GET /v1/report HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
	    &r, &why), 400);
	assert_string_equal(why, "obsolete line folding");
	assert_int_equal(parse("GET /v1/report HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n",
	    &r, &why), 400);
	assert_int_equal(parse("GET /v1/report HTTP/1.1\r\nHost: a\r\nNoColon\r\n\r\n",
	    &r, &why), 400);
	assert_int_equal(parse("GET /v1/report HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n",
	    &r, &why), 400);
	assert_int_equal(parse("GET /v1/report HTTP/1.1\r\nHost: a\x01\r\n\r\n",
	    &r, &why), 400);
	assert_int_equal(parse("GET /v1/\x7freport HTTP/1.1\r\nHost: a\r\n\r\n",
	    &r, &why), 400);
	assert_int_equal(parse("GET /v1/report HTTP/1.1\rHost: a\r\n\r\n", &r, &why), 400);
	assert_int_equal(parse("G@T /v1/report HTTP/1.1\r\nHost: a\r\n\r\n", &r, &why), 400);

	/* the caps: fields, target, head */
	big = malloc(AP_HEAD_MAX * 2);
	n = (size_t)sprintf(big, "GET /v1/report HTTP/1.1\r\nHost: a\r\n");
	for (i = 0; i < AP_FIELDS_MAX; i++)
		n += (size_t)sprintf(big + n, "X: %zu\r\n", i);
	strcpy(big + n, "\r\n");
	assert_int_equal(parse(big, &r, &why), 400);
	assert_string_equal(why, "too many header fields");
	n = (size_t)sprintf(big, "GET /");
	memset(big + n, 'a', AP_TARGET_MAX);
	strcpy(big + n + AP_TARGET_MAX, " HTTP/1.1\r\nHost: a\r\n\r\n");
	assert_int_equal(parse(big, &r, &why), 414);
	memset(big, 'a', AP_HEAD_MAX + 10);
	assert_int_equal(ap_parse_head(big, AP_HEAD_MAX + 10, &r, &why), 431);
	free(big);
}

static void
test_response_head(void **state)
{
	char b[512], tiny[16];
	size_t n;

	(void)state;
	n = ap_response_head(405, "application/json", 12, b, sizeof(b));
	assert_true(n > 0 && n == strlen(b));
	assert_non_null(strstr(b, "HTTP/1.1 405 Method Not Allowed\r\n"));
	assert_non_null(strstr(b, "Allow: GET, HEAD\r\n"));
	assert_non_null(strstr(b, "Content-Length: 12\r\n"));
	assert_non_null(strstr(b, "Connection: close\r\n\r\n"));
	n = ap_response_head(503, "application/json", 0, b, sizeof(b));
	assert_non_null(strstr(b, "Retry-After: 1\r\n"));
	assert_null(strstr(b, "Allow:"));
	assert_int_equal(ap_response_head(200, "application/json", 1, tiny,
	    sizeof(tiny)), 0);
}

/* ---- the line ------------------------------------------------------------ */

/* The line must be one that poolgate's parser reads as meant. */
static void
read_back(const char *line, int pct, bool drain, const char *reason)
{
	struct agent_reply r;

	assert_true(agent_complete(line, strlen(line)));
	assert_int_equal(agent_parse(line, strlen(line), &r), 0);
	assert_int_equal(r.weight_pct, pct);
	assert_true(r.has_admin);
	assert_int_equal(r.admin, drain ? BE_ADMIN_DRAIN : BE_ADMIN_READY);
	assert_int_equal(r.op, AGENT_OP_UP);
	assert_string_equal(r.note, "");
	if (reason != NULL)
		assert_string_equal(r.reason, reason);
	else
		assert_false(r.has_reason);
}

static void
test_line(void **state)
{
	char b[AP_LINE_MAX + 1], reason[300];

	(void)state;
	assert_int_equal(ap_line(62, false, NULL, b, sizeof(b)), 13);
	assert_string_equal(b, "62% ready up\n");
	read_back(b, 62, false, NULL);
	ap_line(-1, false, "", b, sizeof(b));
	assert_string_equal(b, "ready up\n");
	read_back(b, -1, false, NULL);
	ap_line(0, false, NULL, b, sizeof(b));  /* never 0%: that drains */
	assert_string_equal(b, "1% ready up\n");
	ap_line(250, false, NULL, b, sizeof(b));
	assert_string_equal(b, "100% ready up\n");
	ap_line(50, true, "kernel update\tat 14:00\001", b, sizeof(b));
	assert_string_equal(b, "50% drain up #kernel update at 14:00\n");
	read_back(b, 50, true, "kernel update at 14:00");
	memset(reason, 'x', sizeof(reason) - 1);
	reason[sizeof(reason) - 1] = '\0';
	ap_line(50, true, reason, b, sizeof(b));
	assert_int_equal(strlen(b), strlen("50% drain up #") + AP_REASON_MAX + 1);
	memset(reason, 'x', AP_REASON_MAX);
	reason[AP_REASON_MAX] = '\0';
	read_back(b, 50, true, reason);
}

/* ---- the load percent and the drain file: the shell agent's cases --------- */

static char tmpdir[64];

static void
fake(const char *load, const char *total, const char *avail)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/loadavg", tmpdir);
	f = fopen(path, "w");
	fprintf(f, "%s 0.50 0.20 1/123 4567\n", load);
	fclose(f);
	snprintf(path, sizeof(path), "%s/meminfo", tmpdir);
	f = fopen(path, "w");
	fprintf(f, "MemTotal:       %s kB\nMemFree:          1000 kB\n", total);
	if (avail != NULL)
		fprintf(f, "MemAvailable:   %s kB\n", avail);
	fclose(f);
}

static int
setup_tmp(void **state)
{
	(void)state;
	strcpy(tmpdir, "/tmp/agent-proto.XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown_tmp(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
test_load(void **state)
{
	char path[256];

	(void)state;
	fake("1.00", "16000000", "8000000");
	assert_int_equal(ld_read_percent(tmpdir, 4), 50);   /* memory tighter */
	fake("0.00", "16000000", "15000000");
	assert_int_equal(ld_read_percent(tmpdir, 4), 93);
	fake("0.00", "16000000", "16000000");
	assert_int_equal(ld_read_percent(tmpdir, 2), 100);
	fake("3.00", "16000000", "12000000");
	assert_int_equal(ld_read_percent(tmpdir, 4), 25);   /* cpu tighter */
	fake("9.50", "16000000", "12000000");
	assert_int_equal(ld_read_percent(tmpdir, 4), 1);    /* never 0 */
	fake("0.10", "16000000", "0");
	assert_int_equal(ld_read_percent(tmpdir, 4), 1);
	fake("0.50", "16000000", NULL);                     /* no MemAvailable */
	assert_int_equal(ld_read_percent(tmpdir, 1), 50);
	fake("0.25", "16000000", "16000000");
	assert_int_equal(ld_read_percent(tmpdir, 0), 75);   /* bad ncpu: 1 */
	snprintf(path, sizeof(path), "%s/loadavg", tmpdir);
	unlink(path);
	assert_int_equal(ld_read_percent(tmpdir, 4), -1);   /* unreadable */
	assert_int_equal(ld_percent("garbage", NULL, 1), -1);
	assert_int_equal(ld_percent("-1.0", NULL, 1), -1);
}

static void
test_drain(void **state)
{
	char path[256], reason[LD_REASON_MAX + 1], want[300];
	FILE *f;
	int i;

	(void)state;
	snprintf(path, sizeof(path), "%s/drain", tmpdir);
	unlink(path);
	assert_false(ld_drain(path, reason, sizeof(reason)));
	assert_string_equal(reason, "");
	f = fopen(path, "w");
	fclose(f);
	assert_true(ld_drain(path, reason, sizeof(reason)));
	snprintf(want, sizeof(want), "drain file %s", path);
	assert_string_equal(reason, want);
	f = fopen(path, "w");
	fprintf(f, "kernel update\tat 14:00\001\nsecond line\n");
	fclose(f);
	assert_true(ld_drain(path, reason, sizeof(reason)));
	assert_string_equal(reason, "kernel update at 14:00");
	f = fopen(path, "w");
	for (i = 0; i < 300; i++)
		fputc('x', f);
	fclose(f);
	assert_true(ld_drain(path, reason, sizeof(reason)));
	assert_int_equal(strlen(reason), LD_REASON_MAX);
	unlink(path);
}

/* ---- the server ---------------------------------------------------------- */

struct live {
	struct event_base *base;
	struct acf        *cfg;
	struct col        *col;
	struct srv        *srv;
	int                port;
};

static struct live L;

static int
setup_live(void **state)
{
	struct sockaddr_in *sin;
	struct cfg_errors errs = { 0 };
	struct acf *ccfg;
	char path[256];

	(void)state;
	if (setup_tmp(state) == -1)
		return -1;
	fake("1.00", "16000000", "8000000");
	assert_int_equal(acf_load(NULL, &L.cfg, &errs), 0);
	sin = (struct sockaddr_in *)&L.cfg->listen[0].ss;
	memset(sin, 0, sizeof(*sin));
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	L.cfg->listen[0].len = sizeof(*sin);
	L.cfg->nlisten = 1;
	L.cfg->line_wait_ms = 100;
	L.cfg->http_timeout_ms = 300;
	L.cfg->max_connections = 3;
	L.cfg->ncpu = 4;
	free(L.cfg->proc_root);
	L.cfg->proc_root = strdup(tmpdir);
	snprintf(path, sizeof(path), "%s/drain", tmpdir);
	free(L.cfg->drain_file);
	L.cfg->drain_file = strdup(path);
	/* The collector's copy: nothing to find, nothing to ask. */
	assert_int_equal(acf_load(NULL, &ccfg, &errs), 0);
	free(ccfg->proc_root);
	ccfg->proc_root = strdup(tmpdir);
	free(ccfg->utmp);
	ccfg->utmp = strdup("/nonexistent/utmp");
	free(ccfg->logind_dir);
	ccfg->logind_dir = strdup("/nonexistent/sessions");
	free(ccfg->ssh_dir);
	ccfg->ssh_dir = strdup(tmpdir);
	free(ccfg->gpu_command);
	ccfg->gpu_command = strdup("");
	ccfg->azure_enabled = false;
	L.col = col_new(ccfg);
	L.base = event_base_new();
	L.srv = srv_new(L.base, L.col, L.cfg, path, sizeof(path));
	assert_non_null(L.srv);
	L.port = srv_port(L.srv, 0);
	assert_true(L.port > 0);
	return 0;
}

static int
teardown_live(void **state)
{
	srv_free(L.srv);
	col_free(L.col);
	event_base_free(L.base);
	acf_free(L.cfg);
	return teardown_tmp(state);
}

static int
dial(void)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_port = htons((uint16_t)L.port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

/*
 * Send what (may be NULL) on a new connection and run the loop until the
 * agent closes it (or 3 s). Returns what came back (static); *ms the time
 * from the send to the first byte.
 */
static const char *
exchange(const char *what, size_t len, uint64_t *ms)
{
	static char out[1 << 16];
	size_t have = 0;
	uint64_t start, first = 0;
	struct pollfd p;
	ssize_t n;
	int fd = dial();

	if (what != NULL)
		assert_int_equal(send(fd, what, len, 0), (ssize_t)len);
	start = ag_mono_ms();
	for (;;) {
		event_base_loop(L.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		p.fd = fd;
		p.events = POLLIN;
		if (poll(&p, 1, 2) == 1) {
			n = recv(fd, out + have, sizeof(out) - 1 - have, 0);
			if (n > 0 && first == 0)
				first = ag_mono_ms();
			if (n > 0)
				have += (size_t)n;
			if (n == 0 || (n == -1 && errno != EAGAIN))
				break;
		}
		assert_true(ag_mono_ms() - start < 3000);
	}
	close(fd);
	out[have] = '\0';
	if (ms != NULL)
		*ms = first - start;
	return out;
}

static void
test_live_line(void **state)
{
	char path[256];
	uint64_t ms;
	FILE *f;

	(void)state;
	/* A silent checker (poolgate's check_agent.c) gets it after line_wait. */
	assert_string_equal(exchange(NULL, 0, &ms), "50% ready up\n");
	assert_true(ms >= 90 && ms < 1000);
	/* A checker that sends first (HAProxy's agent-send) gets it at once. */
	assert_string_equal(exchange("ping\n", 5, &ms), "50% ready up\n");
	assert_true(ms < 90);
	/* The drain file, as the shell agent read it. */
	snprintf(path, sizeof(path), "%s/drain", tmpdir);
	f = fopen(path, "w");
	fprintf(f, "kernel update\n");
	fclose(f);
	assert_string_equal(exchange("x", 1, NULL), "50% drain up #kernel update\n");
	read_back("50% drain up #kernel update\n", 50, true, "kernel update");
	unlink(path);
	/* A half-close before anything: still the line. */
	{
		int fd = dial();
		char buf[64] = "";
		uint64_t start = ag_mono_ms();
		ssize_t n = 0;

		shutdown(fd, SHUT_WR);
		while (n <= 0 && ag_mono_ms() - start < 2000) {
			event_base_loop(L.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
			n = recv(fd, buf, sizeof(buf) - 1, 0);
		}
		assert_true(n > 0);
		buf[n] = '\0';
		assert_string_equal(buf, "50% ready up\n");
		close(fd);
	}
}

static void
test_live_http(void **state)
{
	const char *out, *body;
	const struct json_node *root;
	struct json_doc *doc;
	char err[128];
	uint64_t ms;
	char *big;

	(void)state;
	/* Before the first collection: 503 with Retry-After. */
	out = exchange("GET /v1/report HTTP/1.1\r\nHost: a\r\n\r\n", 37, NULL);
	assert_non_null(strstr(out, "HTTP/1.1 503 "));
	assert_non_null(strstr(out, "Retry-After: 1\r\n"));

	col_cycle(L.col);
	out = exchange("GET /v1/report HTTP/1.1\r\nHost: a\r\n\r\n", 37, &ms);
	assert_true(ms < 90);       /* HTTP does not wait for line_wait */
	assert_non_null(strstr(out, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(out, "Content-Type: application/json\r\n"));
	body = strstr(out, "\r\n\r\n") + 4;
	doc = json_parse(body, strlen(body), err, sizeof(err));
	assert_non_null(doc);
	root = json_root(doc);
	{
		int64_t v = 0;

		assert_true(json_get_int(root, "version", &v));
		assert_int_equal(v, 1);
	}
	json_free(doc);

	/* HEAD: the head only */
	out = exchange("HEAD /v1/report HTTP/1.1\r\nHost: a\r\n\r\n", 38, NULL);
	assert_non_null(strstr(out, "HTTP/1.1 200 OK\r\n"));
	assert_string_equal(strstr(out, "\r\n\r\n"), "\r\n\r\n");

	out = exchange("GET /nope HTTP/1.1\r\nHost: a\r\n\r\n", 31, NULL);
	assert_non_null(strstr(out, "HTTP/1.1 404 "));
	out = exchange("POST /v1/report HTTP/1.1\r\nHost: a\r\n\r\n", 38, NULL);
	assert_non_null(strstr(out, "HTTP/1.1 405 "));
	out = exchange("GET /v1/report HTTP/1.1\r\n\r\n", 27, NULL);
	assert_non_null(strstr(out, "HTTP/1.1 400 "));
	/* A head that never ends: 408 after http_timeout. */
	out = exchange("GET /v1/report HTTP/1.1\r\n", 25, &ms);
	assert_non_null(strstr(out, "HTTP/1.1 408 "));
	assert_true(ms >= 280);
	/* A head over the cap: 431, without waiting for the end. */
	big = malloc(AP_HEAD_MAX + 64);
	memcpy(big, "GET /v1/report HTTP/1.1\r\nX: ", 28);
	memset(big + 28, 'a', AP_HEAD_MAX + 36);
	out = exchange(big, AP_HEAD_MAX + 64, NULL);
	assert_non_null(strstr(out, "HTTP/1.1 431 "));
	free(big);
}

static void
test_live_cap(void **state)
{
	int fds[3], extra, i;
	char buf[64];
	ssize_t n = -1;
	uint64_t start;

	(void)state;
	for (i = 0; i < 3; i++)
		fds[i] = dial();
	for (i = 0; i < 5; i++)
		event_base_loop(L.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	/* The fourth is closed on accept, without a line. */
	extra = dial();
	start = ag_mono_ms();
	while (ag_mono_ms() - start < 2000) {
		event_base_loop(L.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		n = recv(extra, buf, sizeof(buf), 0);
		if (n >= 0)
			break;
	}
	assert_int_equal(n, 0);
	close(extra);
	for (i = 0; i < 3; i++)
		close(fds[i]);
	/* The slots come back. */
	for (i = 0; i < 10; i++)
		event_base_loop(L.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	usleep(150000);
	for (i = 0; i < 10; i++)
		event_base_loop(L.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_string_equal(exchange("x", 1, NULL), "50% ready up\n");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sniff),
		cmocka_unit_test(test_head_len),
		cmocka_unit_test(test_head_ok),
		cmocka_unit_test(test_head_statuses),
		cmocka_unit_test(test_response_head),
		cmocka_unit_test(test_line),
		cmocka_unit_test_setup_teardown(test_load, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_drain, setup_tmp, teardown_tmp),
	};
	const struct CMUnitTest live[] = {
		cmocka_unit_test(test_live_line),
		cmocka_unit_test(test_live_http),
		cmocka_unit_test(test_live_cap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL) |
	    cmocka_run_group_tests(live, setup_live, teardown_live);
}
