/*
 * test_agent_fakehttp.c -- see test_agent_fakehttp.h.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "test_agent_fakehttp.h"

#define FH_ROUTES 16
#define FH_REQS   256
#define FH_BUF    65536

struct fh_req {
	char method[16];
	char target[1024];
	char head[4096];
	char body[4096];
};

struct fh {
	pthread_t       t;
	pthread_mutex_t mu;
	int             lfd, port;
	int             wake[2];
	struct fh_route routes[FH_ROUTES];
	char           *bodies[FH_ROUTES];
	size_t          nroutes;
	struct fh_req  *reqs;
	size_t          nreqs;
};

static void
serve_one(struct fh *f, int fd)
{
	char *buf = malloc(FH_BUF), out[512], *hend, *cl, *sp1, *sp2;
	size_t have = 0, need, blen, i;
	struct fh_route r = { NULL, NULL, 404, "{\"error\":\"no route\"}", false, 0 };
	struct fh_req q;
	ssize_t n;

	memset(&q, 0, sizeof(q));
	for (;;) {
		n = recv(fd, buf + have, FH_BUF - 1 - have, 0);
		if (n <= 0)
			goto out;
		have += (size_t)n;
		buf[have] = '\0';
		if ((hend = strstr(buf, "\r\n\r\n")) == NULL)
			continue;
		need = (size_t)(hend - buf) + 4;
		if ((cl = strcasestr(buf, "\r\nContent-Length:")) != NULL && cl < hend)
			need += (size_t)atoi(cl + 17);
		if (have >= need)
			break;
	}
	sp1 = strchr(buf, ' ');
	sp2 = sp1 != NULL ? strchr(sp1 + 1, ' ') : NULL;
	if (sp1 == NULL || sp2 == NULL)
		goto out;
	snprintf(q.method, sizeof(q.method), "%.*s", (int)(sp1 - buf), buf);
	snprintf(q.target, sizeof(q.target), "%.*s", (int)(sp2 - sp1 - 1), sp1 + 1);
	snprintf(q.head, sizeof(q.head), "%.*s", (int)(hend - buf), buf);
	snprintf(q.body, sizeof(q.body), "%s", hend + 4);
	pthread_mutex_lock(&f->mu);
	if (f->nreqs < FH_REQS)
		f->reqs[f->nreqs++] = q;
	for (i = 0; i < f->nroutes; i++)
		if (strcmp(f->routes[i].method, q.method) == 0 &&
		    strncmp(f->routes[i].path, q.target, strlen(f->routes[i].path)) == 0) {
			r = f->routes[i];
			r.body = strdup(r.body);
			break;
		}
	if (i == f->nroutes)
		r.body = strdup(r.body);
	pthread_mutex_unlock(&f->mu);
	if (r.delay_ms > 0)
		usleep((useconds_t)r.delay_ms * 1000);
	blen = strlen(r.body);
	if (r.chunked) {
		snprintf(out, sizeof(out), "HTTP/1.1 %d X\r\nTransfer-Encoding: chunked\r\n"
		    "Connection: close\r\n\r\n", r.status);
		send(fd, out, strlen(out), MSG_NOSIGNAL);
		/* in pieces of 7 bytes, to exercise the framing */
		for (i = 0; i < blen; i += 7) {
			size_t k = blen - i < 7 ? blen - i : 7;

			snprintf(out, sizeof(out), "%zx\r\n", k);
			send(fd, out, strlen(out), MSG_NOSIGNAL);
			send(fd, r.body + i, k, MSG_NOSIGNAL);
			send(fd, "\r\n", 2, MSG_NOSIGNAL);
		}
		send(fd, "0\r\n\r\n", 5, MSG_NOSIGNAL);
	} else {
		snprintf(out, sizeof(out), "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
		    "Content-Length: %zu\r\nConnection: close\r\n\r\n", r.status, blen);
		send(fd, out, strlen(out), MSG_NOSIGNAL);
		send(fd, r.body, blen, MSG_NOSIGNAL);
	}
	free((char *)r.body);
out:
	free(buf);
	close(fd);
}

static void *
loop(void *arg)
{
	struct fh *f = arg;
	struct pollfd p[2] = { { .fd = f->lfd, .events = POLLIN },
	    { .fd = f->wake[0], .events = POLLIN } };
	int fd;

	for (;;) {
		if (poll(p, 2, -1) <= 0)
			continue;
		if (p[1].revents)
			return NULL;
		if ((fd = accept(f->lfd, NULL, NULL)) >= 0)
			serve_one(f, fd);
	}
}

void
fh_set_routes(struct fh *f, const struct fh_route *routes, size_t n)
{
	size_t i;

	pthread_mutex_lock(&f->mu);
	for (i = 0; i < f->nroutes; i++)
		free(f->bodies[i]);
	for (i = 0; i < n && i < FH_ROUTES; i++) {
		f->routes[i] = routes[i];
		f->bodies[i] = strdup(routes[i].body);
		f->routes[i].body = f->bodies[i];
	}
	f->nroutes = i;
	pthread_mutex_unlock(&f->mu);
}

struct fh *
fh_start(const struct fh_route *routes, size_t n)
{
	struct fh *f = calloc(1, sizeof(*f));
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int one = 1;

	pthread_mutex_init(&f->mu, NULL);
	f->reqs = calloc(FH_REQS, sizeof(*f->reqs));
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	f->lfd = socket(AF_INET, SOCK_STREAM, 0);
	setsockopt(f->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(f->lfd, (struct sockaddr *)&sin, sizeof(sin)) == -1 ||
	    listen(f->lfd, 64) == -1 || pipe(f->wake) == -1)
		abort();
	getsockname(f->lfd, (struct sockaddr *)&sin, &len);
	f->port = ntohs(sin.sin_port);
	fh_set_routes(f, routes, n);
	pthread_create(&f->t, NULL, loop, f);
	return f;
}

int
fh_port(const struct fh *f)
{
	return f->port;
}

static bool
match(const struct fh_req *q, const char *method, const char *prefix)
{
	return strcmp(q->method, method) == 0 &&
	    strncmp(q->target, prefix, strlen(prefix)) == 0;
}

size_t
fh_count(struct fh *f, const char *method, const char *prefix)
{
	size_t i, n = 0;

	pthread_mutex_lock(&f->mu);
	for (i = 0; i < f->nreqs; i++)
		n += match(&f->reqs[i], method, prefix);
	pthread_mutex_unlock(&f->mu);
	return n;
}

bool
fh_last(struct fh *f, const char *method, const char *prefix, char *head,
    size_t hsize, char *body, size_t bsize)
{
	size_t i;
	bool found = false;

	pthread_mutex_lock(&f->mu);
	for (i = f->nreqs; i > 0 && !found; i--)
		if (match(&f->reqs[i - 1], method, prefix)) {
			if (head != NULL)
				snprintf(head, hsize, "%s", f->reqs[i - 1].head);
			if (body != NULL)
				snprintf(body, bsize, "%s", f->reqs[i - 1].body);
			found = true;
		}
	pthread_mutex_unlock(&f->mu);
	return found;
}

void
fh_stop(struct fh *f)
{
	size_t i;

	if (write(f->wake[1], "x", 1) != 1)
		abort();
	pthread_join(f->t, NULL);
	close(f->lfd);
	close(f->wake[0]);
	close(f->wake[1]);
	for (i = 0; i < f->nroutes; i++)
		free(f->bodies[i]);
	free(f->reqs);
	pthread_mutex_destroy(&f->mu);
	free(f);
}
