/*
 * report.h -- what a VM's poolgate-agent reports on GET /v1/report, as
 * poolgate reads it (pure: no I/O, no clock).
 *
 * The agent's report (docs/poolgate-agent.8, THE REPORT) is a JSON object of
 * version 1. poolgate keeps only what it decides with: whether the VM is
 * idle, who has work there and of what kind, the sshd sessions' TCP peers,
 * the SSH host keys' certificates and a pending Azure eviction. Everything
 * read is bounded: strings are cut to the fields' sizes, lists to the
 * REP_*_MAX entries (then `truncated` is set and the VM is never idle, as
 * the agent itself does). A report that is not valid JSON, not version 1,
 * or whose known members have the wrong type is refused as a whole: a VM
 * whose agent says something poolgate cannot read counts as silent.
 */
#ifndef POOLGATE_REPORT_H
#define POOLGATE_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lib/sshkey.h"

#define REP_HTTP_MAX      (2u * 1024 * 1024) /* bytes of the whole answer */
#define REP_NAME_MAX      64     /* bytes of a user name kept */
#define REP_USERS_MAX     256
#define REP_SESSIONS_MAX  256
#define REP_KEYS_MAX      8
#define REP_PRINCIPALS_MAX 8
#define REP_FP_MAX        SSHKEY_FP_MAX

/* Kinds of work, as poolgate_backend_users{kind} names them. */
enum rep_kind {
	REP_K_SSH = 0,   /* a login session (ssh, console) */
	REP_K_PROCESS,   /* counted processes of the user */
	REP_K_JUPYTER,   /* a running Jupyter server */
	REP_K_KERNEL,    /* a busy Jupyter kernel */
	REP_K_GPU,       /* processes on a GPU */
};
#define REP_NKINDS 5

struct rep_user {
	char     name[REP_NAME_MAX + 1];
	unsigned kinds;          /* bit (1u << enum rep_kind) per kind seen */
	bool     work;           /* the agent counts it as work (`work` not empty) */
	int      processes;
	int64_t  idle_s;         /* seconds since they did anything, -1 unknown */
};

struct rep_session {
	char user[REP_NAME_MAX + 1];
	char tty[32];
	char peer_addr[64];      /* "" when not an sshd session or unknown */
	int  peer_port;          /* 0 when unknown */
};

struct rep_key {
	char type[40];
	char fingerprint[REP_FP_MAX + 1];
	bool cert;               /* a certificate was found beside it */
	bool cert_host;          /* ... and it is a host certificate */
	char signing_ca[REP_FP_MAX + 1];
	size_t nprincipals;
	char principals[REP_PRINCIPALS_MAX][REP_NAME_MAX + 1];
	int  valid_now;          /* 1, 0, or -1 when the agent could not tell */
	int  matches_key;        /* 1, 0, or -1 */
};

struct rep_evict {
	char    id[64];
	char    type[16];        /* Preempt, Terminate, Reboot, Redeploy */
	char    not_before[40];  /* as the metadata service wrote it, or "" */
	int64_t deadline_s;      /* seconds left when reported, -1 none */
};

struct vm_report {
	char     host[REP_NAME_MAX + 1];
	bool     idle;           /* the agent's verdict: nobody has work */
	int      users_with_work;
	int64_t  activity_s;     /* -1 unknown */
	int      load_pct;       /* -1 unknown */
	bool     drain;
	bool     truncated;      /* the agent or poolgate left something out */
	size_t   nusers;
	struct rep_user users[REP_USERS_MAX];
	size_t   nsessions;
	struct rep_session sessions[REP_SESSIONS_MAX];
	bool     ssh_ok;         /* sources.ssh.state == "ok": keys were read */
	size_t   nkeys;
	struct rep_key keys[REP_KEYS_MAX];
	bool     evict_pending;  /* an eviction of this VM is pending */
	struct rep_evict evict;  /* the first such event */
};

/* "ssh", "process", "jupyter", "kernel", "gpu"; "unknown" out of range. */
const char *rep_kind_name(enum rep_kind k);

/*
 * The body of a complete HTTP/1.x answer buf[0..len) read until the agent
 * closed: a 200 with a body of Content-Length bytes (or everything after
 * the head when it gives none). Returns 0 with *body and *bodylen pointing
 * into buf, or -1 with a message in err ("HTTP 404", "incomplete answer").
 */
int  rep_http_body(const char *buf, size_t len, const char **body,
    size_t *bodylen, char *err, size_t errlen);

/*
 * Parse the agent's report body[0..len) into *r (fully written either way;
 * zeroed on error). Returns 0, or -1 with a message in err (always
 * NUL-terminated when errlen > 0).
 */
int  rep_parse(const char *body, size_t len, struct vm_report *r, char *err,
    size_t errlen);

/* The user called name in r, or NULL. Borrowed from r. */
const struct rep_user *rep_user_find(const struct vm_report *r,
    const char *name);

/*
 * Whether r's host keys all carry a host certificate of the pool: signed by
 * the CA whose fingerprint is ca_fp ("SHA256:..."), valid now, certifying
 * its key, and naming `principal` among its principals (a certificate
 * without principals is valid for any name; principal NULL or "": not
 * checked). A report without keys read (ssh not "ok") or without any key
 * passes: poolgate cannot judge what it was not told. Returns true when
 * the identity is the pool's, else false with the first reason in why.
 */
bool rep_host_identity_ok(const struct vm_report *r, const char *ca_fp,
    const char *principal, char *why, size_t whylen);

#endif
