/*
 * sockact.c -- see sockact.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/sockact.h"
#include "lib/log.h"

#define SD_LISTEN_FDS_START 3
#define SA_MAX 64   /* sockets taken, at most */

static struct {
	int                     fd;
	struct sockaddr_storage ss;
} passed[SA_MAX];
static size_t npassed;

static bool
same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family)
		return false;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port &&
		    x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return x->sin6_port == y->sin6_port &&
		    memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return false;
}

int
sa_add(int fd, const char *from)
{
	int type = 0, acc = 0;
	socklen_t tl = sizeof(type), al = sizeof(acc), sl;
	struct sockaddr_storage ss;

	sl = sizeof(ss);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == -1 ||
	    getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al) == -1 ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl) == -1 ||
	    type != SOCK_STREAM || !acc ||
	    (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) ||
	    npassed == SA_MAX) {
		log_warn("%s: fd %d is not a listening TCP socket poolgate can "
		    "use; closed", from, fd);
		close(fd);
		return -1;
	}
	passed[npassed].fd = fd;
	passed[npassed].ss = ss;
	npassed++;
	return 0;
}

size_t
sa_init(void)
{
	const char *spid = getenv("LISTEN_PID"), *sfds = getenv("LISTEN_FDS");
	char *end;
	long pid, n;

	if (spid == NULL || sfds == NULL)
		return 0;
	pid = strtol(spid, &end, 10);
	if (*end != '\0' || pid != (long)getpid())
		goto out;   /* meant for another process */
	n = strtol(sfds, &end, 10);
	if (*end != '\0' || n <= 0)
		goto out;
	for (long i = 0; i < n; i++)
		(void)sa_add(SD_LISTEN_FDS_START + (int)i, "socket activation");
out:
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	return npassed;
}

int
sa_take(const struct sockaddr_storage *sa)
{
	for (size_t i = 0; i < npassed; i++) {
		int fd = passed[i].fd, fl;

		if (!same_addr(&passed[i].ss, sa))
			continue;
		passed[i] = passed[--npassed];
		if ((fl = fcntl(fd, F_GETFL)) == -1 ||
		    fcntl(fd, F_SETFL, fl | O_NONBLOCK) == -1 ||
		    fcntl(fd, F_SETFD, FD_CLOEXEC) == -1) {
			log_err("passed socket: fd %d: %s", fd, strerror(errno));
			close(fd);
			return -1;
		}
		return fd;
	}
	return -1;
}

size_t
sa_left(void)
{
	return npassed;
}

size_t
sa_close_left(void)
{
	size_t n = npassed;

	while (npassed > 0)
		close(passed[--npassed].fd);
	return n;
}
