/*
 * server.c -- the daemon's lifecycle: start, reload, stop; listeners and the
 * accept path with its limits.
 */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backends/check.h"
#include "proxy/admin.h"
#include "proxy/log.h"
#include "proxy/server.h"
#include "proxy/session.h"

#define AFF_MAX_ENTRIES  1000000
#define LISTEN_BACKLOG   1024
#define ACCEPT_PAUSE_MS  100

const char *
conn_err_name(enum conn_err e)
{
	static const char *const names[ERR__COUNT] = {
		[ERR_MAX_CONNECTIONS] = "max_connections",
		[ERR_PER_IP] = "per_ip_connections",
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

/* ---- accepting ---------------------------------------------------------- */

/* Rate-limit a repeated warning to one line per second per call site. */
#define WARN_RATELIMITED(last, ...) do {                         \
	uint64_t now_ = pg_now_ms();                              \
	if (now_ - (last) >= 1000) { (last) = now_; log_warn(__VA_ARGS__); } \
} while (0)

static void
accept_cb(struct evconnlistener *lev, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct listener *l = arg;
	struct pg_server *srv = l->srv;
	struct service *svc = l->svc;
	static uint64_t last_max, last_ip;
	int r;

	if (srv->nconns >= (uint64_t)srv->cfg->max_connections) {
		svc->errors[ERR_MAX_CONNECTIONS]++;
		WARN_RATELIMITED(last_max, "service %s: max_connections (%d) "
		    "reached, refusing connections", svc->cfg.name,
		    srv->cfg->max_connections);
		close(fd);
		return;
	}
	r = lim_acquire(srv->lim, sa, srv->cfg->per_ip_connections);
	if (r != 0) {
		svc->errors[r == 1 ? ERR_PER_IP : ERR_RESOURCES]++;
		if (r == 1)
			WARN_RATELIMITED(last_ip, "service %s: a client address "
			    "is over per_ip_connections (%d), refusing",
			    svc->cfg.name, srv->cfg->per_ip_connections);
		close(fd);
		return;
	}
	srv->nconns++;
	session_accept(srv, svc, fd, sa, (socklen_t)salen);
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

static void
svc_set_cfg(struct service *s, const struct cfg_service *cs)
{
	free(s->cfg.check.path);
	s->cfg = *cs;
	s->cfg.check.path = cs->check.path != NULL ? strdup(cs->check.path) : NULL;
	for (size_t i = 0; i < CFG_MAX_LISTEN; i++)
		s->cfg.listen[i].text = NULL;   /* the listeners own their text */
}

void
svc_unref(struct service *s)
{
	if (--s->refcnt > 0)
		return;
	for (size_t i = 0; i < s->nlis; i++)
		listener_free(s->lis[i]);
	free(s->cfg.check.path);
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

/* ---- housekeeping -------------------------------------------------------- */

void
srv_reap(struct pg_server *srv)
{
	for (size_t i = 0; i < srv->pool.n; ) {
		struct backend *b = srv->pool.be[i];

		if (!b->removed || b->sessions > 0) {
			i++;
			continue;
		}
		log_info("backend %s forgotten: removed and its last session ended",
		    b->name);
		for (size_t s = 0; s < CFG_MAX_SERVICES; s++)
			chk_stop(b, s);
		aff_forget_backend(srv->aff, b->name);
		pool_remove_at(&srv->pool, i);
	}
}

void
srv_session_gone(struct pg_server *srv)
{
	srv_reap(srv);
	if (srv->stopping && srv->sessions == NULL) {
		log_info("last session ended, exiting");
		event_base_loopexit(srv->base, NULL);
	}
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pg_server *srv = arg;

	aff_expire(srv->aff, pg_now_ms());
	srv_reap(srv);
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
		s->idx = (int)i;
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

		for (size_t s = 0; s < CFG_MAX_SERVICES; s++)
			chk_stop(b, s);
		memcpy(h, b->health, sizeof(h));
		memset(b->health, 0, sizeof(b->health));
		for (size_t s = 0; s < ncfg->nservices; s++) {
			if (map[s] >= 0)
				b->health[s] = h[map[s]];
			else
				hc_init(&b->health[s].hc);
		}
	}
	for (size_t i = 0; i < srv->pool.n; i++)
		srv->pool.be[i]->removed = true;   /* until found in the new file */
	for (size_t i = 0; i < ncfg->nbackends; i++) {
		const struct cfg_backend *cb = &ncfg->backends[i];
		struct backend *b = pool_find(&srv->pool, cb->name);

		if (b == NULL) {
			if ((b = pool_add(&srv->pool, cb)) == NULL)
				pg_fatalx("out of memory adding backend %s", cb->name);
			if (ocfg != NULL)
				log_info("backend %s added (%s), down until its checks pass",
				    b->name, b->addr.text);
			added++;
			continue;
		}
		kept++;
		b->removed = false;
		b->weight = cb->weight;
		b->max_sessions = cb->max_sessions;
		if (!addr_equal(&b->addr, &cb->address)) {
			char *text = strdup(cb->address.text);
			if (text == NULL)
				pg_fatalx("out of memory");
			log_info("backend %s moved from %s to %s: health starts over",
			    b->name, b->addr.text, text);
			free(b->addr.text);
			b->addr = cb->address;
			b->addr.text = text;
			for (size_t s = 0; s < CFG_MAX_SERVICES; s++)
				hc_init(&b->health[s].hc);
		}
	}
	for (size_t i = 0; i < srv->pool.n; i++) {
		struct backend *b = srv->pool.be[i];
		if (b->removed) {
			if (ocfg != NULL)
				log_info("backend %s removed from the configuration: "
				    "draining %d session(s)", b->name, b->sessions);
			removed++;
			continue;
		}
		for (size_t s = 0; s < ncfg->nservices; s++)
			chk_start(srv->base, b, s, &ncfg->services[s]);
	}

	/* 4. The rest of the settings. */
	aff_set_ttl(srv->aff, ncfg->affinity_ttl_ms);
	if (nadmin != NULL) {
		admin_free(srv->admin);
		srv->admin = nadmin;
		nadmin = NULL;
	}
	srv->cfg = ncfg;
	if (ocfg != NULL)
		log_info("reloaded %s: %zu service(s), backends: %d added, "
		    "%d removed, %d kept", ncfg->path, ncfg->nservices, added,
		    removed, kept);
	cfg_free(ocfg);
	srv_reap(srv);
	rc = 0;
out:
	for (size_t i = 0; i < CFG_MAX_SERVICES; i++)
		for (size_t j = 0; j < CFG_MAX_LISTEN; j++)
			listener_free(fresh[i][j]);
	admin_free(nadmin);
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
	if (srv_apply(srv, ncfg) == -1)
		goto out;
	ncfg = NULL;   /* transferred */
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

/* ---- signals and stopping ------------------------------------------------ */

static void
grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pg_server *srv = arg;

	log_info("shutdown grace over: closing %zu session(s)", session_count(srv));
	session_stop_all(srv);
	event_base_loopexit(srv->base, NULL);
}

void
srv_stop(struct pg_server *srv)
{
	struct timeval tv;

	if (srv->stopping)
		return;
	srv->stopping = true;
	/* Close the listening sockets: new clients are refused by the kernel. */
	for (size_t i = 0; i < srv->nsvc; i++) {
		struct service *s = srv->svc[i];
		for (size_t j = 0; j < s->nlis; j++) {
			listener_free(s->lis[j]);
			s->lis[j] = NULL;
		}
		s->nlis = 0;
	}
	if (srv->sessions == NULL) {
		log_info("stopping: no live session");
		event_base_loopexit(srv->base, NULL);
		return;
	}
	log_info("stopping: waiting up to %llums for %zu session(s)",
	    (unsigned long long)srv->cfg->shutdown_grace_ms, session_count(srv));
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
		event_base_loopexit(srv->base, NULL);
		return;
	}
	log_info("received %s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	srv_stop(srv);
}

int
srv_init(struct pg_server *srv, struct event_base *base, const char *path)
{
	struct cfg_errors errs = { 0 };
	struct pg_config *cfg = NULL;
	struct timeval sec = { 1, 0 };
	int rc = -1;

	memset(srv, 0, sizeof(*srv));
	srv->base = base;
	srv->started_ms = pg_now_ms();
	pool_init(&srv->pool);
	if ((srv->cfg_path = strdup(path)) == NULL ||
	    (srv->lim = lim_new()) == NULL ||
	    (srv->aff = aff_new(AFF_MAX_ENTRIES, 0)) == NULL) {
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

	signal(SIGPIPE, SIG_IGN);
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
	rc = 0;
out:
	cfg_free(cfg);
	cfg_errors_free(&errs);
	return rc;
}

void
srv_free(struct pg_server *srv)
{
	session_stop_all(srv);
	for (size_t i = 0; i < srv->pool.n; i++)
		for (size_t s = 0; s < CFG_MAX_SERVICES; s++)
			chk_stop(srv->pool.be[i], s);
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
	lim_free(srv->lim);
	cfg_free(srv->cfg);
	free(srv->cfg_path);
}
