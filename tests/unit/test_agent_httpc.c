/*
 * test_agent_httpc.c -- the agent's blocking HTTP/1.1 client
 * (agent/httpc.c): URLs, answers by every framing (pure), and real requests
 * to a fake server on 127.0.0.1 (headers sent, chunked bodies, the deadline,
 * a refused connection, the body cap).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/httpc.h"
#include "agent/util.h"
#include "test_agent_fakehttp.h"

static void
test_url(void **state)
{
	struct hcl_url u;

	(void)state;
	assert_int_equal(hcl_parse_url("http://169.254.169.254", &u), 0);
	assert_string_equal(u.host, "169.254.169.254");
	assert_string_equal(u.port, "80");
	assert_string_equal(u.path, "");
	assert_int_equal(hcl_parse_url("http://127.0.0.1:8081/jhub/", &u), 0);
	assert_string_equal(u.port, "8081");
	assert_string_equal(u.path, "/jhub");
	assert_int_equal(hcl_parse_url("http://[::1]:8000", &u), 0);
	assert_string_equal(u.host, "::1");
	assert_true(u.v6);
	assert_int_equal(hcl_parse_url("http://hub.local", &u), 0);
	assert_int_equal(hcl_parse_url("https://hub", &u), -1);
	assert_int_equal(hcl_parse_url("http://", &u), -1);
	assert_int_equal(hcl_parse_url("http://a:0", &u), -1);
	assert_int_equal(hcl_parse_url("http://a:70000", &u), -1);
	assert_int_equal(hcl_parse_url("http://a:", &u), -1);
	assert_int_equal(hcl_parse_url("http://user@a", &u), -1);
	assert_int_equal(hcl_parse_url("http://a/p?q", &u), -1);
	assert_int_equal(hcl_parse_url("http://[zz]", &u), -1);
	assert_int_equal(hcl_parse_url("http://a b", &u), -1);
}

static enum hcl_parse
parse(const char *s, bool eof, size_t max, struct hcl_resp *r, char *err)
{
	return hcl_parse_response(s, strlen(s), eof, max, r, err, 128);
}

static void
test_parse(void **state)
{
	struct hcl_resp r;
	char err[128];

	(void)state;
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
	    false, 100, &r, err), HCL_DONE);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "hello");
	hcl_resp_free(&r);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel",
	    false, 100, &r, err), HCL_MORE);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhel",
	    true, 100, &r, err), HCL_ERROR);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent", false, 100, &r, err),
	    HCL_MORE);
	/* until the end of the connection */
	assert_int_equal(parse("HTTP/1.0 404 Not Found\n\nnope", false, 100, &r, err),
	    HCL_MORE);
	assert_int_equal(parse("HTTP/1.0 404 Not Found\n\nnope", true, 100, &r, err),
	    HCL_DONE);
	assert_int_equal(r.status, 404);
	assert_string_equal(r.body, "nope");
	hcl_resp_free(&r);
	assert_int_equal(parse("HTTP/1.1 204 No Content\r\n\r\n", false, 100, &r, err),
	    HCL_DONE);
	assert_int_equal(r.len, 0);
	hcl_resp_free(&r);
	/* chunked, with an extension and a trailer */
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n", false, 100, &r, err),
	    HCL_DONE);
	assert_string_equal(r.body, "hello world");
	hcl_resp_free(&r);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "5\r\nhel", false, 100, &r, err), HCL_MORE);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "5\r\nhel", true, 100, &r, err), HCL_ERROR);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "z\r\n", false, 100, &r, err), HCL_ERROR);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "5\r\nhelloX", false, 100, &r, err), HCL_ERROR);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "ffffffffffffffffff\r\n", false, 100, &r, err), HCL_ERROR);
	/* the cap */
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n",
	    false, 100, &r, err), HCL_ERROR);
	assert_string_equal(err, "body over the limit");
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	    "65\r\n", false, 100, &r, err), HCL_ERROR);
	/* malformed */
	assert_int_equal(parse("HTTP/2 200 OK\r\n\r\n", true, 100, &r, err), HCL_ERROR);
	assert_int_equal(parse("HTTP/1.1 20 OK\r\n\r\n", true, 100, &r, err), HCL_ERROR);
	assert_int_equal(parse("HTTP/1.1 100 Continue\r\n\r\n", true, 100, &r, err),
	    HCL_ERROR);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n"
	    "Content-Length: 2\r\n\r\nab", false, 100, &r, err), HCL_ERROR);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
	    false, 100, &r, err), HCL_ERROR);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
	    false, 100, &r, err), HCL_ERROR);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
	    "Content-Length: 1\r\n\r\n", false, 100, &r, err), HCL_ERROR);
	assert_int_equal(parse("HTTP/1.1 200 OK\r\n folded\r\n\r\n", false, 100, &r,
	    err), HCL_ERROR);
	assert_int_equal(parse("", true, 100, &r, err), HCL_ERROR);
	assert_string_equal(err, "closed without an answer");
}

static void
test_head_cap(void **state)
{
	static char big[HCL_HEAD_MAX + 100];
	struct hcl_resp r;
	char err[128];

	(void)state;
	memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
	memset(big + 20, 'a', HCL_HEAD_MAX + 79);
	big[HCL_HEAD_MAX + 99] = '\0';
	assert_int_equal(hcl_parse_response(big, strlen(big), false, 100, &r, err,
	    sizeof(err)), HCL_ERROR);
	assert_string_equal(err, "answer head over the limit");
}

static void
test_requests(void **state)
{
	const struct fh_route routes[] = {
		{ "GET", "/plain", 200, "{\"a\":1}", false, 0 },
		{ "GET", "/chunked", 200, "{\"a\":\"a longer body, in pieces\"}", true, 0 },
		{ "GET", "/slow", 200, "{}", false, 1500 },
		{ "POST", "/post", 201, "ok", false, 0 },
		{ "GET", "/big", 200, "0123456789012345678901234567890123456789", false, 0 },
	};
	const char *hdrs[] = { "Metadata: true", "Authorization: token sekrit", NULL };
	const char *bad[] = { "X: a\r\nY: b", NULL };
	struct fh *f = fh_start(routes, 5);
	struct hcl_url u;
	struct hcl_resp r;
	char url[64], err[256], head[4096], body[256];
	uint64_t t0;

	(void)state;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/base/", fh_port(f));
	assert_int_equal(hcl_parse_url(url, &u), 0);
	assert_int_equal(hcl_request("GET", &u, "/plain?x=1", hdrs, NULL, 0, 2000,
	    1000, &r, err, sizeof(err)), 0);     /* 404: no route for /base */
	assert_int_equal(r.status, 404);
	hcl_resp_free(&r);
	u.path[0] = '\0';
	assert_int_equal(hcl_request("GET", &u, "/plain?x=1", hdrs, NULL, 0, 2000,
	    1000, &r, err, sizeof(err)), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"a\":1}");
	hcl_resp_free(&r);
	assert_true(fh_last(f, "GET", "/plain", head, sizeof(head), NULL, 0));
	assert_non_null(strstr(head, "GET /plain?x=1 HTTP/1.1\r\n"));
	assert_non_null(strstr(head, "\r\nHost: 127.0.0.1:"));
	assert_non_null(strstr(head, "\r\nMetadata: true"));
	assert_non_null(strstr(head, "\r\nAuthorization: token sekrit"));
	assert_non_null(strstr(head, "\r\nConnection: close"));

	assert_int_equal(hcl_request("GET", &u, "/chunked", NULL, NULL, 0, 2000,
	    1000, &r, err, sizeof(err)), 0);
	assert_string_equal(r.body, "{\"a\":\"a longer body, in pieces\"}");
	hcl_resp_free(&r);

	assert_int_equal(hcl_request("POST", &u, "/post", hdrs, "{\"x\":1}", 7, 2000,
	    1000, &r, err, sizeof(err)), 0);
	assert_int_equal(r.status, 201);
	hcl_resp_free(&r);
	assert_true(fh_last(f, "POST", "/post", head, sizeof(head), body, sizeof(body)));
	assert_string_equal(body, "{\"x\":1}");
	assert_non_null(strstr(head, "\r\nContent-Type: application/json"));
	assert_non_null(strstr(head, "\r\nContent-Length: 7"));

	/* the deadline covers the whole exchange */
	t0 = ag_mono_ms();
	assert_int_equal(hcl_request("GET", &u, "/slow", NULL, NULL, 0, 300, 1000, &r,
	    err, sizeof(err)), -1);
	assert_true(ag_mono_ms() - t0 < 1200);
	assert_non_null(strstr(err, "timed out"));
	assert_int_equal(hcl_request("GET", &u, "/big", NULL, NULL, 0, 2000, 10, &r,
	    err, sizeof(err)), -1);
	assert_string_equal(err, "body over the limit");
	/* a header with a line break is refused before anything is sent */
	assert_int_equal(hcl_request("GET", &u, "/plain", bad, NULL, 0, 2000, 100, &r,
	    err, sizeof(err)), -1);
	assert_int_equal(hcl_request("GET", &u, "/a b", NULL, NULL, 0, 2000, 100, &r,
	    err, sizeof(err)), -1);
	fh_stop(f);

	/* nobody listening */
	assert_int_equal(hcl_request("GET", &u, "/plain", NULL, NULL, 0, 2000, 100, &r,
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "connect to 127.0.0.1"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_head_cap),
		cmocka_unit_test(test_requests),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
