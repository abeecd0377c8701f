/*
 * json.c -- see json.h. One recursive-descent reader over a byte range,
 * bounded by the depth cap, behind both entry points; and the string writer.
 *
 * Values are kept as nodes in one array that grows while parsing, so the
 * tree is linked by index first (first[], last[], next[]) and turned into
 * pointers once, at the end, when the array no longer moves. Decoded
 * strings and numbers go to one arena: a string's decoded bytes plus its
 * NUL never exceed its raw bytes with the quotes, and a number's text plus
 * its NUL fits in its raw bytes plus the byte after it (a delimiter, or the
 * arena's extra final byte for a number that ends the input), so an arena
 * of len + 1 bytes always does; len is enough for an object.
 *
 * For json_parse_object only the top object and its members are kept
 * ("flat"): deeper values are checked in full and dropped, so a body costs
 * a handful of nodes whatever it nests.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/json.h"

#define NONE UINT32_MAX

struct jp {
	const unsigned char *s;
	size_t               len;
	size_t               i;         /* next byte to read */
	char                *arena;     /* decoded strings and numbers */
	size_t               alen;
	size_t               aused;
	char                *err;
	size_t               errlen;
	int                  depth_max; /* containers open at once */
	size_t               nodes_max;
	bool                 flat;      /* json_parse_object: see the top */
	size_t               members_max; /* flat: members of the top object */
	struct json_node    *nodes;     /* owned until handed to a json_doc */
	size_t               n;
	size_t               cap;       /* of nodes and the link arrays */
	uint32_t            *first;     /* first child, or NONE */
	uint32_t            *last;      /* last child, for appending */
	uint32_t            *next;      /* next sibling, or NONE */
};

struct json_doc {
	struct json_node *nodes;
	size_t            n;
	char             *arena;
};

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
put_bytes(char *dst, size_t *n, const void *b, size_t k)
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
		put_bytes(dst, &n, u, k);
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

/*
 * A number at p->i; with nd, its text is stored in the arena and an integer
 * literal within int64_t converted.
 */
static int
parse_number(struct jp *p, struct json_node *nd)
{
	size_t start = p->i, len;
	bool is_int = true, neg = false, fits = true;
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
	if (nd == NULL)
		return 0;
	if (is_int) {
		lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
		for (size_t k = start + neg; k < p->i && fits; k++) {
			unsigned d = p->s[k] - '0';
			if (v > (lim - d) / 10)
				fits = false;   /* kept as written: not is_int */
			else
				v = v * 10 + d;
		}
	}
	if (p->aused + len + 1 > p->alen)
		return fail(p, start, "out of space for strings");
	memcpy(p->arena + p->aused, p->s + start, len);
	p->arena[p->aused + len] = '\0';
	nd->str = p->arena + p->aused;
	nd->len = len;
	p->aused += len + 1;
	nd->is_int = is_int && fits;
	if (nd->is_int)
		/* -(2^63) has no positive int64_t: negate in unsigned arithmetic */
		nd->integer = neg ? (int64_t)(0 - v) : (int64_t)v;
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

/* A new node of type t at p->i; its index, or NONE (error set). */
static uint32_t
new_node(struct jp *p, enum json_type t)
{
	uint32_t k;

	if (p->n == p->cap) {
		size_t cap = p->cap == 0 ? 16 : p->cap * 2;
		struct json_node *nodes;
		uint32_t *a;

		if (p->cap >= p->nodes_max) {
			fail(p, p->i, "more than %zu values", p->nodes_max);
			return NONE;
		}
		if (cap > p->nodes_max)
			cap = p->nodes_max;
		if ((nodes = realloc(p->nodes, cap * sizeof(*nodes))) == NULL)
			goto nomem;
		p->nodes = nodes;
		if ((a = realloc(p->first, cap * sizeof(*a))) == NULL)
			goto nomem;
		p->first = a;
		if ((a = realloc(p->last, cap * sizeof(*a))) == NULL)
			goto nomem;
		p->last = a;
		if ((a = realloc(p->next, cap * sizeof(*a))) == NULL)
			goto nomem;
		p->next = a;
		p->cap = cap;
	}
	k = (uint32_t)p->n++;
	memset(&p->nodes[k], 0, sizeof(p->nodes[k]));
	p->nodes[k].type = t;
	p->nodes[k].pos = p->i;
	p->first[k] = p->last[k] = p->next[k] = NONE;
	return k;
nomem:
	fail(p, p->i, "out of memory");
	return NONE;
}

static void
append(struct jp *p, uint32_t parent, uint32_t child)
{
	if (p->first[parent] == NONE)
		p->first[parent] = child;
	else
		p->next[p->last[parent]] = child;
	p->last[parent] = child;
	p->nodes[parent].count++;
}

#define VALUE_WHAT "a value (string, number, object, array, true, false or null)"

static int parse_value(struct jp *p, int depth, uint32_t *out);

/* The flat top object k has no member named key yet (at key_pos). */
static int
flat_member(struct jp *p, uint32_t k, size_t key_pos, const char *key)
{
	for (uint32_t c = p->first[k]; c != NONE; c = p->next[c])
		if (strcmp(p->nodes[c].key, key) == 0)
			return fail(p, key_pos, "duplicate member \"%.64s\"", key);
	return 0;
}

/*
 * The object or array at p->i ('{' or '['), node k (NONE: checked, not
 * kept). depth counts the containers open around it. Its members or
 * elements are kept when it is, except below the top of a flat parse.
 */
static int
parse_container(struct jp *p, int depth, uint32_t k)
{
	bool obj = p->s[p->i] == '{', top = p->flat && depth == 0;
	bool kids = k != NONE && (!p->flat || depth == 0);
	char close = obj ? '}' : ']';
	size_t cnt = 0;

	if (depth + 1 > p->depth_max)
		return fail(p, p->i, "nesting deeper than %d levels", p->depth_max);
	p->i++;
	skip_ws(p);
	if (p->i < p->len && p->s[p->i] == close) {
		p->i++;
		return 0;
	}
	for (;;) {
		const char *key = NULL;
		size_t key_pos = p->i, keylen;
		uint32_t c = NONE;

		if (obj) {
			if (p->i >= p->len || p->s[p->i] != '"')
				return expected(p, cnt == 0 ?
				    "a member name (a string) or '}'" :
				    "a member name (a string)");
			if (top && cnt == p->members_max)
				return fail(p, key_pos, "more than %zu members",
				    p->members_max);
			if (parse_string(p, kids, &key, &keylen) != 0)
				return -1;
			if (top && flat_member(p, k, key_pos, key) != 0)
				return -1;
			skip_ws(p);
			if (p->i >= p->len || p->s[p->i] != ':')
				return expected(p, "':' after the member name");
			p->i++;
			skip_ws(p);
		}
		if (parse_value(p, depth + 1, kids ? &c : NULL) != 0)
			return -1;
		if (c != NONE) {
			p->nodes[c].key = key;
			p->nodes[c].key_pos = key_pos;
			append(p, k, c);
		}
		cnt++;
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

/*
 * A value at p->i. With out, it is kept as a node (*out its index);
 * without, only checked. depth counts the containers open around it.
 */
static int
parse_value(struct jp *p, int depth, uint32_t *out)
{
	bool keep = out != NULL;
	enum json_type t;
	uint32_t k = NONE;
	unsigned char c;
	int rc;

	if (p->i >= p->len)
		return expected(p, VALUE_WHAT);
	c = p->s[p->i];
	switch (c) {
	case '"':
		t = JSON_STRING;
		break;
	case '{':
		t = JSON_OBJECT;
		break;
	case '[':
		t = JSON_ARRAY;
		break;
	case 't':
	case 'f':
		t = JSON_BOOL;
		break;
	case 'n':
		t = JSON_NULL;
		break;
	default:
		if (c != '-' && (c < '0' || c > '9'))
			return expected(p, VALUE_WHAT);
		t = JSON_NUMBER;
		break;
	}
	if (keep && (k = new_node(p, t)) == NONE)
		return -1;
	/* p->nodes may move while a container's children are added: index it */
	switch (t) {
	case JSON_STRING: {
		const char *s = NULL;
		size_t n = 0;

		rc = parse_string(p, keep, &s, &n);
		if (rc == 0 && keep) {
			p->nodes[k].str = s;
			p->nodes[k].len = n;
		}
		break;
	}
	case JSON_OBJECT:
	case JSON_ARRAY:
		rc = parse_container(p, depth, k);
		break;
	case JSON_BOOL:
		if (keep)
			p->nodes[k].boolean = c == 't';
		rc = parse_literal(p, c == 't' ? "true" : "false");
		break;
	case JSON_NULL:
		rc = parse_literal(p, "null");
		break;
	default:
		rc = parse_number(p, keep ? &p->nodes[k] : NULL);
		break;
	}
	if (rc != 0)
		return -1;
	if (keep) {
		p->nodes[k].end = p->i;
		*out = k;
	}
	return 0;
}

static void
jp_free(struct jp *p)
{
	free(p->nodes);
	free(p->first);
	free(p->last);
	free(p->next);
	p->nodes = NULL;
	p->first = p->last = p->next = NULL;
}

int
json_parse_object(const char *buf, size_t len, struct json_member *out,
    size_t max, size_t *n, char *arena, size_t arenalen, char *err,
    size_t errlen)
{
	struct jp p = { .s = (const unsigned char *)buf, .len = len,
	    .arena = arena, .alen = arenalen, .err = err, .errlen = errlen,
	    .depth_max = JSON_DEPTH_MAX, .nodes_max = JSON_DOC_NODES_MAX,
	    .flat = true, .members_max = max };
	uint32_t root;
	size_t cnt = 0;
	int rc = -1;

	*n = 0;
	if (errlen > 0)
		err[0] = '\0';
	if (len > JSON_BODY_MAX) {
		if (errlen > 0)
			snprintf(err, errlen, "body of %zu bytes is over the limit of "
			    "%d bytes", len, JSON_BODY_MAX);
		goto out;
	}
	skip_ws(&p);
	if (p.i >= p.len || p.s[p.i] != '{') {
		expected(&p, "'{' (a JSON object)");
		goto out;
	}
	if (parse_value(&p, 0, &root) != 0)
		goto out;
	skip_ws(&p);
	if (p.i < p.len) {
		expected(&p, "end of input after the object");
		goto out;
	}
	for (uint32_t c = p.first[root]; c != NONE; c = p.next[c]) {
		const struct json_node *nd = &p.nodes[c];

		out[cnt++] = (struct json_member){ nd->key, nd->key_pos, nd->pos,
		    nd->type, nd->str, nd->len, nd->boolean, nd->is_int,
		    nd->integer };
	}
	*n = cnt;
	rc = 0;
out:
	jp_free(&p);
	return rc;
}

const struct json_member *
json_find(const struct json_member *m, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(m[i].key, key) == 0)
			return &m[i];
	return NULL;
}

struct json_doc *
json_parse(const char *buf, size_t len, char *err, size_t errlen)
{
	struct jp p = { .s = (const unsigned char *)buf, .len = len,
	    .err = err, .errlen = errlen, .depth_max = JSON_DOC_DEPTH_MAX,
	    .nodes_max = JSON_DOC_NODES_MAX };
	struct json_doc *d = NULL, *doc = NULL;
	uint32_t root;

	if (errlen > 0)
		err[0] = '\0';
	if (len > JSON_DOC_MAX) {
		if (errlen > 0)
			snprintf(err, errlen, "document of %zu bytes is over the limit "
			    "of %u bytes", len, JSON_DOC_MAX);
		goto out;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL ||
	    (d->arena = malloc(len + 1)) == NULL) {
		fail(&p, 0, "out of memory");
		goto out;
	}
	p.arena = d->arena;
	p.alen = len + 1;
	skip_ws(&p);
	if (parse_value(&p, 0, &root) != 0)
		goto out;
	skip_ws(&p);
	if (p.i < p.len) {
		expected(&p, "end of input after the value");
		goto out;
	}
	/* root is node 0; the array stops moving here: link by pointer */
	for (size_t k = 0; k < p.n; k++) {
		p.nodes[k].child = p.first[k] != NONE ? &p.nodes[p.first[k]] : NULL;
		p.nodes[k].next = p.next[k] != NONE ? &p.nodes[p.next[k]] : NULL;
	}
	d->nodes = p.nodes;
	d->n = p.n;
	p.nodes = NULL;                         /* transferred */
	doc = d;
	d = NULL;                               /* transferred */
out:
	jp_free(&p);
	json_free(d);
	return doc;
}

void
json_free(struct json_doc *doc)
{
	if (doc == NULL)
		return;
	free(doc->nodes);
	free(doc->arena);
	free(doc);
}

const struct json_node *
json_root(const struct json_doc *doc)
{
	return &doc->nodes[0];
}

const struct json_node *
json_get(const struct json_node *obj, const char *key)
{
	if (obj == NULL || obj->type != JSON_OBJECT)
		return NULL;
	for (const struct json_node *c = obj->child; c != NULL; c = c->next)
		if (strcmp(c->key, key) == 0)
			return c;
	return NULL;
}

const char *
json_get_str(const struct json_node *obj, const char *key)
{
	const struct json_node *v = json_get(obj, key);

	return v != NULL && v->type == JSON_STRING ? v->str : NULL;
}

bool
json_get_int(const struct json_node *obj, const char *key, int64_t *v)
{
	const struct json_node *nd = json_get(obj, key);

	if (nd == NULL || nd->type != JSON_NUMBER || !nd->is_int)
		return false;
	*v = nd->integer;
	return true;
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

/* ---- The string writer ----------------------------------------------------- */

int
json_write_str(json_put_fn *put, void *arg, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), run, k;
	char esc[6];
	int rc;

	if ((rc = put(arg, "\"", 1)) != 0)
		return rc;
	while (n > 0) {
		/* copy what needs nothing in runs: most text is plain */
		for (run = 0; run < n; run += k) {
			unsigned char c = p[run];
			if (c < 0x20 || c == '"' || c == '\\' || c == 0x7f)
				break;
			if ((k = json_utf8_seq(p + run, n - run)) == 0)
				break;
		}
		if (run > 0) {
			if ((rc = put(arg, (const char *)p, run)) != 0)
				return rc;
			p += run;
			n -= run;
			continue;
		}
		if (*p == '"' || *p == '\\') {
			esc[0] = '\\';
			esc[1] = (char)*p;
			rc = put(arg, esc, 2);
		} else if (*p < 0x20 || *p == 0x7f) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[*p >> 4];
			esc[5] = hex[*p & 15];
			rc = put(arg, esc, 6);
		} else
			rc = put(arg, "\\ufffd", 6);    /* not UTF-8: one per byte */
		if (rc != 0)
			return rc;
		p++;
		n--;
	}
	return put(arg, "\"", 1);
}

int
json_fbuf_put(void *arg, const char *bytes, size_t n)
{
	struct json_fbuf *f = arg;
	size_t room = f->cap > f->len + 1 ? f->cap - f->len - 1 : 0;
	size_t k = n < room ? n : room;

	memcpy(f->buf + f->len, bytes, k);
	f->len += k;
	if (f->cap > 0)
		f->buf[f->len] = '\0';
	if (k < n) {
		f->cut = true;
		return -1;
	}
	return 0;
}
