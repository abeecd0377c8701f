/*
 * poolgatectl.c -- the command-line client of poolgate's admin endpoint.
 *
 *   poolgatectl [--endpoint URL] [--token-file FILE] [--json] COMMAND
 *   poolgatectl drain --wait [--timeout T] VM
 *
 * Read-only commands (status, sessions) never read the token file, so any
 * user who can reach the endpoint can run them; the others send the token
 * as "Authorization: Bearer". The endpoint is plain http:// only: the admin
 * endpoint listens on a local address (see adminapi.h). The parts without
 * I/O are in ctl.c, the HTTP client in ctlhttp.c; replies are read with
 * the daemon's own JSON reader (lib/json.h).
 *
 * Every failure goes through fail(): one line on stderr, as text or (with
 * --json) as {"error": ..., "exit": N}, and its own exit status (ctl.h).
 */
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl/ctl.h"
#include "ctl/ctlhttp.h"
#include "lib/json.h"

#ifndef POOLGATE_VERSION
#define POOLGATE_VERSION "unknown"
#endif

#define API_BACKENDS "/api/v1/backends"
#define API_NODE     "/api/v1/node"
#define API_UPGRADE  "/api/v1/upgrade"

static const char *
cmd_name(enum ctl_cmd c)
{
	switch (c) {
	case CTL_STATUS:   return "status";
	case CTL_SESSIONS: return "sessions";
	case CTL_DRAIN:    return "drain";
	case CTL_READY:    return "ready";
	case CTL_MAINT:    return "maint";
	case CTL_ADD:      return "add";
	case CTL_REMOVE:   return "remove";
	case CTL_NODE_STATUS: return "node status";
	case CTL_NODE_DRAIN: return "node drain";
	case CTL_NODE_READY: return "node ready";
	case CTL_UPGRADE:  return "upgrade";
	default:           return "?";
	}
}

static int
fail(const struct ctl_args *a, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Report a failure (see above); returns code, the exit status. */
static int
fail(const struct ctl_args *a, int code, const char *fmt, ...)
{
	char msg[CTL_ERR_MAX + 256], js[6 * sizeof(msg) + 64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (a != NULL && a->json) {
		ctl_error_json(msg, code, js, sizeof(js));
		fputs(js, stderr);
	} else
		fprintf(stderr, "poolgatectl: %s\n", msg);
	return code;
}

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/*
 * GET path and parse the reply as JSON into *doc. Returns CTL_EXIT_OK, or
 * the exit status with the failure reported. *raw (may be NULL) gets the
 * reply to print verbatim.
 */
static int
get_json(const struct ctl_args *a, const struct ctl_endpoint *ep,
    const char *path, struct json_doc **doc, struct ctlh_reply *raw)
{
	struct ctlh_reply r;
	char err[CTL_ERR_MAX];
	int rc;

	*doc = NULL;
	if (ctlh_request(ep, CTLH_GET, path, NULL, NULL, &r, err,
	    sizeof(err)) != 0)
		return fail(a, CTL_EXIT_UNREACHABLE, "%s", err);
	if (r.code != 200) {
		ctl_refusal_text(r.code, r.body, r.len, err, sizeof(err));
		rc = fail(a, CTL_EXIT_FAIL, "poolgate at %s refused GET %s: %s",
		    ep->url, path, err);
		goto out;
	}
	if ((*doc = json_parse(r.body, r.len, err, sizeof(err))) == NULL) {
		rc = fail(a, CTL_EXIT_FAIL, "GET %s from %s: the reply is not "
		    "JSON: %s", path, ep->url, err);
		goto out;
	}
	rc = CTL_EXIT_OK;
	if (raw != NULL) {
		*raw = r;
		return rc;  /* r.body: transferred to *raw */
	}
out:
	ctlh_reply_free(&r);
	return rc;
}

static int
cmd_status(const struct ctl_endpoint *ep, const struct ctl_args *a)
{
	struct json_doc *st = NULL, *api = NULL;
	struct ctlh_reply raw = { 0, NULL, 0 };
	char err[CTL_ERR_MAX];
	int rc;

	if ((rc = get_json(a, ep, "/status", &st, &raw)) != CTL_EXIT_OK)
		goto out;
	if (a->json) {
		fwrite(raw.body, 1, raw.len, stdout);
		goto out;
	}
	/* /status has no load; the API's view of each VM has */
	if ((rc = get_json(a, ep, API_BACKENDS, &api, NULL)) != CTL_EXIT_OK)
		goto out;
	if (ctl_print_status(stdout, json_root(st), json_root(api), err,
	    sizeof(err)) != 0)
		rc = fail(a, CTL_EXIT_FAIL, "%s", err);
out:
	ctlh_reply_free(&raw);
	json_free(st);
	json_free(api);
	return rc;
}

static int
cmd_sessions(const struct ctl_endpoint *ep, const struct ctl_args *a)
{
	struct ctlh_reply raw = { 0, NULL, 0 };
	struct json_doc *st;
	char err[CTL_ERR_MAX];
	int rc, k;

	if ((rc = get_json(a, ep, "/status", &st, &raw)) != CTL_EXIT_OK)
		return rc;
	if (a->json) {
		const struct json_node *b;

		if (a->vm == NULL)
			fwrite(raw.body, 1, raw.len, stdout);
		else if ((b = ctl_status_backend(json_root(st), a->vm)) != NULL) {
			/* that VM's object, byte for byte as the daemon wrote it */
			fwrite(raw.body + b->pos, 1, b->end - b->pos, stdout);
			fputc('\n', stdout);
		} else
			rc = fail(a, CTL_EXIT_NOVM, "no VM named %s in the pool at %s",
			    a->vm, ep->url);
		goto out;
	}
	k = ctl_print_sessions(stdout, json_root(st), a->vm, err, sizeof(err));
	if (k == 1)
		rc = fail(a, CTL_EXIT_NOVM, "no VM named %s in the pool at %s",
		    a->vm, ep->url);
	else if (k != 0)
		rc = fail(a, CTL_EXIT_FAIL, "%s", err);
out:
	ctlh_reply_free(&raw);
	json_free(st);
	return rc;
}

/* node status, and what node drain and node ready answer */
static int
print_node_reply(const struct ctl_args *a, const char *body, size_t len)
{
	struct json_doc *d;
	char err[CTL_ERR_MAX];
	int rc = CTL_EXIT_OK;

	if (a->json) {
		fwrite(body, 1, len, stdout);
		return CTL_EXIT_OK;
	}
	if ((d = json_parse(body, len, err, sizeof(err))) == NULL ||
	    ctl_print_node(stdout, json_root(d), err, sizeof(err)) != 0)
		rc = fail(a, CTL_EXIT_FAIL, "%s", err);
	json_free(d);
	return rc;
}

static int
cmd_node_status(const struct ctl_endpoint *ep, const struct ctl_args *a)
{
	struct ctlh_reply raw = { 0, NULL, 0 };
	struct json_doc *d = NULL;
	int rc;

	if ((rc = get_json(a, ep, API_NODE, &d, &raw)) == CTL_EXIT_OK)
		rc = print_node_reply(a, raw.body, raw.len);
	json_free(d);
	ctlh_reply_free(&raw);
	return rc;
}

/*
 * drain --wait: ask /status every CTL_WAIT_POLL_MS until the VM has no
 * session (or is gone: removed and forgotten), at most a->timeout_ms.
 */
static int
wait_drained(const struct ctl_endpoint *ep, const struct ctl_args *a)
{
	uint64_t start = mono_ms();
	struct timespec pause = { 0, CTL_WAIT_POLL_MS * 1000000L };
	struct ctlh_reply raw = { 0, NULL, 0 };
	struct json_doc *st = NULL;
	const struct json_node *b;
	char err[CTL_ERR_MAX];
	int64_t n = -1;
	int rc, k;

	for (;;) {
		if ((rc = get_json(a, ep, "/status", &st, &raw)) != CTL_EXIT_OK)
			return rc;
		k = ctl_vm_sessions(json_root(st), a->vm, &n, err, sizeof(err));
		if (k < 0) {
			rc = fail(a, CTL_EXIT_FAIL, "%s", err);
			break;
		}
		if (k == 1 || n == 0) {
			if (!a->json)
				printf("%s: no session left\n", a->vm);
			else if ((b = ctl_status_backend(json_root(st), a->vm)) != NULL) {
				fwrite(raw.body + b->pos, 1, b->end - b->pos, stdout);
				fputc('\n', stdout);
			} else
				printf("{\"name\":\"%s\",\"sessions\":0}\n", a->vm);
			break;
		}
		if (a->timeout_ms > 0 && mono_ms() - start >= a->timeout_ms) {
			rc = fail(a, CTL_EXIT_TIMEOUT, "%s: %" PRId64 " session%s left "
			    "after %.1f s (--timeout)", a->vm, n, n == 1 ? "" : "s",
			    (double)(mono_ms() - start) / 1000.0);
			break;
		}
		ctlh_reply_free(&raw);
		json_free(st);
		st = NULL;
		nanosleep(&pause, NULL);
	}
	ctlh_reply_free(&raw);
	json_free(st);
	return rc;
}

static int
cmd_change(const struct ctl_endpoint *ep, const struct ctl_args *a,
    const char *token)
{
	struct ctlh_reply r;
	struct json_doc *d;
	enum ctlh_method m;
	char path[sizeof(API_BACKENDS) + CTL_VM_MAX + 16], body[2048];
	char err[CTL_ERR_MAX];
	const char *json = NULL;

	if (a->vm != NULL)
		snprintf(path, sizeof(path), "%s/%s", API_BACKENDS, a->vm);
	switch (a->cmd) {
	case CTL_DRAIN:
	case CTL_READY:
	case CTL_MAINT:
		m = CTLH_POST;
		snprintf(path, sizeof(path), "%s/%s/%s", API_BACKENDS, a->vm,
		    cmd_name(a->cmd));
		break;
	case CTL_ADD:
		m = CTLH_PUT;
		ctl_add_body(a, body, sizeof(body));
		json = body;
		break;
	case CTL_REMOVE:
		m = CTLH_DELETE;
		break;
	case CTL_NODE_DRAIN:
	case CTL_NODE_READY:
		m = CTLH_POST;
		snprintf(path, sizeof(path), "%s/%s", API_NODE,
		    a->cmd == CTL_NODE_DRAIN ? "drain" : "ready");
		break;
	case CTL_UPGRADE:
		m = CTLH_POST;
		snprintf(path, sizeof(path), "%s", API_UPGRADE);
		break;
	default:
		return CTL_EXIT_FAIL;
	}
	if (ctlh_request(ep, m, path, token, json, &r, err, sizeof(err)) != 0)
		return fail(a, CTL_EXIT_UNREACHABLE, "%s", err);
	if (r.code < 200 || r.code > 299) {
		/* the API answers 404 only for a VM it does not know */
		int code = r.code == 404 && a->vm != NULL ? CTL_EXIT_NOVM :
		    CTL_EXIT_FAIL;

		ctl_refusal_text(r.code, r.body, r.len, err, sizeof(err));
		ctlh_reply_free(&r);
		return fail(a, code, "poolgate refused: %s", err);
	}
	if (a->cmd == CTL_NODE_DRAIN || a->cmd == CTL_NODE_READY) {
		int prc = print_node_reply(a, r.body, r.len);

		ctlh_reply_free(&r);
		return prc;
	}
	if (a->cmd == CTL_UPGRADE && !a->json)
		printf("upgrade started: the new poolgate takes the listeners over; "
		    "see its log, and pid and upgraded_from in status --json\n");
	else if (a->json && !a->wait)
		fwrite(r.body, 1, r.len, stdout);
	else if (!a->json) {
		d = json_parse(r.body, r.len, err, sizeof(err));
		ctl_print_result(stdout, a, r.code, d != NULL ? json_root(d) : NULL);
		json_free(d);
	}
	ctlh_reply_free(&r);
	if (a->wait) {
		fflush(stdout);   /* the drain line before the wait */
		return wait_drained(ep, a);
	}
	return CTL_EXIT_OK;
}

int
main(int argc, char **argv)
{
	struct ctl_args a;
	struct ctl_conf conf;
	struct ctl_endpoint ep;
	const char *conf_path, *endpoint, *token_file;
	char err[CTL_ERR_MAX], token[CTL_TOKEN_MAX + 1];
	bool missing_ok;
	int rc;

	/* a daemon that closes early must not kill us in the middle of a write */
	signal(SIGPIPE, SIG_IGN);
	if (ctl_parse_args(argc, argv, &a, err, sizeof(err)) != 0) {
		fail(&a, CTL_EXIT_USAGE, "%s", err);
		if (!a.json)
			ctl_synopsis(stderr);
		return CTL_EXIT_USAGE;
	}
	if (a.cmd == CTL_HELP) {
		ctl_usage(stdout);
		return CTL_EXIT_OK;
	}
	if (a.cmd == CTL_VERSION) {
		printf("poolgatectl %s\n", POOLGATE_VERSION);
		return CTL_EXIT_OK;
	}
	/* the default file may be absent; a file named in the environment not */
	conf_path = getenv(CTL_CONF_ENV);
	missing_ok = conf_path == NULL || conf_path[0] == '\0';
	if (missing_ok)
		conf_path = CTL_CONF_DEFAULT;
	if (ctl_load_conf(conf_path, missing_ok, &conf, err, sizeof(err)) != 0)
		return fail(&a, CTL_EXIT_FAIL, "%s", err);
	endpoint = a.endpoint != NULL ? a.endpoint :
	    conf.endpoint[0] != '\0' ? conf.endpoint : CTL_ENDPOINT_DEFAULT;
	if (ctl_parse_endpoint(endpoint, &ep, err, sizeof(err)) != 0) {
		fail(&a, CTL_EXIT_USAGE, "--endpoint %s", err);
		if (!a.json)
			ctl_synopsis(stderr);
		return CTL_EXIT_USAGE;
	}
	if (!ctl_cmd_mutates(a.cmd)) {
		rc = a.cmd == CTL_STATUS ? cmd_status(&ep, &a) :
		    a.cmd == CTL_NODE_STATUS ? cmd_node_status(&ep, &a) :
		    cmd_sessions(&ep, &a);
		goto out;
	}
	token_file = a.token_file != NULL ? a.token_file :
	    conf.token_file[0] != '\0' ? conf.token_file : NULL;
	if (token_file == NULL)
		return fail(&a, CTL_EXIT_FAIL, "%s needs the admin token: give "
		    "--token-file FILE, or set token_file in %s", cmd_name(a.cmd),
		    conf_path);
	if (ctl_read_token(token_file, token, sizeof(token), err,
	    sizeof(err)) != 0)
		return fail(&a, CTL_EXIT_FAIL, "%s", err);
	rc = cmd_change(&ep, &a, token);
	explicit_bzero(token, sizeof(token));
out:
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("poolgatectl: writing the output");
		return CTL_EXIT_FAIL;
	}
	return rc;
}
