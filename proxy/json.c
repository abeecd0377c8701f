/*
 * json.c -- see json.h. A recursive-descent reader over a byte range; the
 * recursion is bounded by JSON_DEPTH_MAX.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "proxy/json.h"

struct jp {
	const unsigned char *s;
	size_t               len;
	size_t               i;       /* next byte to read */
	char                *arena;
	size_t               alen;
	size_t               aused;
	char                *err;
	size_t               errlen;
};

static int  skip_value(struct jp *p, int depth);

static int
fail(struct jp *p, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(struct jp *p, size_t pos, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (p->errlen == 0)
		return -1;
	k = snprintf(p->err, p->errlen, "offset %zu: ", pos);
	if (k < 0 || (size_t)k >= p->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(p->err + k, p->errlen - (size_t)k, fmt, ap);
	va_end(ap);
	return -1;
}

/* What stands at pos, for "found ...": quoted when printable. */
static const char *
found(const struct jp *p, size_t pos, char buf[16])
{
	unsigned char c;

	if (pos >= p->len)
		return "end of input";
	c = p->s[pos];
	if (c == ' ')
		return "a space";
	if (c == '\'')
		return "\"'\"";
	if (c > 0x20 && c < 0x7f)
		snprintf(buf, 16, "'%c'", c);
	else
		snprintf(buf, 16, "byte 0x%02x", c);
	return buf;
}

static int
expected(struct jp *p, const char *what)
{
	char b[16];

	return fail(p, p->i, "expected %s, found %s", what, found(p, p->i, b));
}

static void
skip_ws(struct jp *p)
{
	while (p->i < p->len && (p->s[p->i] == ' ' || p->s[p->i] == '\t' ||
	    p->s[p->i] == '\n' || p->s[p->i] == '\r'))
		p->i++;
}

size_t
json_utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c, lo = 0x80, hi = 0xbf;
	size_t need, k;

	if (n == 0)
		return 0;
	c = s[0];
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		need = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		need = 3;
		if (c == 0xe0)
			lo = 0xa0;              /* overlong */
		else if (c == 0xed)
			hi = 0x9f;              /* UTF-16 surrogates */
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4;
		if (c == 0xf0)
			lo = 0x90;              /* overlong */
		else if (c == 0xf4)
			hi = 0x8f;              /* above U+10FFFF */
	} else
		return 0;                       /* continuation, C0, C1, F5..FF */
	if (n < need)
		return 0;
	if (s[1] < lo || s[1] > hi)
		return 0;
	for (k = 2; k < need; k++)
		if (s[k] < 0x80 || s[k] > 0xbf)
			return 0;
	return need;
}

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

/* The value of the four hex digits of the \uXXXX escape at offset at, or -1. */
static long
hex4(const struct jp *p, size_t at)
{
	long v = 0;

	if (at + 6 > p->len)
		return -1;
	for (size_t k = at + 2; k < at + 6; k++) {
		int h = hexval(p->s[k]);
		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

/* Append bytes of a decoded string; dst NULL only counts. */
static void
put(char *dst, size_t *n, const void *b, size_t k)
{
	if (dst != NULL)
		memcpy(dst + *n, b, k);
	*n += k;
}

static size_t
encode_utf8(unsigned long cp, unsigned char out[4])
{
	if (cp < 0x80) {
		out[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (unsigned char)(0xc0 | (cp >> 6));
		out[1] = (unsigned char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (unsigned char)(0xe0 | (cp >> 12));
		out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (unsigned char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (unsigned char)(0xf0 | (cp >> 18));
	out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (unsigned char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * A string at p->i (its opening quote). With store, it is decoded into the
 * arena and *out points at it; without, it is only checked.
 */
static int
parse_string(struct jp *p, bool store, const char **out, size_t *outlen)
{
	size_t start = p->i, n = 0, k;
	char *dst = NULL;
	unsigned char u[4];

	if (p->i >= p->len || p->s[p->i] != '"')
		return expected(p, "a string");
	p->i++;
	if (store) {
		/* The decoded form is never longer than the input it came from. */
		if (p->aused + 1 > p->alen)
			return fail(p, start, "out of space for strings");
		dst = p->arena + p->aused;
	}
	for (;;) {
		unsigned char c;

		if (p->i >= p->len)
			return fail(p, start, "unterminated string");
		c = p->s[p->i];
		if (c == '"')
			break;
		if (c < 0x20)
			return fail(p, p->i, "control character 0x%02x in a string "
			    "(write it as an escape)", c);
		if (c == '\\') {
			size_t at = p->i;
			long cp, lo;

			if (at + 1 >= p->len)
				return fail(p, start, "unterminated string");
			switch (p->s[at + 1]) {
			case '"': u[0] = '"'; k = 1; break;
			case '\\': u[0] = '\\'; k = 1; break;
			case '/': u[0] = '/'; k = 1; break;
			case 'b': u[0] = '\b'; k = 1; break;
			case 'f': u[0] = '\f'; k = 1; break;
			case 'n': u[0] = '\n'; k = 1; break;
			case 'r': u[0] = '\r'; k = 1; break;
			case 't': u[0] = '\t'; k = 1; break;
			case 'u':
				if ((cp = hex4(p, at)) < 0)
					return fail(p, at, "expected 4 hex digits after \\u");
				if (cp == 0)
					return fail(p, at, "\\u0000 is not allowed in a string");
				if (cp >= 0xdc00 && cp <= 0xdfff)
					return fail(p, at, "\\u%04lx is a low surrogate "
					    "without a high surrogate before it", cp);
				if (cp >= 0xd800 && cp <= 0xdbff) {
					if (at + 7 >= p->len || p->s[at + 6] != '\\' ||
					    p->s[at + 7] != 'u' ||
					    (lo = hex4(p, at + 6)) < 0xdc00 || lo > 0xdfff)
						return fail(p, at, "\\u%04lx is a high surrogate "
						    "not followed by a low surrogate \\udc00-\\udfff",
						    cp);
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					p->i += 6;
				}
				k = encode_utf8((unsigned long)cp, u);
				p->i += 4;
				break;
			default:
				if (p->s[at + 1] > 0x20 && p->s[at + 1] < 0x7f)
					return fail(p, at, "invalid escape '\\%c' (expected one "
					    "of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)",
					    p->s[at + 1]);
				return fail(p, at, "invalid escape: byte 0x%02x after '\\'",
				    p->s[at + 1]);
			}
			p->i += 2;
		} else {
			if ((k = json_utf8_seq(p->s + p->i, p->len - p->i)) == 0)
				return fail(p, p->i, "invalid UTF-8 (byte 0x%02x) in a string",
				    c);
			memcpy(u, p->s + p->i, k);
			p->i += k;
		}
		if (n + k > JSON_STRING_MAX)
			return fail(p, start, "string longer than %d bytes",
			    JSON_STRING_MAX);
		if (store && p->aused + n + k + 1 > p->alen)
			return fail(p, start, "out of space for strings");
		put(dst, &n, u, k);
	}
	p->i++;                                 /* closing quote */
	if (store) {
		dst[n] = '\0';                 /* room checked with each put */
		p->aused += n + 1;
		*out = dst;
		*outlen = n;
	}
	return 0;
}

static bool
is_digit(const struct jp *p)
{
	return p->i < p->len && p->s[p->i] >= '0' && p->s[p->i] <= '9';
}

/* A number at p->i; with m, stored in the arena and converted. */
static int
parse_number(struct jp *p, struct json_member *m)
{
	size_t start = p->i, len;
	bool is_int = true, neg = false;
	uint64_t v = 0, lim;
	char b[16];

	if (p->s[p->i] == '-') {
		neg = true;
		p->i++;
		if (!is_digit(p))
			return fail(p, p->i, "expected a digit after '-', found %s",
			    found(p, p->i, b));
	}
	if (p->s[p->i] == '0') {
		p->i++;
		if (is_digit(p))
			return fail(p, start, "leading zero in a number");
	} else
		while (is_digit(p))
			p->i++;
	if (p->i < p->len && p->s[p->i] == '.') {
		is_int = false;
		p->i++;
		if (!is_digit(p))
			return fail(p, p->i, "expected a digit after '.', found %s",
			    found(p, p->i, b));
		while (is_digit(p))
			p->i++;
	}
	if (p->i < p->len && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
		is_int = false;
		p->i++;
		if (p->i < p->len && (p->s[p->i] == '+' || p->s[p->i] == '-'))
			p->i++;
		if (!is_digit(p))
			return fail(p, p->i, "expected a digit in the exponent, found %s",
			    found(p, p->i, b));
		while (is_digit(p))
			p->i++;
	}
	len = p->i - start;
	if (len > JSON_NUMBER_MAX)
		return fail(p, start, "number longer than %d characters",
		    JSON_NUMBER_MAX);
	if (is_int) {
		lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
		for (size_t k = start + neg; k < p->i; k++) {
			unsigned d = p->s[k] - '0';
			if (v > (lim - d) / 10)
				return fail(p, start, "integer out of range (%s)",
				    neg ? "below -9223372036854775808" :
				    "above 9223372036854775807");
			v = v * 10 + d;
		}
	}
	if (m == NULL)
		return 0;
	if (p->aused + len + 1 > p->alen)
		return fail(p, start, "out of space for strings");
	memcpy(p->arena + p->aused, p->s + start, len);
	p->arena[p->aused + len] = '\0';
	m->str = p->arena + p->aused;
	m->len = len;
	p->aused += len + 1;
	m->is_int = is_int;
	if (is_int)
		/* -(2^63) has no positive int64_t: negate in unsigned arithmetic */
		m->integer = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

static int
parse_literal(struct jp *p, const char *word)
{
	size_t k = strlen(word);

	if (p->len - p->i < k || memcmp(p->s + p->i, word, k) != 0)
		return fail(p, p->i, "expected '%s'", word);
	p->i += k;
	return 0;
}

#define VALUE_WHAT "a value (string, number, object, array, true, false or null)"

/*
 * A value at p->i (whitespace skipped). With m, a scalar is decoded into it;
 * nested objects and arrays are only checked. depth counts the containers
 * already open around the value.
 */
static int
parse_value(struct jp *p, struct json_member *m, int depth)
{
	unsigned char c;

	if (p->i >= p->len)
		return expected(p, VALUE_WHAT);
	c = p->s[p->i];
	if (m != NULL)
		m->pos = p->i;
	switch (c) {
	case '"':
		if (m != NULL)
			m->type = JSON_STRING;
		return parse_string(p, m != NULL, m ? &m->str : NULL,
		    m ? &m->len : NULL);
	case '{':
	case '[':
		if (m != NULL)
			m->type = c == '{' ? JSON_OBJECT : JSON_ARRAY;
		return skip_value(p, depth);
	case 't':
	case 'f':
		if (m != NULL) {
			m->type = JSON_BOOL;
			m->boolean = c == 't';
		}
		return parse_literal(p, c == 't' ? "true" : "false");
	case 'n':
		if (m != NULL)
			m->type = JSON_NULL;
		return parse_literal(p, "null");
	default:
		if (c == '-' || (c >= '0' && c <= '9')) {
			if (m != NULL)
				m->type = JSON_NUMBER;
			return parse_number(p, m);
		}
		return expected(p, VALUE_WHAT);
	}
}

/* A nested object or array at p->i: checked, nothing kept. */
static int
skip_value(struct jp *p, int depth)
{
	bool obj = p->s[p->i] == '{';
	char close = obj ? '}' : ']';

	if (depth + 1 > JSON_DEPTH_MAX)
		return fail(p, p->i, "nesting deeper than %d levels", JSON_DEPTH_MAX);
	p->i++;
	skip_ws(p);
	if (p->i < p->len && p->s[p->i] == close) {
		p->i++;
		return 0;
	}
	for (;;) {
		if (obj) {
			if (p->i >= p->len || p->s[p->i] != '"')
				return expected(p, "a member name (a string)");
			if (parse_string(p, false, NULL, NULL) != 0)
				return -1;
			skip_ws(p);
			if (p->i >= p->len || p->s[p->i] != ':')
				return expected(p, "':' after the member name");
			p->i++;
			skip_ws(p);
		}
		if (parse_value(p, NULL, depth + 1) != 0)
			return -1;
		skip_ws(p);
		if (p->i < p->len && p->s[p->i] == ',') {
			p->i++;
			skip_ws(p);
			continue;
		}
		if (p->i < p->len && p->s[p->i] == close) {
			p->i++;
			return 0;
		}
		return expected(p, obj ? "',' or '}'" : "',' or ']'");
	}
}

int
json_parse_object(const char *buf, size_t len, struct json_member *out,
    size_t max, size_t *n, char *arena, size_t arenalen, char *err,
    size_t errlen)
{
	struct jp p = { (const unsigned char *)buf, len, 0, arena, arenalen, 0,
	    err, errlen };
	struct json_member *m;
	size_t cnt = 0;

	*n = 0;
	if (errlen > 0)
		err[0] = '\0';
	if (len > JSON_BODY_MAX) {
		snprintf(err, errlen, "body of %zu bytes is over the limit of %d "
		    "bytes", len, JSON_BODY_MAX);
		return -1;
	}
	skip_ws(&p);
	if (p.i >= p.len || p.s[p.i] != '{')
		return expected(&p, "'{' (a JSON object)");
	p.i++;
	skip_ws(&p);
	if (p.i < p.len && p.s[p.i] == '}') {
		p.i++;
		goto end;
	}
	for (;;) {
		size_t key_pos = p.i;
		const char *key;
		size_t keylen;

		if (p.i >= p.len || p.s[p.i] != '"')
			return expected(&p, cnt == 0 ?
			    "a member name (a string) or '}'" : "a member name (a string)");
		if (cnt == max)
			return fail(&p, key_pos, "more than %zu members", max);
		if (parse_string(&p, true, &key, &keylen) != 0)
			return -1;
		for (size_t k = 0; k < cnt; k++)
			if (strcmp(out[k].key, key) == 0)
				return fail(&p, key_pos, "duplicate member \"%.64s\"", key);
		m = &out[cnt];
		memset(m, 0, sizeof(*m));
		m->key = key;
		m->key_pos = key_pos;
		skip_ws(&p);
		if (p.i >= p.len || p.s[p.i] != ':')
			return expected(&p, "':' after the member name");
		p.i++;
		skip_ws(&p);
		if (parse_value(&p, m, 1) != 0)
			return -1;
		cnt++;
		skip_ws(&p);
		if (p.i < p.len && p.s[p.i] == ',') {
			p.i++;
			skip_ws(&p);
			continue;
		}
		if (p.i < p.len && p.s[p.i] == '}') {
			p.i++;
			break;
		}
		return expected(&p, "',' or '}'");
	}
end:
	skip_ws(&p);
	if (p.i < p.len)
		return expected(&p, "end of input after the object");
	*n = cnt;
	return 0;
}

const struct json_member *
json_find(const struct json_member *m, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(m[i].key, key) == 0)
			return &m[i];
	return NULL;
}

const char *
json_type_name(enum json_type t)
{
	switch (t) {
	case JSON_NULL:
		return "null";
	case JSON_BOOL:
		return "a boolean";
	case JSON_NUMBER:
		return "a number";
	case JSON_STRING:
		return "a string";
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	}
	return "a value";
}
