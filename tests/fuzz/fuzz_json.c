/*
 * fuzz_json.c -- poolgate's one JSON reader and its string writer
 * (lib/json.c), through both entry points. This also covers what
 * fuzz_ctljson did for poolgatectl's former reader.
 *
 * Input: an admin API body, or a reply document poolgatectl reads.
 *
 * json_parse_object (bodies): an error leaves no member and says where; an
 * accepted body gives members whose names and strings are valid UTF-8
 * without NUL, unique, within the caps, whose numbers read back as written;
 * an arena of exactly the input's length is enough (the header's promise),
 * and written out again (json_write_str) the members parse to the same.
 *
 * json_parse (documents): an error says where or names the cap; an
 * accepted document is a well-formed tree: every container's count is its
 * number of children, every span lies inside its parent's, strings and
 * numbers are C strings of their stated length, strings are well-formed
 * UTF-8, members have keys and elements do not, the bytes of each top-level
 * child's span parse again on their own (what `poolgatectl sessions VM
 * --json` prints), and every string written out again reads back the same.
 * A body the object reader accepts is a document the tree reader accepts.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/json.h"

#define MAXM 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int ok)
{
	if (!ok)
		abort();
}

static void
check_utf8(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t k;

	check(strlen(s) == len && len <= JSON_STRING_MAX);
	while (len > 0) {
		k = json_utf8_seq(p, len);
		check(k >= 1 && k <= len);
		p += k;
		len -= k;
	}
}

/* Append s as a JSON string to out (at *o; room checked by the caller). */
static void
put_str(char *out, size_t *o, const char *s)
{
	struct json_fbuf f = { out + *o, 6 * strlen(s) + 3, 0, false };

	check(json_write_str(json_fbuf_put, &f, s) == 0 && !f.cut);
	*o += f.len;
}

static bool
same(const struct json_member *a, const struct json_member *b)
{
	if (strcmp(a->key, b->key) != 0 || a->type != b->type)
		return false;
	switch (a->type) {
	case JSON_STRING:
	case JSON_NUMBER:
		return a->len == b->len && strcmp(a->str, b->str) == 0 &&
		    a->is_int == b->is_int && a->integer == b->integer;
	case JSON_BOOL:
		return a->boolean == b->boolean;
	default:
		return true;
	}
}

/* ---- Documents ------------------------------------------------------------ */

/* s written out and read back is s (valid UTF-8 without controls or not). */
static void
check_roundtrip(const char *s)
{
	size_t cap = 6 * strlen(s) + 3;
	char *w = malloc(cap), err[256];
	struct json_fbuf f = { w, cap, 0, false };
	struct json_doc *d;

	if (w == NULL)
		abort();
	check(json_write_str(json_fbuf_put, &f, s) == 0 && !f.cut);
	d = json_parse(w, f.len, err, sizeof(err));
	check(d != NULL && json_root(d)->type == JSON_STRING);
	check(strcmp(json_root(d)->str, s) == 0);
	json_free(d);
	free(w);
}

static size_t
walk(const struct json_node *n, size_t lo, size_t hi, int depth)
{
	size_t count = 0, nodes = 1;

	check(depth < JSON_DOC_DEPTH_MAX + 1);
	check(n->pos >= lo && n->pos < n->end && n->end <= hi);
	switch (n->type) {
	case JSON_STRING:
		check(n->str != NULL && strlen(n->str) == n->len);
		check_utf8(n->str, n->len);
		check_roundtrip(n->str);
		break;
	case JSON_NUMBER:
		check(n->str != NULL && strlen(n->str) == n->len);
		check(n->len == n->end - n->pos && n->len <= JSON_NUMBER_MAX);
		if (n->is_int)
			check(strtoll(n->str, NULL, 10) == n->integer);
		break;
	case JSON_ARRAY:
	case JSON_OBJECT:
		for (const struct json_node *c = n->child; c != NULL; c = c->next) {
			check((c->key != NULL) == (n->type == JSON_OBJECT));
			if (c->key != NULL) {
				check_utf8(c->key, strlen(c->key));
				check(c->key_pos > n->pos && c->key_pos < c->pos);
			}
			nodes += walk(c, n->pos + 1, n->end - 1, depth + 1);
			count++;
		}
		check(count == n->count);
		break;
	default:
		check(n->str == NULL && n->child == NULL);
		break;
	}
	return nodes;
}

/* Returns whether the document was accepted. */
static bool
fuzz_doc(const uint8_t *data, size_t size)
{
	struct json_doc *d, *again;
	const struct json_node *root;
	char err[256];

	d = json_parse((const char *)data, size, err, sizeof(err));
	if (d == NULL) {
		check(strncmp(err, "offset ", 7) == 0 ||
		    strstr(err, "over the limit") != NULL);
		return false;
	}
	check(err[0] == '\0');
	root = json_root(d);
	check(root->key == NULL && root->next == NULL);
	check(walk(root, 0, size, 0) <= JSON_DOC_NODES_MAX);
	for (const struct json_node *c = root->child; c != NULL; c = c->next) {
		again = json_parse((const char *)data + c->pos, c->end - c->pos, err,
		    sizeof(err));
		check(again != NULL);
		check(json_root(again)->type == c->type &&
		    json_root(again)->count == c->count);
		json_free(again);
	}
	json_free(d);
	return true;
}

/* ---- Bodies --------------------------------------------------------------- */

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	bool doc_ok = fuzz_doc(data, size);
	struct json_member m[MAXM], m2[MAXM];
	char err[256], err2[256];
	char *arena, *exact, *re = NULL;
	size_t n, n2, o;
	int rc;

	arena = malloc(size + 64);
	exact = malloc(size > 0 ? size : 1);
	if (arena == NULL || exact == NULL)
		abort();
	rc = json_parse_object(buf, size, m, MAXM, &n, arena, size + 64, err,
	    sizeof(err));

	if (rc != 0) {
		check(rc == -1 && n == 0 && err[0] != '\0');
		check(strncmp(err, "offset ", 7) == 0 ||
		    strncmp(err, "body of ", 8) == 0);
		/* the same input with a tight arena fails the same way */
		check(json_parse_object(buf, size, m2, MAXM, &n2, exact, size, err2,
		    sizeof(err2)) == -1 && strcmp(err, err2) == 0);
		goto out;
	}
	check(size <= JSON_BODY_MAX && n <= MAXM && err[0] == '\0');
	check(doc_ok);
	for (size_t i = 0; i < n; i++) {
		const struct json_member *j = &m[i];

		check(j->key_pos < size && buf[j->key_pos] == '"');
		check(j->pos > j->key_pos && j->pos < size);
		check_utf8(j->key, strlen(j->key));
		for (size_t k = 0; k < i; k++)
			check(strcmp(m[k].key, j->key) != 0);
		switch (j->type) {
		case JSON_STRING:
			check(buf[j->pos] == '"');
			check_utf8(j->str, j->len);
			break;
		case JSON_NUMBER:
			check(j->len >= 1 && j->len <= JSON_NUMBER_MAX);
			check(strlen(j->str) == j->len);
			check(memcmp(buf + j->pos, j->str, j->len) == 0);
			if (j->is_int)
				check(strtoll(j->str, NULL, 10) == j->integer);
			else
				check(strpbrk(j->str, ".eE") != NULL ||
				    strlen(j->str) >= 19);      /* beyond int64_t */
			break;
		case JSON_BOOL:
			check(buf[j->pos] == (j->boolean ? 't' : 'f'));
			check(j->str == NULL);
			break;
		case JSON_NULL:
			check(buf[j->pos] == 'n' && j->str == NULL);
			break;
		case JSON_OBJECT:
			check(buf[j->pos] == '{' && j->str == NULL);
			break;
		case JSON_ARRAY:
			check(buf[j->pos] == '[' && j->str == NULL);
			break;
		}
	}

	/* an arena as long as the input is enough, and gives the same */
	check(json_parse_object(buf, size, m2, MAXM, &n2, exact, size, err2,
	    sizeof(err2)) == 0 && n2 == n);
	for (size_t i = 0; i < n; i++)
		check(same(&m[i], &m2[i]));

	/* written out again (nested values as empty ones) it reads the same */
	if ((re = malloc(6 * size + 16)) == NULL)
		abort();
	o = 0;
	re[o++] = '{';
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			re[o++] = ',';
		put_str(re, &o, m[i].key);
		re[o++] = ':';
		switch (m[i].type) {
		case JSON_STRING:
			put_str(re, &o, m[i].str);
			break;
		case JSON_NUMBER:
			memcpy(re + o, m[i].str, m[i].len);
			o += m[i].len;
			break;
		case JSON_BOOL:
			o += (size_t)sprintf(re + o, "%s", m[i].boolean ? "true" : "false");
			break;
		case JSON_NULL:
			o += (size_t)sprintf(re + o, "null");
			break;
		case JSON_OBJECT:
			o += (size_t)sprintf(re + o, "{}");
			break;
		case JSON_ARRAY:
			o += (size_t)sprintf(re + o, "[]");
			break;
		}
	}
	re[o++] = '}';
	if (o <= JSON_BODY_MAX) {
		char *arena2 = malloc(o);
		if (arena2 == NULL)
			abort();
		check(json_parse_object(re, o, m2, MAXM, &n2, arena2, o, err2,
		    sizeof(err2)) == 0 && n2 == n);
		for (size_t i = 0; i < n; i++)
			check(same(&m[i], &m2[i]));
		free(arena2);
	}
out:
	free(re);
	free(arena);
	free(exact);
	return 0;
}
