/*
 * connrate.c -- the benchmark's connection-rate client.
 *
 *   connrate -a ADDR -p PORT [-d SECONDS] [-c CONCURRENCY] [-s SRCADDR] [-R]
 *
 * Keeps CONCURRENCY connections in flight for SECONDS: each one connects,
 * sends 8 bytes, reads them back until the server closes, then closes and
 * is replaced by a new one. Prints one JSON line:
 *   {"conns": N, "errors": E, "seconds": S, "rate": N/S,
 *    "p50_us": ..., "p99_us": ...}
 * (latency = connect() to EOF of one connection). One thread, epoll.
 *
 * With -R the client resets instead: as soon as its 8 bytes are back it
 * closes with SO_LINGER 0 (an RST, no FIN), as a killed client or an SSH
 * sweep does; latency is then connect() to the last byte.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG "ping-pg\n"
#define MSGLEN 8
#define MAXC 4096
#define LAT_MAX (1u << 22)

enum { S_CONNECTING, S_READING };

struct slot {
	int      fd;
	int      state;
	int      got;
	uint64_t t0;
};

static struct sockaddr_in dst, src;
static int use_src;
static int reset;     /* -R */
static int ep;
static uint64_t nconns, nerrors;
static uint32_t *lat;     /* microseconds, one per finished connection */
static size_t nlat;

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int
start(struct slot *s)
{
	struct epoll_event ev;
	int fd, one = 1;

	s->fd = -1;
	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (use_src) {
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
			close(fd);
			return -1;
		}
	}
	s->t0 = now_ns();
	s->got = 0;
	if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0 &&
	    errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	s->fd = fd;
	s->state = S_CONNECTING;
	ev.events = EPOLLOUT;
	ev.data.ptr = s;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(fd);
		s->fd = -1;
		return -1;
	}
	return 0;
}

static void
finish(struct slot *s, int ok)
{
	struct linger lg = { 1, 0 };

	if (s->fd >= 0 && reset && ok)
		setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	if (ok) {
		nconns++;
		if (nlat < LAT_MAX)
			lat[nlat++] = (uint32_t)((now_ns() - s->t0) / 1000);
	} else
		nerrors++;
}

static void
step(struct slot *s, uint32_t events)
{
	struct epoll_event ev;
	char buf[256];
	int err = 0;
	socklen_t elen = sizeof(err);
	ssize_t n;

	if (s->state == S_CONNECTING) {
		if (getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err) {
			finish(s, 0);
			return;
		}
		if (write(s->fd, MSG, MSGLEN) != MSGLEN) {
			finish(s, 0);
			return;
		}
		s->state = S_READING;
		ev.events = EPOLLIN | EPOLLRDHUP;
		ev.data.ptr = s;
		if (epoll_ctl(ep, EPOLL_CTL_MOD, s->fd, &ev) < 0)
			finish(s, 0);
		return;
	}
	(void)events;
	for (;;) {
		n = read(s->fd, buf, sizeof(buf));
		if (n > 0) {
			s->got += (int)n;
			if (reset && s->got == MSGLEN) {
				finish(s, 1);
				return;
			}
			continue;
		}
		if (n == 0) {
			finish(s, s->got == MSGLEN);
			return;
		}
		if (errno == EAGAIN)
			return;
		if (errno == EINTR)
			continue;
		finish(s, 0);
		return;
	}
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	const char *addr = NULL, *srcaddr = NULL;
	int port = 0, conc = 32, ch, i;
	double secs = 10;
	static struct slot slots[MAXC];
	struct epoll_event evs[512];
	struct rlimit rl;
	uint64_t t0, deadline, t1;
	double el;

	while ((ch = getopt(argc, argv, "a:p:d:c:s:R")) != -1) {
		switch (ch) {
		case 'a': addr = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'd': secs = atof(optarg); break;
		case 'c': conc = atoi(optarg); break;
		case 's': srcaddr = optarg; break;
		case 'R': reset = 1; break;
		default:
			fprintf(stderr, "usage: connrate -a ADDR -p PORT [-d S] [-c N] [-s SRC] [-R]\n");
			return 2;
		}
	}
	if (addr == NULL || port <= 0 || conc < 1 || conc > MAXC || secs <= 0) {
		fprintf(stderr, "connrate: bad arguments\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	memset(&dst, 0, sizeof(dst));
	dst.sin_family = AF_INET;
	dst.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, addr, &dst.sin_addr) != 1) {
		fprintf(stderr, "connrate: bad address %s\n", addr);
		return 2;
	}
	if (srcaddr != NULL) {
		memset(&src, 0, sizeof(src));
		src.sin_family = AF_INET;
		if (inet_pton(AF_INET, srcaddr, &src.sin_addr) != 1) {
			fprintf(stderr, "connrate: bad address %s\n", srcaddr);
			return 2;
		}
		use_src = 1;
	}
	if ((lat = malloc(LAT_MAX * sizeof(*lat))) == NULL ||
	    (ep = epoll_create1(0)) < 0) {
		perror("connrate");
		return 1;
	}

	t0 = now_ns();
	deadline = t0 + (uint64_t)(secs * 1e9);
	for (i = 0; i < conc; i++)
		if (start(&slots[i]) < 0)
			nerrors++;
	for (;;) {
		uint64_t t = now_ns();
		int n, left;

		if (t >= deadline)
			break;
		left = (int)((deadline - t) / 1000000) + 1;
		n = epoll_wait(ep, evs, 512, left < 100 ? left : 100);
		if (n < 0 && errno != EINTR) {
			perror("epoll_wait");
			return 1;
		}
		for (i = 0; i < n; i++) {
			struct slot *s = evs[i].data.ptr;

			step(s, evs[i].events);
			if (s->fd < 0 && now_ns() < deadline) {
				/* Replace it; a failing start counts and is retried. */
				int tries = 0;

				while (start(s) < 0 && ++tries < 3)
					nerrors++;
			}
		}
		/* Slots that failed to start get another chance. */
		for (i = 0; i < conc; i++)
			if (slots[i].fd < 0 && now_ns() < deadline && start(&slots[i]) < 0)
				nerrors++;
		if (nerrors > 1000000)
			break;
	}
	t1 = now_ns();
	el = (double)(t1 - t0) / 1e9;
	for (i = 0; i < conc; i++)
		if (slots[i].fd >= 0)
			close(slots[i].fd);
	qsort(lat, nlat, sizeof(*lat), cmp_u32);
	printf("{\"conns\": %llu, \"errors\": %llu, \"seconds\": %.3f, \"rate\": %.1f, "
	    "\"p50_us\": %u, \"p99_us\": %u}\n",
	    (unsigned long long)nconns, (unsigned long long)nerrors, el,
	    (double)nconns / el,
	    nlat ? lat[nlat / 2] : 0, nlat ? lat[(size_t)((double)nlat * 0.99)] : 0);
	return 0;
}
