/*
 * ctljson.c -- see ctljson.h. Recursive descent, bounded by CJ_DEPTH_MAX.
 *
 * Nodes live in one array that grows while parsing, so the tree is linked
 * by index first (first[], next[], last[]) and turned into pointers once,
 * at the end, when the array no longer moves. Decoded strings and numbers
 * go to one arena of len + 1 bytes: a string's decoded bytes plus its NUL
 * never exceed its raw bytes with the quotes, and a number's text plus its
 * NUL fits in its raw bytes plus the delimiter after it (or the final byte
 * of the arena for a number that ends the input).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/ctljson.h"

#define NONE UINT32_MAX

struct cj_doc {
	struct cj_node *nodes;
	size_t          n;
	char           *arena;
};

struct cjp {
	const unsigned char *s;
	size_t               len;
	size_t               i;       /* next byte to read */
	struct cj_doc       *d;
	size_t               cap;     /* of d->nodes and the link arrays */
	uint32_t            *first;   /* first child, or NONE */
	uint32_t            *last;    /* last child, for appending */
	uint32_t            *next;    /* next sibling, or NONE */
	size_t               aused;
	size_t               alen;
	char                *err;
	size_t               errlen;
};

static int
fail(struct cjp *p, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail(struct cjp *p, size_t pos, const char *fmt, ...)
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
found(const struct cjp *p, size_t pos, char buf[16])
{
	unsigned char c;

	if (pos >= p->len)
		return "end of input";
	c = p->s[pos];
	if (c == ' ')
		return "a space";
	if (c > 0x20 && c < 0x7f)
		snprintf(buf, 16, "'%c'", c);
	else
		snprintf(buf, 16, "byte 0x%02x", c);
	return buf;
}

static int
expected(struct cjp *p, const char *what)
{
	char b[16];

	return fail(p, p->i, "expected %s, found %s", what, found(p, p->i, b));
}

static void
skip_ws(struct cjp *p)
{
	while (p->i < p->len && (p->s[p->i] == ' ' || p->s[p->i] == '\t' ||
	    p->s[p->i] == '\n' || p->s[p->i] == '\r'))
		p->i++;
}

/* A new node of type t at the current offset; its index, or NONE. */
static uint32_t
new_node(struct cjp *p, enum cj_type t)
{
	struct cj_doc *d = p->d;
	uint32_t k;

	if (d->n == p->cap) {
		size_t cap = p->cap == 0 ? 64 : p->cap * 2;
		struct cj_node *nodes;
		uint32_t *a;

		if (p->cap >= CJ_NODES_MAX) {
			fail(p, p->i, "more than %u values", CJ_NODES_MAX);
			return NONE;
		}
		if (cap > CJ_NODES_MAX)
			cap = CJ_NODES_MAX;
		if ((nodes = realloc(d->nodes, cap * sizeof(*nodes))) == NULL)
			goto nomem;
		d->nodes = nodes;
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
	k = (uint32_t)d->n++;
	memset(&d->nodes[k], 0, sizeof(d->nodes[k]));
	d->nodes[k].type = t;
	d->nodes[k].pos = p->i;
	p->first[k] = p->last[k] = p->next[k] = NONE;
	return k;
nomem:
	fail(p, p->i, "out of memory");
	return NONE;
}

static void
append(struct cjp *p, uint32_t parent, uint32_t child)
{
	if (p->first[parent] == NONE)
		p->first[parent] = child;
	else
		p->next[p->last[parent]] = child;
	p->last[parent] = child;
	p->d->nodes[parent].count++;
}

/* Reserve n arena bytes; NULL (a bug: see the top comment) when they lack. */
static char *
arena_take(struct cjp *p, size_t n)
{
	char *a;

	if (n > p->alen - p->aused) {
		fail(p, p->i, "internal error: arena exhausted");
		return NULL;
	}
	a = p->d->arena + p->aused;
	p->aused += n;
	return a;
}

/*
 * The length (1 to 4) of the well-formed UTF-8 sequence at s[0..n), or 0
 * (truncated, overlong, surrogate, above U+10FFFF, stray continuation).
 */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t need, k;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		need = 2;
	else if (c >= 0xe0 && c <= 0xef) {
		need = 3;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 4;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (n < need || s[1] < lo || s[1] > hi)
		return 0;
	for (k = 2; k < need; k++)
		if (s[k] < 0x80 || s[k] > 0xbf)
			return 0;
	return need;
}

static int
hex4(struct cjp *p, size_t at, unsigned *v)
{
	unsigned x = 0;

	for (size_t k = 0; k < 4; k++) {
		unsigned char c = at + k < p->len ? p->s[at + k] : 0;
		char b[16];

		x <<= 4;
		if (c >= '0' && c <= '9')
			x |= c - '0';
		else if (c >= 'a' && c <= 'f')
			x |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			x |= c - 'A' + 10;
		else
			return fail(p, at + k, "expected a hex digit in \\u escape, "
			    "found %s", found(p, at + k, b));
	}
	*v = x;
	return 0;
}

static size_t
put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/*
 * A string at p->i (the opening quote), decoded into the arena. *out gets
 * the decoded C string, *outlen its length.
 */
static int
parse_string(struct cjp *p, const char **out, size_t *outlen)
{
	size_t start = p->i, raw_end, o = 0;
	char *dst;

	/* find the closing quote first: the arena slice is then known */
	raw_end = start + 1;
	while (raw_end < p->len && p->s[raw_end] != '"') {
		if (p->s[raw_end] == '\\')
			raw_end++;
		raw_end++;
	}
	if (raw_end >= p->len)
		return fail(p, start, "unterminated string");
	if ((dst = arena_take(p, raw_end - start)) == NULL)
		return -1;
	p->i = start + 1;
	while (p->i < raw_end) {
		unsigned char c = p->s[p->i];
		unsigned cp, lo;
		size_t k;

		if (c < 0x20)
			return fail(p, p->i, "raw control byte 0x%02x in a string "
			    "(escape it)", c);
		if (c >= 0x80) {
			if ((k = utf8_seq(p->s + p->i, raw_end - p->i)) == 0) {
				dst[o++] = '?';  /* not UTF-8: a VM's bytes, relayed */
				p->i++;
			} else {
				memcpy(dst + o, p->s + p->i, k);
				o += k;
				p->i += k;
			}
			continue;
		}
		if (c != '\\') {
			dst[o++] = (char)c;
			p->i++;
			continue;
		}
		c = p->s[p->i + 1];
		switch (c) {
		case '"': case '\\': case '/':
			dst[o++] = (char)c;
			break;
		case 'b': dst[o++] = '\b'; break;
		case 'f': dst[o++] = '\f'; break;
		case 'n': dst[o++] = '\n'; break;
		case 'r': dst[o++] = '\r'; break;
		case 't': dst[o++] = '\t'; break;
		case 'u':
			if (hex4(p, p->i + 2, &cp) != 0)
				return -1;
			if (cp >= 0xd800 && cp <= 0xdbff && p->i + 12 <= raw_end &&
			    p->s[p->i + 6] == '\\' && p->s[p->i + 7] == 'u') {
				if (hex4(p, p->i + 8, &lo) != 0)
					return -1;
				if (lo >= 0xdc00 && lo <= 0xdfff) {
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
					o += put_utf8(dst + o, cp);
					p->i += 12;
					continue;
				}
			}
			if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff))
				dst[o++] = '?';  /* no NUL inside a C string; lone half */
			else
				o += put_utf8(dst + o, cp);
			p->i += 6;
			continue;
		default: {
			char b[16];
			return fail(p, p->i + 1, "expected an escape (\\\" \\\\ \\/ \\b "
			    "\\f \\n \\r \\t \\u), found %s", found(p, p->i + 1, b));
		}
		}
		p->i += 2;
	}
	dst[o] = '\0';
	p->i = raw_end + 1;
	*out = dst;
	*outlen = o;
	return 0;
}

static int
parse_number(struct cjp *p, struct cj_node *nd)
{
	size_t start = p->i, n;
	bool integer = true;
	char *dst, b[16];

	if (p->i < p->len && p->s[p->i] == '-')
		p->i++;
	if (p->i >= p->len || p->s[p->i] < '0' || p->s[p->i] > '9')
		return fail(p, p->i, "expected a digit, found %s", found(p, p->i, b));
	if (p->s[p->i] == '0') {
		p->i++;
		if (p->i < p->len && p->s[p->i] >= '0' && p->s[p->i] <= '9')
			return fail(p, p->i, "leading zero in a number");
	} else
		while (p->i < p->len && p->s[p->i] >= '0' && p->s[p->i] <= '9')
			p->i++;
	if (p->i < p->len && p->s[p->i] == '.') {
		integer = false;
		p->i++;
		if (p->i >= p->len || p->s[p->i] < '0' || p->s[p->i] > '9')
			return fail(p, p->i, "expected a digit after '.', found %s",
			    found(p, p->i, b));
		while (p->i < p->len && p->s[p->i] >= '0' && p->s[p->i] <= '9')
			p->i++;
	}
	if (p->i < p->len && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
		integer = false;
		p->i++;
		if (p->i < p->len && (p->s[p->i] == '+' || p->s[p->i] == '-'))
			p->i++;
		if (p->i >= p->len || p->s[p->i] < '0' || p->s[p->i] > '9')
			return fail(p, p->i, "expected a digit in the exponent, found %s",
			    found(p, p->i, b));
		while (p->i < p->len && p->s[p->i] >= '0' && p->s[p->i] <= '9')
			p->i++;
	}
	n = p->i - start;
	if (n > CJ_NUMBER_MAX)
		return fail(p, start, "number longer than %d characters",
		    CJ_NUMBER_MAX);
	if ((dst = arena_take(p, n + 1)) == NULL)
		return -1;
	memcpy(dst, p->s + start, n);
	dst[n] = '\0';
	nd->str = dst;
	nd->len = n;
	if (integer) {
		char *end;
		long long v;

		errno = 0;
		v = strtoll(dst, &end, 10);
		if (errno == 0 && *end == '\0') {
			nd->is_int = true;
			nd->integer = v;
		}
	}
	return 0;
}

static int
literal(struct cjp *p, const char *word)
{
	size_t n = strlen(word);

	if (p->len - p->i < n || memcmp(p->s + p->i, word, n) != 0)
		return expected(p, "a value");
	p->i += n;
	return 0;
}

static int parse_value(struct cjp *p, int depth, uint32_t *out);

/* An array or object at p->i; close is ']' or '}'. */
static int
parse_container(struct cjp *p, int depth, uint32_t k, char close)
{
	bool obj = close == '}';

	if (depth >= CJ_DEPTH_MAX)
		return fail(p, p->i, "nested deeper than %d arrays and objects",
		    CJ_DEPTH_MAX);
	p->i++;
	skip_ws(p);
	if (p->i < p->len && p->s[p->i] == close) {
		p->i++;
		return 0;
	}
	for (;;) {
		const char *key = NULL;
		size_t keylen;
		uint32_t c;

		skip_ws(p);
		if (obj) {
			if (p->i >= p->len || p->s[p->i] != '"')
				return expected(p, "a member name in double quotes");
			if (parse_string(p, &key, &keylen) != 0)
				return -1;
			skip_ws(p);
			if (p->i >= p->len || p->s[p->i] != ':')
				return expected(p, "':' after the member name");
			p->i++;
		}
		if (parse_value(p, depth + 1, &c) != 0)
			return -1;
		p->d->nodes[c].key = key;
		append(p, k, c);
		skip_ws(p);
		if (p->i < p->len && p->s[p->i] == ',') {
			p->i++;
			continue;
		}
		if (p->i < p->len && p->s[p->i] == close) {
			p->i++;
			return 0;
		}
		return expected(p, obj ? "',' or '}' after a member" :
		    "',' or ']' after an element");
	}
}

static int
parse_value(struct cjp *p, int depth, uint32_t *out)
{
	uint32_t k;
	int rc;

	skip_ws(p);
	if (p->i >= p->len)
		return expected(p, "a value");
	switch (p->s[p->i]) {
	case '{':
	case '[':
		if ((k = new_node(p, p->s[p->i] == '{' ? CJ_OBJECT : CJ_ARRAY)) ==
		    NONE)
			return -1;
		rc = parse_container(p, depth, k, p->s[p->i] == '{' ? '}' : ']');
		break;
	case '"': {
		const char *s;
		size_t n;

		if ((k = new_node(p, CJ_STRING)) == NONE)
			return -1;
		if ((rc = parse_string(p, &s, &n)) == 0) {
			p->d->nodes[k].str = s;
			p->d->nodes[k].len = n;
		}
		break;
	}
	case 't':
	case 'f':
		if ((k = new_node(p, CJ_BOOL)) == NONE)
			return -1;
		p->d->nodes[k].boolean = p->s[p->i] == 't';
		rc = literal(p, p->s[p->i] == 't' ? "true" : "false");
		break;
	case 'n':
		if ((k = new_node(p, CJ_NULL)) == NONE)
			return -1;
		rc = literal(p, "null");
		break;
	default:
		if (p->s[p->i] != '-' && (p->s[p->i] < '0' || p->s[p->i] > '9'))
			return expected(p, "a value");
		if ((k = new_node(p, CJ_NUMBER)) == NONE)
			return -1;
		rc = parse_number(p, &p->d->nodes[k]);
		break;
	}
	if (rc != 0)
		return -1;
	p->d->nodes[k].end = p->i;
	*out = k;
	return 0;
}

struct cj_doc *
cj_parse(const char *buf, size_t len, char *err, size_t errlen)
{
	struct cjp p = { (const unsigned char *)buf, len, 0, NULL, 0, NULL, NULL,
	    NULL, 0, len + 1, err, errlen };
	struct cj_doc *d = NULL;
	uint32_t root;

	if (errlen > 0)
		err[0] = '\0';
	if (len > CJ_INPUT_MAX) {
		if (errlen > 0)
			snprintf(err, errlen, "%zu bytes is over the limit of %u bytes",
			    len, CJ_INPUT_MAX);
		return NULL;
	}
	if ((d = calloc(1, sizeof(*d))) == NULL ||
	    (d->arena = malloc(len + 1)) == NULL) {
		if (errlen > 0)
			snprintf(err, errlen, "out of memory");
		goto fail;
	}
	p.d = d;
	if (parse_value(&p, 0, &root) != 0)
		goto fail;
	skip_ws(&p);
	if (p.i != len) {
		expected(&p, "the end of input");
		goto fail;
	}
	/* root is node 0; the array stops moving here: link by pointer */
	for (size_t k = 0; k < d->n; k++) {
		d->nodes[k].child = p.first[k] != NONE ? &d->nodes[p.first[k]] : NULL;
		d->nodes[k].next = p.next[k] != NONE ? &d->nodes[p.next[k]] : NULL;
	}
	free(p.first);
	free(p.last);
	free(p.next);
	return d;
fail:
	free(p.first);
	free(p.last);
	free(p.next);
	cj_free(d);
	return NULL;
}

void
cj_free(struct cj_doc *doc)
{
	if (doc == NULL)
		return;
	free(doc->nodes);
	free(doc->arena);
	free(doc);
}

const struct cj_node *
cj_root(const struct cj_doc *doc)
{
	return &doc->nodes[0];
}

const struct cj_node *
cj_get(const struct cj_node *obj, const char *key)
{
	if (obj == NULL || obj->type != CJ_OBJECT)
		return NULL;
	for (const struct cj_node *c = obj->child; c != NULL; c = c->next)
		if (strcmp(c->key, key) == 0)
			return c;
	return NULL;
}

const char *
cj_get_str(const struct cj_node *obj, const char *key)
{
	const struct cj_node *v = cj_get(obj, key);

	return v != NULL && v->type == CJ_STRING ? v->str : NULL;
}

bool
cj_get_int(const struct cj_node *obj, const char *key, int64_t *v)
{
	const struct cj_node *n = cj_get(obj, key);

	if (n == NULL || n->type != CJ_NUMBER || !n->is_int)
		return false;
	*v = n->integer;
	return true;
}

const char *
cj_type_name(enum cj_type t)
{
	switch (t) {
	case CJ_NULL:   return "null";
	case CJ_BOOL:   return "a boolean";
	case CJ_NUMBER: return "a number";
	case CJ_STRING: return "a string";
	case CJ_ARRAY:  return "an array";
	case CJ_OBJECT: return "an object";
	}
	return "unknown";
}
