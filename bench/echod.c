/*
 * echod.c -- the benchmark's TCP echo server (runs inside a pool VM).
 *
 *   echod -p PORT [-b ADDR] [-c]
 *
 * One thread, epoll, non-blocking sockets. Every byte read is written back.
 * With -c the server closes each connection after its first echo (the
 * connection-rate scenario: the server closes first, so the TIME_WAIT
 * sockets stay in the VM's namespace and the client's ports never run out).
 * Without -c connections stay open until the client closes them (the idle
 * sessions scenario).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

static void
die(const char *what)
{
	perror(what);
	exit(1);
}

static void
raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* Write all of buf; a socket that cannot take a few bytes is waited for. */
static int
write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n > 0) {
			buf += n;
			len -= (size_t)n;
		} else if (n < 0 && errno == EAGAIN) {
			fd_set w;

			FD_ZERO(&w);
			if (fd >= FD_SETSIZE)
				usleep(100);
			else {
				FD_SET(fd, &w);
				select(fd + 1, NULL, &w, NULL, NULL);
			}
		} else if (n < 0 && errno == EINTR)
			continue;
		else
			return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	const char *addr = "0.0.0.0";
	int port = 0, close_after = 0, ch, lfd, ep, one = 1;
	struct sockaddr_in sin;
	struct epoll_event ev, evs[256];
	static char buf[65536];

	while ((ch = getopt(argc, argv, "p:b:c")) != -1) {
		switch (ch) {
		case 'p': port = atoi(optarg); break;
		case 'b': addr = optarg; break;
		case 'c': close_after = 1; break;
		default:
			fprintf(stderr, "usage: echod -p PORT [-b ADDR] [-c]\n");
			return 2;
		}
	}
	if (port <= 0 || port > 65535) {
		fprintf(stderr, "echod: -p PORT is required\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	raise_nofile();

	if ((lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0)) < 0)
		die("socket");
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	if (inet_pton(AF_INET, addr, &sin.sin_addr) != 1) {
		fprintf(stderr, "echod: bad address %s\n", addr);
		return 2;
	}
	if (bind(lfd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
		die("bind");
	if (listen(lfd, 4096) < 0)
		die("listen");
	if ((ep = epoll_create1(0)) < 0)
		die("epoll_create1");
	ev.events = EPOLLIN;
	ev.data.fd = lfd;
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
		die("epoll_ctl");

	for (;;) {
		int n = epoll_wait(ep, evs, 256, -1), i;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (i = 0; i < n; i++) {
			int fd = evs[i].data.fd;

			if (fd == lfd) {
				for (;;) {
					int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK);

					if (c < 0)
						break;
					setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					ev.events = EPOLLIN;
					ev.data.fd = c;
					if (epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev) < 0)
						close(c);
				}
				continue;
			}
			for (;;) {
				ssize_t r = read(fd, buf, sizeof(buf));

				if (r > 0) {
					if (write_all(fd, buf, (size_t)r) < 0) {
						close(fd);
						break;
					}
					if (close_after) {
						close(fd);
						break;
					}
					if ((size_t)r < sizeof(buf))
						break;
					continue;
				}
				if (r < 0 && errno == EAGAIN)
					break;
				if (r < 0 && errno == EINTR)
					continue;
				close(fd);   /* EOF or error; epoll forgets it */
				break;
			}
		}
	}
}
