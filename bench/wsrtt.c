/*
 * wsrtt.c -- the benchmark's websocket round-trip client.
 *
 *   wsrtt -a ADDR -p PORT [-n MESSAGES] [-w WARMUP] [-s SIZE] [-u PATH]
 *         [-H HELD -U PATHFMT [-g]]
 *
 * Opens one websocket (RFC 6455 handshake over plain HTTP/1.1), then sends
 * MESSAGES text messages of SIZE bytes (<= 125) one at a time, each after
 * the echo of the previous one came back, timing each round trip. The first
 * WARMUP messages are not counted. Prints one JSON line:
 *   {"n": N, "p50_us": .., "p90_us": .., "p99_us": .., "mean_us": .., "max_us": ..}
 *
 * With -H, first opens HELD other websockets, the i-th on PATHFMT with i
 * for its %d (e.g. "/user/u%d/api/kernels/k/channels": one Jupyter user's
 * kernel each), has one message echoed on each, and keeps them open and
 * silent while the probe above runs. It prints "held HELD" once they are
 * open; with -g it then waits for a line on stdin before the probe starts
 * (so that the caller can measure the proxy in between).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int
read_full(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = read(fd, p, len);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n < 0 && errno == EINTR)
			continue;
		else
			return -1;
	}
	return 0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void
fail(const char *what)
{
	printf("{\"error\": \"%s\"}\n", what);
	fprintf(stderr, "wsrtt: %s (%s)\n", what, strerror(errno));
	exit(1);
}

/* Connects and does the opening handshake on path; exits on failure. */
static int
ws_open(const struct sockaddr_in *sin, const char *addr, int port, const char *path)
{
	char req[512], head[4096];
	size_t hl = 0;
	int fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    connect(fd, (const struct sockaddr *)sin, sizeof(*sin)) < 0)
		fail("connect");
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s:%d\r\n"
	    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
	    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	    "Sec-WebSocket-Version: 13\r\n\r\n", path, addr, port);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req))
		fail("write handshake");
	/* Read the response head byte by byte: nothing may follow it yet. */
	while (hl < sizeof(head) - 1) {
		if (read(fd, head + hl, 1) != 1)
			fail("handshake: connection closed");
		hl++;
		head[hl] = '\0';
		if (hl >= 4 && memcmp(head + hl - 4, "\r\n\r\n", 4) == 0)
			break;
	}
	if (strncmp(head, "HTTP/1.1 101", 12) != 0) {
		fprintf(stderr, "wsrtt: handshake answered: %.200s\n", head);
		fail("handshake refused");
	}
	return fd;
}

/* Sends frame (a masked text message of size bytes) and reads its echo. */
static void
echo_one(int fd, const unsigned char *frame, int size, unsigned char *resp)
{
	if (write(fd, frame, (size_t)(6 + size)) != 6 + size)
		fail("write");
	if (read_full(fd, resp, 2) < 0 || resp[0] != 0x81 ||
	    (resp[1] & 0x7f) != size || read_full(fd, resp + 2, (size_t)size) < 0)
		fail("bad echo");
	if (resp[2] != 'a')
		fail("echo differs");
}

int
main(int argc, char **argv)
{
	const char *addr = NULL, *path = "/ws";
	const char *heldfmt = NULL;
	int port = 0, n = 2000, warm = 200, size = 32, ch, fd, i, held = 0, *hfd = NULL;
	bool wait_go = false;
	struct sockaddr_in sin;
	uint64_t *rtt, sum = 0;
	unsigned char frame[4 + 2 + 125], resp[2 + 125];

	while ((ch = getopt(argc, argv, "a:p:n:w:s:u:H:U:g")) != -1) {
		switch (ch) {
		case 'a': addr = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'n': n = atoi(optarg); break;
		case 'w': warm = atoi(optarg); break;
		case 's': size = atoi(optarg); break;
		case 'u': path = optarg; break;
		case 'H': held = atoi(optarg); break;
		case 'U': heldfmt = optarg; break;
		case 'g': wait_go = true; break;
		default:
			fprintf(stderr, "usage: wsrtt -a ADDR -p PORT [-n N] [-w W] [-s SIZE] [-u PATH] "
			    "[-H HELD -U PATHFMT [-g]]\n");
			return 2;
		}
	}
	if (addr == NULL || port <= 0 || n < 1 || warm < 0 || size < 1 || size > 125 ||
	    held < 0 || (held > 0 && (heldfmt == NULL || strstr(heldfmt, "%d") == NULL))) {
		fprintf(stderr, "wsrtt: bad arguments\n");
		return 2;
	}
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1)
		fail("bad address");
	frame[0] = 0x81;
	frame[1] = (unsigned char)(0x80 | size);
	memcpy(frame + 2, "\x12\x34\x56\x78", 4);
	for (i = 0; i < size; i++)
		frame[6 + i] = (unsigned char)('a' + i % 26) ^ frame[2 + (i & 3)];
	if (held > 0) {
		if ((hfd = calloc((size_t)held, sizeof(*hfd))) == NULL)
			fail("out of memory");
		for (i = 0; i < held; i++) {
			char hp[256];

			snprintf(hp, sizeof(hp), heldfmt, i);
			hfd[i] = ws_open(&sin, addr, port, hp);
			echo_one(hfd[i], frame, size, resp);
		}
		printf("held %d\n", held);
		fflush(stdout);
		if (wait_go) {
			char line[64];

			if (fgets(line, sizeof(line), stdin) == NULL)
				fail("no go on stdin");
		}
	}
	fd = ws_open(&sin, addr, port, path);
	if ((rtt = calloc((size_t)n, sizeof(*rtt))) == NULL)
		fail("out of memory");
	for (i = 0; i < warm + n; i++) {
		uint64_t t0 = now_ns(), t;

		echo_one(fd, frame, size, resp);
		t = now_ns() - t0;
		if (i >= warm) {
			rtt[i - warm] = t;
			sum += t;
		}
	}
	/* Close handshake, politely. */
	{
		unsigned char cl[6] = { 0x88, 0x80, 0, 0, 0, 0 };

		(void)!write(fd, cl, sizeof(cl));
	}
	close(fd);
	for (i = 0; i < held; i++)
		close(hfd[i]);
	free(hfd);
	qsort(rtt, (size_t)n, sizeof(*rtt), cmp_u64);
	printf("{\"n\": %d, \"p50_us\": %.1f, \"p90_us\": %.1f, \"p99_us\": %.1f, "
	    "\"mean_us\": %.1f, \"max_us\": %.1f}\n", n,
	    rtt[n / 2] / 1e3, rtt[(size_t)(n * 0.90)] / 1e3,
	    rtt[(size_t)(n * 0.99)] / 1e3, (double)sum / n / 1e3, rtt[n - 1] / 1e3);
	return 0;
}
