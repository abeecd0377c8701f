/*
 * config.c -- load and validate the poolgate configuration file.
 *
 * Everything a setting is (type, bounds, default, description, where it is
 * stored) is one row of cfg_settings[] below. cfg_load() walks the libconfig
 * tree against that table: each key of the file must match a row (else
 * "unknown setting"), each row either matches a key (which is type- and
 * range-checked) or gets its default (or, when required, is reported missing).
 * Checks that span several settings (unique names and addresses, check and
 * agent timeout <= interval, settings only valid with mode "http", a
 * discovery group with something to discover) and defaults that depend on
 * other settings (a service's by_client_ip and check type) run afterwards on
 * the filled structures: resolve_service(), check_groups().
 *
 * Every problem is collected, sorted by line and returned at once, so an
 * operator fixes a file in one round trip. Only a syntax error stops early:
 * libconfig cannot build a tree past it.
 *
 * A reload is planned over the same table (cfg_reload_plan(), at the end):
 * each row says by CFG_F_START_ONLY whether a running daemon can apply it.
 */
#include "config/config.h"
#include "lib/sshkey.h"
#include "lib/text.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <libconfig.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <syslog.h>

/* A configuration file larger than this is refused before parsing. */
#define CFG_FILE_MAX   (16u * 1024 * 1024)
/* Longest string value quoted back in an error message. */
#define CFG_QUOTE_MAX  64
/* Longest path to a setting in a message: "backends[4095].max_sessions". */
#define CFG_PATH_MAX   128

/* Enum values are stored through an int; make sure that is their size. */
_Static_assert(sizeof(enum svc_mode) == sizeof(int), "enum svc_mode is not int-sized");
_Static_assert(sizeof(enum check_type) == sizeof(int), "enum check_type is not int-sized");
_Static_assert(sizeof(enum user_from) == sizeof(int), "enum user_from is not int-sized");
_Static_assert(sizeof(enum backend_tls) == sizeof(int), "enum backend_tls is not int-sized");

/* ------------------------------------------------------------------ */
/* The settings table                                                 */
/* ------------------------------------------------------------------ */

#define MS_S  INT64_C(1000)
#define MS_M  (60 * MS_S)
#define MS_H  (60 * MS_M)
#define MS_D  (24 * MS_H)

#define PG(m)   offsetof(struct pg_config, m)
#define SVC(m)  offsetof(struct cfg_service, m)
#define BE(m)   offsetof(struct cfg_backend, m)

static const struct cfg_enum_value mode_values[] = {
	{ "tcp",  SVC_MODE_TCP,  true  },
	{ "http", SVC_MODE_HTTP, true  },
	{ "rdp",  SVC_MODE_RDP,  true  },
	{ NULL,   0,             false },
};

static const struct cfg_enum_value source_values[] = {
	{ "poolgate", SVC_SRC_POOLGATE, true  },
	{ "client",   SVC_SRC_CLIENT,   true  },
	{ NULL,       0,                false },
};

static const struct cfg_enum_value check_values[] = {
	{ "tcp",  CHECK_TCP,  true  },
	{ "ssh",  CHECK_SSH,  true  },
	{ "http", CHECK_HTTP, true  },
	{ "rdp",  CHECK_RDP,  true  },
	{ "none", CHECK_NONE, true  },
	{ NULL,   0,          false },
};

static const struct cfg_enum_value user_from_values[] = {
	{ "none", USER_FROM_NONE, true  },
	{ "sni",  USER_FROM_SNI,  true  },
	{ NULL,   0,              false },
};

static const struct cfg_enum_value backend_tls_values[] = {
	{ "none",     BTLS_NONE,     true  },
	{ "verify",   BTLS_VERIFY,   true  },
	{ "insecure", BTLS_INSECURE, true  },
	{ NULL,       0,             false },
};

static const struct cfg_enum_value tls_version_values[] = {
	{ "1.2", 12,    true  },
	{ "1.3", 13,    true  },
	{ NULL,  0,     false },
};

static const struct cfg_enum_value log_target_values[] = {
	{ "stderr", CFG_LOG_STDERR, true  },
	{ "syslog", CFG_LOG_SYSLOG, true  },
	{ NULL,     0,              false },
};

/* The numbers of enum pg_log_level (lib/log.h): see enum cfg_log_level. */
static const struct cfg_enum_value log_level_values[] = {
	{ "error", CFG_LOG_ERROR, true  },
	{ "warn",  CFG_LOG_WARN,  true  },
	{ "info",  CFG_LOG_INFO,  true  },
	{ "debug", CFG_LOG_DEBUG, true  },
	{ NULL,    0,             false },
};

static const struct cfg_enum_value log_format_values[] = {
	{ "text", CFG_LOG_TEXT, true  },
	{ "json", CFG_LOG_JSON, true  },
	{ NULL,   0,            false },
};

static const struct cfg_enum_value log_facility_values[] = {
	{ "daemon", LOG_DAEMON, true  },
	{ "local0", LOG_LOCAL0, true  },
	{ "local1", LOG_LOCAL1, true  },
	{ "local2", LOG_LOCAL2, true  },
	{ "local3", LOG_LOCAL3, true  },
	{ "local4", LOG_LOCAL4, true  },
	{ "local5", LOG_LOCAL5, true  },
	{ "local6", LOG_LOCAL6, true  },
	{ "local7", LOG_LOCAL7, true  },
	{ "auth",   LOG_AUTH,   true  },
	{ "user",   LOG_USER,   true  },
	{ NULL,     0,          false },
};

const struct cfg_setting cfg_settings[] = {
	/*
	 * Start only: prepared (made, handed to `user`) as root before the
	 * switch, then read once (cookie key, VMs, affinities). The running
	 * daemon keeps saving where it read, so state is never split over two
	 * directories; the new one is used from the next start.
	 */
	{ "state_dir", CFG_T_STRING, CFG_F_START_ONLY, 1, 4095, "/var/lib/poolgate",
	  "directory where the affinity table is kept across restarts",
	  .off = PG(state_dir) },
	{ "shutdown_grace", CFG_T_DURATION, 0, 0, MS_H, "30s",
	  "how long open connections may run on after a stop request",
	  .off = PG(shutdown_grace_ms) },
	/*
	 * the daemon, not config, refuses to run on as root without allow_root;
	 * both start only: privileges are dropped once, at start
	 */
	{ "user", CFG_T_USER, CFG_F_START_ONLY, 1, 32, NULL,
	  "Unix user to run as (absent: stay the user that started poolgate)",
	  .off = PG(user) },
	{ "allow_root", CFG_T_BOOL, CFG_F_START_ONLY, 0, 0, "false",
	  "start even though poolgate would keep running as root",
	  .off = PG(allow_root) },

	/* start only: the relay threads are started once */
	{ "workers", CFG_T_INT, CFG_F_START_ONLY, 0, 64, "0",
	  "threads that relay bulk transfers of tcp services besides the main"
	  " thread (0: the main thread relays all)",
	  .off = PG(workers) },

	{ "log", CFG_T_GROUP, 0, 0, 0, NULL,
	  "where and how poolgate logs",
	  .off = 0 /* a group stores nothing itself */ },
	{ "log.target", CFG_T_ENUM, 0, 0, 0, "stderr",
	  "stderr: one line per event on standard error; syslog: to the system log",
	  .values = log_target_values, .off = PG(log.target) },
	{ "log.level", CFG_T_ENUM, 0, 0, 0, "info",
	  "least important messages logged: error, warn, info or debug",
	  .values = log_level_values, .off = PG(log.level) },
	{ "log.format", CFG_T_ENUM, 0, 0, 0, "text",
	  "text: a timestamp, the level and the message; json: one object per line",
	  .values = log_format_values, .off = PG(log.format) },
	/* accepted with target stderr too, so that switching target is one edit */
	{ "log.syslog_facility", CFG_T_ENUM, 0, 0, 0, "daemon",
	  "syslog facility of the messages; only used with target syslog",
	  .values = log_facility_values, .off = PG(log.facility) },

	{ "admin", CFG_T_GROUP, 0, 0, 0, NULL,
	  "the admin endpoint (health, status, metrics, admin API)",
	  .off = 0 /* a group stores nothing itself */ },
	{ "admin.listen", CFG_T_ADDR, 0, 0, 0, "127.0.0.1:9100",
	  "address and port of the admin endpoint",
	  .off = PG(admin_listen) },
	{ "admin.token_file", CFG_T_STRING, 0, 1, 4095, NULL,
	  "file holding the bearer token of the admin API",
	  .off = PG(admin_token_file) },

	{ "limits", CFG_T_GROUP, 0, 0, 0, NULL,
	  "connection limits",
	  .off = 0 /* a group stores nothing itself */ },
	{ "limits.max_connections", CFG_T_INT, 0, 1, 1000000, "20000",
	  "client connections open at once, over all services",
	  .off = PG(max_connections) },
	{ "limits.per_ip_connections", CFG_T_INT, 0, 0, 1000000, "0",
	  "client connections open at once from one address (0: no cap)",
	  .off = PG(per_ip_connections) },
	{ "limits.per_ip_rate", CFG_T_INT, 0, 0, 1000000, "0",
	  "new client connections per minute from one address (0: no limit)",
	  .off = PG(per_ip_rate) },
	{ "limits.tcp_keepalive", CFG_T_DURATION, 0, 0, 2 * MS_H, "1m",
	  "idle time before TCP keepalive probes on client and VM sockets (0: off)",
	  .off = PG(tcp_keepalive_ms) },
	/* whole seconds: the header carries seconds, a rounded value would lie */
	{ "limits.retry_after", CFG_T_DURATION, CFG_F_SECONDS, MS_S, MS_H, "10s",
	  "the Retry-After sent with 429 and 503 answers",
	  .off = PG(retry_after_ms) },

	{ "affinity", CFG_T_GROUP, 0, 0, 0, NULL,
	  "how returning clients are sent back to their VM",
	  .off = 0 /* a group stores nothing itself */ },
	{ "affinity.ttl", CFG_T_DURATION, 0, 0, 30 * MS_D, "1h",
	  "how long an affinity outlives the client's last session",
	  .off = PG(affinity_ttl_ms) },
	{ "affinity.by_client_ip", CFG_T_BOOL, 0, 0, 0, "true",
	  "remember the VM of each client address",
	  .off = PG(affinity_by_client_ip) },

	{ "session_idle", CFG_T_DURATION, 0, MS_S, MS_D, "10m",
	  "a Jupyter user with no request for this long and no open websocket"
	  " stops counting as a session",
	  .off = PG(session_idle_ms) },

	{ "services", CFG_T_LIST, CFG_F_REQUIRED, 1, CFG_MAX_SERVICES, NULL,
	  "the services (listeners) offered by the pool",
	  .off = PG(services), .off_n = PG(nservices),
	  .elem_size = sizeof(struct cfg_service) },
	{ "services[].name", CFG_T_NAME, CFG_F_REQUIRED, 1, CFG_NAME_MAX, NULL,
	  "name of the service, unique",
	  .off = SVC(name) },
	/* max must not exceed the size of cfg_service.listen[] */
	{ "services[].listen", CFG_T_ADDR_LIST, CFG_F_REQUIRED, 1, CFG_MAX_LISTEN, NULL,
	  "addresses and ports to accept clients on",
	  .off = SVC(listen), .off_n = SVC(nlisten) },
	{ "services[].port", CFG_T_INT, CFG_F_REQUIRED, 1, 65535, NULL,
	  "port of the service on every backend",
	  .off = SVC(port) },
	{ "services[].mode", CFG_T_ENUM, 0, 0, 0, "tcp",
	  "protocol handling: tcp relays bytes (SSH); http reads each request"
	  " (JupyterHub); rdp reads the client's Connection Request, routes by"
	  " the user it names, then relays bytes (Remote Desktop)",
	  .values = mode_values, .off = SVC(mode) },
	{ "services[].connect_timeout", CFG_T_DURATION, 0, 1, 5 * MS_M, "3s",
	  "how long a connection to a backend may take",
	  .off = SVC(connect_timeout_ms) },
	{ "services[].idle_timeout", CFG_T_DURATION, 0, 0, 30 * MS_D, "0s",
	  "close a relay silent this long in both directions (0: never)",
	  .off = SVC(idle_timeout_ms) },
	{ "services[].first_packet_timeout", CFG_T_DURATION, 0, 100, MS_M, "10s",
	  "how long an rdp client may take to send its Connection Request, or"
	  " a client of a tcp service with tls to finish its handshake; only"
	  " there",
	  .off = SVC(first_packet_timeout_ms) },
	/* def NULL: resolve_service() sets it when absent */
	{ "services[].by_client_ip", CFG_T_BOOL, 0, 0, 0, NULL,
	  "send a client address back to the VM it used last (default:"
	  " affinity.by_client_ip for tcp, false for http; on http only"
	  " requests naming no user follow it)",
	  .off = SVC(by_client_ip) },
	{ "services[].source", CFG_T_ENUM, 0, 0, 0, "poolgate",
	  "address the VM sees connections come from: poolgate's, or the"
	  " client's (IP_TRANSPARENT, tcp only; needs CAP_NET_ADMIN and the"
	  " routing in poolgate.conf(5) SOURCE ADDRESS)",
	  .values = source_values, .off = SVC(source) },

	{ "services[].tls", CFG_T_GROUP, CFG_F_PRESENCE, 0, 0, NULL,
	  "TLS termination of client connections; for mode http and tcp services",
	  .off = SVC(tls.enabled) },
	{ "services[].tls.cert", CFG_T_STRING, CFG_F_REQUIRED, 1, 4095, NULL,
	  "certificate chain file (PEM); the daemon reads it",
	  .off = SVC(tls.cert) },
	{ "services[].tls.key", CFG_T_STRING, CFG_F_REQUIRED, 1, 4095, NULL,
	  "private key file (PEM); the daemon reads it",
	  .off = SVC(tls.key) },
	{ "services[].tls.min_version", CFG_T_ENUM, 0, 0, 0, "1.2",
	  "oldest TLS version accepted from clients",
	  .values = tls_version_values, .off = SVC(tls.min_version) },
	{ "services[].tls.ciphers", CFG_T_STRING, 0, 1, 1024, NULL,
	  "OpenSSL cipher list for TLS 1.2 (default: the system's OpenSSL policy,"
	  " /etc/ssl/openssl.cnf)",
	  .off = SVC(tls.ciphers) },
	{ "services[].user_from", CFG_T_ENUM, 0, 0, 0, "none",
	  "where a tcp service with tls learns the user: none, or sni (the"
	  " TLS server name, <user><sni_suffix>)",
	  .values = user_from_values, .off = SVC(user_from) },
	{ "services[].sni_suffix", CFG_T_STRING, 0, 2, 253, NULL,
	  "the server name's part after the user, starting with a dot;"
	  " required with user_from sni, only there",
	  .off = SVC(sni_suffix) },
	{ "services[].backend_tls", CFG_T_ENUM, 0, 0, 0, "none",
	  "TLS to the backends: none, verify (check their certificate) or insecure"
	  " (do not check it); other than none only for mode http services",
	  .values = backend_tls_values, .off = SVC(backend_tls) },
	{ "services[].backend_ca", CFG_T_STRING, 0, 1, 4095, NULL,
	  "CA bundle (PEM) to verify backends with (default: the system store);"
	  " only with backend_tls verify",
	  .off = SVC(backend_ca) },
	{ "services[].verify_name", CFG_T_STRING, 0, 1, 253, NULL,
	  "DNS name the backends' certificates must carry, {backend} for the"
	  " backend's name (default: their IP address); only with backend_tls verify",
	  .off = SVC(verify_name) },

	{ "services[].check", CFG_T_GROUP, 0, 0, 0, NULL,
	  "active health check of this service on each backend",
	  .off = 0 /* a group stores nothing itself */ },
	/* resolve_service() turns the default into http for a mode http service */
	{ "services[].check.type", CFG_T_ENUM, 0, 0, 0, "tcp",
	  "tcp: connect; ssh: read the SSH banner; http: GET path, expect the"
	  " status; rdp: send an X.224 Connection Request, expect a Connection"
	  " Confirm; none: always healthy (default: tcp, http for mode http)",
	  .values = check_values, .off = SVC(check.type) },
	{ "services[].check.interval", CFG_T_DURATION, 0, 100, MS_H, "2s",
	  "time between two checks of a backend",
	  .off = SVC(check.interval_ms) },
	{ "services[].check.timeout", CFG_T_DURATION, 0, 10, MS_M, "1s",
	  "how long one check may take; at most the interval",
	  .off = SVC(check.timeout_ms) },
	{ "services[].check.rise", CFG_T_INT, 0, 1, 100, "2",
	  "passed checks in a row that make a backend up",
	  .off = SVC(check.rise) },
	{ "services[].check.fall", CFG_T_INT, 0, 1, 100, "2",
	  "failed checks in a row that make a backend down",
	  .off = SVC(check.fall) },
	/* path and expect: resolve_service() clears them for other check types */
	{ "services[].check.path", CFG_T_URL_PATH, 0, 1, 255, "/hub/health",
	  "path the http check requests; only for check type http",
	  .off = SVC(check.path) },
	{ "services[].check.expect", CFG_T_INT, 0, 100, 599, "200",
	  "status the http check expects; only for check type http",
	  .off = SVC(check.expect) },

	/* defaults are stored for every service, group or not, mode or not */
	{ "services[].http", CFG_T_GROUP, 0, 0, 0, NULL,
	  "HTTP handling; only for mode http services",
	  .off = 0 /* a group stores nothing itself */ },
	{ "services[].http.user_prefix", CFG_T_URL_PATH, CFG_F_DIR, 1, 255, "/user/",
	  "path under which JupyterHub serves each user: <prefix><name>/...",
	  .off = SVC(http.user_prefix) },
	{ "services[].http.login_path", CFG_T_URL_PATH, 0, 1, 255, "/hub/login",
	  "path of JupyterHub's login form, whose POST names the user",
	  .off = SVC(http.login_path) },
	{ "services[].http.header_timeout", CFG_T_DURATION, 0, 100, 10 * MS_M, "10s",
	  "how long a client may take to send a request head",
	  .off = SVC(http.header_timeout_ms) },
	{ "services[].http.keepalive_timeout", CFG_T_DURATION, 0, 0, MS_H, "60s",
	  "how long an idle client connection waits for its next request"
	  " (0: close after each response)",
	  .off = SVC(http.keepalive_timeout_ms) },
	{ "services[].http.response_timeout", CFG_T_DURATION, 0, MS_S, MS_D, "5m",
	  "how long a VM may stay silent during an exchange (waiting for its"
	  " response, or between two reads of it) before the client gets 504",
	  .off = SVC(http.response_timeout_ms) },
	{ "services[].http.tunnel_idle_timeout", CFG_T_DURATION, 0, 0, 30 * MS_D, "0s",
	  "close a websocket silent this long in both directions (0: never)",
	  .off = SVC(http.tunnel_idle_timeout_ms) },
	/* max must not exceed the size of cfg_http.cookie_name[] */
	{ "services[].http.cookie_name", CFG_T_TOKEN, 0, 1, CFG_COOKIE_NAME_MAX, "poolgate_vm",
	  "name of poolgate's affinity cookie",
	  .off = SVC(http.cookie_name) },
	{ "services[].http.cookie_ttl", CFG_T_DURATION, 0, MS_M, 30 * MS_D, "12h",
	  "lifetime of the affinity cookie in the browser",
	  .off = SVC(http.cookie_ttl_ms) },

	/* tcp and http alike: http answers 503 "starting a machine" from it */
	{ "services[].queue", CFG_T_GROUP, CFG_F_PRESENCE, 0, 0, NULL,
	  "let a client no VM can take wait for one (without it: refused at once)",
	  .off = SVC(queue.enabled) },
	{ "services[].queue.timeout", CFG_T_DURATION, 0, MS_S, MS_H, "3m",
	  "how long a client may wait for a VM before it is refused",
	  .off = SVC(queue.timeout_ms) },
	{ "services[].queue.max", CFG_T_INT, 0, 1, 100000, "200",
	  "clients waiting at once; one more is refused at once",
	  .off = SVC(queue.max) },

	{ "backends", CFG_T_LIST, 0, 0, CFG_MAX_BACKENDS, NULL,
	  "the VMs of the pool; may be empty",
	  .off = PG(backends), .off_n = PG(nbackends),
	  .elem_size = sizeof(struct cfg_backend) },
	{ "backends[].name", CFG_T_NAME, CFG_F_REQUIRED, 1, CFG_NAME_MAX, NULL,
	  "name of the backend, unique",
	  .off = BE(name) },
	{ "backends[].address", CFG_T_HOST, CFG_F_REQUIRED, 0, 0, NULL,
	  "numeric IPv4 or IPv6 address of the backend, unique",
	  .off = BE(address) },
	{ "backends[].weight", CFG_T_INT, 0, 1, 1000, "1",
	  "relative capacity: load is sessions divided by weight",
	  .off = BE(weight) },
	{ "backends[].max_sessions", CFG_T_INT, 0, 0, 100000, "0",
	  "sessions at most on this backend (0: no cap)",
	  .off = BE(max_sessions) },

	/* check_groups(): file or dns, at least one, when the group is given */
	{ "discovery", CFG_T_GROUP, CFG_F_PRESENCE, 0, 0, NULL,
	  "find VMs beyond backends: in a file, by DNS, or both",
	  .off = PG(discovery.enabled) },
	{ "discovery.file", CFG_T_ABS_PATH, 0, 1, 4095, NULL,
	  "file listing the VMs, one per line with its weight; looked at"
	  " every refresh",
	  .off = PG(discovery.file) },
	{ "discovery.dns", CFG_T_DNS_NAME, 0, 1, 253, NULL,
	  "host name whose addresses (A and AAAA) are VMs",
	  .off = PG(discovery.dns) },
	{ "discovery.refresh", CFG_T_DURATION, 0, MS_S, MS_H, "10s",
	  "how often the file is looked at and the DNS name resolved again",
	  .off = PG(discovery.refresh_ms) },
	{ "discovery.weight", CFG_T_INT, 0, 1, 1000, "1",
	  "weight of each VM found by DNS",
	  .off = PG(discovery.weight) },
	{ "discovery.max_sessions", CFG_T_INT, 0, 0, 100000, "0",
	  "sessions at most on each VM found by DNS (0: no cap)",
	  .off = PG(discovery.max_sessions) },

	{ "agent", CFG_T_GROUP, CFG_F_PRESENCE, 0, 0, NULL,
	  "ask the load agent on each VM for its sessions and load",
	  .off = PG(agent.enabled) },
	{ "agent.port", CFG_T_INT, CFG_F_REQUIRED, 1, 65535, NULL,
	  "port of the agent on every VM",
	  .off = PG(agent.port) },
	{ "agent.interval", CFG_T_DURATION, 0, 100, MS_H, "5s",
	  "time between two questions to the agent of a VM",
	  .off = PG(agent.interval_ms) },
	{ "agent.timeout", CFG_T_DURATION, 0, 10, MS_M, "1s",
	  "how long an answer may take; at most the interval",
	  .off = PG(agent.timeout_ms) },
	{ "agent.report", CFG_T_BOOL, 0, 0, 0, "true",
	  "also read the agent's report (GET /v1/report): users' work, evictions, host keys",
	  .off = PG(agent.report) },

	{ "ssh_host_ca", CFG_T_STRING, 0, 1, 8191, NULL,
	  "the pool's SSH host CA public key line (as after @cert-authority)",
	  .off = PG(ssh_host_ca) },
	{ "ssh_host_principal", CFG_T_STRING, 0, 1, 255, NULL,
	  "the name the pool's host certificates must name (the pool's DNS name)",
	  .off = PG(ssh_host_principal) },

	{ "hooks", CFG_T_GROUP, CFG_F_PRESENCE, 0, 0, NULL,
	  "run a command on pool events (VM up, down, busy, idle; capacity low)",
	  .off = PG(hooks.enabled) },
	{ "hooks.command", CFG_T_ABS_PATH, CFG_F_REQUIRED, 1, 4095, NULL,
	  "program run as: command EVENT BACKEND (no shell)",
	  .off = PG(hooks.command) },
	{ "hooks.timeout", CFG_T_DURATION, 0, MS_S, MS_H, "30s",
	  "how long one run may take before it is killed",
	  .off = PG(hooks.timeout_ms) },
	{ "hooks.idle_grace", CFG_T_DURATION, 0, 0, MS_D, "10m",
	  "how long a VM has no session before it is reported idle",
	  .off = PG(hooks.idle_grace_ms) },
	{ "hooks.headroom", CFG_T_INT, 0, 0, 100000, "2",
	  "free session slots to keep: below it, capacity is low and idle VMs"
	  " are not reported",
	  .off = PG(hooks.headroom) },

	/* check_groups(): redis or sentinel (with master), not both; the prefix */
	{ "cluster", CFG_T_GROUP, CFG_F_PRESENCE, 0, 0, NULL,
	  "share the pool with other poolgate nodes through Redis",
	  .off = PG(cluster.enabled) },
	{ "cluster.node", CFG_T_NAME, CFG_F_REQUIRED, 1, CFG_NAME_MAX, NULL,
	  "this node's name, different on every node",
	  .off = PG(cluster.node) },
	{ "cluster.redis", CFG_T_ADDR_LIST, 0, 1, CFG_CLUSTER_ADDRS_MAX, NULL,
	  "Redis servers (ADDR:PORT), tried in turn; not with sentinel",
	  .off = PG(cluster.redis), .off_n = PG(cluster.nredis) },
	{ "cluster.sentinel", CFG_T_ADDR_LIST, 0, 1, CFG_CLUSTER_ADDRS_MAX, NULL,
	  "Redis Sentinels (ADDR:PORT) asked where the master is; with master",
	  .off = PG(cluster.sentinel), .off_n = PG(cluster.nsentinel) },
	{ "cluster.master", CFG_T_NAME, 0, 1, CFG_NAME_MAX, NULL,
	  "the Sentinels' name of the master; only with sentinel",
	  .off = PG(cluster.master) },
	{ "cluster.password_file", CFG_T_ABS_PATH, 0, 1, 4095, NULL,
	  "file holding the password sent with AUTH (default: none)",
	  .off = PG(cluster.password_file) },
	{ "cluster.prefix", CFG_T_STRING, 0, 1, CFG_CLUSTER_PREFIX_MAX, "poolgate:",
	  "start of every key and of the channel poolgate uses in Redis",
	  .off = PG(cluster.prefix) },
	{ "cluster.timeout", CFG_T_DURATION, 0, 100, 10 * MS_S, "1500ms",
	  "a Redis answer later than this makes Redis count as unreachable",
	  .off = PG(cluster.timeout_ms) },
	{ "cluster.lease", CFG_T_DURATION, 0, MS_S, MS_M, "5s",
	  "the hook runner's lease: another node takes over within it",
	  .off = PG(cluster.lease_ms) },
	{ "cluster.node_expiry", CFG_T_DURATION, 0, MS_S, MS_M, "3s",
	  "a node silent this long leaves the pool-wide session count",
	  .off = PG(cluster.node_expiry_ms) },

	{ "freebind", CFG_T_BOOL, 0, 0, 0, "false",
	  "listen on addresses this host does not hold yet (IP_FREEBIND), for a"
	  " standby node behind keepalived's floating address",
	  .off = PG(freebind) },
};

const size_t cfg_nsettings = sizeof(cfg_settings) / sizeof(cfg_settings[0]);

/* ------------------------------------------------------------------ */
/* Error list                                                         */
/* ------------------------------------------------------------------ */

static void *xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL) {
		fprintf(stderr, "poolgate: config: out of memory\n");
		abort();
	}
	return q;
}

static char *xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(xrealloc(NULL, n), s, n);
}

static char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

static char *xvasprintf(const char *fmt, va_list ap)
{
	char *s = NULL;

	if (vasprintf(&s, fmt, ap) < 0) {
		fprintf(stderr, "poolgate: config: out of memory\n");
		abort();
	}
	return s;
}

static void errors_push(struct cfg_errors *errs, char *msg /* transferred */)
{
	errs->msg = xrealloc(errs->msg, (errs->n + 1) * sizeof(*errs->msg));
	errs->msg[errs->n++] = msg;
}

void cfg_errors_add(struct cfg_errors *errs, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	errors_push(errs, xvasprintf(fmt, ap));
	va_end(ap);
}

void cfg_errors_free(struct cfg_errors *errs)
{
	if (errs == NULL)
		return;
	for (size_t i = 0; i < errs->n; i++)
		free(errs->msg[i]);
	free(errs->msg);
	errs->msg = NULL;
	errs->n = 0;
}

/* ------------------------------------------------------------------ */
/* Durations and addresses                                            */
/* ------------------------------------------------------------------ */

static const struct {
	const char *name;
	uint64_t    ms;
} duration_units[] = {          /* largest first, for cfg_format_duration */
	{ "d",  (uint64_t)MS_D },
	{ "h",  (uint64_t)MS_H },
	{ "m",  (uint64_t)MS_M },
	{ "s",  (uint64_t)MS_S },
	{ "ms", 1 },
};

int cfg_parse_duration(const char *s, uint64_t *ms)
{
	uint64_t n = 0;
	const char *p = s;

	if (s == NULL || !isdigit((unsigned char)*p))
		return -1;
	for (; isdigit((unsigned char)*p); p++) {
		unsigned d = (unsigned)(*p - '0');

		if (n > (UINT64_MAX - d) / 10)
			return -1;
		n = n * 10 + d;
	}
	for (size_t i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]); i++) {
		if (strcmp(p, duration_units[i].name) != 0)
			continue;
		if (n > UINT64_MAX / duration_units[i].ms)
			return -1;
		*ms = n * duration_units[i].ms;
		return 0;
	}
	return -1;
}

void cfg_format_duration(uint64_t ms, char *buf, size_t len)
{
	const char *unit = "s";
	uint64_t n = 0;

	for (size_t i = 0; ms != 0 && i < sizeof(duration_units) / sizeof(duration_units[0]); i++) {
		if (ms % duration_units[i].ms == 0) {
			unit = duration_units[i].name;
			n = ms / duration_units[i].ms;
			break;
		}
	}
	if (len > 0)
		snprintf(buf, len, "%" PRIu64 "%s", n, unit);
}

/* "1".."65535", digits only. */
static int parse_port(const char *s, in_port_t *port)
{
	unsigned long v = 0;
	size_t i;

	for (i = 0; isdigit((unsigned char)s[i]); i++) {
		if (i >= 5)
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (i == 0 || s[i] != '\0' || v < 1 || v > 65535)
		return -1;
	*port = htons((in_port_t)v);
	return 0;
}

int cfg_parse_addr(const char *s, bool want_port, struct cfg_addr *out)
{
	char host[INET6_ADDRSTRLEN];
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	const char *h, *hend, *port = NULL;
	bool bracket = false;
	in_port_t nport = 0;
	socklen_t len;

	if (s == NULL || out == NULL)
		return -1;
	if (s[0] == '[') {
		/* "[v6]" or "[v6]:port": the only way to give a port with IPv6 */
		bracket = true;
		h = s + 1;
		if ((hend = strchr(h, ']')) == NULL)
			return -1;
		if (want_port) {
			if (hend[1] != ':')
				return -1;
			port = hend + 2;
		} else if (hend[1] != '\0') {
			return -1;
		}
	} else if (want_port) {
		h = s;
		if ((hend = strrchr(s, ':')) == NULL)
			return -1;
		port = hend + 1;
	} else {
		h = s;
		hend = s + strlen(s);
	}
	if (hend == h || (size_t)(hend - h) >= sizeof(host))
		return -1;
	memcpy(host, h, (size_t)(hend - h));
	host[hend - h] = '\0';
	if (port != NULL && parse_port(port, &nport) != 0)
		return -1;

	memset(&ss, 0, sizeof(ss));
	if (!bracket && want_port && strcmp(host, "*") == 0) {
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_ANY);
		sin->sin_port = nport;
		len = sizeof(*sin);
	} else if (!bracket && inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = nport;
		len = sizeof(*sin);
	} else if ((bracket || !want_port) &&
	    inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
		/* Unbracketed IPv6 with a port ("::1:22") is ambiguous: refused above. */
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = nport;
		len = sizeof(*sin6);
	} else {
		return -1;
	}
	out->ss = ss;
	out->len = len;
	return 0;
}

static bool addr_equal(const struct cfg_addr *a, const struct cfg_addr *b)
{
	if (a->ss.ss_family != b->ss.ss_family)
		return false;
	if (a->ss.ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)&a->ss, *y = (const void *)&b->ss;

		return x->sin_port == y->sin_port && x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)&a->ss, *y = (const void *)&b->ss;

		return x->sin6_port == y->sin6_port &&
		    memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
	}
	return false;
}

/* ------------------------------------------------------------------ */
/* Names                                                              */
/* ------------------------------------------------------------------ */

const char *cfg_mode_name(enum svc_mode m)
{
	for (const struct cfg_enum_value *v = mode_values; v->name; v++)
		if (v->value == (int)m)
			return v->name;
	return "?";
}

const char *cfg_user_from_name(enum user_from u)
{
	for (const struct cfg_enum_value *v = user_from_values; v->name; v++)
		if (v->value == (int)u)
			return v->name;
	return "?";
}

/* Labels of a-z A-Z 0-9 -, joined by single dots. */
static bool sni_suffix_valid(const char *s)
{
	size_t label = 0;

	for (; *s != '\0'; s++) {
		if (*s == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '-')
			label++;
		else
			return false;
	}
	return label > 0;
}

const char *cfg_check_name(enum check_type t)
{
	for (const struct cfg_enum_value *v = check_values; v->name; v++)
		if (v->value == (int)t)
			return v->name;
	return "?";
}

size_t cfg_verify_host(const struct cfg_service *cs, const char *backend, char *buf,
    size_t len)
{
	static const char ph[] = "{backend}";
	size_t o = 0, bl = strlen(backend);

	if (len == 0)
		return 0;
	buf[0] = '\0';
	if (cs->verify_name == NULL)
		return 0;
	for (const char *p = cs->verify_name; *p != '\0';) {
		if (strncmp(p, ph, sizeof(ph) - 1) == 0) {
			if (o + bl >= len)
				goto toolong;
			memcpy(buf + o, backend, bl);
			o += bl;
			p += sizeof(ph) - 1;
		} else {
			if (o + 1 >= len)
				goto toolong;
			buf[o++] = *p++;
		}
	}
	buf[o] = '\0';
	return o;
toolong:
	buf[0] = '\0';
	return 0;
}

const char *cfg_backend_tls_name(enum backend_tls b)
{
	for (const struct cfg_enum_value *v = backend_tls_values; v->name; v++)
		if (v->value == (int)b)
			return v->name;
	return "?";
}

/* ------------------------------------------------------------------ */
/* The walk                                                           */
/* ------------------------------------------------------------------ */

struct walk_err {
	unsigned  line;
	size_t    seq;          /* keeps the walk order among errors of one line */
	char     *msg;
};

struct walk {
	const char      *path;   /* file as given to cfg_load */
	struct walk_err *err;
	size_t           nerr;
};

/* Where a value came from, for messages. */
struct loc {
	const char *file;
	unsigned    line;
	const char *key;        /* "services[1].check.interval" */
};

static void werr(struct walk *w, const char *file, unsigned line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void werr(struct walk *w, const char *file, unsigned line, const char *fmt, ...)
{
	va_list ap;
	char *what;
	struct walk_err *e;

	va_start(ap, fmt);
	what = xvasprintf(fmt, ap);
	va_end(ap);
	w->err = xrealloc(w->err, (w->nerr + 1) * sizeof(*w->err));
	e = &w->err[w->nerr];
	e->line = line;
	e->seq = w->nerr;
	/* line 0: the file as a whole (cannot open, too large) */
	if ((line ? asprintf(&e->msg, "%s:%u: %s", file ? file : w->path, line, what) :
	    asprintf(&e->msg, "%s: %s", file ? file : w->path, what)) < 0) {
		fprintf(stderr, "poolgate: config: out of memory\n");
		abort();
	}
	w->nerr++;
	free(what);
}

#define LERR(w, l, ...) werr((w), (l)->file, (l)->line, __VA_ARGS__)

static struct loc loc_of(const struct walk *w, const config_setting_t *s, const char *key)
{
	struct loc l;

	l.file = config_setting_source_file(s) ? config_setting_source_file(s) : w->path;
	l.line = config_setting_get_hook(s) ?
	    (unsigned)(uintptr_t)config_setting_get_hook(s) :      /* fix_element_lines() */
	    config_setting_source_line(s);
	l.key = key;
	return l;
}

static int err_cmp(const void *a, const void *b)
{
	const struct walk_err *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Quote a value for a message: escaped, cut at CFG_QUOTE_MAX. */
static void quote(const char *s, char *buf, size_t len)
{
	size_t o = 0;

	buf[o++] = '"';
	for (size_t i = 0; s[i] != '\0' && o + 8 < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i >= CFG_QUOTE_MAX) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			o += (size_t)snprintf(buf + o, len - o, "\\x%02x", c);
		} else {
			buf[o++] = (char)c;
		}
	}
	buf[o++] = '"';
	buf[o] = '\0';
}

#define QUOTE_BUF (CFG_QUOTE_MAX * 4 + 16)

/* Render any libconfig value the way it could be written, and name its type. */
static void describe(const config_setting_t *s, char *buf, size_t len, const char **type)
{
	switch (config_setting_type(s)) {
	case CONFIG_TYPE_INT:
	case CONFIG_TYPE_INT64:
		snprintf(buf, len, "%lld", config_setting_get_int64(s));
		*type = "an integer";
		break;
	case CONFIG_TYPE_FLOAT:
		/* the shortest text that reads back as the same double */
		for (int prec = 1; prec <= 17; prec++) {
			snprintf(buf, len, "%.*g", prec, config_setting_get_float(s));
			if (strtod(buf, NULL) == config_setting_get_float(s))
				break;
		}
		if (strpbrk(buf, ".en") == NULL && strlen(buf) + 3 <= len)
			strcat(buf, ".0");      /* 1.0 must not read as the int 1 */
		*type = "a floating-point number";
		break;
	case CONFIG_TYPE_STRING:
		quote(config_setting_get_string(s), buf, len);
		*type = "a string";
		break;
	case CONFIG_TYPE_BOOL:
		snprintf(buf, len, "%s", config_setting_get_bool(s) ? "true" : "false");
		*type = "a boolean";
		break;
	case CONFIG_TYPE_GROUP:
		snprintf(buf, len, "{ ... }");
		*type = "a group";
		break;
	case CONFIG_TYPE_ARRAY:
		snprintf(buf, len, "[ ... ]");
		*type = "an array";
		break;
	case CONFIG_TYPE_LIST:
		snprintf(buf, len, "( ... )");
		*type = "a list";
		break;
	default:
		snprintf(buf, len, "?");
		*type = "of unknown type";
		break;
	}
}

/* What a setting expects, for "(expected ...)". */
static void expected(const struct cfg_setting *e, char *buf, size_t len)
{
	char lo[32], hi[32];
	size_t o;

	switch (e->type) {
	case CFG_T_GROUP:
		snprintf(buf, len, "a group { ... }");
		break;
	case CFG_T_LIST:
		snprintf(buf, len, "a list ( { ... }, ... ) of %" PRId64 " to %" PRId64 " groups",
		    e->min, e->max);
		break;
	case CFG_T_INT:
		snprintf(buf, len, "an integer from %" PRId64 " to %" PRId64, e->min, e->max);
		break;
	case CFG_T_BOOL:
		snprintf(buf, len, "true or false");
		break;
	case CFG_T_STRING:
		snprintf(buf, len, "a string of %" PRId64 " to %" PRId64 " characters", e->min, e->max);
		break;
	case CFG_T_NAME:
		snprintf(buf, len, "a name of %" PRId64 " to %" PRId64 " characters " PG_NAME_RULE,
		    e->min, e->max);
		break;
	case CFG_T_DURATION:
		cfg_format_duration((uint64_t)e->min, lo, sizeof(lo));
		cfg_format_duration((uint64_t)e->max, hi, sizeof(hi));
		snprintf(buf, len, "a duration from %s to %s%s such as \"2s\"", lo, hi,
		    e->flags & CFG_F_SECONDS ? " in whole seconds" : "");
		break;
	case CFG_T_ENUM: {
		size_t n = 0;
		bool first = true;

		for (const struct cfg_enum_value *v = e->values; v->name; v++)
			n += v->supported;
		o = (size_t)snprintf(buf, len, "%s", n > 1 ? "one of " : "");
		for (const struct cfg_enum_value *v = e->values; v->name && o < len; v++) {
			if (!v->supported)
				continue;
			o += (size_t)snprintf(buf + o, len - o, "%s\"%s\"", first ? "" : ", ", v->name);
			first = false;
		}
		break;
	}
	case CFG_T_ADDR:
		snprintf(buf, len, "\"ADDR:PORT\" with a numeric address, such as \"0.0.0.0:22\", \"*:22\" or \"[::]:22\"");
		break;
	case CFG_T_HOST:
		snprintf(buf, len, "a numeric IPv4 or IPv6 address without port, such as \"10.0.0.4\" or \"fd00::4\"");
		break;
	case CFG_T_ADDR_LIST:
		snprintf(buf, len, "an array [ \"ADDR:PORT\", ... ] of %" PRId64 " to %" PRId64 " addresses",
		    e->min, e->max);
		break;
	case CFG_T_URL_PATH:
		snprintf(buf, len, "a path of %" PRId64 " to %" PRId64 " characters %s with \"/\""
		    " (printable ASCII, no spaces)", e->min, e->max,
		    e->flags & CFG_F_DIR ? "starting and ending" : "starting");
		break;
	case CFG_T_TOKEN:
		snprintf(buf, len, "a token of %" PRId64 " to %" PRId64 " characters"
		    " A-Z a-z 0-9 ! # $ %% & ' * + - . ^ _ ` | ~", e->min, e->max);
		break;
	case CFG_T_ABS_PATH:
		snprintf(buf, len, "an absolute path of %" PRId64 " to %" PRId64 " characters"
		    " starting with \"/\" (no control characters)", e->min, e->max);
		break;
	case CFG_T_DNS_NAME:
		snprintf(buf, len, "a host name of %" PRId64 " to %" PRId64 " characters:"
		    " labels of A-Z a-z 0-9 - joined by dots, such as \"pool.example.internal\"",
		    e->min, e->max);
		break;
	case CFG_T_USER:
		snprintf(buf, len, "a user name of %" PRId64 " to %" PRId64 " characters"
		    " a-z 0-9 _ - starting with a-z or _ (a final $ is allowed), such as"
		    " \"poolgate\"", e->min, e->max);
		break;
	}
}

static void type_error(struct walk *w, const struct loc *l, const struct cfg_setting *e,
    const config_setting_t *s)
{
	char val[QUOTE_BUF], exp[256];
	const char *type;

	describe(s, val, sizeof(val), &type);
	expected(e, exp, sizeof(exp));
	LERR(w, l, "%s: %s is %s (expected %s)", l->key, val, type, exp);
}

static bool is_child(const struct cfg_setting *e, const char *prefix, size_t plen)
{
	const char *p = e->path;

	if (plen > 0) {
		if (strncmp(p, prefix, plen) != 0 || p[plen] != '.')
			return false;
		p += plen + 1;
	}
	return strchr(p, '.') == NULL;
}

static const char *leaf(const struct cfg_setting *e)
{
	const char *dot = strrchr(e->path, '.');

	return dot ? dot + 1 : e->path;
}

/*
 * Format the path of a setting. Paths are short (the table's, plus list
 * indexes: "backends[4095].max_sessions"), so one that does not fit
 * CFG_PATH_MAX is a bug.
 */
static void keyf(char *buf, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void keyf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= len) {
		fprintf(stderr, "poolgate: config: setting path too long: %s\n", buf);
		abort();
	}
}

/*
 * A path of a URL as a request line carries it: "/" first, then visible
 * ASCII only (a space would end the request target; anything else belongs
 * percent-encoded). With CFG_F_DIR it is a prefix and ends in "/" too.
 */
static bool valid_url_path(const char *s, const struct cfg_setting *e)
{
	size_t n = strlen(s);

	if ((int64_t)n < e->min || (int64_t)n > e->max || s[0] != '/')
		return false;
	if ((e->flags & CFG_F_DIR) && s[n - 1] != '/')
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

/* RFC 6265 cookie-name: an RFC 2616 token (RFC 7230 tchar). */
static bool valid_token(const char *s, const struct cfg_setting *e)
{
	size_t n = strlen(s);

	if ((int64_t)n < e->min || (int64_t)n > e->max)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && strchr("!#$%&'*+-.^_`|~", s[i]) == NULL)
			return false;
	return true;
}

/*
 * A path the daemon opens or executes: absolute, so that it does not depend
 * on the directory the daemon was started from, and free of control
 * characters, which have no place in a file name and would garble the log
 * lines that quote it. Spaces and UTF-8 are valid in a file name.
 */
static bool valid_abs_path(const char *s, const struct cfg_setting *e)
{
	size_t n = strlen(s);

	if ((int64_t)n < e->min || (int64_t)n > e->max || s[0] != '/')
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
			return false;
	return true;
}

/*
 * A host name to resolve (RFC 1123 2.1): labels of 1 to 63 letters, digits
 * and hyphens, no hyphen first or last, joined by dots; one final dot (a
 * name not to be completed from the search list) is allowed. A single label
 * ("pool", completed from the search list) is fine. No underscore: it is not
 * a host name character, and a name that needs one is not an A/AAAA record
 * of VMs. The last label is not all digits, so an IPv4 address is refused
 * here (its place is backends[]).
 */
static bool valid_dns_name(const char *s, const struct cfg_setting *e)
{
	size_t n = strlen(s), label = 0;
	bool digits = true;

	if (n > 1 && s[n - 1] == '.')
		n--;            /* the final dot does not count against the length */
	if ((int64_t)n < e->min || (int64_t)n > e->max)
		return false;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (label == 0 || label > 63 || s[i - 1] == '-')
				return false;
			if (i == n)
				return !digits;
			label = 0;
			digits = true;
			continue;
		}
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return false;
		if (label == 0 && s[i] == '-')
			return false;
		digits = digits && isdigit((unsigned char)s[i]);
		label++;
	}
	return false;   /* not reached: the loop returns at i == n */
}

/*
 * A Unix user name as useradd(8) accepts it by default (its NAME_REGEX,
 * also the POSIX portable set less upper case): [a-z_][a-z0-9_-]*[$]?. No
 * upper case, no leading digit (a name of digits reads as a uid) or "-" (an
 * option to the tools), and "$" only last (Samba machine accounts).
 */
static bool valid_user(const char *s, const struct cfg_setting *e)
{
	size_t n = strlen(s);

	if ((int64_t)n < e->min || (int64_t)n > e->max)
		return false;
	if (!((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_'))
		return false;
	for (size_t i = 1; i < n; i++) {
		char c = s[i];

		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')
			continue;
		if (c == '$' && i == n - 1)
			continue;
		return false;
	}
	return true;
}

static bool valid_name(const char *s, const struct cfg_setting *e)
{
	size_t n = strlen(s);

	/* The one name rule (lib/text.h): a name reaches hooks as an argument. */
	return (int64_t)n >= e->min && pg_name_valid_n(s, n, (size_t)e->max);
}

/*
 * Check a string value against e and store it at base + e->off. Used for
 * values from the file and for defaults (whose text the table holds).
 */
static void set_string(struct walk *w, const struct loc *l, const struct cfg_setting *e,
    const char *s, void *base)
{
	char *dst = (char *)base + e->off;
	char q[QUOTE_BUF], exp[256], lo[32], hi[32];
	struct cfg_addr a;
	uint64_t ms;
	size_t n;

	quote(s, q, sizeof(q));
	switch (e->type) {
	case CFG_T_STRING:
		n = strlen(s);
		if ((int64_t)n < e->min || (int64_t)n > e->max) {
			if (n == 0)
				LERR(w, l, "%s: empty string (expected %" PRId64 " to %" PRId64
				    " characters)", l->key, e->min, e->max);
			else
				LERR(w, l, "%s: %zu characters is too long (expected %" PRId64
				    " to %" PRId64 ")", l->key, n, e->min, e->max);
			break;
		}
		free(*(char **)dst);
		*(char **)dst = xstrdup(s);
		break;
	case CFG_T_NAME:
		if (!valid_name(s, e)) {
			expected(e, exp, sizeof(exp));
			LERR(w, l, "%s: %s is not a valid name (expected %s)", l->key, q, exp);
			break;
		}
		memcpy(dst, s, strlen(s) + 1);
		break;
	case CFG_T_URL_PATH:
		if (!valid_url_path(s, e)) {
			expected(e, exp, sizeof(exp));
			LERR(w, l, "%s: %s is not a valid path (expected %s)", l->key, q, exp);
			break;
		}
		free(*(char **)dst);
		*(char **)dst = xstrdup(s);
		break;
	case CFG_T_TOKEN:
		if (!valid_token(s, e)) {
			expected(e, exp, sizeof(exp));
			LERR(w, l, "%s: %s is not a valid token (expected %s)", l->key, q, exp);
			break;
		}
		memcpy(dst, s, strlen(s) + 1);
		break;
	case CFG_T_ABS_PATH:
	case CFG_T_DNS_NAME:
	case CFG_T_USER:
		if (!(e->type == CFG_T_ABS_PATH ? valid_abs_path(s, e) :
		    e->type == CFG_T_DNS_NAME ? valid_dns_name(s, e) : valid_user(s, e))) {
			n = strlen(s);
			if (e->type == CFG_T_DNS_NAME && n > 1 && s[n - 1] == '.')
				n--;    /* as valid_dns_name() counts */
			expected(e, exp, sizeof(exp));
			/* too long: say so, the quote is cut and would not show it */
			if ((int64_t)n > e->max)
				LERR(w, l, "%s: %zu characters is too long (expected %s)", l->key, n, exp);
			else
				LERR(w, l, "%s: %s is not %s (expected %s)", l->key, q,
				    e->type == CFG_T_ABS_PATH ? "an absolute path" :
				    e->type == CFG_T_DNS_NAME ? "a valid host name" : "a valid user name",
				    exp);
			break;
		}
		free(*(char **)dst);
		*(char **)dst = xstrdup(s);
		break;
	case CFG_T_DURATION:
		if (cfg_parse_duration(s, &ms) != 0) {
			LERR(w, l, "%s: %s is not a duration (use 500ms, 2s, 1m)", l->key, q);
			break;
		}
		if (ms < (uint64_t)e->min || ms > (uint64_t)e->max) {
			cfg_format_duration((uint64_t)e->min, lo, sizeof(lo));
			cfg_format_duration((uint64_t)e->max, hi, sizeof(hi));
			LERR(w, l, "%s: %s is out of range (expected %s to %s)", l->key, q, lo, hi);
			break;
		}
		if ((e->flags & CFG_F_SECONDS) && ms % MS_S != 0) {
			expected(e, exp, sizeof(exp));
			LERR(w, l, "%s: %s is not a whole number of seconds (expected %s)", l->key, q,
			    exp);
			break;
		}
		memcpy(dst, &ms, sizeof(ms));
		break;
	case CFG_T_ENUM:
		expected(e, exp, sizeof(exp));
		for (const struct cfg_enum_value *v = e->values; v->name; v++) {
			if (strcmp(v->name, s) != 0)
				continue;
			if (!v->supported) {
				LERR(w, l, "%s: %s is not supported yet (expected %s)", l->key, q, exp);
				return;
			}
			memcpy(dst, &v->value, sizeof(int));
			return;
		}
		LERR(w, l, "%s: %s is not a valid %s (expected %s)", l->key, q, leaf(e), exp);
		break;
	case CFG_T_ADDR:
	case CFG_T_HOST:
		if (cfg_parse_addr(s, e->type == CFG_T_ADDR, &a) != 0) {
			expected(e, exp, sizeof(exp));
			LERR(w, l, "%s: %s is not %s (expected %s)", l->key, q,
			    e->type == CFG_T_ADDR ? "an address and port" : "an IP address", exp);
			break;
		}
		a.text = xstrdup(s);
		free(((struct cfg_addr *)(void *)dst)->text);
		memcpy(dst, &a, sizeof(a));
		break;
	default:
		fprintf(stderr, "poolgate: config: %s is not a string setting\n", e->path);
		abort();
	}
}

static void set_int(struct walk *w, const struct loc *l, const struct cfg_setting *e,
    long long v, void *base)
{
	int iv;

	if (v < e->min || v > e->max) {
		LERR(w, l, "%s: %lld is out of range (expected %" PRId64 " to %" PRId64 ")",
		    l->key, v, e->min, e->max);
		return;
	}
	iv = (int)v;
	memcpy((char *)base + e->off, &iv, sizeof(iv));
}

static void walk_group(struct walk *w, const config_setting_t *grp, const char *tprefix,
    const char *kprefix, void *base, const char *file, unsigned line);

/* An absent, optional setting: store its default. */
static void set_default(struct walk *w, const struct cfg_setting *e, const char *key,
    void *base, const char *file, unsigned line)
{
	struct loc l = { file, line, key };
	size_t before = w->nerr;

	if (e->type == CFG_T_GROUP) {
		walk_group(w, NULL, e->path, key, base, file, line);
		return;
	}
	if (e->def == NULL)
		return;         /* NULL, zero or an empty list */
	switch (e->type) {
	case CFG_T_INT: {
		char *end;
		long long v = strtoll(e->def, &end, 10);

		if (*end != '\0')
			werr(w, file, line, "%s: default is not an integer", key);
		set_int(w, &l, e, v, base);
		break;
	}
	case CFG_T_BOOL:
		if (strcmp(e->def, "true") != 0 && strcmp(e->def, "false") != 0)
			werr(w, file, line, "%s: default is not true or false", key);
		*(bool *)(void *)((char *)base + e->off) = strcmp(e->def, "true") == 0;
		break;
	default:
		set_string(w, &l, e, e->def, base);
		break;
	}
	if (w->nerr != before) {
		/* The table contradicts itself: a bug, not a user error. */
		fprintf(stderr, "poolgate: config: bad default for %s: %s\n", e->path,
		    w->err[before].msg);
		abort();
	}
}

static void set_list(struct walk *w, const struct loc *l, const struct cfg_setting *e,
    const config_setting_t *s, void *base)
{
	unsigned n = (unsigned)config_setting_length(s);
	char tprefix[CFG_PATH_MAX], key[CFG_PATH_MAX];
	char *arr;

	if ((int64_t)n < e->min || (int64_t)n > e->max) {
		if (n == 0)
			LERR(w, l, "%s: empty list (expected %" PRId64 " to %" PRId64 " entries)",
			    l->key, e->min, e->max);
		else
			LERR(w, l, "%s: %u entries is too many (expected %" PRId64 " to %" PRId64 ")",
			    l->key, n, e->min, e->max);
		/* still look at every entry: report all of their errors too */
	}
	if (n == 0)
		return;
	arr = calloc(n, e->elem_size);
	if (arr == NULL) {
		fprintf(stderr, "poolgate: config: out of memory\n");
		abort();
	}
	memcpy((char *)base + e->off, &arr, sizeof(arr));
	*(size_t *)(void *)((char *)base + e->off_n) = n;

	keyf(tprefix, sizeof(tprefix), "%s[]", e->path);
	for (unsigned i = 0; i < n; i++) {
		const config_setting_t *el = config_setting_get_elem(s, i);
		struct loc el_loc;

		keyf(key, sizeof(key), "%s[%u]", l->key, i);
		el_loc = loc_of(w, el, key);
		if (config_setting_type(el) != CONFIG_TYPE_GROUP) {
			char val[QUOTE_BUF];
			const char *type;

			describe(el, val, sizeof(val), &type);
			LERR(w, &el_loc, "%s: %s is %s (expected a group { name = ...; ... })",
			    key, val, type);
			continue;
		}
		walk_group(w, el, tprefix, key, arr + (size_t)i * e->elem_size,
		    el_loc.file, el_loc.line);
	}
}

/* One element of a CFG_T_ADDR_LIST, stored at offset 0 of its struct cfg_addr. */
static const struct cfg_setting one_addr = { .path = "", .type = CFG_T_ADDR, .desc = "" };

static void set_addr_list(struct walk *w, const struct loc *l, const struct cfg_setting *e,
    const config_setting_t *s, void *base)
{
	struct cfg_addr *arr = (struct cfg_addr *)(void *)((char *)base + e->off);
	unsigned n = (unsigned)config_setting_length(s);
	char key[CFG_PATH_MAX];
	/* Store at most e->max entries: that is the capacity of the array. */
	size_t stored = (int64_t)n > e->max ? (size_t)e->max : n;

	if ((int64_t)n < e->min || (int64_t)n > e->max) {
		if (n == 0)
			LERR(w, l, "%s: empty array (expected %" PRId64 " to %" PRId64 " addresses)",
			    l->key, e->min, e->max);
		else
			LERR(w, l, "%s: %u addresses is too many (expected %" PRId64 " to %" PRId64 ")",
			    l->key, n, e->min, e->max);
	}
	*(size_t *)(void *)((char *)base + e->off_n) = stored;
	for (unsigned i = 0; i < n; i++) {
		const config_setting_t *el = config_setting_get_elem(s, i);
		struct cfg_addr spare = { .text = NULL };
		struct loc el_loc;

		keyf(key, sizeof(key), "%s[%u]", l->key, i);
		el_loc = loc_of(w, el, key);
		if (config_setting_type(el) != CONFIG_TYPE_STRING) {
			type_error(w, &el_loc, &one_addr, el);
			continue;
		}
		/* beyond the capacity, still check the address, into a spare */
		set_string(w, &el_loc, &one_addr, config_setting_get_string(el),
		    i < stored ? &arr[i] : &spare);
		free(spare.text);
	}
}

/* A setting present in the file: check its type, then its value. */
static void set_value(struct walk *w, const struct cfg_setting *e, const config_setting_t *s,
    const char *key, void *base)
{
	struct loc l = loc_of(w, s, key);
	int t = config_setting_type(s);

	switch (e->type) {
	case CFG_T_GROUP:
		if (t != CONFIG_TYPE_GROUP)
			break;
		if (e->flags & CFG_F_PRESENCE)
			*(bool *)(void *)((char *)base + e->off) = true;
		walk_group(w, s, e->path, key, base, l.file, l.line);
		return;
	case CFG_T_LIST:
		/* "[]" is an empty array to libconfig; accept it as an empty list */
		if (t != CONFIG_TYPE_LIST && !(t == CONFIG_TYPE_ARRAY && config_setting_length(s) == 0))
			break;
		set_list(w, &l, e, s, base);
		return;
	case CFG_T_ADDR_LIST:
		if (t != CONFIG_TYPE_ARRAY && t != CONFIG_TYPE_LIST)
			break;
		set_addr_list(w, &l, e, s, base);
		return;
	case CFG_T_INT:
		/*
		 * 20 is CONFIG_TYPE_INT, 20L CONFIG_TYPE_INT64; both are fine.
		 * A float is not: auto-conversion is off (see cfg_load).
		 */
		if (t != CONFIG_TYPE_INT && t != CONFIG_TYPE_INT64)
			break;
		set_int(w, &l, e, config_setting_get_int64(s), base);
		return;
	case CFG_T_BOOL:
		if (t != CONFIG_TYPE_BOOL)
			break;
		*(bool *)(void *)((char *)base + e->off) = config_setting_get_bool(s) != 0;
		return;
	case CFG_T_STRING:
	case CFG_T_NAME:
	case CFG_T_DURATION:
	case CFG_T_ENUM:
	case CFG_T_ADDR:
	case CFG_T_HOST:
	case CFG_T_URL_PATH:
	case CFG_T_TOKEN:
	case CFG_T_ABS_PATH:
	case CFG_T_DNS_NAME:
	case CFG_T_USER:
		if (t != CONFIG_TYPE_STRING)
			break;
		set_string(w, &l, e, config_setting_get_string(s), base);
		return;
	}
	type_error(w, &l, e, s);
}

/*
 * Walk one group of the file (or an absent one, grp == NULL: its members
 * get their defaults, none is missing) against the table entries directly
 * below tprefix ("" for the root, "admin",
 * "services[]", "services[].check"). kprefix is the same path as the user
 * sees it ("services[1].check"); base is the struct the entries' offsets are
 * relative to; file/line locate the group, for missing settings.
 */
static void walk_group(struct walk *w, const config_setting_t *grp, const char *tprefix,
    const char *kprefix, void *base, const char *file, unsigned line)
{
	size_t plen = strlen(tprefix);
	char key[CFG_PATH_MAX];

	for (int i = 0; grp != NULL && i < config_setting_length(grp); i++) {
		const config_setting_t *m = config_setting_get_elem(grp, (unsigned)i);
		const char *name = config_setting_name(m);
		struct loc l = loc_of(w, m, NULL);
		char exp[512];
		size_t o = 0;
		bool known = false;

		for (size_t k = 0; k < cfg_nsettings && !known; k++)
			known = is_child(&cfg_settings[k], tprefix, plen) &&
			    strcmp(leaf(&cfg_settings[k]), name) == 0;
		if (known)
			continue;
		exp[0] = '\0';
		for (size_t k = 0; k < cfg_nsettings && o < sizeof(exp); k++)
			if (is_child(&cfg_settings[k], tprefix, plen))
				o += (size_t)snprintf(exp + o, sizeof(exp) - o, "%s%s",
				    o ? ", " : "", leaf(&cfg_settings[k]));
		LERR(w, &l, "%s%s%s: unknown setting (expected one of %s)",
		    kprefix, *kprefix ? "." : "", name, exp);
	}

	for (size_t k = 0; k < cfg_nsettings; k++) {
		const struct cfg_setting *e = &cfg_settings[k];
		const config_setting_t *m;

		if (!is_child(e, tprefix, plen))
			continue;
		keyf(key, sizeof(key), "%s%s%s", kprefix, *kprefix ? "." : "", leaf(e));
		m = grp ? config_setting_get_member(grp, leaf(e)) : NULL;
		if (m != NULL) {
			set_value(w, e, m, key, base);
		} else if ((e->flags & CFG_F_REQUIRED) && grp != NULL) {
			/* in an absent group (tls), a required member is absent too */
			char exp[256];

			expected(e, exp, sizeof(exp));
			werr(w, file, line, "%s: missing required setting (expected %s)", key, exp);
		} else {
			set_default(w, e, key, base, file, line);
		}
	}
}

/* ------------------------------------------------------------------ */
/* Checks across settings                                             */
/* ------------------------------------------------------------------ */

/* The libconfig setting at "<list>[i].<member>[j]" (j < 0: no index), or NULL. */
static const config_setting_t *find(const config_t *lc, const char *list, unsigned i,
    const char *member, int j)
{
	const config_setting_t *s = config_lookup(lc, list);

	if (s == NULL || !config_setting_is_list(s))
		return NULL;
	if ((s = config_setting_get_elem(s, i)) == NULL || !config_setting_is_group(s))
		return NULL;
	if (member != NULL && (s = config_setting_get_member(s, member)) == NULL)
		return NULL;
	if (j >= 0 && (!config_setting_is_aggregate(s) ||
	    (s = config_setting_get_elem(s, (unsigned)j)) == NULL))
		return NULL;
	return s;
}

static struct loc loc_find(const struct walk *w, const config_t *lc, const char *list,
    unsigned i, const char *member, int j)
{
	const config_setting_t *s = find(lc, list, i, member, j);
	struct loc l = { w->path, 1, NULL };

	if (s == NULL)
		s = find(lc, list, i, NULL, -1);
	if (s != NULL)
		l = loc_of(w, s, NULL);
	return l;
}

/*
 * Names must be unique within their list. Entries that failed their own
 * checks have an empty name and are skipped (already reported).
 */
static void check_unique_names(struct walk *w, const config_t *lc, const char *list,
    const char *names, size_t stride, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const char *a = names + i * stride;

		if (*a == '\0')
			continue;
		for (size_t j = 0; j < i; j++) {
			if (strcmp(a, names + j * stride) != 0)
				continue;
			struct loc li = loc_find(w, lc, list, (unsigned)i, "name", -1);
			struct loc lj = loc_find(w, lc, list, (unsigned)j, "name", -1);

			LERR(w, &li, "%s[%zu].name: \"%s\" is already the name of %s[%zu] at line %u"
			    " (expected a unique name)", list, i, a, list, j, lj.line);
			break;
		}
	}
}

/* The setting at "services[i].KEY", KEY being "tls" or "check.path"; or NULL. */
static const config_setting_t *svc_find(const config_t *lc, size_t i, const char *key)
{
	const config_setting_t *s = find(lc, "services", (unsigned)i, NULL, -1);
	char part[CFG_PATH_MAX];

	while (s != NULL && *key != '\0') {
		size_t n = strcspn(key, ".");

		if (!config_setting_is_group(s) || n >= sizeof(part))
			return NULL;
		memcpy(part, key, n);
		part[n] = '\0';
		s = config_setting_get_member(s, part);
		key += n + (key[n] == '.');
	}
	return s;
}

/*
 * Did the walk store what the file says for this enum: absent (the default),
 * or the very name of the stored value? Not when the value was rejected (it
 * was reported; the field kept its zero), so that no second error is built
 * on a value the user did not write.
 */
static bool enum_as_written(const config_setting_t *s, const char *stored)
{
	return s == NULL || (config_setting_type(s) == CONFIG_TYPE_STRING &&
	    strcmp(config_setting_get_string(s), stored) == 0);
}

/* services[i].KEY is given, but only valid when COND ("mode = \"http\""). */
static void only_for(struct walk *w, const config_t *lc, size_t i, const char *key,
    const char *what, const char *cond)
{
	const config_setting_t *s = svc_find(lc, i, key);
	const char *dot = strrchr(key, '.');
	struct loc l;

	if (s == NULL)
		return;
	l = loc_of(w, s, NULL);
	LERR(w, &l, "services[%zu].%s: only for %s (expected %s, or no %s)", i, key, what, cond,
	    dot ? dot + 1 : key);
}

/* A DNS name with "{backend}" in it or not: LDH labels, no empty label. */
static bool verify_name_valid(const char *s)
{
	static const char ph[] = "{backend}";
	size_t label = 0;

	for (const char *p = s; *p != '\0'; p++) {
		if (strncmp(p, ph, sizeof(ph) - 1) == 0) {
			p += sizeof(ph) - 2;
			label++;
		} else if (*p == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (isalnum((unsigned char)*p) || *p == '-')
			label++;
		else
			return false;
	}
	return label > 0;
}

/*
 * user_from "sni" needs a tcp service that terminates TLS and a suffix
 * that starts with a dot; sni_suffix is only for it.
 */
static void resolve_user_from(struct walk *w, const config_t *lc, struct cfg_service *svc,
    size_t i)
{
	const config_setting_t *uf = svc_find(lc, i, "user_from");
	const config_setting_t *suf = svc_find(lc, i, "sni_suffix");
	struct loc l;

	if (svc->user_from != USER_FROM_SNI) {
		if (enum_as_written(uf, cfg_user_from_name(svc->user_from)))
			only_for(w, lc, i, "sni_suffix", "user_from \"sni\"", "user_from = \"sni\"");
		free(svc->sni_suffix);
		svc->sni_suffix = NULL;
		return;
	}
	l = loc_of(w, uf, NULL);
	if (svc->mode != SVC_MODE_TCP || !svc->tls.enabled)
		LERR(w, &l, "services[%zu].user_from: \"sni\" is only for mode \"tcp\" services"
		    " with tls (expected a tls group, or no user_from)", i);
	if (svc->sni_suffix == NULL)
		LERR(w, &l, "services[%zu].user_from: \"sni\" needs sni_suffix (expected e.g."
		    " sni_suffix = \".ssh.pool.example.com\")", i);
	else if (svc->sni_suffix[0] != '.' || !sni_suffix_valid(svc->sni_suffix + 1)) {
		l = loc_of(w, suf, NULL);
		LERR(w, &l, "services[%zu].sni_suffix: \"%s\" is not a dot and a host name"
		    " (expected e.g. \".ssh.pool.example.com\")", i, svc->sni_suffix);
	}
}

/*
 * What the table alone cannot say about a service, once the walk filled it:
 * defaults taken from other settings, and settings valid only with a given
 * mode, check type or backend_tls (each described so in its table row).
 */
static void resolve_service(struct walk *w, const config_t *lc, struct pg_config *cfg, size_t i)
{
	struct cfg_service *svc = &cfg->services[i];
	const config_setting_t *mode = svc_find(lc, i, "mode");
	const config_setting_t *type = svc_find(lc, i, "check.type");
	const config_setting_t *btls = svc_find(lc, i, "backend_tls");
	bool http = svc->mode == SVC_MODE_HTTP;

	/*
	 * An http service knows its users at login: a whole team behind one
	 * office address must not follow one another to one VM, so there the
	 * address decides nothing unless the service asks for it.
	 */
	if (svc_find(lc, i, "by_client_ip") == NULL)
		svc->by_client_ip = http ? false : cfg->affinity_by_client_ip;
	if (http && type == NULL)
		svc->check.type = CHECK_HTTP;

	if (http && svc->source == SVC_SRC_CLIENT) {
		const config_setting_t *src = svc_find(lc, i, "source");
		struct loc l = loc_of(w, src, NULL);

		LERR(w, &l, "services[%zu].source: \"client\" is only for mode \"tcp\" services"
		    " (expected \"poolgate\"; HTTP services pass the client in"
		    " X-Forwarded-For and Forwarded)", i);
	} else if (svc->source == SVC_SRC_CLIENT && svc->tls.enabled) {
		const config_setting_t *src = svc_find(lc, i, "source");
		struct loc l = loc_of(w, src, NULL);

		LERR(w, &l, "services[%zu].source: \"client\" is not for a service with tls"
		    " (expected \"poolgate\", or no tls)", i);
	}
	if (svc->mode == SVC_MODE_TCP && svc->tls.enabled && svc->queue.enabled) {
		struct loc l = loc_of(w, svc_find(lc, i, "queue"), NULL);

		LERR(w, &l, "services[%zu].queue: a tcp service with tls has no wait queue"
		    " (expected no queue, or no tls)", i);
	}
	if (!http && enum_as_written(mode, cfg_mode_name(svc->mode))) {
		if (svc->mode != SVC_MODE_TCP)
			only_for(w, lc, i, "tls", "mode \"http\" and \"tcp\" services",
			    "mode = \"http\" or \"tcp\"");
		only_for(w, lc, i, "http", "mode \"http\" services", "mode = \"http\"");
	}
	resolve_user_from(w, lc, svc, i);
	if (svc->mode != SVC_MODE_RDP && !(svc->mode == SVC_MODE_TCP && svc->tls.enabled) &&
	    enum_as_written(mode, cfg_mode_name(svc->mode)))
		only_for(w, lc, i, "first_packet_timeout", "mode \"rdp\" and tcp services with tls",
		    "mode = \"rdp\" or a tls group");
	if (!http && enum_as_written(mode, cfg_mode_name(svc->mode))) {
		if (svc->backend_tls != BTLS_NONE && btls != NULL) {
			struct loc l = loc_of(w, btls, NULL);

			LERR(w, &l, "services[%zu].backend_tls: \"%s\" is only for mode \"http\" services"
			    " (expected \"none\", or mode = \"http\")", i,
			    cfg_backend_tls_name(svc->backend_tls));
		}
	}
	if (svc->backend_tls != BTLS_VERIFY &&
	    enum_as_written(btls, cfg_backend_tls_name(svc->backend_tls))) {
		only_for(w, lc, i, "backend_ca", "backend_tls \"verify\"", "backend_tls = \"verify\"");
		only_for(w, lc, i, "verify_name", "backend_tls \"verify\"", "backend_tls = \"verify\"");
	}
	if (svc->verify_name != NULL && !verify_name_valid(svc->verify_name)) {
		struct loc l = loc_of(w, svc_find(lc, i, "verify_name"), NULL);

		LERR(w, &l, "services[%zu].verify_name: \"%s\" is not a DNS name (expected"
		    " letters, digits, - and . with {backend} for the VM's name, such as"
		    " \"{backend}.pool.example.com\")", i, svc->verify_name);
	}
	if (svc->check.type != CHECK_HTTP) {
		if (enum_as_written(type, cfg_check_name(svc->check.type))) {
			only_for(w, lc, i, "check.path", "check type \"http\"", "type = \"http\"");
			only_for(w, lc, i, "check.expect", "check type \"http\"", "type = \"http\"");
		}
		/* as config.h promises: NULL and 0 for the other types */
		free(svc->check.path);
		svc->check.path = NULL;
		svc->check.expect = 0;
	}
}

/*
 * KEY.timeout (of a check, of the agent) must not be longer than
 * KEY.interval: a question would still be open when the next one is due.
 * grp is KEY's group in the file, NULL when absent; fallback locates the
 * error when the group does not.
 */
static void check_timeout(struct walk *w, const config_setting_t *grp, struct loc fallback,
    const char *key, uint64_t timeout_ms, uint64_t interval_ms)
{
	const config_setting_t *tmo = NULL, *at = NULL;
	char a[32], b[32];
	struct loc l = fallback;

	/*
	 * A value that failed its own check was left at zero; both minimums
	 * are above zero, so zero here means "already reported".
	 */
	if (timeout_ms == 0 || interval_ms == 0 || timeout_ms <= interval_ms)
		return;
	/* Point at the timeout, or at the interval when the timeout is the default. */
	if (grp != NULL && config_setting_is_group(grp)) {
		tmo = config_setting_get_member(grp, "timeout");
		at = tmo ? tmo : config_setting_get_member(grp, "interval");
	}
	if (at != NULL)
		l = loc_of(w, at, NULL);
	cfg_format_duration(timeout_ms, a, sizeof(a));
	cfg_format_duration(interval_ms, b, sizeof(b));
	LERR(w, &l, "%s.timeout: %s%s is longer than the interval %s"
	    " (expected timeout <= interval)", key, a, tmo ? "" : " (default)", b);
}

static void check_services(struct walk *w, const config_t *lc, struct pg_config *cfg)
{
	const config_setting_t *admin = config_lookup(lc, "admin.listen");
	char key[CFG_PATH_MAX];

	for (size_t i = 0; i < cfg->nservices; i++) {
		struct cfg_service *svc = &cfg->services[i];
		const config_setting_t *el = find(lc, "services", (unsigned)i, NULL, -1);

		svc->line = el ? (int)config_setting_source_line(el) : 0;
		resolve_service(w, lc, cfg, i);

		keyf(key, sizeof(key), "services[%zu].check", i);
		check_timeout(w, find(lc, "services", (unsigned)i, "check", -1),
		    loc_find(w, lc, "services", (unsigned)i, NULL, -1), key,
		    svc->check.timeout_ms, svc->check.interval_ms);

		/* A listen address once in the whole file, admin.listen included. */
		for (size_t k = 0; k < svc->nlisten; k++) {
			struct cfg_addr *x = &svc->listen[k];
			bool dup = false;

			if (x->text == NULL)
				continue;
			struct loc l = loc_find(w, lc, "services", (unsigned)i, "listen", (int)k);

			if (cfg->admin_listen.text != NULL && addr_equal(x, &cfg->admin_listen)) {
				if (admin != NULL)
					LERR(w, &l, "services[%zu].listen[%zu]: \"%s\" is already used by"
					    " admin.listen at line %u (expected each address once)",
					    i, k, x->text, config_setting_source_line(admin));
				else
					LERR(w, &l, "services[%zu].listen[%zu]: \"%s\" is already used by"
					    " admin.listen (default) (expected each address once)",
					    i, k, x->text);
				continue;
			}
			for (size_t j = 0; j <= i && !dup; j++) {
				struct cfg_service *o = &cfg->services[j];

				for (size_t m = 0; m < (j == i ? k : o->nlisten) && !dup; m++) {
					if (o->listen[m].text == NULL || !addr_equal(x, &o->listen[m]))
						continue;
					struct loc lo = loc_find(w, lc, "services", (unsigned)j, "listen",
					    (int)m);

					LERR(w, &l, "services[%zu].listen[%zu]: \"%s\" is already used by"
					    " services[%zu].listen[%zu] at line %u (expected each address once)",
					    i, k, x->text, j, m, lo.line);
					dup = true;
				}
			}
		}
	}
	check_unique_names(w, lc, "services", cfg->services ? cfg->services[0].name : NULL,
	    sizeof(struct cfg_service), cfg->nservices);
}

static void check_backends(struct walk *w, const config_t *lc, struct pg_config *cfg)
{
	for (size_t i = 0; i < cfg->nbackends; i++) {
		struct cfg_backend *be = &cfg->backends[i];
		const config_setting_t *el = find(lc, "backends", (unsigned)i, NULL, -1);

		be->line = el ? (int)config_setting_source_line(el) : 0;
		if (be->address.text == NULL)
			continue;
		for (size_t j = 0; j < i; j++) {
			if (cfg->backends[j].address.text == NULL ||
			    !addr_equal(&be->address, &cfg->backends[j].address))
				continue;
			struct loc l = loc_find(w, lc, "backends", (unsigned)i, "address", -1);
			struct loc lj = loc_find(w, lc, "backends", (unsigned)j, "address", -1);

			LERR(w, &l, "backends[%zu].address: \"%s\" is already the address of"
			    " backends[%zu] at line %u (expected a unique address)",
			    i, be->address.text, j, lj.line);
			break;
		}
	}
	check_unique_names(w, lc, "backends", cfg->backends ? cfg->backends[0].name : NULL,
	    sizeof(struct cfg_backend), cfg->nbackends);
}

/*
 * The cluster group: where Redis is (a list of servers, or Sentinels with
 * the master's name, one way only), and a prefix that can be a key.
 */
static void check_cluster(struct walk *w, const config_t *lc, struct pg_config *cfg)
{
	const config_setting_t *g = config_lookup(lc, "cluster");
	const config_setting_t *redis, *sentinel, *master, *prefix;
	struct loc l;

	if (g == NULL || !config_setting_is_group(g))
		return;
	l = loc_of(w, g, NULL);
	redis = config_setting_get_member(g, "redis");
	sentinel = config_setting_get_member(g, "sentinel");
	master = config_setting_get_member(g, "master");
	prefix = config_setting_get_member(g, "prefix");
	if (redis == NULL && sentinel == NULL)
		LERR(w, &l, "cluster: neither redis nor sentinel is given (expected"
		    " redis = [ \"ADDR:PORT\", ... ] or sentinel = [ ... ] with master)");
	if (redis != NULL && sentinel != NULL) {
		struct loc s = loc_of(w, sentinel, "cluster.sentinel");
		LERR(w, &s, "cluster.sentinel: given with cluster.redis (expected"
		    " one of them: Sentinel tells where the master is)");
	}
	if (sentinel != NULL && master == NULL) {
		struct loc s = loc_of(w, sentinel, "cluster.sentinel");
		LERR(w, &s, "cluster.sentinel: without cluster.master (expected the"
		    " Sentinels' name of the master, as in their \"sentinel monitor\")");
	}
	if (master != NULL && sentinel == NULL) {
		struct loc s = loc_of(w, master, "cluster.master");
		LERR(w, &s, "cluster.master: only with cluster.sentinel");
	}
	if (prefix != NULL && cfg->cluster.prefix != NULL) {
		for (const char *p = cfg->cluster.prefix; *p; p++) {
			if ((unsigned char)*p <= 0x20 || (unsigned char)*p >= 0x7f) {
				struct loc s = loc_of(w, prefix, "cluster.prefix");
				char q[96];

				quote(cfg->cluster.prefix, q, sizeof(q));
				LERR(w, &s, "cluster.prefix: %s holds a space or a"
				    " character that is not printable ASCII (expected"
				    " such as \"poolgate:\")", q);
				break;
			}
		}
	}
}

/*
 * The top-level groups: the agent's timeout against its interval, a
 * discovery group that names something to discover, the cluster group.
 */
static void check_groups(struct walk *w, const config_t *lc, struct pg_config *cfg)
{
	const config_setting_t *agent = config_lookup(lc, "agent");
	const config_setting_t *disc = config_lookup(lc, "discovery");
	struct loc top = { w->path, 1, NULL };

	const config_setting_t *ca = config_lookup(lc, "ssh_host_ca");

	check_timeout(w, agent, agent ? loc_of(w, agent, NULL) : top, "agent",
	    cfg->agent.timeout_ms, cfg->agent.interval_ms);

	cfg->ssh_host_ca_fp[0] = '\0';
	if (ca != NULL && cfg->ssh_host_ca != NULL) {
		const char *line = cfg->ssh_host_ca;

		/* The line may be copied from known_hosts, marker and names first. */
		if (strncmp(line, "@cert-authority", 15) == 0) {
			line += 15;
			line += strspn(line, " \t");
			line += strcspn(line, " \t");
		}
		if (ssh_key_fingerprint(line, cfg->ssh_host_ca_fp,
		    sizeof(cfg->ssh_host_ca_fp)) == -1) {
			struct loc l = loc_of(w, ca, NULL);

			LERR(w, &l, "ssh_host_ca: not an OpenSSH public key line "
			    "(expected \"TYPE BASE64 [comment]\", as in the CA's .pub file)");
		}
	}
	/* A host name in users' known_hosts line (GET /ssh_known_hosts). */
	if (cfg->ssh_host_principal != NULL &&
	    strspn(cfg->ssh_host_principal, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789.:_-") != strlen(cfg->ssh_host_principal)) {
		const config_setting_t *pr = config_lookup(lc, "ssh_host_principal");
		struct loc l = pr ? loc_of(w, pr, NULL) : top;

		LERR(w, &l, "ssh_host_principal: not a host name (expected the pool's DNS"
		    " name, letters, digits and .:_-, such as \"pool.example.com\")");
	}

	/*
	 * Judged on the file, not on what was stored: a file or dns that is
	 * given but invalid was reported already, and is not "missing" too.
	 */
	check_cluster(w, lc, cfg);

	if (disc != NULL && config_setting_is_group(disc) &&
	    config_setting_get_member(disc, "file") == NULL &&
	    config_setting_get_member(disc, "dns") == NULL) {
		struct loc l = loc_of(w, disc, NULL);

		LERR(w, &l, "discovery: neither file nor dns is given (expected file, dns or both)");
	}
}

/* ------------------------------------------------------------------ */
/* Reading the file                                                   */
/* ------------------------------------------------------------------ */

/*
 * Read the whole file, at most CFG_FILE_MAX bytes. Returns a NUL-terminated
 * buffer the caller frees, or NULL after adding an error.
 */
static char *read_text(struct walk *w, const char *path)
{
	FILE *f = NULL;
	char *buf = NULL, *ret = NULL;
	size_t len = 0, cap = 0;
	struct stat st;

	if ((f = fopen(path, "r")) == NULL) {
		werr(w, NULL, 0, "cannot open the file: %s", strerror(errno));
		goto out;
	}
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		werr(w, NULL, 0, "cannot read the file: %s", strerror(EISDIR));
		goto out;
	}
	for (;;) {
		size_t got;

		if (cap - len < 4096) {
			cap = cap ? cap * 2 : 8192;
			buf = xrealloc(buf, cap + 1);
		}
		got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (len > CFG_FILE_MAX) {
			werr(w, NULL, 0, "file too large (expected at most %u bytes)", CFG_FILE_MAX);
			goto out;
		}
		if (got == 0)
			break;
	}
	if (ferror(f)) {
		werr(w, NULL, 0, "cannot read the file: %s", strerror(errno));
		goto out;
	}
	if (buf == NULL)
		buf = xrealloc(NULL, 1);
	buf[len] = '\0';
	if (memchr(buf, '\0', len) != NULL) {
		unsigned line = 1;

		for (const char *p = buf; *p; p++)
			line += *p == '\n';
		werr(w, NULL, line, "syntax error: NUL byte in the file (expected text)");
		goto out;
	}
	ret = buf;
	buf = NULL;     /* transferred */
out:
	free(buf);
	if (f != NULL)
		fclose(f);
	return ret;
}

/*
 * A small lexer for libconfig text, enough to find values: strings, numbers
 * and names, with whitespace and comments skipped exactly as libconfig's
 * scanner does. Used to fix two things libconfig 1.5 gets wrong (below).
 */
enum tok_kind { TK_END, TK_STRING, TK_NUMBER, TK_NAME, TK_OTHER };

struct tok {
	enum tok_kind kind;
	size_t        start, end;       /* offsets in the text */
	unsigned      line;             /* line of the first character */
};

static bool name_char(char c)
{
	return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '*';
}

/* The token at *pos; advances *pos past it and *line past its newlines. */
static struct tok lex(const char *in, size_t n, size_t *pos, unsigned *line)
{
	size_t i = *pos;
	struct tok t;

	for (;;) {
		if (i < n && isspace((unsigned char)in[i])) {
			*line += in[i++] == '\n';
		} else if (i < n && (in[i] == '#' || (in[i] == '/' && in[i + 1] == '/'))) {
			while (i < n && in[i] != '\n')
				i++;
		} else if (i < n && in[i] == '/' && in[i + 1] == '*') {
			for (i += 2; i < n && !(in[i] == '*' && in[i + 1] == '/'); i++)
				*line += in[i] == '\n';
			i = i < n ? i + 2 : n;
		} else {
			break;
		}
	}
	t.start = i;
	t.line = *line;
	if (i >= n) {
		t.kind = TK_END;
	} else if (in[i] == '"') {
		t.kind = TK_STRING;
		for (i++; i < n && in[i] != '"'; i++) {
			if (in[i] == '\\' && i + 1 < n)
				i++;
			*line += in[i] == '\n';
		}
		i += i < n;
	} else if (isalpha((unsigned char)in[i]) || in[i] == '*') {
		/* a name may hold digits: [A-Za-z*][-A-Za-z0-9_*]* */
		t.kind = TK_NAME;
		while (i < n && name_char(in[i]))
			i++;
	} else if (isdigit((unsigned char)in[i]) || (in[i] == '.' && isdigit((unsigned char)in[i + 1])) ||
	    ((in[i] == '-' || in[i] == '+') && (isdigit((unsigned char)in[i + 1]) || in[i + 1] == '.'))) {
		/* the whole number, floats and the L suffix included */
		t.kind = TK_NUMBER;
		i++;
		while (i < n && (isalnum((unsigned char)in[i]) || in[i] == '.' || in[i] == '_' ||
		    ((in[i] == '-' || in[i] == '+') && (in[i - 1] == 'e' || in[i - 1] == 'E'))))
			i++;
	} else {
		t.kind = TK_OTHER;
		i++;
	}
	t.end = i;
	*pos = i;
	return t;
}

/* Is this number token a plain integer too wide for a 32-bit int? */
static bool wide_int(const char *in, const struct tok *t)
{
	size_t d = t->start, end = t->end, k;
	bool neg = false;
	unsigned long long v = 0;

	if (in[d] == '-' || in[d] == '+')
		neg = in[d++] == '-';
	if (end - d > 2 && in[d] == '0' && (in[d + 1] == 'x' || in[d + 1] == 'X')) {
		for (k = d + 2; k < end; k++)
			if (!isxdigit((unsigned char)in[k]))
				return false;
		for (k = d + 2; k < end - 1 && in[k] == '0'; k++)
			;
		return end - k > 8 || (end - k == 8 && strchr("89abcdefABCDEF", in[k]) != NULL);
	}
	for (k = d; k < end; k++)
		if (!isdigit((unsigned char)in[k]))
			return false;       /* a float, or already 64-bit (L) */
	for (k = d; k < end - 1 && in[k] == '0'; k++)
		;
	if (end - k > 10)
		return true;
	for (; k < end; k++)
		v = v * 10 + (unsigned long long)(in[k] - '0');
	return v > (neg ? 2147483648ULL : 2147483647ULL);
}

/*
 * libconfig 1.5 reads an integer literal without the L suffix into an int
 * and silently wraps anything wider: "4294967297" becomes 1, which would then
 * pass a range check. Append the L to such literals, so libconfig reads them
 * as 64-bit and the range check sees the real value. Only inserts
 * characters, never a newline, so line numbers stay true.
 * Returns a new buffer (the caller frees it).
 */
static char *widen_ints(const char *in)
{
	size_t n = strlen(in), pos = 0, done = 0, o = 0;
	unsigned line = 1;
	/* a literal gains one byte and is at least 10 long (or "0x" + 8) */
	char *out = xrealloc(NULL, n + n / 8 + 2);
	struct tok t;

	while ((t = lex(in, n, &pos, &line)).kind != TK_END) {
		if (t.kind != TK_NUMBER || !wide_int(in, &t))
			continue;
		memcpy(out + o, in + done, t.end - done);
		o += t.end - done;
		out[o++] = 'L';
		done = t.end;
	}
	memcpy(out + o, in + done, n - done);
	o += n - done;
	out[o] = '\0';
	return out;
}

/*
 * libconfig records the line of a scalar element of an array or list only
 * after reading the token that follows it (it must see whether another
 * string is glued on), so the last address of
 *     listen = [ "0.0.0.0:22",
 *                "[::]:22"
 *     ];
 * is said to be on the line of "];". The scalar values of the text, in
 * order, are the scalars of the tree in document order: give each element
 * its true line, kept in the setting's hook (read back by loc_of()). When the
 * counts differ (an @include brought more values), keep libconfig's lines.
 */
static void count_scalars(config_setting_t *s, size_t *k)
{
	if (config_setting_is_aggregate(s)) {
		for (int i = 0; i < config_setting_length(s); i++)
			count_scalars(config_setting_get_elem(s, (unsigned)i), k);
	} else {
		(*k)++;
	}
}

static void set_scalar_lines(config_setting_t *s, const unsigned *lines, size_t *k)
{
	if (config_setting_is_aggregate(s)) {
		for (int i = 0; i < config_setting_length(s); i++)
			set_scalar_lines(config_setting_get_elem(s, (unsigned)i), lines, k);
		return;
	}
	if (config_setting_name(s) == NULL)
		config_setting_set_hook(s, (void *)(uintptr_t)lines[*k]);
	(*k)++;
}

static void fix_element_lines(const char *text, config_setting_t *root)
{
	size_t n = strlen(text), pos = 0, nval = 0, cap = 0, k = 0;
	unsigned line = 1, *lines = NULL;
	bool after_string = false;
	struct tok t;

	while ((t = lex(text, n, &pos, &line)).kind != TK_END) {
		bool value = t.kind == TK_NUMBER ||
		    (t.kind == TK_STRING && !after_string) ||       /* "a" "b" is one value */
		    (t.kind == TK_NAME && ((t.end - t.start == 4 && !strncasecmp(text + t.start, "true", 4)) ||
		    (t.end - t.start == 5 && !strncasecmp(text + t.start, "false", 5))));

		after_string = t.kind == TK_STRING;
		if (!value)
			continue;
		if (nval == cap) {
			cap = cap ? cap * 2 : 64;
			lines = xrealloc(lines, cap * sizeof(*lines));
		}
		lines[nval++] = t.line;
	}
	count_scalars(root, &k);
	if (k == nval) {
		k = 0;
		set_scalar_lines(root, lines, &k);
	}
	free(lines);
}

/*
 * An unquoted duration (interval = 2s;) is a bare "syntax error" to
 * libconfig: it reads the number 2, then a name it did not expect. When
 * line `line` of text holds NAME = DIGITS UNIT outside strings and
 * comments, write the fix into buf ("interval = \"2s\";") and return true.
 */
static bool duration_hint(const char *text, unsigned line, char *buf, size_t len)
{
	const char *p = text, *end;

	for (unsigned l = 1; l < line && p != NULL; l++)
		if ((p = strchr(p, '\n')) != NULL)
			p++;
	if (line == 0 || p == NULL)
		return false;
	end = p + strcspn(p, "\n");
	for (const char *s = p; s < end; s++) {
		const char *name = s, *eq, *num, *unit;
		size_t nlen, ulen = 0;

		if (*s == '"') {                /* skip a string: its text is no setting */
			for (s++; s < end && *s != '"'; s++)
				s += *s == '\\' && s + 1 < end;
			continue;
		}
		if (*s == '#' || (*s == '/' && (s[1] == '/' || s[1] == '*')))
			return false;
		if (!(isalpha((unsigned char)*s) || *s == '*') || (s > p && name_char(s[-1])))
			continue;
		while (s < end && name_char(*s))
			s++;
		nlen = (size_t)(s - name);
		for (eq = s; eq < end && (*eq == ' ' || *eq == '\t'); eq++)
			;
		s--;                            /* the loop steps past the name */
		if (eq == end || (*eq != '=' && *eq != ':'))
			continue;
		for (num = eq + 1; num < end && (*num == ' ' || *num == '\t'); num++)
			;
		for (unit = num; unit < end && isdigit((unsigned char)*unit); unit++)
			;
		if (unit == num)
			continue;
		for (size_t i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]); i++) {
			size_t n = strlen(duration_units[i].name);

			if (n > ulen && (size_t)(end - unit) >= n &&
			    strncmp(unit, duration_units[i].name, n) == 0)
				ulen = n;
		}
		if (ulen == 0 || (unit + ulen < end && (name_char(unit[ulen]) || unit[ulen] == '.')))
			continue;
		/* a name or number too long for buf is no setting of ours */
		return (size_t)snprintf(buf, len, "%.*s = \"%.*s\";", (int)nlen, name,
		    (int)(unit + ulen - num), num) < len;
	}
	return false;
}

/* ------------------------------------------------------------------ */
/* Load and free                                                      */
/* ------------------------------------------------------------------ */

int cfg_load(const char *path, struct pg_config **out, struct cfg_errors *errs)
{
	struct walk w = { .path = path };
	struct pg_config *cfg = NULL;
	char *text = NULL, *wide = NULL;
	config_t lc;
	int rc = -1;

	*out = NULL;
	config_init(&lc);
	/*
	 * No CONFIG_OPTION_AUTOCONVERT: with it, libconfig would hand 1.5 to an
	 * integer setting as 1. Integers written 20 and 20L are both accepted by
	 * set_value(), which takes CONFIG_TYPE_INT and CONFIG_TYPE_INT64 alike.
	 */
	config_set_options(&lc, config_get_options(&lc) & ~CONFIG_OPTION_AUTOCONVERT);

	if ((text = read_text(&w, path)) == NULL)
		goto out;
	wide = widen_ints(text);
	if (!config_read_string(&lc, wide)) {
		const char *t = config_error_text(&lc) ? config_error_text(&lc) : "syntax error";
		unsigned line = (unsigned)config_error_line(&lc);
		char fix[CFG_PATH_MAX + 32];

		/*
		 * Only in this file's text (no file name: an @include names its
		 * own), on the line libconfig names or, when the unit ends the
		 * line, the one before it (libconfig has read on to the next token).
		 */
		if (strcmp(t, "syntax error") == 0 && config_error_file(&lc) == NULL &&
		    (duration_hint(text, line, fix, sizeof(fix)) ||
		    duration_hint(text, line - 1, fix, sizeof(fix))))
			werr(&w, NULL, line, "syntax error (durations are strings: write %s)", fix);
		else if (strcmp(t, "syntax error") == 0)
			werr(&w, config_error_file(&lc), line, "syntax error");
		else
			werr(&w, config_error_file(&lc), line, "syntax error: %s", t);
		goto out;
	}

	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL) {
		fprintf(stderr, "poolgate: config: out of memory\n");
		abort();
	}
	cfg->path = xstrdup(path);
	fix_element_lines(wide, config_root_setting(&lc));
	walk_group(&w, config_root_setting(&lc), "", "", cfg, path, 1);
	check_services(&w, &lc, cfg);
	check_backends(&w, &lc, cfg);
	check_groups(&w, &lc, cfg);
	if (w.nerr == 0) {
		*out = cfg;
		cfg = NULL;     /* transferred */
		rc = 0;
	}
out:
	if (w.nerr > 0)
		qsort(w.err, w.nerr, sizeof(*w.err), err_cmp);
	for (size_t i = 0; i < w.nerr; i++)
		errors_push(errs, w.err[i].msg);        /* transferred */
	free(w.err);
	cfg_free(cfg);
	config_destroy(&lc);
	free(wide);
	free(text);
	return rc;
}

static void addr_free(struct cfg_addr *a)
{
	free(a->text);
	a->text = NULL;
}

/*
 * Does a row of this type store an owned string (char *)? *at is then its
 * offset from the row's off: 0, or that of cfg_addr.text.
 */
static bool owns_string(enum cfg_type t, size_t *at)
{
	switch (t) {
	case CFG_T_STRING:
	case CFG_T_URL_PATH:
	case CFG_T_ABS_PATH:
	case CFG_T_DNS_NAME:
	case CFG_T_USER:
		*at = 0;
		return true;
	case CFG_T_ADDR:
	case CFG_T_HOST:
	case CFG_T_ADDR_LIST:
		*at = offsetof(struct cfg_addr, text);
		return true;
	default:
		return false;   /* stored inline, or nothing */
	}
}

void cfg_free(struct pg_config *cfg)
{
	if (cfg == NULL)
		return;
	for (size_t i = 0; i < cfg->nservices; i++)
		cfg_service_clear(&cfg->services[i]);
	for (size_t i = 0; i < cfg->nbackends; i++)
		addr_free(&cfg->backends[i].address);
	free(cfg->services);
	free(cfg->backends);
	/* the strings of the rows outside the lists, found from the table */
	for (size_t k = 0; k < cfg_nsettings; k++) {
		const struct cfg_setting *e = &cfg_settings[k];
		size_t at;

		if (strchr(e->path, '[') != NULL || !owns_string(e->type, &at))
			continue;
		if (e->type == CFG_T_ADDR_LIST) {
			struct cfg_addr *arr = (struct cfg_addr *)(void *)((char *)cfg + e->off);
			size_t n;

			memcpy(&n, (char *)cfg + e->off_n, sizeof(n));
			for (size_t i = 0; i < n && i < (size_t)e->max; i++)
				addr_free(&arr[i]);
			continue;
		}
		free(*(char **)(void *)((char *)cfg + e->off + at));
	}
	free(cfg->path);
	free(cfg);
}

/* ------------------------------------------------------------------ */
/* Copies of a service                                                */
/* ------------------------------------------------------------------ */

/* Owned strings of one service: its string rows and each listen[].text. */
#define SVC_STRINGS_MAX (CFG_MAX_LISTEN + 32)

/*
 * The offsets in struct cfg_service of every owned string (char *) of s,
 * found from the table, so that a string setting added to it is copied and
 * freed without anyone remembering to. Returns how many.
 */
static size_t svc_strings(const struct cfg_service *s, size_t off[SVC_STRINGS_MAX])
{
	static const char prefix[] = "services[].";
	size_t n = 0;

	for (size_t k = 0; k < cfg_nsettings; k++) {
		const struct cfg_setting *e = &cfg_settings[k];
		size_t cnt = 1, stride = 0, at;

		if (strncmp(e->path, prefix, sizeof(prefix) - 1) != 0 || !owns_string(e->type, &at))
			continue;
		at += e->off;
		if (e->type == CFG_T_ADDR_LIST) {
			memcpy(&cnt, (const char *)s + e->off_n, sizeof(cnt));
			stride = sizeof(struct cfg_addr);
		}
		for (size_t j = 0; j < cnt; j++) {
			/* more than the array holds: the struct is not a service */
			if (n == SVC_STRINGS_MAX || (e->type == CFG_T_ADDR_LIST && j >= (size_t)e->max)) {
				fprintf(stderr, "poolgate: config: %s: too many strings\n", e->path);
				abort();
			}
			off[n++] = at + j * stride;
		}
	}
	return n;
}

static char **svc_slot(struct cfg_service *s, size_t off)
{
	return (char **)(void *)((char *)s + off);
}

int cfg_service_copy(struct cfg_service *dst, const struct cfg_service *src)
{
	size_t off[SVC_STRINGS_MAX];
	size_t n = svc_strings(src, off);

	*dst = *src;
	/* dst owns nothing until each string is its own: a failure can clear it */
	for (size_t k = 0; k < n; k++)
		*svc_slot(dst, off[k]) = NULL;
	for (size_t k = 0; k < n; k++) {
		const char *from = *(char *const *)(const void *)((const char *)src + off[k]);
		char *to;

		if (from == NULL)
			continue;
		if ((to = strdup(from)) == NULL) {
			cfg_service_clear(dst);
			return -1;
		}
		*svc_slot(dst, off[k]) = to;
	}
	return 0;
}

void cfg_service_clear(struct cfg_service *s)
{
	size_t off[SVC_STRINGS_MAX];
	size_t n;

	if (s == NULL)
		return;
	n = svc_strings(s, off);
	for (size_t k = 0; k < n; k++)
		free(*svc_slot(s, off[k]));
	memset(s, 0, sizeof(*s));
}

/* ------------------------------------------------------------------ */
/* Summary                                                            */
/* ------------------------------------------------------------------ */

struct sbuf {
	char   *buf;
	size_t  len;
	size_t  pos;
	bool    cut;
};

static void sb_add(struct sbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sb_add(struct sbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (sb->cut || sb->len == 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(sb->buf + sb->pos, sb->len - sb->pos, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sb->len - sb->pos) {
		sb->cut = true;
		sb->pos = sb->len - 1;
		if (sb->len >= 4)       /* show that the line goes on */
			memcpy(sb->buf + sb->len - 4, "...", 4);
		return;
	}
	sb->pos += (size_t)n;
}

void cfg_summary(const struct pg_config *cfg, char *buf, size_t len)
{
	struct sbuf sb = { buf, len, 0, false };
	char d[32];

	if (len == 0)
		return;
	buf[0] = '\0';
	if (cfg == NULL) {
		sb_add(&sb, "no configuration");
		return;
	}
	sb_add(&sb, "%zu service%s:", cfg->nservices, cfg->nservices == 1 ? "" : "s");
	for (size_t i = 0; i < cfg->nservices; i++) {
		const struct cfg_service *svc = &cfg->services[i];

		sb_add(&sb, "%s %s (%s", i ? "," : "", svc->name, cfg_mode_name(svc->mode));
		for (size_t k = 0; k < svc->nlisten; k++)
			sb_add(&sb, " %s", svc->listen[k].text);
		sb_add(&sb, " -> port %d, ", svc->port);
		if (svc->check.type == CHECK_NONE) {
			sb_add(&sb, "no check");
		} else {
			cfg_format_duration(svc->check.interval_ms, d, sizeof(d));
			sb_add(&sb, "check %s every %s", cfg_check_name(svc->check.type), d);
		}
		if (svc->queue.enabled) {
			cfg_format_duration(svc->queue.timeout_ms, d, sizeof(d));
			sb_add(&sb, ", queue %d for %s", svc->queue.max, d);
		}
		sb_add(&sb, ")");
	}
	sb_add(&sb, "; admin %s", cfg->admin_listen.text ? cfg->admin_listen.text : "-");
	if (cfg->agent.enabled) {
		cfg_format_duration(cfg->agent.interval_ms, d, sizeof(d));
		sb_add(&sb, "; agent port %d every %s", cfg->agent.port, d);
	}
	if (cfg->hooks.enabled)
		sb_add(&sb, "; hooks %s", cfg->hooks.command ? cfg->hooks.command : "-");
	if (cfg->cluster.enabled)
		sb_add(&sb, "; cluster node %s via %s %s", cfg->cluster.node,
		    cfg->cluster.nsentinel > 0 ? "sentinel" : "redis",
		    cfg->cluster.nsentinel > 0 ? cfg->cluster.master :
		    cfg->cluster.nredis > 0 && cfg->cluster.redis[0].text ?
		    cfg->cluster.redis[0].text : "-");
	if (cfg->discovery.enabled) {
		sb_add(&sb, "; discovery");
		if (cfg->discovery.file != NULL)
			sb_add(&sb, " file %s", cfg->discovery.file);
		if (cfg->discovery.dns != NULL)
			sb_add(&sb, " dns %s", cfg->discovery.dns);
		cfg_format_duration(cfg->discovery.refresh_ms, d, sizeof(d));
		sb_add(&sb, " every %s", d);
	}
	sb_add(&sb, "; %zu backend%s%s", cfg->nbackends, cfg->nbackends == 1 ? "" : "s",
	    cfg->nbackends ? ":" : "");
	for (size_t i = 0; i < cfg->nbackends; i++)
		sb_add(&sb, "%s %s %s", i ? "," : "", cfg->backends[i].name,
		    cfg->backends[i].address.text);
}

/* ------------------------------------------------------------------ */
/* Reload plan                                                        */
/* ------------------------------------------------------------------ */

/* Names are paths as keyf() builds them; values are quote()d or shorter. */
_Static_assert(CFG_PLAN_NAME_MAX == CFG_PATH_MAX, "a plan name is a setting path");
_Static_assert(CFG_PLAN_VALUE_MAX >= QUOTE_BUF, "a plan value holds a quoted value");

static const void *cfield(const void *base, const struct cfg_setting *e)
{
	return (const char *)base + e->off;
}

static void *field(void *base, const struct cfg_setting *e)
{
	return (char *)base + e->off;
}

/* Bytes of a value stored inline and compared as such; 0 for the others. */
static size_t inline_size(enum cfg_type t)
{
	switch (t) {
	case CFG_T_GROUP:       /* the presence bool of a switch group */
	case CFG_T_BOOL:
		return sizeof(bool);
	case CFG_T_INT:
	case CFG_T_ENUM:
		return sizeof(int);
	case CFG_T_DURATION:
		return sizeof(uint64_t);
	default:
		return 0;
	}
}

static bool str_equal(const char *a, const char *b)
{
	return a == NULL || b == NULL ? a == b : strcmp(a, b) == 0;
}

static bool caddr_equal(const struct cfg_addr *a, const struct cfg_addr *b)
{
	return a->text == NULL || b->text == NULL ? a->text == b->text : addr_equal(a, b);
}

/*
 * Does row e hold the same value in a and b (each the struct e's offsets
 * are relative to)? Addresses compare as the daemon binds them: "*:22" and
 * "0.0.0.0:22" are one.
 */
static bool row_equal(const struct cfg_setting *e, const void *a, const void *b)
{
	size_t n = inline_size(e->type), at;

	if (n > 0)
		return memcmp(cfield(a, e), cfield(b, e), n) == 0;
	switch (e->type) {
	case CFG_T_NAME:
	case CFG_T_TOKEN:
		return strcmp(cfield(a, e), cfield(b, e)) == 0;
	case CFG_T_ADDR:
	case CFG_T_HOST:
		return caddr_equal(cfield(a, e), cfield(b, e));
	case CFG_T_ADDR_LIST: {
		const struct cfg_addr *x = cfield(a, e), *y = cfield(b, e);
		size_t nx, ny;

		memcpy(&nx, (const char *)a + e->off_n, sizeof(nx));
		memcpy(&ny, (const char *)b + e->off_n, sizeof(ny));
		for (size_t i = 0; nx == ny && i < nx; i++)
			if (!caddr_equal(&x[i], &y[i]))
				return false;
		return nx == ny;
	}
	default:
		if (!owns_string(e->type, &at)) {
			fprintf(stderr, "poolgate: config: %s: cannot compare\n", e->path);
			abort();
		}
		return str_equal(*(char *const *)cfield(a, e), *(char *const *)cfield(b, e));
	}
}

/*
 * Start-only rows are top-level integers, booleans and strings (test_config
 * checks the table): what row_text() and row_copy() know. A row of another
 * type given CFG_F_START_ONLY is a bug, caught here before it misleads.
 */
static bool start_only_type(const struct cfg_setting *e)
{
	size_t at;

	return e->type == CFG_T_INT || e->type == CFG_T_BOOL ||
	    (owns_string(e->type, &at) && at == 0);
}

/* A start-only value as written in the file, for the log: 4, true,
 * "/var/lib/poolgate"; (none) for an absent optional string. */
static void row_text(const struct cfg_setting *e, const void *base, char *buf, size_t len)
{
	const char *s;
	int v;

	if (e->type == CFG_T_BOOL) {
		snprintf(buf, len, "%s", *(const bool *)cfield(base, e) ? "true" : "false");
	} else if (e->type == CFG_T_INT) {
		memcpy(&v, cfield(base, e), sizeof(v));
		snprintf(buf, len, "%d", v);
	} else if ((s = *(char *const *)cfield(base, e)) == NULL) {
		snprintf(buf, len, "(none)");
	} else {
		quote(s, buf, len);
	}
}

/*
 * Put the value of row e in src into dst: a start-only value back into the
 * configuration to apply. dst owns its copy (and frees what it held).
 */
static void row_copy(const struct cfg_setting *e, void *dst, const void *src)
{
	const char *s;

	if (e->type == CFG_T_BOOL || e->type == CFG_T_INT) {
		memcpy(field(dst, e), cfield(src, e), inline_size(e->type));
		return;
	}
	s = *(char *const *)cfield(src, e);
	free(*(char **)field(dst, e));
	*(char **)field(dst, e) = s ? xstrdup(s) : NULL;
}

static void plan_live(struct cfg_plan *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void plan_live(struct cfg_plan *p, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (p->nlive == CFG_PLAN_LIVE_MAX) {
		p->live_more++;
		return;
	}
	va_start(ap, fmt);
	n = vsnprintf(p->live[p->nlive], sizeof(p->live[0]), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(p->live[0])) {
		fprintf(stderr, "poolgate: config: setting path too long: %s\n", p->live[p->nlive]);
		abort();
	}
	p->nlive++;
}

static void plan_keep(struct cfg_plan *p, const struct cfg_setting *e, const char *key,
    const void *running, void *next)
{
	struct cfg_plan_kept *k;

	if (p->nkept == CFG_PLAN_KEPT_MAX) {
		/* test_config: the table has at most CFG_PLAN_KEPT_MAX such rows */
		fprintf(stderr, "poolgate: config: more start-only settings than"
		    " CFG_PLAN_KEPT_MAX\n");
		abort();
	}
	if (strchr(e->path, '.') != NULL || strchr(e->path, '[') != NULL || !start_only_type(e)) {
		fprintf(stderr, "poolgate: config: %s cannot be read at start only"
		    " (see CFG_F_START_ONLY)\n", e->path);
		abort();
	}
	k = &p->kept[p->nkept++];
	snprintf(k->name, sizeof(k->name), "%s", key);
	row_text(e, running, k->running, sizeof(k->running));
	row_text(e, next, k->file, sizeof(k->file));
	row_copy(e, next, running);
}

static void plan_rows(struct cfg_plan *p, const char *tprefix, const char *kprefix,
    const void *running, void *next);

/* The row "<list>[].name" of a list: elements are matched by name. */
static const struct cfg_setting *list_name_row(const struct cfg_setting *list)
{
	size_t n = strlen(list->path);

	for (size_t k = 0; k < cfg_nsettings; k++)
		if (strncmp(cfg_settings[k].path, list->path, n) == 0 &&
		    strcmp(cfg_settings[k].path + n, "[].name") == 0 &&
		    cfg_settings[k].type == CFG_T_NAME)
			return &cfg_settings[k];
	fprintf(stderr, "poolgate: config: %s has no name row\n", list->path);
	abort();
}

/*
 * Index of the element of arr (n of them) named like `name`, or n. Tries
 * `hint` first: in a file changed here and there the order stays, and a
 * reload of 4096 backends should not compare every pair.
 */
static size_t list_find(const char *arr, size_t n, const struct cfg_setting *e,
    const struct cfg_setting *name_row, const char *name, size_t hint)
{
	if (hint < n && strcmp(arr + hint * e->elem_size + name_row->off, name) == 0)
		return hint;
	for (size_t j = 0; j < n; j++)
		if (strcmp(arr + j * e->elem_size + name_row->off, name) == 0)
			return j;
	return n;
}

static void plan_list(struct cfg_plan *p, const struct cfg_setting *e, const void *running,
    void *next)
{
	const struct cfg_setting *name_row = list_name_row(e);
	const char *ra, *na;
	char tprefix[CFG_PATH_MAX], kprefix[CFG_PATH_MAX];
	size_t rn, nn;
	bool gone = false;

	memcpy(&ra, cfield(running, e), sizeof(ra));
	memcpy(&na, cfield(next, e), sizeof(na));
	memcpy(&rn, (const char *)running + e->off_n, sizeof(rn));
	memcpy(&nn, (const char *)next + e->off_n, sizeof(nn));
	keyf(tprefix, sizeof(tprefix), "%s[]", e->path);
	for (size_t i = 0; i < nn; i++) {
		char *nel = (char *)na + i * e->elem_size;
		size_t j = list_find(ra, rn, e, name_row, nel + name_row->off, i);

		if (j == rn) {
			plan_live(p, "%s[%zu]", e->path, i);    /* new in the file */
			continue;
		}
		keyf(kprefix, sizeof(kprefix), "%s[%zu]", e->path, i);
		plan_rows(p, tprefix, kprefix, ra + j * e->elem_size, nel);
	}
	for (size_t j = 0; j < rn && !gone; j++)
		gone = list_find(na, nn, e, name_row, ra + j * e->elem_size + name_row->off, j) == nn;
	if (gone)
		plan_live(p, "%s", e->path);
}

/*
 * Compare the rows below tprefix ("": the rows outside lists;
 * "services[]": those of one service, named under kprefix "services[1]").
 */
static void plan_rows(struct cfg_plan *p, const char *tprefix, const char *kprefix,
    const void *running, void *next)
{
	size_t plen = strlen(tprefix), skiplen = 0;
	const char *skip = NULL;        /* a switch group turned on or off */
	char key[CFG_PATH_MAX];

	for (size_t k = 0; k < cfg_nsettings; k++) {
		const struct cfg_setting *e = &cfg_settings[k];
		const char *rest;                       /* ".check.interval" in an element */

		if (plen == 0 ? strchr(e->path, '[') != NULL :
		    strncmp(e->path, tprefix, plen) != 0 || e->path[plen] != '.')
			continue;
		rest = e->path + plen;
		if (skip != NULL && strncmp(e->path, skip, skiplen) == 0 && e->path[skiplen] == '.')
			continue;       /* its members: the group is named alone */
		if (e->type == CFG_T_LIST) {
			plan_list(p, e, running, next);
			continue;
		}
		if ((e->type == CFG_T_GROUP && !(e->flags & CFG_F_PRESENCE)) ||
		    row_equal(e, running, next))
			continue;       /* a plain group stores nothing; its members follow */
		keyf(key, sizeof(key), "%s%s", kprefix, rest);
		if (e->type == CFG_T_GROUP) {
			skip = e->path;
			skiplen = strlen(skip);
		}
		if (e->flags & CFG_F_START_ONLY)
			plan_keep(p, e, key, running, next);
		else
			plan_live(p, "%s", key);
	}
}

int cfg_reload_plan(const struct pg_config *running, struct pg_config *next,
    struct cfg_plan *plan)
{
	memset(plan, 0, sizeof(*plan));
	plan_rows(plan, "", "", running, next);
	return (int)(plan->nkept + plan->nlive + plan->live_more);
}

void cfg_plan_live_text(const struct cfg_plan *plan, char *buf, size_t len)
{
	struct sbuf sb = { buf, len, 0, false };

	if (len == 0)
		return;
	buf[0] = '\0';
	for (size_t i = 0; i < plan->nlive; i++)
		sb_add(&sb, "%s%s", i ? ", " : "", plan->live[i]);
	if (plan->live_more > 0)
		sb_add(&sb, " and %zu more", plan->live_more);
}
