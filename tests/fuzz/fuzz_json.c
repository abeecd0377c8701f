/*
 * fuzz_json.c -- the JSON reader of admin API bodies (proxy/json.c).
 *
 * Input: the body itself. Checked on every input: an error leaves no member
 * and says where; an accepted body gives members whose names and strings
 * are valid UTF-8 without NUL, unique, within the caps, whose numbers read
 * back as written; an arena of exactly the input's length is enough (the
 * header's promise), and written out again the members parse to the same.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/json.h"

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
	out[(*o)++] = '"';
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\') {
			out[(*o)++] = '\\';
			out[(*o)++] = (char)c;
		} else if (c < 0x20) {
			*o += (size_t)sprintf(out + *o, "\\u%04x", c);
		} else
			out[(*o)++] = (char)c;
	}
	out[(*o)++] = '"';
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
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
				check(strpbrk(j->str, ".eE") != NULL);
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
