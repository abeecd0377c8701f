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
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <time.h>
#include <unistd.h>

#include "backends/check.h"
#include "backends/check_agent.h"
#include "backends/discovery.h"
#include "backends/hooks.h"
#include "backends/statefile.h"
#include "backends/statesave.h"
#include "lib/atomicfile.h"
#include "http/cookie.h"
#include "backends/hookrun.h"
#include "proxy/httpconn.h"
#include "lib/tls.h"

#include <libconfig.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include "admin/admin.h"
#include "admin/adminapi.h"
#include "admin/history.h"
#include "lib/log.h"
#include "daemon/notify.h"
#include "daemon/sockact.h"
#include "daemon/upgrade.h"
#include "daemon/server.h"
#include "proxy/session.h"
#include "proxy/tlsconn.h"
#include "proxy/splice.h"
#include "proxy/srcaddr.h"
#include "admin/statuspage.h"
#include "cluster/cluster.h"
#include "daemon/node.h"

static void hooks_update(struct pg_server *srv);

#define AFF_MAX_ENTRIES  1000000
#define US_MAX_USERS     100000
#define RATE_MAX_ADDRESSES 100000
#define PIPES_SPARE      64   /* spare pipes kept for relays with data in flight */
#define LISTEN_BACKLOG   1024
#define ACCEPT_PAUSE_MS  100

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

	if (srv->px.nconns >= (uint64_t)srv->cfg->max_connections) {
		svc->errors[ERR_MAX_CONNECTIONS]++;
		WARN_RATELIMITED(last_max, "service %s: max_connections (%d) "
		    "reached, refusing connections", svc->cfg.name,
		    srv->cfg->max_connections);
		refuse(srv, svc, fd, 503);
		return;
	}
	if (rate_allow(srv->px.rate, sa, srv->cfg->per_ip_rate, pg_now_ms()) == 0) {
		char addr[INET6_ADDRSTRLEN];
		int port;
		svc->errors[ERR_PER_IP_RATE]++;
		px_format_peer(sa, addr, sizeof(addr), &port);
		WARN_RATELIMITED(last_rate, "service %s: %s is over per_ip_rate "
		    "(%d a minute), refusing", svc->cfg.name, addr,
		    srv->cfg->per_ip_rate);
		refuse(srv, svc, fd, 429);
		return;
	}
	r = lim_acquire(srv->px.lim, sa, srv->cfg->per_ip_connections);
	if (r != 0) {
		char addr[INET6_ADDRSTRLEN];
		int port;
		svc->errors[r == 1 ? ERR_PER_IP : ERR_RESOURCES]++;
		px_format_peer(sa, addr, sizeof(addr), &port);
		if (r == 1)
			WARN_RATELIMITED(last_ip, "service %s: %s is over "
			    "per_ip_connections (%d), refusing", svc->cfg.name,
			    addr, srv->cfg->per_ip_connections);
		refuse(srv, svc, fd, 429);
		return;
	}
	srv->px.nconns++;
	/* keepalive and TCP_NODELAY come from the listener (listener_tune) */
	if (svc->cfg.mode == SVC_MODE_HTTP)
		hconn_accept(&srv->px, svc, fd, sa, (socklen_t)salen);
	else if (svc->ssl_server != NULL)
		tconn_accept(&srv->px, svc, fd, sa, (socklen_t)salen);
	else
		session_accept(&srv->px, svc, fd, sa, (socklen_t)salen);
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

	px_keepalive_fd(fd, cfg->tcp_keepalive_ms, true);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

/* The services' listeners only (not the admin endpoint's). */
static void
listeners_set(struct pg_server *srv, bool on)
{
	for (size_t i = 0; i < srv->px.nsvc; i++)
		for (size_t j = 0; j < srv->px.svc[i]->nlis; j++)
			if (on)
				evconnlistener_enable(srv->px.svc[i]->lis[j]->lev);
			else
				evconnlistener_disable(srv->px.svc[i]->lis[j]->lev);
}

static void
resume_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pg_server *srv = arg;

	if (srv->px.stopping || srv->warming)
		return;
	listeners_set(srv, true);
}

void
srv_set_accepting(struct pg_server *srv, bool on)
{
	listeners_set(srv, on);
	if (srv->admin != NULL)
		admin_set_accepting(srv->admin, on);
}

void
srv_pause_accepting(struct pg_server *srv)
{
	struct timeval tv = { 0, ACCEPT_PAUSE_MS * 1000 };

	listeners_set(srv, false);
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

	/* a socket systemd or the old process passed (sockact.h), else ours */
	if ((fd = sa_take(&addr->ss)) != -1)
		log_info("listen %s: the socket %s passed", addr->text,
		    upg_taking_over() ? "the old process" : "systemd");
	else if ((fd = socket(addr->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0)) == -1)
		goto fail;
	else if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1)
		goto fail;
	/* "[::]:22" and "0.0.0.0:22" may both be configured: keep them apart. */
	else if (addr->ss.ss_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == -1)
		goto fail;
	/* a standby behind keepalived listens on the address it may get */
	else if (srv->cfg_freebind &&
	    setsockopt(fd, IPPROTO_IP, IP_FREEBIND, &one, sizeof(one)) == -1)
		goto fail;
	else if (bind(fd, (const struct sockaddr *)&addr->ss, addr->len) == -1 ||
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

static struct service *
svc_find(struct pg_server *srv, const char *name)
{
	for (size_t i = 0; i < srv->px.nsvc; i++)
		if (strcmp(srv->px.svc[i]->cfg.name, name) == 0)
			return srv->px.svc[i];
	return NULL;
}

/* ---- checks of one VM ---------------------------------------------------- */

static void
stop_checks(struct backend *b)
{
	for (size_t s = 0; s < CFG_MAX_SERVICES; s++)
		chk_stop(b, s);
	agent_stop(b);
}

/*
 * Active checks for every service, and the agent when one is configured.
 * A service without checks is up at once; without an agent its figures
 * are cleared. The pool module redoes b's place for selection.
 */
static void
start_checks(struct pg_server *srv, struct backend *b)
{
	const struct pg_config *cfg = srv->cfg;

	for (size_t s = 0; s < srv->px.nsvc; s++)
		chk_start(srv->base, &srv->mbr, b, s, &srv->px.svc[s]->cfg,
		    srv->px.svc[s]->ssl_client);
	if (cfg->agent.enabled)
		agent_start(srv->base, &srv->mbr, b, cfg->agent.port,
		    cfg->agent.interval_ms, cfg->agent.timeout_ms,
		    cfg->agent.report);
	else {
		agent_stop(b);
		be_agent_clear(b);   /* an agent's drain must not outlive its check */
	}
	mbr_agent_changed(&srv->mbr, b);
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

	/*
	 * In a cluster every node detects the same edges from the same
	 * pool-wide counts, and only the one holding the lease runs them: a
	 * node that takes over goes on from edges it has seen already, so
	 * none runs twice (and makes up for busy/idle edges nobody ran,
	 * hooks_update()). The counts can differ (Redis away), so the
	 * runner also shares the busy/idle edges it ran, and every node's
	 * detector adopts them (node.c).
	 */
	bool run = srv->cl == NULL || cl_node_runner(srv->cl);

	while (hk_next(srv->hk, &e)) {
		if (!run) {
			log_debug("hook event %s%s%s: another node runs hooks",
			    hk_event_name(e.event), e.backend[0] ? " " : "",
			    e.backend);
			continue;
		}
		hk_env(&e, &env);
		log_info("hook event %s%s%s", hk_event_name(e.event),
		    e.backend[0] ? " " : "", e.backend);
		hr_run(srv->hr, hk_event_name(e.event), e.backend, env.v);
		hk_ran(srv->hk, &e);
		/* what the scale set was told, for whoever runs hooks next */
		if (e.event == HK_VM_BUSY || e.event == HK_VM_IDLE)
			cl_node_edge(srv->cl, e.backend, e.event == HK_VM_BUSY);
	}
}

/* Show the detector the pool as it is now. */
static void
hooks_update(struct pg_server *srv)
{
	struct hk_vm *vms;
	char (*evict)[HK_EVICTION_MAX + 1];
	size_t n = 0;

	if (srv->hk == NULL)
		return;
	bool runner_known = cl_node_runner_known(srv->cl);

	if ((vms = calloc(srv->mbr.pool.n + 1, sizeof(*vms))) == NULL)
		return;
	if ((evict = calloc(srv->mbr.pool.n + 1, sizeof(*evict))) == NULL) {
		free(vms);
		return;
	}
	for (size_t i = 0; i < srv->mbr.pool.n; i++) {
		const struct backend *b = srv->mbr.pool.be[i];
		/* Healthy and ready, full or not: a full VM is busy, not down. */
		bool up = be_state(b, srv->px.nsvc) == BE_UP;

		if (b->removed)
			continue;
		vms[n].name = b->name;
		vms[n].address = b->addr.text;
		vms[n].sessions = be_load(b);
		vms[n].max_sessions = be_max_sessions(b);
		vms[n].up = up;
		/*
		 * What the VM's agent sees: work poolgate did not relay, or no
		 * word at all (then nobody may call it idle). Without a report
		 * to read (no agent, or report = false) poolgate's count is all
		 * there is, as before.
		 */
		/*
		 * Cut off from the other nodes (Redis unreachable), nobody
		 * knows the pool's sessions; and with no hook runner known (a
		 * takeover, Redis just back) nobody would run the event: like
		 * a silent agent, that holds vm_idle back until both return.
		 */
		if (!runner_known)
			vms[n].silent = true;
		if (srv->cfg->agent.enabled && srv->cfg->agent.report) {
			vms[n].silent = vms[n].silent || !b->report_ok;
			vms[n].work = b->report_ok && !b->report->idle;
			vms[n].evicting = b->evicting;
			if (b->evicting) {
				snprintf(evict[n], sizeof(evict[n]), "%s %s",
				    b->report->evict.type,
				    b->report->evict.not_before);
				vms[n].eviction = evict[n];
			}
		}
		n++;
	}
	/*
	 * The runner makes up for busy/idle edges nobody ran: ones this node
	 * detected while another held the lease (or none did), and ones
	 * another runner ran that this node's detector had not seen. Before
	 * hk_update(): the queue is drained and every event run reported.
	 */
	if (srv->cl != NULL && cl_node_runner(srv->cl)) {
		size_t k = hk_resync(srv->hk);

		if (k > 0)
			log_info("hooks: %zu VM(s) busy or idle unlike the last "
			    "vm_busy/vm_idle run for them: making up for it", k);
	}
	hk_update(srv->hk, vms, n, pg_now_ms());
	free(vms);
	free(evict);
	hooks_fire(srv);
}

/* ---- the event sink ------------------------------------------------------ */

static void
on_health(void *arg, struct backend *b, const char *svc, bool up,
    const char *why)
{
	struct pg_server *srv = arg;

	if (up)
		statuspage_event(&srv->adm, "%s: %s up", b->name, svc);
	else
		statuspage_event(&srv->adm, "%s: %s down (%s)", b->name, svc, why);
}

static void
on_member(void *arg, struct backend *b, enum mbr_change what)
{
	struct pg_server *srv = arg;

	switch (what) {
	case MBR_ADDED:
	case MBR_UPDATED:
		/* A reload starts every check once the new services are in. */
		if (!srv->applying)
			start_checks(srv, b);
		break;
	case MBR_REMOVED:
	case MBR_GONE:
		stop_checks(b);
		break;
	}
}

static void
on_capacity(void *arg)
{
	struct pg_server *srv = arg;

	px_dispatch(&srv->px);
}

static void
on_session_gone(void *arg)
{
	struct pg_server *srv = arg;

	mbr_reap(&srv->mbr);
	px_dispatch(&srv->px);
	hooks_update(srv);
	if (srv->px.stopping && srv->px.sessions == NULL &&
	    srv->px.hconns == NULL && srv->px.tconns == NULL) {
		log_info("last session ended, exiting");
		event_base_loopexit(srv->base, NULL);
	}
}

static void
on_no_capacity(void *arg, size_t svc)
{
	struct pg_server *srv = arg;

	if (srv->hk != NULL && svc < srv->px.nsvc &&
	    hk_no_capacity(srv->hk, srv->px.svc[svc]->cfg.name, pg_now_ms()))
		hooks_fire(srv);
}

static void
on_note(void *arg, const char *text)
{
	struct pg_server *srv = arg;

	statuspage_event(&srv->adm, "%s", text);
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

/* ---- the state file ------------------------------------------------------ */

static bool
backend_known(const char *name, void *arg)
{
	struct pg_server *srv = arg;
	struct backend *b = pool_find(&srv->mbr.pool, name);

	return b != NULL && !b->removed;
}

static uint64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void
state_clock(uint64_t *now_mono, uint64_t *now_wall)
{
	*now_mono = pg_now_ms();
	*now_wall = wall_ms();
}

/* A save by the writer thread ended (see backends/statesave.h). */
static void
state_saved(long records, const char *err, void *arg)
{
	struct pg_server *srv = arg;

	if (records < 0) {
		if (!srv->adm.state_failing)
			log_err("state: cannot save the affinity table in %s: %s; "
			    "keeping it in memory and retrying", srv->cfg->state_dir,
			    err);
		srv->adm.state_failing = true;
		srv->mbr.aff_dirty = true;      /* retried at the next tick */
		return;
	}
	if (srv->adm.state_failing)
		log_info("state: saving in %s works again", srv->cfg->state_dir);
	srv->adm.state_failing = false;
	srv->state_saved_ms = pg_now_ms();
}

/*
 * Save the affinity table when it changed: copied a slice per turn of the
 * loop and written by a thread, so that a big table never stalls the loop.
 * A failure (read-only or full disk) is logged once, retried every second,
 * and the table stays in memory. A change made while a save is in flight
 * marks the table dirty again and is saved by the next one. With sync (at
 * exit) the save is finished before this returns.
 */
#define STATE_SLICE     256   /* entries per aff_scan() call */
#define STATE_BUDGET_US 300   /* copying per turn of the loop, at most about */

static void
state_save(struct pg_server *srv, bool force, bool sync)
{
	char err[256];
	struct ssv_params p = { srv->base, STATE_SLICE, STATE_BUDGET_US,
	    state_clock, state_saved, srv };

	/* Handed over (upgrade.h): the file is the new process's now. */
	if (srv->upgraded)
		return;
	if (srv->ssv == NULL && (srv->ssv = ssv_new(&p)) == NULL) {
		/* Only when out of descriptors or memory: retried next tick. */
		snprintf(err, sizeof(err), "cannot start the writer: %s",
		    strerror(errno));
		state_saved(-1, err, srv);
		return;
	}
	if (sync)
		ssv_wait(srv->ssv);     /* what it saved may be stale */
	if (ssv_busy(srv->ssv) || (!force && (!srv->mbr.aff_dirty ||
	    !ssv_due(srv->ssv, pg_now_ms()))))
		return;
	if (ssv_start(srv->ssv, srv->mbr.aff, srv->cfg->state_dir, err,
	    sizeof(err)) == -1) {
		state_saved(-1, err, srv);
		return;
	}
	srv->mbr.aff_dirty = false;
	if (sync)
		ssv_wait(srv->ssv);
}

void
srv_save_state_now(struct pg_server *srv)
{
	state_save(srv, true, true);
}

static void
state_load(struct pg_server *srv)
{
	struct sf_report rep;
	char path[4200], err[256], summary[512];

	snprintf(path, sizeof(path), "%s/%s", srv->cfg->state_dir, SF_FILE_NAME);
	if (sf_load(path, srv->mbr.aff, pg_now_ms(), wall_ms(), backend_known, srv,
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

/*
 * Sweep expired affinities a slice at a time; while some remain, the next
 * slice runs after the loop has polled its sockets (a zero timer, not an
 * active event, which would run before any I/O).
 */
static void
sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	static const struct timeval now_tv = { 0, 0 };
	struct pg_server *srv = arg;

	if (mbr_sweep(&srv->mbr, pg_now_ms()))
		evtimer_add(srv->ev_sweep, &now_tv);
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pg_server *srv = arg;
	uint64_t now = pg_now_ms();

	mbr_tick(&srv->mbr, now);
	if (!evtimer_pending(srv->ev_sweep, NULL))
		sweep_cb(-1, 0, srv);
	if (now / 1000 % 10 == 0)   /* every ten seconds is plenty */
		rate_sweep(srv->px.rate, srv->cfg->per_ip_rate, now);
	for (size_t i = 0; i < srv->px.nsvc; i++)
		session_queue_expire(&srv->px, srv->px.svc[i], now);
	session_tick(&srv->px, now);
	px_dispatch(&srv->px);
	mbr_reap(&srv->mbr);
	hooks_update(srv);
	state_save(srv, false, false);
	hist_tick(&srv->adm.history, &srv->mbr.pool, now);
	upg_tick(srv);
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
	for (size_t i = 0; i < srv->px.nsvc; i++) {
		struct service *s = srv->px.svc[i];
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
	char err[512], token[sizeof(srv->adm.token)], clpw[NODE_PASSWORD_MAX];
	struct pg_config *ocfg = srv->cfg;
	int map[CFG_MAX_SERVICES];   /* new service index -> old, or -1 */
	int added = 0, removed = 0, kept = 0;
	int rc = -1;

	/*
	 * 0. A service that connects from the client's address needs the
	 * capability now, not at its first login.
	 */
	for (size_t i = 0; i < ncfg->nservices; i++)
		if (ncfg->services[i].source == SVC_SRC_CLIENT &&
		    sa_transparent_check(AF_INET, err, sizeof(err)) == -1) {
			snprintf(srv->apply_why, sizeof(srv->apply_why),
			    "%s: services[%zu].source = \"client\": %.300s",
			    ncfg->path, i, err);
			log_err("%s", srv->apply_why);
			goto out;
		}

	/* 1. Bind every socket the new configuration needs and lacks. */
	srv->cfg_freebind = ncfg->freebind;
	for (size_t i = 0; i < ncfg->nservices; i++) {
		const struct cfg_service *cs = &ncfg->services[i];
		for (size_t j = 0; j < cs->nlisten; j++) {
			bool have = false;
			for (size_t k = 0; k < srv->px.nsvc && !have; k++)
				for (size_t m = 0; m < srv->px.svc[k]->nlis; m++)
					if (addr_equal(&srv->px.svc[k]->lis[m]->addr,
					    &cs->listen[j]))
						have = true;
			if (!have && (fresh[i][j] = listener_bind(srv,
			    &cs->listen[j])) == NULL) {
				snprintf(srv->apply_why, sizeof(srv->apply_why),
				    "%s: services[%zu].listen: cannot listen on %s: %s",
				    ncfg->path, i, cs->listen[j].text, strerror(errno));
				goto out;
			}
		}
	}
	/* The admin token: a file that cannot be read fails the reload. */
	if (ncfg->admin_token_file != NULL &&
	    adminapi_load_token(ncfg->admin_token_file, token, sizeof(token),
	    err, sizeof(err)) != 0) {
		log_err("admin.token_file: %s", err);
		snprintf(srv->apply_why, sizeof(srv->apply_why), "%s: "
		    "admin.token_file: %.300s", ncfg->path, err);
		goto out;
	}
	/* The Redis password: a file that cannot be read fails the reload. */
	if (node_prepare(ncfg, clpw, sizeof(clpw), err, sizeof(err)) != 0) {
		log_err("cluster.password_file: %s", err);
		snprintf(srv->apply_why, sizeof(srv->apply_why), "%s: "
		    "cluster.password_file: %.300s", ncfg->path, err);
		goto out;
	}
	/* TLS contexts: a certificate that cannot be loaded fails the reload. */
	for (size_t i = 0; i < ncfg->nservices; i++) {
		const struct cfg_service *cs = &ncfg->services[i];

		if (cs->tls.enabled && (nserver[i] = tls_server_ctx(cs->tls.cert,
		    cs->tls.key, cs->tls.min_version, cs->tls.ciphers, err,
		    sizeof(err))) == NULL) {
			log_err("service %s: tls: %s", cs->name, err);
			snprintf(srv->apply_why, sizeof(srv->apply_why), "%s: "
			    "service %s: tls: %.300s", ncfg->path, cs->name, err);
			goto out;
		}
		if (cs->backend_tls != BTLS_NONE &&
		    (nclient[i] = tls_client_ctx(cs->backend_tls == BTLS_VERIFY,
		    cs->backend_ca, err, sizeof(err))) == NULL) {
			log_err("service %s: backend_tls: %s", cs->name, err);
			snprintf(srv->apply_why, sizeof(srv->apply_why), "%s: "
			    "service %s: backend_tls: %.300s", ncfg->path, cs->name, err);
			goto out;
		}
	}
	if (srv->admin == NULL ||
	    !addr_equal(admin_addr(srv->admin), &ncfg->admin_listen)) {
		/* a socket systemd or the old process passed (sockact.h) */
		if ((nadmin = admin_new(&srv->adm, &ncfg->admin_listen,
		    sa_take(&ncfg->admin_listen.ss))) == NULL) {
			snprintf(srv->apply_why, sizeof(srv->apply_why), "%s: "
			    "admin.listen: cannot listen on %s", ncfg->path,
			    ncfg->admin_listen.text);
			goto out;
		}
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
	for (size_t k = 0; k < srv->px.nsvc; k++) {
		struct service *s = srv->px.svc[k];
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
	memcpy(srv->px.svc, nsvc, sizeof(nsvc));
	srv->px.nsvc = ncfg->nservices;

	/*
	 * 3. Backends. Health is indexed by service: stop every check, move
	 * each VM's health to the new indices (the pool module), apply the
	 * file's VMs, then start checks afresh once the new configuration is
	 * in place (step 4).
	 */
	srv->applying = true;
	for (size_t i = 0; i < srv->mbr.pool.n; i++)
		stop_checks(srv->mbr.pool.be[i]);
	mbr_set_services(&srv->mbr, map, ncfg->nservices);
	if (mbr_apply_file(&srv->mbr, ncfg->backends, ncfg->nbackends,
	    ncfg->path, ocfg != NULL, &added, &kept, &removed) == -1)
		pg_fatalx("out of memory applying the backends of %s", ncfg->path);

	/* 4. The rest of the settings. */
	pg_log_configure(ncfg->log.target == CFG_LOG_SYSLOG, ncfg->log.facility,
	    ncfg->log.format == CFG_LOG_JSON);
	pg_log_set_level((enum pg_log_level)ncfg->log.level);
	explicit_bzero(srv->adm.token, sizeof(srv->adm.token));
	srv->adm.token_set = ncfg->admin_token_file != NULL;
	if (srv->adm.token_set)
		memcpy(srv->adm.token, token, sizeof(token));
	aff_set_ttl(srv->mbr.aff, ncfg->affinity_ttl_ms);
	us_set_idle(srv->mbr.us, ncfg->session_idle_ms);
	mbr_set_state_dir(&srv->mbr, ncfg->state_dir);
	mbr_set_host_ca(&srv->mbr, ncfg->ssh_host_ca_fp, ncfg->ssh_host_principal);
	hooks_configure(srv, ncfg);
	srv->adm.hr = srv->hr;
	node_configure(srv, ncfg, clpw);
	if (nadmin != NULL) {
		admin_free(srv->admin);
		srv->admin = nadmin;
		nadmin = NULL;
	}
	srv->cfg = ncfg;
	srv->px.cfg = ncfg;
	srv->applying = false;
	for (size_t i = 0; i < srv->mbr.pool.n; i++)
		if (!srv->mbr.pool.be[i]->removed)
			start_checks(srv, srv->mbr.pool.be[i]);
	if (ocfg != NULL) {
		log_info("reloaded %s: %zu service(s), backends: %d added, "
		    "%d removed, %d kept", ncfg->path, ncfg->nservices, added,
		    removed, kept);
		statuspage_event(&srv->adm, "reloaded: %d VM(s) added, %d "
		    "removed, %d kept", added, removed, kept);
	}
	cfg_free(ocfg);
	mbr_reap(&srv->mbr);
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
	explicit_bzero(clpw, sizeof(clpw));
	return rc;
}

int
srv_reload(struct pg_server *srv)
{
	struct cfg_errors errs = { 0 };
	struct pg_config *ncfg = NULL;
	struct cfg_plan plan;
	char live[1024];
	int rc = -1;

	log_info("reloading %s", srv->cfg_path);
	srv->apply_why[0] = '\0';
	if (cfg_load(srv->cfg_path, &ncfg, &errs) == -1) {
		log_cfg_errors(&errs);
		goto out;
	}
	/*
	 * The settings table says how each setting applies: the ones read at
	 * start only keep their running value (the plan puts it back).
	 */
	if (cfg_reload_plan(srv->cfg, ncfg, &plan) > 0) {
		for (size_t i = 0; i < plan.nkept; i++)
			log_warn("%s: %s in the file, %s running; a change takes "
			    "effect at the next start", plan.kept[i].name,
			    plan.kept[i].file, plan.kept[i].running);
		cfg_plan_live_text(&plan, live, sizeof(live));
		if (live[0] != '\0')
			log_info("reload: changed %s", live);
	}
	if (srv_apply(srv, ncfg) == -1)
		goto out;
	ncfg = NULL;   /* transferred */
	if (srv->disc != NULL)
		(void)disc_reconfigure(srv->disc, &srv->cfg->discovery);
	else
		srv->disc = disc_start(srv->base, &srv->mbr, &srv->cfg->discovery);
	rc = 0;
out:
	if (rc == -1) {
		/*
		 * The operator looks at the status page and /status, not only
		 * the log: the first error goes there too.
		 */
		srv->adm.reload_failures++;
		snprintf(srv->adm.reload_error, sizeof(srv->adm.reload_error),
		    "%s", errs.n > 0 ? errs.msg[0] : srv->apply_why[0] ?
		    srv->apply_why : "unknown error (see the log)");
		log_err("reload failed: %zu error(s); the running configuration "
		    "stays in force", errs.n > 0 ? errs.n : 1);
		statuspage_event(&srv->adm, "reload refused, the running "
		    "configuration stays: %s", srv->adm.reload_error);
	} else {
		srv->adm.reloads++;
		srv->adm.reload_ok_wall_ms = pg_wall_ms();
		srv->adm.reload_error[0] = '\0';
	}
	cfg_free(ncfg);
	cfg_errors_free(&errs);
	return rc;
}

/* ---- signals and stopping ------------------------------------------------ */

static void
grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct pg_server *srv = arg;

	log_info("shutdown grace over: closing %zu session(s) and %zu HTTP "
	    "connection(s)", session_count(&srv->px), hconn_count(&srv->px));
	session_stop_all(&srv->px);
	hconn_stop_all(&srv->px);
	tconn_stop_all(&srv->px);
	event_base_loopexit(srv->base, NULL);
}

void
srv_stop(struct pg_server *srv)
{
	struct timeval tv;

	if (srv->px.stopping)
		return;
	srv->px.stopping = true;
	if (!srv->upgraded)
		notify_stopping(srv);
	/* No membership changes while stopping. */
	disc_free(srv->disc);
	srv->disc = NULL;
	/*
	 * Close the listening sockets: new clients are refused by the kernel,
	 * unless an upgrade handed them over: the new process holds them too,
	 * so closing ours only stops our accepting.
	 */
	for (size_t i = 0; i < srv->px.nsvc; i++) {
		struct service *s = srv->px.svc[i];
		for (size_t j = 0; j < s->nlis; j++) {
			listener_free(s->lis[j]);
			s->lis[j] = NULL;
		}
		s->nlis = 0;
	}
	state_save(srv, true, false);
	if (srv->px.sessions == NULL && srv->px.hconns == NULL &&
	    srv->px.tconns == NULL) {
		log_info("stopping: no live session");
		event_base_loopexit(srv->base, NULL);
		return;
	}
	log_info("stopping: waiting up to %llums for %zu session(s) and %zu "
	    "HTTP connection(s)", (unsigned long long)srv->cfg->shutdown_grace_ms,
	    session_count(&srv->px) + tconn_count(&srv->px),
	    hconn_count(&srv->px));
	tv.tv_sec = (time_t)(srv->cfg->shutdown_grace_ms / 1000);
	tv.tv_usec = (suseconds_t)(srv->cfg->shutdown_grace_ms % 1000) * 1000;
	evtimer_add(srv->ev_grace, &tv);
}

void
srv_handover(struct pg_server *srv)
{
	srv->upgraded = true;
	/* the admin socket is the new process's too: stop answering on it */
	admin_free(srv->admin);
	srv->admin = NULL;
	srv_stop(srv);
}

static int
upgrade_cb(void *arg, char *why, size_t len)
{
	return upg_start(arg, why, len);
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct pg_server *srv = arg;
	char why[256];

	if (sig == SIGUSR2) {
		log_info("received SIGUSR2: binary upgrade");
		if (upg_start(srv, why, sizeof(why)) == -1)
			log_err("upgrade refused: %s", why);
		return;
	}
	if (sig == SIGHUP) {
		if (!srv->px.stopping) {
			notify_reloading();
			notify_reloaded(srv, srv_reload(srv) == 0);
		}
		return;
	}
	if (srv->px.stopping) {
		log_info("second stop signal: closing every session now");
		session_stop_all(&srv->px);
		hconn_stop_all(&srv->px);
		tconn_stop_all(&srv->px);
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
/* Whether a service connects from its clients' addresses (IP_TRANSPARENT). */
static bool
wants_transparent(const struct pg_config *cfg)
{
	for (size_t i = 0; i < cfg->nservices; i++)
		if (cfg->services[i].source == SVC_SRC_CLIENT)
			return true;
	return false;
}

/*
 * After setuid: keep CAP_NET_ADMIN alone (effective and permitted, never
 * inheritable or ambient, so hook commands do not get it), for
 * IP_TRANSPARENT. PR_SET_KEEPCAPS must have been set before the switch.
 */
static int
keep_net_admin(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	memset(d, 0, sizeof(d));
	d[0].effective = d[0].permitted = 1u << CAP_NET_ADMIN;
	return (int)syscall(SYS_capset, &h, d);
}

static int
drop_privileges(const struct pg_config *cfg)
{
	struct passwd *pw;
	bool keep = wants_transparent(cfg);
	char err[256];

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
	if (keep && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) == -1) {
		log_err("cannot keep CAP_NET_ADMIN for source = \"client\": %s",
		    strerror(errno));
		return -1;
	}
	if (setgroups(1, &pw->pw_gid) == -1 || setgid(pw->pw_gid) == -1 ||
	    setuid(pw->pw_uid) == -1) {
		log_err("user %s: cannot switch to it: %s", cfg->user,
		    strerror(errno));
		return -1;
	}
	if (keep && (keep_net_admin() == -1 ||
	    prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) == -1 ||
	    sa_transparent_check(AF_INET, err, sizeof(err)) == -1)) {
		log_err("user %s: source = \"client\" needs CAP_NET_ADMIN, which "
		    "was lost in the switch: %s", cfg->user, strerror(errno));
		return -1;
	}
	if (pw->pw_uid != 0 && setuid(0) != -1)
		pg_fatalx("still able to become root after dropping privileges");
	log_info("running as user %s (uid %d, gid %d)%s", cfg->user,
	    (int)pw->pw_uid, (int)pw->pw_gid, keep ? " with CAP_NET_ADMIN "
	    "only, for source = \"client\"" : "");
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
	srv->sink = (struct pg_sink){
		.arg = srv,
		.health = on_health,
		.member = on_member,
		.capacity = on_capacity,
		.session_gone = on_session_gone,
		.no_capacity = on_no_capacity,
		.shared = node_on_shared,
		.note = on_note,
	};
	srv->px.base = base;
	srv->px.mbr = &srv->mbr;
	srv->px.sink = &srv->sink;
	srv->adm.px = &srv->px;
	srv->adm.client_of = px_client_of;
	srv->adm.foreach_live = px_foreach_live;
	srv->adm.started_ms = pg_now_ms();
	srv->adm.reload_ok_wall_ms = pg_wall_ms();
	if (mbr_init(&srv->mbr, AFF_MAX_ENTRIES, US_MAX_USERS, 600000,
	    &srv->sink) == -1) {
		log_err("out of memory");
		goto out;
	}
	srv->mbr_live = true;
	if ((srv->cfg_path = strdup(path)) == NULL ||
	    (srv->px.lim = lim_new()) == NULL ||
	    (srv->px.rate = rate_new(RATE_MAX_ADDRESSES)) == NULL ||
	    (srv->px.pipes = pipe_pool_new(PIPES_SPARE)) == NULL) {
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
	if (ck_key_load_or_create(srv->cfg->state_dir, srv->px.cookie_key, err,
	    sizeof(err)) == -1) {
		log_err("state: %s; using a key for this run only (affinity "
		    "cookies will not survive a restart)", err);
		if (RAND_bytes(srv->px.cookie_key, sizeof(srv->px.cookie_key)) != 1)
			pg_fatalx("no randomness for the cookie key");
	}
	/* After the VMs are known: entries for VMs gone from the file drop. */
	mbr_load(&srv->mbr);
	state_load(srv);
	/* The writer's pipe is made now, not when descriptors run short. */
	state_save(srv, false, false);

	signal(SIGPIPE, SIG_IGN);
	srv->ev_sighup = evsignal_new(base, SIGHUP, signal_cb, srv);
	srv->ev_sigterm = evsignal_new(base, SIGTERM, signal_cb, srv);
	srv->ev_sigusr2 = evsignal_new(base, SIGUSR2, signal_cb, srv);
	srv->ev_sigint = evsignal_new(base, SIGINT, signal_cb, srv);
	srv->ev_tick = event_new(base, -1, EV_PERSIST, tick_cb, srv);
	srv->ev_sweep = evtimer_new(base, sweep_cb, srv);
	srv->ev_grace = evtimer_new(base, grace_cb, srv);
	srv->ev_resume = evtimer_new(base, resume_cb, srv);
	if (srv->ev_sighup == NULL || srv->ev_sigterm == NULL ||
	    srv->ev_sigint == NULL || srv->ev_tick == NULL ||
	    srv->ev_sweep == NULL ||
	    srv->ev_grace == NULL || srv->ev_resume == NULL ||
	    srv->ev_sigusr2 == NULL) {
		log_err("out of memory");
		goto out;
	}
	evsignal_add(srv->ev_sighup, NULL);
	evsignal_add(srv->ev_sigterm, NULL);
	evsignal_add(srv->ev_sigint, NULL);
	evsignal_add(srv->ev_sigusr2, NULL);
	srv->adm.upgrade = upgrade_cb;
	srv->adm.upgrade_arg = srv;
	evtimer_add(srv->ev_tick, &sec);
	for (size_t i = 0; i < srv->px.nsvc; i++)
		for (size_t j = 0; j < srv->px.svc[i]->nlis; j++)
			log_info("service %s listening on %s (%s)",
			    srv->px.svc[i]->cfg.name, srv->px.svc[i]->lis[j]->addr.text,
			    cfg_mode_name(srv->px.svc[i]->cfg.mode));
	log_info("admin endpoint on http://%s", srv->cfg->admin_listen.text);
	if (session_workers_start(&srv->px, (size_t)srv->cfg->workers) == -1) {
		log_err("cannot start %d relay thread(s): %s", srv->cfg->workers,
		    strerror(errno));
		goto out;
	}
	if (srv->cfg->workers > 0)
		log_info("relaying tcp services on %d worker thread(s)",
		    srv->cfg->workers);
	/* Reads and applies the file at once: the pool must be up. */
	srv->disc = disc_start(srv->base, &srv->mbr, &srv->cfg->discovery);
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
		state_save(srv, true, true);
	ssv_free(srv->ssv);
	srv->ssv = NULL;
	session_workers_stop(&srv->px);
	hconn_stop_all(&srv->px);
	tconn_stop_all(&srv->px);
	for (size_t i = 0; i < srv->mbr.pool.n; i++) {
		for (size_t s = 0; s < CFG_MAX_SERVICES; s++)
			chk_stop(srv->mbr.pool.be[i], s);
		agent_stop(srv->mbr.pool.be[i]);   /* its timer points at the VM */
	}
	for (size_t i = 0; i < srv->px.nsvc; i++) {
		struct service *s = srv->px.svc[i];
		for (size_t j = 0; j < s->nlis; j++)
			listener_free(s->lis[j]);
		s->nlis = 0;
		svc_unref(s);
	}
	srv->px.nsvc = 0;
	upg_free();
	admin_free(srv->admin);
	node_free(srv);
	struct event *evs[] = { srv->ev_sighup, srv->ev_sigterm, srv->ev_sigint,
	    srv->ev_tick, srv->ev_sweep, srv->ev_grace, srv->ev_resume,
	    srv->ev_sigusr2 };
	for (size_t i = 0; i < sizeof(evs) / sizeof(evs[0]); i++)
		if (evs[i] != NULL)
			event_free(evs[i]);
	if (srv->mbr_live)
		mbr_free(&srv->mbr);
	hk_free(srv->hk);
	hr_free(srv->hr);
	OPENSSL_cleanse(srv->px.cookie_key, sizeof(srv->px.cookie_key));
	lim_free(srv->px.lim);
	rate_free(srv->px.rate);
	pipe_pool_free(srv->px.pipes);
	cfg_free(srv->cfg);
	free(srv->cfg_path);
	hist_free(srv->adm.history);
	statuspage_free(&srv->adm);   /* last: anything above may record an event */
}
