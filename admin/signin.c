/*
 * signin.c -- see signin.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "admin/signin.h"
#include "http/httpuser.h"
#include "lib/hashtab.h"
#include "lib/log.h"

/* ---- Hex and tokens ------------------------------------------------------- */

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void
si_hex_encode(const uint8_t *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
	out[2 * n] = '\0';
}

/* Exactly 2 * n hex digits into out[0..n). */
static bool
hex_decode(const char *hex, uint8_t *out, size_t n)
{
	if (strlen(hex) != 2 * n)
		return false;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return true;
}

bool
si_hex_matches(const uint8_t *want, size_t n, const char *hex)
{
	uint8_t got[64];
	bool ok;

	if (hex == NULL || n == 0 || n > sizeof(got) || !hex_decode(hex, got, n))
		return false;
	ok = CRYPTO_memcmp(want, got, n) == 0;
	explicit_bzero(got, sizeof(got));
	return ok;
}

bool
si_token_equal(const char *want, const char *got, size_t gl)
{
	char w[SI_TOKEN_MAX], g[SI_TOKEN_MAX];
	size_t wl = strnlen(want, sizeof(w) - 1);
	int diff;

	memset(w, 0, sizeof(w));
	memset(g, 0, sizeof(g));
	memcpy(w, want, wl);
	memcpy(g, got, gl < sizeof(g) - 1 ? gl : sizeof(g) - 1);
	/* whole buffers; the lengths are folded in without a branch */
	diff = CRYPTO_memcmp(w, g, sizeof(w)) | (gl != wl);
	explicit_bzero(w, sizeof(w));
	explicit_bzero(g, sizeof(g));
	return diff == 0;
}

/* SHA-256 of token: a session is tied to the token it signed in with. */
static bool
token_hash(const char *token, uint8_t out[32])
{
	unsigned int n = 0;

	return EVP_Digest(token, strnlen(token, SI_TOKEN_MAX), out, &n,
	    EVP_sha256(), NULL) == 1 && n == 32;
}

/* ---- Sessions ------------------------------------------------------------- */

/*
 * OPENSSL_cleanse rather than explicit_bzero: the same wipe, but GCC's
 * -fsanitize=nonnull-attribute check of a pointer into an array made
 * -Wnonnull fire on its own "if NULL" path.
 */
void
si_end(struct si_session *s)
{
	OPENSSL_cleanse(s, sizeof(*s));
}

void
si_sweep(struct signin *si, const char *token, uint64_t now)
{
	uint8_t th[32];
	bool have = token != NULL && token_hash(token, th);

	for (size_t i = 0; i < SI_SESSIONS_MAX; i++) {
		struct si_session *s = &si->sess[i];
		if (s->used && (!have || now >= s->expires_ms ||
		    CRYPTO_memcmp(s->tokhash, th, sizeof(th)) != 0))
			si_end(s);
	}
	explicit_bzero(th, sizeof(th));
}

struct si_session *
si_find(struct signin *si, const char *cookie_hex, const char *peer)
{
	struct si_session *found = NULL;
	uint8_t id[SI_ID_BYTES];

	if (!hex_decode(cookie_hex, id, sizeof(id)))
		goto out;
	for (size_t i = 0; i < SI_SESSIONS_MAX; i++) {
		struct si_session *s = &si->sess[i];
		if (s->used && CRYPTO_memcmp(s->id, id, sizeof(id)) == 0 &&
		    strcmp(s->peer, peer) == 0)
			found = s;
	}
out:
	explicit_bzero(id, sizeof(id));
	return found;
}

struct si_session *
si_new(struct signin *si, const char *token, const char *peer, uint64_t now)
{
	struct si_session *sess = si->sess, *s;
	size_t pick = 0;

	for (size_t i = 0; i < SI_SESSIONS_MAX; i++) {
		if (!sess[i].used) {
			pick = i;
			break;
		}
		if (sess[i].created_ms < sess[pick].created_ms)
			pick = i;
	}
	s = &sess[pick];
	if (s->used)
		log_info("status page: session of %s ended: %d newer sessions",
		    s->peer, SI_SESSIONS_MAX);
	si_end(s);
	if (RAND_bytes(s->id, sizeof(s->id)) != 1 ||
	    RAND_bytes(s->csrf, sizeof(s->csrf)) != 1 ||
	    !token_hash(token, s->tokhash)) {
		si_end(s);
		return NULL;
	}
	snprintf(s->peer, sizeof(s->peer), "%s", peer);
	s->created_ms = now;
	s->expires_ms = now + (uint64_t)SI_SESSION_TTL_S * 1000;
	s->used = true;
	return s;
}

static uint64_t
back(uint64_t t, uint64_t ms)
{
	return t > ms ? t - ms : 0;
}

void
si_advance(struct signin *si, uint64_t ms)
{
	for (size_t i = 0; i < SI_SESSIONS_MAX; i++) {
		si->sess[i].created_ms = back(si->sess[i].created_ms, ms);
		si->sess[i].expires_ms = back(si->sess[i].expires_ms, ms);
	}
}

/* ---- Failed tokens per address -------------------------------------------- */

/*
 * One address's failures in its current window. The entries are also kept
 * in order of their last failure (least recent first), so a full table
 * drops the one that failed least recently, in O(1).
 */
struct si_fail {
	struct ht_node  hn;              /* in f->ht by addr */
	struct si_fail *prev, *next;     /* f->oldest .. f->newest */
	uint64_t        start_ms;        /* the window's first failure */
	unsigned        fails;
	char            addr[SI_PEER_MAX];
};

struct si_fails {
	struct hashtab *ht;
	struct si_fail *oldest, *newest;
	size_t          max;
};

static const void *
fail_key(const struct ht_node *hn, size_t *len)
{
	const struct si_fail *e = HT_ENTRY(hn, const struct si_fail, hn);

	*len = strlen(e->addr);
	return e->addr;
}

static void
fail_free(struct ht_node *hn)
{
	free(HT_ENTRY(hn, struct si_fail, hn));
}

struct si_fails *
si_fails_new(size_t max_addrs)
{
	struct si_fails *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return NULL;
	f->max = max_addrs;
	if ((f->ht = ht_new(fail_key, max_addrs, 0)) == NULL) {
		free(f);
		return NULL;
	}
	return f;
}

void
si_fails_free(struct si_fails *f)
{
	if (f == NULL)
		return;
	ht_free(f->ht, fail_free);
	free(f);
}

struct si_fails *
si_fails_of(struct si_fails **slot)
{
	if (*slot == NULL)
		*slot = si_fails_new(SI_FAIL_ADDRS_MAX);
	return *slot;
}

size_t
si_fails_count(const struct si_fails *f)
{
	return ht_count(f->ht);
}

/* The key of addr as stored: NULL is "", anything is cut to fit. */
static size_t
fail_addr(const char *addr, char out[SI_PEER_MAX])
{
	snprintf(out, SI_PEER_MAX, "%s", addr != NULL ? addr : "");
	return strlen(out);
}

static struct si_fail *
fail_find(const struct si_fails *f, const char *key, size_t len)
{
	struct ht_node *hn = ht_find(f->ht, ht_hash(f->ht, key, len), key, len);

	return hn != NULL ? HT_ENTRY(hn, struct si_fail, hn) : NULL;
}

static void
fail_unlist(struct si_fails *f, struct si_fail *e)
{
	if (e->prev != NULL)
		e->prev->next = e->next;
	else
		f->oldest = e->next;
	if (e->next != NULL)
		e->next->prev = e->prev;
	else
		f->newest = e->prev;
	e->prev = e->next = NULL;
}

static void
fail_list_newest(struct si_fails *f, struct si_fail *e)
{
	e->prev = f->newest;
	e->next = NULL;
	if (f->newest != NULL)
		f->newest->next = e;
	else
		f->oldest = e;
	f->newest = e;
}

static bool
fail_window_over(const struct si_fail *e, uint64_t now)
{
	return now < e->start_ms || now - e->start_ms >= SI_FAIL_WINDOW_MS;
}

uint64_t
si_fails_wait(struct si_fails *f, const char *addr, uint64_t now)
{
	char key[SI_PEER_MAX];
	size_t len = fail_addr(addr, key);
	struct si_fail *e = fail_find(f, key, len);

	if (e == NULL || e->fails < SI_FAILS_MAX || fail_window_over(e, now))
		return 0;
	return e->start_ms + SI_FAIL_WINDOW_MS - now;
}

bool
si_fails_add(struct si_fails *f, const char *addr, uint64_t now)
{
	char key[SI_PEER_MAX];
	size_t len = fail_addr(addr, key);
	struct si_fail *e = fail_find(f, key, len);

	if (e != NULL)
		fail_unlist(f, e);
	else {
		if (f->max == 0)
			return false;
		if (ht_count(f->ht) >= f->max) {
			/* full: forget the address that failed least recently */
			e = f->oldest;
			fail_unlist(f, e);
			ht_remove(f->ht, &e->hn);
		} else if ((e = malloc(sizeof(*e))) == NULL)
			return false;
		memset(e, 0, sizeof(*e));
		memcpy(e->addr, key, len + 1);
		e->start_ms = now;
		/* below its cap (one was dropped, or there was room) */
		if (ht_insert(f->ht, &e->hn, ht_hash(f->ht, key, len)) != 0) {
			free(e);
			return false;
		}
	}
	fail_list_newest(f, e);
	if (fail_window_over(e, now)) {
		e->start_ms = now;
		e->fails = 0;
	}
	if (e->fails >= SI_FAILS_MAX)
		return false;           /* locked already: the caller refused it */
	return ++e->fails == SI_FAILS_MAX;
}

void
si_fails_advance(struct si_fails *f, uint64_t ms)
{
	if (f == NULL)
		return;
	for (struct si_fail *e = f->oldest; e != NULL; e = e->next)
		e->start_ms = back(e->start_ms, ms);
}

/* ---- Cookie, origins ------------------------------------------------------ */

bool
si_cookie_value(const char *header, const char *name, char *out,
    size_t outlen)
{
	const char *v;
	size_t vl;

	if (!hu_cookie_get(header, strlen(header), name, &v, &vl))
		return false;
	/* RFC 6265: a cookie-value may be in double quotes */
	if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
		v++;
		vl -= 2;
	}
	if (vl + 1 > outlen)
		return false;
	memcpy(out, v, vl);
	out[vl] = '\0';
	return true;
}

/* The host[:port] of an http(s) URL equals host. */
static bool
url_names_host(const char *url, const char *host)
{
	const char *a;
	size_t n;

	if (strncasecmp(url, "http://", 7) == 0)
		a = url + 7;
	else if (strncasecmp(url, "https://", 8) == 0)
		a = url + 8;
	else
		return false;
	n = strcspn(a, "/?#");
	if (memchr(a, '@', n) != NULL)
		return false;
	return n == strlen(host) && n > 0 && strncasecmp(a, host, n) == 0;
}

bool
si_same_origin(const char *host, const char *origin, const char *referer)
{
	if (host == NULL || host[0] == '\0')
		return true;
	if (origin != NULL)
		return url_names_host(origin, host);
	if (referer != NULL)
		return url_names_host(referer, host);
	return true;
}
