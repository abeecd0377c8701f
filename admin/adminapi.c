/*
 * adminapi.c -- see adminapi.h. Routing, authorisation and validation live
 * here; membership changes are made by the pool module (backends/members.h:
 * mbr_upsert, mbr_remove, mbr_set_admin), which owns the pool's invariants.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "admin/adminapi.h"
#include "admin/nodejson.h"
#include "cluster/cluster.h"
#include "admin/signin.h"
#include "admin/vmjson.h"
#include "lib/json.h"
#include "lib/log.h"
#include "lib/text.h"

#define API_MEMBERS_MAX 16
#define API_ERR_MAX     512

/* One request being answered. */
struct api_req {
	struct adm_ctx        *a;
	struct members        *mbr;       /* a->px->mbr */
	struct evhttp_request *req;
	enum evhttp_cmd_type   cmd;
	const char            *what;      /* "PUT vm4", "POST vm4 drain": for logs */
	char                   peer[64];
};

/* ---- Output --------------------------------------------------------------- */

void
adminapi_backend_json(struct evbuffer *out, const struct adm_ctx *a,
    const struct backend *b)
{
	vmj_backend(out, a, b, VMJ_API, pg_now_ms());
}

static const char *
reason(int code)
{
	switch (code) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 429: return "Too Many Requests";
	default:  return "Internal Server Error";
	}
}

static void
send_json(struct api_req *r, int code, struct evbuffer *body)
{
	struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);

	evbuffer_add(body, "\n", 1);
	evhttp_add_header(h, "Content-Type", "application/json");
	evhttp_add_header(h, "Cache-Control", "no-store");
	evhttp_send_reply(r->req, code, reason(code), body);
}

/* Reply {"error": "..."}; a mutating call's refusal is logged. */
static void
send_error(struct api_req *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
send_error(struct api_req *r, int code, const char *fmt, ...)
{
	char msg[API_ERR_MAX];
	struct evbuffer *out;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* 429s are not logged one by one: the lock-out was, once */
	if (r->what != NULL && code != 429) {
		/* msg may quote the body: one log line, whatever it holds */
		char line[API_ERR_MAX];
		size_t i;

		for (i = 0; msg[i] != '\0'; i++)
			line[i] = (unsigned char)msg[i] < 0x20 || msg[i] == 0x7f ?
			    '?' : msg[i];
		line[i] = '\0';
		if (code == 401 || code == 403)
			log_warn("admin api: %s by %s: refused (%d): %s", r->what,
			    r->peer, code, line);
		else
			log_info("admin api: %s by %s: refused (%d): %s", r->what,
			    r->peer, code, line);
	}
	if ((out = evbuffer_new()) == NULL) {
		evhttp_send_error(r->req, 500, "out of memory");
		return;
	}
	evbuffer_add(out, "{\"error\":", 9);
	vmj_str(out, msg);
	evbuffer_add(out, "}", 1);
	send_json(r, code, out);
	evbuffer_free(out);
}

/* Reply with one VM, or {"name":..., "removed":true} once it is gone. */
static void
send_backend(struct api_req *r, int code, const char *name)
{
	const struct backend *b = pool_find(&r->mbr->pool, name);
	struct evbuffer *out = evbuffer_new();

	if (out == NULL) {
		evhttp_send_error(r->req, 500, "out of memory");
		return;
	}
	if (b != NULL)
		adminapi_backend_json(out, r->a, b);
	else {
		evbuffer_add(out, "{\"name\":", 8);
		vmj_str(out, name);
		evbuffer_add_printf(out, ",\"removed\":true}");
	}
	send_json(r, code, out);
	evbuffer_free(out);
}

/* ---- Authorisation -------------------------------------------------------- */

/*
 * Check "Authorization: Bearer TOKEN". Returns 0 when allowed, or the
 * status of the refusal with a reply already sent. A wrong token counts
 * against the client's address in the table the sign-in form uses too
 * (signin.h); an address locked out there gets 429 whatever it sends.
 */
static int
authorise(struct api_req *r)
{
	struct si_fails *fails;
	const char *h, *tok;
	uint64_t wait, now = pg_now_ms();
	size_t gl;

	if (!r->a->token_set) {
		send_error(r, 403, "mutating calls are refused: admin.token_file "
		    "is not set");
		return 403;
	}
	if ((fails = si_fails_of(&r->a->fails)) == NULL) {
		send_error(r, 500, "out of memory");
		return 500;
	}
	if ((wait = si_fails_wait(fails, r->peer, now)) > 0) {
		char secs[24];

		snprintf(secs, sizeof(secs), "%llu",
		    (unsigned long long)((wait + 999) / 1000));
		evhttp_add_header(evhttp_request_get_output_headers(r->req),
		    "Retry-After", secs);
		send_error(r, 429, "too many wrong tokens from %s; try again in "
		    "%s s", r->peer, secs);
		return 429;
	}
	h = evhttp_find_header(evhttp_request_get_input_headers(r->req),
	    "Authorization");
	/* RFC 7235: the scheme is case-insensitive; one or more spaces follow */
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0) {
		evhttp_add_header(evhttp_request_get_output_headers(r->req),
		    "WWW-Authenticate", "Bearer realm=\"poolgate\"");
		send_error(r, 401, "authorization required: send "
		    "\"Authorization: Bearer <token>\"");
		return 401;
	}
	for (tok = h + 7; *tok == ' '; tok++)
		;
	for (gl = strlen(tok); gl > 0 && (tok[gl - 1] == ' ' || tok[gl - 1] == '\t');
	    gl--)
		;
	if (gl == 0) {
		evhttp_add_header(evhttp_request_get_output_headers(r->req),
		    "WWW-Authenticate", "Bearer realm=\"poolgate\"");
		send_error(r, 401, "authorization required: the bearer token is empty");
		return 401;
	}
	/* in constant time, as the status page's sign-in */
	if (!si_token_equal(r->a->token, tok, gl)) {
		send_error(r, 403, "invalid token");
		if (si_fails_add(fails, r->peer, now))
			log_warn("admin: %s locked out for %d s: %d wrong tokens "
			    "(sign-in or API) within a minute; it gets 429 until then",
			    r->peer, SI_FAIL_WINDOW_MS / 1000, SI_FAILS_MAX);
		return 403;
	}
	return 0;
}

int
adminapi_load_token(const char *path, char *token_out, size_t len, char *err,
    size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t n = 0, cap = 0;
	ssize_t k;
	int fd = -1, rc = -1;

	if (len > 0)
		explicit_bzero(token_out, len);
	if (len < ADMINAPI_TOKEN_MIN + 1) {
		snprintf(err, errlen, "admin.token_file %s: no room for a token", path);
		goto out;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY)) < 0) {
		snprintf(err, errlen, "admin.token_file %s: %s", path, strerror(errno));
		goto out;
	}
	/* fstat the open file: what is checked is what is read */
	if (fstat(fd, &st) != 0) {
		snprintf(err, errlen, "admin.token_file %s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "admin.token_file %s: not a regular file", path);
		goto out;
	}
	if (st.st_mode & (S_IROTH | S_IWOTH)) {
		snprintf(err, errlen, "admin.token_file %s: readable or writable by "
		    "others (mode %04o); chmod o-rw %s", path,
		    (unsigned)(st.st_mode & 07777), path);
		goto out;
	}
	/* len - 1 token bytes, "\r\n", and one more to see that it is too long */
	cap = len + 2;
	if ((buf = malloc(cap)) == NULL) {
		snprintf(err, errlen, "admin.token_file %s: out of memory", path);
		goto out;
	}
	while (n < cap) {
		if ((k = read(fd, buf + n, cap - n)) < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "admin.token_file %s: %s", path,
			    strerror(errno));
			goto out;
		}
		if (k == 0)
			break;
		n += (size_t)k;
	}
	if (n > 0 && buf[n - 1] == '\n') {
		n--;
		if (n > 0 && buf[n - 1] == '\r')
			n--;
	}
	if (n > len - 1) {
		snprintf(err, errlen, "admin.token_file %s: the token is longer than "
		    "%zu bytes", path, len - 1);
		goto out;
	}
	if (n < ADMINAPI_TOKEN_MIN) {
		snprintf(err, errlen, "admin.token_file %s: the token has %zu bytes; "
		    "at least %d are needed", path, n, ADMINAPI_TOKEN_MIN);
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)buf[i] <= 0x20 || (unsigned char)buf[i] >= 0x7f) {
			snprintf(err, errlen, "admin.token_file %s: byte %zu of the "
			    "token is a space or not printable ASCII", path, i);
			goto out;
		}
	memcpy(token_out, buf, n);
	token_out[n] = '\0';
	rc = 0;
out:
	if (buf != NULL) {
		explicit_bzero(buf, cap);
		free(buf);
	}
	if (fd >= 0)
		close(fd);
	return rc;
}

/* ---- Requests ------------------------------------------------------------- */

static const char *
cmd_name(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET: return "GET";
	case EVHTTP_REQ_HEAD: return "HEAD";
	case EVHTTP_REQ_POST: return "POST";
	case EVHTTP_REQ_PUT: return "PUT";
	case EVHTTP_REQ_DELETE: return "DELETE";
	default: return "other";
	}
}

static void
send_405(struct api_req *r, const char *allow)
{
	evhttp_add_header(evhttp_request_get_output_headers(r->req), "Allow",
	    allow);
	send_error(r, 405, "method %s not allowed here (allowed: %s)",
	    cmd_name(r->cmd), allow);
}

static void
list_backends(struct api_req *r)
{
	struct evbuffer *out = evbuffer_new();
	uint64_t now = pg_now_ms();

	if (out == NULL) {
		evhttp_send_error(r->req, 500, "out of memory");
		return;
	}
	evbuffer_add(out, "{\"backends\":[", 13);
	for (size_t i = 0; i < r->mbr->pool.n; i++) {
		if (i > 0)
			evbuffer_add(out, ",", 1);
		vmj_backend(out, r->a, r->mbr->pool.be[i], VMJ_API, now);
	}
	evbuffer_add(out, "]}", 2);
	send_json(r, 200, out);
	evbuffer_free(out);
}

/* "application/json", any case, parameters (charset) allowed. */
static bool
is_json_type(const char *ct)
{
	size_t n;

	if (ct == NULL)
		return false;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	n = strcspn(ct, "; \t");
	if (n != 16 || strncasecmp(ct, "application/json", 16) != 0)
		return false;
	ct += n;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	return *ct == '\0' || *ct == ';';
}

/*
 * An integer member in [lo, hi], or its default when absent. Returns 0, or
 * -1 with the 400 sent.
 */
static int
int_member(struct api_req *r, const struct json_member *m, size_t nm,
    const char *key, int lo, int hi, int *v)
{
	const struct json_member *j = json_find(m, nm, key);

	if (j == NULL)
		return 0;
	if (j->type != JSON_NUMBER) {
		send_error(r, 400, "%s: expected an integer from %d to %d, got %s",
		    key, lo, hi, json_type_name(j->type));
		return -1;
	}
	if (!j->is_int || j->integer < lo || j->integer > hi) {
		send_error(r, 400, "%s: expected an integer from %d to %d, got %.64s",
		    key, lo, hi, j->str);
		return -1;
	}
	*v = (int)j->integer;
	return 0;
}

static void
put_backend(struct api_req *r, const char *name)
{
	static const char *const known[] = { "address", "weight", "max_sessions" };
	struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
	struct json_member m[API_MEMBERS_MAX];
	const struct json_member *ja;
	const struct backend *b;
	struct cfg_addr tmp;
	char err[API_ERR_MAX], address[128], *buf = NULL;
	size_t len, nm, i, k;
	int weight = 1, max_sessions = 0, rc;

	if (!is_json_type(evhttp_find_header(
	    evhttp_request_get_input_headers(r->req), "Content-Type"))) {
		send_error(r, 415, "Content-Type must be application/json");
		goto out;
	}
	if ((len = evbuffer_get_length(in)) > JSON_BODY_MAX) {
		send_error(r, 413, "body of %zu bytes is over the limit of %d bytes",
		    len, JSON_BODY_MAX);
		goto out;
	}
	/* the body, then as much again for its decoded strings (json.h) */
	if ((buf = malloc(2 * len + 2)) == NULL) {
		send_error(r, 500, "out of memory");
		goto out;
	}
	evbuffer_copyout(in, buf, len);
	if (json_parse_object(buf, len, m, API_MEMBERS_MAX, &nm, buf + len + 1,
	    len + 1, err, sizeof(err)) != 0) {
		send_error(r, 400, "invalid JSON: %s", err);
		goto out;
	}
	for (i = 0; i < nm; i++) {
		for (k = 0; k < sizeof(known) / sizeof(known[0]); k++)
			if (strcmp(m[i].key, known[k]) == 0)
				break;
		if (k == sizeof(known) / sizeof(known[0])) {
			send_error(r, 400, "unknown member \"%.64s\" (expected address, "
			    "weight, max_sessions)", m[i].key);
			goto out;
		}
	}
	b = pool_find(&r->mbr->pool, name);
	if ((ja = json_find(m, nm, "address")) != NULL) {
		if (ja->type != JSON_STRING) {
			send_error(r, 400, "address: expected a string, got %s",
			    json_type_name(ja->type));
			goto out;
		}
		memset(&tmp, 0, sizeof(tmp));
		if (ja->len >= sizeof(address) ||
		    cfg_parse_addr(ja->str, false, &tmp) != 0) {
			send_error(r, 400, "address: \"%.64s\" is not a numeric IPv4 or "
			    "IPv6 address", ja->str);
			goto out;
		}
		snprintf(address, sizeof(address), "%s", ja->str);
	} else if (b != NULL && b->addr.text != NULL) {
		/* a copy: the update may free the backend's text */
		snprintf(address, sizeof(address), "%s", b->addr.text);
	} else {
		send_error(r, 400, "address is required to create VM %s", name);
		goto out;
	}
	if (b != NULL) {
		weight = b->weight;
		max_sessions = b->max_sessions;
	}
	if (int_member(r, m, nm, "weight", 1, ADMINAPI_WEIGHT_MAX, &weight) != 0 ||
	    int_member(r, m, nm, "max_sessions", 0, ADMINAPI_SESSIONS_MAX,
	    &max_sessions) != 0)
		goto out;

	err[0] = '\0';
	rc = mbr_upsert(r->mbr, BE_SRC_API, name, address, weight,
	    max_sessions, err, sizeof(err));
	if (rc < 0) {
		/* mbr_upsert says "owned by" when another source has it */
		send_error(r, strstr(err, "owned by") != NULL ? 409 : 400, "%s",
		    err[0] != '\0' ? err : "refused");
		goto out;
	}
	log_info("admin api: PUT %s (%s) by %s: %s", name, address, r->peer,
	    rc == 1 ? "created" : "updated");
	if (pool_find(&r->mbr->pool, name) == NULL) {
		send_error(r, 500, "VM %s is missing after the update", name);
		goto out;
	}
	if (rc == 1) {
		char loc[sizeof(ADMINAPI_PREFIX) + 16 + CFG_NAME_MAX];
		snprintf(loc, sizeof(loc), "%sbackends/%s", ADMINAPI_PREFIX, name);
		evhttp_add_header(evhttp_request_get_output_headers(r->req),
		    "Location", loc);
	}
	send_backend(r, rc == 1 ? 201 : 200, name);
out:
	free(buf);
}

static void
delete_backend(struct api_req *r, const char *name)
{
	char err[API_ERR_MAX];
	const struct backend *b;
	int sessions;

	if ((b = pool_find(&r->mbr->pool, name)) == NULL) {
		send_error(r, 404, "no VM named %s", name);
		return;
	}
	sessions = b->sessions;
	err[0] = '\0';
	if (mbr_remove(r->mbr, BE_SRC_API, name, err, sizeof(err)) != 0) {
		if (pool_find(&r->mbr->pool, name) == NULL)
			send_error(r, 404, "no VM named %s", name);
		else
			send_error(r, 409, "%s", err[0] != '\0' ? err : "refused");
		return;
	}
	log_info("admin api: DELETE %s by %s: removed; drains its %d sessions, "
	    "then is forgotten", name, r->peer, sessions);
	send_backend(r, 202, name);
}

static void
set_admin(struct api_req *r, const char *name, enum be_admin admin)
{
	char err[API_ERR_MAX];

	if (pool_find(&r->mbr->pool, name) == NULL) {
		send_error(r, 404, "no VM named %s", name);
		return;
	}
	err[0] = '\0';
	if (mbr_set_admin(r->mbr, name, admin, err, sizeof(err)) != 0) {
		if (pool_find(&r->mbr->pool, name) == NULL)
			send_error(r, 404, "no VM named %s", name);
		else
			send_error(r, 409, "%s", err[0] != '\0' ? err : "refused");
		return;
	}
	log_info("admin api: POST %s %s by %s: ok", name, be_admin_name(admin),
	    r->peer);
	send_backend(r, 200, name);
}

/* GET /api/v1/node: this node, the others, Redis and the hook runner. */
static void
send_node(struct api_req *r)
{
	struct evbuffer *out = evbuffer_new();

	if (out == NULL) {
		evhttp_send_error(r->req, 500, "out of memory");
		return;
	}
	nodejson_write(out, r->a, pg_now_ms());
	send_json(r, 200, out);
	evbuffer_free(out);
}

/*
 * /api/v1/node[/drain|/ready]: the node's own place in the front. A
 * drained node answers /healthz with 503, so the load balancer or
 * keepalived sends new clients elsewhere; its live sessions go on.
 */
static void
node_endpoint(struct api_req *r, const char *rest)
{
	bool drain;

	if (strcmp(rest, "node") == 0) {
		if (r->cmd != EVHTTP_REQ_GET && r->cmd != EVHTTP_REQ_HEAD)
			send_405(r, "GET, HEAD");
		else
			send_node(r);
		return;
	}
	drain = strcmp(rest, "node/drain") == 0;
	if (!drain && strcmp(rest, "node/ready") != 0) {
		send_error(r, 404, "no such endpoint (try %snode, %snode/drain or "
		    "%snode/ready)", ADMINAPI_PREFIX, ADMINAPI_PREFIX,
		    ADMINAPI_PREFIX);
		return;
	}
	if (r->cmd != EVHTTP_REQ_POST) {
		send_405(r, "POST");
		return;
	}
	r->what = drain ? "POST node/drain" : "POST node/ready";
	if (authorise(r) != 0)
		return;
	r->a->node_draining = drain;
	cl_node_set_draining(r->a->cl, drain);
	log_info("admin api: %s by %s: ok", r->what, r->peer);
	send_node(r);
}

/*
 * POST upgrade: start a binary upgrade (daemon/upgrade.h). 202: the new
 * process was started; whether it took over is in the log and in its
 * /status (pid, upgraded_from).
 */
static void
upgrade_endpoint(struct api_req *r)
{
	char why[256] = "";
	struct evbuffer *out;

	if (r->cmd != EVHTTP_REQ_POST) {
		send_405(r, "POST");
		return;
	}
	r->what = "POST upgrade";
	if (authorise(r) != 0)
		return;
	if (r->a->upgrade == NULL ||
	    r->a->upgrade(r->a->upgrade_arg, why, sizeof(why)) == -1) {
		send_error(r, 409, "upgrade refused: %s",
		    why[0] ? why : "not available");
		return;
	}
	log_info("admin api: POST upgrade by %s: ok", r->peer);
	if ((out = evbuffer_new()) == NULL) {
		evhttp_send_error(r->req, 500, NULL);
		return;
	}
	evbuffer_add_printf(out, "{\"upgrade\":\"started\"}\n");
	send_json(r, 202, out);
	evbuffer_free(out);
}

void
adminapi_handle(struct adm_ctx *a, struct evhttp_request *req,
    const char *path)
{
	struct api_req r = { a, a->px->mbr, req, evhttp_request_get_command(req),
	    NULL, "" };
	struct evhttp_connection *conn = evhttp_request_get_connection(req);
	const char *rest, *slash, *action = NULL;
	char name[CFG_NAME_MAX + 1], what[CFG_NAME_MAX + 32];
	enum be_admin admin = BE_ADMIN_READY;
	size_t nlen;
	bool mutating;

	if (conn != NULL) {
		char *addr = NULL;
		ev_uint16_t port = 0;
		evhttp_connection_get_peer(conn, &addr, &port);
		snprintf(r.peer, sizeof(r.peer), "%s", addr != NULL ? addr : "?");
	}
	if (strncmp(path, ADMINAPI_PREFIX, strlen(ADMINAPI_PREFIX)) != 0)
		goto notfound;
	rest = path + strlen(ADMINAPI_PREFIX);
	if (strncmp(rest, "node", 4) == 0 && (rest[4] == '\0' || rest[4] == '/')) {
		node_endpoint(&r, rest);
		return;
	}
	if (strcmp(rest, "upgrade") == 0) {
		upgrade_endpoint(&r);
		return;
	}
	if (strcmp(rest, "backends") == 0 || strcmp(rest, "backends/") == 0) {
		if (r.cmd != EVHTTP_REQ_GET && r.cmd != EVHTTP_REQ_HEAD)
			send_405(&r, "GET, HEAD");
		else
			list_backends(&r);
		return;
	}
	if (strncmp(rest, "backends/", 9) != 0)
		goto notfound;
	rest += 9;
	slash = strchr(rest, '/');
	nlen = slash != NULL ? (size_t)(slash - rest) : strlen(rest);
	if (slash != NULL) {
		action = slash + 1;
		if (!be_admin_parse(action, &admin))
			goto notfound;
		if (r.cmd != EVHTTP_REQ_POST) {
			send_405(&r, "POST");
			return;
		}
	} else if (r.cmd != EVHTTP_REQ_GET && r.cmd != EVHTTP_REQ_HEAD &&
	    r.cmd != EVHTTP_REQ_PUT && r.cmd != EVHTTP_REQ_DELETE) {
		send_405(&r, "GET, HEAD, PUT, DELETE");
		return;
	}
	mutating = r.cmd != EVHTTP_REQ_GET && r.cmd != EVHTTP_REQ_HEAD;
	if (mutating) {
		/*
		 * From here on every outcome is logged, refusals included. The
		 * name is not validated yet: keep the log line one clean line.
		 */
		char shown[CFG_NAME_MAX + 1];
		size_t k;

		for (k = 0; k < nlen && k < CFG_NAME_MAX; k++)
			shown[k] = rest[k] > 0x20 && rest[k] < 0x7f ? rest[k] : '?';
		shown[k] = '\0';
		snprintf(what, sizeof(what), "%s %s%s%s", cmd_name(r.cmd), shown,
		    action != NULL ? " " : "", action != NULL ? action : "");
		r.what = what;
		if (authorise(&r) != 0)
			return;
	}
	/* the one name rule: never an option ("-rf") or a path ("..") */
	if (nlen <= CFG_NAME_MAX) {
		memcpy(name, rest, nlen);
		name[nlen] = '\0';
	}
	if (nlen > CFG_NAME_MAX || !pg_name_valid(name, CFG_NAME_MAX)) {
		send_error(&r, 400, "\"%.*s\" is not a valid VM name (expected 1 to "
		    "%d of " PG_NAME_RULE ")", (int)(nlen < 64 ? nlen : 64), rest,
		    CFG_NAME_MAX);
		return;
	}
	if (action != NULL)
		set_admin(&r, name, admin);
	else if (r.cmd == EVHTTP_REQ_PUT)
		put_backend(&r, name);
	else if (r.cmd == EVHTTP_REQ_DELETE)
		delete_backend(&r, name);
	else if (pool_find(&r.mbr->pool, name) == NULL)
		send_error(&r, 404, "no VM named %s", name);
	else
		send_backend(&r, 200, name);
	return;
notfound:
	send_error(&r, 404, "no such endpoint %.128s (try %sbackends)", path,
	    ADMINAPI_PREFIX);
}
