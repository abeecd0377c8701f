/*
 * admin.h -- the operator endpoint (libevent evhttp).
 *
 * GET /healthz   200 "ok" when every service has a VM up, else 503 + reason
 * GET /status    JSON: services, VMs, health, sessions, affinity
 * GET /metrics   Prometheus text format
 */
#ifndef POOLGATE_ADMIN_H
#define POOLGATE_ADMIN_H

#include "config/config.h"
#include "proxy/server.h"

struct admin;

/*
 * Bind the endpoint on addr (copied) and serve srv. Returns NULL when the
 * address cannot be bound (logged).
 */
struct admin *admin_new(struct pg_server *srv, const struct cfg_addr *addr);
void          admin_free(struct admin *a);
/* The address the endpoint is bound to (borrowed). */
const struct cfg_addr *admin_addr(const struct admin *a);

#endif
