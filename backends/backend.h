/*
 * backend.h -- the VM registry: every pool member, its state and its load.
 *
 * A backend is one VM. It serves every service; its health is kept per
 * service (indexed like pg_config.services). Its state for the operator is
 * derived: maint > drain (operator drain, or removed from the configuration)
 * > down (some service unhealthy) > up.
 *
 * The registry (struct pool) owns its backends. A backend removed from the
 * configuration is marked `removed`: it takes no new sessions and is freed by
 * srv_reap() (proxy/server.c) once its last session has ended.
 */
#ifndef POOLGATE_BACKEND_H
#define POOLGATE_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backends/health.h"
#include "config/config.h"

enum be_admin { BE_ADMIN_READY = 0, BE_ADMIN_DRAIN, BE_ADMIN_MAINT };
enum be_state { BE_UP = 0, BE_DOWN, BE_DRAIN, BE_MAINT };

struct be_health {
	struct hc_state hc;
	char            last_error[128];  /* "" when the last check passed */
	uint64_t        last_check_ms;    /* clock of the last result, 0 = never */
	uint64_t        last_latency_ms;
	uint64_t        checks;
	uint64_t        failures;
};

struct backend {
	char             name[CFG_NAME_MAX + 1];
	struct cfg_addr  addr;            /* port 0; addr.text owned */
	int              weight;          /* >= 1 */
	int              max_sessions;    /* 0 = no cap */
	enum be_admin    admin;
	bool             removed;         /* gone from the config: drain, then free */
	int              sessions;        /* live sessions, all services */
	uint64_t         connections;     /* total connections relayed */
	struct be_health health[CFG_MAX_SERVICES];
	void            *check[CFG_MAX_SERVICES]; /* owned by backends/check.c */
};

struct pool {
	struct backend **be;              /* owned array of owned backends */
	size_t           n;
	size_t           cap;
	size_t           rr;              /* turn for ties (select.c) */
};

void            pool_init(struct pool *p);
/* Frees every backend; check contexts must have been stopped first. */
void            pool_clear(struct pool *p);
/* The backend called `name`, or NULL. Borrowed. */
struct backend *pool_find(const struct pool *p, const char *name);
/*
 * Add a new backend from its configuration, down for every service with
 * fresh health. Returns the borrowed backend, or NULL on allocation failure.
 */
struct backend *pool_add(struct pool *p, const struct cfg_backend *cb);
/* Remove and free backend at index i (order of others is kept). */
void            pool_remove_at(struct pool *p, size_t i);

/* The state an operator sees, derived as described above. */
enum be_state   be_state(const struct backend *b, size_t nservices);
const char     *be_state_name(enum be_state s);
/* True when the backend may take a new session for service svc. */
bool            be_takes_new(const struct backend *b, size_t svc);
/* True when an existing affinity to the backend may still be honoured. */
bool            be_takes_affine(const struct backend *b, size_t svc);

#endif
