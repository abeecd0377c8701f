/*
 * jhub.h -- reading the VM's own JupyterHub REST API (pure parsers).
 *
 * The agent asks GET <url>/hub/api/users?state=active&offset=N&limit=200
 * with "Authorization: token <token>" (scopes list:users and
 * read:users:activity; read:servers adds each server's state), and, for
 * each user with a ready server and when jupyterhub.kernels is on,
 * GET <url><server url>api/kernels?no_track_activity=1 (scope
 * access:servers). The no_track_activity argument keeps the agent's own
 * polling out of Jupyter's last_activity, which the agent reports.
 */
#ifndef POOLGATE_AGENT_JHUB_H
#define POOLGATE_AGENT_JHUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JH_NAME_MAX  64     /* a hub user name kept (longer ones skipped) */
#define JH_URL_MAX   256    /* a server URL kept (longer: no kernel poll) */
#define JH_PAGE      200    /* users asked per request (JupyterHub's max) */

struct jh_user {
	char     name[JH_NAME_MAX + 1];
	bool     server;            /* listed as active: a server runs or starts */
	bool     ready;             /* the default server is ready */
	bool     pending;           /* ... is starting or stopping */
	uint64_t last_activity_ms;  /* wall ms, latest of the user's and its
	                               servers'; 0 unknown */
	char     server_url[JH_URL_MAX]; /* "/user/alice/", "" unknown or unsafe */
	/* from the server's /api/kernels; -1 when not asked or refused */
	int      kernels_busy;
	int      kernels_idle;
	int      kernels_other;     /* starting, restarting, dead, unknown */
	uint64_t kernel_activity_ms;
};

/*
 * Pure. Parse one page of GET /hub/api/users: a JSON array of user models,
 * or JupyterHub's paginated object ({"items": [...], "_pagination": ...}).
 * Users are appended to out[*n..max) (past max: *truncated); *page gets the
 * number of models in this page (so the caller knows whether to ask for the
 * next). A model without a string name, or with a name over JH_NAME_MAX, is
 * skipped. Returns 0, or -1 with a message in err.
 */
int  jh_parse_users(const char *buf, size_t len, struct jh_user *out,
    size_t max, size_t *n, size_t *page, bool *truncated, char *err,
    size_t errlen);

/*
 * Pure. Parse GET .../api/kernels (an array of kernel models) into u's
 * kernel counts by execution_state and the latest kernel last_activity.
 * Returns 0, or -1 with a message in err (u's kernel fields untouched).
 */
int  jh_parse_kernels(const char *buf, size_t len, struct jh_user *u,
    char *err, size_t errlen);

/*
 * True when url may be put in a request line: starts with '/', 1 to
 * JH_URL_MAX - 1 bytes of printable ASCII without space, '?', '#', '\\' or
 * a ".." component.
 */
bool jh_url_safe(const char *url);

#endif
