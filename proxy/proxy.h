/*
 * proxy.h -- what the data path works with: services and the proxy context.
 *
 * The data path (sessions, the relay, HTTP connections) is given one
 * struct px_ctx by the daemon, which embeds it. It never calls up into the
 * daemon: accounting goes to the pool module (px->mbr, backends/members.h),
 * and "a session ended" or "no VM could take a login" go to the event sink
 * (px->sink, backends/sink.h). Everything here runs on the main thread,
 * except what proxy/worker.h hands to relay threads.
 *
 * Lifetimes across a reload: services are matched by name and updated in
 * place, so a live session's `struct service *` stays valid; a service gone
 * from the new file is unlinked (idx -1) and freed when its last session
 * ends (refcount, svc_unref).
 */
#ifndef POOLGATE_PROXY_H
#define POOLGATE_PROXY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "backends/members.h"
#include "backends/sink.h"
#include "backends/waitq.h"
#include "config/config.h"
#include "lib/histo.h"
#include "proxy/limits.h"
#include "proxy/worker.h"

/* Reasons a connection failed or was refused, for the error counters. */
enum conn_err {
	ERR_MAX_CONNECTIONS = 0,
	ERR_PER_IP,
	ERR_PER_IP_RATE,
	ERR_NO_BACKEND,
	ERR_CONNECT_FAILED,
	ERR_CONNECT_TIMEOUT,
	ERR_RESOURCES,
	ERR_BAD_FIRST_PACKET,       /* rdp: not a Connection Request */
	ERR_FIRST_PACKET_TIMEOUT,   /* rdp: none within first_packet_timeout */
	ERR_TLS_HANDSHAKE,          /* tcp with tls: the handshake failed or timed out */
	ERR_BAD_SERVER_NAME,        /* tcp with user_from sni: not <user><sni_suffix> */
	ERR__COUNT
};
/* "max_connections", ... for metrics and logs; "unknown" out of range. */
const char *conn_err_name(enum conn_err e);

struct listener;   /* the daemon's (daemon/server.h) */

struct service {
	struct cfg_service cfg;           /* copy; check.path owned */
	int                idx;           /* index in the configuration's services, -1 once removed */
	int                refcnt;        /* 1 for the daemon + 1 per live session */
	struct listener   *lis[CFG_MAX_LISTEN];
	size_t             nlis;
	uint64_t           connections_total;
	uint64_t           active;
	/*
	 * client -> VM and back: tcp sessions as the bytes move, http
	 * connections when they end. Atomic: relay threads add to them.
	 */
	uint64_t           bytes_up;
	uint64_t           bytes_down;
	uint64_t           errors[ERR__COUNT];
	/* Main thread only (metrics read them there). */
	uint64_t           http_responses[5]; /* http: sent, by class 1xx .. 5xx */
	struct histo       connect_hist;  /* seconds of each connect to a VM that succeeded */
	struct histo       duration_hist; /* seconds each session (http: connection) lasted */
	struct waitq       wq;            /* connections waiting for a VM */
	SSL_CTX           *ssl_server;    /* TLS termination, or NULL */
	SSL_CTX           *ssl_client;    /* TLS to the VMs, or NULL */
};

/*
 * The buckets of connect_hist (from a LAN, sub-millisecond, to a VM waking
 * up) and duration_hist (from a quick scp to a working day and more), in
 * seconds.
 */
static const struct histo_bounds px_connect_bounds = { 12,
	{ 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5 } };
static const struct histo_bounds px_duration_bounds = { 12,
	{ 1, 10, 60, 300, 900, 1800, 3600, 7200, 14400, 28800, 43200, 86400 } };

/* Count a response of status code sent on an http service. */
void svc_count_response(struct service *s, int code);

/* Drop a reference to a service; frees it when it was the last one. */
void svc_unref(struct service *s);

struct session;
struct hconn;
struct tconn;
struct pipe_pool;

struct px_ctx {
	struct event_base      *base;
	const struct pg_config *cfg;      /* the running configuration (the daemon's) */
	struct members         *mbr;      /* the pool module */
	const struct pg_sink   *sink;     /* session_gone, no_capacity */
	struct service         *svc[CFG_MAX_SERVICES]; /* parallel to cfg->services */
	size_t                  nsvc;
	struct lim_table       *lim;      /* connections per client address */
	struct rate_table      *rate;     /* new connections per address per minute */
	struct pipe_pool       *pipes;    /* spare pipes of the main thread's relays */
	struct wk_pool          wk;       /* relay threads (session.c) */
	struct session         *sessions; /* live SSH/TCP sessions (session.c) */
	struct hconn           *hconns;   /* live HTTP connections (httpconn.c) */
	struct tconn           *tconns;   /* live TLS tcp connections (tlsconn.c) */
	uint64_t                nconns;   /* open client connections, all services */
	uint8_t                 cookie_key[32]; /* HMAC key of the affinity cookie */
	bool                    stopping; /* no new connections; finishing */
	bool                    killing;  /* ending every session (grace over) */
	bool                    dispatching; /* px_dispatch() running */
};

/*
 * The address of sa as text (IPv4-mapped IPv6 as IPv4) and its port.
 * addr gets "" for other families.
 */
void px_format_peer(const struct sockaddr *sa, char *addr, size_t addrlen,
    int *port);

/*
 * TCP keepalive on fd after keepalive_ms of silence (0: leave it as it is;
 * with turn_off, switch it off). Probes every 10 s, 3 unanswered: a
 * vanished peer goes in keepalive_ms + 30 s. Safe on any thread.
 */
void px_keepalive_fd(int fd, uint64_t keepalive_ms, bool turn_off);

/* Keepalive on a client or VM socket as limits.tcp_keepalive says. */
void px_set_keepalive(const struct px_ctx *px, int fd);

/*
 * Capacity may have appeared: hand queued connections to VMs, oldest
 * first, service by service. Reentrant calls (a dequeued session failing at
 * once) return at once.
 */
void px_dispatch(struct px_ctx *px);

/* A connection ended: tell the sink (reaping, hooks, a graceful stop). */
void px_gone(struct px_ctx *px);

/*
 * The client address of the live TCP session relayed to b from our source
 * port vm_port (as the VM sees its peer), or NULL. Borrowed: valid until
 * the session ends. Main thread. A walk of the live sessions: for the
 * status endpoints, not the data path.
 */
const char *px_client_of(const struct px_ctx *px, const struct backend *b,
    int vm_port);

/* One live relayed session as the operator endpoints show it (borrowed). */
struct px_live {
	const char           *mode;     /* "ssh" (tcp), "rdp", "tls-ssh" (tcp+tls) */
	const char           *user;     /* the user it announced, "" none */
	const char           *client;   /* the client's address */
	const struct backend *backend;  /* its VM, NULL while none is chosen */
};

/*
 * Call fn for every live tcp, rdp and TLS tcp session (main thread; fn must
 * not end sessions). For /status, the status page and metrics: a walk of
 * the live sessions, not for the data path.
 */
void px_foreach_live(const struct px_ctx *px,
    void (*fn)(const struct px_live *l, void *arg), void *arg);

/* No VM could take a login of svc: tell the sink (rate-limited warning). */
void px_no_capacity(struct px_ctx *px, struct service *svc);

#endif
