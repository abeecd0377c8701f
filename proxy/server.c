/*
 * server.c -- the daemon's lifecycle: start, reload, stop; listeners and the
 * accept path with its limits.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <pwd.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "backends/check.h"
#include "backends/check_agent.h"
#include "backends/discovery.h"
#include "backends/hooks.h"
#include "backends/statefile.h"
#include "proxy/cookie.h"
#include "proxy/hookrun.h"
#include "proxy/httpconn.h"
#include "proxy/tls.h"

#include <libconfig.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include "proxy/admin.h"
#include "proxy/adminapi.h"
#include "proxy/log.h"
#include "proxy/server.h"
#include "proxy/session.h"
#include "proxy/splice.h"
#include "proxy/statuspage.h"

static void hooks_update(struct pg_server *srv);

#define AFF_MAX_ENTRIES  1000000
#define US_MAX_USERS     100000
#define RATE_MAX_ADDRESSES 100000
#define PIPES_SPARE      64   /* spare pipes kept for relays with data in flight */
#define LISTEN_BACKLOG   1024
#define ACCEPT_PAUSE_MS  100

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
	};
	return (unsigned)e < ERR__COUNT ? names[e] : "unknown";
}

/* Same family, address and port. */
static bool
addr_equal(const struct cfg_addr *a, const struct cfg_addr *b)
{
	if (a->ss.ss_family != b->ss.ss_family)
		return false;
	if (a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)&a->ss, *y = (const void *)&b->ss;
		return x->sin_port == y->sin_port &&
		    x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)&a->ss, *y = (const void *)&b->ss;
		return x->sin6_port == y->sin6_port &&
		    memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return false;
}

void
srv_format_peer(const struct sockaddr *sa, char *addr, size_t addrlen, int *port)
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


/* ---- accepting ---------------------------------------------------------- */

/* Rate-limit a repeated warning to one line per second per call site. */
#define WARN_RATELIMITED(last, ...) do {                         \
	uint64_t now_ = pg_now_ms();                              \
	if (now_ - (last) >= 1000) { (last) = now_; log_warn(__VA_ARGS__); } \
} while (0)

/*
 * Refuse a connection over a limit at once. An HTTP client gets a status
 * it understands, with Retry-After; the socket is new and empty, so a
 * non-blocking send of a few bytes cannot fall short. (Over TLS there is
 * no handshake yet to answer inside: just close.)
 */
static void
refuse(struct pg_server *srv, struct service *svc, evutil_socket_t fd,
    int status)
{
	char buf[256];
	int n;

	if (svc->cfg.mode == SVC_MODE_HTTP && svc->ssl_server == NULL) {
		n = snprintf(buf, sizeof(buf), "HTTP/1.1 %d %s\r\n"
		    "Retry-After: %llu\r\nContent-Type: text/plain\r\n"
		    "Content-Length: %zu\r\nConnection: close\r\n\r\n%s\n",
		    status, status == 429 ? "Too Many Requests" :
		    "Service Unavailable",
		    (unsigned long long)(srv->cfg->retry_after_ms + 999) / 1000,
		    strlen(status == 429 ? "too many connections" : "busy") + 1,
		    status == 429 ? "too many connections" : "busy");
		if (send(fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
			(void)0;   /* the peer is gone already: nothing to tell */
	}
	close(fd);
}

static void
accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct listener *l = arg;
	struct pg_server *srv = l->srv;
	struct service *svc = l->svc;
	static uint64_t last_max, last_ip, last_rate;
	int r;

	if (srv->nconns >= (uint64_t)srv->cfg->max_connections) {
		svc->errors[ERR_MAX_CONNECTIONS]++;
		WARN_RATELIMITED(last_max, "service %s: max_connections (%d) "
		    "reached, refusing connections", svc->cfg.name,
		    srv->cfg->max_connections);
		refuse(srv, svc, fd, 503);
		return;
	}
	if (rate_allow(srv->rate, sa, srv->cfg->per_ip_rate, pg_now_ms()) == 0) {
		char addr[INET6_ADDRSTRLEN];
		int port;
		svc->errors[ERR_PER_IP_RATE]++;
		srv_format_peer(sa, addr, sizeof(addr), &port);
		WARN_RATELIMITED(last_rate, "service %s: %s is over per_ip_rate "
		    "(%d a minute), refusing", svc->cfg.name, addr,
		    srv->cfg->per_ip_rate);
		refuse(srv, svc, fd, 429);
		return;
	}
	r = lim_acquire(srv->lim, sa, srv->cfg->per_ip_connections);
	if (r != 0) {
		char addr[INET6_ADDRSTRLEN];
		int port;
		svc->errors[r == 1 ? ERR_PER_IP : ERR_RESOURCES]++;
		srv_format_peer(sa, addr, sizeof(addr), &port);
		if (r == 1)
			WARN_RATELIMITED(last_ip, "service %s: %s is over "
			    "per_ip_connections (%d), refusing", svc->cfg.name,
			    addr, srv->cfg->per_ip_connections);
		refuse(srv, svc, fd, 429);
		return;
	}
	srv->nconns++;
	/* keepalive and TCP_NODELAY come from the listener (listener_tune) */
	if (svc->cfg.mode == SVC_MODE_HTTP)
		hconn_accept(srv, svc, fd, sa, (socklen_t)salen);
	else
		session_accept(srv, svc, fd, sa, (socklen_t)salen);
}

/*
 * TCP keepalive after keepalive_ms of silence (0: off). Probes every 10 s,
 * 3 unanswered: a vanished peer goes in keepalive_ms + 30 s.
 */
static void
sock_keepalive(int fd, uint64_t keepalive_ms, bool turn_off)
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
srv_keepalive_fd(int fd, uint64_t keepalive_ms)
{
	sock_keepalive(fd, keepalive_ms, false);
}

void
srv_set_keepalive(const struct pg_server *srv, int fd)
{
	sock_keepalive(fd, srv->cfg->tcp_keepalive_ms, false);
}

/*
 * Options every accepted socket inherits from its listener (Linux copies
 * them at accept): keepalive as configured, and TCP_NODELAY (an SSH
 * keystroke or an HTTP response is never held back for Nagle). Set once
 * per listener and reload, instead of once per connection.
 */
static void
listener_tune(struct listener *l, const struct pg_config *cfg)
{
	int one = 1, fd = evconnlistener_get_fd(l->lev);

	sock_keepalive(fd, cfg->tcp_keepalive_ms, true);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void
resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pg_server *srv = arg;

	if (srv->stopping)
		return;
	for (size_t i = 0; i < srv->nsvc; i++)
		for (size_t j = 0; j < srv->svc[i]->nlis; j++)
			evconnlistener_enable(srv->svc[i]->lis[j]->lev);
}

void
srv_pause_accepting(struct pg_server *srv)
{
	struct timeval tv = { 0, ACCEPT_PAUSE_MS * 1000 };

	for (size_t i = 0; i < srv->nsvc; i++)
		for (size_t j = 0; j < srv->svc[i]->nlis; j++)
			evconnlistener_disable(srv->svc[i]->lis[j]->lev);
	evtimer_add(srv->ev_resume, &tv);
}

/*
 * accept() failed: out of descriptors (EMFILE/ENFILE) or memory. Retrying at
 * once would spin on the still-readable listener, so pause all listeners
 * briefly; connections wait in the kernel backlog meanwhile.
 */
static void
accept_error_cb(struct evconnlistener *lev, void *arg)
{
	struct listener *l = arg;
	static uint64_t last;
	int err = EVUTIL_SOCKET_ERROR();

	WARN_RATELIMITED(last, "service %s: accept failed: %s; pausing %dms",
	    l->svc->cfg.name, evutil_socket_error_to_string(err), ACCEPT_PAUSE_MS);
	l->svc->errors[ERR_RESOURCES]++;
	srv_pause_accepting(l->srv);
}

static struct listener *
listener_bind(struct pg_server *srv, const struct cfg_addr *addr)
{
	struct listener *l = NULL;
	int fd = -1, one = 1;

	fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1)
		goto fail;
	/* "[::]:22" and "0.0.0.0:22" may both be configured: keep them apart. */
	if (addr->ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1)
		goto fail;
	if (bind(fd, (const struct sockaddr *)&addr->ss, addr->len) == -1 ||
	    listen(fd, LISTEN_BACKLOG) == -1)
		goto fail;
	if ((l = calloc(1, sizeof(*l))) == NULL ||
	    (l->addr.text = strdup(addr->text)) == NULL)
		goto fail;
	l->srv = srv;
	l->addr.ss = addr->ss;
	l->addr.len = addr->len;
	l->lev = evconnlistener_new(srv->base, accept_cb, l,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, 0, fd);
	if (l->lev == NULL)
		goto fail;
	evconnlistener_set_error_cb(l->lev, accept_error_cb);
	return l;
fail:
	log_err("listen %s: %s", addr->text, strerror(errno));
	if (l != NULL)
		free(l->addr.text);
	free(l);
	if (fd != -1)
		close(fd);
	return NULL;
}

static void
listener_free(struct listener *l)
{
	if (l == NULL)
		return;
	evconnlistener_free(l->lev);
	free(l->addr.text);
	free(l);
}

/* ---- services ------------------------------------------------------------ */

/* The service keeps its own copy: sessions outlive the pg_config. */
static void
svc_set_cfg(struct service *s, const struct cfg_service *cs)
{
	cfg_service_clear(&s->cfg);
	if (cfg_service_copy(&s->cfg, cs) == -1)
		pg_fatalx("out of memory copying service %s", cs->name);
}

void
svc_unref(struct service *s)
{
	if (--s->refcnt > 0)
		return;
	for (size_t i = 0; i < s->nlis; i++)
		listener_free(s->lis[i]);
	SSL_CTX_free(s->ssl_server);
	SSL_CTX_free(s->ssl_client);
	cfg_service_clear(&s->cfg);
	free(s);
}

static struct service *
svc_find(struct pg_server *srv, const char *name)
{
	for (size_t i = 0; i < srv->nsvc; i++)
		if (strcmp(srv->svc[i]->cfg.name, name) == 0)
			return srv->svc[i];
	return NULL;
}

/* ---- checks of one VM ---------------------------------------------------- */

static void
health_changed(void *arg, struct backend *b, const char *svcname,
    bool up, const char *err)
{
	struct pg_server *srv = arg;

	pool_touch(&srv->pool, b);
	if (up)
		statuspage_event(srv, "%s: %s up", b->name, svcname);
	else
		statuspage_event(srv, "%s: %s down (%s)", b->name, svcname, err);
	if (up)   /* a VM that came up takes queued logins at once */
		srv_capacity_changed(srv);
}

static void
stop_checks(struct backend *b)
{
	for (size_t s = 0; s < CFG_MAX_SERVICES; s++)
		chk_stop(b, s);
	agent_stop(b);
}

/*
 * Active checks for every service, and the agent when one is configured.
 * A service without checks is up at once and the agent's figures may be
 * cleared: the caller follows with pool_touch.
 */
static void
start_checks(struct pg_server *srv, struct backend *b)
{
	const struct pg_config *cfg = srv->cfg;

	for (size_t s = 0; s < srv->nsvc; s++)
		chk_start(srv->base, b, s, &srv->svc[s]->cfg, srv->svc[s]->ssl_client);
	if (cfg->agent.enabled)
		agent_start(srv->base, &srv->pool, b, cfg->agent.port,
		    cfg->agent.interval_ms, cfg->agent.timeout_ms);
	else {
		agent_stop(b);
		be_agent_clear(b);   /* an agent's drain must not outlive its check */
	}
}

const char *
srv_source_name(int src)
{
	switch (src) {
	case BE_SRC_FILE:           return "configuration file";
	case BE_SRC_API:            return "admin API";
	case BE_SRC_DISCOVERY_FILE: return "discovery file";
	case BE_SRC_DNS:            return "DNS discovery";
	}
	return "unknown source";
}

/* A VM at a new address is another machine: its health starts over. */
static void
be_set_address(struct backend *b, const struct cfg_addr *a)
{
	char *text;

	if (addr_equal(&b->addr, a))
		return;
	if ((text = strdup(a->text)) == NULL)
		pg_fatalx("out of memory");
	log_info("backend %s moved from %s to %s: health starts over", b->name,
	    b->addr.text, text);
	free(b->addr.text);
	b->addr = *a;
	b->addr.text = text;
	for (size_t s = 0; s < CFG_MAX_SERVICES; s++)
		hc_init(&b->health[s].hc);
	be_agent_clear(b);
}

/* ---- housekeeping -------------------------------------------------------- */

void
srv_reap(struct pg_server *srv)
{
	for (size_t i = 0; i < srv->pool.n; ) {
		struct backend *b = srv->pool.be[i];

		if (!b->removed || b->sessions > 0 || b->conns > 0) {
			i++;
			continue;
		}
		log_info("backend %s forgotten: removed and its last session ended",
		    b->name);
		stop_checks(b);
		aff_forget_backend(srv->aff, b->name);
		pool_remove_at(&srv->pool, i);
	}
}

struct backend *
srv_pick(struct pg_server *srv, size_t svc, const struct route_in *in,
    struct backend *const *tried, size_t ntried, enum route_why *why)
{
	struct timespec a, b;
	struct backend *be;

	clock_gettime(CLOCK_MONOTONIC, &a);
	be = route_pick(&srv->pool, svc, srv->aff, in, pg_now_ms(), tried,
	    ntried, why);
	clock_gettime(CLOCK_MONOTONIC, &b);
	srv->sel_count++;
	srv->sel_ns += (uint64_t)((b.tv_sec - a.tv_sec) * 1000000000L +
	    (b.tv_nsec - a.tv_nsec));
	return be;
}

void
srv_capacity_changed(struct pg_server *srv)
{
	/* Reentrancy: a dequeued session may fail at once and end. */
	if (srv->dispatching)
		return;
	srv->dispatching = true;
	for (size_t i = 0; i < srv->nsvc; i++)
		while (session_dequeue(srv, srv->svc[i]))
			;
	srv->dispatching = false;
}

void
srv_no_capacity(struct pg_server *srv, struct service *svc)
{
	static uint64_t last;

	WARN_RATELIMITED(last, "service %s: no VM can take a new session",
	    svc->cfg.name);
	hooks_no_capacity(srv, svc);
}

void
srv_session_gone(struct pg_server *srv)
{
	srv_reap(srv);
	srv_capacity_changed(srv);
	hooks_update(srv);
	if (srv->stopping && srv->sessions == NULL && srv->hconns == NULL) {
		log_info("last session ended, exiting");
		event_base_loopexit(srv->base, NULL);
	}
}

/* ---- event hooks --------------------------------------------------------- */

static void
hook_line(const char *event, const char *backend, const char *line, void *arg)
{
	log_info("hook %s %s: %s", event, backend[0] ? backend : "-", line);
}

static void
hook_done(const struct hr_result *r, void *arg)
{
	pg_log(r->outcome == HR_OK ? PG_LOG_INFO : PG_LOG_WARN,
	    "hook %s %s: %s (status %d) in %llums", r->event,
	    r->backend[0] ? r->backend : "-", hr_outcome_name(r->outcome),
	    r->status, (unsigned long long)r->duration_ms);
}

/* Run the command for every event the detector has queued. */
static void
hooks_fire(struct pg_server *srv)
{
	struct hk_emit e;
	struct hk_env env;

	while (hk_next(srv->hk, &e)) {
		hk_env(&e, &env);
		log_info("hook event %s%s%s", hk_event_name(e.event),
		    e.backend[0] ? " " : "", e.backend);
		hr_run(srv->hr, hk_event_name(e.event), e.backend, env.v);
	}
}

/* Show the detector the pool as it is now. */
static void
hooks_update(struct pg_server *srv)
{
	struct hk_vm *vms;
	size_t n = 0;

	if (srv->hk == NULL)
		return;
	if ((vms = calloc(srv->pool.n + 1, sizeof(*vms))) == NULL)
		return;
	for (size_t i = 0; i < srv->pool.n; i++) {
		const struct backend *b = srv->pool.be[i];
		/* Healthy and ready, full or not: a full VM is busy, not down. */
		bool up = be_state(b, srv->nsvc) == BE_UP;

		if (b->removed)
			continue;
		vms[n].name = b->name;
		vms[n].address = b->addr.text;
		vms[n].sessions = b->sessions;
		vms[n].max_sessions = be_max_sessions(b);
		vms[n].up = up;
		n++;
	}
	hk_update(srv->hk, vms, n, pg_now_ms());
	free(vms);
	hooks_fire(srv);
}

void
hooks_no_capacity(struct pg_server *srv, struct service *svc)
{
	if (srv->hk != NULL && hk_no_capacity(srv->hk, svc->cfg.name, pg_now_ms()))
		hooks_fire(srv);
}

/* Start, change or stop hooks as the configuration says. */
static void
hooks_configure(struct pg_server *srv, const struct pg_config *cfg)
{
	struct hk_params p = {
		.idle_grace_ms = cfg->hooks.idle_grace_ms,
		.headroom = cfg->hooks.headroom,
		.no_capacity_interval_ms = HK_NO_CAPACITY_INTERVAL_MS,
	};

	if (!cfg->hooks.enabled) {
		hk_free(srv->hk);
		hr_free(srv->hr);
		srv->hk = NULL;
		srv->hr = NULL;
		return;
	}
	if (srv->hk == NULL && (srv->hk = hk_new(&p)) == NULL)
		pg_fatalx("out of memory starting hooks");
	if (srv->hr == NULL) {
		if ((srv->hr = hr_new(srv->base)) == NULL)
			pg_fatalx("out of memory starting hooks");
		hr_set_line_cb(srv->hr, hook_line, srv);
		hr_set_done_cb(srv->hr, hook_done, srv);
	}
	hk_set_params(srv->hk, &p);
	hr_configure(srv->hr, cfg->hooks.command, cfg->hooks.timeout_ms);
}

/* ---- Jupyter sessions and the state file -------------------------------- */

static void
user_key(char *key, size_t len, const char *user)
{
	snprintf(key, len, "user:%s", user);
}

/* A Jupyter session ended (idle, moved, VM forgotten): uncount it. */
static void
user_session_end(struct pg_server *srv, const char *user, const char *vm,
    uint64_t now, const char *why)
{
	struct backend *b = pool_find(&srv->pool, vm);
	char key[AFF_KEY_MAX + 1];

	if (b != NULL) {
		if (b->sessions <= 0)
			pg_fatalx("session count of %s went negative", b->name);
		b->sessions--;
		pool_touch(&srv->pool, b);
	}
	user_key(key, sizeof(key), user);
	aff_session_end(srv->aff, key, vm, now);
	srv->aff_dirty = true;
	log_info("jupyter session end user=%s vm=%s reason=%s", user, vm, why);
}

void
srv_user_request(struct pg_server *srv, const char *user, struct backend *vm,
    const char *addr, uint64_t now)
{
	struct us_ended ended = { 0 };
	char key[AFF_KEY_MAX + 1];
	static uint64_t last_full;
	enum us_result r;

	r = us_request(srv->us, user, vm->name, addr, now, &ended);
	if (ended.ended)
		user_session_end(srv, ended.user, ended.backend, now, "moved");
	if (r == US_STARTED) {
		vm->sessions++;
		pool_touch(&srv->pool, vm);
		user_key(key, sizeof(key), user);
		if (aff_session_start(srv->aff, key, vm->name, now) == -1)
			log_warn("affinity table full: %s not remembered", key);
		srv->aff_dirty = true;
		log_info("jupyter session start user=%s vm=%s client=%s", user,
		    vm->name, addr);
	} else if (r == US_FULL || r == US_NOMEM)
		WARN_RATELIMITED(last_full, "jupyter sessions: table full, "
		    "user %s not counted", user);
}

static void
user_expired(const struct us_session *us, void *arg)
{
	struct pg_server *srv = arg;

	user_session_end(srv, us->user, us->backend, pg_now_ms(), "idle");
}

static bool
backend_known(const char *name, void *arg)
{
	struct pg_server *srv = arg;
	struct backend *b = pool_find(&srv->pool, name);

	return b != NULL && !b->removed;
}

static uint64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/*
 * Write the affinity table when it changed. A failure (read-only or full
 * disk) is logged once, retried every second, and the table stays in memory.
 */
static void
state_save(struct pg_server *srv, bool force)
{
	char err[256];
	uint64_t now = pg_now_ms();

	if (!srv->aff_dirty && !force)
		return;
	if (sf_save(srv->cfg->state_dir, srv->aff, now, wall_ms(), err,
	    sizeof(err)) < 0) {
		if (!srv->state_failing)
			log_err("state: cannot save the affinity table in %s: %s; "
			    "keeping it in memory and retrying", srv->cfg->state_dir,
			    err);
		srv->state_failing = true;
		return;
	}
	if (srv->state_failing)
		log_info("state: saving in %s works again", srv->cfg->state_dir);
	srv->state_failing = false;
	srv->aff_dirty = false;
	srv->state_saved_ms = now;
}

static void
state_load(struct pg_server *srv)
{
	struct sf_report rep;
	char path[4200], err[256], summary[512];

	snprintf(path, sizeof(path), "%s/%s", srv->cfg->state_dir, SF_FILE_NAME);
	if (sf_load(path, srv->aff, pg_now_ms(), wall_ms(), backend_known, srv,
	    &rep, err, sizeof(err)) == -1) {
		log_err("state: cannot read %s: %s; starting with no affinity",
		    path, err);
		return;
	}
	sf_report_format(&rep, summary, sizeof(summary));
	if (rep.missing)
		log_info("state: no %s yet (first start)", path);
	else if (rep.truncated || rep.corrupt > 0 || rep.bad_header ||
	    rep.bad_version)
		log_warn("state: %s is damaged: %s", path, summary);
	else
		log_info("state: %s: %s", path, summary);
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pg_server *srv = arg;
	uint64_t now = pg_now_ms();

	us_expire(srv->us, now, user_expired, srv);
	if (aff_expire(srv->aff, now) > 0)
		srv->aff_dirty = true;
	if (now / 1000 % 10 == 0)   /* every ten seconds is plenty */
		rate_sweep(srv->rate, srv->cfg->per_ip_rate, now);
	for (size_t i = 0; i < srv->nsvc; i++)
		session_queue_expire(srv, srv->svc[i], now);
	session_tick(srv, now);
	srv_capacity_changed(srv);
	srv_reap(srv);
	hooks_update(srv);
	state_save(srv, false);
}

/* ---- configuration: first load and reload -------------------------------- */

static void
log_cfg_errors(struct cfg_errors *errs)
{
	for (size_t i = 0; i < errs->n; i++)
		log_err("%s", errs->msg[i]);
}

/* Every listener of every service, for reuse across a reload. */
static struct listener *
take_listener(struct pg_server *srv, const struct cfg_addr *addr)
{
	for (size_t i = 0; i < srv->nsvc; i++) {
		struct service *s = srv->svc[i];
		for (size_t j = 0; j < s->nlis; j++) {
			struct listener *l = s->lis[j];
			if (l != NULL && addr_equal(&l->addr, addr)) {
				s->lis[j] = NULL;   /* transferred */
				return l;
			}
		}
	}
	return NULL;
}

/*
 * Apply a validated configuration. `ncfg` is consumed on success. On
 * failure (a socket that cannot be bound) nothing changed and -1 returns.
 */
static int
srv_apply(struct pg_server *srv, struct pg_config *ncfg)
{
	struct listener *fresh[CFG_MAX_SERVICES][CFG_MAX_LISTEN] = {{ NULL }};
	struct service *nsvc[CFG_MAX_SERVICES] = { NULL };
	struct admin *nadmin = NULL;
	SSL_CTX *nserver[CFG_MAX_SERVICES] = { NULL }, *nclient[CFG_MAX_SERVICES] = { NULL };
	char err[512], token[sizeof(srv->admin_token)];
	struct pg_config *ocfg = srv->cfg;
	int map[CFG_MAX_SERVICES];   /* new service index -> old, or -1 */
	int added = 0, removed = 0, kept = 0;
	int rc = -1;

	/* 1. Bind every socket the new configuration needs and lacks. */
	for (size_t i = 0; i < ncfg->nservices; i++) {
		const struct cfg_service *cs = &ncfg->services[i];
		for (size_t j = 0; j < cs->nlisten; j++) {
			bool have = false;
			for (size_t k = 0; k < srv->nsvc && !have; k++)
				for (size_t m = 0; m < srv->svc[k]->nlis; m++)
					if (addr_equal(&srv->svc[k]->lis[m]->addr,
					    &cs->listen[j]))
						have = true;
			if (!have && (fresh[i][j] = listener_bind(srv,
			    &cs->listen[j])) == NULL)
				goto out;
		}
	}
	/* The admin token: a file that cannot be read fails the reload. */
	if (ncfg->admin_token_file != NULL &&
	    adminapi_load_token(ncfg->admin_token_file, token, sizeof(token),
	    err, sizeof(err)) != 0) {
		log_err("admin.token_file: %s", err);
		goto out;
	}
	/* TLS contexts: a certificate that cannot be loaded fails the reload. */
	for (size_t i = 0; i < ncfg->nservices; i++) {
		const struct cfg_service *cs = &ncfg->services[i];

		if (cs->tls.enabled && (nserver[i] = tls_server_ctx(cs->tls.cert,
		    cs->tls.key, cs->tls.min_version, err, sizeof(err))) == NULL) {
			log_err("service %s: tls: %s", cs->name, err);
			goto out;
		}
		if (cs->backend_tls != BTLS_NONE &&
		    (nclient[i] = tls_client_ctx(cs->backend_tls == BTLS_VERIFY,
		    cs->backend_ca, err, sizeof(err))) == NULL) {
			log_err("service %s: backend_tls: %s", cs->name, err);
			goto out;
		}
	}
	if (srv->admin == NULL ||
	    !addr_equal(admin_addr(srv->admin), &ncfg->admin_listen)) {
		if ((nadmin = admin_new(srv, &ncfg->admin_listen)) == NULL)
			goto out;
	}

	/* 2. Nothing can fail from here on: swap. */
	for (size_t i = 0; i < ncfg->nservices; i++) {
		const struct cfg_service *cs = &ncfg->services[i];
		struct service *s = svc_find(srv, cs->name);

		map[i] = s != NULL ? s->idx : -1;
		if (s == NULL) {
			if ((s = calloc(1, sizeof(*s))) == NULL)
				pg_fatalx("out of memory applying configuration");
			s->refcnt = 1;
		}
		svc_set_cfg(s, cs);
		if (map[i] < 0)
			wq_init(&s->wq, 0, 0);
		wq_configure(&s->wq, cs->queue.enabled ? (size_t)cs->queue.max : 0,
		    cs->queue.timeout_ms);
		s->idx = (int)i;
		/* Live connections keep their own reference to an old context. */
		SSL_CTX_free(s->ssl_server);
		SSL_CTX_free(s->ssl_client);
		s->ssl_server = nserver[i];
		s->ssl_client = nclient[i];
		nserver[i] = nclient[i] = NULL;   /* transferred */
		if (cs->backend_tls == BTLS_INSECURE)
			log_warn("service %s: backend_tls is \"insecure\": the VMs' "
			    "certificates are not verified", cs->name);
		nsvc[i] = s;
	}
	/*
	 * Listeners: first take every socket that stays (an address may move
	 * from one service to another), then close what no one took.
	 */
	struct listener *ls[CFG_MAX_SERVICES][CFG_MAX_LISTEN];
	for (size_t i = 0; i < ncfg->nservices; i++) {
		const struct cfg_service *cs = &ncfg->services[i];
		for (size_t j = 0; j < cs->nlisten; j++) {
			ls[i][j] = fresh[i][j] != NULL ? fresh[i][j] :
			    take_listener(srv, &cs->listen[j]);
			fresh[i][j] = NULL;   /* transferred */
			if (ls[i][j] == NULL)
				pg_fatalx("listener for %s vanished", cs->listen[j].text);
			ls[i][j]->svc = nsvc[i];
			listener_tune(ls[i][j], ncfg);
		}
	}
	for (size_t i = 0; i < ncfg->nservices; i++) {
		for (size_t j = 0; j < nsvc[i]->nlis; j++) {
			listener_free(nsvc[i]->lis[j]);   /* not taken: gone */
			nsvc[i]->lis[j] = NULL;
		}
		memcpy(nsvc[i]->lis, ls[i], sizeof(ls[i][0]) * ncfg->services[i].nlisten);
		nsvc[i]->nlis = ncfg->services[i].nlisten;
	}
	for (size_t k = 0; k < srv->nsvc; k++) {
		struct service *s = srv->svc[k];
		bool stays = false;

		for (size_t i = 0; i < ncfg->nservices; i++)
			stays |= nsvc[i] == s;
		if (stays)
			continue;
		for (size_t j = 0; j < s->nlis; j++) {
			listener_free(s->lis[j]);
			s->lis[j] = NULL;
		}
		s->nlis = 0;
		s->idx = -1;
		log_info("service %s removed; its live sessions run on", s->cfg.name);
		svc_unref(s);
	}
	memcpy(srv->svc, nsvc, sizeof(nsvc));
	srv->nsvc = ncfg->nservices;

	/*
	 * 3. Backends. Health is indexed by service: stop every check, move
	 * each VM's health to the new indices, then start checks afresh.
	 */
	for (size_t i = 0; i < srv->pool.n; i++) {
		struct backend *b = srv->pool.be[i];
		struct be_health h[CFG_MAX_SERVICES];

		stop_checks(b);
		memcpy(h, b->health, sizeof(h));
		memset(b->health, 0, sizeof(b->health));
		for (size_t s = 0; s < ncfg->nservices; s++) {
			if (map[s] >= 0)
				b->health[s] = h[map[s]];
			else
				hc_init(&b->health[s].hc);
		}
	}
	/* The file manages its own VMs; the API's and discovery's stay. */
	for (size_t i = 0; i < srv->pool.n; i++) {
		struct backend *b = srv->pool.be[i];
		b->file_seen = false;
	}
	for (size_t i = 0; i < ncfg->nbackends; i++) {
		const struct cfg_backend *cb = &ncfg->backends[i];
		struct backend *b = pool_find(&srv->pool, cb->name);

		if (b == NULL) {
			if ((b = pool_add(&srv->pool, cb)) == NULL)
				pg_fatalx("out of memory adding backend %s", cb->name);
			b->source = BE_SRC_FILE;
			b->file_seen = true;
			if (ocfg != NULL)
				log_info("backend %s added (%s), down until its checks pass",
				    b->name, b->addr.text);
			added++;
			continue;
		}
		if (b->source != BE_SRC_FILE)
			log_warn("backend %s: now defined in %s, which takes it over "
			    "from the %s", b->name, ncfg->path, srv_source_name(b->source));
		kept++;
		b->source = BE_SRC_FILE;
		b->file_seen = true;
		b->removed = false;
		b->weight = cb->weight;
		b->max_sessions = cb->max_sessions;
		be_set_address(b, &cb->address);
	}
	for (size_t i = 0; i < srv->pool.n; i++) {
		struct backend *b = srv->pool.be[i];
		if (b->source != BE_SRC_FILE || b->file_seen || b->removed)
			continue;
		b->removed = true;
		log_info("backend %s removed from the configuration: draining %d "
		    "session(s)", b->name, b->sessions);
		removed++;
	}

	/* 4. The rest of the settings. */
	pg_log_configure(ncfg->log.target == CFG_LOG_SYSLOG, ncfg->log.facility,
	    ncfg->log.format == CFG_LOG_JSON);
	pg_log_set_level((enum pg_log_level)ncfg->log.level);
	explicit_bzero(srv->admin_token, sizeof(srv->admin_token));
	srv->admin_token_set = ncfg->admin_token_file != NULL;
	if (srv->admin_token_set)
		memcpy(srv->admin_token, token, sizeof(token));
	aff_set_ttl(srv->aff, ncfg->affinity_ttl_ms);
	us_set_idle(srv->us, ncfg->session_idle_ms);
	hooks_configure(srv, ncfg);
	if (nadmin != NULL) {
		admin_free(srv->admin);
		srv->admin = nadmin;
		nadmin = NULL;
	}
	srv->cfg = ncfg;
	for (size_t i = 0; i < srv->pool.n; i++)
		if (!srv->pool.be[i]->removed)
			start_checks(srv, srv->pool.be[i]);
	/*
	 * Health moved to new service indices, weights, caps and `removed`
	 * changed, the services every VM must be healthy for may be others:
	 * every VM's place for selection is redone.
	 */
	pool_set_services(&srv->pool, ncfg->nservices);
	if (ocfg != NULL) {
		log_info("reloaded %s: %zu service(s), backends: %d added, "
		    "%d removed, %d kept", ncfg->path, ncfg->nservices, added,
		    removed, kept);
		statuspage_event(srv, "reloaded: %d VM(s) added, %d removed, %d "
		    "kept", added, removed, kept);
	}
	cfg_free(ocfg);
	srv_reap(srv);
	rc = 0;
out:
	for (size_t i = 0; i < CFG_MAX_SERVICES; i++) {
		for (size_t j = 0; j < CFG_MAX_LISTEN; j++)
			listener_free(fresh[i][j]);
		SSL_CTX_free(nserver[i]);
		SSL_CTX_free(nclient[i]);
	}
	admin_free(nadmin);
	explicit_bzero(token, sizeof(token));
	return rc;
}

int
srv_reload(struct pg_server *srv)
{
	struct cfg_errors errs = { 0 };
	struct pg_config *ncfg = NULL;
	int rc = -1;

	log_info("reloading %s", srv->cfg_path);
	if (cfg_load(srv->cfg_path, &ncfg, &errs) == -1) {
		log_cfg_errors(&errs);
		goto out;
	}
	if (ncfg->workers != srv->cfg->workers) {
		log_warn("workers: %d in the file, %d running; a change takes "
		    "effect at the next start", ncfg->workers, srv->cfg->workers);
		ncfg->workers = srv->cfg->workers;
	}
	if (srv_apply(srv, ncfg) == -1)
		goto out;
	ncfg = NULL;   /* transferred */
	if (srv->disc != NULL)
		(void)disc_reconfigure(srv->disc, &srv->cfg->discovery);
	else
		srv->disc = disc_start(srv, &srv->cfg->discovery);
	rc = 0;
out:
	if (rc == -1) {
		srv->reload_failures++;
		log_err("reload failed: %zu error(s); the running configuration "
		    "stays in force", errs.n > 0 ? errs.n : 1);
	} else
		srv->reloads++;
	cfg_free(ncfg);
	cfg_errors_free(&errs);
	return rc;
}

/* ---- membership: admin API and discovery --------------------------------- */

#define MEMBERS_FILE "backends.state"

static const char *const admin_names[] = { "ready", "drain", "maint" };

static bool
be_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > CFG_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(isalnum((unsigned char)name[i]) || name[i] == '_' ||
		    name[i] == '-' || name[i] == '.'))
			return false;
	return true;
}

/*
 * Save what the admin API decided: the VMs it created and every operator
 * state other than ready. libconfig syntax, so the reader is the same
 * well-tested parser as the configuration's. Names and addresses are
 * validated before they get here, so they need no quoting.
 */
static void
members_save(struct pg_server *srv)
{
	char *buf = NULL, err[256];
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL) {
		log_err("state: out of memory saving the backends");
		return;
	}
	fprintf(f, "# poolgate: VMs and operator states set through the admin API\n"
	    "backends = (\n");
	size_t n = 0;
	for (size_t i = 0; i < srv->pool.n; i++) {
		const struct backend *b = srv->pool.be[i];
		if (b->removed)
			continue;
		if (b->source != BE_SRC_API && b->admin == BE_ADMIN_READY)
			continue;
		fprintf(f, "%s  { name = \"%s\"; api = %s; address = \"%s\"; "
		    "weight = %d; max_sessions = %d; admin = \"%s\"; }",
		    n++ ? ",\n" : "", b->name, b->source == BE_SRC_API ?
		    "true" : "false", b->addr.text, b->weight, b->max_sessions,
		    admin_names[b->admin]);
	}
	for (size_t i = 0; i < srv->npending; i++)
		fprintf(f, "%s  { name = \"%s\"; api = false; address = \"\"; "
		    "weight = 1; max_sessions = 0; admin = \"%s\"; }",
		    n++ ? ",\n" : "", srv->pending[i].name,
		    admin_names[srv->pending[i].admin]);
	fprintf(f, "\n);\n");
	if (fclose(f) != 0) {
		free(buf);
		log_err("state: out of memory saving the backends");
		return;
	}
	if (sf_write_atomic(srv->cfg->state_dir, MEMBERS_FILE, buf, len, err,
	    sizeof(err)) == -1)
		log_err("state: cannot save the admin API's changes: %s", err);
	free(buf);
}

/* At start: bring back the API's VMs and the operator states. */
static void
members_load(struct pg_server *srv)
{
	char path[4200], err[256];
	config_t c;
	config_setting_t *list;
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", srv->cfg->state_dir, MEMBERS_FILE);
	if (stat(path, &st) == -1)
		return;   /* nothing set through the API yet */
	config_init(&c);
	if (config_read_file(&c, path) != CONFIG_TRUE) {
		log_err("state: %s:%d: %s; the admin API's changes are not "
		    "restored", path, config_error_line(&c), config_error_text(&c));
		goto out;
	}
	if ((list = config_lookup(&c, "backends")) == NULL ||
	    !config_setting_is_list(list))
		goto out;
	for (int i = 0; i < config_setting_length(list); i++) {
		config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
		const char *name = NULL, *addr = NULL, *admin = NULL;
		int api = 0, weight = 1, maxs = 0;

		config_setting_lookup_string(e, "name", &name);
		config_setting_lookup_string(e, "address", &addr);
		config_setting_lookup_string(e, "admin", &admin);
		config_setting_lookup_bool(e, "api", &api);
		config_setting_lookup_int(e, "weight", &weight);
		config_setting_lookup_int(e, "max_sessions", &maxs);
		if (name == NULL || addr == NULL || admin == NULL) {
			log_warn("state: %s: entry %d incomplete, skipped", path, i);
			continue;
		}
		if (api && srv_backend_upsert(srv, BE_SRC_API, name, addr, weight,
		    maxs, err, sizeof(err)) == -1) {
			log_warn("state: %s: VM %s not restored: %s", path, name, err);
			continue;
		}
		for (int a = 0; a < 3; a++) {
			struct backend *b = pool_find(&srv->pool, name);
			if (strcmp(admin, admin_names[a]) != 0 || a == BE_ADMIN_READY)
				continue;
			if (b != NULL) {
				b->admin = (enum be_admin)a;
				pool_touch(&srv->pool, b);
			} else if (srv->npending < PENDING_ADMIN_MAX &&
			    strlen(name) <= CFG_NAME_MAX) {
				/* Not here yet (discovery): apply when it comes. */
				snprintf(srv->pending[srv->npending].name,
				    sizeof(srv->pending[0].name), "%s", name);
				srv->pending[srv->npending++].admin = (enum be_admin)a;
			}
		}
	}
	log_info("state: restored the admin API's changes from %s", path);
out:
	config_destroy(&c);
}

int
srv_backend_upsert(struct pg_server *srv, enum be_source src, const char *name,
    const char *address, int weight, int max_sessions, char *err,
    size_t errlen)
{
	struct cfg_backend cb;
	struct backend *b;
	int rc;

	memset(&cb, 0, sizeof(cb));
	if (!be_name_valid(name)) {
		snprintf(err, errlen, "\"%s\" is not a valid VM name (expected 1 "
		    "to %d of A-Z a-z 0-9 _ - .)", name, CFG_NAME_MAX);
		return -1;
	}
	if (cfg_parse_addr(address, false, &cb.address) == -1) {
		snprintf(err, errlen, "\"%s\" is not a numeric IPv4 or IPv6 "
		    "address", address);
		return -1;
	}
	if (weight < 1 || weight > 1000 || max_sessions < 0 ||
	    max_sessions > 100000) {
		snprintf(err, errlen, "weight must be 1..1000 and max_sessions "
		    "0..100000");
		return -1;
	}
	snprintf(cb.name, sizeof(cb.name), "%s", name);
	cb.address.text = (char *)address;
	cb.weight = weight;
	cb.max_sessions = max_sessions;
	if ((b = pool_find(&srv->pool, name)) != NULL && !b->removed &&
	    b->source != (int)src) {
		snprintf(err, errlen, "VM %s is owned by the %s", name,
		    srv_source_name(b->source));
		return -1;
	}
	if (b == NULL) {
		if ((b = pool_add(&srv->pool, &cb)) == NULL) {
			snprintf(err, errlen, "out of memory");
			return -1;
		}
		log_info("backend %s added by the %s (%s), down until its checks "
		    "pass", name, srv_source_name(src), address);
		statuspage_event(srv, "%s: added by the %s (%s)", name,
		    srv_source_name(src), address);
		for (size_t i = 0; i < srv->npending; i++) {
			if (strcmp(srv->pending[i].name, name) != 0)
				continue;
			b->admin = srv->pending[i].admin;
			log_info("backend %s: operator state %s restored", name,
			    admin_names[b->admin]);
			srv->pending[i] = srv->pending[--srv->npending];
			break;
		}
		rc = 1;
	} else {
		/* Also brings back a VM that was draining towards removal. */
		if (b->removed)
			log_info("backend %s is back (%s)", name, srv_source_name(src));
		b->removed = false;
		b->weight = weight;
		b->max_sessions = max_sessions;
		be_set_address(b, &cb.address);
		rc = 0;
	}
	b->source = (int)src;
	start_checks(srv, b);
	pool_touch(&srv->pool, b);   /* admin, weight, cap, health, agent */
	if (src == BE_SRC_API)
		members_save(srv);
	srv_capacity_changed(srv);
	return rc;
}

int
srv_backend_remove(struct pg_server *srv, enum be_source src, const char *name,
    char *err, size_t errlen)
{
	struct backend *b = pool_find(&srv->pool, name);

	if (b == NULL || b->removed) {
		snprintf(err, errlen, "no VM called %s", name);
		return -1;
	}
	if (b->source != (int)src) {
		snprintf(err, errlen, "VM %s is owned by the %s", name,
		    srv_source_name(b->source));
		return -1;
	}
	b->removed = true;
	pool_touch(&srv->pool, b);
	stop_checks(b);
	log_info("backend %s removed by the %s: draining %d session(s)", name,
	    srv_source_name(src), b->sessions);
	statuspage_event(srv, "%s: removed by the %s, draining %d session(s)",
	    name, srv_source_name(src), b->sessions);
	if (src == BE_SRC_API)
		members_save(srv);
	srv_reap(srv);
	return 0;
}

int
srv_backend_set_admin(struct pg_server *srv, const char *name,
    enum be_admin admin, char *err, size_t errlen)
{
	struct backend *b = pool_find(&srv->pool, name);

	if (b == NULL || b->removed) {
		snprintf(err, errlen, "no VM called %s", name);
		return -1;
	}
	if (b->admin != admin) {
		log_info("backend %s: operator state %s -> %s", name,
		    admin_names[b->admin], admin_names[admin]);
		statuspage_event(srv, "%s: operator state %s -> %s", name,
		    admin_names[b->admin], admin_names[admin]);
	}
	b->admin = admin;
	pool_touch(&srv->pool, b);
	members_save(srv);
	srv_capacity_changed(srv);
	return 0;
}

/* ---- signals and stopping ------------------------------------------------ */

static void
grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pg_server *srv = arg;

	log_info("shutdown grace over: closing %zu session(s) and %zu HTTP "
	    "connection(s)", session_count(srv), hconn_count(srv));
	session_stop_all(srv);
	hconn_stop_all(srv);
	event_base_loopexit(srv->base, NULL);
}

void
srv_stop(struct pg_server *srv)
{
	struct timeval tv;

	if (srv->stopping)
		return;
	srv->stopping = true;
	/* No membership changes while stopping. */
	disc_free(srv->disc);
	srv->disc = NULL;
	/* Close the listening sockets: new clients are refused by the kernel. */
	for (size_t i = 0; i < srv->nsvc; i++) {
		struct service *s = srv->svc[i];
		for (size_t j = 0; j < s->nlis; j++) {
			listener_free(s->lis[j]);
			s->lis[j] = NULL;
		}
		s->nlis = 0;
	}
	state_save(srv, true);
	if (srv->sessions == NULL && srv->hconns == NULL) {
		log_info("stopping: no live session");
		event_base_loopexit(srv->base, NULL);
		return;
	}
	log_info("stopping: waiting up to %llums for %zu session(s) and %zu "
	    "HTTP connection(s)", (unsigned long long)srv->cfg->shutdown_grace_ms,
	    session_count(srv), hconn_count(srv));
	tv.tv_sec = (time_t)(srv->cfg->shutdown_grace_ms / 1000);
	tv.tv_usec = (suseconds_t)(srv->cfg->shutdown_grace_ms % 1000) * 1000;
	evtimer_add(srv->ev_grace, &tv);
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct pg_server *srv = arg;

	if (sig == SIGHUP) {
		if (!srv->stopping)
			srv_reload(srv);
		return;
	}
	if (srv->stopping) {
		log_info("second stop signal: closing every session now");
		session_stop_all(srv);
		hconn_stop_all(srv);
		event_base_loopexit(srv->base, NULL);
		return;
	}
	log_info("received %s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	srv_stop(srv);
}

/*
 * Make the state directory ready for the user we become, as root, before
 * becoming it. The user owns the directory afterwards, so it could plant
 * links in it: nothing here follows one. The directory must be owned by
 * root or the user and writable by no one else (else we refuse to start);
 * it is made (0700) when missing. Files of earlier versions that root made
 * are handed over only when they are plain files with one link, opened
 * without following a symbolic link (a hard link to a root file has two).
 * Files made from now on are made by the user itself (srv_init reads and
 * writes the state only after dropping privileges). Returns 0, or -1 after
 * logging why.
 */
static int
state_dir_prepare(const char *dir, uid_t uid, gid_t gid)
{
	static const char *const files[] = { SF_FILE_NAME, "cookie.key",
	    "backends.state" };
	struct stat st;
	int dfd = -1, fd, rc = -1;

	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		log_err("state_dir %s: cannot make it: %s", dir, strerror(errno));
		goto out;
	}
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1 ||
	    fstat(dfd, &st) == -1) {
		log_err("state_dir %s: %s", dir, strerror(errno));
		goto out;
	}
	if (st.st_uid != 0 && st.st_uid != uid) {
		log_err("state_dir %s: owned by uid %d, not by root or the user "
		    "poolgate runs as (uid %d): refusing to start", dir,
		    (int)st.st_uid, (int)uid);
		goto out;
	}
	if (st.st_mode & (S_IWGRP | S_IWOTH)) {
		log_err("state_dir %s: writable by its group or by anyone "
		    "(mode %04o): refusing to start; chmod go-w %s", dir,
		    (unsigned)(st.st_mode & 07777), dir);
		goto out;
	}
	if (st.st_uid != uid && fchown(dfd, uid, gid) == -1) {
		log_err("state_dir %s: chown: %s", dir, strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		fd = openat(dfd, files[i], O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
		    O_NOCTTY | O_CLOEXEC);
		if (fd == -1) {
			if (errno != ENOENT)
				log_warn("state: %s/%s: %s; not handed to the "
				    "user", dir, files[i], errno == ELOOP ?
				    "a symbolic link" : strerror(errno));
			continue;
		}
		if (fstat(fd, &st) == 0 && st.st_uid != uid) {
			if (!S_ISREG(st.st_mode) || st.st_nlink != 1)
				log_warn("state: %s/%s: not a plain file with one "
				    "link; not handed to the user", dir, files[i]);
			else if (fchown(fd, uid, gid) == -1)
				log_warn("state: chown %s/%s: %s", dir, files[i],
				    strerror(errno));
		}
		close(fd);
	}
	rc = 0;
out:
	if (dfd != -1)
		close(dfd);
	return rc;
}

/*
 * Listeners are bound (ports below 1024 need root or CAP_NET_BIND_SERVICE):
 * become `user`, its group only, supplementary groups cleared. Without a
 * user, refuse to go on as root unless allow_root says so.
 */
static int
drop_privileges(const struct pg_config *cfg)
{
	struct passwd *pw;

	if (cfg->user == NULL) {
		if (geteuid() == 0 && !cfg->allow_root) {
			log_err("refusing to run as root: set user = \"poolgate\" "
			    "(or another unprivileged user) in %s, or allow_root = "
			    "true", cfg->path);
			return -1;
		}
		return 0;
	}
	if ((pw = getpwnam(cfg->user)) == NULL) {
		log_err("user %s: no such user", cfg->user);
		return -1;
	}
	if (pw->pw_uid == 0 && !cfg->allow_root) {
		log_err("user %s is root: refusing to run as root unless "
		    "allow_root = true", cfg->user);
		return -1;
	}
	if (geteuid() != 0) {
		if (geteuid() == pw->pw_uid)
			return 0;
		log_err("user %s: cannot switch to it: not started as root",
		    cfg->user);
		return -1;
	}
	if (state_dir_prepare(cfg->state_dir, pw->pw_uid, pw->pw_gid) == -1)
		return -1;
	if (setgroups(1, &pw->pw_gid) == -1 || setgid(pw->pw_gid) == -1 ||
	    setuid(pw->pw_uid) == -1) {
		log_err("user %s: cannot switch to it: %s", cfg->user,
		    strerror(errno));
		return -1;
	}
	if (pw->pw_uid != 0 && setuid(0) != -1)
		pg_fatalx("still able to become root after dropping privileges");
	log_info("running as user %s (uid %d, gid %d)", cfg->user,
	    (int)pw->pw_uid, (int)pw->pw_gid);
	return 0;
}

int
srv_init(struct pg_server *srv, struct event_base *base, const char *path)
{
	struct cfg_errors errs = { 0 };
	struct pg_config *cfg = NULL;
	struct timeval sec = { 1, 0 };
	char err[512];
	int rc = -1;

	memset(srv, 0, sizeof(*srv));
	srv->base = base;
	srv->started_ms = pg_now_ms();
	pool_init(&srv->pool);
	if ((srv->cfg_path = strdup(path)) == NULL ||
	    (srv->lim = lim_new()) == NULL ||
	    (srv->rate = rate_new(RATE_MAX_ADDRESSES)) == NULL ||
	    (srv->pipes = pipe_pool_new(PIPES_SPARE)) == NULL ||
	    (srv->aff = aff_new(AFF_MAX_ENTRIES, 0)) == NULL ||
	    (srv->us = us_new(US_MAX_USERS, 600000)) == NULL) {
		log_err("out of memory");
		goto out;
	}
	if (cfg_load(path, &cfg, &errs) == -1) {
		log_cfg_errors(&errs);
		goto out;
	}
	if (srv_apply(srv, cfg) == -1)
		goto out;
	cfg = NULL;   /* transferred */
	/*
	 * Listeners are bound: become the user before the state directory is
	 * read or written, so that every file there is made by the user and a
	 * link planted there leads nowhere the user could not go anyway.
	 */
	if (drop_privileges(srv->cfg) == -1)
		goto out;
	if (ck_key_load_or_create(srv->cfg->state_dir, srv->cookie_key, err,
	    sizeof(err)) == -1) {
		log_err("state: %s; using a key for this run only (affinity "
		    "cookies will not survive a restart)", err);
		if (RAND_bytes(srv->cookie_key, sizeof(srv->cookie_key)) != 1)
			pg_fatalx("no randomness for the cookie key");
	}
	/* After the VMs are known: entries for VMs gone from the file drop. */
	members_load(srv);
	state_load(srv);

	signal(SIGPIPE, SIG_IGN);
	chk_set_observer(health_changed, srv);
	srv->ev_sighup = evsignal_new(base, SIGHUP, signal_cb, srv);
	srv->ev_sigterm = evsignal_new(base, SIGTERM, signal_cb, srv);
	srv->ev_sigint = evsignal_new(base, SIGINT, signal_cb, srv);
	srv->ev_tick = event_new(base, -1, EV_PERSIST, tick_cb, srv);
	srv->ev_grace = evtimer_new(base, grace_cb, srv);
	srv->ev_resume = evtimer_new(base, resume_cb, srv);
	if (srv->ev_sighup == NULL || srv->ev_sigterm == NULL ||
	    srv->ev_sigint == NULL || srv->ev_tick == NULL ||
	    srv->ev_grace == NULL || srv->ev_resume == NULL) {
		log_err("out of memory");
		goto out;
	}
	evsignal_add(srv->ev_sighup, NULL);
	evsignal_add(srv->ev_sigterm, NULL);
	evsignal_add(srv->ev_sigint, NULL);
	evtimer_add(srv->ev_tick, &sec);
	for (size_t i = 0; i < srv->nsvc; i++)
		for (size_t j = 0; j < srv->svc[i]->nlis; j++)
			log_info("service %s listening on %s (%s)",
			    srv->svc[i]->cfg.name, srv->svc[i]->lis[j]->addr.text,
			    cfg_mode_name(srv->svc[i]->cfg.mode));
	log_info("admin endpoint on http://%s", srv->cfg->admin_listen.text);
	if (session_workers_start(srv, (size_t)srv->cfg->workers) == -1) {
		log_err("cannot start %d relay thread(s): %s", srv->cfg->workers,
		    strerror(errno));
		goto out;
	}
	if (srv->cfg->workers > 0)
		log_info("relaying tcp services on %d worker thread(s)",
		    srv->cfg->workers);
	/* Reads and applies the file at once: the pool must be up. */
	srv->disc = disc_start(srv, &srv->cfg->discovery);
	rc = 0;
out:
	cfg_free(cfg);
	cfg_errors_free(&errs);
	return rc;
}

void
srv_free(struct pg_server *srv)
{
	disc_free(srv->disc);
	srv->disc = NULL;
	if (srv->cfg != NULL)
		state_save(srv, true);
	session_workers_stop(srv);
	hconn_stop_all(srv);
	for (size_t i = 0; i < srv->pool.n; i++) {
		for (size_t s = 0; s < CFG_MAX_SERVICES; s++)
			chk_stop(srv->pool.be[i], s);
		agent_stop(srv->pool.be[i]);   /* its timer points at the VM */
	}
	pool_clear(&srv->pool);
	for (size_t i = 0; i < srv->nsvc; i++)
		svc_unref(srv->svc[i]);
	srv->nsvc = 0;
	admin_free(srv->admin);
	struct event *evs[] = { srv->ev_sighup, srv->ev_sigterm, srv->ev_sigint,
	    srv->ev_tick, srv->ev_grace, srv->ev_resume };
	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		if (evs[i] != NULL)
			event_free(evs[i]);
	aff_free(srv->aff);
	us_free(srv->us);
	hk_free(srv->hk);
	hr_free(srv->hr);
	OPENSSL_cleanse(srv->cookie_key, sizeof(srv->cookie_key));
	lim_free(srv->lim);
	rate_free(srv->rate);
	pipe_pool_free(srv->pipes);
	cfg_free(srv->cfg);
	free(srv->cfg_path);
	statuspage_free(srv);   /* last: anything above may record an event */
}
