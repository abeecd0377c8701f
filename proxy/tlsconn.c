/*
 * tlsconn.c -- see tlsconn.h.
 *
 * A connection goes: TLS handshake (the server-name callback reads the
 * user), pick a VM, connect (the next VM on failure, at most
 * SESSION_MAX_TRIES), relay until either side ends. What the client sends
 * during the handshake and the connect waits in its input buffer and is
 * relayed first.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "backends/members.h"
#include "backends/route.h"
#include "http/httpuser.h"
#include "lib/log.h"
#include "proxy/relay.h"
#include "proxy/session.h"
#include "proxy/tlsconn.h"

struct tconn {
	struct tconn       *prev, *next;     /* px->tconns */
	struct px_ctx      *px;
	struct service     *svc;             /* referenced */
	struct sockaddr_storage peer;
	char                peer_text[INET6_ADDRSTRLEN + 8];
	char                addr[INET6_ADDRSTRLEN];
	int                 port;
	char                key[AFF_KEY_MAX + 1]; /* "" = no affinity */
	char                user[HU_NAME_MAX + 1]; /* from the server name, "" none */
	bool                bad_name;        /* the server name was refused */
	bool                handshaken;
	bool                client_eof;      /* EOF before the relay */
	struct backend     *backend;         /* picked, counted while set */
	struct backend     *tried[SESSION_MAX_TRIES];
	int                 ntried;
	struct bufferevent *cli;             /* TLS; the relay's once relaying */
	struct bufferevent *be;              /* the VM while connecting */
	struct relay       *relay;
	uint64_t            start_ms, start_wall_ms, connect_ms;
	uint64_t            up, down;
};

static int tc_ex_index = -1;

static void tc_connect_next(struct tconn *tc);

static void
tc_uncount(struct tconn *tc)
{
	if (tc->backend == NULL)
		return;
	mbr_session_end(tc->px->mbr, tc->backend,
	    tc->key[0] != '\0' ? tc->key : NULL, pg_now_ms());
	tc->backend = NULL;
}

static void
tc_free(struct tconn *tc, const char *why)
{
	struct px_ctx *px = tc->px;
	struct service *svc = tc->svc;
	char start[32];

	if (tc->relay != NULL) {
		tc->up = relay_bytes_up(tc->relay);
		tc->down = relay_bytes_down(tc->relay);
	}
	pg_format_time(tc->start_wall_ms, start, sizeof(start));
	struct pg_kv kv[] = {
		KV_S("service", svc->cfg.name),
		KV_S("client", tc->addr),
		KV_N("client_port", tc->port),
		KV_S("mode", "tcp+tls"),
		KV_S("user", tc->user[0] != '\0' ? tc->user : "-"),
		KV_S("vm", tc->backend != NULL ? tc->backend->name : "-"),
		KV_S("start", start),
		KV_N("duration_ms", pg_now_ms() - tc->start_ms),
		KV_N("bytes_up", tc->up),
		KV_N("bytes_down", tc->down),
		KV_S("reason", why),
	};
	pg_log_event(PG_LOG_INFO, "session_end", kv, sizeof(kv) / sizeof(kv[0]));
	svc->bytes_up += tc->up;
	svc->bytes_down += tc->down;
	if (tc->backend != NULL) {
		tc->backend->bytes_up += tc->up;
		tc->backend->bytes_down += tc->down;
	}
	if (tc->relay != NULL)
		relay_free(tc->relay);   /* closes both sockets */
	else {
		if (tc->cli != NULL)
			bufferevent_free(tc->cli);
		if (tc->be != NULL)
			bufferevent_free(tc->be);
	}
	tc_uncount(tc);
	lim_release(px->lim, (struct sockaddr *)&tc->peer);
	px->nconns--;
	svc->active--;
	if (tc->prev != NULL)
		tc->prev->next = tc->next;
	else
		px->tconns = tc->next;
	if (tc->next != NULL)
		tc->next->prev = tc->prev;
	svc_unref(svc);
	free(tc);
	px_gone(px);
}

/*
 * The server-name callback, inside the handshake: the user, or an
 * unrecognized_name alert. Without user_from "sni" the name is not looked
 * at.
 */
static int
tc_sni_cb(SSL *ssl, int *al, void *arg)
{
	struct tconn *tc = SSL_get_ex_data(ssl, tc_ex_index);
	const char *name;

	(void)arg;
	if (tc == NULL || tc->svc->cfg.user_from != USER_FROM_SNI)
		return SSL_TLSEXT_ERR_NOACK;
	name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	switch (hu_user_from_sni(name, tc->svc->cfg.sni_suffix, tc->user)) {
	case HU_FOUND:
		return SSL_TLSEXT_ERR_OK;
	case HU_ABSENT:
		return SSL_TLSEXT_ERR_NOACK;   /* routed by address */
	case HU_INVALID:
		break;
	}
	tc->bad_name = true;
	*al = SSL_AD_UNRECOGNIZED_NAME;
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static void
tc_relay_done(struct relay *r, enum relay_end why, void *arg)
{
	(void)r;
	tc_free(arg, relay_end_name(why));
}

/* The connect to tc->backend ended (BEV_EVENT_CONNECTED, or a failure). */
static void
tc_be_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct tconn *tc = arg;
	struct service *svc = tc->svc;
	uint64_t now = pg_now_ms();
	char err[128];

	if (what & BEV_EVENT_CONNECTED) {
		bufferevent_set_timeouts(bev, NULL, NULL);
		bufferevent_setwatermark(tc->cli, EV_READ, 0, 0);
		tc->relay = relay_start(tc->cli, tc->be, tc->client_eof,
		    RELAY_BUF_CAP, svc->cfg.idle_timeout_ms, tc_relay_done, tc);
		if (tc->relay == NULL) {
			svc->errors[ERR_RESOURCES]++;
			tc_free(tc, "resources");
			return;
		}
		tc->cli = tc->be = NULL;   /* transferred */
		__atomic_fetch_add(&tc->backend->connections, 1,
		    __ATOMIC_RELAXED);
		return;
	}
	snprintf(err, sizeof(err), "%s", (what & BEV_EVENT_TIMEOUT) ?
	    "connect timeout" :
	    evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
	log_warn("session client=%s: connect to %s (%s) failed: %s",
	    tc->peer_text, tc->backend->name, tc->backend->addr.text, err);
	svc->errors[(what & BEV_EVENT_TIMEOUT) ? ERR_CONNECT_TIMEOUT :
	    ERR_CONNECT_FAILED]++;
	if (svc->idx >= 0) {
		const struct cfg_check *cc = &svc->cfg.check;
		mbr_check_result(tc->px->mbr, tc->backend, (size_t)svc->idx,
		    svc->cfg.name, cc->rise, cc->fall, false, err,
		    now - tc->connect_ms, now);
	}
	bufferevent_free(tc->be);
	tc->be = NULL;
	tc_uncount(tc);
	tc_connect_next(tc);
}

static void
tc_connect_next(struct tconn *tc)
{
	struct px_ctx *px = tc->px;
	struct service *svc = tc->svc;
	struct route_in in = { 0 };
	struct sockaddr_storage target;
	enum route_why why;
	struct backend *b;
	struct timeval tv;
	uint64_t now = pg_now_ms();

	if (tc->user[0] != '\0') {
		in.user = tc->user;
		in.live_backend = us_user_backend(px->mbr->us, tc->user, now);
	} else {
		in.sole_user_backend = us_sole_user_backend(px->mbr->us,
		    tc->addr, now);
		in.ip_key = tc->key[0] != '\0' ? tc->key : NULL;
	}
	if (svc->idx < 0 || tc->ntried >= SESSION_MAX_TRIES ||
	    (b = mbr_pick(px->mbr, (size_t)svc->idx, &in, tc->tried,
	    (size_t)tc->ntried, &why, now)) == NULL) {
		if (tc->ntried == 0) {
			svc->errors[ERR_NO_BACKEND]++;
			if (svc->idx >= 0)
				px_no_capacity(px, svc);
		}
		log_warn("session client=%s service=%s: %s", tc->peer_text,
		    svc->cfg.name, tc->ntried == 0 ?
		    "no VM can take a new session" :
		    "every VM tried failed to connect");
		tc_free(tc, tc->ntried == 0 ? "no_backend" : "connect_failed");
		return;
	}
	tc->tried[tc->ntried++] = b;
	tc->backend = b;
	if (mbr_session_start(px->mbr, b, tc->key[0] != '\0' ? tc->key : NULL,
	    now) == -1)
		log_warn("affinity table full: %s not remembered", tc->key);
	log_debug("session client=%s user=%s -> %s (%s)", tc->peer_text,
	    tc->user[0] != '\0' ? tc->user : "-", b->name, route_why_name(why));
	memcpy(&target, &b->addr.ss, sizeof(target));
	if (target.ss_family == AF_INET)
		((struct sockaddr_in *)&target)->sin_port =
		    htons((uint16_t)svc->cfg.port);
	else
		((struct sockaddr_in6 *)&target)->sin6_port =
		    htons((uint16_t)svc->cfg.port);
	tc->connect_ms = now;
	if ((tc->be = bufferevent_socket_new(px->base, -1,
	    BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		svc->errors[ERR_RESOURCES]++;
		tc_free(tc, "resources");
		return;
	}
	bufferevent_setcb(tc->be, NULL, NULL, tc_be_eventcb, tc);
	/* While connecting, the write timeout is the connect's. */
	tv.tv_sec = (time_t)(svc->cfg.connect_timeout_ms / 1000);
	tv.tv_usec = (suseconds_t)(svc->cfg.connect_timeout_ms % 1000) * 1000;
	bufferevent_set_timeouts(tc->be, NULL, &tv);
	/*
	 * A tail call: every failure, even one at once (no socket), reaches
	 * tc_be_eventcb, which may already have freed tc when this returns.
	 */
	(void)bufferevent_socket_connect(tc->be, (struct sockaddr *)&target,
	    (int)b->addr.len);
}

/* The client: the handshake's end, or the client leaving before the relay. */
static void
tc_cli_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct tconn *tc = arg;
	struct service *svc = tc->svc;
	unsigned long e;
	char buf[160];

	if (what & BEV_EVENT_CONNECTED) {
		tc->handshaken = true;
		bufferevent_set_timeouts(bev, NULL, NULL);
		if (tc->user[0] != '\0')
			snprintf(tc->key, sizeof(tc->key), "user:%s", tc->user);
		tc_connect_next(tc);
		return;
	}
	if (tc->handshaken) {
		/* Connecting to a VM: a client's EOF goes to it; an error ends. */
		if ((what & BEV_EVENT_EOF) && !(what & BEV_EVENT_ERROR)) {
			tc->client_eof = true;
			bufferevent_disable(bev, EV_READ);
			return;
		}
		tc_free(tc, "client_closed");
		return;
	}
	if (tc->bad_name) {
		svc->errors[ERR_BAD_SERVER_NAME]++;
		log_warn("session client=%s service=%s: TLS server name is not a "
		    "user%s; refused (unrecognized_name)", tc->peer_text,
		    svc->cfg.name, svc->cfg.sni_suffix);
		tc_free(tc, "bad_server_name");
		return;
	}
	svc->errors[ERR_TLS_HANDSHAKE]++;
	e = bufferevent_get_openssl_error(bev);
	if (e != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	log_info("session client=%s service=%s: TLS handshake failed: %s",
	    tc->peer_text, svc->cfg.name, (what & BEV_EVENT_TIMEOUT) ?
	    "timeout" : e != 0 ? buf : (what & BEV_EVENT_EOF) ?
	    "client closed" : "error");
	tc_free(tc, "tls_handshake");
}

void
tconn_accept(struct px_ctx *px, struct service *svc, evutil_socket_t fd,
    const struct sockaddr *sa, socklen_t salen)
{
	struct tconn *tc;
	SSL *ssl = NULL;
	struct timeval tv;

	if (tc_ex_index < 0)
		tc_ex_index = SSL_get_ex_new_index(0, "poolgate tconn", NULL,
		    NULL, NULL);
	if (tc_ex_index < 0 || (tc = calloc(1, sizeof(*tc))) == NULL) {
		log_warn("service %s: out of memory accepting a connection",
		    svc->cfg.name);
		svc->errors[ERR_RESOURCES]++;
		lim_release(px->lim, sa);
		px->nconns--;
		close(fd);
		return;
	}
	tc->px = px;
	tc->svc = svc;
	svc->refcnt++;
	svc->active++;
	svc->connections_total++;
	tc->start_ms = pg_now_ms();
	tc->start_wall_ms = pg_wall_ms();
	memcpy(&tc->peer, sa, salen < sizeof(tc->peer) ? salen : sizeof(tc->peer));
	px_format_peer(sa, tc->addr, sizeof(tc->addr), &tc->port);
	snprintf(tc->peer_text, sizeof(tc->peer_text),
	    strchr(tc->addr, ':') ? "[%s]:%d" : "%s:%d", tc->addr, tc->port);
	if (svc->cfg.by_client_ip)
		snprintf(tc->key, sizeof(tc->key), "ip:%s", tc->addr);
	tc->next = px->tconns;
	if (tc->next != NULL)
		tc->next->prev = tc;
	px->tconns = tc;

	/* Set on every accept: the context is the service's, and a reload
	 * may have made a new one. Main thread only, like every handshake. */
	SSL_CTX_set_tlsext_servername_callback(svc->ssl_server, tc_sni_cb);
	if ((ssl = SSL_new(svc->ssl_server)) == NULL ||
	    SSL_set_ex_data(ssl, tc_ex_index, tc) != 1 ||
	    (tc->cli = bufferevent_openssl_socket_new(px->base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		SSL_free(ssl);
		close(fd);
		svc->errors[ERR_RESOURCES]++;
		tc_free(tc, "resources");
		return;
	}
	bufferevent_openssl_set_allow_dirty_shutdown(tc->cli, 1);
	bufferevent_setcb(tc->cli, NULL, NULL, tc_cli_eventcb, tc);
	/*
	 * Until the relay starts, what the client sends (its SSH banner)
	 * waits in the input buffer, at most RELAY_BUF_CAP of it.
	 */
	bufferevent_setwatermark(tc->cli, EV_READ, 0, RELAY_BUF_CAP);
	tv.tv_sec = (time_t)(svc->cfg.first_packet_timeout_ms / 1000);
	tv.tv_usec = (suseconds_t)(svc->cfg.first_packet_timeout_ms % 1000) * 1000;
	bufferevent_set_timeouts(tc->cli, &tv, NULL);
	bufferevent_enable(tc->cli, EV_READ | EV_WRITE);
}

void
tconn_stop_all(struct px_ctx *px)
{
	struct tconn *tc, *next;

	for (tc = px->tconns; tc != NULL; tc = next) {
		next = tc->next;
		if (tc->relay != NULL)
			relay_stop(tc->relay);   /* frees tc through its done */
		else
			tc_free(tc, "stopped");
	}
}

size_t
tconn_count(const struct px_ctx *px)
{
	size_t n = 0;

	for (const struct tconn *tc = px->tconns; tc != NULL; tc = tc->next)
		n++;
	return n;
}

void
tconn_foreach_live(const struct px_ctx *px,
    void (*fn)(const struct px_live *l, void *arg), void *arg)
{
	for (const struct tconn *tc = px->tconns; tc != NULL; tc = tc->next) {
		struct px_live l = { "tls-ssh", tc->user, tc->addr, tc->backend };

		fn(&l, arg);
	}
}
