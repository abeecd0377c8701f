/*
 * admin.h -- the operator endpoint (libevent evhttp).
 *
 * GET /healthz   200 "ok" when every service has a VM up, else 503 + reason
 * GET /status    JSON: services, VMs, health, sessions, affinity
 * GET /metrics   Prometheus text format (metrics.h)
 * GET /ssh_known_hosts  the pool's @cert-authority line (knownhosts.h)
 * /api/v1/...    the admin API (adminapi.h)
 * /, /login, /logout, /action   the HTML status page (statuspage.h)
 *
 * Files: admin.c (router, /healthz, /status), conns.c (the endpoint's
 * connections: a cap and a deadline per request), vmjson.c (JSON strings and
 * the one VM serializer of /status and the API), metrics.c, adminapi.c,
 * statuspage.c (page and routes), signin.c (sessions, CSRF, sign-in
 * limits; forms and cookies are read with http/httpuser.h), events.c (the recent-events ring),
 * html.c (HTML escaping).
 */
#ifndef POOLGATE_ADMIN_H
#define POOLGATE_ADMIN_H

#include <stdbool.h>
#include <stdint.h>

#include "backends/members.h"
#include "config/config.h"
#include "proxy/proxy.h"

struct admin;
struct cl_node;
struct hookrun;
struct si_fails;
struct statuspage;
struct history;

/*
 * What the operator endpoint reads and steers, given by the daemon (which
 * embeds it and keeps the fields below up to date). The endpoint reads the
 * pool, services and connections through px (px->mbr: the pool module) and
 * changes VMs only through the pool module (mbr_set_admin, mbr_upsert,
 * mbr_remove). It never includes the daemon.
 */
struct px_live;

struct adm_ctx {
	struct px_ctx     *px;            /* borrowed: services, connections, pool */
	struct hookrun    *hr;            /* the hook runner, or NULL (hooks off) */
	struct cl_node    *cl;            /* this node in a cluster, or NULL (cluster/) */
	/*
	 * The operator took this node out of the front (poolgatectl node
	 * drain): /healthz answers 503 so the load balancer or keepalived
	 * moves new clients away; live sessions go on.
	 */
	bool               node_draining;
	/*
	 * The client of the relayed session to b from our source port vm_port
	 * (px_client_of), or NULL when unknown; the hook itself may be NULL.
	 */
	const char      *(*client_of)(const struct px_ctx *px,
	    const struct backend *b, int vm_port);
	/* px_foreach_live, or NULL: the live sessions by mode and user. */
	void             (*foreach_live)(const struct px_ctx *px,
	    void (*fn)(const struct px_live *l, void *arg), void *arg);
	/*
	 * Start a binary upgrade (daemon/upgrade.h), or NULL: 0 when the new
	 * process was started, -1 with why (one already runs, fork failed).
	 */
	int              (*upgrade)(void *arg, char *why, size_t len);
	void              *upgrade_arg;
	/*
	 * The process this one replaced by an upgrade, while it still relays
	 * its sessions (0 when there is none), and how many it relays.
	 */
	int                old_pid;
	uint32_t           old_sessions;
	uint64_t           started_ms;    /* monotonic clock at start */
	uint64_t           reloads;
	uint64_t           reload_failures;
	uint64_t           reload_ok_wall_ms; /* wall clock of the start or the last reload applied */
	char               reload_error[512]; /* first error of the last refused reload, "" */
	bool               state_failing; /* the last save of the state failed */
	/*
	 * Bearer token of the admin API's mutating calls (admin.token_file),
	 * also the status page's sign-in. Without it (token_set false) every
	 * mutating call is refused and nobody can sign in.
	 */
	char               token[256];
	bool               token_set;
	/*
	 * The status page's sign-in sessions and recent events: made on first
	 * use, freed by statuspage_free().
	 */
	struct statuspage *statuspage;
	/*
	 * Failed tokens per client address, of the sign-in form and the API's
	 * bearer token alike (signin.h): made on first use (si_fails_of),
	 * freed by statuspage_free() with the rest of what the endpoint keeps
	 * across requests and reloads.
	 */
	struct si_fails   *fails;
	/*
	 * Sessions per VM over the last hour, for the status page's charts
	 * (history.h): made by the daemon's first hist_tick(), freed by it.
	 */
	struct history    *history;
};

/*
 * Bind the endpoint on addr (copied) on a->px->base and serve a, which is
 * borrowed and must outlive the endpoint. fd, when not -1, is a listening
 * socket already bound to addr (socket activation, a binary upgrade): it is
 * used instead of binding and is the endpoint's from then on, closed even
 * when this fails. Returns the endpoint, freed by admin_free(), or NULL when
 * out of memory or the address cannot be bound (logged).
 */
struct admin *admin_new(struct adm_ctx *a, const struct cfg_addr *addr,
    int fd);

/* Close the endpoint and free it (not its adm_ctx). a may be NULL. */
void          admin_free(struct admin *a);

/* The address the endpoint is bound to (borrowed from a; dies with it). */
const struct cfg_addr *admin_addr(const struct admin *a);

/* Poll the endpoint's listening socket or not (it stays open). */
void          admin_set_accepting(struct admin *a, bool on);

/* The endpoint's listening socket (borrowed: it closes with the endpoint). */
int           admin_fd(const struct admin *a);

#endif
