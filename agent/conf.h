/*
 * conf.h -- poolgate-agent's configuration (libconfig): one table of
 * settings with type, default, bounds and a line of documentation
 * (acf_settings[]); loading checks every setting against it and names the
 * file and line of each error:
 *
 *   agent.conf:7: stale_after: "2x" is not a duration (use 500ms, 2s, 1m)
 *
 * Every setting is optional; an empty file (or none: acf_defaults()) gives
 * the shell agent's behaviour plus the report. docs/poolgate-agent.8 lists
 * the table (test_agent_conf checks that it does).
 */
#ifndef POOLGATE_AGENT_CONF_H
#define POOLGATE_AGENT_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config/config.h"

#define ACF_LISTEN_MAX  8
#define ACF_IGNORE_MAX  32
#define ACF_PORTS_MAX   8
#define ACF_STRING_MAX  1024

enum acf_sessions { ACF_SESS_AUTO = 0, ACF_SESS_LOGIND, ACF_SESS_UTMP };

struct acf_listen {
	struct sockaddr_storage ss;
	socklen_t               len;
	char                    text[64];
};

struct acf {
	char              *path;               /* the file read, or NULL */
	struct acf_listen  listen[ACF_LISTEN_MAX];
	size_t             nlisten;
	uint64_t           interval_ms;
	uint64_t           line_wait_ms;
	uint64_t           http_timeout_ms;
	int64_t            max_connections;
	int64_t            min_uid;
	char              *ignore[ACF_IGNORE_MAX];
	size_t             nignore;
	uint64_t           stale_after_ms;
	uint64_t           stale_notice_ms;
	int64_t            max_users;
	int64_t            max_processes;
	int64_t            max_report;
	int64_t            ncpu;
	char              *proc_root;
	char              *dev_root;
	char              *drain_file;
	int                sessions;           /* enum acf_sessions */
	char              *logind_dir;
	char              *utmp;
	int                log_level;          /* enum pg_log_level */
	char              *hub_url;            /* "" = not asked */
	char              *hub_token_file;
	bool               hub_kernels;
	uint64_t           hub_timeout_ms;
	char              *gpu_command;        /* "" = off */
	uint64_t           gpu_timeout_ms;
	char              *ssh_dir;
	char              *ssh_keygen;
	char              *ssh_host_ca;
	char              *ssh_principal;
	uint16_t           ssh_ports[ACF_PORTS_MAX];
	size_t             nssh_ports;
	uint64_t           ssh_refresh_ms;
	bool               azure_enabled;
	char              *azure_url;
	char              *azure_vm_name;
	bool               azure_approve;
	bool               azure_drain;
	uint64_t           azure_timeout_ms;
};

enum acf_type {
	ACF_T_DURATION,   /* "500ms", "2s", ... */
	ACF_T_INT,
	ACF_T_BOOL,
	ACF_T_STRING,     /* any text up to ACF_STRING_MAX, "" allowed */
	ACF_T_PATH,       /* an absolute path */
	ACF_T_URL,        /* "" or http://host[:port][/path] */
	ACF_T_KEYWORD,    /* one of `choices` */
	ACF_T_ADDRS,      /* "ADDR:PORT" or a list of them */
	ACF_T_NAMES,      /* a list of process names, 1..15 bytes each */
	ACF_T_PORTS,      /* a list of port numbers */
};

struct acf_setting {
	const char    *path;      /* "jupyterhub.url" */
	enum acf_type  type;
	const char    *def;       /* the default, as written in the file */
	int64_t        min, max;  /* ms for durations; 0, 0 = unbounded */
	const char    *choices;   /* ACF_T_KEYWORD: "auto|logind|utmp" */
	const char    *doc;       /* one line for the page and -t -v */
	size_t         off;       /* where in struct acf */
	size_t         off_n;     /* lists: where their count is */
};

extern const struct acf_setting acf_settings[];
extern const size_t             acf_nsettings;

/*
 * Load path into a fresh *out (the caller frees it with acf_free()), or, when
 * path is NULL, the defaults. Returns 0, or -1 with every error in errs
 * (cfg_errors of config/config.h; the caller frees them).
 */
int  acf_load(const char *path, struct acf **out, struct cfg_errors *errs);
void acf_free(struct acf *c);

/* One line describing c, for -t. */
void acf_summary(const struct acf *c, char *buf, size_t size);

#endif
