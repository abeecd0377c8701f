/*
 * ctl.h -- the pure parts of poolgatectl: the command line, the endpoint
 * URL, its configuration file and token file, and turning the daemon's JSON
 * replies into aligned tables and one-line answers. No network here
 * (ctlhttp.h); everything writes to a FILE * so tests read it back with
 * open_memstream().
 */
#ifndef POOLGATE_CTL_H
#define POOLGATE_CTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "lib/json.h"


#define CTL_CONF_DEFAULT  "/etc/poolgate/poolgatectl.conf"
#define CTL_CONF_ENV      "POOLGATECTL_CONF"
#define CTL_ENDPOINT_DEFAULT "http://127.0.0.1:9100"
#define CTL_HOST_MAX      255     /* bytes of a host name or address */
#define CTL_URL_MAX       300     /* "http://" host ":" port */
#define CTL_PATH_MAX      4096    /* a file name from the command line or file */
#define CTL_TOKEN_MAX     255     /* the daemon keeps at most this many bytes */
#define CTL_VM_MAX        63      /* CFG_NAME_MAX of the daemon (ctl/ includes only lib/) */
#define CTL_CELL_MAX      4096    /* bytes shown of one table cell */
#define CTL_ERR_MAX       512

/* Exit statuses: a script tells "no such VM" from "poolgate is not there". */
#define CTL_EXIT_OK       0
#define CTL_EXIT_FAIL     1       /* refused, a bad reply, a bad file, ... */
#define CTL_EXIT_USAGE    2
#define CTL_EXIT_NOVM     3       /* the VM named is not in the pool */
#define CTL_EXIT_UNREACHABLE 4    /* no reply from poolgate at the endpoint */
#define CTL_EXIT_TIMEOUT  5       /* drain --wait: sessions left at --timeout */

/* How often drain --wait asks /status again. */
#define CTL_WAIT_POLL_MS  200

enum ctl_cmd {
	CTL_NONE = 0,
	CTL_HELP,
	CTL_VERSION,
	CTL_STATUS,
	CTL_SESSIONS,
	CTL_DRAIN,
	CTL_READY,
	CTL_MAINT,
	CTL_ADD,
	CTL_REMOVE,
	CTL_NODE_STATUS,   /* node status */
	CTL_NODE_DRAIN,    /* node drain */
	CTL_NODE_READY,    /* node ready */
	CTL_UPGRADE,       /* a binary upgrade of the daemon */
};

/* The command line. Strings are borrowed from argv. */
struct ctl_args {
	enum ctl_cmd  cmd;
	const char   *endpoint;     /* --endpoint, or NULL */
	const char   *token_file;   /* --token-file, or NULL */
	bool          json;         /* --json */
	const char   *vm;           /* the VM named, or NULL */
	const char   *address;      /* add */
	int           weight;       /* add --weight; -1 when not given */
	int           max_sessions; /* add --max-sessions; -1 when not given */
	bool          wait;         /* drain --wait */
	uint64_t      timeout_ms;   /* drain --wait --timeout; 0 = no limit */
};

/*
 * Parse argv[1..argc). Options may stand before or after the command; "--"
 * ends them. Returns 0, or -1 with a one-line message in err (a usage error:
 * exit CTL_EXIT_USAGE). -h/--help and --version win over everything else.
 * a->json is set even on an error when --json was given, so that the error
 * can be printed as JSON.
 */
int  ctl_parse_args(int argc, char **argv, struct ctl_args *a, char *err,
    size_t errlen);

/*
 * Print GET /api/v1/node's document: this node, Redis, the hook runner and
 * the other nodes, one line each. Returns 0, or -1 with a message in err
 * (not the document expected).
 */
int  ctl_print_node(FILE *out, const struct json_node *node, char *err,
    size_t errlen);

/* The usage text (for --help) and the short synopsis (after a usage error). */
void ctl_usage(FILE *out);
void ctl_synopsis(FILE *out);

/* Commands that change the pool, and so need the token. */
bool ctl_cmd_mutates(enum ctl_cmd cmd);

/*
 * The daemon's one VM name rule (lib/text.h pg_name_valid): 1 to
 * CTL_VM_MAX of A-Z a-z 0-9 _ - . not starting with - or . -- so "-rf" or
 * ".." are refused here before any request is sent. s may be NULL (false).
 */
bool ctl_vm_name_valid(const char *s);

/* An http:// endpoint. */
struct ctl_endpoint {
	char     host[CTL_HOST_MAX + 1];   /* no brackets around IPv6 */
	unsigned port;
	char     url[CTL_URL_MAX];         /* "http://host:port", for messages */
	char     hosthdr[CTL_HOST_MAX + 10]; /* the Host header: "[::1]:9100" */
};

/*
 * Parse "http://HOST[:PORT][/]": HOST a name, an IPv4 address or [IPv6];
 * PORT 1 to 65535, 80 when left out. Anything else (https, a path, user
 * information, a query) is refused with a message in err. Returns 0 or -1.
 */
int  ctl_parse_endpoint(const char *url, struct ctl_endpoint *ep, char *err,
    size_t errlen);

/* What the configuration file gave; strings owned by the struct. */
struct ctl_conf {
	char endpoint[CTL_URL_MAX];        /* "" when not set */
	char token_file[CTL_PATH_MAX];     /* "" when not set */
};

/*
 * Read the libconfig file at path: `endpoint = "URL";` and
 * `token_file = "FILE";`, both optional, nothing else. When missing_ok and
 * the file does not exist, *c is left empty and 0 is returned. Otherwise
 * returns 0, or -1 with "FILE:LINE: what is wrong" in err.
 */
int  ctl_load_conf(const char *path, bool missing_ok, struct ctl_conf *c,
    char *err, size_t errlen);

/*
 * Read the admin token from path into tok (len bytes): one trailing "\n" or
 * "\r\n" dropped, then 1 to CTL_TOKEN_MAX printable ASCII bytes without
 * spaces. Returns 0, or -1 with tok wiped and a message naming the file. The
 * bytes read are wiped before returning.
 */
int  ctl_read_token(const char *path, char *tok, size_t len, char *err,
    size_t errlen);

/*
 * A table with columns aligned by their widths (counted in UTF-8 characters),
 * two spaces between columns, no trailing blanks. Cells are copied; control
 * bytes become '?', an empty cell shows "-", a cell is cut at CTL_CELL_MAX
 * bytes.
 */
struct ctl_table {
	size_t   ncols;
	size_t   nrows;      /* the header included */
	size_t   cap;        /* rows allocated */
	char   **cells;      /* nrows * ncols, owned */
};

/* Start a table with its header row. Returns 0, or -1 out of memory. */
int  tbl_init(struct ctl_table *t, size_t ncols, const char *const *header);
/* Add a row of ncols cells (borrowed). Returns 0, or -1 out of memory. */
int  tbl_add(struct ctl_table *t, const char *const *cells);
void tbl_print(const struct ctl_table *t, FILE *out);
void tbl_free(struct ctl_table *t);

/* Characters (not bytes) of the UTF-8 string s: its width in a column. */
size_t ctl_text_width(const char *s);

/*
 * A VM's health object ({"ssh": {"up": true, "last_error": ""}, ...}) as
 * "ssh:up jupyter:down(connection refused)" into buf (always terminated).
 */
void ctl_health_text(const struct json_node *health, char *buf, size_t len);

/*
 * The `status` table from the /status reply and the /api/v1/backends reply
 * (for LOAD; NULL shows "-"): VM ADDRESS STATE SESSIONS USERS LOAD HEALTH.
 * Returns 0, or -1 with a message when the reply lacks what it should have.
 */
int  ctl_print_status(FILE *out, const struct json_node *status,
    const struct json_node *api, char *err, size_t errlen);

/*
 * The `sessions` table from the /status reply: VM SSH JUPYTER USERS, for
 * every VM or only vm. Returns 0; 1 when vm is not in the pool; -1 with a
 * message when the reply lacks what it should have.
 */
int  ctl_print_sessions(FILE *out, const struct json_node *status,
    const char *vm, char *err, size_t errlen);

/*
 * The /status "backends" member named vm, or NULL (not there, or a reply
 * without a backends array).
 */
const struct json_node *ctl_status_backend(const struct json_node *status,
    const char *vm);

/*
 * The one-line answer to a command that changed the pool, from the HTTP
 * status and the VM the daemon sent back (may be NULL when the reply was not
 * JSON): "vm1: drain (state drain, 2 sessions)".
 */
void ctl_print_result(FILE *out, const struct ctl_args *a, int code,
    const struct json_node *vm);

/*
 * Why the daemon refused: "403 invalid token" from the status and the
 * {"error": "..."} reply, or the reply's first line when it is not that JSON
 * (control bytes shown as '?', cut at 200 bytes), or the status alone.
 */
void ctl_refusal_text(int code, const char *body, size_t len, char *buf,
    size_t buflen);

/*
 * An error for --json: {"error":"msg","exit":code} and a newline into buf
 * (always terminated; msg cut to fit).
 */
void ctl_error_json(const char *msg, int code, char *buf, size_t len);

/*
 * The sessions of vm in a /status document: 0 and *n, 1 when vm is not in
 * the pool (any more), -1 with a message when the document lacks them.
 */
int  ctl_vm_sessions(const struct json_node *status, const char *vm,
    int64_t *n, char *err, size_t errlen);

/* The request body of `add`: {"address":"..","weight":N,"max_sessions":N}. */
void ctl_add_body(const struct ctl_args *a, char *buf, size_t len);

#endif
