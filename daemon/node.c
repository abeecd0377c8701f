/*
 * node.c -- see node.h.
 */
#include <stdio.h>
#include <string.h>

#include "admin/adminapi.h"
#include "backends/hooks.h"
#include "cluster/cluster.h"
#include "daemon/node.h"
#include "daemon/server.h"
#include "lib/log.h"

int
node_prepare(const struct pg_config *ncfg, char *pw, size_t len, char *err,
    size_t errlen)
{
	pw[0] = '\0';
	if (!ncfg->cluster.enabled || ncfg->cluster.password_file == NULL)
		return 0;
	/* the same rules as the admin token: a private file, one line */
	return adminapi_load_token(ncfg->cluster.password_file, pw, len, err,
	    errlen) == 0 ? 0 : -1;
}

/* Every setting the link is made from, as one line. */
static void
signature(const struct cfg_cluster *c, char *buf, size_t len)
{
	size_t o = 0;

	o += (size_t)snprintf(buf + o, len - o, "%s|%s|%s|%llu|%llu|%llu|",
	    c->node, c->prefix, c->master, (unsigned long long)c->timeout_ms,
	    (unsigned long long)c->lease_ms,
	    (unsigned long long)c->node_expiry_ms);
	for (size_t i = 0; i < c->nredis && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "r%s|", c->redis[i].text);
	for (size_t i = 0; i < c->nsentinel && o < len; i++)
		o += (size_t)snprintf(buf + o, len - o, "s%s|", c->sentinel[i].text);
}

/* Another node's hook runner ran a busy or idle edge: go on from it. */
static void
on_edge(void *arg, const char *vm, bool busy)
{
	struct pg_server *srv = arg;

	if (srv->hk != NULL)
		(void)hk_adopt(srv->hk, vm, busy, pg_now_ms());
}

void
node_configure(struct pg_server *srv, const struct pg_config *ncfg,
    const char *pw)
{
	char sig[sizeof(srv->cl_sig)];
	struct cl_node_sink sink = { on_edge, srv };

	if (!ncfg->cluster.enabled) {
		node_free(srv);
		return;
	}
	signature(&ncfg->cluster, sig, sizeof(sig));
	if (srv->cl != NULL && strcmp(sig, srv->cl_sig) == 0 &&
	    strcmp(pw, srv->cl_password) == 0) {
		cl_node_set_ttl(srv->cl, ncfg->affinity_ttl_ms);
		return;
	}
	if (srv->cl != NULL)
		log_info("cluster: settings changed: connecting again");
	node_free(srv);
	srv->cl = cl_node_new(srv->base, &ncfg->cluster, pw[0] ? pw : NULL,
	    &srv->mbr, ncfg->affinity_ttl_ms, &sink);
	if (srv->cl == NULL)
		pg_fatalx("out of memory starting the cluster link");
	cl_node_set_draining(srv->cl, srv->adm.node_draining);
	memcpy(srv->cl_sig, sig, sizeof(sig));
	snprintf(srv->cl_password, sizeof(srv->cl_password), "%s", pw);
	srv->adm.cl = srv->cl;
}

void
node_on_shared(void *arg, enum mbr_shared what, const char *name)
{
	struct pg_server *srv = arg;

	cl_node_shared(srv->cl, what, name);
}

void
node_free(struct pg_server *srv)
{
	cl_node_free(srv->cl);
	srv->cl = NULL;
	srv->adm.cl = NULL;
	srv->cl_sig[0] = '\0';
	explicit_bzero(srv->cl_password, sizeof(srv->cl_password));
}
