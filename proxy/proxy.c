/*
 * proxy.c -- see proxy.h.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "lib/log.h"
#include "proxy/proxy.h"
#include "proxy/session.h"

const char *
conn_err_name(enum conn_err e)
{
	static const char *const names[ERR__COUNT] = {
		[ERR_MAX_CONNECTIONS] = "max_connections",
		[ERR_PER_IP] = "per_ip_connections",
		[ERR_PER_IP_RATE] = "per_ip_rate",
		[ERR_NO_BACKEND] = "no_backend",
		[ERR_CONNECT_FAILED] = "connect_failed",
		[ERR_CONNECT_TIMEOUT] = "connect_timeout",
		[ERR_RESOURCES] = "resources",
		[ERR_BAD_FIRST_PACKET] = "bad_first_packet",
		[ERR_FIRST_PACKET_TIMEOUT] = "first_packet_timeout",
		[ERR_TLS_HANDSHAKE] = "tls_handshake",
		[ERR_BAD_SERVER_NAME] = "bad_server_name",
	};
	return (unsigned)e < ERR__COUNT ? names[e] : "unknown";
}

void
svc_count_response(struct service *s, int code)
{
	if (code >= 100 && code <= 599)
		s->http_responses[code / 100 - 1]++;
}

void
svc_unref(struct service *s)
{
	if (--s->refcnt > 0)
		return;
	/* The daemon freed its listeners when it let go of the service. */
	if (s->nlis != 0)
		pg_fatalx("service %s freed with %zu listener(s)", s->cfg.name,
		    s->nlis);
	SSL_CTX_free(s->ssl_server);
	SSL_CTX_free(s->ssl_client);
	cfg_service_clear(&s->cfg);
	free(s);
}

void
px_format_peer(const struct sockaddr *sa, char *addr, size_t addrlen, int *port)
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

	addr[0] = '\0';
	*port = 0;
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &s4->sin_addr, addr, addrlen);
		*port = ntohs(s4->sin_port);
	} else if (sa->sa_family == AF_INET6) {
		if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
			inet_ntop(AF_INET, &s6->sin6_addr.s6_addr[12], addr, addrlen);
		else
			inet_ntop(AF_INET6, &s6->sin6_addr, addr, addrlen);
		*port = ntohs(s6->sin6_port);
	}
}

void
px_keepalive_fd(int fd, uint64_t keepalive_ms, bool turn_off)
{
	int on = 1, off = 0, idle, intvl = 10, cnt = 3;

	if (fd < 0)
		return;
	if (keepalive_ms == 0) {
		if (turn_off)
			setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &off, sizeof(off));
		return;
	}
	idle = (int)((keepalive_ms + 999) / 1000);
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
	setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

void
px_set_keepalive(const struct px_ctx *px, int fd)
{
	px_keepalive_fd(fd, px->cfg->tcp_keepalive_ms, false);
}

void
px_dispatch(struct px_ctx *px)
{
	/* Reentrancy: a dequeued session may fail at once and end. */
	if (px->dispatching)
		return;
	px->dispatching = true;
	for (size_t i = 0; i < px->nsvc; i++)
		while (session_dequeue(px, px->svc[i]))
			;
	px->dispatching = false;
}

void
px_gone(struct px_ctx *px)
{
	if (px->sink != NULL && px->sink->session_gone != NULL)
		px->sink->session_gone(px->sink->arg);
}

void
px_no_capacity(struct px_ctx *px, struct service *svc)
{
	static uint64_t last;
	uint64_t now = pg_now_ms();

	/* One line a second at most: a flood of logins must not flood the log. */
	if (now - last >= 1000) {
		last = now;
		log_warn("service %s: no VM can take a new session",
		    svc->cfg.name);
	}
	if (svc->idx >= 0 && px->sink != NULL && px->sink->no_capacity != NULL)
		px->sink->no_capacity(px->sink->arg, (size_t)svc->idx);
}
