/*
 * admin.c -- see admin.h: the router, /healthz and /status. Everything is
 * rendered straight into the reply buffer from the live structures;
 * nothing is cached. /metrics is metrics.c, the admin API adminapi.c, the
 * HTML page statuspage.c; a VM in /status is written by vmjson.c, as in
 * the admin API.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/listener.h>
#include <event2/keyvalq_struct.h>

#include "admin/admin.h"
#include "admin/adminapi.h"
#include "admin/conns.h"
#include "admin/knownhosts.h"
#include "admin/metrics.h"
#include "admin/nodejson.h"
#include "admin/statuspage.h"
#include "admin/vmjson.h"
#include "backends/affinity.h"
#include "backends/usersess.h"
#include "cluster/cluster.h"
#include "lib/log.h"

struct admin {
	struct adm_ctx              *ctx;    /* borrowed: the daemon's */
	struct evhttp               *http;
	struct ac_guard             *conns;  /* its connections' cap, deadlines */
	struct cfg_addr              addr;   /* addr.text owned */
	struct evhttp_bound_socket  *bound;
};

/* The VMs that take new sessions of service svc. */
static size_t
backends_up(const struct adm_ctx *a, size_t svc)
{
	const struct pool *pool = &a->px->mbr->pool;
	size_t n = 0;

	for (size_t i = 0; i < pool->n; i++)
		n += be_takes_new(pool->be[i], svc);
	return n;
}

static void
reply(struct evhttp_request *req, int code, const char *reason,
    const char *ctype, struct evbuffer *body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evhttp_add_header(h, "Content-Type", ctype);
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_send_reply(req, code, reason, body);
}

static void
handle_healthz(struct admin *adm, struct evhttp_request *req,
    struct evbuffer *out)
{
	const struct adm_ctx *a = adm->ctx;
	const struct px_ctx *px = a->px;
	bool ok = true;

	if (px->stopping) {
		evbuffer_add_printf(out, "stopping\n");
		ok = false;
	}
	if (a->node_draining) {
		evbuffer_add_printf(out, "node drained by the operator "
		    "(poolgatectl node ready brings it back)\n");
		ok = false;
	}
	for (size_t i = 0; i < px->nsvc; i++) {
		if (backends_up(a, i) == 0) {
			evbuffer_add_printf(out, "service %s: no VM up\n",
			    px->svc[i]->cfg.name);
			ok = false;
		}
	}
	if (ok)
		evbuffer_add_printf(out, "ok\n");
	/* Not a reason to take the node out: it routes from what it knows. */
	if (a->cl != NULL && !cl_node_up(a->cl))
		evbuffer_add_printf(out, "warning: cluster degraded: Redis is "
		    "unreachable; routing from this node's view\n");
	/* Not a reason to take the node out: it serves from memory meanwhile. */
	if (a->state_failing)
		evbuffer_add_printf(out, "warning: state_dir %s is not writable; "
		    "affinities are kept in memory and saving is retried\n",
		    px->cfg->state_dir);
	reply(req, ok ? 200 : 503, ok ? "OK" : "Service Unavailable",
	    "text/plain; charset=utf-8", out);
}

static void
handle_status(struct admin *adm, struct evhttp_request *req,
    struct evbuffer *out)
{
	const struct adm_ctx *a = adm->ctx;
	const struct px_ctx *px = a->px;
	const struct members *m = px->mbr;
	uint64_t now = pg_now_ms();

	evbuffer_add_printf(out, "{\"version\":\"%s\",\"pid\":%d,"
	    "\"upgraded_from\":", POOLGATE_VERSION, (int)getpid());
	/* the process an upgrade replaced, while its sessions last */
	if (a->old_pid != 0)
		evbuffer_add_printf(out, "{\"pid\":%d,\"sessions\":%lu}",
		    a->old_pid, (unsigned long)a->old_sessions);
	else
		evbuffer_add(out, "null", 4);
	evbuffer_add_printf(out, ",\"uptime_s\":%llu,"
	    "\"connections\":%llu,\"reloads\":%llu,\"reload_failures\":%llu,"
	    "\"affinity_entries\":%zu,\"jupyter_users\":%zu,"
	    "\"state\":{\"dir\":",
	    (unsigned long long)((now - a->started_ms) / 1000),
	    (unsigned long long)px->nconns, (unsigned long long)a->reloads,
	    (unsigned long long)a->reload_failures, aff_count(m->aff),
	    us_count(m->us));
	vmj_str(out, px->cfg->state_dir);
	evbuffer_add_printf(out, ",\"writable\":%s},\"reload_error\":",
	    a->state_failing ? "false" : "true");
	/* The first error of the last refused reload, until one succeeds. */
	if (a->reload_error[0] != '\0')
		vmj_str(out, a->reload_error);
	else
		evbuffer_add(out, "null", 4);
	evbuffer_add(out, ",\"cluster\":", 11);
	nodejson_write(out, a, now);
	evbuffer_add(out, ",\"services\":[", 13);
	for (size_t i = 0; i < px->nsvc; i++) {
		const struct service *s = px->svc[i];

		evbuffer_add_printf(out, "%s{\"name\":", i ? "," : "");
		vmj_str(out, s->cfg.name);
		evbuffer_add_printf(out, ",\"mode\":\"%s\",\"tls\":%s,"
		    "\"backend_tls\":\"%s\",\"port\":%d,\"listen\":[",
		    cfg_mode_name(s->cfg.mode), s->ssl_server ? "true" : "false",
		    cfg_backend_tls_name(s->cfg.backend_tls), s->cfg.port);
		/*
		 * The service's listeners are bound one per configured address,
		 * in this order (the daemon's listener type stays the daemon's).
		 */
		for (size_t j = 0; j < s->cfg.nlisten; j++) {
			if (j)
				evbuffer_add(out, ",", 1);
			vmj_str(out, s->cfg.listen[j].text);
		}
		evbuffer_add_printf(out, "],\"backends_up\":%zu,"
		    "\"connections_total\":%llu,\"active\":%llu,\"errors\":{",
		    backends_up(a, i), (unsigned long long)s->connections_total,
		    (unsigned long long)s->active);
		for (int e = 0; e < ERR__COUNT; e++)
			evbuffer_add_printf(out, "%s\"%s\":%llu", e ? "," : "",
			    conn_err_name(e), (unsigned long long)s->errors[e]);
		evbuffer_add(out, "}}", 2);
	}
	evbuffer_add(out, "],\"backends\":", 13);
	if (vmj_status_backends(out, a, now) != 0) {
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	evbuffer_add(out, "}\n", 2);
	reply(req, 200, "OK", "application/json", out);
}

static void
handle_metrics(struct admin *adm, struct evhttp_request *req,
    struct evbuffer *out)
{
	metrics_write(out, adm->ctx, pg_now_ms());
	reply(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", out);
}

static void
admin_cb(struct evhttp_request *req, void *arg)
{
	struct admin *a = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct evbuffer *out = evbuffer_new();

	/* the request is in: its reply and the next request get a new deadline */
	ac_request(a->conns, req);
	if (out == NULL) {
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	if (path == NULL)
		path = "/";
	/* The admin API takes POST, PUT and DELETE too; the rest is GET/HEAD. */
	if (strncmp(path, "/api/v1/", 8) == 0) {
		adminapi_handle(a->ctx, req, path);
		evbuffer_free(out);
		return;
	}
	/* The HTML status page and its forms (POST /login, /logout, /action). */
	if (strcmp(path, "/") == 0 || strcmp(path, "/login") == 0 ||
	    strcmp(path, "/logout") == 0 || strcmp(path, "/action") == 0) {
		statuspage_handle(a->ctx, req, path);
		evbuffer_free(out);
		return;
	}
	if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
		    "GET, HEAD");
		evbuffer_add_printf(out, "method not allowed\n");
		reply(req, 405, "Method Not Allowed", "text/plain", out);
	} else if (strcmp(path, "/healthz") == 0)
		handle_healthz(a, req, out);
	else if (strcmp(path, "/status") == 0)
		handle_status(a, req, out);
	else if (strcmp(path, "/metrics") == 0)
		handle_metrics(a, req, out);
	else if (strcmp(path, "/ssh_known_hosts") == 0)
		kh_handle(a->ctx->px->cfg, req, out);
	else {
		evbuffer_add_printf(out, "not found; try /, /healthz, /status, /metrics,"
		    " /ssh_known_hosts\n");
		reply(req, 404, "Not Found", "text/plain", out);
	}
	evbuffer_free(out);
}

struct admin *
admin_new(struct adm_ctx *ctx, const struct cfg_addr *addr, int fd)
{
	struct admin *a;
	char host[64];
	const char *colon;
	int port;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		goto fail;
	a->ctx = ctx;
	a->addr = *addr;
	if ((a->addr.text = strdup(addr->text)) == NULL)
		goto fail;
	if ((a->http = evhttp_new(ctx->px->base)) == NULL)
		goto fail;
	/*
	 * Operators and scrapers send small requests; refuse anything big.
	 * evhttp's timeout is an idle one (no byte for 10 s); the guard adds
	 * the cap on connections and the deadline of a whole request.
	 */
	evhttp_set_max_headers_size(a->http, 16384);
	evhttp_set_max_body_size(a->http, 65536);
	evhttp_set_timeout(a->http, 10);
	if ((a->conns = ac_new(a->http, ctx->px->base, AC_CONNS_MAX,
	    AC_DEADLINE_MS)) == NULL)
		goto fail;
	evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
	evhttp_set_gencb(a->http, admin_cb, a);
	if (fd != -1) {
		if ((a->bound = evhttp_accept_socket_with_handle(a->http,
		    fd)) == NULL) {
			log_err("admin: cannot listen on %s", addr->text);
			goto fail;
		}
		return a;
	}
	/* "[::1]:9100" -> "::1", 9100 */
	colon = strrchr(addr->text, ':');
	if (colon == NULL)
		goto fail;
	port = atoi(colon + 1);
	if (addr->text[0] == '[')
		snprintf(host, sizeof(host), "%.*s", (int)(colon - addr->text - 2),
		    addr->text + 1);
	else
		snprintf(host, sizeof(host), "%.*s", (int)(colon - addr->text),
		    addr->text);
	if (strcmp(host, "*") == 0)
		snprintf(host, sizeof(host), "0.0.0.0");
	if ((a->bound = evhttp_bind_socket_with_handle(a->http, host,
	    (ev_uint16_t)port)) == NULL) {
		log_err("admin: cannot listen on %s", addr->text);
		goto fail;
	}
	return a;
fail:
	if ((a == NULL || a->bound == NULL) && fd != -1)
		close(fd);
	admin_free(a);
	return NULL;
}

void
admin_free(struct admin *a)
{
	if (a == NULL)
		return;
	if (a->http != NULL)
		evhttp_free(a->http);
	ac_free(a->conns);      /* after evhttp: it freed the connections */
	free(a->addr.text);
	free(a);
}

const struct cfg_addr *
admin_addr(const struct admin *a)
{
	return &a->addr;
}

void
admin_set_accepting(struct admin *a, bool on)
{
	struct evconnlistener *l = evhttp_bound_socket_get_listener(a->bound);

	if (on)
		evconnlistener_enable(l);
	else
		evconnlistener_disable(l);
}

int
admin_fd(const struct admin *a)
{
	return (int)evhttp_bound_socket_get_fd(a->bound);
}
