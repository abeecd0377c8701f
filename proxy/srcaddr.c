/*
 * srcaddr.c -- see srcaddr.h.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "proxy/srcaddr.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

static int
set_transparent(int fd, int family)
{
	int one = 1;

	if (family == AF_INET6)
		return setsockopt(fd, SOL_IPV6, IPV6_TRANSPARENT, &one,
		    sizeof(one));
	return setsockopt(fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one));
}

int
sa_transparent_check(int family, char *err, size_t errlen)
{
	int fd, rc = -1;

	if ((fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1) {
		snprintf(err, errlen, "cannot make a socket: %s", strerror(errno));
		return -1;
	}
	if (set_transparent(fd, family) == -1) {
		snprintf(err, errlen, "cannot set IP_TRANSPARENT (%s): poolgate "
		    "needs CAP_NET_ADMIN to connect from the client's address "
		    "(start it as root with `user` set, or give the service "
		    "AmbientCapabilities=CAP_NET_ADMIN)", strerror(errno));
		goto out;
	}
	rc = 0;
out:
	close(fd);
	return rc;
}

int
sa_bind_client(int fd, const struct sockaddr_storage *client, char *err,
    size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int one = 1;

	memcpy(&ss, client, sizeof(ss));
	if (ss.ss_family == AF_INET) {
		((struct sockaddr_in *)&ss)->sin_port = 0;
		len = sizeof(struct sockaddr_in);
	} else if (ss.ss_family == AF_INET6) {
		((struct sockaddr_in6 *)&ss)->sin6_port = 0;
		len = sizeof(struct sockaddr_in6);
	} else {
		errno = EAFNOSUPPORT;
		snprintf(err, errlen, "the client's address family");
		return -1;
	}
	if (set_transparent(fd, ss.ss_family) == -1) {
		snprintf(err, errlen, "IP_TRANSPARENT");
		return -1;
	}
	/*
	 * The port is chosen at connect, per destination: binding with port 0
	 * would reserve one for every VM connection from this address.
	 */
	(void)setsockopt(fd, SOL_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&ss, len) == -1) {
		snprintf(err, errlen, "bind to the client's address");
		return -1;
	}
	return 0;
}
