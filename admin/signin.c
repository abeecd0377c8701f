/*
 * signin.c -- see signin.h.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "admin/signin.h"
#include "http/httpuser.h"
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

bool
si_login_allowed(struct signin *si, uint64_t now)
{
	if (now - si->fail_start_ms >= SI_FAIL_WINDOW_MS || si->fail_start_ms == 0) {
		si->fail_start_ms = now;
		si->fails = 0;
	}
	return si->fails < SI_LOGIN_FAILS_MAX;
}

void
si_login_failed(struct signin *si)
{
	si->fails++;
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
	si->fail_start_ms = back(si->fail_start_ms, ms);
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
