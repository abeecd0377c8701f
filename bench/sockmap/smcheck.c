/*
 * smcheck.c -- correctness probes for bench/sockmap's relays.
 *
 *   smcheck -p PORT -n BYTES [-r ROUNDS] [-k]  echo check (target: bench/echod)
 *   smcheck -p PORT -S SECONDS             backpressure probe
 *   smcheck -L PORT                        sink: accepts, never reads
 *
 * Echo check: ROUNDS times, a new connection to 127.0.0.1:PORT sends BYTES
 * of a pattern, shuts its writing half (FIN) right after the last byte,
 * and reads the echo until EOF; every byte read is compared with the
 * pattern (order and content) and the EOF must come after exactly BYTES.
 * So each round tests both directions end to end and both half-closes:
 * the client's FIN has to reach the echo server only after all its bytes,
 * and the server's FIN the client only after the whole echo. Prints
 *   {"rounds": R, "bad": B, "bytes": N, "seconds": S, "gbit_s": G}
 * and the first bad round's story on stderr; exits 1 if any was bad.
 *
 * With -k the FIN goes out only after the whole echo came back (the
 * relay never sees a half-closed client while bytes flow towards it).
 *
 * Backpressure probe: sends as fast as it can for SECONDS to a far end that
 * reads nothing (a relay in front of smcheck -L) and prints how many bytes
 * the sender could get rid of. With a relay that has backpressure that is
 * a few socket buffers; without, it grows for as long as the probe runs.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PAT_LEN  1048573u           /* prime: a lost MiB shows as a mismatch */
#define CHUNK    (256 * 1024)

static unsigned char pat[PAT_LEN];
static bool late_fin;               /* -k: FIN only after the whole echo */

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
pat_init(void)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;

	for (size_t i = 0; i < PAT_LEN; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		pat[i] = (unsigned char)x;
	}
}

/* Copies len pattern bytes of stream offset off (round r) into buf. */
static void
pat_fill(unsigned char *buf, uint64_t off, size_t len, long r)
{
	size_t p = (size_t)((off + (uint64_t)r * 7919u) % PAT_LEN), n;

	while (len > 0) {
		n = PAT_LEN - p < len ? PAT_LEN - p : len;
		memcpy(buf, pat + p, n);
		buf += n;
		len -= n;
		p = 0;
	}
}

static int
dial(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int fd;

	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * One echo round of n bytes. Returns 0 if the echo came back whole, in
 * order, and then EOF; else -1 with the story on stderr.
 */
static int
echo_round(int port, uint64_t n, long r)
{
	static unsigned char out[CHUNK], in[CHUNK], want[CHUNK];
	uint64_t sent = 0, got = 0;
	size_t olen = 0, ooff = 0;
	struct pollfd pf;
	bool shut = false;
	ssize_t k;
	int fd, rc = -1;

	if ((fd = dial(port)) == -1) {
		fprintf(stderr, "smcheck: round %ld: connect: %s\n", r, strerror(errno));
		return -1;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	pf.fd = fd;
	for (;;) {
		if (!shut && ooff == olen && sent == n && (!late_fin || got == n)) {
			shutdown(fd, SHUT_WR);
			shut = true;
		}
		pf.events = POLLIN | (shut || sent == n ? 0 : POLLOUT);
		if (poll(&pf, 1, 2000) == 0) {
			fprintf(stderr, "smcheck: round %ld: stuck: sent %llu of %llu, "
			    "got %llu\n", r, (unsigned long long)sent,
			    (unsigned long long)n, (unsigned long long)got);
			goto out;
		}
		if (!shut && sent < n && (pf.revents & POLLOUT)) {
			if (ooff == olen) {
				olen = n - sent < CHUNK ? (size_t)(n - sent) : CHUNK;
				pat_fill(out, sent, olen, r);
				ooff = 0;
			}
			k = send(fd, out + ooff, olen - ooff, MSG_NOSIGNAL);
			if (k > 0) {
				ooff += (size_t)k;
				if (ooff == olen)
					sent += olen;
			} else if (errno != EAGAIN) {
				fprintf(stderr, "smcheck: round %ld: send: %s\n", r,
				    strerror(errno));
				goto out;
			}
		}
		if (pf.revents & (POLLIN | POLLHUP | POLLERR)) {
			k = recv(fd, in, sizeof(in), 0);
			if (k == 0)
				break;
			if (k < 0) {
				if (errno == EAGAIN)
					continue;
				fprintf(stderr, "smcheck: round %ld: recv after %llu: "
				    "%s\n", r, (unsigned long long)got, strerror(errno));
				goto out;
			}
			pat_fill(want, got, (size_t)k, r);
			if (got + (uint64_t)k > n || memcmp(in, want, (size_t)k) != 0) {
				fprintf(stderr, "smcheck: round %ld: wrong bytes at "
				    "%llu\n", r, (unsigned long long)got);
				goto out;
			}
			got += (uint64_t)k;
		}
	}
	if (got != n) {
		fprintf(stderr, "smcheck: round %ld: EOF after %llu of %llu bytes "
		    "(%llu missing)\n", r, (unsigned long long)got,
		    (unsigned long long)n, (unsigned long long)(n - got));
		goto out;
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

/* Sends for secs seconds into a far end that reads nothing. */
static int
stall(int port, double secs)
{
	static unsigned char buf[CHUNK];
	uint64_t sent = 0;
	double end = now_s() + secs;
	struct pollfd pf;
	ssize_t k;
	int fd;

	if ((fd = dial(port)) == -1) {
		perror("smcheck: connect");
		return 1;
	}
	fcntl(fd, F_SETFL, O_NONBLOCK);
	pf.fd = fd;
	pf.events = POLLOUT;
	while (now_s() < end) {
		if (poll(&pf, 1, 100) <= 0)
			continue;
		if ((k = send(fd, buf, sizeof(buf), MSG_NOSIGNAL)) > 0)
			sent += (uint64_t)k;
		else if (errno != EAGAIN) {
			perror("smcheck: send");
			break;
		}
	}
	printf("{\"seconds\": %.1f, \"sent_bytes\": %llu}\n", secs,
	    (unsigned long long)sent);
	close(fd);
	return 0;
}

/* Accepts connections and never reads them; runs until killed. */
static int
sink(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int lfd, one = 1;

	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) == -1 ||
	    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == -1 ||
	    listen(lfd, 16) == -1) {
		perror("smcheck: listen");
		return 1;
	}
	for (;;)
		if (accept(lfd, NULL, NULL) == -1 && errno != EINTR)
			return 1;
}

int
main(int argc, char **argv)
{
	long rounds = 1, bad = 0, r;
	uint64_t n = 0;
	double secs = 0, t0, dt;
	int ch, port = 0, lport = 0;

	while ((ch = getopt(argc, argv, "p:n:r:S:L:k")) != -1) {
		switch (ch) {
		case 'p': port = atoi(optarg); break;
		case 'n': n = strtoull(optarg, NULL, 10); break;
		case 'r': rounds = atol(optarg); break;
		case 'S': secs = atof(optarg); break;
		case 'L': lport = atoi(optarg); break;
		case 'k': late_fin = true; break;
		default:
			goto usage;
		}
	}
	if (lport > 0)
		return sink(lport);
	if (port <= 0)
		goto usage;
	if (secs > 0)
		return stall(port, secs);
	if (n == 0 || rounds <= 0)
		goto usage;
	pat_init();
	t0 = now_s();
	for (r = 0; r < rounds; r++)
		if (echo_round(port, n, r) == -1)
			bad++;
	dt = now_s() - t0;
	printf("{\"rounds\": %ld, \"bad\": %ld, \"bytes\": %llu, \"seconds\": %.2f, "
	    "\"gbit_s\": %.2f}\n", rounds, bad, (unsigned long long)n, dt,
	    (double)n * (double)rounds * 8 / dt / 1e9);
	return bad > 0;
usage:
	fprintf(stderr, "usage: smcheck -p PORT -n BYTES [-r ROUNDS] [-k] | "
	    "-p PORT -S SECONDS | -L PORT\n");
	return 2;
}
