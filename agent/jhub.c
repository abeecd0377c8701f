/*
 * jhub.c -- see jhub.h.
 */
#include <stdio.h>
#include <string.h>

#include "agent/jhub.h"
#include "agent/util.h"
#include "lib/json.h"

bool
jh_url_safe(const char *url)
{
	size_t i, len = strlen(url);

	if (len == 0 || len >= JH_URL_MAX || url[0] != '/')
		return false;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)url[i];

		if (c <= 0x20 || c >= 0x7f || c == '?' || c == '#' || c == '\\')
			return false;
		if (c == '.' && url[i - 1] == '/' && url[i + 1] == '.' &&
		    (url[i + 2] == '/' || url[i + 2] == '\0'))
			return false;
	}
	return true;
}

/* The later of *ms and the time in member key of obj (when valid). */
static void
later(const struct json_node *obj, const char *key, uint64_t *ms)
{
	const char *s = json_get_str(obj, key);
	uint64_t t;

	if (s != NULL && ag_parse_iso8601(s, &t) == 0 && t > *ms)
		*ms = t;
}

static void
read_user(const struct json_node *m, struct jh_user *u)
{
	const struct json_node *servers, *def, *srv, *pend, *rd;
	const char *url;

	memset(u, 0, sizeof(*u));
	u->kernels_busy = u->kernels_idle = u->kernels_other = -1;
	ag_copy(u->name, sizeof(u->name), json_get_str(m, "name"));
	/* Listed by ?state=active: a server runs, or is on its way. */
	u->server = true;
	later(m, "last_activity", &u->last_activity_ms);
	url = json_get_str(m, "server");
	pend = json_get(m, "pending");
	if (pend != NULL && pend->type == JSON_STRING)
		u->pending = true;
	servers = json_get(m, "servers");
	def = servers != NULL ? json_get(servers, "") : NULL;
	if (servers != NULL && servers->type == JSON_OBJECT)
		for (srv = servers->child; srv != NULL; srv = srv->next)
			later(srv, "last_activity", &u->last_activity_ms);
	if (def != NULL && def->type == JSON_OBJECT) {
		rd = json_get(def, "ready");
		u->ready = rd != NULL && rd->type == JSON_BOOL && rd->boolean;
		pend = json_get(def, "pending");
		if (pend != NULL && pend->type == JSON_STRING)
			u->pending = true;
		if (json_get_str(def, "url") != NULL)
			url = json_get_str(def, "url");
	} else if (url != NULL && !u->pending)
		u->ready = true;    /* "server" is set only once it is ready */
	if (url != NULL && jh_url_safe(url))
		ag_copy(u->server_url, sizeof(u->server_url), url);
}

int
jh_parse_users(const char *buf, size_t len, struct jh_user *out, size_t max,
    size_t *n, size_t *page, bool *truncated, char *err, size_t errlen)
{
	const struct json_node *root, *list, *m;
	struct json_doc *doc;
	const char *name;

	*page = 0;
	if ((doc = json_parse(buf, len, err, errlen)) == NULL)
		return -1;
	root = json_root(doc);
	list = root->type == JSON_OBJECT ? json_get(root, "items") : root;
	if (list == NULL || list->type != JSON_ARRAY) {
		ag_errf(err, errlen, "expected a list of users, found %s",
		    list == NULL ? "an object without items" :
		    json_type_name(list->type));
		json_free(doc);
		return -1;
	}
	for (m = list->child; m != NULL; m = m->next) {
		(*page)++;
		if (m->type != JSON_OBJECT ||
		    (name = json_get_str(m, "name")) == NULL ||
		    name[0] == '\0' || strlen(name) > JH_NAME_MAX)
			continue;
		if (*n >= max) {
			*truncated = true;
			continue;
		}
		read_user(m, &out[(*n)++]);
	}
	json_free(doc);
	return 0;
}

int
jh_parse_kernels(const char *buf, size_t len, struct jh_user *u, char *err,
    size_t errlen)
{
	const struct json_node *root, *k;
	struct json_doc *doc;
	const char *st;
	int busy = 0, idle = 0, other = 0;
	uint64_t last = 0;

	if ((doc = json_parse(buf, len, err, errlen)) == NULL)
		return -1;
	root = json_root(doc);
	if (root->type != JSON_ARRAY) {
		ag_errf(err, errlen, "expected a list of kernels, found %s",
		    json_type_name(root->type));
		json_free(doc);
		return -1;
	}
	for (k = root->child; k != NULL; k = k->next) {
		if (k->type != JSON_OBJECT)
			continue;
		st = json_get_str(k, "execution_state");
		if (st != NULL && strcmp(st, "busy") == 0)
			busy++;
		else if (st != NULL && strcmp(st, "idle") == 0)
			idle++;
		else
			other++;
		later(k, "last_activity", &last);
	}
	json_free(doc);
	u->kernels_busy = busy;
	u->kernels_idle = idle;
	u->kernels_other = other;
	u->kernel_activity_ms = last;
	return 0;
}
