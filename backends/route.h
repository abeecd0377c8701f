/*
 * route.h -- the routing order for one HTTP request or SSH connection (pure).
 *
 * Rules, first that yields a VM wins:
 *   1. ROUTE_USER: the live affinity `user:<name>` for the request's user;
 *   2. ROUTE_COOKIE: the VM named by poolgate's signed cookie. Only when
 *      rule 1 did not choose: the user wins over a cookie that disagrees.
 *      A cookie routes only its own user (route_cookie_applies);
 *   3. ROUTE_SOLE_USER: for SSH, the VM of the only Jupyter user live from
 *      the client's address (us_sole_user_backend);
 *   4. ROUTE_IP: the live client-address affinity `ip_key`;
 *   5. ROUTE_LOAD: the least loaded VM that takes new sessions (sel_pick).
 *
 * Rules 1 and 2 are clues anyone can bring along (a user name in a URL, a
 * cookie kept for weeks), so they lead into a VM that is draining or at
 * max_sessions (be_takes_affine) only for live work there: the user's live
 * Jupyter session is on that VM (`live_backend`), or the request goes to
 * the user's own server with the hub's cookie for it (`own_server`: only a
 * server running there can answer it 2xx, and only that answer starts a
 * session, so nothing new is placed; it keeps users on their running
 * servers past session_idle, and after a restart, which forgets
 * sessions). Otherwise they need a VM that takes new sessions
 * (be_takes_new: ready, healthy for every service, below the cap) and,
 * failing that, give way to the next rule: a user with no live work is
 * placed by the normal rules. Rules 3 and 4 (SSH and the address) accept
 * `up` or `drain` and ignore max_sessions, like an affinity. A VM that is
 * down or in maint, gone from the pool, or listed in `tried` (earlier
 * failed attempts of the same connection) is passed over by every rule,
 * and the next rule is tried. Rule 5 alone takes a turn.
 */
#ifndef POOLGATE_ROUTE_H
#define POOLGATE_ROUTE_H

#include <stdbool.h>
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
	ROUTE_TOKEN,      /* RDP: the VM an RD Connection Broker's token names */
};

/* What is known about the request; every pointer may be NULL (unknown/off). */
struct route_in {
	const char *user;               /* user name, e.g. "alice" */
	const char *cookie_backend;     /* VM named by a valid poolgate cookie */
	const char *cookie_user;        /* the user that cookie names ("" or
	                                   NULL: an anonymous browser's) */
	bool        login;              /* the login form's POST, `user` from
	                                   its body */
	const char *live_backend;       /* VM of the live Jupyter session of
	                                   route_for_user(), if any */
	bool        own_server;         /* to the user's own server, with the
	                                   hub's cookie for it */
	const char *ip_key;             /* e.g. "ip:10.0.0.7"; NULL when
	                                   client-address affinity is off */
	const char *sole_user_backend;  /* SSH: VM of the single Jupyter user
	                                   live from this address */
	const char *token_backend;      /* RDP: the pool member a routing
	                                   token names; before every rule,
	                                   accepted as rule 3 accepts */
};

/*
 * Whether in's cookie may route the request (rule 2): a cookie routes only
 * its own user. A request naming a user follows a cookie naming the same
 * one, never another user's (copied, or left in a shared browser): that
 * would let anyone choose where someone else is placed. A request naming
 * nobody (a hub page) follows any cookie, on behalf of the cookie's user.
 * The login form's POST also follows an anonymous cookie, the one the
 * browser got with the form, so that form and POST reach the same hub
 * (JupyterHub 4.1 signs the form's _xsrf with its own secret); with no live
 * work behind it, that leads only to a VM that takes new sessions. False
 * without a cookie.
 */
bool route_cookie_applies(const struct route_in *in);

/*
 * The user whose live work may open a draining or full VM to the request:
 * its own user, else the user of the cookie it follows; NULL for nobody.
 * The caller looks up that user's live session for live_backend.
 */
const char *route_for_user(const struct route_in *in);

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

/*
 * The user an RDP client's `mstshash` names (http/rdp.h), as a name for
 * `user:` affinity (pure). A name that was not cut (cut false: shorter
 * than mstsc's 9 characters) is the user: returns 1 with it in out. A name
 * that may have been cut is the start of a name: returns 1 with the one
 * user whose live `user:` affinity starts with it (an exact match counts
 * only when no longer name shares the start: never a wrong full match),
 * -1 when several do (ambiguous), 0 when none does. out has room for
 * outlen bytes; a result that does not fit counts as none.
 */
int route_user_hint(const struct aff_table *aff, const char *name, bool cut,
    uint64_t now, char *out, size_t outlen);

/*
 * The member at addr (its address text, as struct backend keeps it) or
 * NULL: where an RDP routing token points.
 */
struct backend *route_member_at(const struct pool *pool, const char *addr);

/* "user", "cookie", "sole_user", "ip", "load", "token", "none": for logs and metrics. */
const char *route_why_name(enum route_why why);

#endif
