/*
 * config.h -- the poolgate configuration: types, loading and validation.
 *
 * The configuration is plain data. cfg_load() parses a libconfig file into a
 * freshly allocated struct pg_config, or reports every error it finds. The
 * running daemon keeps one pg_config; reload builds a second one beside it and
 * swaps only when cfg_load() succeeded, so a bad file never touches the
 * running one. Before the swap, cfg_reload_plan() compares the two: it puts
 * back the settings read at start only (CFG_F_START_ONLY) and names the
 * ones the reload changes.
 *
 * Every setting, its type, bounds and default lives in one table in config.c
 * (cfg_settings[]); nothing else in the tree hard-codes a default.
 */
#ifndef POOLGATE_CONFIG_H
#define POOLGATE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define CFG_NAME_MAX     63   /* service and backend names */
#define CFG_MAX_LISTEN   16   /* listen addresses per service */
#define CFG_MAX_SERVICES 32
#define CFG_MAX_BACKENDS 4096
#define CFG_COOKIE_NAME_MAX 63 /* http.cookie_name */

enum svc_mode { SVC_MODE_TCP = 0, SVC_MODE_HTTP, SVC_MODE_RDP };
/* Whose address the VM sees connections come from (services[].source). */
enum svc_source { SVC_SRC_POOLGATE = 0, SVC_SRC_CLIENT };
enum check_type { CHECK_NONE = 0, CHECK_TCP, CHECK_SSH, CHECK_HTTP, CHECK_RDP };
enum backend_tls { BTLS_NONE = 0, BTLS_VERIFY, BTLS_INSECURE };
enum user_from { USER_FROM_NONE = 0, USER_FROM_SNI };

/* A socket address together with its length and its text as written. */
struct cfg_addr {
	struct sockaddr_storage ss;
	socklen_t               len;
	char                   *text;      /* as in the file, owned */
};

struct cfg_check {
	enum check_type type;               /* default tcp; http for a mode http service */
	uint64_t        interval_ms;
	uint64_t        timeout_ms;
	int             rise;
	int             fall;
	char           *path;               /* http only, owned; NULL otherwise */
	int             expect;             /* http only: expected status; 0 otherwise */
};

/* TLS termination of a mode http or tcp service (the "tls" group). */
struct cfg_tls {
	bool  enabled;                      /* the group is in the file */
	char *cert;                         /* owned; NULL when not enabled */
	char *key;                          /* owned; NULL when not enabled */
	int   min_version;                  /* 12 or 13 (TLS 1.2, 1.3) */
	char *ciphers;                      /* owned; NULL: the system's OpenSSL policy */
};

/*
 * HTTP handling of a mode http service (the "http" group). Filled with the
 * defaults for every service, whatever its mode, group given or not.
 */
struct cfg_http {
	char     *user_prefix;              /* owned, "/.../", never NULL */
	char     *login_path;               /* owned, "/...", never NULL */
	uint64_t  header_timeout_ms;
	uint64_t  keepalive_timeout_ms;     /* 0 = close after each response */
	uint64_t  response_timeout_ms;      /* VM silent this long mid-exchange: 504 */
	uint64_t  tunnel_idle_timeout_ms;   /* 0 = none */
	char      cookie_name[CFG_COOKIE_NAME_MAX + 1];
	uint64_t  cookie_ttl_ms;
};

/*
 * Waiting room of a service (the "queue" group): a client no VM can take
 * waits up to timeout_ms for one to come up, at most max clients at once.
 * Not enabled: no queue, such a client is refused at once. A mode http
 * service uses it only to answer 503 "starting a machine". timeout_ms and
 * max hold the defaults whether enabled or not.
 */
struct cfg_queue {
	bool      enabled;                  /* the group is in the file */
	uint64_t  timeout_ms;
	int       max;                      /* clients waiting at once, >= 1 */
};

struct cfg_service {
	char             name[CFG_NAME_MAX + 1];
	int              line;              /* where it was defined */
	struct cfg_addr  listen[CFG_MAX_LISTEN];
	size_t           nlisten;
	int              port;              /* backend port */
	enum svc_mode    mode;
	uint64_t         connect_timeout_ms;
	uint64_t         idle_timeout_ms;   /* 0 = none */
	uint64_t         first_packet_timeout_ms; /* rdp: the client's Connection Request */
	bool             by_client_ip;      /* resolved: affinity.by_client_ip if absent */
	enum svc_source  source;            /* SVC_SRC_CLIENT: IP_TRANSPARENT (tcp only) */
	struct cfg_tls   tls;
	enum user_from   user_from;         /* tcp with tls: the user from SNI */
	char            *sni_suffix;        /* owned; with user_from sni, else NULL */
	enum backend_tls backend_tls;
	char            *backend_ca;        /* owned, may be NULL: the system store */
	/*
	 * owned, may be NULL (then the VM's certificate must name its IP
	 * address): the DNS name it must name instead, "{backend}" standing
	 * for the VM's name (cfg_verify_host)
	 */
	char            *verify_name;
	struct cfg_check check;
	struct cfg_http  http;
	struct cfg_queue queue;
};

struct cfg_backend {
	char            name[CFG_NAME_MAX + 1];
	int             line;
	struct cfg_addr address;            /* port 0; services add theirs */
	int             weight;
	int             max_sessions;       /* 0 = no cap */
};

/*
 * The load agent on each VM (the "agent" group): poolgate asks VM:port
 * every interval_ms and gives up on an answer after timeout_ms
 * (<= interval_ms). port is 0 when not enabled; the durations hold the
 * defaults whether enabled or not.
 */
struct cfg_agent {
	bool      enabled;                  /* the group is in the file */
	int       port;                     /* 1..65535; 0 when not enabled */
	uint64_t  interval_ms;
	uint64_t  timeout_ms;
	bool      report;                   /* also read GET /v1/report */
};

/*
 * The operator's event hook (the "hooks" group): command is run directly
 * (no shell) for each pool event and killed past timeout_ms; a VM idle for
 * idle_grace_ms is reported idle unless the pool needs it to keep
 * `headroom` free session slots. The numbers hold the defaults whether
 * enabled or not.
 */
struct cfg_hooks {
	bool      enabled;                  /* the group is in the file */
	char     *command;                  /* owned, absolute path; NULL when not enabled */
	uint64_t  timeout_ms;
	uint64_t  idle_grace_ms;            /* 0 = idle at once */
	int       headroom;                 /* free session slots to keep */
};

/*
 * Finding VMs beyond backends[] (the "discovery" group): a file listing
 * VMs and/or a DNS name whose addresses are VMs, both read again every
 * refresh_ms. weight and max_sessions apply to the VMs found by DNS (the
 * file gives its own per line). When enabled, file or dns (or both) is
 * set; when not, both are NULL. The numbers hold the defaults whether
 * enabled or not.
 */
struct cfg_discovery {
	bool      enabled;                  /* the group is in the file */
	char     *file;                     /* owned, absolute path; may be NULL */
	char     *dns;                      /* owned, host name as written; may be NULL */
	uint64_t  refresh_ms;
	int       weight;                   /* 1..1000 */
	int       max_sessions;             /* 0 = no cap */
};

/*
 * Several poolgate nodes sharing one pool through Redis (the "cluster"
 * group). Either redis (tried in turn) or sentinel with master is given.
 * The durations hold the defaults whether enabled or not.
 */
#define CFG_CLUSTER_ADDRS_MAX 8
#define CFG_CLUSTER_PREFIX_MAX 64
struct cfg_cluster {
	bool            enabled;            /* the group is in the file */
	char            node[CFG_NAME_MAX + 1]; /* this node's name, unique in the pool */
	struct cfg_addr redis[CFG_CLUSTER_ADDRS_MAX];
	size_t          nredis;
	struct cfg_addr sentinel[CFG_CLUSTER_ADDRS_MAX];
	size_t          nsentinel;
	char            master[CFG_NAME_MAX + 1]; /* Sentinel's name of the master; "" without */
	char           *password_file;      /* owned, absolute path; may be NULL */
	char           *prefix;             /* owned, never NULL: every key starts with it */
	uint64_t        timeout_ms;         /* a Redis answer later than this: unreachable */
	uint64_t        lease_ms;           /* the hook runner's lease */
	uint64_t        node_expiry_ms;     /* a silent node's sessions leave the count */
};

/* log.target, log.format */
enum cfg_log_target { CFG_LOG_STDERR = 0, CFG_LOG_SYSLOG };
enum cfg_log_format { CFG_LOG_TEXT = 0, CFG_LOG_JSON };
/*
 * log.level. The same numbers as enum pg_log_level in lib/log.h
 * (PG_LOG_ERR = 0 .. PG_LOG_DEBUG = 3), so the daemon passes the stored
 * level on as it is; config does not include lib/log.h.
 */
enum cfg_log_level { CFG_LOG_ERROR = 0, CFG_LOG_WARN, CFG_LOG_INFO, CFG_LOG_DEBUG };

/*
 * Where and how the daemon logs (the "log" group). Every field holds its
 * default when the group, or the setting, is absent. The fields are plain
 * ints so that each can be handed on without an enum conversion: level to
 * pg_log_set_level(), facility to openlog().
 */
struct cfg_log {
	int       target;                   /* enum cfg_log_target: 0 stderr, 1 syslog */
	int       level;                    /* enum cfg_log_level: 0 error .. 3 debug */
	int       format;                   /* enum cfg_log_format: 0 text, 1 json */
	int       facility;                 /* LOG_DAEMON etc. from <syslog.h>; read
	                                       only with target syslog, always valid */
};

struct pg_config {
	char               *path;           /* file it was loaded from, owned */
	char               *state_dir;      /* owned, never NULL */
	/*
	 * The Unix user to run as: owned, a valid user name (not checked
	 * against the password database: the daemon looks it up), NULL when
	 * absent (stay the user that started poolgate). Refusing to run as
	 * root unless allow_root is the daemon's check: config only stores both.
	 */
	char               *user;
	bool                allow_root;
	struct cfg_log      log;
	struct cfg_addr     admin_listen;
	char               *admin_token_file; /* owned, may be NULL */
	char               *ssh_host_ca;      /* owned, may be NULL: the CA's public key line */
	char                ssh_host_ca_fp[96]; /* its SHA256 fingerprint, "" without */
	char               *ssh_host_principal; /* owned, may be NULL */
	uint64_t            shutdown_grace_ms;
	int                 workers;        /* relay threads; 0 = the main thread */
	int                 max_connections;
	int                 per_ip_connections; /* 0 = no cap */
	int                 per_ip_rate;    /* new connections per address per minute; 0 = no limit */
	uint64_t            tcp_keepalive_ms; /* idle before keepalive probes; 0 = off */
	uint64_t            retry_after_ms; /* Retry-After of 429/503, whole seconds */
	uint64_t            affinity_ttl_ms;
	bool                affinity_by_client_ip;
	uint64_t            session_idle_ms;
	struct cfg_service *services;       /* owned array */
	size_t              nservices;
	struct cfg_backend *backends;       /* owned array */
	size_t              nbackends;
	struct cfg_discovery discovery;
	struct cfg_agent    agent;
	struct cfg_hooks    hooks;
	struct cfg_cluster  cluster;
	bool                freebind;       /* listeners may bind addresses not held yet */
};

/* A list of human-readable errors, each "FILE:LINE: path.to.key: what (expected)". */
struct cfg_errors {
	char  **msg;
	size_t  n;
};

/*
 * Parse and validate the file at `path`.
 * Returns 0 and sets *out to a new configuration the caller frees with
 * cfg_free(); or returns -1, leaves *out NULL and appends every error found
 * to `errs` (which the caller frees with cfg_errors_free()).
 */
int  cfg_load(const char *path, struct pg_config **out, struct cfg_errors *errs);
void cfg_free(struct pg_config *cfg);

/*
 * Deep copy of one service, for holders that outlive the pg_config it came
 * from (the daemon keeps a service's settings while its sessions run on
 * across reloads). Every owned string of src is duplicated, listen[].text
 * included: dst shares no memory with src. dst is overwritten, not freed
 * first: it must hold nothing to free (zeroed, or cleared). dst != src.
 * Returns 0, and dst is released with cfg_service_clear(); or -1 on
 * allocation failure, and dst is left zeroed (nothing to free).
 */
int  cfg_service_copy(struct cfg_service *dst, const struct cfg_service *src);

/*
 * Free what a service copy owns (its strings) and zero it; s may be NULL.
 * Only for copies made by cfg_service_copy(): the services of a pg_config
 * are released by cfg_free(). Clearing twice is harmless.
 */
void cfg_service_clear(struct cfg_service *s);

/* Append a formatted message to errs; aborts on out-of-memory. */
void cfg_errors_add(struct cfg_errors *errs, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void cfg_errors_free(struct cfg_errors *errs);

/*
 * Parse a duration: a non-negative integer followed by a unit, "ms", "s", "m",
 * "h" or "d" ("500ms", "2s", "1m", "1h", "30d"). Returns 0 and stores
 * milliseconds in *ms, or -1 and leaves *ms alone on anything else (empty, no
 * unit, unknown unit, sign, fraction, space, overflow of 64 bits).
 */
int  cfg_parse_duration(const char *s, uint64_t *ms);

/*
 * Parse "ADDR:PORT" ("127.0.0.1:22", "[::1]:22", "*:22" meaning 0.0.0.0)
 * when want_port, or a bare address ("10.0.0.4", "fd00::4", "[fd00::4]")
 * otherwise. Only numeric addresses are accepted. Returns 0 on success and
 * fills *out (out->text is not touched), -1 otherwise.
 */
int  cfg_parse_addr(const char *s, bool want_port, struct cfg_addr *out);

/*
 * Describe a loaded configuration in one line (for "-t"): services (with
 * their queue), admin, agent, hooks and discovery (when enabled), backends.
 */
void cfg_summary(const struct pg_config *cfg, char *buf, size_t len);

/* Names used in configuration text and in the status output. */
const char *cfg_mode_name(enum svc_mode m);
const char *cfg_check_name(enum check_type t);
const char *cfg_user_from_name(enum user_from u);
const char *cfg_backend_tls_name(enum backend_tls b);

/*
 * The DNS name the certificate of VM `backend` must carry for service cs:
 * verify_name with each "{backend}" replaced, into buf (always
 * terminated). Returns its length, or 0 (buf "") when verify_name is not
 * set (the IP address is checked) or the name does not fit.
 */
size_t cfg_verify_host(const struct cfg_service *cs, const char *backend,
    char *buf, size_t len);

/*
 * The settings table (added by the config module).
 *
 * One entry per setting, in the order the man page documents them. It is the
 * only place that knows a setting's type, bounds and default: cfg_load() uses
 * it to apply defaults, to validate, and to list the expected keys when it
 * meets an unknown one. Read-only; lives for the whole program.
 *
 * path  dotted path as written in the file; "[]" marks "each element of this
 *       list": "services[].check.interval". A group or list has its own entry
 *       before the entries below it.
 * min, max
 *       CFG_T_INT: the value; CFG_T_DURATION: milliseconds; CFG_T_STRING,
 *       CFG_T_NAME, CFG_T_URL_PATH, CFG_T_TOKEN, CFG_T_ABS_PATH,
 *       CFG_T_DNS_NAME and CFG_T_USER: length in bytes;
 *       CFG_T_LIST and CFG_T_ADDR_LIST: number of elements. Unused (0) for
 *       the other types.
 * def   the default exactly as it would be written in the file (without the
 *       quotes of a string): "30s", "20000", "true", "127.0.0.1:9100". It is
 *       applied even inside an absent group. NULL when the setting has no
 *       default: required, optional-and-absent-means-NULL
 *       (admin.token_file), groups and lists (an absent list is empty), or
 *       resolved from other settings after the walk (services[].by_client_ip;
 *       the description then says "default: ..."). A default that depends
 *       on other settings (services[].check.type) holds the plain case here;
 *       the description names the other.
 * off, off_n, elem_size
 *       storage, private to config.c: the offset of the value (and of the
 *       element count for lists) in struct pg_config, or in struct cfg_service
 *       for entries under "services[]", or struct cfg_backend under
 *       "backends[]".
 */
enum cfg_type {
	CFG_T_GROUP,        /* { ... } holding the entries below it */
	CFG_T_LIST,         /* ( { ... }, ... ) of min..max groups */
	CFG_T_INT,          /* integer (20 or 20L), min..max */
	CFG_T_BOOL,         /* true or false */
	CFG_T_STRING,       /* string of min..max bytes */
	CFG_T_NAME,         /* string, min..max bytes of [A-Za-z0-9_.-] */
	CFG_T_DURATION,     /* string for cfg_parse_duration(), min..max ms */
	CFG_T_ENUM,         /* string, one of values[] */
	CFG_T_ADDR,         /* string "ADDR:PORT" for cfg_parse_addr() */
	CFG_T_HOST,         /* string, numeric address without port */
	CFG_T_ADDR_LIST,    /* [ "ADDR:PORT", ... ] of min..max strings */
	CFG_T_URL_PATH,     /* string, min..max bytes: "/" then printable ASCII,
	                       no space; with CFG_F_DIR it also ends in "/" */
	CFG_T_TOKEN,        /* string, min..max bytes of RFC 6265 token chars */
	CFG_T_ABS_PATH,     /* string, min..max bytes: "/" first, then no control
	                       character (0x00-0x1f, 0x7f); spaces and UTF-8 are
	                       fine */
	CFG_T_DNS_NAME,     /* string, min..max bytes: a host name, labels of 1 to
	                       63 A-Z a-z 0-9 - (no "-" first or last) joined by
	                       "." and at most one final "."; a single label is
	                       fine; the last label not all digits (an IPv4
	                       address is not a name); no "_" */
	CFG_T_USER,         /* string, min..max bytes: a Unix user name,
	                       [a-z_][a-z0-9_-]*[$]? */
};

/*
 * Absent is an error, when its group is in the file: tls.cert is required in
 * a tls group; without the group it is simply absent.
 */
#define CFG_F_REQUIRED 0x1u
/* CFG_T_GROUP: store true in the bool at off when the group is in the file. */
#define CFG_F_PRESENCE 0x2u
/* CFG_T_URL_PATH: the path must end in "/" (a prefix). */
#define CFG_F_DIR      0x4u
/* CFG_T_DURATION: a whole number of seconds (it is sent in seconds). */
#define CFG_F_SECONDS  0x8u
/*
 * Read at start only, like Redis' IMMUTABLE_CONFIG: the daemon uses the
 * value once while starting (threads started, privileges dropped, the state
 * directory prepared and read), so a reload cannot apply another one;
 * cfg_reload_plan() keeps the running value and reports both. Every row
 * without it applies at a reload. Only for top-level integer, boolean and
 * string rows: the settings of a group, service or backend always apply
 * (test_config checks the table; cfg_reload_plan() aborts on such a bug).
 */
#define CFG_F_START_ONLY 0x10u

struct cfg_enum_value {
	const char *name;       /* as written in the file; NULL ends the array */
	int         value;      /* the enum svc_mode, check_type, backend_tls,
	                           cfg_log_* value, or an int (tls.min_version:
	                           12, 13; log.syslog_facility: LOG_DAEMON ...) */
	bool        supported;  /* false: known, but rejected as "not supported yet" */
};

struct cfg_setting {
	const char                  *path;
	enum cfg_type                type;
	unsigned                     flags;     /* CFG_F_* */
	int64_t                      min, max;
	const char                  *def;
	const char                  *desc;      /* one line, for docs and errors */
	const struct cfg_enum_value *values;    /* CFG_T_ENUM only */
	size_t                       off;
	size_t                       off_n;
	size_t                       elem_size;
};

extern const struct cfg_setting cfg_settings[];
extern const size_t             cfg_nsettings;

/*
 * Write `ms` as a duration string in the largest unit that divides it
 * exactly ("0s", "500ms", "2s", "5m", "1h", "30d"), so that
 * cfg_parse_duration() reads back the same value. Always NUL-terminates when
 * len > 0 (truncating if buf is too small).
 */
void cfg_format_duration(uint64_t ms, char *buf, size_t len);

/*
 * What a reload does with each setting, planned from the table.
 *
 * Caps: every CFG_F_START_ONLY row fits in kept[] (test_config checks the
 * table against CFG_PLAN_KEPT_MAX); live changes beyond CFG_PLAN_LIVE_MAX
 * are only counted, in live_more. Names are setting paths with the index in
 * the file ("services[1].check.interval"); values are written as in the
 * file ("4", "2s", "\"poolgate\"", "(none)" for an absent optional string),
 * quoted and cut like the values of error messages.
 */
#define CFG_PLAN_KEPT_MAX  8
#define CFG_PLAN_LIVE_MAX  16
#define CFG_PLAN_NAME_MAX  128
#define CFG_PLAN_VALUE_MAX 280

/* A start-only setting the file changes: the running value stays. */
struct cfg_plan_kept {
	char name[CFG_PLAN_NAME_MAX];           /* "workers" */
	char running[CFG_PLAN_VALUE_MAX];       /* "2": in force, and kept */
	char file[CFG_PLAN_VALUE_MAX];          /* "4": waits for the next start */
};

struct cfg_plan {
	struct cfg_plan_kept kept[CFG_PLAN_KEPT_MAX];
	size_t               nkept;
	/*
	 * Settings the reload applies that differ from the running ones, in
	 * table order. A list element is matched by its name, not its place:
	 * a new element is named whole ("backends[3]"), one gone from the
	 * file names its list ("backends"), a switch group turned on or off
	 * names the group alone ("agent", "services[0].tls"). A reordered
	 * list is no change.
	 */
	char                 live[CFG_PLAN_LIVE_MAX][CFG_PLAN_NAME_MAX];
	size_t               nlive;
	size_t               live_more;         /* changed, not named: over the cap */
};

/*
 * Plan the reload from `running` (in force) to `next` (just loaded by
 * cfg_load()): compare them row by row over cfg_settings[]. For each
 * CFG_F_START_ONLY setting whose value differs, record it in plan->kept and
 * put the running value back into `next` (a copy: next keeps owning its
 * strings and running is not touched), so that `next` can be applied as it
 * is. Record every other setting that differs in plan->live.
 *
 * Pure: no I/O, no clock. None of the pointers may be NULL, and next !=
 * running. *plan is overwritten (nothing to free: it owns no memory); out
 * of memory for a copied string aborts, as in cfg_load(). Returns the
 * number of settings that differ, nkept + nlive + live_more: 0 when the
 * file changes nothing.
 */
int  cfg_reload_plan(const struct pg_config *running, struct pg_config *next,
                     struct cfg_plan *plan);

/*
 * Write plan->live as one line for the log or an event: "admin.listen,
 * services[1].check.interval and 3 more", or "" when there is none. Always
 * NUL-terminates when len > 0; a line too long for buf ends in "...".
 */
void cfg_plan_live_text(const struct cfg_plan *plan, char *buf, size_t len);

#endif
