/*
 * statuspage.h -- the operator's HTML status page on the admin endpoint.
 *
 *   GET  /          one self-contained page (inline CSS, a little JS, no
 *                   external assets): pool totals, a row per VM, recent
 *                   events; signed in, drain / ready / maint buttons
 *   POST /login     form "token=..." -> session cookie, 303 to /
 *   POST /logout    form "csrf=..."  -> cookie cleared, 303 to /
 *   POST /action    form "vm=NAME&op=drain|ready|maint&csrf=..."
 *                   -> srv_backend_set_admin(), 303 to /
 *
 * Everything is rendered on the server from the live structures, so the
 * page works without JavaScript; the script only reloads it every
 * SP_REFRESH_S seconds, and not while an input has focus or holds text (a
 * half-typed token is never lost).
 *
 * Signing in: the admin token (srv->admin_token, the same as the admin
 * API's bearer token) posted through the page's form. A right token makes a
 * session: a random SP_ID_BYTES id in the cookie "pg_admin" (HttpOnly,
 * SameSite=Strict, Path=/, Max-Age SP_SESSION_TTL_S) and a random CSRF
 * token of the same size put in every form of the page. A session ends at
 * its Max-Age, on sign-out, when the token changes or is removed (reload),
 * and when SP_SESSIONS_MAX newer sessions pushed it out. It is bound to the
 * client address it signed in from. Without admin.token_file nobody can
 * sign in and the page is read-only.
 *
 * Every POST is refused (403) when its Origin (or, without one, its
 * Referer) does not name the Host it was sent to -- this includes another
 * port of the same host -- and "Origin: null" is refused too. Actions and
 * sign-out need the session's CSRF token (compared in constant time); a
 * missing session or a wrong token is a 403 that changes nothing. Failed
 * sign-ins are limited to SP_LOGIN_FAILS_MAX a minute (429 past that).
 *
 * Every value put into the page -- VM and user names, health and agent
 * texts, event texts -- is HTML-escaped (sp_html); bytes that are not
 * UTF-8 show as U+FFFD. Replies carry a Content-Security-Policy that runs
 * only the page's own script (a per-reply nonce) and forbids framing.
 *
 * Bounds: form bodies SP_FORM_MAX bytes (413), SP_SESSIONS_MAX sessions,
 * SP_EVENTS_MAX events of SP_EVENT_TEXT bytes (the oldest are dropped),
 * SP_USERS_SHOWN user names per VM row (then "+N more").
 */
#ifndef POOLGATE_STATUSPAGE_H
#define POOLGATE_STATUSPAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "proxy/server.h"

#define SP_COOKIE           "pg_admin"
#define SP_ID_BYTES         32          /* session id and CSRF token, random */
#define SP_SESSION_TTL_S    (8 * 3600)
#define SP_SESSIONS_MAX     16          /* the oldest session is ended past that */
#define SP_EVENTS_MAX       100
#define SP_EVENT_TEXT       240         /* bytes of one event text, NUL included */
#define SP_FORM_MAX         4096        /* bytes of a POSTed form */
#define SP_LOGIN_FAILS_MAX  10          /* failed sign-ins per minute, all clients */
#define SP_USERS_SHOWN      12
#define SP_REFRESH_S        5

struct statuspage;

/*
 * Answer one request for "/", "/login", "/logout" or "/action" (path
 * without the query, not decoded). Always sends a reply: the page, a 303,
 * or an error page (400, 403, 404, 405, 409, 413, 415, 429, 500).
 * Creates srv->statuspage on first use. Sign-ins and actions are logged at
 * info, refusals at warning, with the client address.
 */
void statuspage_handle(struct pg_server *srv, struct evhttp_request *req,
    const char *path);

/*
 * Record one event for the page's "recent events" with the wall-clock time
 * of the call: a state change, a drain, a reload. The text is cut at
 * SP_EVENT_TEXT - 1 bytes and control characters become '?'; only the
 * newest SP_EVENTS_MAX are kept. Creates srv->statuspage on first use; on
 * allocation failure the event is dropped. Nothing passed is kept.
 */
void statuspage_event(struct pg_server *srv, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Free srv->statuspage (sessions wiped first) and set it to NULL. */
void statuspage_free(struct pg_server *srv);

/* ---- The pure parts, exported for tests/unit/test_statuspage.c ----------- */

/* What the page shows besides the pool. */
struct sp_view {
	const char *csrf;       /* hex CSRF token of the session; NULL = signed out */
	const char *notice;     /* one message at the top (escaped here), or NULL */
	bool        notice_err; /* shown as an error */
	const char *nonce;      /* CSP nonce for the script tag ([0-9a-f]) */
};

/*
 * Append the whole page for srv to out. now is pg_now_ms(), wall is
 * pg_wall_ms(). srv->statuspage may be NULL (no events yet). Returns 0, or
 * -1 when out of memory (out then holds part of a page).
 */
int  sp_render(struct pg_server *srv, struct evbuffer *out,
    const struct sp_view *v, uint64_t now, uint64_t wall);

/*
 * Append s HTML-escaped, fit for text and for quoted attribute values:
 * & < > " ' as entities, tab and newline as a space, other control bytes
 * and bytes that are not well-formed UTF-8 as U+FFFD.
 */
void sp_html(struct evbuffer *out, const char *s);

#define SP_FORM_MISSING (-1)
#define SP_FORM_BAD     (-2)
/*
 * The value of `key` in an application/x-www-form-urlencoded body
 * (body[0..len), need not be NUL-terminated), decoded ('+' is a space, %XX
 * a byte) into out, NUL-terminated. Returns 0; SP_FORM_MISSING when the key
 * is absent; SP_FORM_BAD when a name or the value has a bad %-escape or a
 * NUL, the key appears twice, or the value needs outlen bytes or more.
 * out is "" unless 0 is returned.
 */
int  sp_form_value(const char *body, size_t len, const char *key, char *out,
    size_t outlen);

/*
 * The value of cookie `name` in one Cookie header value ("a=b; c=d"),
 * copied into out. Returns false when absent or when it does not fit.
 */
bool sp_cookie_value(const char *header, const char *name, char *out,
    size_t outlen);

/*
 * Whether a POST may have come from the page itself: host is the Host
 * header, origin and referer the Origin and Referer headers (each may be
 * NULL). Without a Host there is nothing to compare (true). Otherwise the
 * Origin, or without one the Referer, must be an http or https URL whose
 * host[:port] equals Host (case-insensitive); "null" and URLs with user
 * information are refused. With neither header (not a browser) true: the
 * CSRF token still decides.
 */
bool sp_same_origin(const char *host, const char *origin, const char *referer);

/*
 * Whether hex is exactly the 2 * n lowercase or uppercase hex digits of
 * want[0..n). The bytes are compared in constant time.
 */
bool sp_hex_matches(const uint8_t *want, size_t n, const char *hex);

/*
 * Let ms pass for srv's sign-in state: session ages and the window of
 * failed sign-ins move back by ms (tests; the clock is pg_now_ms()).
 */
void sp_advance(struct pg_server *srv, uint64_t ms);

#endif
