/*
 * hashtab.h -- the one hash table: intrusive, seeded, capped.
 *
 * Keys are byte strings that come from clients (addresses, user names), so
 * every table hashes with SipHash-2-4 under its own random key (getrandom at
 * ht_new): nobody outside can choose keys that share a bucket, and the
 * chains stay short however the keys are picked (a whole IPv6 /64, say).
 *
 * Intrusive: the caller embeds a struct ht_node in its own struct and gets
 * back to it with HT_ENTRY(). Lookups, removals and iteration never
 * allocate; an insert allocates only when it doubles the buckets.
 *
 * Lifetime rules:
 *   - The caller owns its nodes. The table only links them: it never
 *     allocates, copies or frees one, except that ht_free() hands each node
 *     still in the table to the caller's free function.
 *   - A node is in at most one table at a time, from ht_insert() until
 *     ht_remove() (or ht_free()). The node's key bytes must not change while
 *     it is in the table.
 *   - Node pointers returned by ht_find(), ht_find_next(), ht_first() and
 *     ht_next() are the caller's own nodes; they stay valid until the caller
 *     removes and frees them. Growth relinks nodes, it never moves them.
 *
 * Bounds: at most max_entries nodes (ht_insert refuses the one over) and at
 * most max_buckets buckets. The buckets double when the entries outnumber
 * them (load factor 1), never past max_buckets. When the doubling cannot be
 * allocated the table keeps working at its current size (chains get longer,
 * answers stay right) and tries again at a later insert. The buckets never
 * shrink: their memory is bounded by max_buckets, not by the current count.
 *
 * A doubling is incremental (as Redis's dict): it allocates the new buckets
 * and each insert from then on moves a few of the old ones over, so no
 * single call relinks the whole table (half a million nodes took 40 ms).
 * While the move lasts, both arrays exist: half as much bucket memory again.
 *
 * Average costs: ht_hash O(key length); ht_find, ht_insert, ht_remove O(1),
 * ht_insert included when it doubles (a calloc, and 64 buckets moved);
 * iteration O(buckets + entries).
 *
 * Not thread-safe: one table belongs to one thread (or one lock).
 */
#ifndef POOLGATE_HASHTAB_H
#define POOLGATE_HASHTAB_H

#include <stddef.h>
#include <stdint.h>

#define HT_MIN_BUCKETS 16
#define HT_MAX_BUCKETS ((size_t)1 << 24)   /* 128 MiB of bucket pointers */
                                            /* (+64 MiB while doubling) */

/* Embed one in each element. The members are hashtab.c's, not the caller's. */
struct ht_node {
	struct ht_node  *next;
	struct ht_node **pprev;   /* what points at us; NULL when not in a table */
	uint64_t         hash;
};

/* The element that contains node ptr, as member `member` of `type`. */
#define HT_ENTRY(ptr, type, member) \
	((type *)(void *)((char *)(ptr) - offsetof(type, member)))

/*
 * The key of the element holding n: returns a pointer to its bytes (borrowed
 * from the element) and stores their number in *len. Called on lookups (only
 * for nodes whose hash matched) and by ht_set_key(); must not touch the
 * table.
 */
typedef const void *ht_key_fn(const struct ht_node *n, size_t *len);

struct hashtab;

/*
 * New empty table of HT_MIN_BUCKETS buckets, with a random SipHash key.
 * key must not be NULL. max_entries caps ht_count() (0: every insert is
 * refused). max_buckets caps growth: 0 means enough for max_entries at a
 * load factor of 1; any value is clamped to [HT_MIN_BUCKETS, HT_MAX_BUCKETS]
 * and rounded down to a power of two. Returns NULL on allocation failure;
 * the caller frees the table with ht_free().
 */
struct hashtab *ht_new(ht_key_fn *key, size_t max_entries, size_t max_buckets);

/*
 * Free the table. node_free (may be NULL: the nodes are the caller's to
 * free, or live elsewhere) is called once for every node still in it, in no
 * particular order, after which the node is no longer linked. t may be NULL.
 */
void     ht_free(struct hashtab *t, void (*node_free)(struct ht_node *n));

/*
 * The hash of key[0..len) in this table (under its key). Pass it to
 * ht_find() and ht_insert() of the same table, and only of that table.
 */
uint64_t ht_hash(const struct hashtab *t, const void *key, size_t len);

/*
 * The first node whose key equals key[0..len), or NULL. hash is
 * ht_hash(t, key, len). The node is the caller's (see the lifetime rules);
 * it is returned non-const so a lookup in a const table can still lead to
 * a change the caller makes elsewhere.
 */
struct ht_node *ht_find(const struct hashtab *t, uint64_t hash,
    const void *key, size_t len);

/*
 * The table does not refuse equal keys: a caller may keep several nodes
 * under one key (a multimap). After ht_find() returned n, ht_find_next()
 * returns the next node with the same key, or NULL. n must be in t.
 */
struct ht_node *ht_find_next(const struct hashtab *t, const struct ht_node *n,
    const void *key, size_t len);

/*
 * Link n (not in any table) under hash = ht_hash(t, its key). Returns 0, or
 * -1 when the table already holds max_entries nodes (n is then untouched
 * and still the caller's alone). Never fails otherwise: a doubling that
 * cannot be allocated is skipped. Invalidates any iteration of t.
 */
int      ht_insert(struct hashtab *t, struct ht_node *n, uint64_t hash);

/* Unlink n, which must be in t. O(1). The node is the caller's again. */
void     ht_remove(struct hashtab *t, struct ht_node *n);

/* Nodes in the table. */
size_t   ht_count(const struct hashtab *t);

/*
 * Iteration, in no particular order:
 *
 *	struct ht_iter it;
 *	for (n = ht_first(t, &it); n != NULL; n = ht_next(&it))
 *
 * While iterating, the only change allowed to t is ht_remove() of the node
 * last returned (it may then be freed): the iterator has already stepped
 * past it. Inserting, or removing any other node, invalidates it. The
 * members of struct ht_iter are hashtab.c's.
 */
struct ht_iter {
	const struct hashtab *t;
	size_t                bucket;   /* where to look after next */
	struct ht_node       *next;     /* node to return next, or NULL */
};
struct ht_node *ht_first(const struct hashtab *t, struct ht_iter *it);
struct ht_node *ht_next(struct ht_iter *it);

/*
 * Resumable walk, for a caller that spreads it over several turns of an
 * event loop and lets the table change in between (the affinity snapshot of
 * the state file). Start with *cursor = 0. ht_scan() calls fn for every node
 * of the buckets from *cursor on, a whole bucket at a time, until at least
 * max nodes were passed to fn or the last bucket is done; it stores where to
 * go on in *cursor and returns 1 when the walk is complete, 0 when buckets
 * remain. fn must not change the table. Between two calls the table may
 * change: a node that stays in it throughout is passed exactly once, one
 * inserted or removed meanwhile at most once, provided no node changed
 * bucket in between (compare ht_generation() before and after; when it
 * changed, start over). max 0 is taken as 1.
 */
int      ht_scan(const struct hashtab *t, size_t *cursor, size_t max,
    void (*fn)(const struct ht_node *n, void *arg), void *arg);

/* Buckets in the table now (the new ones while doubling): they only ever double. */
size_t   ht_buckets(const struct hashtab *t);

/*
 * A number that changes whenever nodes may have changed bucket: a doubling
 * starts, an insert moves buckets of one along, ht_set_key(). While it
 * holds, an ht_scan() may go on (see there).
 */
uint64_t ht_generation(const struct hashtab *t);

/* Shape of the table, for tests and metrics. O(buckets). */
struct ht_stats {
	size_t buckets;
	size_t entries;
	size_t longest;   /* nodes in the longest chain */
};
void     ht_stats(const struct hashtab *t, struct ht_stats *st);

/*
 * Test hook: hash with key k from now on instead of the random one (every
 * node already in is rehashed, so hashes from an earlier ht_hash() are
 * stale). Production code never calls it.
 */
void     ht_set_key(struct hashtab *t, const uint64_t k[2]);

#endif
