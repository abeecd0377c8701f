/*
 * signin.h -- the status page's sign-in: sessions, CSRF tokens, the limit
 * on failed sign-ins, reading its cookie and checking a POST's origin
 * (pure: no I/O; the clock is given, randomness and hashes come from
 * OpenSSL). The page's forms are read by http/httpuser.h's hu_form_value()
 * with HU_FORM_STRICT.
 *
 * Signing in: the admin token (the admin API's bearer token) posted
 * through the page's form. A right token makes a session: a random
 * SI_ID_BYTES id for the cookie SI_COOKIE and a random CSRF token of the
 * same size for every form of the page. A session ends at its Max-Age
 * (SI_SESSION_TTL_S), on sign-out, when the token changes or is removed
 * (si_sweep), and when SI_SESSIONS_MAX newer sessions pushed it out. It is
 * bound to the client address it signed in from.
 *
 * Failures are limited per client address (struct si_fails): a wrong token
 * on the sign-in form and a wrong bearer token of the admin API count
 * alike. SI_FAILS_MAX failures from one address within SI_FAIL_WINDOW_MS
 * of its first lock that address out until the window is over (429 with
 * Retry-After); other addresses are unaffected, and a success of one
 * address changes nothing for another. At most SI_FAIL_ADDRS_MAX addresses
 * are remembered: a new one pushes out the one that failed least recently.
 *
 * Secrets (ids, CSRF tokens, token hashes) are wiped when a session ends.
 */
#ifndef POOLGATE_SIGNIN_H
#define POOLGATE_SIGNIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SI_COOKIE           "pg_admin"
#define SI_ID_BYTES         32          /* session id and CSRF token, random */
#define SI_HEX_LEN          (2 * SI_ID_BYTES)
#define SI_SESSION_TTL_S    (8 * 3600)
#define SI_SESSIONS_MAX     16          /* the oldest session is ended past that */
#define SI_FAILS_MAX        10          /* failed tokens a minute, per address */
#define SI_LOGIN_FAILS_MAX  SI_FAILS_MAX
#define SI_FAIL_WINDOW_MS   60000
#define SI_FAIL_ADDRS_MAX   1024        /* addresses the failure table keeps */
#define SI_FLASH_MAX        200         /* bytes of the outcome shown once */
#define SI_TOKEN_MAX        256         /* bytes of a token, NUL included (adm_ctx.token) */
#define SI_PEER_MAX         64          /* bytes of a client address, NUL included */

/* One signed-in browser. Unused slots are all zero. */
struct si_session {
	bool     used;
	uint8_t  id[SI_ID_BYTES];       /* the cookie's value, decoded */
	uint8_t  csrf[SI_ID_BYTES];     /* put in every form of its pages */
	uint8_t  tokhash[32];           /* SHA-256 of the token it signed in with */
	char     peer[SI_PEER_MAX];     /* client address it signed in from */
	uint64_t created_ms;            /* monotonic */
	uint64_t expires_ms;
	char     flash[SI_FLASH_MAX];   /* outcome of its last action, shown once */
	bool     flash_err;
};

/* Every session. Zero it to start with none. */
struct signin {
	struct si_session sess[SI_SESSIONS_MAX];
};

/*
 * End every session past its time at now, or signed in with another token
 * than token (NULL: no token is set, every session ends).
 */
void si_sweep(struct signin *si, const char *token, uint64_t now);

/*
 * The session whose id is the hex cookie value, signed in from peer, or
 * NULL (a bad value, an unknown id, another address). Borrowed from si;
 * dies with the next si_new() or si_sweep().
 */
struct si_session *si_find(struct signin *si, const char *cookie_hex,
    const char *peer);

/*
 * A new session for peer (copied), signed in with token, at now: in a free
 * slot, else in place of the oldest session (logged). Returns it (borrowed
 * from si), or NULL when there was no randomness or no hash.
 */
struct si_session *si_new(struct signin *si, const char *token,
    const char *peer, uint64_t now);

/* End s: wiped, its slot free. */
void si_end(struct si_session *s);

/* ---- Failed tokens per client address ------------------------------------ */

struct si_fails;

/*
 * A new empty failure table remembering at most max_addrs addresses
 * (lib/hashtab.h, keyed by the address text). NULL when out of memory.
 */
struct si_fails *si_fails_new(size_t max_addrs);

/* Free f and what it remembers; f may be NULL. */
void si_fails_free(struct si_fails *f);

/*
 * *slot, made with SI_FAIL_ADDRS_MAX addresses first when it is NULL (the
 * operator endpoint keeps one in adm_ctx.fails, shared by the sign-in and
 * the admin API). NULL when out of memory.
 */
struct si_fails *si_fails_of(struct si_fails **slot);

/*
 * How long addr (a client address text; NULL or "" is one address like
 * any other) must wait at now before its token is looked at again: 0 when
 * it had fewer than SI_FAILS_MAX failures in its current window, else the
 * ms until that window is over. A window starts at the first failure after
 * the last one ended.
 */
uint64_t si_fails_wait(struct si_fails *f, const char *addr, uint64_t now);

/*
 * One more failure of addr at now (the address text is copied, cut at
 * SI_PEER_MAX - 1 bytes). Returns true when this is the failure that locks
 * addr out (the caller logs that once), false otherwise, also when there
 * was no memory to remember it.
 */
bool si_fails_add(struct si_fails *f, const char *addr, uint64_t now);

/* Addresses remembered (at most the table's max_addrs). */
size_t si_fails_count(const struct si_fails *f);

/*
 * Whether got[0..gotlen) is exactly the token want (a C string; at most
 * SI_TOKEN_MAX - 1 bytes of it count). Compared in constant time over
 * whole fixed-size buffers, so the time depends on neither where the first
 * wrong byte is nor how long the guess is; the copies are wiped. Used by
 * the sign-in form and the admin API's bearer token alike.
 */
bool si_token_equal(const char *want, const char *got, size_t gotlen);

/*
 * Let ms pass for si: session ages move back by ms (tests; the clock is
 * pg_now_ms()).
 */
void si_advance(struct signin *si, uint64_t ms);

/* Let ms pass for f (may be NULL): every failure window moves back by ms. */
void si_fails_advance(struct si_fails *f, uint64_t ms);

/* The n bytes of b as 2 * n lowercase hex digits and a NUL into out. */
void si_hex_encode(const uint8_t *b, size_t n, char *out);

/*
 * Whether hex is exactly the 2 * n lowercase or uppercase hex digits of
 * want[0..n) (n at most 64). The bytes are compared in constant time.
 * hex may be NULL (false).
 */
bool si_hex_matches(const uint8_t *want, size_t n, const char *hex);

/*
 * The value of cookie `name` in one Cookie header value ("a=b; c=d"),
 * found by http/httpuser.h's hu_cookie_get(), without the quotes of a
 * quoted value, copied into out. Returns false when absent or when it does
 * not fit in outlen bytes with its NUL.
 */
bool si_cookie_value(const char *header, const char *name, char *out,
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
bool si_same_origin(const char *host, const char *origin, const char *referer);

#endif
