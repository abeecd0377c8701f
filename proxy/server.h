/*
 * server.h -- the running daemon: configuration, pool, services, counters.
 *
 * One struct pg_server lives for the whole process. Everything hangs off it
 * and runs on its event base, on the main thread. The one exception is the
 * relay of tcp sessions with `workers` > 0: their sockets live on worker
 * threads, which touch nothing here but what session.c hands them
 * (proxy/worker.h).
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
#include "backends/route.h"
#include "backends/usersess.h"
#include "backends/waitq.h"
#include "config/config.h"
#include "proxy/limits.h"
#include "proxy/worker.h"

#include <openssl/ssl.h>

/* Reasons a connection failed or was refused, for the error counters. */
enum conn_err {
	ERR_MAX_CONNECTIONS = 0,
	ERR_PER_IP,
	ERR_PER_IP_RATE,
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
	uint64_t           bytes_up;      /* client -> VM, connections ended */
	uint64_t           bytes_down;    /* VM -> client, connections ended */
	uint64_t           errors[ERR__COUNT];
	struct waitq       wq;            /* connections waiting for a VM */
	SSL_CTX           *ssl_server;    /* TLS termination, or NULL */
	SSL_CTX           *ssl_client;    /* TLS to the VMs, or NULL */
};

#define PENDING_ADMIN_MAX 256

struct session;
struct hconn;
struct hk_state;
struct hookrun;
struct pipe_pool;
struct discovery;
struct admin;
struct statuspage;

struct pg_server {
	struct event_base *base;
	struct pg_config  *cfg;           /* owned; replaced whole on reload */
	char              *cfg_path;
	struct pool        pool;
	struct aff_table  *aff;
	struct lim_table  *lim;
	struct rate_table *rate;          /* new connections per address per minute */
	struct pipe_pool  *pipes;         /* spare pipes of the main thread's relays */
	struct wk_pool     wk;            /* relay threads (session.c) */
	struct service    *svc[CFG_MAX_SERVICES]; /* parallel to cfg->services */
	size_t             nsvc;
	struct session    *sessions;      /* live SSH/TCP sessions (session.c) */
	struct hconn      *hconns;        /* live HTTP connections (httpconn.c) */
	struct us_table   *us;            /* Jupyter users per VM */
	struct hk_state   *hk;            /* hook event detection, when hooks are on */
	struct hookrun    *hr;            /* hook runner, when hooks are on */
	struct discovery  *disc;          /* discovery file and DNS */
	uint8_t            cookie_key[32];/* HMAC key of the affinity cookie */
	bool               aff_dirty;     /* affinity changed since last saved */
	/*
	 * Operator states saved for VMs not (yet) in the pool, such as
	 * discovery's before its first refresh: applied when the VM appears.
	 */
	struct pending_admin {
		char          name[CFG_NAME_MAX + 1];
		enum be_admin admin;
	}                  pending[PENDING_ADMIN_MAX];
	size_t             npending;
	uint64_t           state_saved_ms;
	bool               state_failing; /* the last save failed */
	uint64_t           nconns;        /* open client connections, all services */
	uint64_t           started_ms;
	uint64_t           sel_count;     /* VM choices made ... */
	uint64_t           sel_ns;        /* ... and the time they took */
	uint64_t           reloads;
	uint64_t           reload_failures;
	bool               stopping;
	bool               killing;       /* ending every session (grace over) */
	bool               dispatching;   /* srv_capacity_changed() running */
	struct admin      *admin;
	/*
	 * Bearer token of the admin API's mutating calls, read from
	 * admin.token_file by adminapi_load_token() at start and on reload.
	 * Without it (admin_token_set false) every mutating call is refused.
	 */
	char               admin_token[256];
	bool               admin_token_set;
	/*
	 * The HTML status page's sign-in sessions and recent events
	 * (proxy/statuspage.c): made on first use, freed by statuspage_free().
	 */
	struct statuspage *statuspage;
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

/*
 * TCP keepalive on fd after keepalive_ms of silence (0: leave it off).
 * Safe on any thread: it reads no shared state.
 */
void srv_keepalive_fd(int fd, uint64_t keepalive_ms);

/* Called by the relay when a session ended; may finish a graceful stop. */
void srv_session_gone(struct pg_server *srv);

/*
 * A request of `user` was sent to `vm` from client address addr: count the
 * Jupyter session (a user on a VM) and keep the affinity "user:<name>".
 */
void srv_user_request(struct pg_server *srv, const char *user,
    struct backend *vm, const char *addr, uint64_t now);

/*
 * The address of sa as text (IPv4-mapped IPv6 as IPv4) and its port.
 * addr gets "" for other families.
 */
void srv_format_peer(const struct sockaddr *sa, char *addr, size_t addrlen,
    int *port);

/* ---- Membership and operator states (admin API, discovery) -------------- */

/* Where a VM's membership comes from; each source manages only its own. */
enum be_source { BE_SRC_FILE = 0, BE_SRC_API, BE_SRC_DISCOVERY_FILE, BE_SRC_DNS };

/* "configuration file", "admin API", ... for messages and status. */
const char *srv_source_name(int src);

/*
 * Create or update the VM `name` as `src` says. A new VM starts down until
 * its checks pass; an update keeps sessions and health (an address change
 * restarts health). A VM owned by another source is refused (-1, err says
 * which source owns it). API changes are saved in state_dir.
 * Returns 1 when created, 0 when updated, -1 on error (err filled).
 */
int  srv_backend_upsert(struct pg_server *srv, enum be_source src,
    const char *name, const char *address, int weight, int max_sessions,
    char *err, size_t errlen);

/*
 * Remove the VM `name` on behalf of `src`: it drains (no new sessions,
 * live ones run on) and is forgotten once its last session ended.
 * Returns 0, or -1 when unknown or owned by another source (err filled).
 */
int  srv_backend_remove(struct pg_server *srv, enum be_source src,
    const char *name, char *err, size_t errlen);

/*
 * Set the operator state of `name` (ready, drain, maint). Saved in
 * state_dir so it survives a restart. Returns 0 or -1 (unknown VM).
 */
int  srv_backend_set_admin(struct pg_server *srv, const char *name,
    enum be_admin admin, char *err, size_t errlen);

/*
 * Capacity may have appeared (a VM came up, a session ended, a VM was added
 * or made ready): hand queued connections to VMs, oldest first.
 */
void srv_capacity_changed(struct pg_server *srv);

/* A login arrived that no VM could take: tell the hooks (rate-limited). */
void srv_no_capacity(struct pg_server *srv, struct service *svc);

/* Tell the hooks that svc had a login no VM could take (rate-limited). */
void hooks_no_capacity(struct pg_server *srv, struct service *svc);

/*
 * TCP keepalive on a client or VM socket, so connections to peers that
 * vanished without a FIN are reclaimed (limits.tcp_keepalive; 0 = off).
 */
void srv_set_keepalive(const struct pg_server *srv, int fd);

/*
 * Choose a VM (route_pick) and account the time it took for the metrics.
 * Same contract as route_pick().
 */
struct backend *srv_pick(struct pg_server *srv, size_t svc,
    const struct route_in *in, struct backend *const *tried, size_t ntried,
    enum route_why *why);

/* Pause every listener for a moment (out of descriptors). */
void srv_pause_accepting(struct pg_server *srv);

#endif
