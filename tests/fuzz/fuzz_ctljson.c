/*
 * fuzz_ctljson.c -- poolgatectl's JSON tree reader (proxy/ctljson.c).
 *
 * Input: a reply body as the daemon (or whatever answers at the endpoint)
 * might send it. Checked on every input: an error says where ("offset N:")
 * or names the cap; an accepted document is a well-formed tree: every
 * container's count is its number of children, every span lies inside its
 * parent's, strings and numbers are C strings of their stated length and
 * strings are well-formed UTF-8 (bad bytes become '?'), members have keys
 * and elements do not, and the bytes of each top-level child's span parse
 * again on their own (what `sessions VM --json` prints).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/ctljson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int ok)
{
	if (!ok)
		abort();
}

static void
check_utf8(const unsigned char *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = s[i];
		size_t k = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;

		check(c < 0x80 || (c >= 0xc2 && c <= 0xf4));
		check(i + k <= n);
		for (size_t j = 1; j < k; j++)
			check((s[i + j] & 0xc0) == 0x80);
		i += k;
	}
}

static size_t
walk(const struct cj_node *n, size_t lo, size_t hi, int depth)
{
	size_t count = 0, nodes = 1;

	check(depth <= CJ_DEPTH_MAX);
	check(n->pos >= lo && n->pos < n->end && n->end <= hi);
	switch (n->type) {
	case CJ_STRING:
		check(n->str != NULL && strlen(n->str) == n->len);
		check_utf8((const unsigned char *)n->str, n->len);
		break;
	case CJ_NUMBER:
		check(n->str != NULL && strlen(n->str) == n->len);
		check(n->len == n->end - n->pos && n->len <= CJ_NUMBER_MAX);
		break;
	case CJ_ARRAY:
	case CJ_OBJECT:
		for (const struct cj_node *c = n->child; c != NULL; c = c->next) {
			check((c->key != NULL) == (n->type == CJ_OBJECT));
			if (c->key != NULL)
				check_utf8((const unsigned char *)c->key, strlen(c->key));
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

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cj_doc *d, *again;
	const struct cj_node *root;
	char err[256];

	d = cj_parse((const char *)data, size, err, sizeof(err));
	if (d == NULL) {
		check(strncmp(err, "offset ", 7) == 0 ||
		    strstr(err, "over the limit") != NULL);
		return 0;
	}
	check(err[0] == '\0');
	root = cj_root(d);
	check(root->key == NULL && root->next == NULL);
	check(walk(root, 0, size, 0) <= CJ_NODES_MAX);
	for (const struct cj_node *c = root->child; c != NULL; c = c->next) {
		again = cj_parse((const char *)data + c->pos, c->end - c->pos, err,
		    sizeof(err));
		check(again != NULL);
		check(cj_root(again)->type == c->type &&
		    cj_root(again)->count == c->count);
		cj_free(again);
	}
	cj_free(d);
	return 0;
}
