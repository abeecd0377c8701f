/*
 * statuspage.h -- the operator's HTML status page on the admin endpoint:
 * its routes and its rendering.
 *
 *   GET  /          one self-contained page (inline CSS, a little JS, no
 *                   external assets): pool totals, a row per VM, recent
 *                   events; signed in, drain / ready / maint buttons
 *   POST /login     form "token=..." -> session cookie, 303 to /
 *   POST /logout    form "csrf=..."  -> cookie cleared, 303 to /
 *   POST /action    form "vm=NAME&op=drain|ready|maint&csrf=..."
 *                   -> mbr_set_admin(), 303 to /
 *
 * Everything is rendered on the server from the live structures, so the
 * page works without JavaScript; the script only reloads it every
 * SP_REFRESH_S seconds, and not while an input has focus or holds text (a
 * half-typed token is never lost).
 *
 * Signing in, sessions and CSRF tokens: signin.h (the token is the admin
 * API's, adm_ctx.token; without admin.token_file nobody can sign in and
 * the page is read-only). Every POST is refused (403) when its Origin (or,
 * without one, its Referer) does not name the Host it was sent to -- this
 * includes another port of the same host -- and "Origin: null" is refused
 * too. Actions and sign-out need the session's CSRF token (compared in
 * constant time); a missing session or a wrong token is a 403 that changes
 * nothing. A VM name must pass pg_name_valid() (lib/text.h).
 *
 * Every value put into the page is HTML-escaped (html.h); bytes that are
 * not UTF-8 show as U+FFFD. Replies carry a Content-Security-Policy that
 * runs only the page's own script (a per-reply nonce) and forbids framing.
 *
 * Bounds: form bodies SP_FORM_MAX bytes (413), SI_SESSIONS_MAX sessions,
 * EVR_MAX recent events of EVR_TEXT bytes (events.h: the oldest are
 * dropped), SP_USERS_SHOWN user names per VM row (then "+N more").
 */
#ifndef POOLGATE_STATUSPAGE_H
#define POOLGATE_STATUSPAGE_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "admin/admin.h"

#define SP_FORM_MAX         4096        /* bytes of a POSTed form */
#define SP_USERS_SHOWN      12
#define SP_REFRESH_S        5

/*
 * Answer one request for "/", "/login", "/logout" or "/action" (path
 * without the query, not decoded). Always sends a reply: the page, a 303,
 * or an error page (400, 403, 404, 405, 409, 413, 415, 429, 500).
 * Creates a->statuspage on first use. Sign-ins and actions are logged at
 * info, refusals at warning, with the client address.
 */
void statuspage_handle(struct adm_ctx *a, struct evhttp_request *req,
    const char *path);

/*
 * Record one event for the page's "recent events" with the wall-clock time
 * of the call: a state change, a drain, a reload (the daemon calls it from
 * its event sink's note callback). The text is cut at EVR_TEXT - 1 bytes
 * and control characters become '?'; only the newest EVR_MAX are kept.
 * Creates a->statuspage on first use; on allocation failure the event is
 * dropped. Nothing passed is kept.
 */
void statuspage_event(struct adm_ctx *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * Free a->statuspage (sessions wiped first) and a->fails (the wrong tokens
 * per address, shared with the admin API), and set both to NULL.
 */
void statuspage_free(struct adm_ctx *a);

/* ---- The rendering, exported for tests/unit/test_statuspage.c ------------- */

/* What the page shows besides the pool. */
struct sp_view {
	const char *csrf;       /* hex CSRF token of the session; NULL = signed out */
	const char *notice;     /* one message at the top (escaped here), or NULL */
	bool        notice_err; /* shown as an error */
	const char *nonce;      /* CSP nonce for the script tag ([0-9a-f]) */
};

/*
 * Append the whole page for a (read only) to out. now is pg_now_ms(), wall
 * is pg_wall_ms(). a->statuspage may be NULL (no events yet). Returns 0, or
 * -1 when out of memory (out then holds part of a page).
 */
int  sp_render(const struct adm_ctx *a, struct evbuffer *out,
    const struct sp_view *v, uint64_t now, uint64_t wall);

/*
 * Let ms pass for a's sign-in state: session ages (si_advance, once
 * a->statuspage exists) and the windows of wrong tokens per address
 * (si_fails_advance, once a->fails exists) move back by ms (tests; the
 * clock is pg_now_ms()).
 */
void sp_advance(struct adm_ctx *a, uint64_t ms);

#endif
