/*
 * nodejson.h -- this node and the others of its cluster as JSON, the one
 * writer for /status ("cluster") and the admin API (GET /api/v1/node).
 */
#ifndef POOLGATE_NODEJSON_H
#define POOLGATE_NODEJSON_H

#include <event2/buffer.h>

#include "admin/admin.h"

/*
 * Append {"node":..,"redis":"up"|"degraded"|"off","draining":..,
 * "hook_runner":..,"nodes":[..]} to out. Without a cluster group, "node"
 * is null and "redis" "off"; "draining" is the operator's node drain
 * either way. now: monotonic ms.
 */
void nodejson_write(struct evbuffer *out, const struct adm_ctx *a,
    uint64_t now);

#endif
