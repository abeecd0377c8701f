/*
 * httpuser.c -- user names from request targets and login forms; form
 * fields; cookies.
 */
#include <string.h>
#include <strings.h>

#include "http/httpuser.h"

/* One cookie-pair of a Cookie value, located by cookie_next(). */
struct cpair {
	size_t sep;        /* where the separator before the pair begins (its ';') */
	size_t start, end; /* the trimmed pair */
	size_t name_end;   /* end of the trimmed name; == end when there is no '=' */
	size_t val;        /* start of the trimmed value */
	bool   has_eq;
};

static int
hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static bool
is_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

bool
hu_name_valid(const char *name, size_t len)
{
	size_t i, n = len;

	if (len == 0 || len > HU_NAME_MAX)
		return false;
	if (name[len - 1] == '$')
		n--;
	if (n == 0 || !((name[0] >= 'a' && name[0] <= 'z') || name[0] == '_'))
		return false;
	for (i = 1; i < n; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '-' || c == '.'))
			return false;
		if (c == '.' && name[i - 1] == '.')
			return false;
	}
	return true;
}

enum hu_result
hu_user_from_sni(const char *sni, const char *suffix,
    char out[HU_NAME_MAX + 1])
{
	size_t n, slen = strlen(suffix);

	out[0] = '\0';
	if (sni == NULL)
		return HU_ABSENT;
	n = strlen(sni);
	if (n <= slen || strcasecmp(sni + n - slen, suffix) != 0)
		return HU_INVALID;
	n -= slen;
	if (n > HU_NAME_MAX)
		return HU_INVALID;
	for (size_t i = 0; i < n; i++)
		out[i] = sni[i] >= 'A' && sni[i] <= 'Z' ?
		    (char)(sni[i] - 'A' + 'a') : sni[i];
	out[n] = '\0';
	if (!hu_name_valid(out, n)) {
		out[0] = '\0';
		return HU_INVALID;
	}
	return HU_FOUND;
}

/*
 * The byte s[*i], or for a '%' the byte its two hex digits name, and *i
 * moved past it. Returns -1, *i unspecified, when a '%' is not followed by
 * two hex digits before n.
 */
static int
unescape(const char *s, size_t n, size_t *i)
{
	unsigned char c = (unsigned char)s[(*i)++];
	int hi, lo;

	if (c != '%')
		return c;
	if (n - *i < 2 || (hi = hexval((unsigned char)s[*i])) < 0 ||
	    (lo = hexval((unsigned char)s[*i + 1])) < 0)
		return -1;
	*i += 2;
	return hi << 4 | lo;
}

/*
 * Percent-decode the path segment s[0..len) into out (at most HU_NAME_MAX
 * bytes, then NUL). Returns the decoded length, or -1 for a bad escape or a
 * result longer than HU_NAME_MAX.
 */
static int
decode(const char *s, size_t len, char out[HU_NAME_MAX + 1])
{
	size_t i = 0, n = 0;

	while (i < len) {
		int c = unescape(s, len, &i);

		if (c < 0 || n == HU_NAME_MAX)
			return -1;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return (int)n;
}

enum hu_result
hu_user_from_target(const char *target, size_t tlen, const char *prefix,
    char out[HU_NAME_MAX + 1])
{
	char name[HU_NAME_MAX + 1];
	size_t plen = strlen(prefix), start, end;
	enum hu_result rc = HU_ABSENT;
	int n;

	/* "/user/" and "/user" both mean: "/user", then '/', then the name. */
	while (plen > 0 && prefix[plen - 1] == '/')
		plen--;
	if (tlen < plen + 1 || memcmp(target, prefix, plen) != 0 || target[plen] != '/')
		goto out;
	/* Only the path: the name ends at the next '/' or at the query. */
	start = plen + 1;
	for (end = start; end < tlen && target[end] != '/' && target[end] != '?'; end++)
		;
	rc = HU_INVALID;
	n = decode(target + start, end - start, name);
	if (n < 0 || !hu_name_valid(name, (size_t)n))
		goto out;
	memcpy(out, name, (size_t)n + 1);
	rc = HU_FOUND;
out:
	return rc;
}

/*
 * The next decoded byte of form field text s[0..n) at *i ('+' is a space),
 * *i moved past it; HU_FORM_ESCAPE or HU_FORM_NUL when it is malformed.
 */
static int
form_byte(const char *s, size_t n, size_t *i)
{
	int c;

	if (s[*i] == '+') {
		(*i)++;
		return ' ';
	}
	if ((c = unescape(s, n, i)) < 0)
		return HU_FORM_ESCAPE;
	return c == 0 ? HU_FORM_NUL : c;
}

/*
 * Whether the field name s[0..n) decodes to key: 1 or 0, or the
 * form_byte() error of a malformed name. The name is read to its end even
 * after a mismatch, so that a strict caller sees every malformed name.
 */
static int
form_name_is(const char *s, size_t n, const char *key)
{
	size_t i = 0, k = 0;
	bool same = true;

	while (i < n) {
		int c = form_byte(s, n, &i);

		if (c < 0)
			return c;
		same = same && key[k] != '\0' && (unsigned char)key[k] == c;
		k++;
	}
	return same && key[k] == '\0';
}

/* Decode the field value s[0..n) into out; an enum hu_form result. */
static enum hu_form
form_decode_value(const char *s, size_t n, char *out, size_t outlen)
{
	size_t i = 0, o = 0;

	while (i < n) {
		int c = form_byte(s, n, &i);

		if (c < 0)
			return (enum hu_form)c;
		if (o + 1 >= outlen)
			return HU_FORM_TOOLONG;
		out[o++] = (char)c;
	}
	if (outlen == 0)
		return HU_FORM_TOOLONG;
	out[o] = '\0';
	return HU_FORM_OK;
}

enum hu_form
hu_form_value(const char *body, size_t len, const char *key, char *out,
    size_t outlen, unsigned flags)
{
	bool strict = (flags & HU_FORM_STRICT) != 0;
	enum hu_form rc = HU_FORM_MISSING;
	size_t pos, end;

	for (pos = 0; pos < len; pos = end + 1) {
		const char *amp = memchr(body + pos, '&', len - pos);
		const char *eq;
		size_t nend, val;
		int is;

		end = amp != NULL ? (size_t)(amp - body) : len;
		eq = memchr(body + pos, '=', end - pos);
		nend = eq != NULL ? (size_t)(eq - body) : end;
		val = eq != NULL ? nend + 1 : end;
		if (nend - pos > HU_FORM_NAME_MAX)
			continue;
		is = form_name_is(body + pos, nend - pos, key);
		if (is < 0 && strict) {
			rc = (enum hu_form)is;
			goto out;
		}
		if (is != 1)
			continue;
		if (rc == HU_FORM_OK) {
			rc = HU_FORM_DUPLICATE;   /* strict: lenient stopped at the first */
			goto out;
		}
		rc = form_decode_value(body + val, end - val, out, outlen);
		if (rc != HU_FORM_OK || !strict)
			goto out;
	}
out:
	if (rc != HU_FORM_OK)
		explicit_bzero(out, outlen);
	return rc;
}

enum hu_result
hu_user_from_form(const char *body, size_t len, char out[HU_NAME_MAX + 1])
{
	char buf[HU_NAME_MAX + 1];
	enum hu_result rc = HU_INVALID;
	enum hu_form fr;
	size_t i, n;

	if (len > HU_FORM_MAX)
		goto out;
	fr = hu_form_value(body, len, "username", buf, sizeof(buf), 0);
	if (fr == HU_FORM_MISSING)
		rc = HU_ABSENT;
	if (fr != HU_FORM_OK)
		goto out;
	n = strlen(buf);
	for (i = 0; i < n; i++)
		if (buf[i] >= 'A' && buf[i] <= 'Z')
			buf[i] = (char)(buf[i] - 'A' + 'a');
	if (!hu_name_valid(buf, n))
		goto out;
	memcpy(out, buf, n + 1);
	rc = HU_FOUND;
out:
	return rc;
}

/*
 * The next cookie-pair at or after *pos (pairs are split on ';' and
 * trimmed; empty ones are skipped). Returns false at the end.
 */
static bool
cookie_next(const char *h, size_t len, size_t *pos, struct cpair *p)
{
	while (*pos < len) {
		const char *semi, *eq;
		size_t s = *pos, e;

		semi = memchr(h + s, ';', len - s);
		e = semi != NULL ? (size_t)(semi - h) : len;
		p->sep = s > 0 ? s - 1 : 0;
		*pos = e + 1;
		while (s < e && is_ows((unsigned char)h[s]))
			s++;
		while (e > s && is_ows((unsigned char)h[e - 1]))
			e--;
		if (s == e)
			continue;
		p->start = s;
		p->end = e;
		eq = memchr(h + s, '=', e - s);
		p->has_eq = eq != NULL;
		if (eq == NULL) {
			p->name_end = e;
			p->val = e;
			return true;
		}
		p->name_end = (size_t)(eq - h);
		p->val = p->name_end + 1;
		while (p->name_end > s && is_ows((unsigned char)h[p->name_end - 1]))
			p->name_end--;
		while (p->val < e && is_ows((unsigned char)h[p->val]))
			p->val++;
		return true;
	}
	return false;
}

static bool
cookie_is(const char *h, const struct cpair *p, const char *name, size_t nlen)
{
	return p->has_eq && p->name_end - p->start == nlen &&
	    memcmp(h + p->start, name, nlen) == 0;
}

bool
hu_cookie_get(const char *hdr, size_t len, const char *name,
    const char **val, size_t *vlen)
{
	struct cpair p;
	size_t pos = 0, nlen = strlen(name);

	if (nlen == 0)
		return false;
	while (cookie_next(hdr, len, &pos, &p)) {
		if (cookie_is(hdr, &p, name, nlen)) {
			*val = hdr + p.val;
			*vlen = p.end - p.val;
			return true;
		}
	}
	return false;
}

size_t
hu_cookie_strip(const char *hdr, size_t len, const char *name, char *out)
{
	struct cpair p;
	size_t pos = 0, w = 0, nlen = strlen(name);

	/*
	 * Output never runs ahead of input: each kept pair, and the separator
	 * before it, is copied from a region at or after w. So out may be hdr,
	 * and memmove copes with the overlap.
	 */
	while (cookie_next(hdr, len, &pos, &p)) {
		if (nlen > 0 && cookie_is(hdr, &p, name, nlen))
			continue;
		if (w > 0) {
			size_t seplen = p.start - p.sep;

			memmove(out + w, hdr + p.sep, seplen);
			w += seplen;
		}
		memmove(out + w, hdr + p.start, p.end - p.start);
		w += p.end - p.start;
	}
	return w;
}
