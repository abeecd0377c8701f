/*
 * server.h -- the running daemon: configuration, pool, services, counters.
 *
 * One struct pg_server lives for the whole process. Everything hangs off it
 * and runs on its event base, on the main thread. The one exception is the
 * relay of tcp sessions with `workers` > 0: their sockets live on worker
 * threads, which touch nothing here but what session.c hands them
 * (proxy/worker.h).
 *
 * The daemon is the only folder that includes every other. It owns the
 * configuration, the listeners, reload, signals, the state file, privilege
 * dropping and the hooks, and wires the rest together: the pool module
 * (backends/members.h), the data path's context (proxy/proxy.h) and the
 * operator endpoint's (admin/admin.h), which all report back through the
 * one event sink it sets (backends/sink.h).
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

#include "admin/admin.h"
#include "backends/members.h"
#include "backends/sink.h"
#include "config/config.h"
#include "proxy/proxy.h"

struct listener {
	struct pg_server      *srv;
	struct evconnlistener *lev;
	struct cfg_addr        addr;      /* addr.text owned */
	struct service        *svc;       /* borrowed; updated on reload */
};

struct hk_state;
struct hookrun;
struct discovery;
struct admin;
struct ssv;

struct pg_server {
	struct event_base *base;
	struct pg_config  *cfg;           /* owned; replaced whole on reload */
	char              *cfg_path;
	struct members     mbr;           /* the pool module */
	struct px_ctx      px;            /* the data path's context */
	struct adm_ctx     adm;           /* the operator endpoint's context */
	struct pg_sink     sink;          /* the one event sink (set once) */
	struct hk_state   *hk;            /* hook event detection, when hooks are on */
	struct hookrun    *hr;            /* hook runner, when hooks are on */
	struct discovery  *disc;          /* discovery file and DNS */
	struct admin      *admin;
	struct cl_node    *cl;            /* the cluster link, when configured (node.c) */
	char               cl_sig[2048];  /* the settings it was made from */
	char               cl_password[256]; /* wiped when it goes */
	bool               cfg_freebind;  /* listeners bound from now on: IP_FREEBIND */
	struct ssv        *ssv;           /* saves the affinity table off the loop */
	uint64_t           state_saved_ms;
	bool               mbr_live;      /* mbr_init succeeded: mbr_free at the end */
	bool               applying;      /* srv_apply: checks start at its end */
	char               apply_why[512];/* why srv_apply refused, for adm.reload_error */
	struct event      *ev_sighup, *ev_sigterm, *ev_sigint, *ev_sigusr2;
	bool               upgraded;      /* handed over to a new binary (upgrade.h) */
	bool               warming;       /* taking over: not accepting yet (upgrade.h) */
	struct event      *ev_tick;       /* once a second: affinity sweep, reaping */
	struct event      *ev_sweep;      /* the rest of a long affinity sweep */
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

/*
 * A binary upgrade's new process accepts (upgrade.h): stop accepting and
 * answering on the admin endpoint, save nothing more (the state is the new
 * process's), and stop as srv_stop() does.
 */
void srv_handover(struct pg_server *srv);

/* Save the affinity table now and wait until it is written. */
void srv_save_state_now(struct pg_server *srv);

/* Release everything (after the event loop returned). */
void srv_free(struct pg_server *srv);

/* Enable or disable every listener, the admin endpoint's included. */
void srv_set_accepting(struct pg_server *srv, bool on);

/* Pause every listener for a moment (out of descriptors). */
void srv_pause_accepting(struct pg_server *srv);

#endif
