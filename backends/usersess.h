/*
 * usersess.h -- Jupyter sessions: one user on one VM (pure).
 *
 * A Jupyter session is active while any websocket of the user to that VM is
 * open, or while the user made a request in the last `session_idle`. A user
 * has at most one session: a request routed to another VM ends the old one
 * at once. Anonymous requests are not sessions (the caller does not call in).
 *
 * The table tells the caller when sessions start and end, so that
 * `backend->sessions` counts distinct active users, not HTTP connections,
 * and so that the affinity session `user:<name>` starts and ends with them.
 * Every start the caller is told about is matched by exactly one end, told
 * by exactly one of: us_request() (`ended`), us_expire(), us_forget_backend().
 *
 * It also remembers the client addresses each user was last seen from (up
 * to US_ADDRS, the least recent forgotten first) for the rule "SSH from an
 * address with exactly one active Jupyter user goes to that user's VM".
 *
 * Bounds: at most max_users users; lookups by user name and by address are
 * O(1) on average (hash tables with a per-table random SipHash key, since
 * names and addresses come from clients); us_expire() costs O(1) per
 * session it ends (idle users are kept in order of last activity). The
 * sessions of each VM are kept apart too, counted as they start, move and
 * end, so the questions a scrape asks per VM (us_users_on, us_foreach_on)
 * never walk the whole table.
 *
 * The clock is injected: `now` is milliseconds of a monotonic clock chosen
 * by the caller. A `now` smaller than one passed before is treated as the
 * largest seen, so that the order of idle users holds.
 *
 * Names and addresses are copied in; nothing the caller passes is kept.
 */
#ifndef POOLGATE_USERSESS_H
#define POOLGATE_USERSESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

#define US_USER_MAX 32   /* bytes in a user name; HU_NAME_MAX in http/httpuser.h */
#define US_ADDR_MAX 63   /* bytes in a client address text (inet_ntop, scope) */
#define US_ADDRS    4    /* recent client addresses kept per user */

struct us_table;

enum us_result {
	US_NOMEM     = -3,  /* a new user, or a new VM for a user's session:
	                       allocation failed; not counted, nothing ends */
	US_FULL      = -2,  /* a new user: max_users active users; not counted */
	US_INVALID   = -1,  /* user NULL, empty or too long; backend NULL, empty
	                       or too long: not counted */
	US_CONTINUED = 0,   /* the user's live session on this VM goes on */
	US_STARTED   = 1,   /* a session started: count it on the VM */
};

/* A session that ended, copied out (valid after the node is gone). */
struct us_ended {
	bool ended;                        /* false: nothing ended, rest unset */
	char user[US_USER_MAX + 1];
	char backend[CFG_NAME_MAX + 1];
};

/* One live session as seen by callbacks; strings borrowed for the call. */
struct us_session {
	const char *user;
	const char *backend;
	uint32_t    ws;            /* open websockets */
	uint64_t    last_seen_ms;  /* last request, or close of the last websocket */
	uint64_t    id;            /* unique per session in this table, >= 1 */
};

/*
 * Called once per session ended by us_expire() or us_forget_backend(), after
 * the session has left the table. s and its strings are valid only during
 * the call. fn must not call any us_ function on the same table.
 */
typedef void us_fn(const struct us_session *s, void *arg);

/*
 * New empty table for at most max_users users whose sessions idle out after
 * idle_ms without a request (and with no websocket). Returns NULL on
 * allocation failure. max_users 0 refuses every user.
 */
struct us_table *us_new(size_t max_users, uint64_t idle_ms);
/* Frees the table and everything in it; t may be NULL. No callback fires. */
void             us_free(struct us_table *t);
/*
 * Changes session_idle for every session at once, those already idle
 * included: a shorter value ends them at the next us_expire() (a reload).
 * 0 means a request alone never keeps a session; only websockets do.
 */
void             us_set_idle(struct us_table *t, uint64_t idle_ms);

/*
 * A request by `user` was routed to `backend`; addr is the client address
 * text (may be NULL or empty: nothing remembered; longer than US_ADDR_MAX:
 * not remembered either). ended must not be NULL.
 *
 * Returns US_CONTINUED when the user has a live session on `backend` (its
 * idle timer restarts), US_STARTED when a session starts there: the caller
 * then counts it on the VM and starts the affinity `user:<name>`. With
 * US_STARTED, *ended (always written; ended->ended false otherwise) may
 * report one session that ended at the same moment, which the caller must
 * uncount before counting the new one:
 *   - the same user's session on another VM (the user moved), or on this
 *     VM when it had already idled out but was not yet swept; or
 *   - another user's idled-out session, reclaimed to make room when the
 *     table was full.
 * US_FULL, US_NOMEM and US_INVALID change nothing and end nothing: the
 * caller serves the request without counting it.
 */
enum us_result us_request(struct us_table *t, const char *user,
    const char *backend, const char *addr, uint64_t now,
    struct us_ended *ended);

/*
 * A websocket of `user` to `backend` opened (after its Upgrade request went
 * through us_request()). While a session has an open websocket it never
 * idles out. Returns the session id to pass to us_ws_close(), or 0 when the
 * user has no live session on `backend` (the websocket is then not counted
 * and must not be closed here).
 */
uint64_t us_ws_open(struct us_table *t, const char *user, const char *backend,
    uint64_t now);

/*
 * The websocket opened with id `id` (from us_ws_open) closed. When it was
 * the session's last one, the idle timer restarts from now. A close for a
 * session that has since ended (the user moved, or the VM was forgotten)
 * is ignored: the id names one session, never its successor.
 */
void     us_ws_close(struct us_table *t, const char *user, uint64_t id,
    uint64_t now);

/*
 * End every session idle for idle_ms or more with no websocket open: at
 * exactly last_seen + idle_ms a session has ended. fn (may be NULL) is
 * called once per ended session so the caller uncounts it and ends the
 * affinity session. Returns how many ended.
 */
size_t   us_expire(struct us_table *t, uint64_t now, us_fn *fn, void *arg);

/*
 * End every session on `backend` (a VM removed from the pool), websockets
 * or not; fn (may be NULL) as for us_expire(). Returns how many ended.
 */
size_t   us_forget_backend(struct us_table *t, const char *backend,
    us_fn *fn, void *arg);

/*
 * The VM of the only user with a live session seen from `addr` (one of the
 * user's US_ADDRS most recent addresses), or NULL when no user or several
 * users are live from there. Users idled out but not yet swept do not
 * count. The name is borrowed: valid until the next call that modifies the
 * table (any call but us_sole_user_backend, us_user_backend, us_foreach,
 * us_foreach_on, us_users_on, us_count).
 */
const char *us_sole_user_backend(const struct us_table *t, const char *addr,
    uint64_t now);

/*
 * The VM of `user`'s live session, or NULL when the user has none (never
 * seen, idled out though not yet swept, or user NULL, empty or too long).
 * The name is borrowed, valid as for us_sole_user_backend().
 */
const char *us_user_backend(const struct us_table *t, const char *user,
    uint64_t now);

/* Call fn for every live session (status output); fn must not modify t. */
void     us_foreach(const struct us_table *t, uint64_t now, us_fn *fn,
    void *arg);
/*
 * Call fn for every live session on `backend` (NULL, invalid or without
 * sessions: none), in no particular order; fn must not modify t. O(sessions
 * on that VM), so one call per VM costs O(users + VMs) in all.
 */
void     us_foreach_on(const struct us_table *t, const char *backend,
    uint64_t now, us_fn *fn, void *arg);
/*
 * Live sessions (distinct users) on `backend`: those idled out but not yet
 * swept do not count. O(1) plus the sessions of that VM idled out and not
 * yet swept (us_expire() sweeps them; the pool module does every second).
 */
size_t   us_users_on(const struct us_table *t, const char *backend,
    uint64_t now);
/* Users in the table: live, or idled out and not yet swept. */
size_t   us_count(const struct us_table *t);

#endif
