/*
 * admin.c -- see admin.h. Everything is rendered straight into the reply
 * buffer from the live structures; nothing is cached.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "proxy/admin.h"
#include "proxy/hookrun.h"
#include "proxy/json.h"
#include "proxy/adminapi.h"
#include "proxy/log.h"
#include "proxy/statuspage.h"

struct admin {
	struct pg_server            *srv;
	struct evhttp               *http;
	struct cfg_addr              addr;   /* addr.text owned */
};

/*
 * A JSON string: quotes, backslashes and control bytes escaped, and bytes
 * that are not valid UTF-8 (a VM's error text could hold anything) as '?',
 * so /status always parses.
 */
static void
json_str(struct evbuffer *out, const char *s)
{
	evbuffer_add(out, "\"", 1);
	while (*s != '\0') {
		unsigned char c = (unsigned char)*s;
		size_t n = json_utf8_seq((const unsigned char *)s, strlen(s));
		if (c == '"' || c == '\\')
			evbuffer_add_printf(out, "\\%c", c);
		else if (c < 0x20 || c == 0x7f)
			evbuffer_add_printf(out, "\\u%04x", c);
		else if (c < 0x80)
			evbuffer_add(out, s, 1);
		else if (n > 0) {
			evbuffer_add(out, s, n);
			s += n;
			continue;
		} else
			evbuffer_add(out, "?", 1);
		s++;
	}
	evbuffer_add(out, "\"", 1);
}

/* A Prometheus label value: backslash, quote and newline escaped. */
static void
prom_str(struct evbuffer *out, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == '"' || *s == '\\')
			evbuffer_add_printf(out, "\\%c", *s);
		else if (*s == '\n')
			evbuffer_add(out, "\\n", 2);
		else
			evbuffer_add(out, s, 1);
	}
}

static size_t
backends_up(const struct pg_server *srv, size_t svc)
{
	size_t n = 0;

	for (size_t i = 0; i < srv->pool.n; i++)
		n += be_takes_new(srv->pool.be[i], svc);
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
handle_healthz(struct admin *a, struct evhttp_request *req, struct evbuffer *out)
{
	struct pg_server *srv = a->srv;
	bool ok = true;

	if (srv->stopping) {
		evbuffer_add_printf(out, "stopping\n");
		ok = false;
	}
	for (size_t i = 0; i < srv->nsvc; i++) {
		if (backends_up(srv, i) == 0) {
			evbuffer_add_printf(out, "service %s: no VM up\n",
			    srv->svc[i]->cfg.name);
			ok = false;
		}
	}
	if (ok)
		evbuffer_add_printf(out, "ok\n");
	/* Not a reason to take the node out: it serves from memory meanwhile. */
	if (srv->state_failing)
		evbuffer_add_printf(out, "warning: state_dir %s is not writable; "
		    "affinities are kept in memory and saving is retried\n",
		    srv->cfg->state_dir);
	reply(req, ok ? 200 : 503, ok ? "OK" : "Service Unavailable",
	    "text/plain; charset=utf-8", out);
}

struct users_arg {
	struct evbuffer *out;
	const char      *backend;
	size_t           n;
};

static void
users_of_backend(const struct us_session *us, void *arg)
{
	struct users_arg *ua = arg;

	if (strcmp(us->backend, ua->backend) != 0)
		return;
	if (ua->n++ > 0)
		evbuffer_add(ua->out, ",", 1);
	json_str(ua->out, us->user);
}

static void
handle_status(struct admin *a, struct evhttp_request *req, struct evbuffer *out)
{
	struct pg_server *srv = a->srv;
	uint64_t now = pg_now_ms();

	evbuffer_add_printf(out, "{\"version\":\"%s\",\"uptime_s\":%llu,"
	    "\"connections\":%llu,\"reloads\":%llu,\"reload_failures\":%llu,"
	    "\"affinity_entries\":%zu,\"jupyter_users\":%zu,"
	    "\"state\":{\"dir\":", POOLGATE_VERSION,
	    (unsigned long long)((now - srv->started_ms) / 1000),
	    (unsigned long long)srv->nconns, (unsigned long long)srv->reloads,
	    (unsigned long long)srv->reload_failures, aff_count(srv->aff),
	    us_count(srv->us));
	json_str(out, srv->cfg->state_dir);
	evbuffer_add_printf(out, ",\"writable\":%s},\"services\":[",
	    srv->state_failing ? "false" : "true");
	for (size_t i = 0; i < srv->nsvc; i++) {
		const struct service *s = srv->svc[i];
		evbuffer_add_printf(out, "%s{\"name\":", i ? "," : "");
		json_str(out, s->cfg.name);
		evbuffer_add_printf(out, ",\"mode\":\"%s\",\"tls\":%s,"
		    "\"backend_tls\":\"%s\",\"port\":%d,\"listen\":[",
		    cfg_mode_name(s->cfg.mode), s->ssl_server ? "true" : "false",
		    cfg_backend_tls_name(s->cfg.backend_tls), s->cfg.port);
		for (size_t j = 0; j < s->nlis; j++) {
			if (j)
				evbuffer_add(out, ",", 1);
			json_str(out, s->lis[j]->addr.text);
		}
		evbuffer_add_printf(out, "],\"backends_up\":%zu,"
		    "\"connections_total\":%llu,\"active\":%llu,\"errors\":{",
		    backends_up(srv, i), (unsigned long long)s->connections_total,
		    (unsigned long long)s->active);
		for (int e = 0; e < ERR__COUNT; e++)
			evbuffer_add_printf(out, "%s\"%s\":%llu", e ? "," : "",
			    conn_err_name(e), (unsigned long long)s->errors[e]);
		evbuffer_add(out, "}}", 2);
	}
	evbuffer_add(out, "],\"backends\":[", 14);
	for (size_t i = 0; i < srv->pool.n; i++) {
		const struct backend *b = srv->pool.be[i];
		evbuffer_add_printf(out, "%s{\"name\":", i ? "," : "");
		json_str(out, b->name);
		evbuffer_add(out, ",\"address\":", 11);
		json_str(out, b->addr.text);
		evbuffer_add_printf(out, ",\"state\":\"%s\",\"takes_new\":%s,"
		    "\"removed\":%s,"
		    "\"weight\":%d,\"max_sessions\":%d,\"sessions\":%d,"
		    "\"http_connections\":%d,\"connections_total\":%llu,"
		    "\"affinity\":%zu,\"users\":[",
		    be_state_name(be_state(b, srv->nsvc)),
		    srv->nsvc > 0 && be_takes_new(b, 0) ? "true" : "false",
		    b->removed ? "true" : "false", b->weight, b->max_sessions,
		    b->sessions, b->conns, (unsigned long long)__atomic_load_n(&b->connections,
		    __ATOMIC_RELAXED),
		    aff_count_backend(srv->aff, b->name, now));
		struct users_arg ua = { out, b->name, 0 };
		us_foreach(srv->us, now, users_of_backend, &ua);
		evbuffer_add(out, "],\"health\":{", 12);
		for (size_t s = 0; s < srv->nsvc; s++) {
			const struct be_health *h = &b->health[s];
			if (s)
				evbuffer_add(out, ",", 1);
			json_str(out, srv->svc[s]->cfg.name);
			evbuffer_add_printf(out, ":{\"up\":%s,\"last_error\":",
			    h->hc.up ? "true" : "false");
			json_str(out, h->last_error);
			if (h->last_check_ms != 0)
				evbuffer_add_printf(out, ",\"last_check_ms_ago\":%llu",
				    (unsigned long long)(now - h->last_check_ms));
			else
				evbuffer_add_printf(out, ",\"last_check_ms_ago\":null");
			evbuffer_add_printf(out, ",\"latency_ms\":%llu,\"checks\":%llu,"
			    "\"failures\":%llu}",
			    (unsigned long long)h->last_latency_ms,
			    (unsigned long long)h->checks,
			    (unsigned long long)h->failures);
		}
		evbuffer_add(out, "}}", 2);
	}
	evbuffer_add(out, "]}\n", 3);
	reply(req, 200, "OK", "application/json", out);
}

static void
prom_head(struct evbuffer *out, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

static void
handle_metrics(struct admin *a, struct evhttp_request *req, struct evbuffer *out)
{
	static const enum be_state states[] = { BE_UP, BE_DOWN, BE_DRAIN, BE_MAINT };
	struct pg_server *srv = a->srv;

	prom_head(out, "poolgate_up", "gauge", "1 while poolgate runs.");
	evbuffer_add_printf(out, "poolgate_up 1\n");
	prom_head(out, "poolgate_backend_up", "gauge",
	    "1 when the VM passes its health checks for the service.");
	for (size_t i = 0; i < srv->pool.n; i++)
		for (size_t s = 0; s < srv->nsvc; s++) {
			evbuffer_add_printf(out, "poolgate_backend_up{backend=\"");
			prom_str(out, srv->pool.be[i]->name);
			evbuffer_add_printf(out, "\",service=\"");
			prom_str(out, srv->svc[s]->cfg.name);
			evbuffer_add_printf(out, "\"} %d\n",
			    srv->pool.be[i]->health[s].hc.up ? 1 : 0);
		}
	prom_head(out, "poolgate_backend_sessions", "gauge",
	    "Live sessions on the VM, all services.");
	for (size_t i = 0; i < srv->pool.n; i++) {
		evbuffer_add_printf(out, "poolgate_backend_sessions{backend=\"");
		prom_str(out, srv->pool.be[i]->name);
		evbuffer_add_printf(out, "\"} %d\n", srv->pool.be[i]->sessions);
	}
	prom_head(out, "poolgate_backend_state", "gauge",
	    "1 for the state the VM is in (up, down, drain, maint).");
	for (size_t i = 0; i < srv->pool.n; i++) {
		enum be_state st = be_state(srv->pool.be[i], srv->nsvc);
		for (size_t k = 0; k < sizeof(states) / sizeof(states[0]); k++) {
			evbuffer_add_printf(out, "poolgate_backend_state{backend=\"");
			prom_str(out, srv->pool.be[i]->name);
			evbuffer_add_printf(out, "\",state=\"%s\"} %d\n",
			    be_state_name(states[k]), st == states[k]);
		}
	}
	prom_head(out, "poolgate_backend_users", "gauge",
	    "Jupyter users active on the VM.");
	for (size_t i = 0; i < srv->pool.n; i++) {
		evbuffer_add_printf(out, "poolgate_backend_users{backend=\"");
		prom_str(out, srv->pool.be[i]->name);
		evbuffer_add_printf(out, "\"} %zu\n",
		    us_users_on(srv->us, srv->pool.be[i]->name, pg_now_ms()));
	}
	prom_head(out, "poolgate_state_writable", "gauge",
	    "1 while the affinity table can be saved in state_dir.");
	evbuffer_add_printf(out, "poolgate_state_writable %d\n",
	    srv->state_failing ? 0 : 1);
	prom_head(out, "poolgate_backend_connections_total", "counter",
	    "Connections relayed to the VM.");
	for (size_t i = 0; i < srv->pool.n; i++) {
		evbuffer_add_printf(out, "poolgate_backend_connections_total{backend=\"");
		prom_str(out, srv->pool.be[i]->name);
		evbuffer_add_printf(out, "\"} %llu\n",
		    (unsigned long long)__atomic_load_n(
		    &srv->pool.be[i]->connections, __ATOMIC_RELAXED));
	}
	prom_head(out, "poolgate_connections_total", "counter",
	    "Client connections accepted by the service.");
	for (size_t s = 0; s < srv->nsvc; s++) {
		evbuffer_add_printf(out, "poolgate_connections_total{service=\"");
		prom_str(out, srv->svc[s]->cfg.name);
		evbuffer_add_printf(out, "\"} %llu\n",
		    (unsigned long long)srv->svc[s]->connections_total);
	}
	prom_head(out, "poolgate_connections_active", "gauge",
	    "Client connections open on the service.");
	for (size_t s = 0; s < srv->nsvc; s++) {
		evbuffer_add_printf(out, "poolgate_connections_active{service=\"");
		prom_str(out, srv->svc[s]->cfg.name);
		evbuffer_add_printf(out, "\"} %llu\n",
		    (unsigned long long)srv->svc[s]->active);
	}
	prom_head(out, "poolgate_connection_errors_total", "counter",
	    "Connections refused or failed, by reason.");
	for (size_t s = 0; s < srv->nsvc; s++)
		for (int e = 0; e < ERR__COUNT; e++) {
			evbuffer_add_printf(out,
			    "poolgate_connection_errors_total{service=\"");
			prom_str(out, srv->svc[s]->cfg.name);
			evbuffer_add_printf(out, "\",reason=\"%s\"} %llu\n",
			    conn_err_name(e),
			    (unsigned long long)srv->svc[s]->errors[e]);
		}
	prom_head(out, "poolgate_affinity_entries", "gauge",
	    "Entries in the affinity table.");
	evbuffer_add_printf(out, "poolgate_affinity_entries %zu\n",
	    aff_count(srv->aff));
	prom_head(out, "poolgate_backend_bytes_total", "counter",
	    "Bytes relayed for SSH/TCP sessions to the VM, once they ended.");
	for (size_t i = 0; i < srv->pool.n; i++) {
		const struct backend *b = srv->pool.be[i];
		evbuffer_add_printf(out, "poolgate_backend_bytes_total{backend=\"");
		prom_str(out, b->name);
		evbuffer_add_printf(out, "\",direction=\"up\"} %llu\n",
		    (unsigned long long)b->bytes_up);
		evbuffer_add_printf(out, "poolgate_backend_bytes_total{backend=\"");
		prom_str(out, b->name);
		evbuffer_add_printf(out, "\",direction=\"down\"} %llu\n",
		    (unsigned long long)b->bytes_down);
	}
	prom_head(out, "poolgate_bytes_total", "counter",
	    "Bytes relayed by the service (up: client to VM), once connections ended.");
	for (size_t i = 0; i < srv->nsvc; i++) {
		evbuffer_add_printf(out, "poolgate_bytes_total{service=\"");
		prom_str(out, srv->svc[i]->cfg.name);
		evbuffer_add_printf(out, "\",direction=\"up\"} %llu\n",
		    (unsigned long long)srv->svc[i]->bytes_up);
		evbuffer_add_printf(out, "poolgate_bytes_total{service=\"");
		prom_str(out, srv->svc[i]->cfg.name);
		evbuffer_add_printf(out, "\",direction=\"down\"} %llu\n",
		    (unsigned long long)srv->svc[i]->bytes_down);
	}
	prom_head(out, "poolgate_backend_check_latency_seconds", "gauge",
	    "Duration of the last health check of the VM for the service.");
	for (size_t i = 0; i < srv->pool.n; i++)
		for (size_t s = 0; s < srv->nsvc; s++) {
			evbuffer_add_printf(out,
			    "poolgate_backend_check_latency_seconds{backend=\"");
			prom_str(out, srv->pool.be[i]->name);
			evbuffer_add_printf(out, "\",service=\"");
			prom_str(out, srv->svc[s]->cfg.name);
			evbuffer_add_printf(out, "\"} %.3f\n",
			    (double)srv->pool.be[i]->health[s].last_latency_ms / 1000.0);
		}
	prom_head(out, "poolgate_backend_checks_total", "counter",
	    "Health check results (active and passive), by result.");
	for (size_t i = 0; i < srv->pool.n; i++)
		for (size_t s = 0; s < srv->nsvc; s++) {
			const struct be_health *h = &srv->pool.be[i]->health[s];
			for (int ok = 0; ok < 2; ok++) {
				evbuffer_add_printf(out,
				    "poolgate_backend_checks_total{backend=\"");
				prom_str(out, srv->pool.be[i]->name);
				evbuffer_add_printf(out, "\",service=\"");
				prom_str(out, srv->svc[s]->cfg.name);
				evbuffer_add_printf(out, "\",result=\"%s\"} %llu\n",
				    ok ? "ok" : "failed", (unsigned long long)(ok ?
				    h->checks - h->failures : h->failures));
			}
		}
	prom_head(out, "poolgate_selection_seconds", "summary",
	    "Time spent choosing a VM for a connection or request.");
	evbuffer_add_printf(out, "poolgate_selection_seconds_sum %.9f\n"
	    "poolgate_selection_seconds_count %llu\n",
	    (double)srv->sel_ns / 1e9, (unsigned long long)srv->sel_count);
	prom_head(out, "poolgate_queue_length", "gauge",
	    "Connections waiting for a VM (wake from zero), by service.");
	for (size_t i = 0; i < srv->nsvc; i++) {
		evbuffer_add_printf(out, "poolgate_queue_length{service=\"");
		prom_str(out, srv->svc[i]->cfg.name);
		evbuffer_add_printf(out, "\"} %zu\n", srv->svc[i]->wq.n);
	}
	prom_head(out, "poolgate_hook_runs_total", "counter",
	    "Hook command runs, by event and outcome.");
	if (srv->hr != NULL) {
		static const enum hr_outcome outcomes[] = { HR_OK, HR_FAILED,
		    HR_TIMEOUT, HR_SPAWN_ERROR };
		const char *ev;
		for (size_t e = 0; (ev = hr_event_at(srv->hr, e)) != NULL; e++)
			for (size_t o = 0; o < 4; o++)
				evbuffer_add_printf(out, "poolgate_hook_runs_total{"
				    "event=\"%s\",outcome=\"%s\"} %llu\n", ev,
				    hr_outcome_name(outcomes[o]), (unsigned long long)
				    hr_count(srv->hr, ev, outcomes[o]));
	}
	prom_head(out, "poolgate_jupyter_users", "gauge",
	    "Jupyter users active in the pool.");
	evbuffer_add_printf(out, "poolgate_jupyter_users %zu\n", us_count(srv->us));
	prom_head(out, "poolgate_connections_open", "gauge",
	    "Client connections open, all services.");
	evbuffer_add_printf(out, "poolgate_connections_open %llu\n",
	    (unsigned long long)srv->nconns);
	prom_head(out, "poolgate_relay_sessions", "gauge",
	    "TCP sessions each thread holds: main, or relay thread 1..workers.");
	evbuffer_add_printf(out, "poolgate_relay_sessions{thread=\"main\"} %zu\n",
	    srv->wk.home.load);
	for (size_t i = 0; i < srv->wk.n; i++)
		evbuffer_add_printf(out, "poolgate_relay_sessions{thread=\"%zu\"} "
		    "%zu\n", i + 1, srv->wk.w[i].load);
	prom_head(out, "poolgate_relay_moves_total", "counter",
	    "TCP sessions moved from the main thread to a relay thread when "
	    "their bytes turned bulk.");
	evbuffer_add_printf(out, "poolgate_relay_moves_total %llu\n",
	    (unsigned long long)srv->wk.moves);
	prom_head(out, "poolgate_reloads_total", "counter",
	    "Configuration reloads, by result.");
	evbuffer_add_printf(out, "poolgate_reloads_total{result=\"ok\"} %llu\n"
	    "poolgate_reloads_total{result=\"failed\"} %llu\n",
	    (unsigned long long)srv->reloads,
	    (unsigned long long)srv->reload_failures);
	reply(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", out);
}

static void
admin_cb(struct evhttp_request *req, void *arg)
{
	struct admin *a = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
	struct evbuffer *out = evbuffer_new();

	if (out == NULL) {
		evhttp_send_error(req, 500, "out of memory");
		return;
	}
	if (path == NULL)
		path = "/";
	/* The admin API takes POST, PUT and DELETE too; the rest is GET/HEAD. */
	if (strncmp(path, "/api/v1/", 8) == 0) {
		adminapi_handle(a->srv, req, path);
		evbuffer_free(out);
		return;
	}
	/* The HTML status page and its forms (POST /login, /logout, /action). */
	if (strcmp(path, "/") == 0 || strcmp(path, "/login") == 0 ||
	    strcmp(path, "/logout") == 0 || strcmp(path, "/action") == 0) {
		statuspage_handle(a->srv, req, path);
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
	else {
		evbuffer_add_printf(out, "not found; try /, /healthz, /status, /metrics\n");
		reply(req, 404, "Not Found", "text/plain", out);
	}
	evbuffer_free(out);
}

struct admin *
admin_new(struct pg_server *srv, const struct cfg_addr *addr)
{
	struct admin *a;
	char host[64];
	const char *colon;
	int port;

	if ((a = calloc(1, sizeof(*a))) == NULL)
		goto fail;
	a->srv = srv;
	a->addr = *addr;
	if ((a->addr.text = strdup(addr->text)) == NULL)
		goto fail;
	if ((a->http = evhttp_new(srv->base)) == NULL)
		goto fail;
	/* Operators and scrapers send small requests; refuse anything big. */
	evhttp_set_max_headers_size(a->http, 16384);
	evhttp_set_max_body_size(a->http, 65536);
	evhttp_set_timeout(a->http, 10);
	evhttp_set_allowed_methods(a->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD |
	    EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
	evhttp_set_gencb(a->http, admin_cb, a);
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
	if (evhttp_bind_socket_with_handle(a->http, host, (ev_uint16_t)port) == NULL) {
		log_err("admin: cannot listen on %s", addr->text);
		goto fail;
	}
	return a;
fail:
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
	free(a->addr.text);
	free(a);
}

const struct cfg_addr *
admin_addr(const struct admin *a)
{
	return &a->addr;
}
