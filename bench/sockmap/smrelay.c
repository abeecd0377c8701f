/*
 * smrelay.c -- a minimal TCP relay on loopback, to compare poolgate's
 * relay paths with an in-kernel (sockmap) relay (issue 18).
 *
 *   smrelay -m copy|splice|sockmap -l PORT -t PORT [-o relay.bpf.o]
 *           [-s] [-i IDLE_MS] [-e wait|now|unlink] [-v]
 *
 * Listens on 127.0.0.1:PORT; every client gets a connection of its own to
 * 127.0.0.1:-t PORT and a thread that relays the two until both directions
 * ended (half-close passed on) or one side failed. The modes:
 *   copy     recv()/send() through a 64 KiB buffer (poolgate's small reads)
 *   splice   splice(2) through a 256 KiB pipe per direction (poolgate's
 *            bulk path, proxy/splice.c)
 *   sockmap  the sockets go into the sockhash maps of relay.bpf.c and the
 *            kernel relays (sk_skb verdict, redirect to the partner's
 *            egress); the thread only watches for the ends. -s attaches the
 *            program as BPF_SK_SKB_STREAM_VERDICT instead of
 *            BPF_SK_SKB_VERDICT (both take the parser-less path on 6.x).
 * -i ends a session after IDLE_MS without a byte either way (sockmap: read
 * from TCP_INFO's tcpi_last_data_recv, so idling costs no wake-ups).
 * -e says what the sockmap relay does when a side sends EOF: wait (the
 * default, see below), now (shut the partner's writing half at once: the
 * naive way, for the test), unlink (take both sockets out of the maps and
 * relay the rest in user space as copy does: what falling back from the
 * kernel relay to poolgate's own in the middle of a session would do).
 * -v logs, per session, the bytes each way and how long each EOF waited
 * for the kernel's queue to drain.
 *
 * The end of a direction under sockmap: a FIN from the client is seen here
 * (EPOLLRDHUP) possibly before the last bytes ahead of it went out of the
 * partner: the verdict program queues them on the partner's psock backlog
 * and a kworker sends them. A shutdown(SHUT_WR) on the partner then would
 * make those sends fail (EPIPE), so the bytes are lost. The thread waits
 * instead until every byte the source received (tcpi_bytes_received, less
 * the FIN's one) is in the partner's send queue (tcpi_bytes_acked plus
 * SIOCOUTQ, less their value when the pair was set up), checking every
 * millisecond, and only then shuts the partner's writing half.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <linux/tcp.h>        /* struct tcp_info with tcpi_bytes_*: not glibc's */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define PIPE_WANT  (256 * 1024)
#define COPY_BUF   (64 * 1024)

enum mode { M_COPY, M_SPLICE, M_SOCKMAP };

static enum mode mode;
static int target_port;
static int peers_fd = -1, active_fd = -1, stats_fd = -1;
static long idle_ms;
static bool verbose;
static enum { E_WAIT, E_NOW, E_UNLINK } eof_mode;

/* One direction of a relay: src's bytes go to dst. */
struct dir {
	int       src, dst;
	int       pr, pw;           /* splice: the pipe */
	char     *buf;              /* copy: the buffer */
	size_t    held, off, cap;   /* bytes waiting in pipe/buffer */
	bool      eof, shut;
	uint64_t  bytes;
};

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void
nodelay(int fd)
{
	int one = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static int
dial_target(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd;

	sa.sin_port = htons((uint16_t)target_port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		close(fd);
		return -1;
	}
	nodelay(fd);
	return fd;
}

/* ---- copy and splice ---------------------------------------------------- */

/*
 * Moves what it can of d without blocking. Returns -1 on a socket error,
 * else 0; sets d->eof at the source's EOF and shuts dst's writing half once
 * everything before the EOF is out.
 */
static int
dir_step(struct dir *d)
{
	ssize_t n;

	for (;;) {
		bool moved = false;

		if (!d->eof && d->held < d->cap) {
			if (d->buf == NULL)
				n = splice(d->src, NULL, d->pw, NULL, d->cap - d->held,
				    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			else
				n = recv(d->src, d->buf + d->held,
				    d->cap - d->held, MSG_DONTWAIT);
			if (n == 0)
				d->eof = true;
			else if (n > 0) {
				d->held += (size_t)n;
				moved = true;
			} else if (errno != EAGAIN && errno != EINTR)
				return -1;
		}
		if (d->held > 0) {
			if (d->buf == NULL)
				n = splice(d->pr, NULL, d->dst, NULL, d->held,
				    SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			else
				n = send(d->dst, d->buf + d->off, d->held - d->off,
				    MSG_DONTWAIT | MSG_NOSIGNAL);
			if (n > 0) {
				d->bytes += (uint64_t)n;
				moved = true;
				if (d->buf == NULL)
					d->held -= (size_t)n;
				else if ((d->off += (size_t)n) == d->held)
					d->held = d->off = 0;
			} else if (n == -1 && errno != EAGAIN && errno != EINTR)
				return -1;
		}
		if (!moved)
			break;
	}
	if (d->eof && d->held == 0 && !d->shut) {
		shutdown(d->dst, SHUT_WR);
		d->shut = true;
	}
	return 0;
}

static int
dir_init(struct dir *d, int src, int dst, bool spl)
{
	int fds[2], cap;

	memset(d, 0, sizeof(*d));
	d->src = src;
	d->dst = dst;
	d->pr = d->pw = -1;
	if (!spl) {
		d->cap = COPY_BUF;
		return (d->buf = malloc(COPY_BUF)) == NULL ? -1 : 0;
	}
	if (pipe2(fds, O_NONBLOCK | O_CLOEXEC) == -1)
		return -1;
	d->pr = fds[0];
	d->pw = fds[1];
	if ((cap = fcntl(fds[1], F_SETPIPE_SZ, PIPE_WANT)) <= 0 &&
	    (cap = fcntl(fds[1], F_GETPIPE_SZ)) <= 0)
		cap = 4096;
	d->cap = (size_t)cap;
	return 0;
}

static void
dir_free(struct dir *d)
{
	free(d->buf);
	if (d->pr != -1)
		close(d->pr);
	if (d->pw != -1)
		close(d->pw);
}

/*
 * Relays cfd and bfd in user space (spl: with splice, else copying) until
 * both directions ended.
 */
static void
relay_user(int cfd, int bfd, bool spl)
{
	struct dir d[2];
	struct pollfd pf[2];
	uint64_t last = now_ms();
	int i, n;

	/* dir_free() is safe on a direction dir_init() failed on, or never ran */
	memset(d, 0, sizeof(d));
	d[0].pr = d[0].pw = d[1].pr = d[1].pw = -1;
	if (dir_init(&d[0], cfd, bfd, spl) == -1 ||
	    dir_init(&d[1], bfd, cfd, spl) == -1) {
		perror("smrelay: dir_init");
		goto out;
	}
	fcntl(cfd, F_SETFL, O_NONBLOCK);
	fcntl(bfd, F_SETFL, O_NONBLOCK);
	pf[0].fd = cfd;
	pf[1].fd = bfd;
	while (!(d[0].shut && d[1].shut)) {
		for (i = 0; i < 2; i++)
			pf[i].events = 0;
		for (i = 0; i < 2; i++) {
			/* d[i] reads side i and writes side 1-i */
			if (!d[i].eof && d[i].held < d[i].cap)
				pf[i].events |= POLLIN;
			if (d[i].held > 0)
				pf[1 - i].events |= POLLOUT;
		}
		n = poll(pf, 2, idle_ms > 0 ? (int)idle_ms : -1);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == 0 && now_ms() - last >= (uint64_t)idle_ms) {
			if (verbose)
				fprintf(stderr, "smrelay: idle, closing\n");
			break;
		}
		last = now_ms();
		if (dir_step(&d[0]) == -1 || dir_step(&d[1]) == -1) {
			if (verbose)
				fprintf(stderr, "smrelay: %s\n", strerror(errno));
			break;
		}
	}
	if (verbose)
		fprintf(stderr, "smrelay: up %llu down %llu\n",
		    (unsigned long long)d[0].bytes, (unsigned long long)d[1].bytes);
out:
	dir_free(&d[0]);
	dir_free(&d[1]);
}

/* ---- sockmap ------------------------------------------------------------ */

static uint64_t
cookie_of(int fd)
{
	uint64_t c = 0;
	socklen_t len = sizeof(c);

	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &c, &len) == -1)
		return 0;
	return c;
}

/* Bytes ever put into fd's send queue: acknowledged plus still queued. */
static int
sent_total(int fd, uint64_t *out)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int outq;

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == -1 ||
	    ioctl(fd, SIOCOUTQ, &outq) == -1)
		return -1;
	*out = ti.tcpi_bytes_acked + (uint64_t)outq;
	return 0;
}

/* Bytes fd received in order, its peer's FIN (one sequence number) included. */
static int
recv_total(int fd, uint64_t *out, uint32_t *idle)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == -1)
		return -1;
	*out = ti.tcpi_bytes_received;
	if (idle != NULL)
		*idle = ti.tcpi_last_data_recv;
	return 0;
}

static void pair_unlink(const uint64_t ck[2]);

/* Copies what src holds now to dst (blocking). Returns 0, or -1. */
static int
predrain(int src, int dst)
{
	char buf[COPY_BUF];
	ssize_t n, w;

	while ((n = recv(src, buf, sizeof(buf), MSG_DONTWAIT)) > 0) {
		if (verbose)
			fprintf(stderr, "smrelay: copied %zd bytes by hand\n", n);
		for (ssize_t off = 0; off < n; off += w)
			if ((w = send(dst, buf + off, (size_t)(n - off),
			    MSG_NOSIGNAL)) <= 0)
				return -1;
	}
	/* 0: EOF already; it is seen as EPOLLRDHUP all the same */
	return n == -1 && errno != EAGAIN ? -1 : 0;
}

/*
 * Puts the pair into the maps. Returns 0, or -1 with nothing left in them.
 * peers first, then active: see relay.bpf.c.
 */
static int
pair_link(int cfd, int bfd, uint64_t ck[2])
{
	uint64_t vfd;
	int rc = -1;

	ck[0] = cookie_of(cfd);
	ck[1] = cookie_of(bfd);
	vfd = (uint64_t)bfd;
	if (bpf_map_update_elem(peers_fd, &ck[0], &vfd, BPF_NOEXIST) == -1)
		goto out;
	vfd = (uint64_t)cfd;
	if (bpf_map_update_elem(peers_fd, &ck[1], &vfd, BPF_NOEXIST) == -1)
		goto out;
	/*
	 * Bytes that arrived before a socket's verdict took over wait in its
	 * receive queue until the next skb calls data_ready; if the peer now
	 * waits for an answer (an SSH banner, pingpong's first byte), that
	 * never comes. On 6.18, setting SO_RCVLOWAT (tcp_set_rcvlowat() calls
	 * tcp_data_ready()) did not get them relayed, so they are copied here,
	 * before the socket is activated. An skb that lands between the last
	 * recv() and the activation still waits for the next one: see the
	 * README.
	 */
	if (predrain(cfd, bfd) == -1 || predrain(bfd, cfd) == -1)
		goto out;
	vfd = (uint64_t)cfd;
	if (bpf_map_update_elem(active_fd, &ck[0], &vfd, BPF_NOEXIST) == -1)
		goto out;
	vfd = (uint64_t)bfd;
	if (bpf_map_update_elem(active_fd, &ck[1], &vfd, BPF_NOEXIST) == -1)
		goto out;
	/*
	 * What landed in that window is read and passed on here as well.
	 * This one is NOT safe in general: the verdict now runs on each new
	 * skb, and a byte it redirects (sent later by the partner's backlog
	 * worker) may overtake the ones copied here. The bench's clients wait
	 * for an answer after their first bytes, so nothing follows them here;
	 * the README tells how often the window is hit (smcheck -n 1).
	 */
	if (predrain(cfd, bfd) == -1 || predrain(bfd, cfd) == -1)
		goto out;
	rc = 0;
out:
	if (rc == -1) {
		perror("smrelay: map update");
		pair_unlink(ck);
	}
	return rc;
}

/* Takes the pair out of both maps (their psocks go). */
static void
pair_unlink(const uint64_t ck[2])
{
	for (int i = 0; i < 2; i++) {
		bpf_map_delete_elem(active_fd, &ck[i]);
		bpf_map_delete_elem(peers_fd, &ck[i]);
	}
}

/*
 * Lets the kernel relay cfd and bfd; this thread sleeps in epoll_wait for
 * the ends only (EPOLLRDHUP without EPOLLIN: the psock's data_ready still
 * wakes readers on every skb, and interest in EPOLLIN would wake us with
 * it). Side i's EOF is passed on once the bytes before it are out (see the
 * top of the file).
 */
static void
relay_sockmap(int cfd, int bfd)
{
	int fd[2] = { cfd, bfd };
	uint64_t ck[2], base[2], rx[2] = { 0, 0 }, tx, t0[2] = { 0, 0 };
	bool eof[2] = { false, false }, shut[2] = { false, false };
	struct epoll_event ev, evs[2];
	int ep = -1, i, n, timeout;
	uint32_t idle[2];
	uint64_t start = now_ms();
	bool dumped = false;

	if (sent_total(cfd, &base[1]) == -1 || sent_total(bfd, &base[0]) == -1)
		return;
	/* base[i]: what side i's partner had sent before the relay began */
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		return;
	for (i = 0; i < 2; i++) {
		ev.events = EPOLLRDHUP;
		ev.data.u32 = (uint32_t)i;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd[i], &ev) == -1)
			goto out;
	}
	if (pair_link(cfd, bfd, ck) == -1)
		goto out;
	while (!(shut[0] && shut[1])) {
		timeout = idle_ms > 0 ? (int)idle_ms : -1;
		if ((eof[0] && !shut[0]) || (eof[1] && !shut[1]))
			timeout = 1;
		n = epoll_wait(ep, evs, 2, timeout);
		if (n == -1 && errno != EINTR)
			break;
		for (i = 0; i < n; i++) {
			int s = (int)evs[i].data.u32;

			if (evs[i].events & EPOLLERR) {
				int err = 0;
				socklen_t el = sizeof(err);

				getsockopt(fd[s], SOL_SOCKET, SO_ERROR, &err, &el);
				fprintf(stderr, "smrelay: side %d failed: %s\n", s,
				    strerror(err));
				goto out;
			}
			/*
			 * EPOLLHUP too: both halves of this socket are shut once
			 * we passed the other side's EOF on to it and it sent its
			 * own. Level-triggered, and EPOLLHUP cannot be masked:
			 * the socket leaves the set.
			 */
			if ((evs[i].events & (EPOLLRDHUP | EPOLLHUP)) && !eof[s]) {
				eof[s] = true;
				t0[s] = now_ms();
				epoll_ctl(ep, EPOLL_CTL_DEL, fd[s], NULL);
			}
		}
		for (i = 0; i < 2; i++) {
			int err = 0;
			socklen_t el = sizeof(err);

			/*
			 * A socket that sent its EOF left the epoll set, so an
			 * error on it (the backlog worker's EPIPE, a reset) is
			 * only seen here.
			 */
			if (eof[i] && getsockopt(fd[i], SOL_SOCKET, SO_ERROR, &err,
			    &el) == 0 && err != 0) {
				fprintf(stderr, "smrelay: side %d failed after its "
				    "EOF: %s\n", i, strerror(err));
				goto out;
			}
			if (!eof[i] || shut[i])
				continue;
			if (recv_total(fd[i], &rx[i], NULL) == -1 ||
			    sent_total(fd[1 - i], &tx) == -1)
				goto out;
			/* rx counts the FIN; tx - base what went out of the partner */
			if (eof_mode == E_UNLINK) {
				/* the gap: bytes the kernel still had queued */
				fprintf(stderr, "smrelay: side %d EOF, unlinking with "
				    "%lld bytes in flight\n", i,
				    (long long)(rx[i] - 1) - (long long)(tx - base[i]));
				pair_unlink(ck);
				close(ep);
				relay_user(cfd, bfd, false);
				return;
			}
			if (tx - base[i] == rx[i] - 1 || eof_mode == E_NOW) {
				shutdown(fd[1 - i], SHUT_WR);
				shut[i] = true;
				if (verbose)
					fprintf(stderr, "smrelay: side %d EOF after %llu "
					    "bytes, %lld in flight, waited %llu ms\n", i,
					    (unsigned long long)(rx[i] - 1),
					    (long long)(rx[i] - 1) - (long long)(tx - base[i]),
					    (unsigned long long)(now_ms() - t0[i]));
			} else if (tx - base[i] > rx[i] - 1) {
				fprintf(stderr, "smrelay: side %d: sent %llu > "
				    "received %llu\n", i,
				    (unsigned long long)(tx - base[i]),
				    (unsigned long long)(rx[i] - 1));
				goto out;
			}
		}
		/* -v: the state of a session that did not end within 1 s */
		if (verbose && !dumped && now_ms() - start > 1000) {
			uint64_t r0 = 0, r1 = 0, t0x = 0, t1x = 0;

			dumped = true;
			recv_total(cfd, &r0, NULL);
			recv_total(bfd, &r1, NULL);
			sent_total(cfd, &t0x);
			sent_total(bfd, &t1x);
			fprintf(stderr, "smrelay: after 1 s: eof %d %d shut %d %d, "
			    "client rx %llu tx %llu, vm rx %llu tx %llu\n",
			    eof[0], eof[1], shut[0], shut[1],
			    (unsigned long long)r0, (unsigned long long)(t0x - base[1]),
			    (unsigned long long)r1, (unsigned long long)(t1x - base[0]));
			for (uint32_t k = 0; k < 3; k++) {
				uint64_t v = 0;

				bpf_map_lookup_elem(stats_fd, &k, &v);
				fprintf(stderr, "smrelay: verdicts[%s] %llu\n", k == 0 ?
				    "redirected" : k == 1 ? "no partner" : "empty",
				    (unsigned long long)v);
			}
		}
		if (n == 0 && idle_ms > 0 && !eof[0] && !eof[1] &&
		    recv_total(cfd, &rx[0], &idle[0]) == 0 &&
		    recv_total(bfd, &rx[1], &idle[1]) == 0 &&
		    idle[0] >= idle_ms && idle[1] >= idle_ms) {
			if (verbose)
				fprintf(stderr, "smrelay: idle, closing\n");
			break;
		}
	}
out:
	/* close() takes the sockets out of both maps (sock_map_close) */
	if (ep != -1)
		close(ep);
}

/* ---- sessions ----------------------------------------------------------- */

static void *
session(void *arg)
{
	int cfd = (int)(intptr_t)arg, bfd;

	if ((bfd = dial_target()) == -1) {
		perror("smrelay: connect to target");
		goto out;
	}
	nodelay(cfd);
	if (mode == M_SOCKMAP)
		relay_sockmap(cfd, bfd);
	else
		relay_user(cfd, bfd, mode == M_SPLICE);
	close(bfd);
out:
	/* close() also takes a sockmap socket out of both maps */
	close(cfd);
	return NULL;
}

/* Loads relay.bpf.o and attaches its program to the active map. */
static int
bpf_setup(const char *path, bool stream)
{
	struct bpf_object *obj;
	struct bpf_program *prog;
	int rc = -1;

	if ((obj = bpf_object__open_file(path, NULL)) == NULL ||
	    libbpf_get_error(obj)) {
		fprintf(stderr, "smrelay: open %s failed\n", path);
		return -1;
	}
	if ((prog = bpf_object__find_program_by_name(obj, "relay_verdict")) == NULL)
		goto out;
	bpf_program__set_type(prog, BPF_PROG_TYPE_SK_SKB);
	if (bpf_object__load(obj) != 0) {
		fprintf(stderr, "smrelay: loading %s failed\n", path);
		goto out;
	}
	peers_fd = bpf_object__find_map_fd_by_name(obj, "peers");
	active_fd = bpf_object__find_map_fd_by_name(obj, "active");
	stats_fd = bpf_object__find_map_fd_by_name(obj, "stats");
	if (peers_fd < 0 || active_fd < 0)
		goto out;
	if (bpf_prog_attach(bpf_program__fd(prog), active_fd, stream ?
	    BPF_SK_SKB_STREAM_VERDICT : BPF_SK_SKB_VERDICT, 0) != 0) {
		perror("smrelay: bpf_prog_attach");
		goto out;
	}
	rc = 0;
out:
	/* on success the object (maps, program) lives as long as the process */
	if (rc == -1)
		bpf_object__close(obj);
	return rc;
}

int
main(int argc, char **argv)
{
	const char *obj = "relay.bpf.o", *m = NULL;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int ch, port = 0, lfd, cfd, one = 1;
	bool stream = false;
	pthread_t t;
	pthread_attr_t at;

	while ((ch = getopt(argc, argv, "m:l:t:o:si:e:v")) != -1) {
		switch (ch) {
		case 'm': m = optarg; break;
		case 'l': port = atoi(optarg); break;
		case 't': target_port = atoi(optarg); break;
		case 'o': obj = optarg; break;
		case 's': stream = true; break;
		case 'i': idle_ms = atol(optarg); break;
		case 'v': verbose = true; break;
		case 'e':
			if (strcmp(optarg, "now") == 0)
				eof_mode = E_NOW;
			else if (strcmp(optarg, "unlink") == 0)
				eof_mode = E_UNLINK;
			else if (strcmp(optarg, "wait") != 0)
				goto usage;
			break;
		default:
			goto usage;
		}
	}
	if (m == NULL || port <= 0 || target_port <= 0)
		goto usage;
	if (strcmp(m, "copy") == 0)
		mode = M_COPY;
	else if (strcmp(m, "splice") == 0)
		mode = M_SPLICE;
	else if (strcmp(m, "sockmap") == 0)
		mode = M_SOCKMAP;
	else
		goto usage;
	signal(SIGPIPE, SIG_IGN);
	if (mode == M_SOCKMAP && bpf_setup(obj, stream) == -1)
		return 1;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(lfd, 128) == -1) {
		perror("smrelay: listen");
		return 1;
	}
	pthread_attr_init(&at);
	pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
	for (;;) {
		if ((cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) == -1) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("smrelay: accept");
			return 1;
		}
		if (pthread_create(&t, &at, session, (void *)(intptr_t)cfd) != 0)
			close(cfd);
	}
usage:
	fprintf(stderr, "usage: smrelay -m copy|splice|sockmap -l PORT -t PORT "
	    "[-o relay.bpf.o] [-s] [-i IDLE_MS] [-e wait|now|unlink] [-v]\n");
	return 2;
}
