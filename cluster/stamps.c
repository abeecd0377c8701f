/*
 * stamps.c -- see stamps.h.
 */
#include <stdlib.h>
#include <string.h>

#include "cluster/stamps.h"
#include "config/config.h"
#include "lib/hashtab.h"

/* One per shared key: up to a million with the affinities, so sized to fit. */
struct stamp {
	struct ht_node node;
	uint64_t       stamp;
	uint64_t       expires;
	uint64_t       tag;
	char           by[CFG_NAME_MAX + 1];
	size_t         len;
	char           name[];          /* len bytes and a NUL */
};

struct cl_stamps {
	struct hashtab *ht;
};

static const void *
stamp_key(const struct ht_node *n, size_t *len)
{
	const struct stamp *s = HT_ENTRY(n, struct stamp, node);

	*len = s->len;
	return s->name;
}

struct cl_stamps *
cl_stamps_new(size_t max)
{
	struct cl_stamps *t = calloc(1, sizeof(*t));

	if (t == NULL || (t->ht = ht_new(stamp_key, max, 0)) == NULL) {
		free(t);
		return NULL;
	}
	return t;
}

static void
stamp_free(struct ht_node *n)
{
	free(HT_ENTRY(n, struct stamp, node));
}

void
cl_stamps_free(struct cl_stamps *t)
{
	if (t == NULL)
		return;
	ht_free(t->ht, stamp_free);
	free(t);
}

static struct stamp *
find(const struct cl_stamps *t, const char *name, size_t len, uint64_t *hash)
{
	struct ht_node *n;

	*hash = ht_hash(t->ht, name, len);
	n = ht_find(t->ht, *hash, name, len);
	return n != NULL ? HT_ENTRY(n, struct stamp, node) : NULL;
}

bool
cl_stamps_offer(struct cl_stamps *t, const char *name, uint64_t stamp,
    const char *node, uint64_t expires, uint64_t now_wall)
{
	return cl_stamps_offer_tagged(t, name, stamp, node, expires, 0,
	    now_wall);
}

bool
cl_stamps_offer_tagged(struct cl_stamps *t, const char *name,
    uint64_t stamp, const char *node, uint64_t expires, uint64_t tag,
    uint64_t now_wall)
{
	size_t len = strlen(name);
	uint64_t hash;
	struct stamp *s;

	if (len > CL_NAME_MAX || strlen(node) > CFG_NAME_MAX ||
	    (expires != 0 && expires <= now_wall))
		return false;
	if ((s = find(t, name, len, &hash)) != NULL) {
		bool live = s->expires == 0 || s->expires > now_wall;

		/* An expired record is no rival: anything beats nothing. */
		if (live && (stamp < s->stamp ||
		    (stamp == s->stamp && strcmp(node, s->by) < 0)))
			return false;
	} else {
		if ((s = calloc(1, sizeof(*s) + len + 1)) == NULL)
			return false;
		memcpy(s->name, name, len + 1);
		s->len = len;
		if (ht_insert(t->ht, &s->node, hash) == -1) {
			free(s);
			return false;
		}
	}
	s->stamp = stamp;
	s->expires = expires;
	s->tag = tag;
	memcpy(s->by, node, strlen(node) + 1);
	return true;
}

bool
cl_stamps_unchanged(const struct cl_stamps *t, const char *name,
    const char *node, uint64_t tag, uint64_t expires, uint64_t slack_ms,
    uint64_t now_wall)
{
	uint64_t hash;
	const struct stamp *s = find(t, name, strlen(name), &hash);

	if (s == NULL || tag == 0 || s->tag != tag || strcmp(s->by, node) != 0)
		return false;
	if (s->expires == 0)
		return expires == 0;
	if (s->expires <= now_wall || expires < s->expires)
		return false;   /* gone, or shortened: the others must hear */
	return expires - s->expires < slack_ms;
}

uint64_t
cl_stamps_get(const struct cl_stamps *t, const char *name)
{
	uint64_t hash;
	struct stamp *s = find(t, name, strlen(name), &hash);

	return s != NULL ? s->stamp : 0;
}

void
cl_stamps_forget(struct cl_stamps *t, const char *name)
{
	uint64_t hash;
	struct stamp *s = find(t, name, strlen(name), &hash);

	if (s != NULL) {
		ht_remove(t->ht, &s->node);
		free(s);
	}
}

size_t
cl_stamps_sweep(struct cl_stamps *t, uint64_t now_wall)
{
	struct ht_iter it;
	struct ht_node *n;
	size_t k = 0;

	for (n = ht_first(t->ht, &it); n != NULL; n = ht_next(&it)) {
		struct stamp *s = HT_ENTRY(n, struct stamp, node);

		if (s->expires != 0 && s->expires <= now_wall) {
			ht_remove(t->ht, n);
			free(s);
			k++;
		}
	}
	return k;
}

size_t
cl_stamps_count(const struct cl_stamps *t)
{
	return ht_count(t->ht);
}

void
cl_stamps_foreach(const struct cl_stamps *t, uint64_t now_wall,
    void (*fn)(const char *name, uint64_t stamp, const char *node, void *arg),
    void *arg)
{
	struct ht_iter it;
	struct ht_node *n;

	for (n = ht_first(t->ht, &it); n != NULL; n = ht_next(&it)) {
		const struct stamp *s = HT_ENTRY(n, struct stamp, node);

		if (s->expires == 0 || s->expires > now_wall)
			fn(s->name, s->stamp, s->by, arg);
	}
}
