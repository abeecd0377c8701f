/*
 * pingpong.c -- the benchmark's 1-byte round trip client.
 *
 *   pingpong -a ADDR -p PORT [-n COUNT] [-w WARMUP] [-i INTERVAL_US] [-r]
 *
 * Sends one byte and waits for it to come back, COUNT times (after WARMUP
 * round trips that are not counted), one every INTERVAL_US microseconds (0:
 * back to back), against an echo server. Without -r all of them go over one
 * connection: a keystroke echoed by an interactive SSH session. With -r each
 * round trip is a new connection (connect, one byte each way, reset): a
 * probe of how long the proxy's accepting thread takes to get to a new
 * client, i.e. of stalls of its event loop. Prints one JSON line:
 *   {"n": N, "errors": E, "p50_us": ..., "p99_us": ..., "p999_us": ...,
 *    "max_us": ..., "late": L}
 * where late counts the round trips of more than 1 ms.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static struct sockaddr_in dst;

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int
dial(void)
{
	struct timeval tv = { 5, 0 };
	int fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void
hangup(int fd)
{
	struct linger lg = { 1, 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	close(fd);
}

/* One byte there and back on fd; 0 or -1. */
static int
roundtrip(int fd)
{
	char c = 'k';
	ssize_t n;

	errno = 0;
	if (write(fd, &c, 1) != 1)
		return -1;
	do
		n = read(fd, &c, 1);
	while (n == -1 && errno == EINTR);
	return n == 1 ? 0 : -1;
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
	const char *addr = NULL;
	int port = 0, ch, fd = -1, fresh = 0;
	long count = 10000, warm = 100, interval = 0, i, n = 0, errors = 0, late = 0;
	uint32_t *lat;
	uint64_t t0, next;
	struct timespec ts;

	while ((ch = getopt(argc, argv, "a:p:n:w:i:r")) != -1) {
		switch (ch) {
		case 'a': addr = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'n': count = atol(optarg); break;
		case 'w': warm = atol(optarg); break;
		case 'i': interval = atol(optarg); break;
		case 'r': fresh = 1; break;
		default:
			fprintf(stderr, "usage: pingpong -a ADDR -p PORT [-n N] [-w N] "
			    "[-i US] [-r]\n");
			return 2;
		}
	}
	if (addr == NULL || port <= 0 || count <= 0 || warm < 0 || interval < 0) {
		fprintf(stderr, "pingpong: bad arguments\n");
		return 2;
	}
	dst.sin_family = AF_INET;
	dst.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, addr, &dst.sin_addr) != 1) {
		fprintf(stderr, "pingpong: bad address %s\n", addr);
		return 2;
	}
	if ((lat = calloc((size_t)count, sizeof(*lat))) == NULL)
		return 1;
	next = now_ns();
	for (i = 0; i < warm + count; i++) {
		if (interval > 0) {
			next += (uint64_t)interval * 1000u;
			ts.tv_sec = (time_t)(next / 1000000000u);
			ts.tv_nsec = (long)(next % 1000000000u);
			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
		}
		if (!fresh && fd == -1 && (fd = dial()) == -1) {
			fprintf(stderr, "pingpong: connect: %s\n", strerror(errno));
			return 1;
		}
		t0 = now_ns();
		if (fresh && (fd = dial()) == -1) {
			if (errors++ < 5)
				fprintf(stderr, "pingpong: connect: %s\n", strerror(errno));
			continue;
		}
		if (roundtrip(fd) == -1) {
			if (errors++ < 5)
				fprintf(stderr, "pingpong: round trip: %s\n",
				    errno ? strerror(errno) : "closed");
			hangup(fd);
			fd = -1;
			continue;
		}
		if (i >= warm) {
			lat[n] = (uint32_t)((now_ns() - t0) / 1000u);
			late += lat[n] > 1000;
			n++;
		}
		if (fresh) {
			hangup(fd);
			fd = -1;
		}
	}
	if (fd != -1)
		close(fd);
	qsort(lat, (size_t)n, sizeof(*lat), cmp_u32);
	printf("{\"n\": %ld, \"errors\": %ld, \"p50_us\": %u, \"p99_us\": %u, "
	    "\"p999_us\": %u, \"max_us\": %u, \"late\": %ld}\n", n, errors,
	    n ? lat[n / 2] : 0, n ? lat[(size_t)((double)n * 0.99)] : 0,
	    n ? lat[(size_t)((double)n * 0.999)] : 0, n ? lat[n - 1] : 0, late);
	free(lat);
	return 0;
}
