/*
 * holdconns.c -- the benchmark's idle-sessions client.
 *
 *   holdconns -a ADDR -p PORT -n N [-s SRCADDR]
 *
 * Opens N connections (at most 256 connecting at once), sends one byte on
 * each and waits for it to come back, so that every connection is relayed
 * end to end by the proxy. Then prints "ready N SECONDS" on stdout and holds
 * them all open, idle, until its standard input ends (or a line arrives);
 * then closes them and exits 0. A connection that fails is an error: it
 * prints "error ..." and exits 1.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define INFLIGHT 256
#define TIMEOUT_S 120

enum { C_FREE, C_CONNECTING, C_WAITING, C_DONE };

struct conn {
	int fd;
	int state;
};

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	const char *addr = NULL, *srcaddr = NULL;
	int port = 0, n = 0, ch, ep, i, next = 0, inflight = 0, done = 0, one = 1;
	struct sockaddr_in dst, src;
	struct epoll_event ev, evs[256];
	struct conn *cs;
	struct rlimit rl;
	double t0;
	char line[64];

	while ((ch = getopt(argc, argv, "a:p:n:s:")) != -1) {
		switch (ch) {
		case 'a': addr = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'n': n = atoi(optarg); break;
		case 's': srcaddr = optarg; break;
		default:
			fprintf(stderr, "usage: holdconns -a ADDR -p PORT -n N [-s SRC]\n");
			return 2;
		}
	}
	if (addr == NULL || port <= 0 || n <= 0) {
		fprintf(stderr, "holdconns: bad arguments\n");
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
	memset(&src, 0, sizeof(src));
	src.sin_family = AF_INET;
	if (inet_pton(AF_INET, addr, &dst.sin_addr) != 1 ||
	    (srcaddr && inet_pton(AF_INET, srcaddr, &src.sin_addr) != 1)) {
		fprintf(stderr, "holdconns: bad address\n");
		return 2;
	}
	if ((cs = calloc((size_t)n, sizeof(*cs))) == NULL ||
	    (ep = epoll_create1(0)) < 0) {
		perror("holdconns");
		return 1;
	}
	t0 = now_s();
	while (done < n) {
		int k;

		while (inflight < INFLIGHT && next < n) {
			struct conn *c = &cs[next++];

			if ((c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) < 0) {
				printf("error socket: %s (at %d)\n", strerror(errno), next);
				return 1;
			}
			setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
			if (srcaddr && bind(c->fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
				printf("error bind: %s\n", strerror(errno));
				return 1;
			}
			if (connect(c->fd, (struct sockaddr *)&dst, sizeof(dst)) < 0 &&
			    errno != EINPROGRESS) {
				printf("error connect: %s (at %d)\n", strerror(errno), next);
				return 1;
			}
			c->state = C_CONNECTING;
			ev.events = EPOLLOUT;
			ev.data.ptr = c;
			epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
			inflight++;
		}
		if (now_s() - t0 > TIMEOUT_S) {
			printf("error timeout: %d of %d connections echoed after %ds\n",
			    done, n, TIMEOUT_S);
			return 1;
		}
		k = epoll_wait(ep, evs, 256, 1000);
		for (i = 0; i < k; i++) {
			struct conn *c = evs[i].data.ptr;
			int err = 0;
			socklen_t elen = sizeof(err);
			char b;
			ssize_t r;

			if (c->state == C_CONNECTING) {
				if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 ||
				    err || write(c->fd, "x", 1) != 1) {
					printf("error connect: %s (after %d ok)\n",
					    strerror(err ? err : errno), done);
					return 1;
				}
				c->state = C_WAITING;
				ev.events = EPOLLIN;
				ev.data.ptr = c;
				epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
			} else if (c->state == C_WAITING) {
				r = read(c->fd, &b, 1);
				if (r == 1) {
					c->state = C_DONE;
					epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
					inflight--;
					done++;
				} else if (r == 0 || errno != EAGAIN) {
					printf("error: connection closed before its echo (after %d ok)\n",
					    done);
					return 1;
				}
			}
		}
	}
	printf("ready %d %.3f\n", n, now_s() - t0);
	fflush(stdout);
	/* Hold: until stdin ends or says something. */
	if (fgets(line, sizeof(line), stdin) == NULL)
		line[0] = '\0';
	/* Every connection must still be open: a closed one reads EOF. */
	for (i = 0; i < n; i++) {
		char b;
		ssize_t r = recv(cs[i].fd, &b, 1, MSG_DONTWAIT);

		if (r == 0) {
			printf("error: connection %d was closed while idle\n", i);
			return 1;
		}
	}
	for (i = 0; i < n; i++)
		close(cs[i].fd);
	printf("closed %d\n", n);
	return 0;
}
