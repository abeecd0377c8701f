/*
 * ratehttp.c -- the benchmark's fixed-rate (open-loop) HTTP/1.1 load.
 *
 *   ratehttp -a ADDR -p PORT -r RATE [-d SECONDS] [-w WARMUP_S] [-c CONNS]
 *            [-u PATH] [-t]
 *
 * Sends RATE requests per second for SECONDS (default 10) over CONNS
 * (default 50) keep-alive connections, TLS with -t (no certificate check),
 * one request at a time per connection. Request i is due at start + i/RATE,
 * whatever happened to the ones before it (open loop): a request that finds
 * no idle connection waits for one, and its latency counts from when it was
 * due, not from when it was sent (no coordinated omission, as wrk2 does).
 * Latency ends with the last byte of the response (Content-Length or
 * chunked framing). Requests due in the first WARMUP_S seconds (default 1)
 * are not counted. Prints one JSON line:
 *   {"rate": R, "achieved": .., "n": .., "errors": .., "late": ..,
 *    "p50_us": .., "p90_us": .., "p99_us": .., "p999_us": .., "max_us": ..}
 * "achieved" is answers per second from the first counted request's due
 * time to the last answer; "late" counts requests sent more than 1 ms after
 * they were due (the client or the server could not keep up); "errors"
 * counts counted requests that failed, or were not answered (or not even
 * sent) when it gives up: it stops SECONDS + 10 s after it started,
 * whatever is missing.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

/* Latency histogram: 1 us buckets below 100 ms, then 1 ms buckets to 100 s. */
#define FINE_US   100000
#define COARSE_MS 100000
#define NBUCKETS  (FINE_US + COARSE_MS)
#define RBUF      65536

struct conn {
	int      fd;
	SSL     *ssl;
	bool     busy;
	uint64_t due_ns;        /* when the request in flight was due */
	bool     counted;
	char     buf[RBUF];
	size_t   len;
};

static uint64_t *hist;
static uint64_t n_ok, n_err, n_late, max_us, last_ns;

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
die(const char *what)
{
	printf("{\"error\": \"%s\"}\n", what);
	fprintf(stderr, "ratehttp: %s (%s)\n", what, strerror(errno));
	exit(1);
}

static int
conn_open(struct conn *c, const struct sockaddr_in *sin, SSL_CTX *ctx)
{
	int one = 1;

	c->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (c->fd < 0 || connect(c->fd, (const struct sockaddr *)sin,
	    sizeof(*sin)) < 0)
		return -1;
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (ctx != NULL) {
		/* Blocking handshake, then non-blocking like the plain case. */
		if ((c->ssl = SSL_new(ctx)) == NULL || !SSL_set_fd(c->ssl, c->fd) ||
		    SSL_connect(c->ssl) != 1)
			return -1;
	}
	return 0;
}

/* Bytes of one whole response at the start of p[0..len), or 0 if incomplete, -1 if bad. */
static long
resp_len(const char *p, size_t len)
{
	const char *end = memmem(p, len, "\r\n\r\n", 4), *q;
	size_t head, at;

	if (end == NULL)
		return len > 16384 ? -1 : 0;
	head = (size_t)(end - p) + 4;
	for (q = p; q < end; ) {
		const char *eol = memmem(q, (size_t)(end + 2 - q), "\r\n", 2);
		size_t ll = (size_t)(eol - q);
		if (ll > 15 && strncasecmp(q, "content-length:", 15) == 0)
			return head + strtoul(q + 15, NULL, 10) <= len ?
			    (long)(head + strtoul(q + 15, NULL, 10)) : 0;
		if (ll > 18 && strncasecmp(q, "transfer-encoding:", 18) == 0 &&
		    memmem(q, ll, "chunked", 7) != NULL) {
			/* Walk the chunks: size line, data, CRLF; size 0 ends it. */
			at = head;
			for (;;) {
				const char *nl = memmem(p + at, len - at, "\r\n", 2);
				unsigned long sz;
				if (nl == NULL)
					return 0;
				sz = strtoul(p + at, NULL, 16);
				at = (size_t)(nl - p) + 2;
				if (sz == 0)   /* no trailers from our servers */
					return at + 2 <= len ? (long)(at + 2) : 0;
				if (at + sz + 2 > len)
					return 0;
				at += sz + 2;
			}
		}
		q = eol + 2;
	}
	return (long)head;   /* no body (e.g. 204, 304) */
}

static void
record(struct conn *c, uint64_t now)
{
	uint64_t us = (now - c->due_ns) / 1000;

	if (!c->counted)
		return;
	n_ok++;
	last_ns = now;
	if (us > max_us)
		max_us = us;
	if (us < FINE_US)
		hist[us]++;
	else if (us / 1000 < COARSE_MS)
		hist[FINE_US + us / 1000]++;
	else
		hist[NBUCKETS - 1]++;
}

static uint64_t
pct(double q)
{
	uint64_t want = (uint64_t)(q * (double)n_ok), seen = 0;

	if (n_ok == 0)
		return 0;
	for (uint64_t i = 0; i < NBUCKETS; i++) {
		seen += hist[i];
		if (seen > want)
			return i < FINE_US ? i : (i - FINE_US) * 1000;
	}
	return max_us;
}

int
main(int argc, char **argv)
{
	const char *addr = NULL, *path = "/";
	int port = 0, nconn = 50, ch, ep;
	double rate = 0, secs = 10, warm = 1;
	bool tls = false;
	struct sockaddr_in sin;
	SSL_CTX *ctx = NULL;
	struct conn *conns;
	struct epoll_event ev, evs[256];
	char req[512];
	int reqlen;
	uint64_t start, deadline, interval, next_i = 0, total, warm_i;
	int nbusy = 0, idle = 0;

	while ((ch = getopt(argc, argv, "a:p:r:d:w:c:u:t")) != -1) {
		switch (ch) {
		case 'a': addr = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'r': rate = atof(optarg); break;
		case 'd': secs = atof(optarg); break;
		case 'w': warm = atof(optarg); break;
		case 'c': nconn = atoi(optarg); break;
		case 'u': path = optarg; break;
		case 't': tls = true; break;
		default:
			fprintf(stderr, "usage: ratehttp -a ADDR -p PORT -r RATE "
			    "[-d S] [-w S] [-c CONNS] [-u PATH] [-t]\n");
			return 2;
		}
	}
	if (addr == NULL || port <= 0 || rate <= 0 || secs <= 0 || nconn < 1 ||
	    nconn > 10000 || warm < 0 || warm >= secs) {
		fprintf(stderr, "ratehttp: need -a, -p and -r (and sane -d, -w, -c)\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	/* Sleep to the microsecond, not to the default 50 us timer slack. */
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1)
		die("bad address");
	if (tls && ((ctx = SSL_CTX_new(TLS_client_method())) == NULL))
		die("SSL_CTX_new");
	reqlen = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s:%d\r\n"
	    "User-Agent: ratehttp\r\n\r\n", path, addr, port);
	if ((hist = calloc(NBUCKETS, sizeof(*hist))) == NULL ||
	    (conns = calloc((size_t)nconn, sizeof(*conns))) == NULL)
		die("out of memory");
	if ((ep = epoll_create1(0)) < 0)
		die("epoll_create1");
	for (int i = 0; i < nconn; i++) {
		if (conn_open(&conns[i], &sin, ctx) == -1)
			die("connect");
		if (fcntl(conns[i].fd, F_SETFL, O_NONBLOCK) < 0)
			die("fcntl");
		ev.events = EPOLLIN;
		ev.data.u32 = (uint32_t)i;
		if (epoll_ctl(ep, EPOLL_CTL_ADD, conns[i].fd, &ev) < 0)
			die("epoll_ctl");
	}

	interval = (uint64_t)(1e9 / rate);
	if (interval == 0)
		interval = 1;
	total = (uint64_t)(secs * rate);
	warm_i = (uint64_t)(warm * rate);
	start = now_ns() + 1000000;   /* 1 ms from now */
	deadline = start + total * interval + 10000000000ull;

	for (;;) {
		uint64_t now = now_ns();
		int n;

		/* Send what is due, on idle connections. */
		while (next_i < total && start + next_i * interval <= now) {
			struct conn *c = NULL;
			for (int k = 0; k < nconn; k++) {
				int i = (idle + k) % nconn;
				if (!conns[i].busy && conns[i].fd >= 0) {
					c = &conns[i];
					idle = i + 1;
					break;
				}
			}
			if (c == NULL)
				break;   /* all busy: it waits, its latency runs */
			c->due_ns = start + next_i * interval;
			c->counted = next_i >= warm_i;
			if (now - c->due_ns > 1000000 && c->counted)
				n_late++;
			ssize_t w = tls ? SSL_write(c->ssl, req, reqlen) :
			    write(c->fd, req, (size_t)reqlen);
			if (w != reqlen) {
				/* A request this small goes out whole or not at all. */
				if (c->counted)
					n_err++;
				close(c->fd);
				c->fd = -1;
			} else {
				c->busy = true;
				nbusy++;
			}
			next_i++;
		}
		if (next_i >= total && nbusy == 0)
			break;
		if (now > deadline) {
			for (int i = 0; i < nconn; i++)
				if (conns[i].busy && conns[i].counted)
					n_err++;
			n_err += total - next_i;
			break;
		}

		/* Wait for responses, or until the next request is due. */
		struct timespec ts = { 0, 0 };
		if (next_i < total) {
			uint64_t due = start + next_i * interval;
			now = now_ns();
			if (due > now) {
				ts.tv_sec = (time_t)((due - now) / 1000000000u);
				ts.tv_nsec = (long)((due - now) % 1000000000u);
			}
		} else
			ts.tv_nsec = 10000000;
		n = epoll_pwait2(ep, evs, 256, &ts, NULL);
		if (n < 0 && errno != EINTR)
			die("epoll_pwait2");
		for (int e = 0; e < n; e++) {
			struct conn *c = &conns[evs[e].data.u32];
			for (;;) {
				ssize_t r;
				if (c->fd < 0)
					break;
				if (tls) {
					r = SSL_read(c->ssl, c->buf + c->len, (int)(RBUF - c->len));
					if (r <= 0) {
						int err = SSL_get_error(c->ssl, (int)r);
						if (err == SSL_ERROR_WANT_READ)
							break;
						r = -1;
					}
				} else {
					r = read(c->fd, c->buf + c->len, RBUF - c->len);
					if (r < 0 && (errno == EAGAIN || errno == EINTR))
						break;
				}
				if (r <= 0) {
					/* Closed or failed: whatever was in flight is lost. */
					if (c->busy && c->counted)
						n_err++;
					epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
					close(c->fd);
					c->fd = -1;
					nbusy -= c->busy;
					c->busy = false;
					break;
				}
				c->len += (size_t)r;
				long m = resp_len(c->buf, c->len);
				if (m < 0 || (m > 0 && !c->busy)) {
					if (c->counted)
						n_err++;
					epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
					close(c->fd);
					c->fd = -1;
					nbusy -= c->busy;
					c->busy = false;
					break;
				}
				if (m > 0) {
					record(c, now_ns());
					c->busy = false;
					nbusy--;
					memmove(c->buf, c->buf + m, c->len - (size_t)m);
					c->len -= (size_t)m;
				}
				if (c->len == RBUF) {
					errno = EMSGSIZE;
					die("response too large");
				}
			}
		}
	}
	{
		/* From the first counted request's due time to the last answer. */
		uint64_t from = start + warm_i * interval;
		double span = last_ns > from ? (double)(last_ns - from) / 1e9 : 0;
		printf("{\"rate\": %.0f, \"achieved\": %.0f, \"n\": %llu, \"errors\": %llu, "
		    "\"late\": %llu, \"p50_us\": %llu, \"p90_us\": %llu, \"p99_us\": %llu, "
		    "\"p999_us\": %llu, \"max_us\": %llu}\n", rate,
		    span > 0 ? (double)n_ok / span : 0.0,
		    (unsigned long long)n_ok, (unsigned long long)n_err,
		    (unsigned long long)n_late, (unsigned long long)pct(0.50),
		    (unsigned long long)pct(0.90), (unsigned long long)pct(0.99),
		    (unsigned long long)pct(0.999), (unsigned long long)max_us);
	}
	return 0;
}
