/*
 * test_relay.c -- the relay over real sockets: the buffer cap with a reader
 * that stops, data integrity, half-close in both orders, idle limit.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "proxy/relay.h"

#define CAP (64 * 1024)
#define MAX_READ 16384   /* libevent's largest single socket read */

struct fixture {
	struct event_base *base;
	int cli_app, be_app;        /* the client and VM ends of the pairs */
	struct relay *r;
	int done;
	enum relay_end why;
};

static void
done_cb(struct relay *r, enum relay_end why, void *arg)
{
	struct fixture *f = arg;

	f->done++;
	f->why = why;
}

static void
nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void
setup_relay(struct fixture *f, uint64_t idle_ms)
{
	int c[2], b[2];
	struct bufferevent *bc, *bb;

	memset(f, 0, sizeof(*f));
	f->base = event_base_new();
	assert_non_null(f->base);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, c), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, b), 0);
	nonblock(c[0]); nonblock(c[1]); nonblock(b[0]); nonblock(b[1]);
	f->cli_app = c[0];
	f->be_app = b[0];
	bc = bufferevent_socket_new(f->base, c[1], BEV_OPT_CLOSE_ON_FREE);
	bb = bufferevent_socket_new(f->base, b[1], BEV_OPT_CLOSE_ON_FREE);
	f->r = relay_start(bc, bb, false, CAP, idle_ms, done_cb, f);
	assert_non_null(f->r);
}

static void
teardown_relay(struct fixture *f)
{
	relay_free(f->r);
	close(f->cli_app);
	close(f->be_app);
	event_base_free(f->base);
}

static void
spin(struct fixture *f, int rounds)
{
	for (int i = 0; i < rounds; i++)
		event_base_loop(f->base, EVLOOP_NONBLOCK);
}

/* A VM that stops reading: the relay holds at most CAP plus one read. */
static void
test_cap_with_stalled_reader(void **state)
{
	struct fixture f;
	static uint8_t chunk[65536];
	size_t sent = 0, got = 0, total = 8u << 20, max_pending = 0;
	uint8_t buf[65536];

	setup_relay(&f, 0);
	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = (uint8_t)(i * 7 + 3);

	/* Push as much as the sockets take while nobody reads at the VM. */
	for (int round = 0; round < 2000 && sent < total; round++) {
		ssize_t n = write(f.cli_app, chunk + (sent % sizeof(chunk)),
		    sizeof(chunk) - (sent % sizeof(chunk)));
		if (n > 0)
			sent += (size_t)n;
		spin(&f, 4);
		if (relay_pending(f.r, 1) > max_pending)
			max_pending = relay_pending(f.r, 1);
	}
	/* The writer was stopped by backpressure long before 8 MiB. */
	assert_true(sent < total);
	assert_true(max_pending >= CAP / 2);      /* the cap was reached */
	assert_true(max_pending <= CAP + MAX_READ);

	/* Now the VM reads everything: every byte arrives, in order. */
	while (got < total) {
		ssize_t n;
		if (sent < total) {
			n = write(f.cli_app, chunk + (sent % sizeof(chunk)),
			    sizeof(chunk) - (sent % sizeof(chunk)));
			if (n > 0)
				sent += (size_t)n;
		}
		spin(&f, 2);
		assert_true(relay_pending(f.r, 1) <= CAP + MAX_READ);
		n = read(f.be_app, buf, sizeof(buf));
		if (n > 0) {
			for (ssize_t i = 0; i < n; i++)
				assert_int_equal(buf[i],
				    (uint8_t)(((got + (size_t)i) % sizeof(chunk)) * 7 + 3));
			got += (size_t)n;
		} else
			assert_true(n == -1 && errno == EAGAIN);
	}
	assert_int_equal(relay_bytes_up(f.r), total);
	assert_int_equal(f.done, 0);
	teardown_relay(&f);
}

static ssize_t
read_all(struct fixture *f, int fd, char *buf, size_t len)
{
	size_t got = 0;

	for (int i = 0; i < 1000 && got < len; i++) {
		ssize_t n = read(fd, buf + got, len - got);
		if (n == 0)
			return (ssize_t)got;
		if (n > 0)
			got += (size_t)n;
		spin(f, 2);
	}
	return (ssize_t)got;
}

/* The client shuts down its sending side and still gets the whole answer. */
static void
test_half_close_client_first(void **state)
{
	struct fixture f;
	char buf[64];

	setup_relay(&f, 0);
	assert_int_equal(write(f.cli_app, "hello", 5), 5);
	shutdown(f.cli_app, SHUT_WR);
	spin(&f, 10);
	/* The VM sees the bytes, then EOF. */
	assert_int_equal(read_all(&f, f.be_app, buf, 5), 5);
	assert_memory_equal(buf, "hello", 5);
	assert_int_equal(read(f.be_app, buf, sizeof(buf)), 0);
	assert_int_equal(f.done, 0);
	/* The VM answers after the client's EOF, then closes. */
	assert_int_equal(write(f.be_app, "world", 5), 5);
	shutdown(f.be_app, SHUT_WR);
	spin(&f, 10);
	assert_int_equal(read_all(&f, f.cli_app, buf, 5), 5);
	assert_memory_equal(buf, "world", 5);
	assert_int_equal(read(f.cli_app, buf, sizeof(buf)), 0);
	assert_int_equal(f.done, 1);
	assert_int_equal(f.why, RELAY_END_CLOSED);
	assert_int_equal(relay_bytes_up(f.r), 5);
	assert_int_equal(relay_bytes_down(f.r), 5);
	teardown_relay(&f);
}

/* The VM closes first while the client is still sending. */
static void
test_half_close_backend_first(void **state)
{
	struct fixture f;
	char buf[64];

	setup_relay(&f, 0);
	assert_int_equal(write(f.be_app, "bye", 3), 3);
	shutdown(f.be_app, SHUT_WR);
	spin(&f, 10);
	assert_int_equal(read_all(&f, f.cli_app, buf, 3), 3);
	assert_int_equal(read(f.cli_app, buf, sizeof(buf)), 0);
	assert_int_equal(f.done, 0);
	assert_int_equal(write(f.cli_app, "late", 4), 4);
	spin(&f, 10);
	assert_int_equal(read_all(&f, f.be_app, buf, 4), 4);
	assert_memory_equal(buf, "late", 4);
	close(f.cli_app);
	f.cli_app = -1;
	spin(&f, 10);
	assert_int_equal(f.done, 1);
	teardown_relay(&f);
}

/* Bytes held back by backpressure are all delivered before the EOF. */
static void
test_eof_waits_for_flush(void **state)
{
	struct fixture f;
	static char chunk[16384], got[65536];
	size_t sent = 0, total = 0;
	int stalled = 0, eof = 0;

	memset(chunk, 'x', sizeof(chunk));
	setup_relay(&f, 0);
	/* Fill the sockets and the relay until the writer is stopped. */
	while (stalled < 50) {
		ssize_t n = write(f.cli_app, chunk, sizeof(chunk));
		if (n > 0) {
			sent += (size_t)n;
			stalled = 0;
		} else
			stalled++;
		spin(&f, 2);
	}
	assert_true(relay_pending(f.r, 1) > 0);
	shutdown(f.cli_app, SHUT_WR);
	spin(&f, 5);
	for (int i = 0; i < 100000 && !eof; i++) {
		ssize_t n = read(f.be_app, got, sizeof(got));
		if (n == 0)
			eof = 1;
		else if (n > 0)
			total += (size_t)n;
		spin(&f, 1);
	}
	assert_true(eof);
	assert_int_equal(total, sent);
	assert_int_equal(relay_bytes_up(f.r), sent);
	teardown_relay(&f);
}

static void
test_idle_timeout(void **state)
{
	struct fixture f;
	struct timeval tv = { 0, 400000 };

	setup_relay(&f, 100);
	event_base_loopexit(f.base, &tv);
	event_base_dispatch(f.base);
	assert_int_equal(f.done, 1);
	assert_int_equal(f.why, RELAY_END_IDLE);
	teardown_relay(&f);
}

/* Traffic keeps an idle-limited relay alive. */
static void
test_idle_reset_by_traffic(void **state)
{
	struct fixture f;
	char buf[8];

	setup_relay(&f, 300);
	for (int i = 0; i < 6; i++) {
		struct timeval tv = { 0, 100000 };
		assert_int_equal(write(f.cli_app, "k", 1), 1);
		event_base_loopexit(f.base, &tv);
		event_base_dispatch(f.base);
		assert_int_equal(read(f.be_app, buf, sizeof(buf)), 1);
	}
	assert_int_equal(f.done, 0);
	teardown_relay(&f);
}

/*
 * A message is passed on in the loop turn that read it: the relay writes a
 * plain socket at once instead of waiting for libevent's write event (one
 * more turn, and two epoll_ctl calls, per message).
 */
static void
test_message_passed_in_one_turn(void **state)
{
	struct fixture f;
	char buf[64];

	setup_relay(&f, 0);
	for (int i = 0; i < 20; i++) {
		int fd_in = i % 2 ? f.be_app : f.cli_app;
		int fd_out = i % 2 ? f.cli_app : f.be_app;

		assert_int_equal(write(fd_in, "ping-pong-32-bytes-of-websocket!", 32), 32);
		event_base_loop(f.base, EVLOOP_ONCE);
		assert_int_equal(read(fd_out, buf, sizeof(buf)), 32);
		assert_memory_equal(buf, "ping-pong-32-bytes-of-websocket!", 32);
	}
	assert_int_equal(relay_bytes_up(f.r), 320);
	assert_int_equal(relay_bytes_down(f.r), 320);
	assert_int_equal(f.done, 0);
	teardown_relay(&f);
}

/*
 * The client is gone while the VM still sends: the write that fails (here
 * and now, then libevent's) ends the relay as the client's error.
 */
static void
test_write_error_ends_relay(void **state)
{
	struct fixture f;
	static char chunk[4096];

	signal(SIGPIPE, SIG_IGN);
	setup_relay(&f, 0);
	close(f.cli_app);
	f.cli_app = -1;
	spin(&f, 5);
	assert_int_equal(f.done, 0);   /* an EOF: the VM may still answer */
	for (int i = 0; i < 10 && f.done == 0; i++) {
		(void)write(f.be_app, chunk, sizeof(chunk));
		spin(&f, 5);
	}
	assert_int_equal(f.done, 1);
	assert_int_equal(f.why, RELAY_END_CLIENT_ERROR);
	teardown_relay(&f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cap_with_stalled_reader),
		cmocka_unit_test(test_half_close_client_first),
		cmocka_unit_test(test_half_close_backend_first),
		cmocka_unit_test(test_eof_waits_for_flush),
		cmocka_unit_test(test_idle_timeout),
		cmocka_unit_test(test_idle_reset_by_traffic),
		cmocka_unit_test(test_message_passed_in_one_turn),
		cmocka_unit_test(test_write_error_ends_relay),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
