/*
 * test_splice.c -- the zero-copy relay over real TCP sockets: the cap with a
 * reader that stops, data integrity, half-close in both orders, idle limit,
 * and no pipe held by an idle connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include "proxy/splice.h"

#define CAP (256 * 1024)  /* PIPE_WANT: one pipe (run as root, so granted) */
#define MAX_READ 0

struct fixture {
	struct event_base *base;
	int cli_app, be_app;        /* the client and VM ends of the pairs */
	struct splicer *r;
	struct pipe_pool *pp;
	int done;
	enum relay_end why;
};

static void
done_cb(struct splicer *r, enum relay_end why, void *arg)
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

/* A connected TCP pair over loopback: a[0] our end, a[1] the peer. */
static void
tcp_pair(int a[2])
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(l, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(l, 1), 0);
	assert_int_equal(getsockname(l, (struct sockaddr *)&sin, &len), 0);
	a[0] = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(connect(a[0], (struct sockaddr *)&sin, sizeof(sin)), 0);
	a[1] = accept(l, NULL, NULL);
	assert_true(a[1] >= 0);
	close(l);
}

static void
setup_relay(struct fixture *f, uint64_t idle_ms)
{
	int c[2], b[2];

	memset(f, 0, sizeof(*f));
	f->base = event_base_new();
	assert_non_null(f->base);
	f->pp = pipe_pool_new(4);
	tcp_pair(c);
	tcp_pair(b);
	nonblock(c[0]); nonblock(c[1]); nonblock(b[0]); nonblock(b[1]);
	f->cli_app = c[0];
	f->be_app = b[0];
	f->r = splice_start(f->base, f->pp, c[1], b[1], idle_ms, done_cb, f);
	assert_non_null(f->r);
}

static void
teardown_relay(struct fixture *f)
{
	splice_free(f->r);
	/* Every pipe came back (or was dropped): none is still lent. */
	assert_int_equal(pipe_pool_lent(f->pp), 0);
	pipe_pool_free(f->pp);
	if (f->cli_app >= 0)
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
	/*
	 * More than loopback's socket buffers can hold: they autotune up to
	 * tcp_rmem's maximum (32 MiB on Debian 12) per socket.
	 */
	size_t sent = 0, got = 0, total = 256u << 20, max_pending = 0;
	int blocked = 0;
	uint8_t buf[65536];

	setup_relay(&f, 0);
	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = (uint8_t)(i * 7 + 3);

	/* Push as much as the sockets take while nobody reads at the VM. */
	for (int round = 0; round < 8000 && sent < total && blocked < 200;
	    round++) {
		ssize_t n = write(f.cli_app, chunk + (sent % sizeof(chunk)),
		    sizeof(chunk) - (sent % sizeof(chunk)));
		if (n > 0) {
			sent += (size_t)n;
			blocked = 0;
		} else
			blocked++;
		spin(&f, 4);
		if (splice_pending(f.r, 1) > max_pending)
			max_pending = splice_pending(f.r, 1);
	}
	/* The writer was stopped by backpressure long before 256 MiB. */
	assert_true(sent < total);
	/*
	 * Bytes waited in the pipe. A pipe counts slots, not bytes: with small
	 * skbs (a loaded machine) it fills well before CAP bytes.
	 */
	assert_true(max_pending >= CAP / 16);
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
		assert_true(splice_pending(f.r, 1) <= CAP + MAX_READ);
		n = read(f.be_app, buf, sizeof(buf));
		if (n > 0) {
			for (ssize_t i = 0; i < n; i++)
				assert_int_equal(buf[i],
				    (uint8_t)(((got + (size_t)i) % sizeof(chunk)) * 7 + 3));
			got += (size_t)n;
		} else
			assert_true(n == -1 && errno == EAGAIN);
	}
	assert_int_equal(splice_bytes_up(f.r), total);
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
	assert_int_equal(splice_bytes_up(f.r), 5);
	assert_int_equal(splice_bytes_down(f.r), 5);
	teardown_relay(&f);
}

/*
 * An owner that closes at the end (splice_set_close_follows): the first
 * EOF is passed on at once, the last one only by the close, and is said.
 */
static void
test_last_eof_left_to_close(void **state)
{
	struct fixture f;
	char buf[64];

	setup_relay(&f, 0);
	splice_set_close_follows(f.r);
	assert_int_equal(write(f.be_app, "bye", 3), 3);
	shutdown(f.be_app, SHUT_WR);
	spin(&f, 10);
	/* The VM's EOF, the first, reaches the client at once. */
	assert_int_equal(read_all(&f, f.cli_app, buf, 3), 3);
	assert_int_equal(read(f.cli_app, buf, sizeof(buf)), 0);
	assert_int_equal(f.done, 0);
	assert_int_equal(write(f.cli_app, "ok", 2), 2);
	shutdown(f.cli_app, SHUT_WR);
	spin(&f, 10);
	assert_int_equal(f.done, 1);
	assert_int_equal(f.why, RELAY_END_CLOSED);
	assert_true(splice_eof_by_close(f.r, 1));
	assert_false(splice_eof_by_close(f.r, 0));
	/* The client's bytes are there, its EOF not yet: no shutdown was made. */
	assert_int_equal(read_all(&f, f.be_app, buf, 2), 2);
	assert_memory_equal(buf, "ok", 2);
	assert_int_equal(read(f.be_app, buf, sizeof(buf)), -1);
	assert_int_equal(errno, EAGAIN);
	/* The owner's close carries it, as a FIN (not a reset). */
	splice_free(f.r);
	f.r = NULL;
	spin(&f, 2);
	assert_int_equal(read(f.be_app, buf, sizeof(buf)), 0);
	assert_int_equal(pipe_pool_lent(f.pp), 0);
	pipe_pool_free(f.pp);
	close(f.cli_app);
	close(f.be_app);
	event_base_free(f.base);
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
	assert_true(splice_pending(f.r, 1) > 0);
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
	assert_int_equal(splice_bytes_up(f.r), sent);
	teardown_relay(&f);
}

static void
test_idle_timeout(void **state)
{
	struct fixture f;
	struct timeval tv = { 0, 400000 };

	setup_relay(&f, 100);
	/* An idle connection holds no pipe. */
	assert_int_equal(pipe_pool_lent(f.pp), 0);
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
 * The VM resets while client bytes wait for it: the relay ends with
 * backend_error within a few loop rounds (it used to retry the dead socket
 * forever once the relay became edge-triggered).
 */
static void
test_backend_reset_mid_transfer(void **state)
{
	struct fixture f;
	static uint8_t chunk[65536];
	struct linger lg = { 1, 0 };
	int rounds = 0;

	setup_relay(&f, 0);
	/*
	 * Fill the VM's receive queue and our pipe until bytes wait in the
	 * pipe and the client cannot write more (loopback buffers autotune to
	 * megabytes, so how much that takes varies).
	 */
	for (int i = 0; i < 4000; i++) {
		ssize_t n = write(f.cli_app, chunk, sizeof(chunk));
		spin(&f, 2);
		if (n < 0 && splice_pending(f.r, 1) > 0)
			break;
	}
	assert_true(splice_pending(f.r, 1) > 0);
	setsockopt(f.be_app, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(f.be_app);             /* RST */
	f.be_app = socket(AF_INET, SOCK_STREAM, 0);   /* for teardown */
	while (f.done == 0 && rounds++ < 100)
		event_base_loop(f.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	assert_int_equal(f.done, 1);
	assert_int_equal(f.why, RELAY_END_BACKEND_ERROR);
	teardown_relay(&f);
}

/*
 * Bytes and the FIN arrive before the relay looks (one edge for both): the
 * bytes and then the EOF are passed on, in copy mode (small) and in splice
 * mode (more than one read buffer).
 */
static void
data_then_fin(size_t len)
{
	struct fixture f;
	static char out[200000], in[200000];
	size_t sent = 0;
	ssize_t n;

	assert_true(len <= sizeof(out));
	for (size_t i = 0; i < len; i++)
		out[i] = (char)(i * 7 + 3);
	setup_relay(&f, 0);
	while (sent < len) {
		n = write(f.be_app, out + sent, len - sent);
		if (n > 0)
			sent += (size_t)n;
		else
			spin(&f, 1);
		if (sent < len)
			assert_int_equal(read_all(&f, f.cli_app, in, 0), 0);
	}
	shutdown(f.be_app, SHUT_WR);
	assert_int_equal(read_all(&f, f.cli_app, in, len), (ssize_t)len);
	assert_memory_equal(in, out, len);
	spin(&f, 4);
	assert_int_equal(read(f.cli_app, in, 1), 0);   /* the EOF */
	assert_int_equal(splice_bytes_down(f.r), len);
	teardown_relay(&f);
}

static void
test_data_and_fin_small(void **state)
{
	data_then_fin(100);
}

static void
test_data_and_fin_bulk(void **state)
{
	data_then_fin(200000);
}

/*
 * A relay that moves to another loop when it turns bulk (as a session
 * moves to a relay thread): the first bytes are copied on loop A, the
 * mover is asked once, and the rest flows on loop B with the pipes (and
 * any bytes in them) carried along. Every byte arrives, in order, and each
 * pool ends with no pipe lent.
 */
struct mover {
	struct splicer     sp;
	struct event       ev[2];
	struct event_base *a, *b;
	struct pipe_pool  *pa, *pb;
	int                fds[2];
	int                moved, asked, done;
};

static void
mover_io(evutil_socket_t fd, short what, void *arg)
{
	struct mover *m = arg;

	splice_io(&m->sp, fd == m->fds[0] ? 0 : 1, what);
}

static void
mover_done(struct splicer *sp, enum relay_end why, void *arg)
{
	struct mover *m = arg;

	m->done++;
	event_del(&m->ev[0]);
	event_del(&m->ev[1]);
}

static void
mover_watch(struct mover *m, struct event_base *base)
{
	const short ev = EV_READ | EV_WRITE | EV_CLOSED | EV_ET | EV_PERSIST;

	for (int i = 0; i < 2; i++) {
		event_assign(&m->ev[i], base, m->fds[i], ev, mover_io, m);
		assert_int_equal(event_add(&m->ev[i], NULL), 0);
	}
}

static bool
mover_move(struct splicer *sp, void *arg)
{
	struct mover *m = arg;

	m->asked++;
	event_del(&m->ev[0]);
	event_del(&m->ev[1]);
	splice_detach(sp);
	/* Loop B takes it; here that is the next spin of b. */
	mover_watch(m, m->b);
	splice_attach(sp, m->b, m->pb);
	m->moved++;
	return true;
}

static void
test_move_to_another_loop_when_bulk(void **state)
{
	struct mover m = { 0 };
	int c[2], b[2];
	static uint8_t chunk[65536];
	uint8_t buf[65536];
	size_t total = 64u << 20, sent = 0, got = 0;
	uint64_t bad = 0;

	tcp_pair(c);
	tcp_pair(b);
	nonblock(c[0]); nonblock(c[1]); nonblock(b[0]); nonblock(b[1]);
	m.a = event_base_new();
	m.b = event_base_new();
	m.pa = pipe_pool_new(4);
	m.pb = pipe_pool_new(4);
	m.fds[0] = c[1];
	m.fds[1] = b[1];
	splice_init(&m.sp, m.a, m.pa, c[1], b[1], 0, mover_done, &m);
	splice_set_mover(&m.sp, mover_move);
	mover_watch(&m, m.a);

	/* A keystroke: copied on loop A, no move. */
	assert_int_equal(write(c[0], "ls\n", 3), 3);
	for (int i = 0; i < 50 && got < 3; i++) {
		event_base_loop(m.a, EVLOOP_NONBLOCK);
		ssize_t n = read(b[0], buf, sizeof(buf));
		if (n > 0)
			got += (size_t)n;
	}
	assert_int_equal(got, 3);
	assert_int_equal(m.asked, 0);

	for (size_t i = 0; i < sizeof(chunk); i++)
		chunk[i] = (uint8_t)(i * 13 + 1);
	got = 0;
	while (got < total) {
		if (sent < total) {
			size_t off = sent % sizeof(chunk), want = sizeof(chunk) - off;
			if (want > total - sent)
				want = total - sent;
			ssize_t n = write(c[0], chunk + off, want);
			if (n > 0)
				sent += (size_t)n;
		}
		event_base_loop(m.moved ? m.b : m.a, EVLOOP_NONBLOCK);
		ssize_t n;
		while ((n = read(b[0], buf, sizeof(buf))) > 0) {
			for (ssize_t i = 0; i < n; i++)
				if (buf[i] != chunk[(got + (size_t)i) % sizeof(chunk)])
					bad++;
			got += (size_t)n;
		}
	}
	assert_int_equal(bad, 0);
	assert_int_equal(m.asked, 1);
	assert_int_equal(m.moved, 1);
	assert_int_equal(splice_bytes_up(&m.sp), total + 3);
	/* Both ends close: the relay ends on loop B. */
	shutdown(c[0], SHUT_WR);
	shutdown(b[0], SHUT_WR);
	for (int i = 0; i < 200 && !m.done; i++)
		event_base_loop(m.b, EVLOOP_NONBLOCK);
	assert_int_equal(m.done, 1);
	splice_release(&m.sp);
	assert_int_equal(pipe_pool_lent(m.pa), 0);
	assert_int_equal(pipe_pool_lent(m.pb), 0);
	pipe_pool_free(m.pa);
	pipe_pool_free(m.pb);
	for (int i = 0; i < 2; i++) {
		close(c[i]);
		close(b[i]);
	}
	event_base_free(m.a);
	event_base_free(m.b);
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
		cmocka_unit_test(test_backend_reset_mid_transfer),
		cmocka_unit_test(test_last_eof_left_to_close),
		cmocka_unit_test(test_data_and_fin_small),
		cmocka_unit_test(test_data_and_fin_bulk),
		cmocka_unit_test(test_move_to_another_loop_when_bulk),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
