/*
 * test_evhttp_harness.c -- the unit tests' HTTP harness (evhttp_harness.h)
 * reads each framing evhttp sends, connects from the address asked, and
 * gives up at its timeout: the admin tests rely on it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "evhttp_harness.h"

static struct eh_server srv;
static char seen_peer[64], seen_body[64], seen_method[8];

/* /len: a body by length; /chunked: three chunks; /never: no reply. */
static void
handler(struct evhttp_request *req, void *arg)
{
	const char *uri = evhttp_request_get_uri(req);
	struct evhttp_connection *c = evhttp_request_get_connection(req);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);
	struct evbuffer *b;
	char *peer;
	ev_uint16_t port;
	size_t n;

	(void)arg;
	evhttp_connection_get_peer(c, &peer, &port);
	snprintf(seen_peer, sizeof(seen_peer), "%s", peer);
	n = evbuffer_get_length(in);
	if (n >= sizeof(seen_body))
		n = sizeof(seen_body) - 1;
	evbuffer_copyout(in, seen_body, n);
	seen_body[n] = '\0';
	snprintf(seen_method, sizeof(seen_method), "%s",
	    evhttp_request_get_command(req) == EVHTTP_REQ_HEAD ? "HEAD" : "other");
	if (strcmp(uri, "/never") == 0)
		return;
	b = evbuffer_new();
	assert_non_null(b);
	evhttp_add_header(h, "Set-Cookie", "a=1");
	evhttp_add_header(h, "Set-Cookie", "b=2");
	if (strcmp(uri, "/chunked") == 0) {
		evhttp_send_reply_start(req, 200, "Fine");
		for (int i = 0; i < 3; i++) {
			evbuffer_add_printf(b, "part%d;", i);
			evhttp_send_reply_chunk(req, b);
		}
		evhttp_send_reply_end(req);
	} else {
		evbuffer_add_printf(b, "hello %s", seen_body);
		evhttp_send_reply(req, 201, "Made", b);
	}
	evbuffer_free(b);
}

static int
setup(void **state)
{
	(void)state;
	memset(seen_peer, 0, sizeof(seen_peer));
	return eh_start(&srv, handler, NULL);
}

static int
teardown(void **state)
{
	(void)state;
	eh_stop(&srv);
	return 0;
}

static void
test_length_and_headers(void **state)
{
	struct eh_reply r;

	(void)state;
	assert_int_equal(eh_request(&srv, NULL, "POST", "/len",
	    "X-A: 1\r\n", "body", 4, &r), 0);
	assert_int_equal(r.status, 201);
	assert_string_equal(r.reason, "Made");
	assert_string_equal(r.body, "hello body");
	assert_int_equal(r.body_len, 10);
	assert_string_equal(eh_header(&r, "content-length"), "10");
	/* the first of two; both are listed */
	assert_string_equal(eh_header(&r, "Set-Cookie"), "a=1");
	assert_null(eh_header(&r, "X-Nothing"));
	assert_string_equal(seen_peer, "127.0.0.1");
	eh_reply_free(&r);
}

static void
test_chunked(void **state)
{
	struct eh_reply r;

	(void)state;
	assert_int_equal(eh_request(&srv, NULL, "GET", "/chunked", NULL, NULL, 0,
	    &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(eh_header(&r, "Transfer-Encoding"), "chunked");
	assert_string_equal(r.body, "part0;part1;part2;");
	eh_reply_free(&r);
}

static void
test_head_and_raw(void **state)
{
	static const char raw[] = "HEAD /len HTTP/1.1\r\nHost: x\r\n"
	    "Connection: close\r\n\r\n";
	struct eh_reply r;

	(void)state;
	assert_int_equal(eh_exchange(&srv, NULL, raw, strlen(raw), &r), 0);
	assert_string_equal(seen_method, "HEAD");
	assert_int_equal(r.status, 201);
	assert_string_equal(r.body, "");
	eh_reply_free(&r);
}

static void
test_from_address(void **state)
{
	struct eh_reply r;

	(void)state;
	assert_int_equal(eh_request(&srv, "127.0.0.2", "GET", "/len", NULL, NULL,
	    0, &r), 0);
	assert_string_equal(seen_peer, "127.0.0.2");
	eh_reply_free(&r);
	assert_int_equal(eh_request(&srv, "10.255.255.1", "GET", "/len", NULL,
	    NULL, 0, &r), -1);
	assert_non_null(strstr(r.error, "cannot connect from 10.255.255.1"));
	assert_string_equal(r.body, "");
	eh_reply_free(&r);
}

static void
test_timeout(void **state)
{
	struct eh_reply r;

	(void)state;
	srv.timeout_ms = 200;
	assert_int_equal(eh_request(&srv, NULL, "GET", "/never", NULL, NULL, 0,
	    &r), -1);
	assert_int_equal(r.status, -1);
	assert_string_equal(r.error, "no complete reply in time");
	assert_string_equal(r.body, "");
	assert_int_equal(r.nheaders, 0);
	eh_reply_free(&r);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_length_and_headers),
		T(test_chunked),
		T(test_head_and_raw),
		T(test_from_address),
		T(test_timeout),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
