/*
 * test_hashtab.c -- the one hash table (lib/hashtab.h) and its SipHash-2-4.
 *
 * Linked with -Wl,--wrap=calloc (tests/unit/meson.build), so a test can make
 * the table's allocations fail and check that it keeps working.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "lib/hashtab.h"
#include "lib/siphash.h"

/* --- calloc that fails on demand --- */

void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size);

static long calloc_ok = -1;   /* calls that succeed before all fail; -1: all succeed */

void *
__wrap_calloc(size_t n, size_t size)
{
	if (calloc_ok == 0)
		return NULL;
	if (calloc_ok > 0)
		calloc_ok--;
	return __real_calloc(n, size);
}

/* --- test elements --- */

struct item {
	struct ht_node hn;
	size_t         len;
	unsigned char  key[16];
	int            value;
	int            freed;    /* times item_free saw it */
};

static const void *
item_key(const struct ht_node *n, size_t *len)
{
	const struct item *it = HT_ENTRY(n, struct item, hn);

	*len = it->len;
	return it->key;
}

static void
item_free(struct ht_node *n)
{
	HT_ENTRY(n, struct item, hn)->freed++;
}

static void
item_set(struct item *it, const void *key, size_t len, int value)
{
	memset(it, 0, sizeof(*it));
	assert_true(len <= sizeof(it->key));
	memcpy(it->key, key, len);
	it->len = len;
	it->value = value;
}

static struct hashtab *
table(size_t max_entries, size_t max_buckets)
{
	struct hashtab *t = ht_new(item_key, max_entries, max_buckets);

	assert_non_null(t);
	return t;
}

static int
insert(struct hashtab *t, struct item *it)
{
	return ht_insert(t, &it->hn, ht_hash(t, it->key, it->len));
}

static struct item *
find(const struct hashtab *t, const void *key, size_t len)
{
	struct ht_node *n = ht_find(t, ht_hash(t, key, len), key, len);

	return n != NULL ? HT_ENTRY(n, struct item, hn) : NULL;
}

static struct ht_stats
stats(const struct hashtab *t)
{
	struct ht_stats st;

	ht_stats(t, &st);
	return st;
}

/* key i as 8 bytes, little-endian */
static void
item_num(struct item *it, uint64_t i)
{
	unsigned char k[8];

	for (int b = 0; b < 8; b++)
		k[b] = (unsigned char)(i >> (8 * b));
	item_set(it, k, sizeof(k), (int)i);
}

/* An IPv6 address in 2001:db8:0:1::/64 with the given interface id. */
static void
item_v6(struct item *it, uint64_t iid, int value)
{
	unsigned char ip[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1 };

	for (int b = 0; b < 8; b++)
		ip[8 + b] = (unsigned char)(iid >> (56 - 8 * b));
	item_set(it, ip, sizeof(ip), value);
}

/* --- SipHash-2-4 --- */

/* The reference vectors (Aumasson, Bernstein): key 00..0f, message 00..len-1. */
static void
test_siphash24_vectors(void **state)
{
	static const uint64_t want[] = {
		UINT64_C(0x726fdb47dd0e0e31),   /* len 0 */
		UINT64_C(0x74f839c593dc67fd),   /* len 1 */
		UINT64_C(0x93f5f5799a932462),   /* len 8 */
		UINT64_C(0xa129ca6149be45e5),   /* len 15 */
		UINT64_C(0x3f2acc7f57c29bdb),   /* len 16 */
	};
	static const size_t lens[] = { 0, 1, 8, 15, 16 };
	const uint64_t k[2] = { UINT64_C(0x0706050403020100),
	    UINT64_C(0x0f0e0d0c0b0a0908) };
	unsigned char msg[16];

	(void)state;
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (unsigned char)i;
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		assert_true(sip_hash24(k, msg, lens[i]) == want[i]);
}

/* Two seeds from getrandom differ; the salt fallback is not taken here. */
static void
test_sip_seed_random(void **state)
{
	uint64_t a[2] = { 0, 0 }, b[2] = { 0, 0 };

	(void)state;
	sip_seed(a, &a);
	sip_seed(b, &a);
	assert_false(a[0] == b[0] && a[1] == b[1]);
}

/* --- the API --- */

static void
test_new_free(void **state)
{
	struct hashtab *t;
	struct ht_stats st;

	(void)state;
	assert_null(ht_new(NULL, 10, 0));
	ht_free(NULL, NULL);
	ht_free(NULL, item_free);

	t = table(10, 0);
	st = stats(t);
	assert_int_equal(st.buckets, HT_MIN_BUCKETS);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.longest, 0);
	assert_int_equal(ht_count(t), 0);
	assert_null(find(t, "x", 1));
	ht_free(t, NULL);

	/* Either allocation failing gives NULL and leaks nothing (ASan). */
	calloc_ok = 0;
	assert_null(ht_new(item_key, 10, 0));
	calloc_ok = 1;
	assert_null(ht_new(item_key, 10, 0));
	calloc_ok = -1;
}

static void
test_insert_find_remove(void **state)
{
	struct hashtab *t = table(100, 0);
	struct item a, b, c, e, *got;

	(void)state;
	item_set(&a, "alice", 5, 1);
	item_set(&b, "alic", 4, 2);        /* a prefix: another key */
	item_set(&c, "alicf", 5, 3);       /* same length, other bytes */
	item_set(&e, "", 0, 4);            /* the empty key is a key */
	assert_int_equal(insert(t, &a), 0);
	assert_int_equal(insert(t, &b), 0);
	assert_int_equal(insert(t, &c), 0);
	assert_int_equal(insert(t, &e), 0);
	assert_int_equal(ht_count(t), 4);

	assert_ptr_equal(find(t, "alice", 5), &a);
	assert_ptr_equal(find(t, "alic", 4), &b);
	assert_ptr_equal(find(t, "alicf", 5), &c);
	assert_ptr_equal(find(t, "", 0), &e);
	assert_null(find(t, "alicea", 6));
	assert_null(find(t, "bob", 3));
	/* A right hash with the wrong bytes finds nothing. */
	assert_null(ht_find(t, ht_hash(t, "alice", 5), "alicf", 5));

	ht_remove(t, &a.hn);
	assert_null(a.hn.pprev);
	assert_int_equal(ht_count(t), 3);
	assert_null(find(t, "alice", 5));
	assert_ptr_equal(find(t, "alic", 4), &b);
	/* A removed node may go in again. */
	assert_int_equal(insert(t, &a), 0);
	got = find(t, "alice", 5);
	assert_non_null(got);
	assert_int_equal(got->value, 1);

	ht_free(t, item_free);
	assert_int_equal(a.freed + b.freed + c.freed + e.freed, 4);
}

/* Equal keys are kept side by side and walked with ht_find_next(). */
static void
test_equal_keys(void **state)
{
	struct hashtab *t = table(100, 0);
	struct item it[5], other;
	struct ht_node *n;
	int seen[5] = { 0 }, count = 0;

	(void)state;
	for (int i = 0; i < 5; i++) {
		item_set(&it[i], "10.0.0.1", 8, i);
		assert_int_equal(insert(t, &it[i]), 0);
	}
	item_set(&other, "10.0.0.2", 8, 99);
	assert_int_equal(insert(t, &other), 0);
	for (n = ht_find(t, ht_hash(t, "10.0.0.1", 8), "10.0.0.1", 8); n != NULL;
	    n = ht_find_next(t, n, "10.0.0.1", 8)) {
		seen[HT_ENTRY(n, struct item, hn)->value]++;
		count++;
	}
	assert_int_equal(count, 5);
	for (int i = 0; i < 5; i++)
		assert_int_equal(seen[i], 1);

	/* Remove one from the middle: the others are still walked. */
	ht_remove(t, &it[2].hn);
	count = 0;
	for (n = ht_find(t, ht_hash(t, "10.0.0.1", 8), "10.0.0.1", 8); n != NULL;
	    n = ht_find_next(t, n, "10.0.0.1", 8)) {
		assert_int_not_equal(HT_ENTRY(n, struct item, hn)->value, 2);
		count++;
	}
	assert_int_equal(count, 4);
	n = ht_find(t, ht_hash(t, "10.0.0.2", 8), "10.0.0.2", 8);
	assert_ptr_equal(n, &other.hn);
	assert_null(ht_find_next(t, n, "10.0.0.2", 8));
	ht_free(t, NULL);
}

/* max_entries: the one over is refused and left untouched. */
static void
test_entry_cap(void **state)
{
	struct hashtab *t = table(3, 0);
	struct item it[4];

	(void)state;
	for (int i = 0; i < 4; i++)
		item_num(&it[i], (uint64_t)i);
	for (int i = 0; i < 3; i++)
		assert_int_equal(insert(t, &it[i]), 0);
	assert_int_equal(insert(t, &it[3]), -1);
	assert_null(it[3].hn.pprev);
	assert_int_equal(ht_count(t), 3);
	assert_null(find(t, it[3].key, it[3].len));
	/* Room again after a removal. */
	ht_remove(t, &it[0].hn);
	assert_int_equal(insert(t, &it[3]), 0);
	assert_ptr_equal(find(t, it[3].key, it[3].len), &it[3]);
	ht_free(t, NULL);

	/* max_entries 0 refuses everything. */
	t = table(0, 0);
	assert_int_equal(insert(t, &it[0]), -1);
	assert_int_equal(ht_count(t), 0);
	ht_free(t, NULL);
}

/* Fill n items and check every one is found with its value. */
static void
fill_and_check(struct hashtab *t, struct item *items, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		item_num(&items[i], i);
		assert_int_equal(insert(t, &items[i]), 0);
	}
	for (size_t i = 0; i < n; i++)
		assert_ptr_equal(find(t, items[i].key, items[i].len), &items[i]);
}

/* max_buckets: growth stops there, the table keeps answering. */
static void
test_bucket_cap(void **state)
{
	struct item *items = calloc(1000, sizeof(*items));
	struct hashtab *t;
	struct ht_stats st;

	(void)state;
	assert_non_null(items);
	t = table(1000, 64);
	fill_and_check(t, items, 1000);
	st = stats(t);
	assert_int_equal(st.buckets, 64);
	assert_int_equal(st.entries, 1000);
	ht_free(t, NULL);

	/* Not a power of two: rounded down. Below the minimum: raised. */
	t = table(1000, 100);
	fill_and_check(t, items, 1000);
	assert_int_equal(stats(t).buckets, 64);
	ht_free(t, NULL);
	t = table(1000, 1);
	fill_and_check(t, items, 1000);
	assert_int_equal(stats(t).buckets, HT_MIN_BUCKETS);
	ht_free(t, NULL);

	/* 0: enough for max_entries at load factor 1, and no more. */
	t = table(100, 0);
	fill_and_check(t, items, 100);
	assert_int_equal(stats(t).buckets, 128);
	ht_free(t, NULL);
	t = table(128, 0);
	fill_and_check(t, items, 128);
	assert_int_equal(stats(t).buckets, 128);
	ht_free(t, NULL);
	/* An uncapped table stops at HT_MAX_BUCKETS (checked by the cap only). */
	t = table(SIZE_MAX, SIZE_MAX);
	fill_and_check(t, items, 1000);
	assert_int_equal(stats(t).buckets, 1024);
	ht_free(t, NULL);
	free(items);
}

#define MANY 50000

/* Growth doubles past the 1,024 buckets the old rate table stopped at. */
static void
test_growth(void **state)
{
	struct item *items = calloc(MANY, sizeof(*items));
	struct hashtab *t = table(SIZE_MAX, 0);
	struct ht_stats st;

	(void)state;
	assert_non_null(items);
	fill_and_check(t, items, MANY);
	st = stats(t);
	assert_int_equal(st.entries, MANY);
	assert_int_equal(st.buckets, 65536);     /* first power of two >= MANY */
	assert_true(st.longest <= 16);
	/* Remove every other one; the rest are still found. */
	for (size_t i = 0; i < MANY; i += 2)
		ht_remove(t, &items[i].hn);
	assert_int_equal(ht_count(t), MANY / 2);
	for (size_t i = 0; i < MANY; i++) {
		if (i % 2 == 0)
			assert_null(find(t, items[i].key, items[i].len));
		else
			assert_ptr_equal(find(t, items[i].key, items[i].len),
			    &items[i]);
	}
	ht_free(t, NULL);
	free(items);
}

/* A doubling that cannot be allocated leaves a working table, tried again later. */
static void
test_growth_failure(void **state)
{
	struct item items[200];
	struct hashtab *t = table(1000, 0);
	struct ht_stats st;

	(void)state;
	calloc_ok = 0;
	fill_and_check(t, items, 100);
	st = stats(t);
	assert_int_equal(st.buckets, HT_MIN_BUCKETS);   /* stayed */
	assert_int_equal(st.entries, 100);
	calloc_ok = -1;
	item_num(&items[100], 100);
	assert_int_equal(insert(t, &items[100]), 0);    /* the next insert grows */
	assert_int_equal(stats(t).buckets, 2 * HT_MIN_BUCKETS);
	for (size_t i = 0; i <= 100; i++)
		assert_ptr_equal(find(t, items[i].key, items[i].len), &items[i]);
	ht_free(t, NULL);
}

static void
test_iterate(void **state)
{
	struct item items[300];
	struct hashtab *t = table(1000, 0);
	struct ht_iter it;
	struct ht_node *n;
	size_t visits = 0;

	(void)state;
	assert_null(ht_first(t, &it));
	assert_null(ht_next(&it));
	fill_and_check(t, items, 300);
	for (n = ht_first(t, &it); n != NULL; n = ht_next(&it)) {
		HT_ENTRY(n, struct item, hn)->freed++;   /* as a visit count */
		visits++;
	}
	assert_int_equal(visits, 300);
	for (size_t i = 0; i < 300; i++) {
		assert_int_equal(items[i].freed, 1);
		items[i].freed = 0;
	}

	/* Removing (and scribbling over) the current node is safe. */
	for (n = ht_first(t, &it); n != NULL; n = ht_next(&it)) {
		struct item *x = HT_ENTRY(n, struct item, hn);

		if (x->value % 3 != 0)
			continue;
		ht_remove(t, n);
		memset(&x->hn, 0xa5, sizeof(x->hn));
		x->freed = 1;
	}
	assert_int_equal(ht_count(t), 200);
	for (size_t i = 0; i < 300; i++) {
		if (i % 3 == 0)
			continue;
		assert_ptr_equal(find(t, items[i].key, items[i].len), &items[i]);
	}
	/* Remove all the rest while iterating. */
	for (n = ht_first(t, &it); n != NULL; n = ht_next(&it))
		ht_remove(t, n);
	assert_int_equal(ht_count(t), 0);
	assert_int_equal(stats(t).longest, 0);
	ht_free(t, NULL);
}

static void
count_visit(const struct ht_node *n, void *arg)
{
	HT_ENTRY(n, struct item, hn)->freed++;   /* as a visit count */
	(*(size_t *)arg)++;
}

/*
 * ht_scan: whole buckets, at least max nodes per call unless the walk ends,
 * every node once though the table changes between calls.
 */
static void
test_scan(void **state)
{
	struct item items[400];
	struct hashtab *t = table(1000, 0);
	size_t cursor = 0, seen, calls = 0, buckets;
	int done;

	(void)state;
	/* An empty table: one call, complete, nothing passed. */
	seen = 0;
	assert_int_equal(ht_scan(t, &cursor, 10, count_visit, &seen), 1);
	assert_int_equal(seen, 0);

	fill_and_check(t, items, 300);
	buckets = ht_buckets(t);
	assert_int_equal(buckets, stats(t).buckets);
	cursor = 0;
	do {
		seen = 0;
		done = ht_scan(t, &cursor, 10, count_visit, &seen);
		calls++;
		if (!done)
			assert_true(seen >= 10);
		/* Between calls: take one node out, put a new one in. */
		if (calls <= 10) {
			ht_remove(t, &items[calls].hn);
			item_num(&items[300 + calls], 300 + calls);
			assert_int_equal(insert(t, &items[300 + calls]), 0);
		}
	} while (!done);
	assert_int_equal(ht_buckets(t), buckets);   /* no doubling: the promise holds */
	assert_true(calls > 5 && calls <= 40);
	for (size_t i = 0; i < 311; i++)
		assert_true(items[i].freed <= 1);
	/* Every node in the table throughout was passed exactly once. */
	for (size_t i = 11; i < 300; i++)
		assert_int_equal(items[i].freed, 1);
	ht_free(t, NULL);
}

/* Every item of items[0..n) is found, and an iteration meets each once. */
static void
check_all(struct hashtab *t, struct item *items, size_t n)
{
	struct ht_iter it;
	struct ht_node *hn;
	size_t visits = 0;

	for (size_t i = 0; i < n; i++) {
		assert_ptr_equal(find(t, items[i].key, items[i].len), &items[i]);
		items[i].freed = 0;
	}
	for (hn = ht_first(t, &it); hn != NULL; hn = ht_next(&it)) {
		HT_ENTRY(hn, struct item, hn)->freed++;   /* as a visit count */
		visits++;
	}
	assert_int_equal(visits, n);
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(items[i].freed, 1);
		items[i].freed = 0;
	}
}

/*
 * A doubling moves the nodes a few buckets per insert, not all at once:
 * the insert that doubles changes the generation, and so do the next
 * 1024 / 64 = 16 inserts, each moving 64 of the 1,024 old buckets; the
 * 17th finds nothing left to move. Throughout, every node is found,
 * iterated once, and can be removed.
 */
static void
test_incremental_rehash(void **state)
{
	struct item *items = calloc(1100, sizeof(*items));
	struct hashtab *t = table(SIZE_MAX, 0);
	uint64_t gen;
	size_t n;

	(void)state;
	assert_non_null(items);
	fill_and_check(t, items, 1024);
	assert_int_equal(ht_buckets(t), 1024);
	gen = ht_generation(t);
	item_num(&items[1024], 1024);
	assert_int_equal(insert(t, &items[1024]), 0);   /* over load factor 1 */
	assert_int_equal(ht_buckets(t), 2048);
	assert_true(ht_generation(t) != gen);
	check_all(t, items, 1025);
	for (n = 1025; n < 1025 + 15; n++) {
		gen = ht_generation(t);
		item_num(&items[n], n);
		assert_int_equal(insert(t, &items[n]), 0);
		assert_true(ht_generation(t) != gen);    /* still moving */
		check_all(t, items, n + 1);
	}
	/* The 16th step moved the last old buckets: nothing moves any more. */
	gen = ht_generation(t);
	for (; n < 1100; n++) {
		item_num(&items[n], n);
		assert_int_equal(insert(t, &items[n]), 0);
	}
	assert_true(ht_generation(t) == gen);
	check_all(t, items, 1100);
	assert_int_equal(stats(t).entries, 1100);
	ht_free(t, NULL);

	/* Removing nodes still in the old buckets, mid-move. */
	t = table(SIZE_MAX, 0);
	fill_and_check(t, items, 1030);   /* doubled at 1,025: 6 of 16 steps done */
	for (size_t i = 0; i < 1030; i += 2)
		ht_remove(t, &items[i].hn);
	assert_int_equal(ht_count(t), 515);
	for (size_t i = 0; i < 1030; i++) {
		if (i % 2 == 0)
			assert_null(find(t, items[i].key, items[i].len));
		else
			assert_ptr_equal(find(t, items[i].key, items[i].len),
			    &items[i]);
	}
	/* ht_free meets every node left, in both arrays. */
	ht_free(t, item_free);
	for (size_t i = 0; i < 1030; i++)
		assert_int_equal(items[i].freed, i % 2);
	free(items);
}

/*
 * A scan during a move: while no insert comes, the walk covers old and
 * new buckets and passes every node once; an insert moves buckets, which
 * the generation shows (the caller then starts over).
 */
static void
test_scan_during_rehash(void **state)
{
	struct item items[300];
	struct hashtab *t = table(1000, 0);
	size_t cursor = 0, seen = 0;
	uint64_t gen;

	(void)state;
	fill_and_check(t, items, 257);   /* 256 -> 512 buckets, 64 moved */
	gen = ht_generation(t);
	for (size_t i = 0; i < 257; i++)
		items[i].freed = 0;
	while (ht_scan(t, &cursor, 10, count_visit, &seen) == 0)
		assert_true(ht_generation(t) == gen);
	assert_int_equal(seen, 257);
	for (size_t i = 0; i < 257; i++)
		assert_int_equal(items[i].freed, 1);
	cursor = 0;
	assert_int_equal(ht_scan(t, &cursor, 10, count_visit, &seen), 0);
	item_num(&items[257], 257);
	assert_int_equal(insert(t, &items[257]), 0);
	assert_true(ht_generation(t) != gen);
	ht_free(t, NULL);
}

/* ht_free hands every node still in to node_free, once. */
static void
test_free_nodes(void **state)
{
	struct item items[50];
	struct hashtab *t = table(100, 0);

	(void)state;
	fill_and_check(t, items, 50);
	ht_remove(t, &items[7].hn);
	ht_free(t, item_free);
	for (size_t i = 0; i < 50; i++)
		assert_int_equal(items[i].freed, i == 7 ? 0 : 1);
}

/* Removing a node that is not in a table is a bug: abort, not corruption. */
static void
test_remove_twice_aborts(void **state)
{
	pid_t pid;
	int status;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct hashtab *t = table(10, 0);
		struct item a;

		int null = open("/dev/null", O_WRONLY);

		if (null >= 0)
			dup2(null, 2);   /* keep the expected message out of the log */
		item_set(&a, "a", 1, 0);
		(void)insert(t, &a);
		ht_remove(t, &a.hn);
		ht_remove(t, &a.hn);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
}

/* --- the hash: keys clients choose --- */

/* The old limits.c hash: FNV-1a, unseeded, folded, masked. */
static size_t
fnv_bucket(const unsigned char ip[16], size_t nbucket)
{
	uint64_t h = 1469598103934665603ULL;

	for (int i = 0; i < 16; i++) {
		h ^= ip[i];
		h *= 1099511628211ULL;
	}
	return (size_t)(h ^ (h >> 29)) & (nbucket - 1);
}

/* Longest chain the old scheme gets for items[0..n) in nbucket buckets. */
static size_t
fnv_longest(const struct item *items, size_t n, size_t nbucket)
{
	size_t *len = calloc(nbucket, sizeof(*len)), longest = 0;

	assert_non_null(len);
	for (size_t i = 0; i < n; i++) {
		size_t b = fnv_bucket(items[i].key, nbucket);

		if (++len[b] > longest)
			longest = len[b];
	}
	free(len);
	return longest;
}

/* Buckets the old connection table had for n addresses (256, doubled past 2n). */
static size_t
old_lim_buckets(size_t n)
{
	size_t nb = 256;

	while (n > 2 * nb)
		nb *= 2;
	return nb;
}

static void
report_chain(const char *what, const struct item *items, size_t n,
    const struct hashtab *t)
{
	struct ht_stats st = stats(t);

	print_message("    %s, %zu keys. Longest chain before: rate table %zu "
	    "(1024 buckets), connection table %zu (%zu buckets); now %zu "
	    "(%zu buckets)\n", what, n, fnv_longest(items, n, 1024),
	    fnv_longest(items, n, old_lim_buckets(n)), old_lim_buckets(n),
	    st.longest, st.buckets);
}

/* 50,000 addresses of one /64, counting up and scattered: chains stay short. */
static void
test_one_slash64(void **state)
{
	struct item *items = calloc(MANY, sizeof(*items));
	struct hashtab *t;
	uint64_t x = 0x9e3779b97f4a7c15ULL;

	(void)state;
	assert_non_null(items);
	t = table(SIZE_MAX, 0);
	for (size_t i = 0; i < MANY; i++) {
		item_v6(&items[i], i, (int)i);          /* ::0, ::1, ::2, ... */
		assert_int_equal(insert(t, &items[i]), 0);
	}
	report_chain("2001:db8:0:1::/64 counting", items, MANY, t);
	assert_true(stats(t).longest <= 16);
	for (size_t i = 0; i < MANY; i++)
		assert_ptr_equal(find(t, items[i].key, items[i].len), &items[i]);
	ht_free(t, NULL);

	t = table(SIZE_MAX, 0);
	for (size_t i = 0; i < MANY; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		item_v6(&items[i], x, (int)i);
		assert_int_equal(insert(t, &items[i]), 0);
	}
	report_chain("2001:db8:0:1::/64 scattered", items, MANY, t);
	assert_true(stats(t).longest <= 16);
	ht_free(t, NULL);
	free(items);
}

/*
 * What an attacker would do against the old FNV-1a tables: pick interface
 * ids of one /64 that FNV-1a puts in bucket 0 of 4,096 (so also of 2,048 and
 * 1,024, where the old tables were). They share one chain there; here they
 * must not.
 */
#define NCOLL 4096

static void
test_fnv_collisions_spread(void **state)
{
	struct item *items = calloc(NCOLL, sizeof(*items));
	struct hashtab *t = table(SIZE_MAX, 0);
	uint64_t iid;
	size_t n = 0;

	(void)state;
	assert_non_null(items);
	for (iid = 0; n < NCOLL; iid++) {
		item_v6(&items[n], iid, (int)n);
		if (fnv_bucket(items[n].key, 4096) == 0)
			n++;
	}
	/* The input is hostile: one chain under the old hash. */
	assert_int_equal(fnv_longest(items, NCOLL, 1024), NCOLL);
	assert_int_equal(fnv_longest(items, NCOLL, 2048), NCOLL);
	for (size_t i = 0; i < NCOLL; i++)
		assert_int_equal(insert(t, &items[i]), 0);
	report_chain("FNV-1a colliders", items, NCOLL, t);
	assert_true(stats(t).longest <= 16);
	for (size_t i = 0; i < NCOLL; i++)
		assert_ptr_equal(find(t, items[i].key, items[i].len), &items[i]);
	ht_free(t, NULL);
	free(items);
}

/* How many of items[0..n) land in the same bucket of a and b (same size). */
static size_t
same_buckets(const struct hashtab *a, const struct hashtab *b,
    const struct item *items, size_t n, size_t nbucket)
{
	size_t same = 0;

	for (size_t i = 0; i < n; i++)
		same += (ht_hash(a, items[i].key, items[i].len) & (nbucket - 1)) ==
		    (ht_hash(b, items[i].key, items[i].len) & (nbucket - 1));
	return same;
}

/*
 * The same keys under two table keys land in different buckets: what
 * collides in one table (or one process) says nothing about another.
 */
static void
test_table_key_decides(void **state)
{
	const uint64_t k1[2] = { 1, 2 }, k2[2] = { 3, 4 };
	struct item *items = calloc(MANY, sizeof(*items));
	struct hashtab *a = table(SIZE_MAX, 0), *b = table(SIZE_MAX, 0);
	size_t nbucket = 65536;

	(void)state;
	assert_non_null(items);
	for (size_t i = 0; i < MANY; i++)
		item_v6(&items[i], i, (int)i);

	/* Control: the same table key gives the same buckets. */
	ht_set_key(a, k1);
	ht_set_key(b, k1);
	assert_int_equal(same_buckets(a, b, items, MANY, nbucket), MANY);
	/* Another key: about MANY / nbucket coincide by chance; allow 10 times. */
	ht_set_key(b, k2);
	assert_true(same_buckets(a, b, items, MANY, nbucket) <= 10 * MANY / nbucket + 10);
	ht_free(a, NULL);
	ht_free(b, NULL);

	/* Fresh tables draw their own random keys. */
	a = table(SIZE_MAX, 0);
	b = table(SIZE_MAX, 0);
	assert_true(same_buckets(a, b, items, MANY, nbucket) <= 10 * MANY / nbucket + 10);
	assert_true(ht_hash(a, "alice", 5) != ht_hash(b, "alice", 5));
	ht_free(a, NULL);
	ht_free(b, NULL);
	free(items);
}

/* ht_set_key on a full table rehashes what is in it. */
static void
test_set_key_rehashes(void **state)
{
	const uint64_t k[2] = { 0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL };
	struct item items[500];
	struct hashtab *t = table(1000, 0);
	uint64_t before = ht_hash(t, "abc", 3);

	(void)state;
	fill_and_check(t, items, 500);
	ht_set_key(t, k);
	assert_true(ht_hash(t, "abc", 3) != before);
	assert_true(ht_hash(t, "abc", 3) == sip_hash24(k, "abc", 3));
	assert_int_equal(ht_count(t), 500);
	for (size_t i = 0; i < 500; i++)
		assert_ptr_equal(find(t, items[i].key, items[i].len), &items[i]);
	ht_free(t, NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_siphash24_vectors),
		cmocka_unit_test(test_sip_seed_random),
		cmocka_unit_test(test_new_free),
		cmocka_unit_test(test_insert_find_remove),
		cmocka_unit_test(test_equal_keys),
		cmocka_unit_test(test_entry_cap),
		cmocka_unit_test(test_bucket_cap),
		cmocka_unit_test(test_growth),
		cmocka_unit_test(test_growth_failure),
		cmocka_unit_test(test_iterate),
		cmocka_unit_test(test_scan),
		cmocka_unit_test(test_incremental_rehash),
		cmocka_unit_test(test_scan_during_rehash),
		cmocka_unit_test(test_free_nodes),
		cmocka_unit_test(test_remove_twice_aborts),
		cmocka_unit_test(test_one_slash64),
		cmocka_unit_test(test_fnv_collisions_spread),
		cmocka_unit_test(test_table_key_decides),
		cmocka_unit_test(test_set_key_rehashes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
