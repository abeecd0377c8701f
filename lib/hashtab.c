/*
 * hashtab.c -- see hashtab.h.
 *
 * Chained buckets, a power of two of them, each chain a doubly linked list
 * through the nodes (next, and pprev = the pointer that points at the node),
 * so ht_remove() is O(1) even when many nodes share one key. Each node keeps
 * its full 64-bit hash: growth relinks without rehashing, and a lookup calls
 * the caller's key function only for nodes whose hash matched.
 *
 * Growth is incremental, as in Redis's dict.c: relinking half a million
 * nodes at once held the daemon's event loop for 40 ms. A doubling only
 * allocates the new buckets; the old ones stay beside them, and every
 * insert then moves HT_REHASH_STEP old buckets over, oldest index first.
 * Old bucket i has been moved once i < rehash_at; a node is in the old
 * buckets exactly when its old index is >= rehash_at (inserts keep that
 * true), so a lookup reads one chain, never two. The next doubling comes
 * only after nbucket / 2 more inserts, by when the move is long done.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hashtab.h"
#include "lib/siphash.h"

#define HT_REHASH_STEP 64   /* old buckets moved per insert */

struct hashtab {
	struct ht_node **bucket;
	size_t           nbucket;       /* power of two */
	struct ht_node **old;           /* while moving: the buckets before */
	size_t           nold;          /* their number (nbucket / 2), or 0 */
	size_t           rehash_at;     /* old buckets below this are moved */
	uint64_t         gen;           /* see ht_generation() */
	size_t           max_buckets;   /* power of two, >= HT_MIN_BUCKETS */
	size_t           count;
	size_t           max_entries;
	ht_key_fn       *key;
	uint64_t         sipkey[2];
};

/* Largest power of two <= n (n >= 1). */
static size_t
ht_pow2_floor(size_t n)
{
	size_t p = 1;

	while (p <= n / 2)
		p *= 2;
	return p;
}

/* The bucket cap for ht_new's arguments; see hashtab.h. */
static size_t
ht_bucket_cap(size_t max_entries, size_t max_buckets)
{
	size_t cap;

	if (max_buckets == 0) {
		/* Enough for max_entries at load factor 1: round up. */
		if (max_entries >= HT_MAX_BUCKETS)
			return HT_MAX_BUCKETS;
		cap = ht_pow2_floor(max_entries > 0 ? max_entries : 1);
		if (cap < max_entries)
			cap *= 2;
	} else {
		cap = ht_pow2_floor(max_buckets);
	}
	if (cap < HT_MIN_BUCKETS)
		cap = HT_MIN_BUCKETS;
	if (cap > HT_MAX_BUCKETS)
		cap = HT_MAX_BUCKETS;
	return cap;
}

static void
ht_link(struct ht_node **head, struct ht_node *n)
{
	n->next = *head;
	if (*head != NULL)
		(*head)->pprev = &n->next;
	*head = n;
	n->pprev = head;
}

static int
ht_equal(const struct hashtab *t, const struct ht_node *n, const void *key,
    size_t len)
{
	size_t nlen;
	const void *nkey = t->key(n, &nlen);

	return nlen == len && (len == 0 || memcmp(nkey, key, len) == 0);
}

/* The head of the chain where a node of this hash is, or is to be, linked. */
static struct ht_node **
ht_head(const struct hashtab *t, uint64_t hash)
{
	size_t oi;

	if (t->old != NULL) {
		oi = hash & (t->nold - 1);
		if (oi >= t->rehash_at)
			return &t->old[oi];
	}
	return &t->bucket[hash & (t->nbucket - 1)];
}

/*
 * Move up to max old buckets (all when max is SIZE_MAX) into the new ones;
 * free the old array once the last is moved.
 */
static void
ht_rehash(struct hashtab *t, size_t max)
{
	struct ht_node *n, *next;
	size_t done;

	if (t->old == NULL)
		return;
	for (done = 0; done < max && t->rehash_at < t->nold; done++) {
		n = t->old[t->rehash_at];
		t->old[t->rehash_at++] = NULL;
		for (; n != NULL; n = next) {
			next = n->next;
			ht_link(&t->bucket[n->hash & (t->nbucket - 1)], n);
		}
	}
	t->gen++;
	if (t->rehash_at == t->nold) {
		free(t->old);
		t->old = NULL;
		t->nold = 0;
		t->rehash_at = 0;
	}
}

/*
 * Start doubling the buckets: allocate the new ones, move nothing yet (see
 * the top of this file). On allocation failure keep the old ones: lookups
 * get slower, never wrong, and the next insert over the load factor tries
 * again. Not while a move is under way (it is finished first).
 */
static void
ht_grow(struct hashtab *t)
{
	struct ht_node **nb;
	size_t nn = t->nbucket * 2;

	ht_rehash(t, SIZE_MAX);
	nb = calloc(nn, sizeof(*nb));   /* nn <= HT_MAX_BUCKETS: no overflow */
	if (nb == NULL)
		return;
	t->old = t->bucket;
	t->nold = t->nbucket;
	t->rehash_at = 0;
	t->bucket = nb;
	t->nbucket = nn;
	t->gen++;
}

struct hashtab *
ht_new(ht_key_fn *key, size_t max_entries, size_t max_buckets)
{
	struct hashtab *t = NULL, *ret = NULL;

	if (key == NULL)
		goto out;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		goto out;
	t->nbucket = HT_MIN_BUCKETS;
	if ((t->bucket = calloc(t->nbucket, sizeof(*t->bucket))) == NULL)
		goto out;
	t->max_buckets = ht_bucket_cap(max_entries, max_buckets);
	t->max_entries = max_entries;
	t->key = key;
	sip_seed(t->sipkey, t);
	ret = t;
	t = NULL;       /* transferred */
out:
	ht_free(t, NULL);
	return ret;
}

void
ht_free(struct hashtab *t, void (*node_free)(struct ht_node *n))
{
	struct ht_iter it;
	struct ht_node *n;

	if (t == NULL)
		return;
	if (node_free != NULL && t->bucket != NULL) {
		for (n = ht_first(t, &it); n != NULL; n = ht_next(&it)) {
			n->next = NULL;
			n->pprev = NULL;
			node_free(n);
		}
	}
	free(t->bucket);
	free(t->old);
	explicit_bzero(t->sipkey, sizeof(t->sipkey));
	free(t);
}

uint64_t
ht_hash(const struct hashtab *t, const void *key, size_t len)
{
	return sip_hash24(t->sipkey, key, len);
}

struct ht_node *
ht_find(const struct hashtab *t, uint64_t hash, const void *key, size_t len)
{
	struct ht_node *n;

	for (n = *ht_head(t, hash); n != NULL; n = n->next)
		if (n->hash == hash && ht_equal(t, n, key, len))
			return n;
	return NULL;
}

struct ht_node *
ht_find_next(const struct hashtab *t, const struct ht_node *n,
    const void *key, size_t len)
{
	struct ht_node *m;

	for (m = n->next; m != NULL; m = m->next)
		if (m->hash == n->hash && ht_equal(t, m, key, len))
			return m;
	return NULL;
}

int
ht_insert(struct hashtab *t, struct ht_node *n, uint64_t hash)
{
	if (t->count >= t->max_entries)
		return -1;
	n->hash = hash;
	ht_link(ht_head(t, hash), n);
	t->count++;
	if (t->count > t->nbucket && t->nbucket < t->max_buckets)
		ht_grow(t);
	ht_rehash(t, HT_REHASH_STEP);
	return 0;
}

void
ht_remove(struct hashtab *t, struct ht_node *n)
{
	if (n->pprev == NULL || t->count == 0) {
		/* A node removed twice, or never inserted: the chains are suspect. */
		fprintf(stderr, "ht_remove: node %p is not in a table\n", (void *)n);
		abort();
	}
	*n->pprev = n->next;
	if (n->next != NULL)
		n->next->pprev = n->pprev;
	n->next = NULL;
	n->pprev = NULL;
	t->count--;
}

size_t
ht_count(const struct hashtab *t)
{
	return t->count;
}

/*
 * Bucket i of the walk over both arrays: the old ones first (those already
 * moved are empty), then the new ones. Their count is ht_walk_len().
 */
static struct ht_node *
ht_walk_at(const struct hashtab *t, size_t i)
{
	return i < t->nold ? t->old[i] : t->bucket[i - t->nold];
}

static size_t
ht_walk_len(const struct hashtab *t)
{
	return t->nold + t->nbucket;
}

/* Step it->next to the head of the next non-empty bucket when it ran out. */
static void
ht_advance(struct ht_iter *it)
{
	while (it->next == NULL && it->bucket < ht_walk_len(it->t))
		it->next = ht_walk_at(it->t, it->bucket++);
}

struct ht_node *
ht_first(const struct hashtab *t, struct ht_iter *it)
{
	it->t = t;
	it->bucket = 0;
	it->next = NULL;
	ht_advance(it);
	return ht_next(it);
}

struct ht_node *
ht_next(struct ht_iter *it)
{
	struct ht_node *n = it->next;

	if (n == NULL)
		return NULL;
	/* Step past n now, so the caller may remove and free it. */
	it->next = n->next;
	ht_advance(it);
	return n;
}

int
ht_scan(const struct hashtab *t, size_t *cursor, size_t max,
    void (*fn)(const struct ht_node *n, void *arg), void *arg)
{
	const struct ht_node *n;
	size_t seen = 0, i = *cursor;

	/* A node's bucket is fixed by its hash while the generation holds. */
	for (; i < ht_walk_len(t) && (seen < max || seen == 0); i++) {
		for (n = ht_walk_at(t, i); n != NULL; n = n->next) {
			fn(n, arg);
			seen++;
		}
	}
	*cursor = i;
	return i >= ht_walk_len(t);
}

size_t
ht_buckets(const struct hashtab *t)
{
	return t->nbucket;
}

uint64_t
ht_generation(const struct hashtab *t)
{
	return t->gen;
}

void
ht_stats(const struct hashtab *t, struct ht_stats *st)
{
	const struct ht_node *n;
	size_t i, len;

	st->buckets = t->nbucket;
	st->entries = t->count;
	st->longest = 0;
	for (i = 0; i < ht_walk_len(t); i++) {
		for (len = 0, n = ht_walk_at(t, i); n != NULL; n = n->next)
			len++;
		if (len > st->longest)
			st->longest = len;
	}
}

void
ht_set_key(struct hashtab *t, const uint64_t k[2])
{
	struct ht_node *all = NULL, *n, *next;
	const void *key;
	size_t i, len;

	ht_rehash(t, SIZE_MAX);     /* one array of buckets to relink */
	t->sipkey[0] = k[0];
	t->sipkey[1] = k[1];
	/* Gather every node on one list (through next), then relink by new hash. */
	for (i = 0; i < t->nbucket; i++) {
		for (n = t->bucket[i]; n != NULL; n = next) {
			next = n->next;
			n->next = all;
			all = n;
		}
		t->bucket[i] = NULL;
	}
	for (n = all; n != NULL; n = next) {
		next = n->next;
		key = t->key(n, &len);
		n->hash = ht_hash(t, key, len);
		ht_link(&t->bucket[n->hash & (t->nbucket - 1)], n);
	}
	t->gen++;
}
