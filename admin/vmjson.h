/*
 * vmjson.h -- the operator endpoint's JSON output: strings, and the one VM
 * serializer behind /status and /api/v1/backends.
 *
 * Every string put into a reply goes through vmj_str(), lib/json.h's one
 * writer, so a VM's text holding anything (bytes that are not UTF-8,
 * control characters) comes out the same on every endpoint: \ufffd per
 * invalid byte, \u00XX per control character. Each endpoint keeps its own
 * set and order of fields (a view); a field both show is written by the
 * same code.
 */
#ifndef POOLGATE_VMJSON_H
#define POOLGATE_VMJSON_H

#include <stdint.h>

#include <event2/buffer.h>

#include "admin/admin.h"
#include "backends/backend.h"

/*
 * Append s (a C string: any bytes) to out as one JSON string, quotes
 * included, by json_write_str(). Out of memory is not reported: the reply
 * is then cut, as with every other evbuffer_add of the endpoint.
 */
void vmj_str(struct evbuffer *out, const char *s);

/* Which endpoint's fields, in its order. */
enum vmj_view {
	/*
	 * GET /status "backends": name, address, state, takes_new, removed,
	 * weight, max_sessions, sessions, http_connections, connections_total,
	 * affinity, users, health per service {up, last_error,
	 * last_check_ms_ago, latency_ms, checks, failures}.
	 */
	VMJ_STATUS = 0,
	/*
	 * The admin API (adminapi.h): name, address, state, admin,
	 * agent_admin, source, removed, weight, max_sessions,
	 * effective_weight_pct, effective_max_sessions, sessions, load, agent,
	 * health per service {up, last_error}.
	 */
	VMJ_API,
};

/*
 * Append backend b (borrowed; a member of a->px->mbr->pool) to out as one
 * JSON object with the fields of view. now is pg_now_ms() (affinity
 * entries, live Jupyter users and "ms ago" are counted against it). Health
 * is written for the services a->px->svc[0..nsvc).
 */
void vmj_backend(struct evbuffer *out, const struct adm_ctx *a,
    const struct backend *b, enum vmj_view view, uint64_t now);

/*
 * Append every VM of a->px->mbr->pool, in pool order, to out as the JSON
 * array of GET /status (VMJ_STATUS objects, as vmj_backend() writes them).
 * Costs O(VMs + affinity entries + live users): the affinity entries are
 * counted in one pass for all VMs, and each VM's users come from its own
 * list (us_foreach_on), where vmj_backend() walks the whole affinity table
 * for its one VM. Returns 0, or -1 when out of memory (nothing appended).
 */
int  vmj_status_backends(struct evbuffer *out, const struct adm_ctx *a,
    uint64_t now);

#endif
