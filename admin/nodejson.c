/*
 * nodejson.c -- see nodejson.h.
 */
#include <stdio.h>
#include <string.h>

#include "admin/nodejson.h"
#include "admin/vmjson.h"
#include "cluster/cluster.h"

/* Sessions this node holds, over every VM. */
static long long
own_sessions(const struct adm_ctx *a)
{
	const struct pool *p = &a->px->mbr->pool;
	long long n = 0;

	for (size_t i = 0; i < p->n; i++)
		n += p->be[i]->sessions;
	return n;
}

void
nodejson_write(struct evbuffer *out, const struct adm_ctx *a, uint64_t now)
{
	struct cl_status st;
	const char *runner = NULL;

	if (a->cl == NULL) {
		evbuffer_add_printf(out, "{\"node\":null,\"redis\":\"off\","
		    "\"draining\":%s,\"sessions\":%lld,\"nodes\":[]}",
		    a->node_draining ? "true" : "false", own_sessions(a));
		return;
	}
	cl_node_status(a->cl, &st);
	if (st.runner)
		runner = st.node;
	for (size_t i = 0; i < st.peers->n && runner == NULL; i++)
		if (st.peers->p[i].runner_seen)
			runner = st.peers->p[i].node;
	evbuffer_add(out, "{\"node\":", 8);
	vmj_str(out, st.node);
	evbuffer_add_printf(out, ",\"redis\":\"%s\",\"master\":",
	    st.up ? "up" : "degraded");
	vmj_str(out, st.link.master);
	evbuffer_add(out, ",\"redis_error\":", 15);
	vmj_str(out, st.link.last_error);
	evbuffer_add_printf(out, ",\"redis_connects\":%llu,\"redis_failures\":%llu,"
	    "\"writes_dropped\":%llu,\"entries_applied\":%llu,"
	    "\"entries_refused\":%llu,\"writes_unchanged\":%llu,"
	    "\"draining\":%s,\"sessions\":%lld,"
	    "\"hook_runner\":",
	    (unsigned long long)st.link.connects,
	    (unsigned long long)st.link.failures,
	    (unsigned long long)st.link.dropped,
	    (unsigned long long)st.applied, (unsigned long long)st.refused,
	    (unsigned long long)st.unchanged,
	    a->node_draining ? "true" : "false", own_sessions(a));
	if (runner != NULL)
		vmj_str(out, runner);
	else
		evbuffer_add(out, "null", 4);
	evbuffer_add(out, ",\"nodes\":[", 10);
	for (size_t i = 0; i < st.peers->n; i++) {
		const struct cl_peer *p = &st.peers->p[i];
		long long n = 0;

		for (size_t k = 0; k < p->nvms; k++)
			n += p->vms[k].sessions;
		evbuffer_add_printf(out, "%s{\"name\":", i ? "," : "");
		vmj_str(out, p->node);
		evbuffer_add_printf(out, ",\"draining\":%s,\"hook_runner\":%s,"
		    "\"sessions\":%lld,\"heard_ms_ago\":%llu}",
		    p->draining ? "true" : "false",
		    p->runner_seen ? "true" : "false", n,
		    (unsigned long long)(now - p->seen_at));
	}
	evbuffer_add(out, "]}", 2);
}
