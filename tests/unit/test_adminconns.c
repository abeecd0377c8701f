/*
 * test_adminconns.c -- the operator endpoint's connection cap and request
 * deadline (admin/conns.c), on a real evhttp server (evhttp_harness.h)
 * with a small cap and a short deadline, against raw TCP clients that
 * send half a request line and then nothing, or trickle a byte at a time.
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
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "admin/conns.h"
#include "lib/log.h"
#include "evhttp_harness.h"

#define CAP      4
#define DEADLINE 400    /* ms */
#define BIG      ((size_t)4 << 20)   /* bytes of GET /big */

static struct eh_server  srv;
static struct ac_guard  *guard;

/* "ok\n", or for /big BIG bytes of a known pattern. */
static void
gencb(struct evhttp_request *req, void *arg)
{
	struct evbuffer *out = evbuffer_new();
	const char *uri = evhttp_request_get_uri(req);

	(void)arg;
	ac_request(guard, req);
	if (strcmp(uri, "/big") == 0) {
		char *b = malloc(BIG);

		assert_non_null(b);
		for (size_t i = 0; i < BIG; i++)
			b[i] = (char)('a' + i % 26);
		evbuffer_add(out, b, BIG);
		free(b);
	} else
		evbuffer_add_printf(out, "ok\n");
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}

static int
setup(void **state)
{
	(void)state;
	pg_log_set_level(PG_LOG_ERR);
	assert_int_equal(eh_start(&srv, gencb, NULL), 0);
	/* evhttp's own idle timeout out of the way: the deadline is tested */
	evhttp_set_timeout(srv.http, 60);
	assert_non_null(guard = ac_new(srv.http, srv.base, CAP, DEADLINE));
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	/* the order admin_free() keeps: evhttp, then the guard, then the base */
	evhttp_free(srv.http);
	srv.http = NULL;
	ac_free(guard);
	guard = NULL;
	eh_stop(&srv);
	return 0;
}

/* Run the server's loop for ms. */
static void
run_for(int ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	event_base_loopexit(srv.base, &tv);
	event_base_dispatch(srv.base);
}

/* A blocking TCP connection to the server from 127.0.0.1. */
static int
connect_srv(void)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)srv.port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	return fd;
}

static void
send_str(int fd, const char *s)
{
	assert_int_equal(send(fd, s, strlen(s), MSG_NOSIGNAL), (ssize_t)strlen(s));
}

/* Whether the server closed fd (EOF or a reset); never blocks. */
static int
closed(int fd)
{
	char buf[512];
	ssize_t n;

	for (;;) {
		n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0)
			return 1;
		if (n < 0)
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : 1;
	}
}

/* The reply to one whole request on fd, read while the loop runs. */
static int
exchange_on(int fd, const char *req)
{
	char buf[1024];
	size_t got = 0;
	ssize_t n;

	send_str(fd, req);
	for (int i = 0; i < 100; i++) {
		run_for(10);
		while ((n = recv(fd, buf + got, sizeof(buf) - 1 - got,
		    MSG_DONTWAIT)) > 0)
			got += (size_t)n;
		buf[got] = '\0';
		if (strstr(buf, "\r\n\r\nok\n") != NULL)
			return 200;
		if (n == 0)
			return -1;
	}
	return -1;
}

/*
 * Past the cap a new connection pushes out the one that waited longest:
 * never more than CAP counted once the loop has run, every slow client
 * beyond the last CAP is closed at once, and a real request still gets in.
 */
static void
test_cap_pushes_out_oldest(void **state)
{
	int fd[3 * CAP];
	struct eh_reply r;

	(void)state;
	for (int i = 0; i < 3 * CAP; i++) {
		fd[i] = connect_srv();
		send_str(fd[i], "GET /sl");
		run_for(20);
		assert_true(ac_count(guard) <= CAP + 1);
	}
	run_for(50);
	assert_int_equal(ac_count(guard), CAP);
	for (int i = 0; i < 2 * CAP; i++)
		if (!closed(fd[i]))
			fail_msg("slow connection %d of %d still open past the cap",
			    i + 1, 3 * CAP);
	for (int i = 2 * CAP; i < 3 * CAP; i++)
		assert_false(closed(fd[i]));
	/* another client is answered meanwhile: it pushes out one more */
	assert_int_equal(eh_request(&srv, NULL, "GET", "/healthz", NULL, NULL, 0,
	    &r), 0);
	assert_int_equal(r.status, 200);
	eh_reply_free(&r);
	run_for(50);
	assert_true(closed(fd[2 * CAP]));
	assert_int_equal(ac_count(guard), CAP - 1);
	for (int i = 0; i < 3 * CAP; i++)
		close(fd[i]);
	run_for(50);
	assert_int_equal(ac_count(guard), 0);
}

/*
 * A burst beyond twice the cap in one turn of the loop: the new ones are
 * shut down too, and the count comes back under the cap.
 */
static void
test_burst_bounded(void **state)
{
	int fd[40], nopen = 0;

	(void)state;
	for (int i = 0; i < 40; i++) {
		fd[i] = connect_srv();
		send_str(fd[i], "GET /");
	}
	run_for(100);
	assert_true(ac_count(guard) <= CAP);
	for (int i = 0; i < 40; i++)
		nopen += !closed(fd[i]);
	assert_true(nopen <= CAP);
	for (int i = 0; i < 40; i++)
		close(fd[i]);
	run_for(50);
	assert_int_equal(ac_count(guard), 0);
}

/* A byte every 50 ms never idles, but the whole request has a deadline. */
static void
test_deadline_on_trickle(void **state)
{
	uint64_t t0 = pg_now_ms(), t;
	const char *req = "GET /trickle HTTP/1.1\r\nX-Pad: aaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
	int fd = connect_srv(), i;

	(void)state;
	for (i = 0; req[i] != '\0' && !closed(fd); i++) {
		char c[2] = { req[i], '\0' };
		if (send(fd, c, 1, MSG_NOSIGNAL) != 1)
			break;
		run_for(50);
	}
	t = pg_now_ms() - t0;
	assert_true(closed(fd));
	if (t < DEADLINE || t > DEADLINE + 300)
		fail_msg("closed after %llu ms, deadline %d ms",
		    (unsigned long long)t, DEADLINE);
	close(fd);
	run_for(20);
	assert_int_equal(ac_count(guard), 0);
}

/*
 * The deadline is per request: a kept-alive connection that sends a whole
 * request every DEADLINE / 2 stays open well past DEADLINE; once it stops,
 * it is closed DEADLINE after its last request.
 */
static void
test_deadline_restarts_per_request(void **state)
{
	const char *req = "GET /again HTTP/1.1\r\nHost: x\r\n\r\n";
	int fd = connect_srv();
	uint64_t last;

	(void)state;
	for (int i = 0; i < 5; i++) {
		assert_int_equal(exchange_on(fd, req), 200);
		run_for(DEADLINE / 2);
		assert_false(closed(fd));
	}
	last = pg_now_ms();
	assert_int_equal(exchange_on(fd, req), 200);
	while (!closed(fd) && pg_now_ms() - last < DEADLINE + 500)
		run_for(20);
	assert_true(closed(fd));
	assert_true(pg_now_ms() - last >= DEADLINE - 50);
	close(fd);
	run_for(20);
	assert_int_equal(ac_count(guard), 0);
}

/*
 * Replies go out whole through the guard: a big one to a client with a
 * small receive buffer and Connection: close (evhttp frees the connection
 * as soon as it thinks the reply is out), and evhttp's own error replies.
 */
static void
test_replies_whole(void **state)
{
	struct eh_reply r;
	size_t i;

	(void)state;
	assert_int_equal(eh_request(&srv, NULL, "GET", "/big", NULL, NULL, 0,
	    &r), 0);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, BIG);
	for (i = 0; i < BIG && r.body[i] == (char)('a' + i % 26); i++)
		;
	assert_int_equal(i, BIG);
	eh_reply_free(&r);
	/* a request line evhttp refuses itself */
	assert_int_equal(eh_exchange(&srv, NULL, "BAD\r\n\r\n", 7, &r), 0);
	assert_int_equal(r.status, 400);
	eh_reply_free(&r);
	/* a method evhttp is not allowed to take (libevent 2.1: 501) */
	evhttp_set_allowed_methods(srv.http, EVHTTP_REQ_GET);
	assert_int_equal(eh_request(&srv, NULL, "PUT", "/x", NULL, "a", 1, &r), 0);
	assert_int_equal(r.status, 501);
	eh_reply_free(&r);
	run_for(50);
	assert_int_equal(ac_count(guard), 0);
}

/* A slow reader of a big reply: what the kernel took is all it gets. */
static void
test_big_reply_slow_reader(void **state)
{
	const char *req = "GET /big HTTP/1.1\r\nHost: x\r\nConnection: close"
	    "\r\n\r\n";
	int fd, rcv = 4096;
	size_t got = 0;
	char buf[65536];
	ssize_t n;

	(void)state;
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv,
	    sizeof(rcv)), 0);
	{
		struct sockaddr_in sin;

		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons((uint16_t)srv.port);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		assert_int_equal(connect(fd, (struct sockaddr *)&sin,
		    sizeof(sin)), 0);
	}
	send_str(fd, req);
	for (int k = 0; k < 2000; k++) {
		run_for(2);
		while ((n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT)) > 0)
			got += (size_t)n;
		if (n == 0)
			break;
	}
	/* the head and every byte of the body, then the close */
	assert_int_equal(n, 0);
	assert_true(got > BIG && got < BIG + 256);
	close(fd);
}

/* Hitting either limit is logged, once per AC_LOG_EVERY_MS. */
static void
test_limits_logged_rate_limited(void **state)
{
	char path[] = "/tmp/test_adminconns.XXXXXX", buf[8192];
	int lfd = mkstemp(path), saved = dup(2), fd[2 * CAP + 4];
	ssize_t n;
	const char *p;
	size_t lines = 0;

	(void)state;
	assert_true(lfd >= 0 && saved >= 0);
	pg_log_set_level(PG_LOG_WARN);
	fflush(stderr);
	dup2(lfd, 2);
	for (int i = 0; i < 2 * CAP + 4; i++) {
		fd[i] = connect_srv();
		send_str(fd[i], "GET /x");
		run_for(10);
	}
	run_for(DEADLINE + 200);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	pg_log_set_level(PG_LOG_ERR);
	n = pread(lfd, buf, sizeof(buf) - 1, 0);
	close(lfd);
	unlink(path);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "admin: 4 connections open (the cap): closed "
	    "the one from 127.0.0.1 that waited longest (0 more since"));
	assert_non_null(strstr(buf, "admin: connection from 127.0.0.1 closed: no "
	    "whole request and reply within 400 ms (0 more since"));
	for (p = buf; (p = strstr(p, "admin: ")) != NULL; p++)
		lines++;
	assert_int_equal(lines, 2);
	for (int i = 0; i < 2 * CAP + 4; i++) {
		assert_true(closed(fd[i]));
		close(fd[i]);
	}
	run_for(20);
	assert_int_equal(ac_count(guard), 0);
}

/*
 * A kept-alive connection idle after its reply is closed at its deadline
 * quietly: a browser or a scraper doing nothing wrong is not a warning.
 * One that started its next request and stalled is.
 */
static void
test_idle_keepalive_closed_quietly(void **state)
{
	char path[] = "/tmp/test_adminconns.XXXXXX", buf[4096];
	const char *req = "GET /k HTTP/1.1\r\nHost: x\r\n\r\n";
	int lfd = mkstemp(path), saved = dup(2), idle, stalled;
	ssize_t n;

	(void)state;
	assert_true(lfd >= 0 && saved >= 0);
	pg_log_set_level(PG_LOG_WARN);
	fflush(stderr);
	dup2(lfd, 2);
	idle = connect_srv();
	assert_int_equal(exchange_on(idle, req), 200);
	run_for(DEADLINE + 200);
	assert_true(closed(idle));
	fflush(stderr);
	n = pread(lfd, buf, sizeof(buf) - 1, 0);
	assert_true(n >= 0);
	buf[n] = '\0';
	assert_null(strstr(buf, "admin: connection from"));
	stalled = connect_srv();
	assert_int_equal(exchange_on(stalled, req), 200);
	send_str(stalled, "GET /k HT");
	run_for(DEADLINE + 200);
	assert_true(closed(stalled));
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	pg_log_set_level(PG_LOG_ERR);
	n = pread(lfd, buf, sizeof(buf) - 1, 0);
	close(lfd);
	unlink(path);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(strstr(buf, "admin: connection from 127.0.0.1 closed: no "
	    "whole request and reply within 400 ms"));
	close(idle);
	close(stalled);
	run_for(20);
	assert_int_equal(ac_count(guard), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_cap_pushes_out_oldest, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_burst_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deadline_on_trickle, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_deadline_restarts_per_request,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits_logged_rate_limited,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_keepalive_closed_quietly,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_replies_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_big_reply_slow_reader, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
