/*
 * route.h -- the routing order for one HTTP request or SSH connection (pure).
 *
 * Rules, first that yields a VM wins:
 *   1. ROUTE_USER: the live affinity `user:<name>` for the request's user;
 *   2. ROUTE_COOKIE: the VM named by poolgate's signed cookie. Only when
 *      rule 1 did not choose: the user wins over a cookie that disagrees.
 *      A user with no affinity yet (known only from this request) still
 *      goes back to the cookie's VM: that is how a returning browser finds
 *      its Jupyter server again;
 *   3. ROUTE_SOLE_USER: for SSH, the VM of the only Jupyter user live from
 *      the client's address (us_sole_user_backend);
 *   4. ROUTE_IP: the live client-address affinity `ip_key`;
 *   5. ROUTE_LOAD: the least loaded VM that takes new sessions (sel_pick).
 *
 * Rules 1 to 4 point at a VM where the user's work already is, so like an
 * affinity they accept a VM that is `up` or `drain` for the service and
 * ignore max_sessions (be_takes_affine): a VM at its cap, or draining,
 * still takes its returning users, cookie included. A VM that is down or
 * in maint, gone from the pool, or listed in `tried` (earlier failed
 * attempts of the same connection) is passed over by every rule, and the
 * next rule is tried. Rule 5 alone respects max_sessions and drain.
 */
#ifndef POOLGATE_ROUTE_H
#define POOLGATE_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "backends/affinity.h"
#include "backends/backend.h"

enum route_why {
	ROUTE_NONE = 0,   /* nothing can take it */
	ROUTE_USER,
	ROUTE_COOKIE,
	ROUTE_SOLE_USER,
	ROUTE_IP,
	ROUTE_LOAD,
};

/* What is known about the request; every field may be NULL (unknown/off). */
struct route_in {
	const char *user;               /* user name, e.g. "alice" */
	const char *cookie_backend;     /* VM name from a valid poolgate cookie */
	const char *ip_key;             /* e.g. "ip:10.0.0.7"; NULL when
	                                   client-address affinity is off */
	const char *sole_user_backend;  /* SSH: VM of the single Jupyter user
	                                   live from this address */
};

/*
 * Returns the chosen backend (borrowed from pool) or NULL when none can take
 * it. aff may be NULL (rules 1 and 4 then never apply); a user name too long
 * for an affinity key skips rule 1. *why, when why is not NULL, names the
 * rule that chose (ROUTE_NONE with NULL). Only rule 5 takes a turn (pool->turn).
 * Expired affinity entries met on the way are removed from aff.
 */
struct backend *route_pick(struct pool *pool, size_t svc,
    struct aff_table *aff, const struct route_in *in, uint64_t now,
    struct backend *const *tried, size_t ntried, enum route_why *why);

/* "user", "cookie", "sole_user", "ip", "load", "none": for logs and metrics. */
const char *route_why_name(enum route_why why);

#endif
