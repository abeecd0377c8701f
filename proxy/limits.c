/*
 * limits.c -- see limits.h.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hashtab.h"
#include "proxy/limits.h"

/*
 * The entries of both tables live in lib/hashtab.h tables keyed by the
 * 16-byte address: clients choose their addresses (a whole IPv6 /64 is
 * theirs), so the key must be hashed with a secret per-table seed.
 */
struct lim_entry {
	struct ht_node    hn;
	uint8_t           ip[16];
	int               count;
};

struct lim_table {
	struct hashtab   *ht;
};

/* Normalise to 16 bytes: IPv4 becomes IPv4-mapped, so both spellings meet. */
static int
lim_key(const struct sockaddr *sa, uint8_t ip[16])
{
	static const uint8_t mapped[12] = { 0,0,0,0,0,0,0,0,0,0,0xff,0xff };

	if (sa->sa_family == AF_INET) {
		memcpy(ip, mapped, 12);
		memcpy(ip + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(ip, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return 0;
	}
	return -1;
}

static const void *
lim_entry_key(const struct ht_node *n, size_t *len)
{
	*len = 16;
	return HT_ENTRY(n, struct lim_entry, hn)->ip;
}

static void
lim_entry_free(struct ht_node *n)
{
	free(HT_ENTRY(n, struct lim_entry, hn));
}

static struct lim_entry *
lim_find(const struct lim_table *t, const uint8_t ip[16], uint64_t hash)
{
	struct ht_node *n = ht_find(t->ht, hash, ip, 16);

	return n != NULL ? HT_ENTRY(n, struct lim_entry, hn) : NULL;
}

struct lim_table *
lim_new(void)
{
	struct lim_table *t = NULL, *ret = NULL;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		goto out;
	/* No entry cap of its own: one entry per open connection at most. */
	if ((t->ht = ht_new(lim_entry_key, SIZE_MAX, 0)) == NULL)
		goto out;
	ret = t;
	t = NULL;       /* transferred */
out:
	lim_free(t);
	return ret;
}

void
lim_free(struct lim_table *t)
{
	if (t == NULL)
		return;
	ht_free(t->ht, lim_entry_free);
	free(t);
}

int
lim_acquire(struct lim_table *t, const struct sockaddr *sa, int cap)
{
	uint8_t ip[16];
	uint64_t hash;
	struct lim_entry *e;

	if (lim_key(sa, ip) == -1)
		return -1;
	hash = ht_hash(t->ht, ip, 16);
	if ((e = lim_find(t, ip, hash)) != NULL) {
		if (cap > 0 && e->count >= cap)
			return 1;
		e->count++;
		return 0;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return -1;
	memcpy(e->ip, ip, 16);
	e->count = 1;
	if (ht_insert(t->ht, &e->hn, hash) == -1) {
		free(e);
		return -1;
	}
	return 0;
}

void
lim_release(struct lim_table *t, const struct sockaddr *sa)
{
	uint8_t ip[16];
	struct lim_entry *e;

	if (lim_key(sa, ip) == -1)
		return;
	if ((e = lim_find(t, ip, ht_hash(t->ht, ip, 16))) == NULL)
		return;
	if (--e->count <= 0) {
		ht_remove(t->ht, &e->hn);
		free(e);
	}
}

int
lim_count(const struct lim_table *t, const struct sockaddr *sa)
{
	uint8_t ip[16];
	struct lim_entry *e;

	if (lim_key(sa, ip) == -1)
		return 0;
	e = lim_find(t, ip, ht_hash(t->ht, ip, 16));
	return e != NULL ? e->count : 0;
}

size_t
lim_size(const struct lim_table *t)
{
	return ht_count(t->ht);
}

void
lim_stats(const struct lim_table *t, struct ht_stats *st)
{
	ht_stats(t->ht, st);
}

/* ---- rate per address ----------------------------------------------------- */

/*
 * Tokens are counted in units of 1/60000 of a connection: at `rate` per
 * minute a bucket gains exactly `rate` units every millisecond, so slow
 * rates refill without rounding loss. One connection costs RATE_UNIT.
 */
#define RATE_UNIT 60000

struct rate_entry {
	struct ht_node     hn;
	uint8_t            ip[16];
	uint64_t           tokens;   /* 1/RATE_UNIT of a connection */
	uint64_t           last_ms;  /* when tokens was last brought up to date */
};

struct rate_table {
	struct hashtab    *ht;
	size_t             max;
};

static const void *
rate_entry_key(const struct ht_node *n, size_t *len)
{
	*len = 16;
	return HT_ENTRY(n, struct rate_entry, hn)->ip;
}

static void
rate_entry_free(struct ht_node *n)
{
	free(HT_ENTRY(n, struct rate_entry, hn));
}

struct rate_table *
rate_new(size_t max_entries)
{
	struct rate_table *t = NULL, *ret = NULL;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		goto out;
	t->max = max_entries;
	if ((t->ht = ht_new(rate_entry_key, max_entries, 0)) == NULL)
		goto out;
	ret = t;
	t = NULL;       /* transferred */
out:
	rate_free(t);
	return ret;
}

void
rate_free(struct rate_table *t)
{
	if (t == NULL)
		return;
	ht_free(t->ht, rate_entry_free);
	free(t);
}

/* Bring e's tokens up to `now` at rate per minute, capped at a full bucket. */
static void
rate_refill(struct rate_entry *e, int rate, uint64_t now)
{
	uint64_t cap = (uint64_t)rate * RATE_UNIT;

	if (now > e->last_ms) {
		e->tokens += (now - e->last_ms) * (uint64_t)rate;
		e->last_ms = now;
	}
	if (e->tokens > cap)
		e->tokens = cap;
}

int
rate_allow(struct rate_table *t, const struct sockaddr *sa, int rate,
    uint64_t now)
{
	uint8_t ip[16];
	uint64_t hash;
	struct ht_node *n;
	struct rate_entry *e;

	if (rate <= 0)
		return 1;
	if (lim_key(sa, ip) == -1)
		return -1;
	hash = ht_hash(t->ht, ip, 16);
	if ((n = ht_find(t->ht, hash, ip, 16)) != NULL) {
		e = HT_ENTRY(n, struct rate_entry, hn);
	} else {
		if (ht_count(t->ht) >= t->max && rate_sweep(t, rate, now) == 0)
			return -1;
		if ((e = calloc(1, sizeof(*e))) == NULL)
			return -1;
		memcpy(e->ip, ip, 16);
		e->tokens = (uint64_t)rate * RATE_UNIT;   /* a new address starts full */
		e->last_ms = now;
		if (ht_insert(t->ht, &e->hn, hash) == -1) {
			free(e);
			return -1;
		}
	}
	rate_refill(e, rate, now);
	if (e->tokens < RATE_UNIT)
		return 0;
	e->tokens -= RATE_UNIT;
	return 1;
}

size_t
rate_sweep(struct rate_table *t, int rate, uint64_t now)
{
	struct ht_iter it;
	struct ht_node *n;
	struct rate_entry *e;
	size_t gone = 0;

	for (n = ht_first(t->ht, &it); n != NULL; n = ht_next(&it)) {
		e = HT_ENTRY(n, struct rate_entry, hn);
		if (rate > 0)
			rate_refill(e, rate, now);
		if (rate <= 0 || e->tokens >= (uint64_t)rate * RATE_UNIT) {
			ht_remove(t->ht, n);   /* the iterator is already past it */
			free(e);
			gone++;
		}
	}
	return gone;
}

size_t
rate_size(const struct rate_table *t)
{
	return ht_count(t->ht);
}

void
rate_stats(const struct rate_table *t, struct ht_stats *st)
{
	ht_stats(t->ht, st);
}
