/*
 * limits.c -- see limits.h. Chained hash table of 16-byte addresses.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/limits.h"

struct lim_entry {
	struct lim_entry *next;
	uint8_t           ip[16];
	int               count;
};

struct lim_table {
	struct lim_entry **bucket;
	size_t             nbucket;   /* power of two */
	size_t             n;
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

static size_t
lim_hash(const uint8_t ip[16], size_t nbucket)
{
	uint64_t h = 1469598103934665603ULL;   /* FNV-1a */

	for (int i = 0; i < 16; i++) {
		h ^= ip[i];
		h *= 1099511628211ULL;
	}
	return (size_t)(h ^ (h >> 29)) & (nbucket - 1);
}

struct lim_table *
lim_new(void)
{
	struct lim_table *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->nbucket = 256;
	if ((t->bucket = calloc(t->nbucket, sizeof(*t->bucket))) == NULL) {
		free(t);
		return NULL;
	}
	return t;
}

void
lim_free(struct lim_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nbucket; i++) {
		struct lim_entry *e = t->bucket[i], *next;
		for (; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(t->bucket);
	free(t);
}

static struct lim_entry **
lim_slot(const struct lim_table *t, const uint8_t ip[16])
{
	struct lim_entry **pp = &t->bucket[lim_hash(ip, t->nbucket)];

	while (*pp != NULL && memcmp((*pp)->ip, ip, 16) != 0)
		pp = &(*pp)->next;
	return pp;
}

/* Double the buckets when the chains grow long; failure just keeps them. */
static void
lim_grow(struct lim_table *t)
{
	size_t nb = t->nbucket * 2;
	struct lim_entry **nbucket = calloc(nb, sizeof(*nbucket));

	if (nbucket == NULL)
		return;
	for (size_t i = 0; i < t->nbucket; i++) {
		struct lim_entry *e = t->bucket[i], *next;
		for (; e != NULL; e = next) {
			size_t h = lim_hash(e->ip, nb);
			next = e->next;
			e->next = nbucket[h];
			nbucket[h] = e;
		}
	}
	free(t->bucket);
	t->bucket = nbucket;
	t->nbucket = nb;
}

int
lim_acquire(struct lim_table *t, const struct sockaddr *sa, int cap)
{
	uint8_t ip[16];
	struct lim_entry **pp, *e;

	if (lim_key(sa, ip) == -1)
		return -1;
	pp = lim_slot(t, ip);
	if ((e = *pp) != NULL) {
		if (cap > 0 && e->count >= cap)
			return 1;
		e->count++;
		return 0;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return -1;
	memcpy(e->ip, ip, 16);
	e->count = 1;
	*pp = e;
	if (++t->n > t->nbucket * 2)
		lim_grow(t);
	return 0;
}

void
lim_release(struct lim_table *t, const struct sockaddr *sa)
{
	uint8_t ip[16];
	struct lim_entry **pp, *e;

	if (lim_key(sa, ip) == -1)
		return;
	pp = lim_slot(t, ip);
	if ((e = *pp) == NULL)
		return;
	if (--e->count <= 0) {
		*pp = e->next;
		free(e);
		t->n--;
	}
}

int
lim_count(const struct lim_table *t, const struct sockaddr *sa)
{
	uint8_t ip[16];
	struct lim_entry *e;

	if (lim_key(sa, ip) == -1)
		return 0;
	e = *lim_slot(t, ip);
	return e != NULL ? e->count : 0;
}

size_t
lim_size(const struct lim_table *t)
{
	return t->n;
}

/* ---- rate per address ----------------------------------------------------- */

/*
 * Tokens are counted in units of 1/60000 of a connection: at `rate` per
 * minute a bucket gains exactly `rate` units every millisecond, so slow
 * rates refill without rounding loss. One connection costs RATE_UNIT.
 */
#define RATE_UNIT 60000

struct rate_entry {
	struct rate_entry *next;
	uint8_t            ip[16];
	uint64_t           tokens;   /* 1/RATE_UNIT of a connection */
	uint64_t           last_ms;  /* when tokens was last brought up to date */
};

struct rate_table {
	struct rate_entry **bucket;
	size_t              nbucket;   /* power of two */
	size_t              n;
	size_t              max;
};

struct rate_table *
rate_new(size_t max_entries)
{
	struct rate_table *t;

	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	t->max = max_entries;
	t->nbucket = 1024;
	if ((t->bucket = calloc(t->nbucket, sizeof(*t->bucket))) == NULL) {
		free(t);
		return NULL;
	}
	return t;
}

void
rate_free(struct rate_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < t->nbucket; i++) {
		struct rate_entry *e = t->bucket[i], *next;
		for (; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(t->bucket);
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
	struct rate_entry **pp, *e;

	if (rate <= 0)
		return 1;
	if (lim_key(sa, ip) == -1)
		return -1;
	pp = &t->bucket[lim_hash(ip, t->nbucket)];
	while (*pp != NULL && memcmp((*pp)->ip, ip, 16) != 0)
		pp = &(*pp)->next;
	if ((e = *pp) == NULL) {
		if (t->n >= t->max && rate_sweep(t, rate, now) == 0)
			return -1;
		if ((e = calloc(1, sizeof(*e))) == NULL)
			return -1;
		memcpy(e->ip, ip, 16);
		e->tokens = (uint64_t)rate * RATE_UNIT;   /* a new address starts full */
		e->last_ms = now;
		/* Re-find the slot: a sweep may have changed the chain. */
		pp = &t->bucket[lim_hash(ip, t->nbucket)];
		e->next = *pp;
		*pp = e;
		t->n++;
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
	size_t gone = 0;

	for (size_t i = 0; i < t->nbucket; i++) {
		struct rate_entry **pp = &t->bucket[i], *e;
		while ((e = *pp) != NULL) {
			if (rate > 0)
				rate_refill(e, rate, now);
			if (rate <= 0 || e->tokens >= (uint64_t)rate * RATE_UNIT) {
				*pp = e->next;
				free(e);
				t->n--;
				gone++;
			} else
				pp = &e->next;
		}
	}
	return gone;
}

size_t
rate_size(const struct rate_table *t)
{
	return t->n;
}
