/*
 * test_http.c -- HTTP/1.1 head parser and chunked body tracker.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/http.h"

/* malloc that never returns NULL: a test cannot go on without memory. */
static void *
xmalloc(size_t n)
{
	void *p = malloc(n);

	if (p == NULL)
		abort();
	return p;
}

/* Big enough for any head the tests build, a few caps over. */
#define BIG (3 * HTTP_HEAD_MAX)

static int
preq(const char *s, struct http_req *r)
{
	return http_parse_request(s, strlen(s), r);
}

static int
presp(const char *s, enum http_method m, struct http_resp *r)
{
	return http_parse_response(s, strlen(s), m, r);
}

/* Parse s as a request and return only the verdict. */
static int
req_rc(const char *s)
{
	struct http_req r;
	int rc = preq(s, &r);

	if (rc < 0)
		assert_non_null(r.why);
	return rc;
}

static int
resp_rc(const char *s)
{
	struct http_resp r;
	int rc = presp(s, HTTP_M_GET, &r);

	if (rc < 0)
		assert_non_null(r.why);
	return rc;
}

static bool
slice_is(struct http_slice s, const char *want)
{
	return s.p != NULL && s.len == strlen(want) && memcmp(s.p, want, s.len) == 0;
}

/* "GET / HTTP/1.1\r\nHost: h\r\n<extra>\r\n" */
static int
get_with(const char *extra)
{
	char buf[1024];

	snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: h\r\n%s\r\n", extra);
	return req_rc(buf);
}

static int
resp_with(const char *status_line, const char *extra)
{
	char buf[1024];

	snprintf(buf, sizeof(buf), "%s\r\n%s\r\n", status_line, extra);
	return resp_rc(buf);
}

/* Every proper prefix of s must be HTTP_AGAIN or the full verdict. */
static void
assert_prefixes_consistent(const char *s, size_t len)
{
	struct http_req r;
	int full = http_parse_request(s, len, &r);
	size_t k;

	for (k = 0; k < len; k++) {
		int rc = http_parse_request(s, k, &r);

		if (full > 0 && (size_t)full <= k)
			assert_int_equal(rc, full);
		else if (rc != HTTP_AGAIN)
			assert_int_equal(rc, full);
	}
}

/* ---- requests: valid ------------------------------------------------- */

static void
test_get_simple(void **state)
{
	const char *s = "GET /hub/login?next=%2F HTTP/1.1\r\n"
	    "Host: pool.example.org:8000\r\n"
	    "User-Agent: curl/8.0\r\n"
	    "Accept: */*\r\n\r\n";
	struct http_req r;

	assert_int_equal(preq(s, &r), (int)strlen(s));
	assert_int_equal(r.method, HTTP_M_GET);
	assert_true(slice_is(r.method_name, "GET"));
	assert_true(slice_is(r.target, "/hub/login?next=%2F"));
	assert_int_equal(r.version, 11);
	assert_true(slice_is(r.host, "pool.example.org:8000"));
	assert_int_equal(r.fields.n, 3);
	assert_true(slice_is(r.fields.f[1].name, "User-Agent"));
	assert_true(slice_is(r.fields.f[1].value, "curl/8.0"));
	assert_int_equal(r.body, HTTP_BODY_NONE);
	assert_true(r.keep_alive);
	assert_false(r.upgrade_websocket);
	assert_false(r.expect_continue);
	assert_int_equal(r.ncookies, 0);
	assert_null(r.cookie.p);
	assert_null(r.why);
}

static void
test_head_length_excludes_body(void **state)
{
	const char *head = "POST /hub/login HTTP/1.1\r\nHost: h\r\n"
	    "Content-Type: application/x-www-form-urlencoded\r\n"
	    "Content-Length: 14\r\n\r\n";
	char buf[512];
	struct http_req r;

	snprintf(buf, sizeof(buf), "%susername=alice", head);
	assert_int_equal(preq(buf, &r), (int)strlen(head));
	assert_int_equal(r.method, HTTP_M_POST);
	assert_int_equal(r.body, HTTP_BODY_LENGTH);
	assert_int_equal(r.content_length, 14);
	assert_true(slice_is(r.content_type, "application/x-www-form-urlencoded"));
	assert_memory_equal(buf + strlen(head), "username=alice", 14);
}

static void
test_every_prefix_is_again(void **state)
{
	const char *s = "\r\nPUT /api/contents/x HTTP/1.1\r\nHost: h\r\n"
	    "Content-Length: 2\r\nX-Empty:\r\nX-Tab:\tv\t\r\n\r\n";
	struct http_req r;
	size_t k;

	for (k = 0; k < strlen(s); k++)
		assert_int_equal(http_parse_request(s, k, &r), HTTP_AGAIN);
	assert_int_equal(http_parse_request(s, strlen(s), &r), (int)strlen(s));
	assert_int_equal(r.method, HTTP_M_PUT);
	assert_true(slice_is(r.fields.f[2].name, "X-Empty"));
	assert_int_equal(r.fields.f[2].value.len, 0);
	assert_true(slice_is(r.fields.f[3].value, "v"));
	assert_int_equal(http_parse_request(NULL, 0, &r), HTTP_AGAIN);
}

static void
test_methods(void **state)
{
	static const struct {
		const char      *name;
		enum http_method m;
	} tab[] = {
		{ "GET", HTTP_M_GET }, { "HEAD", HTTP_M_HEAD }, { "POST", HTTP_M_POST },
		{ "PUT", HTTP_M_PUT }, { "DELETE", HTTP_M_DELETE },
		{ "OPTIONS", HTTP_M_OPTIONS }, { "PATCH", HTTP_M_PATCH },
		{ "PROPFIND", HTTP_M_OTHER }, { "get", HTTP_M_OTHER },
		{ "GETS", HTTP_M_OTHER }, { "M-SEARCH", HTTP_M_OTHER },
	};
	char buf[256];
	struct http_req r;
	size_t i;

	for (i = 0; i < sizeof(tab) / sizeof(tab[0]); i++) {
		snprintf(buf, sizeof(buf), "%s /x HTTP/1.1\r\nHost: h\r\n\r\n", tab[i].name);
		assert_int_equal(preq(buf, &r), (int)strlen(buf));
		assert_int_equal(r.method, tab[i].m);
		assert_true(slice_is(r.method_name, tab[i].name));
	}
	assert_int_equal(req_rc("CONNECT vm1:22 HTTP/1.1\r\nHost: vm1:22\r\n\r\n"), -501);
	/* CONNECT is refused as soon as its request line is there. */
	assert_int_equal(req_rc("CONNECT vm1:22 HTTP/1.1\r\n"), -501);
	assert_int_equal(req_rc("G(T / HTTP/1.1\r\nHost: h\r\n\r\n"), -400);
	assert_int_equal(req_rc("GE:T / HTTP/1.1\r\nHost: h\r\n\r\n"), -400);
	assert_int_equal(req_rc(" GET / HTTP/1.1\r\nHost: h\r\n\r\n"), -400);
	assert_int_equal(req_rc("GET\t/ HTTP/1.1\r\nHost: h\r\n\r\n"), -400);
}

static void
test_options_asterisk(void **state)
{
	struct http_req r;
	const char *s = "OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n";

	assert_int_equal(preq(s, &r), (int)strlen(s));
	assert_true(slice_is(r.target, "*"));
	assert_int_equal(req_rc("GET * HTTP/1.1\r\nHost: h\r\n\r\n"), -400);
}

static void
test_leading_empty_lines(void **state)
{
	const char *s = "\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
	struct http_req r;

	assert_int_equal(preq(s, &r), (int)strlen(s));
	assert_int_equal(r.method, HTTP_M_GET);
	assert_int_equal(req_rc("\r\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"), -400);
	assert_int_equal(req_rc("\nGET / HTTP/1.1\r\nHost: h\r\n\r\n"), -400);
}

static void
test_content_length(void **state)
{
	struct http_req r;
	const char *s = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n";

	assert_int_equal(preq(s, &r), (int)strlen(s));
	assert_int_equal(r.body, HTTP_BODY_NONE);

	s = "POST / HTTP/1.1\r\nHost: h\r\ncontent-length: 007\r\n\r\n";
	assert_int_equal(preq(s, &r), (int)strlen(s));
	assert_int_equal(r.body, HTTP_BODY_LENGTH);
	assert_int_equal(r.content_length, 7);

	/* identical duplicates are one value; different ones are refused */
	s = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\n";
	assert_int_equal(preq(s, &r), (int)strlen(s));
	assert_int_equal(r.content_length, 5);
	s = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5, 5\r\n\r\n";
	assert_int_equal(preq(s, &r), (int)strlen(s));
	assert_int_equal(r.content_length, 5);
	assert_int_equal(get_with("Content-Length: 5\r\nContent-Length: 6\r\n"), -400);
	assert_int_equal(get_with("Content-Length: 5, 6\r\n"), -400);
	assert_int_equal(get_with("Content-Length: 5,\r\n"), -400);

	assert_int_equal(get_with("Content-Length: \r\n"), -400);
	assert_int_equal(get_with("Content-Length: 5a\r\n"), -400);
	assert_int_equal(get_with("Content-Length: -1\r\n"), -400);
	assert_int_equal(get_with("Content-Length: +5\r\n"), -400);
	assert_int_equal(get_with("Content-Length: 0x10\r\n"), -400);
	assert_int_equal(get_with("Content-Length: 1 2\r\n"), -400);

	s = "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775807\r\n\r\n";
	assert_int_equal(preq(s, &r), (int)strlen(s));
	assert_true(r.content_length == (uint64_t)INT64_MAX);
	assert_int_equal(get_with("Content-Length: 9223372036854775808\r\n"), -400);
	assert_int_equal(get_with("Content-Length: 99999999999999999999999\r\n"), -400);
}

static void
test_transfer_encoding(void **state)
{
	struct http_req r;
	const char *s = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";

	assert_int_equal(preq(s, &r), (int)strlen(s));
	assert_int_equal(r.body, HTTP_BODY_CHUNKED);
	s = "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:  Chunked \r\n\r\n";
	assert_int_equal(preq(s, &r), (int)strlen(s));
	assert_int_equal(r.body, HTTP_BODY_CHUNKED);

	assert_int_equal(get_with("Transfer-Encoding: gzip, chunked\r\n"), -501);
	assert_int_equal(get_with("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n"), -501);
	assert_int_equal(get_with("Transfer-Encoding: chunked, gzip\r\n"), -400);
	assert_int_equal(get_with("Transfer-Encoding: gzip\r\n"), -400);
	assert_int_equal(get_with("Transfer-Encoding: identity\r\n"), -400);
	assert_int_equal(get_with("Transfer-Encoding: chunked, chunked\r\n"), -400);
	assert_int_equal(get_with("Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"), -400);
	assert_int_equal(get_with("Transfer-Encoding: \r\n"), -400);
	assert_int_equal(get_with("Transfer-Encoding: chunked;x=1\r\n"), -400);
	assert_int_equal(get_with("Transfer-Encoding: \"chunked\"\r\n"), -400);
	/* both framings: whichever one a backend picks, someone is fooled */
	assert_int_equal(get_with("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n"), -400);
	assert_int_equal(get_with("Transfer-Encoding: chunked\r\nContent-Length: 0\r\n"), -400);
	assert_int_equal(req_rc("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), -400);
}

static void
test_keep_alive(void **state)
{
	struct http_req r;

	assert_true(preq("GET / HTTP/1.1\r\nHost: h\r\n\r\n", &r) > 0);
	assert_true(r.keep_alive);
	assert_true(preq("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", &r) > 0);
	assert_false(r.keep_alive);
	assert_true(preq("GET / HTTP/1.1\r\nHost: h\r\nConnection: Keep-Alive, CLOSE\r\n\r\n", &r) > 0);
	assert_false(r.keep_alive);
	assert_true(preq("GET / HTTP/1.1\r\nHost: h\r\nConnection: x\r\nConnection: ,close\r\n\r\n", &r) > 0);
	assert_false(r.keep_alive);
	assert_true(preq("GET / HTTP/1.1\r\nHost: h\r\nConnection: closed\r\n\r\n", &r) > 0);
	assert_true(r.keep_alive);
	assert_true(preq("GET / HTTP/1.0\r\n\r\n", &r) > 0);
	assert_int_equal(r.version, 10);
	assert_false(r.keep_alive);
	assert_null(r.host.p);
	assert_true(preq("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &r) > 0);
	assert_true(r.keep_alive);
	assert_true(preq("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", &r) > 0);
	assert_false(r.keep_alive);
	assert_int_equal(get_with("Connection: keep alive\r\n"), -400);
	assert_int_equal(get_with("Connection: a/b\r\n"), -400);
}

#define WS_OK "Connection: Upgrade\r\nUpgrade: websocket\r\n" \
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"

static void
test_websocket(void **state)
{
	const char *s = "GET /user/alice/api/kernels/1/channels HTTP/1.1\r\nHost: h\r\n"
	    "Connection: keep-alive, Upgrade\r\nUpgrade: WebSocket\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
	    "Cookie: jupyterhub-user-alice=abc\r\n\r\n";
	struct http_req r;

	assert_int_equal(preq(s, &r), (int)strlen(s));
	assert_true(r.upgrade_websocket);
	assert_true(slice_is(r.ws_key, "dGhlIHNhbXBsZSBub25jZQ=="));
	assert_int_equal(get_with(WS_OK), (int)strlen("GET / HTTP/1.1\r\nHost: h\r\n" WS_OK "\r\n"));

	assert_int_equal(get_with("Connection: Upgrade\r\nUpgrade: websocket\r\n"
	    "Sec-WebSocket-Version: 13\r\n"), -400);
	assert_int_equal(get_with("Connection: Upgrade\r\nUpgrade: websocket\r\n"
	    "Sec-WebSocket-Key:\r\nSec-WebSocket-Version: 13\r\n"), -400);
	assert_int_equal(get_with("Connection: Upgrade\r\nUpgrade: websocket\r\n"
	    "Sec-WebSocket-Key: a\r\nSec-WebSocket-Key: b\r\nSec-WebSocket-Version: 13\r\n"), -400);
	assert_int_equal(get_with("Connection: Upgrade\r\nUpgrade: websocket\r\n"
	    "Sec-WebSocket-Key: a\r\nSec-WebSocket-Version: 8\r\n"), -400);
	assert_int_equal(get_with("Connection: Upgrade\r\nUpgrade: websocket\r\n"
	    "Sec-WebSocket-Key: a\r\n"), -400);
	assert_int_equal(get_with("Connection: Upgrade\r\nUpgrade: websocket\r\n"
	    "Sec-WebSocket-Key: a\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 8\r\n"), -400);
	assert_int_equal(req_rc("POST / HTTP/1.1\r\nHost: h\r\n" WS_OK "\r\n"), -400);

	/* not an upgrade: no Connection: upgrade, or HTTP/1.0 (RFC 9110 7.8) */
	assert_true(preq("GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n", &r) > 0);
	assert_false(r.upgrade_websocket);
	assert_true(preq("GET / HTTP/1.0\r\n" WS_OK "\r\n", &r) > 0);
	assert_false(r.upgrade_websocket);
	assert_true(preq("GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: h2c\r\n\r\n", &r) > 0);
	assert_false(r.upgrade_websocket);
}

static void
test_expect(void **state)
{
	struct http_req r;

	assert_true(preq("PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n"
	    "Expect: 100-Continue\r\n\r\n", &r) > 0);
	assert_true(r.expect_continue);
	assert_true(preq("PUT / HTTP/1.0\r\nContent-Length: 9\r\nExpect: 100-continue\r\n\r\n", &r) > 0);
	assert_false(r.expect_continue);
	assert_true(preq("PUT / HTTP/1.1\r\nHost: h\r\nExpect: something\r\n\r\n", &r) > 0);
	assert_false(r.expect_continue);
}

static void
test_host(void **state)
{
	struct http_req r;

	assert_int_equal(req_rc("GET / HTTP/1.1\r\n\r\n"), -400);
	assert_int_equal(req_rc("GET / HTTP/1.1\r\nX-Host: h\r\n\r\n"), -400);
	assert_int_equal(get_with("Host: h\r\n"), -400);
	assert_int_equal(get_with("host: other\r\n"), -400);
	assert_int_equal(req_rc("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"), -400);
	assert_int_equal(req_rc("GET / HTTP/1.1\r\nHost:\r\n\r\n"), -400);
	assert_int_equal(req_rc("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), -400);
	assert_int_equal(req_rc("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), -400);
	assert_int_equal(req_rc("GET / HTTP/1.1\r\nHost: a@b\r\n\r\n"), -400);
	assert_true(preq("GET / HTTP/1.1\r\nHOST: [2001:db8::1]:8000\r\n\r\n", &r) > 0);
	assert_true(slice_is(r.host, "[2001:db8::1]:8000"));
}

static void
test_cookies_and_field_lookup(void **state)
{
	const char *s = "GET / HTTP/1.1\r\nHost: h\r\nCookie: a=1\r\nX: y\r\n"
	    "cookie: b=2; pg=3\r\nCOOKIE:  c=4 \r\n\r\n";
	const struct http_field *f;
	struct http_req r;
	size_t pos = 0;

	assert_int_equal(preq(s, &r), (int)strlen(s));
	assert_int_equal(r.ncookies, 3);
	assert_true(slice_is(r.cookie, "a=1"));

	f = http_field_next(&r.fields, "Cookie", &pos);
	assert_non_null(f);
	assert_true(slice_is(f->value, "a=1"));
	assert_int_equal(pos, 2);
	f = http_field_next(&r.fields, "Cookie", &pos);
	assert_non_null(f);
	assert_true(slice_is(f->value, "b=2; pg=3"));
	f = http_field_next(&r.fields, "Cookie", &pos);
	assert_non_null(f);
	assert_true(slice_is(f->value, "c=4"));
	assert_null(http_field_next(&r.fields, "Cookie", &pos));
	assert_null(http_field_next(&r.fields, "Cookie", &pos));

	f = http_field_next(&r.fields, "x", NULL);
	assert_non_null(f);
	assert_true(slice_is(f->value, "y"));
	assert_null(http_field_next(&r.fields, "Cooki", NULL));
	assert_null(http_field_next(&r.fields, "Cookies", NULL));
}

static void
test_list_has_and_reason(void **state)
{
	assert_true(http_list_has("keep-alive, Upgrade", 19, "upgrade"));
	assert_true(http_list_has(" ,, close ,", 11, "close"));
	assert_false(http_list_has("closed", 6, "close"));
	assert_false(http_list_has("clos", 4, "close"));
	assert_false(http_list_has("", 0, "close"));
	assert_false(http_list_has(NULL, 0, "close"));
	assert_string_equal(http_reason(400), "Bad Request");
	assert_string_equal(http_reason(431), "Request Header Fields Too Large");
	assert_string_equal(http_reason(505), "HTTP Version Not Supported");
	assert_string_equal(http_reason(999), "Unknown");
}

/* ---- requests: invalid ----------------------------------------------- */

static void
test_line_endings(void **state)
{
	assert_int_equal(req_rc("GET / HTTP/1.1\nHost: h\r\n\r\n"), -400);
	assert_int_equal(req_rc("GET / HTTP/1.1\r\nHost: h\n\r\n"), -400);
	assert_int_equal(req_rc("GET / HTTP/1.1\r\nHost: h\r\n\n"), -400);
	assert_int_equal(req_rc("GET / HTTP/1.1\nHost: h\n\n"), -400);
	assert_int_equal(req_rc("GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n"), -400);
	assert_int_equal(req_rc("GET / HTTP/1.1\r\nHost: h\r\n\r\r\n"), -400);
	assert_int_equal(req_rc("GET /\r HTTP/1.1\r\nHost: h\r\n\r\n"), -400);
	/* a bare CR is refused as soon as the byte after it is here */
	assert_int_equal(req_rc("GET / HTTP/1.1\rX"), -400);
	assert_int_equal(req_rc("GET / HTTP/1.1\r"), HTTP_AGAIN);
}

static void
test_control_characters(void **state)
{
	static const char *bad[] = {
		"GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nX: a\x1fz\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nX: a\x7f\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nX: \x0b\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nX\t: a\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nX\x01: a\r\n\r\n",
		"GET /\t HTTP/1.1\r\nHost: h\r\n\r\n",
		"\x16\x03\x01\x02",   /* TLS ClientHello on the plain port: at once */
	};
	char nul[] = "GET / HTTP/1.1\r\nHost: h\r\nX: a_b\r\n\r\n";
	struct http_req r;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(req_rc(bad[i]), -400);
	nul[29] = '\0';
	assert_int_equal(http_parse_request(nul, sizeof(nul) - 1, &r), -400);
	/* HTAB and obs-text are fine in values */
	assert_true(get_with("X: a\tb\r\nY: caf\xc3\xa9\r\n") > 0);
}

static void
test_obs_fold_and_field_syntax(void **state)
{
	struct http_req r;

	/* the log line names the defect */
	assert_int_equal(preq("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n", &r), -400);
	assert_non_null(strstr(r.why, "folding"));
	assert_int_equal(preq("GET / HTTP/1.1\r\nHost: h\r\nX : a\r\n\r\n", &r), -400);
	assert_string_equal(r.why, "whitespace before colon in header field");
	assert_int_equal(get_with("X: a\r\n  continued\r\n"), -400);
	assert_int_equal(get_with("X: a\r\n\tcontinued\r\n"), -400);
	assert_int_equal(req_rc("GET / HTTP/1.1\r\n Host: h\r\n\r\n"), -400);
	assert_int_equal(get_with("X : a\r\n"), -400);
	assert_int_equal(get_with("X\t: a\r\n"), -400);
	assert_int_equal(get_with("Content-Length : 5\r\n"), -400);
	assert_int_equal(get_with(": a\r\n"), -400);
	assert_int_equal(get_with("NoColon\r\n"), -400);
	assert_int_equal(get_with("X(y): a\r\n"), -400);
	assert_int_equal(get_with("X y: a\r\n"), -400);
	assert_int_equal(get_with("X\xc3\xa9: a\r\n"), -400);
	assert_true(get_with("X-Y_z.1~!#$%&'*+^`|: a:b: c\r\n") > 0);
}

static void
test_request_target(void **state)
{
	assert_int_equal(req_rc("GET  HTTP/1.1\r\nHost: h\r\n\r\n"), -400);
	assert_int_equal(req_rc("GET  / HTTP/1.1\r\nHost: h\r\n\r\n"), -400);
	assert_int_equal(req_rc("GET /a b HTTP/1.1\r\nHost: h\r\n\r\n"), -400);
	assert_int_equal(req_rc("GET / HTTP/1.1 \r\nHost: h\r\n\r\n"), -400);
	assert_int_equal(req_rc("GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n"), -400);
	assert_int_equal(req_rc("GET h:80 HTTP/1.1\r\nHost: h\r\n\r\n"), -400);
	assert_int_equal(req_rc("GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n"), -400);
	assert_int_equal(req_rc("GET /\x7f HTTP/1.1\r\nHost: h\r\n\r\n"), -400);
	assert_int_equal(req_rc("GET /\r\nHost: h\r\n\r\n"), -400);
	assert_int_equal(req_rc("GET\r\nHost: h\r\n\r\n"), -400);
	assert_true(req_rc("GET /a/b;c=d?e=f&g=%20#frag HTTP/1.1\r\nHost: h\r\n\r\n") > 0);
}

static void
test_version(void **state)
{
	assert_int_equal(req_rc("GET / HTTP/2.0\r\nHost: h\r\n\r\n"), -505);
	assert_int_equal(req_rc("GET / HTTP/0.9\r\nHost: h\r\n\r\n"), -505);
	assert_int_equal(req_rc("GET / HTTP/1.2\r\nHost: h\r\n\r\n"), -505);
	assert_int_equal(req_rc("GET / HTTP/3.1\r\n"), -505);
	assert_int_equal(req_rc("GET / HTTP/1.1x\r\nHost: h\r\n\r\n"), -400);
	assert_int_equal(req_rc("GET / HTTP/1.10\r\nHost: h\r\n\r\n"), -400);
	assert_int_equal(req_rc("GET / http/1.1\r\nHost: h\r\n\r\n"), -400);
	assert_int_equal(req_rc("GET / HTTP/11\r\nHost: h\r\n\r\n"), -400);
	assert_int_equal(req_rc("GET / HTTP/2\r\nHost: h\r\n\r\n"), -400);
	assert_int_equal(req_rc("GET / HTTP/a.b\r\nHost: h\r\n\r\n"), -400);
	assert_int_equal(req_rc("GET / \r\nHost: h\r\n\r\n"), -400);
}

/* ---- caps ------------------------------------------------------------ */

/*
 * A GET whose request line has exactly linelen bytes before its CRLF.
 * The target is padded by filling the line and then writing "GET /" over
 * its start: a memset at buf + 5 made GCC 12's -fsanitize=nonnull-attribute
 * (part of undefined) check buf + 5 against NULL, and on that path
 * -Warray-bounds saw a write into an object of size 0.
 */
static size_t
long_line(char *buf, size_t linelen)
{
	const char *tail = " HTTP/1.1\r\nHost: h\r\n\r\n";
	size_t n = linelen - 9;

	memset(buf, 'a', n);
	memcpy(buf, "GET /", 5);
	memcpy(buf + n, tail, strlen(tail) + 1);
	return strlen(buf);
}

static void
test_cap_request_line(void **state)
{
	char *buf = xmalloc(BIG);
	struct http_req r;
	size_t len;

	len = long_line(buf, HTTP_LINE_MAX);
	assert_int_equal(http_parse_request(buf, len, &r), (int)len);
	assert_int_equal(r.target.len, HTTP_LINE_MAX - 4 - 9);
	/* incomplete, line at the cap: still waiting */
	assert_int_equal(http_parse_request(buf, HTTP_LINE_MAX, &r), HTTP_AGAIN);
	assert_int_equal(http_parse_request(buf, HTTP_LINE_MAX + 1, &r), HTTP_AGAIN);

	len = long_line(buf, HTTP_LINE_MAX + 1);
	assert_int_equal(http_parse_request(buf, len, &r), -414);
	assert_string_equal(r.why, "request line too long");
	/* one byte over the cap decides it, before any CRLF */
	assert_int_equal(http_parse_request(buf, HTTP_LINE_MAX + 1, &r), -414);
	assert_int_equal(http_parse_request(buf, HTTP_LINE_MAX, &r), HTTP_AGAIN);
	free(buf);
}

/* A request head of exactly headlen bytes, padded in one X-Pad field. */
static size_t
long_head(char *buf, size_t headlen)
{
	const char *start = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ";
	size_t n = strlen(start);

	memcpy(buf, start, n);
	memset(buf + n, 'p', headlen - n - 4);
	memcpy(buf + headlen - 4, "\r\n\r\n", 5);
	return headlen;
}

static void
test_cap_head(void **state)
{
	char *buf = xmalloc(BIG);
	struct http_req r;
	size_t k;

	long_head(buf, HTTP_HEAD_MAX);
	assert_int_equal(http_parse_request(buf, HTTP_HEAD_MAX, &r), HTTP_HEAD_MAX);
	for (k = HTTP_HEAD_MAX - 4; k < HTTP_HEAD_MAX; k++)
		assert_int_equal(http_parse_request(buf, k, &r), HTTP_AGAIN);

	long_head(buf, HTTP_HEAD_MAX + 1);
	assert_int_equal(http_parse_request(buf, HTTP_HEAD_MAX + 1, &r), -431);
	assert_string_equal(r.why, "head too large");
	/* a buffer at the cap without the end of the head is already over */
	assert_int_equal(http_parse_request(buf, HTTP_HEAD_MAX, &r), -431);
	assert_int_equal(http_parse_request(buf, HTTP_HEAD_MAX - 1, &r), HTTP_AGAIN);
	/* the same with the head cut inside its final CRLF CRLF */
	long_head(buf, HTTP_HEAD_MAX + 2);
	assert_int_equal(http_parse_request(buf, HTTP_HEAD_MAX, &r), -431);
	long_head(buf, HTTP_HEAD_MAX + 3);
	assert_int_equal(http_parse_request(buf, HTTP_HEAD_MAX, &r), -431);

	/* empty lines before the request line count too */
	memset(buf, 0, BIG);
	for (k = 0; k + 1 < HTTP_HEAD_MAX; k += 2)
		memcpy(buf + k, "\r\n", 2);
	assert_int_equal(http_parse_request(buf, HTTP_HEAD_MAX - 2, &r), HTTP_AGAIN);
	assert_int_equal(http_parse_request(buf, HTTP_HEAD_MAX, &r), -431);
	free(buf);
}

/* "GET ...", Host and n-1 more fields; complete when `end`. */
static size_t
many_fields(char *buf, size_t n, bool end)
{
	size_t len, i;

	len = (size_t)sprintf(buf, "GET / HTTP/1.1\r\nHost: h\r\n");
	for (i = 1; i < n; i++)
		len += (size_t)sprintf(buf + len, "X-%zu: v\r\n", i);
	if (end)
		len += (size_t)sprintf(buf + len, "\r\n");
	return len;
}

static void
test_cap_fields(void **state)
{
	char *buf = xmalloc(BIG);
	struct http_req r;
	size_t len;

	len = many_fields(buf, HTTP_FIELDS_MAX, true);
	assert_int_equal(http_parse_request(buf, len, &r), (int)len);
	assert_int_equal(r.fields.n, HTTP_FIELDS_MAX);
	assert_true(slice_is(r.fields.f[HTTP_FIELDS_MAX - 1].name, "X-99"));
	len = many_fields(buf, HTTP_FIELDS_MAX, false);
	assert_int_equal(http_parse_request(buf, len, &r), HTTP_AGAIN);
	buf[len] = '\r';
	assert_int_equal(http_parse_request(buf, len + 1, &r), HTTP_AGAIN);

	len = many_fields(buf, HTTP_FIELDS_MAX + 1, true);
	assert_int_equal(http_parse_request(buf, len, &r), -431);
	assert_string_equal(r.why, "too many header fields");
	/* the first byte of field 101 is enough */
	len = many_fields(buf, HTTP_FIELDS_MAX, false);
	buf[len] = 'X';
	assert_int_equal(http_parse_request(buf, len + 1, &r), -431);
	free(buf);
}

static void
test_verdicts_never_change(void **state)
{
	static const char *cases[] = {
		"GET / HTTP/1.1\r\nHost: h\r\nX : y\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
		"GET / HTTP/2.0\r\nHost: h\r\n\r\n",
		"GET / HTTP/1.1\r\n\r\nextra",
		"\r\n\r\nPOST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc",
		"GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\n\r\n",
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_prefixes_consistent(cases[i], strlen(cases[i]));
}

/* ---- responses ------------------------------------------------------- */

static void
test_response_framing(void **state)
{
	struct http_resp r;
	const char *s = "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nContent-Type: text/html\r\n\r\n";

	assert_int_equal(presp(s, HTTP_M_GET, &r), (int)strlen(s));
	assert_int_equal(r.status, 200);
	assert_int_equal(r.version, 11);
	assert_true(slice_is(r.reason, "OK"));
	assert_int_equal(r.body, HTTP_BODY_LENGTH);
	assert_int_equal(r.content_length, 12);
	assert_true(r.keep_alive);
	assert_true(slice_is(r.content_type, "text/html"));
	/* the same answer to HEAD has no body */
	assert_int_equal(presp(s, HTTP_M_HEAD, &r), (int)strlen(s));
	assert_int_equal(r.body, HTTP_BODY_NONE);
	assert_int_equal(r.content_length, 12);
	assert_true(r.keep_alive);

	s = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
	assert_int_equal(presp(s, HTTP_M_GET, &r), (int)strlen(s));
	assert_int_equal(r.body, HTTP_BODY_CHUNKED);
	assert_true(presp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
	    HTTP_M_GET, &r) > 0);
	assert_int_equal(r.body, HTTP_BODY_CHUNKED);
	assert_int_equal(presp(s, HTTP_M_HEAD, &r), (int)strlen(s));
	assert_int_equal(r.body, HTTP_BODY_NONE);

	/* no framing, or a final coding that is not chunked: until close */
	assert_true(presp("HTTP/1.1 200 OK\r\n\r\n", HTTP_M_GET, &r) > 0);
	assert_int_equal(r.body, HTTP_BODY_CLOSE);
	assert_false(r.keep_alive);
	assert_true(presp("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", HTTP_M_GET, &r) > 0);
	assert_int_equal(r.body, HTTP_BODY_CLOSE);
	assert_false(r.keep_alive);

	assert_true(presp("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", HTTP_M_GET, &r) > 0);
	assert_int_equal(r.body, HTTP_BODY_NONE);
	assert_true(r.keep_alive);
}

static void
test_response_no_body_statuses(void **state)
{
	static const char *cases[] = {
		"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
		"HTTP/1.1 304 Not Modified\r\nContent-Length: 5000\r\nETag: \"x\"\r\n\r\n",
		"HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\n",
		"HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n",
		"HTTP/1.1 204\r\n\r\n",
	};
	struct http_resp r;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(presp(cases[i], HTTP_M_GET, &r), (int)strlen(cases[i]));
		assert_int_equal(r.body, HTTP_BODY_NONE);
		assert_true(r.keep_alive);
	}
	assert_true(presp(cases[1], HTTP_M_GET, &r) > 0);
	assert_int_equal(r.status, 304);
	assert_int_equal(r.content_length, 5000);
}

static void
test_response_101(void **state)
{
	struct http_resp r;
	const char *s = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n";
	char buf[512];

	snprintf(buf, sizeof(buf), "%s\x81\x05hello", s);
	assert_int_equal(presp(buf, HTTP_M_GET, &r), (int)strlen(s));
	assert_int_equal(r.status, 101);
	assert_true(r.upgrade_websocket);
	assert_int_equal(r.body, HTTP_BODY_NONE);
	assert_true(presp("HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n"
	    "Connection: Upgrade\r\n\r\n", HTTP_M_GET, &r) > 0);
	assert_false(r.upgrade_websocket);
	assert_true(presp("HTTP/1.1 200 OK\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nContent-Length: 1\r\n\r\n", HTTP_M_GET, &r) > 0);
	assert_false(r.upgrade_websocket);
}

static void
test_response_keep_alive_and_reason(void **state)
{
	struct http_resp r;

	assert_true(presp("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", HTTP_M_GET, &r) > 0);
	assert_int_equal(r.version, 10);
	assert_false(r.keep_alive);
	assert_true(presp("HTTP/1.0 200 OK\r\nContent-Length: 1\r\nConnection: keep-alive\r\n\r\n",
	    HTTP_M_GET, &r) > 0);
	assert_true(r.keep_alive);
	assert_true(presp("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nConnection: close\r\n\r\n",
	    HTTP_M_GET, &r) > 0);
	assert_false(r.keep_alive);

	assert_true(presp("HTTP/1.1 200\r\nContent-Length: 1\r\n\r\n", HTTP_M_GET, &r) > 0);
	assert_int_equal(r.reason.len, 0);
	assert_true(presp("HTTP/1.1 404 \r\nContent-Length: 1\r\n\r\n", HTTP_M_GET, &r) > 0);
	assert_int_equal(r.status, 404);
	assert_int_equal(r.reason.len, 0);
	assert_true(presp("HTTP/1.1 500 Internal\tServer Error\r\nContent-Length: 1\r\n\r\n",
	    HTTP_M_GET, &r) > 0);
	assert_true(slice_is(r.reason, "Internal\tServer Error"));
}

static void
test_response_invalid(void **state)
{
	char *buf = xmalloc(BIG);
	size_t len, i;

	assert_int_equal(resp_rc("HTTP/2 200 OK\r\n\r\n"), -502);
	assert_int_equal(resp_rc("HTTP/2.0 200 OK\r\n\r\n"), -502);
	assert_int_equal(resp_rc("HTTP/1.1 20x OK\r\n\r\n"), -502);
	assert_int_equal(resp_rc("HTTP/1.1 2000 OK\r\n\r\n"), -502);
	assert_int_equal(resp_rc("HTTP/1.1 600 Nope\r\n\r\n"), -502);
	assert_int_equal(resp_rc("HTTP/1.1 099 Nope\r\n\r\n"), -502);
	assert_int_equal(resp_rc("HTTP/1.1  200 OK\r\n\r\n"), -502);
	assert_int_equal(resp_rc("HTTP/1.1 20\r\n\r\n"), -502);
	assert_int_equal(resp_rc("ICY 200 OK\r\n\r\n"), -502);
	assert_int_equal(resp_rc("\r\nHTTP/1.1 200 OK\r\n\r\n"), -502);
	assert_int_equal(resp_rc("HTTP/1.1 200 OK\nContent-Length: 1\r\n\r\n"), -502);
	assert_int_equal(resp_rc("HTTP/1.1 200 OK\r\nX: \x01\r\n\r\n"), -502);
	assert_int_equal(resp_with("HTTP/1.1 200 OK", "X : 1\r\n"), -502);
	assert_int_equal(resp_with("HTTP/1.1 200 OK", "X: 1\r\n 2\r\n"), -502);
	assert_int_equal(resp_with("HTTP/1.1 200 OK",
	    "Content-Length: 1\r\nTransfer-Encoding: chunked\r\n"), -502);
	assert_int_equal(resp_with("HTTP/1.0 200 OK", "Transfer-Encoding: chunked\r\n"), -502);
	assert_int_equal(resp_with("HTTP/1.1 200 OK", "Transfer-Encoding: chunked, gzip\r\n"), -502);
	assert_int_equal(resp_with("HTTP/1.1 200 OK", "Transfer-Encoding: chunked, chunked\r\n"), -502);
	assert_int_equal(resp_with("HTTP/1.1 200 OK", "Transfer-Encoding: ,\r\n"), -502);
	assert_int_equal(resp_with("HTTP/1.1 200 OK", "Content-Length: 1\r\nContent-Length: 2\r\n"), -502);
	assert_int_equal(resp_with("HTTP/1.1 200 OK", "Content-Length: x\r\n"), -502);
	/* framing junk is refused even where the body is ignored */
	assert_int_equal(resp_with("HTTP/1.1 304 Not Modified",
	    "Content-Length: 1\r\nTransfer-Encoding: chunked\r\n"), -502);

	/* caps, at and one past */
	memcpy(buf, "HTTP/1.1 200 ", 13);
	memset(buf + 13, 'r', HTTP_LINE_MAX - 13);
	memcpy(buf + HTTP_LINE_MAX, "\r\n\r\n", 5);
	assert_int_equal(resp_rc(buf), HTTP_LINE_MAX + 4);
	memset(buf + 13, 'r', HTTP_LINE_MAX + 1 - 13);
	memcpy(buf + HTTP_LINE_MAX + 1, "\r\n\r\n", 5);
	assert_int_equal(resp_rc(buf), -502);

	len = (size_t)sprintf(buf, "HTTP/1.1 200 OK\r\nX: ");
	memset(buf + len, 'v', HTTP_HEAD_MAX - len - 4);
	memcpy(buf + HTTP_HEAD_MAX - 4, "\r\n\r\n", 5);
	assert_int_equal(resp_rc(buf), HTTP_HEAD_MAX);
	memset(buf + len, 'v', HTTP_HEAD_MAX - len - 3);
	memcpy(buf + HTTP_HEAD_MAX - 3, "\r\n\r\n", 5);
	assert_int_equal(resp_rc(buf), -502);
	{
		struct http_resp r;

		assert_int_equal(http_parse_response(buf, HTTP_HEAD_MAX, HTTP_M_GET, &r), -502);
		assert_int_equal(http_parse_response(buf, HTTP_HEAD_MAX - 1, HTTP_M_GET, &r),
		    HTTP_AGAIN);
	}

	len = (size_t)sprintf(buf, "HTTP/1.1 200 OK\r\n");
	for (i = 0; i < HTTP_FIELDS_MAX; i++)
		len += (size_t)sprintf(buf + len, "X-%zu: v\r\n", i);
	memcpy(buf + len, "\r\n", 3);
	assert_int_equal(resp_rc(buf), (int)len + 2);
	len += (size_t)sprintf(buf + len, "Y: v\r\n\r\n");
	assert_int_equal(resp_rc(buf), -502);
	free(buf);
}

/* ---- chunked --------------------------------------------------------- */

/* Feed s in one go; returns the verdict and sets *consumed. */
static int
ck_once(const char *s, size_t len, size_t *consumed)
{
	struct http_chunked c;

	http_chunked_init(&c);
	return http_chunked_feed(&c, s, len, consumed);
}

/*
 * Feed s split at each of the `cuts` offsets (ascending). Returns the final
 * verdict; *total is the bytes of s taken as body (up to the error for
 * HTTP_CHUNKED_ERROR). Checks the per-call contract on the way.
 */
static int
ck_split(const char *s, size_t len, const size_t *cuts, size_t ncuts, size_t *total)
{
	struct http_chunked c;
	size_t from = 0, i, used;
	int rc = HTTP_CHUNKED_MORE;

	http_chunked_init(&c);
	*total = 0;
	for (i = 0; i <= ncuts && rc == HTTP_CHUNKED_MORE; i++) {
		size_t to = i < ncuts ? cuts[i] : len;

		rc = http_chunked_feed(&c, s + from, to - from, &used);
		assert_true(used <= to - from);
		if (rc == HTTP_CHUNKED_MORE)
			assert_int_equal(used, to - from);
		*total += used;
		from = to;
	}
	return rc;
}

/* One byte at a time, and every 2-way split, give what one call gives. */
static void
assert_split_invariant(const char *s, size_t len)
{
	size_t once, total, k, cut;
	size_t *cuts = xmalloc((len + 1) * sizeof(*cuts));
	int want = ck_once(s, len, &once), rc;

	for (k = 0; k < len; k++)
		cuts[k] = k + 1;
	rc = ck_split(s, len, cuts, len ? len - 1 : 0, &total);
	assert_int_equal(rc, want);
	assert_int_equal(total, once);
	for (cut = 0; cut <= len; cut++) {
		rc = ck_split(s, len, &cut, 1, &total);
		assert_int_equal(rc, want);
		assert_int_equal(total, once);
	}
	free(cuts);
}

static void
test_chunked_valid(void **state)
{
	static const char *bodies[] = {
		"5\r\nhello\r\n0\r\n\r\n",
		"0\r\n\r\n",
		"A\r\n0123456789\r\na\r\n0123456789\r\nF\r\n0123456789abcde\r\n0\r\n\r\n",
		"0005\r\nhello\r\n000\r\n\r\n",
		"5;name=value;flag\r\nhello\r\n0;last\r\n\r\n",
		"5 ;a=\"q;x\"\r\nhello\r\n0\t; e\r\n\r\n",
		"1\r\n\r\r\n1\r\n\n\r\n0\r\n\r\n",  /* CR and LF as data are fine */
		"3\r\nabc\r\n0\r\nExpires: never\r\nX-Sum:\tabc \r\n\r\n",
		"3\r\nabc\r\n0\r\nX:\r\n\r\n",
	};
	size_t i, used, len;
	char buf[256];

	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		len = strlen(bodies[i]);
		assert_int_equal(ck_once(bodies[i], len, &used), HTTP_CHUNKED_DONE);
		assert_int_equal(used, len);
		/* what follows belongs to the next message */
		snprintf(buf, sizeof(buf), "%sGET / HTTP/1.1\r\n", bodies[i]);
		assert_int_equal(ck_once(buf, strlen(buf), &used), HTTP_CHUNKED_DONE);
		assert_int_equal(used, len);
		assert_split_invariant(buf, strlen(buf));
		/* every proper prefix is "more" */
		for (size_t k = 0; k < len; k++) {
			assert_int_equal(ck_once(bodies[i], k, &used), HTTP_CHUNKED_MORE);
			assert_int_equal(used, k);
		}
	}
}

static void
test_chunked_last_chunk_split(void **state)
{
	struct http_chunked c;
	size_t used;

	http_chunked_init(&c);
	assert_int_equal(http_chunked_feed(&c, "2\r\nok\r\n0", 8, &used), HTTP_CHUNKED_MORE);
	assert_int_equal(used, 8);
	assert_int_equal(http_chunked_feed(&c, "\r", 1, &used), HTTP_CHUNKED_MORE);
	assert_int_equal(http_chunked_feed(&c, "\n\r", 2, &used), HTTP_CHUNKED_MORE);
	assert_int_equal(http_chunked_feed(&c, "", 0, &used), HTTP_CHUNKED_MORE);
	assert_int_equal(used, 0);
	assert_int_equal(http_chunked_feed(&c, "\nHTTP", 5, &used), HTTP_CHUNKED_DONE);
	assert_int_equal(used, 1);
	/* done stays done and takes nothing more */
	assert_int_equal(http_chunked_feed(&c, "0\r\n\r\n", 5, &used), HTTP_CHUNKED_DONE);
	assert_int_equal(used, 0);
}

static void
test_chunked_large_data(void **state)
{
	struct http_chunked c;
	size_t len = 200000, used;
	char *buf = xmalloc(len + 64);
	size_t n = (size_t)sprintf(buf, "%zx\r\n", len);

	memset(buf + n, 'd', len);
	n += len;
	n += (size_t)sprintf(buf + n, "\r\n0\r\n\r\n");
	http_chunked_init(&c);
	assert_int_equal(http_chunked_feed(&c, buf, 10000, &used), HTTP_CHUNKED_MORE);
	assert_int_equal(used, 10000);
	assert_int_equal(http_chunked_feed(&c, buf + 10000, n - 10000, &used), HTTP_CHUNKED_DONE);
	assert_int_equal(used, n - 10000);
	free(buf);
}

static void
test_chunked_size_limits(void **state)
{
	size_t used;

	/* 2^63 - 1 is the largest size; leading zeros do not count */
	assert_int_equal(ck_once("7fffffffffffffff\r\n", 18, &used), HTTP_CHUNKED_MORE);
	assert_int_equal(ck_once("000000007FFFFFFFFFFFFFFF\r\n", 26, &used), HTTP_CHUNKED_MORE);
	assert_int_equal(ck_once("8000000000000000\r\n", 18, &used), HTTP_CHUNKED_ERROR);
	assert_int_equal(used, 15);
	assert_int_equal(ck_once("10000000000000000\r\n", 19, &used), HTTP_CHUNKED_ERROR);
	assert_int_equal(ck_once("ffffffffffffffffff\r\n", 20, &used), HTTP_CHUNKED_ERROR);
	assert_int_equal(used, 15);
}

static void
test_chunked_invalid(void **state)
{
	static const struct {
		const char *s;
		size_t      at;  /* offset of the offending byte */
	} cases[] = {
		{ "\r\n", 0 },                         /* no size */
		{ ";x\r\n", 0 },                       /* extension without size */
		{ " 5\r\nhello\r\n0\r\n\r\n", 0 },     /* leading space */
		{ "g\r\n", 0 },
		{ "-1\r\n", 0 },
		{ "0x5\r\n", 1 },
		{ "5 \r\nhello\r\n", 2 },              /* BWS only before ';' */
		{ "5 5\r\n", 2 },
		{ "5\nhello\r\n", 1 },                 /* bare LF */
		{ "5\rhello\r\n", 2 },                 /* bare CR */
		{ "5;a\nb\r\n", 3 },
		{ "5;a\x01\r\n", 3 },
		{ "5;a\x7f\r\n", 3 },
		{ "5\r\nhelloX\r\n", 8 },             /* data longer than its size */
		{ "5\r\nhello\rX", 9 },
		{ "5\r\nhello\n0\r\n\r\n", 8 },
		{ "0\r\n\rX", 4 },
		{ "0\r\nbad\r\n\r\n", 6 },             /* trailer without colon */
		{ "0\r\nX : y\r\n\r\n", 4 },
		{ "0\r\n y: z\r\n\r\n", 3 },           /* folding */
		{ "0\r\nX: a\r\n\tb\r\n\r\n", 9 },
		{ "0\r\n: y\r\n\r\n", 3 },
		{ "0\r\nX: a\x01\r\n\r\n", 7 },
		{ "0\r\nX: a\rb\r\n\r\n", 8 },
		{ "0\r\nX: a\nb\r\n\r\n", 7 },
	};
	size_t i, used;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct http_chunked c;
		size_t len = strlen(cases[i].s);

		http_chunked_init(&c);
		assert_int_equal(http_chunked_feed(&c, cases[i].s, len, &used), HTTP_CHUNKED_ERROR);
		if (used != cases[i].at)
			fail_msg("case %zu: error at %zu, want %zu (%s)", i, used,
			    cases[i].at, c.why);
		assert_non_null(c.why);
		/* errors stick */
		assert_int_equal(http_chunked_feed(&c, "0\r\n\r\n", 5, &used), HTTP_CHUNKED_ERROR);
		assert_int_equal(used, 0);
		assert_split_invariant(cases[i].s, len);
	}
}

static void
test_chunked_line_caps(void **state)
{
	char *buf = xmalloc(BIG * 2);
	size_t n, used, i;

	/* size line: HTTP_CHUNK_LINE_MAX bytes before CRLF, then one more */
	memset(buf, '0', HTTP_CHUNK_LINE_MAX);
	memcpy(buf + HTTP_CHUNK_LINE_MAX, "\r\n\r\n", 4);
	assert_int_equal(ck_once(buf, HTTP_CHUNK_LINE_MAX + 4, &used), HTTP_CHUNKED_DONE);
	buf[0] = '1';
	buf[1] = ';';
	assert_int_equal(ck_once(buf, HTTP_CHUNK_LINE_MAX + 2, &used), HTTP_CHUNKED_MORE);
	memset(buf, '0', HTTP_CHUNK_LINE_MAX + 1);
	memcpy(buf + HTTP_CHUNK_LINE_MAX + 1, "\r\n\r\n", 4);
	assert_int_equal(ck_once(buf, HTTP_CHUNK_LINE_MAX + 5, &used), HTTP_CHUNKED_ERROR);
	assert_int_equal(used, HTTP_CHUNK_LINE_MAX);

	/* one trailer line of exactly the cap, then one byte longer */
	n = (size_t)sprintf(buf, "0\r\nX:");
	memset(buf + n, 'v', HTTP_CHUNK_LINE_MAX - 2);
	n += HTTP_CHUNK_LINE_MAX - 2;
	memcpy(buf + n, "\r\n\r\n", 4);
	assert_int_equal(ck_once(buf, n + 4, &used), HTTP_CHUNKED_DONE);
	n = (size_t)sprintf(buf, "0\r\nX:");
	memset(buf + n, 'v', HTTP_CHUNK_LINE_MAX - 1);
	n += HTTP_CHUNK_LINE_MAX - 1;
	memcpy(buf + n, "\r\n\r\n", 4);
	assert_int_equal(ck_once(buf, n + 4, &used), HTTP_CHUNKED_ERROR);

	/* trailer field count */
	n = (size_t)sprintf(buf, "0\r\n");
	for (i = 0; i < HTTP_FIELDS_MAX; i++)
		n += (size_t)sprintf(buf + n, "T%zu: v\r\n", i);
	memcpy(buf + n, "\r\n", 2);
	assert_int_equal(ck_once(buf, n + 2, &used), HTTP_CHUNKED_DONE);
	n += (size_t)sprintf(buf + n, "U: v\r\n\r\n");
	assert_int_equal(ck_once(buf, n, &used), HTTP_CHUNKED_ERROR);

	/* trailer section size: few fields, each under the line cap */
	n = (size_t)sprintf(buf, "0\r\n");
	for (i = 0; n < HTTP_HEAD_MAX; i++) {
		n += (size_t)sprintf(buf + n, "T%zu:", i);
		memset(buf + n, 'v', 4000);
		n += 4000;
		memcpy(buf + n, "\r\n", 2);
		n += 2;
	}
	memcpy(buf + n, "\r\n", 2);
	assert_int_equal(ck_once(buf, n + 2, &used), HTTP_CHUNKED_ERROR);
	assert_int_equal(used, HTTP_HEAD_MAX + 3);
	free(buf);
}

/* A head parsed in one buffer, then moved: the slices follow the copy. */
static void
test_req_rebase(void **state)
{
	const char *s = "GET /user/ann/lab?x=1 HTTP/1.1\r\nHost: hub.example\r\n"
	    "Cookie: a=1; poolgate_vm=vm1\r\nContent-Type: text/plain\r\n"
	    "Connection: Upgrade\r\nUpgrade: websocket\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n";
	struct http_req *r = xmalloc(sizeof(*r)), *r2 = xmalloc(sizeof(*r2));
	size_t len = strlen(s);
	char *orig = xmalloc(len), *copy = xmalloc(len);
	int rc;

	(void)state;
	memcpy(orig, s, len);
	rc = http_parse_request(orig, len, r);
	assert_int_equal(rc, (int)len);
	memcpy(copy, orig, len);
	http_req_rebase(r, orig, copy);
	memset(orig, 'x', len);   /* nothing may still point here */
	assert_int_equal(http_parse_request(copy, len, r2), rc);
	assert_memory_equal(r, r2, sizeof(*r));
	assert_ptr_equal(r->target.p, copy + 4);
	assert_true(r->upgrade_websocket);
	assert_int_equal(r->ws_key.len, 24);
	assert_memory_equal(r->host.p, "hub.example", 11);
	free(r);
	free(r2);
	free(orig);
	free(copy);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_simple),
		cmocka_unit_test(test_head_length_excludes_body),
		cmocka_unit_test(test_every_prefix_is_again),
		cmocka_unit_test(test_methods),
		cmocka_unit_test(test_options_asterisk),
		cmocka_unit_test(test_leading_empty_lines),
		cmocka_unit_test(test_content_length),
		cmocka_unit_test(test_transfer_encoding),
		cmocka_unit_test(test_keep_alive),
		cmocka_unit_test(test_websocket),
		cmocka_unit_test(test_expect),
		cmocka_unit_test(test_host),
		cmocka_unit_test(test_cookies_and_field_lookup),
		cmocka_unit_test(test_list_has_and_reason),
		cmocka_unit_test(test_line_endings),
		cmocka_unit_test(test_control_characters),
		cmocka_unit_test(test_obs_fold_and_field_syntax),
		cmocka_unit_test(test_request_target),
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_cap_request_line),
		cmocka_unit_test(test_cap_head),
		cmocka_unit_test(test_cap_fields),
		cmocka_unit_test(test_verdicts_never_change),
		cmocka_unit_test(test_response_framing),
		cmocka_unit_test(test_response_no_body_statuses),
		cmocka_unit_test(test_response_101),
		cmocka_unit_test(test_response_keep_alive_and_reason),
		cmocka_unit_test(test_response_invalid),
		cmocka_unit_test(test_chunked_valid),
		cmocka_unit_test(test_chunked_last_chunk_split),
		cmocka_unit_test(test_chunked_large_data),
		cmocka_unit_test(test_chunked_size_limits),
		cmocka_unit_test(test_chunked_invalid),
		cmocka_unit_test(test_chunked_line_caps),
		cmocka_unit_test(test_req_rebase),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
