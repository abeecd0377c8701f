/*
 * report.c -- see report.h.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "backends/report.h"
#include "http/http.h"
#include "lib/json.h"

static const char *const kind_names[REP_NKINDS] = {
	[REP_K_SSH] = "ssh",
	[REP_K_PROCESS] = "process",
	[REP_K_JUPYTER] = "jupyter",
	[REP_K_KERNEL] = "kernel",
	[REP_K_GPU] = "gpu",
};

const char *
rep_kind_name(enum rep_kind k)
{
	return (unsigned)k < REP_NKINDS ? kind_names[k] : "unknown";
}

int
rep_http_body(const char *buf, size_t len, const char **body,
    size_t *bodylen, char *err, size_t errlen)
{
	struct http_resp resp;
	int n;

	*body = NULL;
	*bodylen = 0;
	n = http_parse_response(buf, len, HTTP_M_GET, &resp);
	if (n == 0) {
		snprintf(err, errlen, "incomplete answer (%zu bytes)", len);
		return -1;
	}
	if (n < 0) {
		snprintf(err, errlen, "malformed answer (%s)",
		    resp.why != NULL ? resp.why : "bad head");
		return -1;
	}
	if (resp.status != 200) {
		snprintf(err, errlen, "HTTP %d", resp.status);
		return -1;
	}
	if (resp.body == HTTP_BODY_CHUNKED) {
		snprintf(err, errlen, "chunked answer (the agent sends a length)");
		return -1;
	}
	if (resp.body == HTTP_BODY_LENGTH) {
		if (len - (size_t)n < resp.content_length) {
			snprintf(err, errlen, "answer cut short (%zu of %llu bytes)",
			    len - (size_t)n,
			    (unsigned long long)resp.content_length);
			return -1;
		}
		*bodylen = (size_t)resp.content_length;
	} else
		*bodylen = len - (size_t)n;
	*body = buf + n;
	return 0;
}

/* ---- reading members ------------------------------------------------------ */

/* Copy string member key of obj into dst (cut to size); "" when absent/null. */
static void
get_str(const struct json_node *obj, const char *key, char *dst, size_t size)
{
	const char *s = json_get_str(obj, key);

	snprintf(dst, size, "%s", s != NULL ? s : "");
}

static int64_t
get_int(const struct json_node *obj, const char *key, int64_t dflt)
{
	int64_t v;

	return json_get_int(obj, key, &v) ? v : dflt;
}

/* 1 true, 0 false, -1 absent, null or not a boolean. */
static int
get_tri(const struct json_node *obj, const char *key)
{
	const struct json_node *n = json_get(obj, key);

	if (n == NULL || n->type != JSON_BOOL)
		return -1;
	return n->boolean ? 1 : 0;
}

/*
 * Member key of obj must be of type t (or null/absent when may_null).
 * Returns the node (NULL when absent or null), or sets *bad.
 */
static const struct json_node *
want(const struct json_node *obj, const char *key, enum json_type t,
    bool *bad, char *err, size_t errlen)
{
	const struct json_node *n = json_get(obj, key);

	if (n == NULL || n->type == JSON_NULL)
		return NULL;
	if (n->type != t) {
		if (!*bad)
			snprintf(err, errlen, "%s: %s where %s was expected", key,
			    json_type_name(n->type), json_type_name(t));
		*bad = true;
		return NULL;
	}
	return n;
}

static void
read_user(const struct json_node *u, struct rep_user *ru, bool *bad,
    char *err, size_t errlen)
{
	const struct json_node *work, *jup, *gpu, *w;
	int64_t v;

	get_str(u, "name", ru->name, sizeof(ru->name));
	ru->processes = (int)get_int(u, "processes", 0);
	ru->idle_s = get_int(u, "idle_s", -1);
	if (get_int(u, "sessions", 0) > 0)
		ru->kinds |= 1u << REP_K_SSH;
	if (ru->processes > 0)
		ru->kinds |= 1u << REP_K_PROCESS;
	if ((work = want(u, "work", JSON_ARRAY, bad, err, errlen)) != NULL) {
		for (w = work->child; w != NULL; w = w->next)
			if (w->type == JSON_STRING)
				ru->work = true;
	}
	if ((jup = want(u, "jupyter", JSON_OBJECT, bad, err, errlen)) != NULL) {
		if (get_tri(jup, "server") == 1)
			ru->kinds |= 1u << REP_K_JUPYTER;
		if (json_get_int(jup, "kernels_busy", &v) && v > 0)
			ru->kinds |= 1u << REP_K_KERNEL;
	}
	if ((gpu = want(u, "gpu", JSON_OBJECT, bad, err, errlen)) != NULL &&
	    get_int(gpu, "processes", 0) > 0)
		ru->kinds |= 1u << REP_K_GPU;
}

static void
read_session(const struct json_node *s, struct rep_session *rs, bool *bad,
    char *err, size_t errlen)
{
	const struct json_node *peer;

	get_str(s, "user", rs->user, sizeof(rs->user));
	get_str(s, "tty", rs->tty, sizeof(rs->tty));
	if ((peer = want(s, "peer", JSON_OBJECT, bad, err, errlen)) != NULL) {
		int64_t port = get_int(peer, "port", 0);

		get_str(peer, "address", rs->peer_addr, sizeof(rs->peer_addr));
		rs->peer_port = port > 0 && port < 65536 ? (int)port : 0;
	}
}

static void
read_key(const struct json_node *k, struct rep_key *rk, bool *bad, char *err,
    size_t errlen)
{
	const struct json_node *c, *pr, *p;

	get_str(k, "type", rk->type, sizeof(rk->type));
	get_str(k, "fingerprint", rk->fingerprint, sizeof(rk->fingerprint));
	rk->valid_now = rk->matches_key = -1;
	if ((c = want(k, "certificate", JSON_OBJECT, bad, err, errlen)) == NULL)
		return;
	rk->cert = get_tri(c, "read") != 0;
	rk->cert_host = get_tri(c, "host") == 1;
	get_str(c, "signing_ca", rk->signing_ca, sizeof(rk->signing_ca));
	rk->valid_now = get_tri(c, "valid_now");
	rk->matches_key = get_tri(c, "matches_key");
	if ((pr = want(c, "principals", JSON_ARRAY, bad, err, errlen)) == NULL)
		return;
	for (p = pr->child; p != NULL; p = p->next) {
		if (p->type != JSON_STRING)
			continue;
		if (rk->nprincipals == REP_PRINCIPALS_MAX)
			break;
		snprintf(rk->principals[rk->nprincipals++], REP_NAME_MAX + 1,
		    "%s", p->str);
	}
}

/* The first pending eviction of this VM among the Azure events. */
static void
read_azure(const struct json_node *az, struct vm_report *r, bool *bad,
    char *err, size_t errlen)
{
	const struct json_node *evs, *e;

	if ((evs = want(az, "events", JSON_ARRAY, bad, err, errlen)) == NULL)
		return;
	for (e = evs->child; e != NULL; e = e->next) {
		if (e->type != JSON_OBJECT || get_tri(e, "pending") != 1)
			continue;
		r->evict_pending = true;
		get_str(e, "id", r->evict.id, sizeof(r->evict.id));
		get_str(e, "type", r->evict.type, sizeof(r->evict.type));
		get_str(e, "not_before", r->evict.not_before,
		    sizeof(r->evict.not_before));
		r->evict.deadline_s = get_int(e, "deadline_s", -1);
		return;
	}
}

int
rep_parse(const char *body, size_t len, struct vm_report *r, char *err,
    size_t errlen)
{
	struct json_doc *doc;
	const struct json_node *root, *arr, *n, *ssh, *lim;
	bool bad = false;
	int64_t v;
	int rc = -1;

	memset(r, 0, sizeof(*r));
	if (errlen > 0)
		err[0] = '\0';
	if ((doc = json_parse(body, len, err, errlen)) == NULL)
		return -1;
	root = json_root(doc);
	if (root->type != JSON_OBJECT) {
		snprintf(err, errlen, "the report is %s, not an object",
		    json_type_name(root->type));
		goto out;
	}
	if (!json_get_int(root, "version", &v) || v != 1) {
		snprintf(err, errlen, "unsupported report version (poolgate reads 1)");
		goto out;
	}
	get_str(root, "host", r->host, sizeof(r->host));
	if ((n = want(root, "idle", JSON_BOOL, &bad, err, errlen)) != NULL)
		r->idle = n->boolean;
	r->users_with_work = (int)get_int(root, "users_with_work", 0);
	if (r->users_with_work < 0)
		r->users_with_work = 0;
	r->activity_s = get_int(root, "activity_s", -1);
	v = get_int(root, "load_pct", -1);
	r->load_pct = v < 0 || v > 100000 ? -1 : (int)v;
	r->drain = get_tri(root, "drain") == 1;

	if ((arr = want(root, "users", JSON_ARRAY, &bad, err, errlen)) != NULL)
		for (n = arr->child; n != NULL; n = n->next) {
			if (n->type != JSON_OBJECT)
				continue;
			if (r->nusers == REP_USERS_MAX) {
				r->truncated = true;
				break;
			}
			read_user(n, &r->users[r->nusers], &bad, err, errlen);
			if (r->users[r->nusers].name[0] != '\0')
				r->nusers++;
			else
				memset(&r->users[r->nusers], 0, sizeof(r->users[0]));
		}
	if ((arr = want(root, "sessions", JSON_ARRAY, &bad, err, errlen)) != NULL)
		for (n = arr->child; n != NULL; n = n->next) {
			if (n->type != JSON_OBJECT)
				continue;
			if (r->nsessions == REP_SESSIONS_MAX) {
				r->truncated = true;
				break;
			}
			read_session(n, &r->sessions[r->nsessions++], &bad, err,
			    errlen);
		}
	/* "sources" says how the collection went; ssh and azure sit beside it. */
	if ((ssh = want(root, "ssh", JSON_OBJECT, &bad, err, errlen)) != NULL) {
		const char *st = json_get_str(ssh, "state");

		r->ssh_ok = st != NULL && strcmp(st, "ok") == 0;
		if ((arr = want(ssh, "keys", JSON_ARRAY, &bad, err, errlen)) != NULL)
			for (n = arr->child; n != NULL &&
			    r->nkeys < REP_KEYS_MAX; n = n->next)
				if (n->type == JSON_OBJECT)
					read_key(n, &r->keys[r->nkeys++], &bad,
					    err, errlen);
	}
	if ((n = want(root, "azure", JSON_OBJECT, &bad, err, errlen)) != NULL)
		read_azure(n, r, &bad, err, errlen);
	if ((lim = want(root, "limits", JSON_OBJECT, &bad, err, errlen)) != NULL)
		for (n = lim->child; n != NULL; n = n->next)
			if (n->type == JSON_BOOL && n->boolean)
				r->truncated = true;
	if (bad)
		goto out;
	/* Whatever was left unseen may be someone's work. */
	if (r->truncated)
		r->idle = false;
	rc = 0;
out:
	json_free(doc);
	if (rc != 0)
		memset(r, 0, sizeof(*r));
	return rc;
}

const struct rep_user *
rep_user_find(const struct vm_report *r, const char *name)
{
	for (size_t i = 0; r != NULL && i < r->nusers; i++)
		if (strcmp(r->users[i].name, name) == 0)
			return &r->users[i];
	return NULL;
}

bool
rep_host_identity_ok(const struct vm_report *r, const char *ca_fp,
    const char *principal, char *why, size_t whylen)
{
	if (whylen > 0)
		why[0] = '\0';
	if (!r->ssh_ok)
		return true;
	for (size_t i = 0; i < r->nkeys; i++) {
		const struct rep_key *k = &r->keys[i];
		bool named = k->nprincipals == 0 || principal == NULL ||
		    principal[0] == '\0';

		for (size_t j = 0; !named && j < k->nprincipals; j++)
			named = strcmp(k->principals[j], principal) == 0;
		if (!k->cert || !k->cert_host) {
			snprintf(why, whylen, "host key %s (%s) has no host "
			    "certificate", k->fingerprint, k->type);
			return false;
		}
		if (strcmp(k->signing_ca, ca_fp) != 0) {
			snprintf(why, whylen, "host key %s is certified by %s, "
			    "not the pool's CA %s", k->fingerprint,
			    k->signing_ca[0] ? k->signing_ca : "nobody", ca_fp);
			return false;
		}
		if (k->valid_now == 0 || k->matches_key == 0) {
			snprintf(why, whylen, "the certificate of host key %s is "
			    "%s", k->fingerprint, k->valid_now == 0 ?
			    "not valid now" : "for another key");
			return false;
		}
		if (!named) {
			snprintf(why, whylen, "the certificate of host key %s does "
			    "not name %s", k->fingerprint, principal);
			return false;
		}
	}
	return true;
}
