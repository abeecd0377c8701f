/*
 * poolgatectl.c -- the command-line client of poolgate's admin endpoint.
 *
 *   poolgatectl [--endpoint URL] [--token-file FILE] [--json] COMMAND
 *
 * Read-only commands (status, sessions) never read the token file, so any
 * user who can reach the endpoint can run them; the others send the token
 * as "Authorization: Bearer". The endpoint is plain http:// only: the admin
 * endpoint listens on a local address (see adminapi.h). The parts without
 * I/O are in ctl.c, the HTTP client in ctlhttp.c; replies are read with
 * the daemon's own JSON reader (lib/json.h).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl/ctl.h"
#include "ctl/ctlhttp.h"
#include "lib/json.h"

#ifndef POOLGATE_VERSION
#define POOLGATE_VERSION "unknown"
#endif

#define API_BACKENDS "/api/v1/backends"
#define API_NODE     "/api/v1/node"

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
	default:           return "?";
	}
}

/*
 * GET path and parse the reply as JSON. Returns the document, or NULL with
 * the message printed. *raw (may be NULL) gets the reply to print verbatim.
 */
static struct json_doc *
get_json(const struct ctl_endpoint *ep, const char *path,
    struct ctlh_reply *raw)
{
	struct ctlh_reply r;
	struct json_doc *d = NULL;
	char err[CTL_ERR_MAX];

	if (ctlh_request(ep, CTLH_GET, path, NULL, NULL, &r, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "poolgatectl: %s\n", err);
		return NULL;
	}
	if (r.code != 200) {
		ctl_refusal_text(r.code, r.body, r.len, err, sizeof(err));
		fprintf(stderr, "poolgatectl: poolgate at %s refused GET %s: %s\n",
		    ep->url, path, err);
		goto out;
	}
	if ((d = json_parse(r.body, r.len, err, sizeof(err))) == NULL) {
		fprintf(stderr, "poolgatectl: GET %s from %s: the reply is not JSON: "
		    "%s\n", path, ep->url, err);
		goto out;
	}
	if (raw != NULL) {
		*raw = r;
		return d;  /* r.body: transferred to *raw */
	}
out:
	ctlh_reply_free(&r);
	return d;
}

static int
cmd_status(const struct ctl_endpoint *ep, const struct ctl_args *a)
{
	struct json_doc *st = NULL, *api = NULL;
	struct ctlh_reply raw = { 0, NULL, 0 };
	char err[CTL_ERR_MAX];
	int rc = CTL_EXIT_FAIL;

	if ((st = get_json(ep, "/status", &raw)) == NULL)
		goto out;
	if (a->json) {
		fwrite(raw.body, 1, raw.len, stdout);
		rc = CTL_EXIT_OK;
		goto out;
	}
	/* /status has no load; the API's view of each VM has */
	if ((api = get_json(ep, API_BACKENDS, NULL)) == NULL)
		goto out;
	if (ctl_print_status(stdout, json_root(st), json_root(api), err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "poolgatectl: %s\n", err);
		goto out;
	}
	rc = CTL_EXIT_OK;
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
	int rc = CTL_EXIT_FAIL, k;

	if ((st = get_json(ep, "/status", &raw)) == NULL)
		return CTL_EXIT_FAIL;
	if (a->json) {
		const struct json_node *b;

		if (a->vm == NULL) {
			fwrite(raw.body, 1, raw.len, stdout);
			rc = CTL_EXIT_OK;
		} else if ((b = ctl_status_backend(json_root(st), a->vm)) != NULL) {
			/* that VM's object, byte for byte as the daemon wrote it */
			fwrite(raw.body + b->pos, 1, b->end - b->pos, stdout);
			fputc('\n', stdout);
			rc = CTL_EXIT_OK;
		} else
			fprintf(stderr, "poolgatectl: no VM named %s in the pool at %s\n",
			    a->vm, ep->url);
		goto out;
	}
	k = ctl_print_sessions(stdout, json_root(st), a->vm, err, sizeof(err));
	if (k == 1)
		fprintf(stderr, "poolgatectl: no VM named %s in the pool at %s\n",
		    a->vm, ep->url);
	else if (k != 0)
		fprintf(stderr, "poolgatectl: %s\n", err);
	else
		rc = CTL_EXIT_OK;
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
	    ctl_print_node(stdout, json_root(d), err, sizeof(err)) != 0) {
		fprintf(stderr, "poolgatectl: %s\n", err);
		rc = CTL_EXIT_FAIL;
	}
	json_free(d);
	return rc;
}

static int
cmd_node_status(const struct ctl_endpoint *ep, const struct ctl_args *a)
{
	struct ctlh_reply raw = { 0, NULL, 0 };
	struct json_doc *d;
	int rc = CTL_EXIT_FAIL;

	if ((d = get_json(ep, API_NODE, &raw)) != NULL)
		rc = print_node_reply(a, raw.body, raw.len);
	json_free(d);
	ctlh_reply_free(&raw);
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
	default:
		return CTL_EXIT_FAIL;
	}
	if (ctlh_request(ep, m, path, token, json, &r, err, sizeof(err)) != 0) {
		fprintf(stderr, "poolgatectl: %s\n", err);
		return CTL_EXIT_FAIL;
	}
	if (r.code < 200 || r.code > 299) {
		ctl_refusal_text(r.code, r.body, r.len, err, sizeof(err));
		fprintf(stderr, "poolgatectl: poolgate refused: %s\n", err);
		ctlh_reply_free(&r);
		return CTL_EXIT_FAIL;
	}
	if (a->cmd == CTL_NODE_DRAIN || a->cmd == CTL_NODE_READY) {
		int prc = print_node_reply(a, r.body, r.len);

		ctlh_reply_free(&r);
		return prc;
	}
	if (a->json)
		fwrite(r.body, 1, r.len, stdout);
	else {
		d = json_parse(r.body, r.len, err, sizeof(err));
		ctl_print_result(stdout, a, r.code, d != NULL ? json_root(d) : NULL);
		json_free(d);
	}
	ctlh_reply_free(&r);
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
		fprintf(stderr, "poolgatectl: %s\n", err);
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
	if (ctl_load_conf(conf_path, missing_ok, &conf, err, sizeof(err)) != 0) {
		fprintf(stderr, "poolgatectl: %s\n", err);
		return CTL_EXIT_FAIL;
	}
	endpoint = a.endpoint != NULL ? a.endpoint :
	    conf.endpoint[0] != '\0' ? conf.endpoint : CTL_ENDPOINT_DEFAULT;
	if (ctl_parse_endpoint(endpoint, &ep, err, sizeof(err)) != 0) {
		fprintf(stderr, "poolgatectl: --endpoint %s\n", err);
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
	if (token_file == NULL) {
		fprintf(stderr, "poolgatectl: %s needs the admin token: give "
		    "--token-file FILE, or set token_file in %s\n", cmd_name(a.cmd),
		    conf_path);
		return CTL_EXIT_FAIL;
	}
	if (ctl_read_token(token_file, token, sizeof(token), err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "poolgatectl: %s\n", err);
		return CTL_EXIT_FAIL;
	}
	rc = cmd_change(&ep, &a, token);
	explicit_bzero(token, sizeof(token));
out:
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("poolgatectl: writing the output");
		return CTL_EXIT_FAIL;
	}
	return rc;
}
