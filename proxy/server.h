/*
 * server.h -- the running daemon: configuration, pool, services, counters.
 *
 * One struct pg_server lives for the whole process. Everything hangs off it
 * and everything runs on its event base (one thread).
 *
 * Lifetimes across a reload: services are matched by name and updated in
 * place, so a live session's `struct service *` stays valid; a service gone
 * from the new file is unlinked and freed when its last session ends
 * (refcount). Backends are matched by name in the pool; a removed one drains
 * and is freed by srv_reap() once its last session ended.
 */
#ifndef POOLGATE_SERVER_H
#define POOLGATE_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "backends/affinity.h"
#include "backends/backend.h"
#include "config/config.h"
#include "proxy/limits.h"

/* Reasons a connection failed or was refused, for the error counters. */
enum conn_err {
	ERR_MAX_CONNECTIONS = 0,
	ERR_PER_IP,
	ERR_NO_BACKEND,
	ERR_CONNECT_FAILED,
	ERR_CONNECT_TIMEOUT,
	ERR_RESOURCES,
	ERR__COUNT
};
const char *conn_err_name(enum conn_err e);

struct listener {
	struct pg_server      *srv;
	struct evconnlistener *lev;
	struct cfg_addr        addr;      /* addr.text owned */
	struct service        *svc;       /* borrowed; updated on reload */
};

struct service {
	struct cfg_service cfg;           /* copy; check.path owned */
	int                idx;           /* index in srv->cfg->services, -1 once removed */
	int                refcnt;        /* 1 for the server + 1 per live session */
	struct listener   *lis[CFG_MAX_LISTEN];
	size_t             nlis;
	uint64_t           connections_total;
	uint64_t           active;
	uint64_t           errors[ERR__COUNT];
};

struct session;
struct admin;

struct pg_server {
	struct event_base *base;
	struct pg_config  *cfg;           /* owned; replaced whole on reload */
	char              *cfg_path;
	struct pool        pool;
	struct aff_table  *aff;
	struct lim_table  *lim;
	struct service    *svc[CFG_MAX_SERVICES]; /* parallel to cfg->services */
	size_t             nsvc;
	struct session    *sessions;      /* live sessions (session.c) */
	uint64_t           nconns;        /* open client connections, all services */
	uint64_t           started_ms;
	uint64_t           reloads;
	uint64_t           reload_failures;
	bool               stopping;
	struct admin      *admin;
	struct event      *ev_sighup, *ev_sigterm, *ev_sigint;
	struct event      *ev_tick;       /* once a second: affinity sweep, reaping */
	struct event      *ev_grace;      /* shutdown deadline */
	struct event      *ev_resume;     /* re-enable accepting after EMFILE */
};

/*
 * Load the configuration at `path` and bring everything up: listeners,
 * checks, admin endpoint, signals. Returns 0, or -1 with the errors logged.
 */
int  srv_init(struct pg_server *srv, struct event_base *base, const char *path);

/*
 * Re-read srv->cfg_path beside the running configuration and swap to it only
 * when it is valid and every new socket could be bound. Returns 0 when the
 * new configuration runs, -1 when the old one was kept (errors logged).
 */
int  srv_reload(struct pg_server *srv);

/* Stop accepting; end when the last session is gone or after shutdown_grace. */
void srv_stop(struct pg_server *srv);

/* Release everything (after the event loop returned). */
void srv_free(struct pg_server *srv);

/* Drop a reference to a service; frees it when it was the last one. */
void svc_unref(struct service *s);

/* Free removed backends that have no session left. */
void srv_reap(struct pg_server *srv);

/* Called by the relay when a session ended; may finish a graceful stop. */
void srv_session_gone(struct pg_server *srv);

/* Pause every listener for a moment (out of descriptors). */
void srv_pause_accepting(struct pg_server *srv);

#endif
