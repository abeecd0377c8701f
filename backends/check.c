/*
 * check.c -- see check.h. One struct check per VM and service; a single timer
 * serves both the next run and the deadline of the probe in flight.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>

#include "backends/check.h"
#include "http/http.h"
#include "lib/log.h"
#include "lib/tls.h"

struct check {
	struct members     *m;            /* b's pool module: results go there */
	struct backend     *b;
	size_t              svc;
	char                svcname[CFG_NAME_MAX + 1];
	struct cfg_check    cc;          /* copy; path not kept (see req) */
	char                req[512];    /* http: the request sent */
	int                 port;
	SSL_CTX            *ssl;         /* TLS to the VM, or NULL (referenced) */
	char                host[256];   /* the name its certificate must carry, or "" */
	struct event_base  *base;
	struct event       *timer;
	struct bufferevent *bev;         /* probe in flight, or NULL */
	uint64_t            started_ms;
};

static void
set_timer(struct check *c, uint64_t ms)
{
	struct timeval tv = {
		.tv_sec = (time_t)(ms / 1000),
		.tv_usec = (suseconds_t)(ms % 1000) * 1000,
	};

	evtimer_add(c->timer, &tv);
}

static void
probe_done(struct check *c, bool ok, const char *err)
{
	uint64_t now = pg_now_ms(), spent = now - c->started_ms;

	if (c->bev != NULL) {
		bufferevent_free(c->bev);
		c->bev = NULL;
	}
	mbr_check_result(c->m, c->b, c->svc, c->svcname, c->cc.rise, c->cc.fall,
	    ok, err, spent, now);
	/* Next run one interval after this one started. */
	set_timer(c, spent < c->cc.interval_ms ? c->cc.interval_ms - spent : 0);
}

/* http: the status line and head of the answer decide. */
static void
probe_read_http(struct check *c, struct evbuffer *in)
{
	size_t len = evbuffer_get_length(in);
	struct http_resp *resp;
	char why[96];
	int r;

	if (len > HTTP_HEAD_MAX)
		len = HTTP_HEAD_MAX;
	if ((resp = malloc(sizeof(*resp))) == NULL) {
		probe_done(c, false, "out of memory");
		return;
	}
	r = http_parse_response((const char *)evbuffer_pullup(in, (ssize_t)len),
	    len, HTTP_M_GET, resp);
	if (r == HTTP_AGAIN)
		;
	else if (r < 0)
		probe_done(c, false, resp->why != NULL ? resp->why : "bad response");
	else if (resp->status != c->cc.expect) {
		snprintf(why, sizeof(why), "status %d (expected %d)", resp->status,
		    c->cc.expect);
		probe_done(c, false, why);
	} else
		probe_done(c, true, NULL);
	free(resp);
}

static void
probe_readcb(struct bufferevent *bev, void *arg)
{
	struct check *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in);
	const char *why;
	int r;

	if (c->cc.type == CHECK_HTTP) {
		probe_read_http(c, in);
		return;
	}
	if (c->cc.type == CHECK_RDP) {
		if (len > CHK_RDP_CONFIRM_MAX)
			len = CHK_RDP_CONFIRM_MAX;
		r = chk_rdp_confirm(evbuffer_pullup(in, (ssize_t)len), len,
		    &why);
		if (r != 0)
			probe_done(c, r == 1, why);
		return;
	}
	if (len > CHK_SSH_BANNER_MAX)
		len = CHK_SSH_BANNER_MAX;
	r = chk_ssh_banner((const char *)evbuffer_pullup(in, (ssize_t)len), len,
	    &why);
	if (r != 0)
		probe_done(c, r == 1, why);
}

static void
probe_eventcb(struct bufferevent *bev, short what, void *arg)
{
	struct check *c = arg;

	if (what & BEV_EVENT_CONNECTED) {
		if (c->cc.type == CHECK_TCP) {
			probe_done(c, true, NULL);
			return;
		}
		if (c->cc.type == CHECK_HTTP)
			bufferevent_write(bev, c->req, strlen(c->req));
		else if (c->cc.type == CHECK_RDP) {
			size_t n;
			const uint8_t *cr = chk_rdp_request(&n);
			bufferevent_write(bev, cr, n);
		}
		bufferevent_enable(bev, EV_READ);
		return;
	}
	if (what & BEV_EVENT_EOF) {
		probe_done(c, false, c->cc.type == CHECK_HTTP ?
		    "closed before a complete response" :
		    c->cc.type == CHECK_RDP ?
		    "closed before the Connection Confirm" :
		    "closed before the SSH banner");
		return;
	}
	if (c->ssl != NULL && bufferevent_get_openssl_error(bev) != 0) {
		char e[160];

		tls_conn_error(bufferevent_openssl_get_ssl(bev),
		    bufferevent_get_openssl_error(bev), e, sizeof(e));
		probe_done(c, false, e);
		return;
	}
	probe_done(c, false, evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

static void
probe_start(struct check *c)
{
	struct sockaddr_storage ss;

	memcpy(&ss, &c->b->addr.ss, sizeof(ss));
	if (ss.ss_family == AF_INET)
		((struct sockaddr_in *)&ss)->sin_port = htons((uint16_t)c->port);
	else
		((struct sockaddr_in6 *)&ss)->sin6_port = htons((uint16_t)c->port);
	c->started_ms = pg_now_ms();
	if (c->ssl != NULL) {
		SSL *ssl = tls_client_new(c->ssl, c->b->addr.text, c->host);
		if (ssl != NULL && (c->bev = bufferevent_openssl_socket_new(c->base,
		    -1, ssl, BUFFEREVENT_SSL_CONNECTING,
		    BEV_OPT_CLOSE_ON_FREE)) == NULL)
			SSL_free(ssl);
		if (c->bev != NULL)
			bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	} else
		c->bev = bufferevent_socket_new(c->base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (c->bev == NULL) {
		probe_done(c, false, "out of resources");
		return;
	}
	bufferevent_setcb(c->bev, probe_readcb, NULL, probe_eventcb, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0,
	    c->cc.type == CHECK_HTTP ? HTTP_HEAD_MAX :
	    c->cc.type == CHECK_RDP ? CHK_RDP_CONFIRM_MAX : CHK_SSH_BANNER_MAX);
	set_timer(c, c->cc.timeout_ms);   /* the probe's deadline */
	if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&ss,
	    (int)c->b->addr.len) == -1) {
		int err = errno;
		if (err == EMFILE || err == ENFILE || err == ENOBUFS ||
		    err == ENOMEM) {
			/*
			 * Our own shortage, not the VM's fault: skip this round
			 * rather than take a healthy VM down.
			 */
			log_warn("backend %s service=%s: check skipped: %s",
			    c->b->name, c->svcname, strerror(err));
			bufferevent_free(c->bev);
			c->bev = NULL;
			set_timer(c, c->cc.interval_ms);
			return;
		}
		probe_done(c, false, strerror(err));
	}
}

static void
check_timercb(evutil_socket_t fd, short what, void *arg)
{
	struct check *c = arg;

	if (c->bev != NULL)
		probe_done(c, false, "timeout");
	else
		probe_start(c);
}

int
chk_start(struct event_base *base, struct members *m, struct backend *b,
    size_t svc, const struct cfg_service *cs, SSL_CTX *ssl)
{
	struct check *c;

	chk_stop(b, svc);
	if (cs->check.type == CHECK_NONE) {
		b->health[svc].hc.up = true;
		return 0;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto fail;
	c->m = m;
	c->b = b;
	c->svc = svc;
	snprintf(c->svcname, sizeof(c->svcname), "%s", cs->name);
	c->cc = cs->check;
	c->cc.path = NULL;
	c->port = cs->port;
	c->base = base;
	if (cs->check.type == CHECK_HTTP) {
		/* A health check is not a session: nothing of it is kept alive. */
		snprintf(c->req, sizeof(c->req), "GET %s HTTP/1.1\r\nHost: %s%s%s:%d"
		    "\r\nUser-Agent: poolgate-check\r\nConnection: close\r\n\r\n",
		    cs->check.path, b->addr.ss.ss_family == AF_INET6 ? "[" : "",
		    b->addr.text, b->addr.ss.ss_family == AF_INET6 ? "]" : "",
		    cs->port);
		if (ssl != NULL && SSL_CTX_up_ref(ssl) == 1)
			c->ssl = ssl;
		cfg_verify_host(cs, b->name, c->host, sizeof(c->host));
	}
	if ((c->timer = evtimer_new(base, check_timercb, c)) == NULL) {
		free(c);
		goto fail;
	}
	b->check[svc] = c;
	set_timer(c, 0);
	return 0;
fail:
	log_err("backend %s service=%s: out of memory starting checks", b->name,
	    cs->name);
	return -1;
}

void
chk_stop(struct backend *b, size_t svc)
{
	struct check *c = b->check[svc];

	if (c == NULL)
		return;
	if (c->bev != NULL)
		bufferevent_free(c->bev);
	event_free(c->timer);
	SSL_CTX_free(c->ssl);
	free(c);
	b->check[svc] = NULL;
}
