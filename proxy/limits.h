/*
 * limits.h -- connections per client address (pure).
 *
 * Counts open connections per client IP so the listener can refuse the one
 * over `per_ip_connections`. Addresses are compared by IP only (the port is
 * ignored); IPv4-mapped IPv6 addresses count as their IPv4 address. The table
 * holds one entry per address with at least one open connection, so it is
 * bounded by max_connections.
 *
 * Both tables here are lib/hashtab.h tables with a random per-table key:
 * clients choose their addresses (all of an IPv6 /64, say), yet cannot make
 * them share a chain. Lookups are O(1) on average and never allocate.
 */
#ifndef POOLGATE_LIMITS_H
#define POOLGATE_LIMITS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct lim_table;
struct ht_stats;   /* lib/hashtab.h */

/* New empty table, or NULL on allocation failure. */
struct lim_table *lim_new(void);
void              lim_free(struct lim_table *t);

/*
 * Count one more connection from sa's address unless it already has `cap`
 * (cap 0 = no cap). Returns 0 when counted, 1 when over the cap, -1 on
 * allocation failure or an address family other than IPv4/IPv6.
 */
int    lim_acquire(struct lim_table *t, const struct sockaddr *sa, int cap);
/* One connection from sa's address ended; must pair a successful acquire. */
void   lim_release(struct lim_table *t, const struct sockaddr *sa);
/* Open connections from sa's address. */
int    lim_count(const struct lim_table *t, const struct sockaddr *sa);
/* Addresses currently tracked. */
size_t lim_size(const struct lim_table *t);
/* Buckets, addresses and longest chain of the table (tests, metrics). */
void   lim_stats(const struct lim_table *t, struct ht_stats *st);

/*
 * New connections per client address per minute (pure, injected clock).
 *
 * A token bucket per address: it holds up to `rate` tokens, refills at
 * rate/60 tokens a second, and each new connection takes one. A person
 * reconnecting never empties it; an SSH sweep does. Addresses whose bucket
 * is full again are forgotten by rate_sweep(), so the table only holds
 * recent, busy addresses, and never more than max_entries of them.
 */
struct rate_table;

/* New empty table, or NULL on allocation failure. */
struct rate_table *rate_new(size_t max_entries);
void               rate_free(struct rate_table *t);

/*
 * May sa's address open a new connection at `now` (ms) with `rate` per
 * minute (0 = no limit)? Returns 1 (allowed, a token taken), 0 (over the
 * rate), or -1 when the table is full of busy addresses (the caller lets it
 * through and counts it) or on an address family other than IPv4/IPv6.
 */
int    rate_allow(struct rate_table *t, const struct sockaddr *sa, int rate,
    uint64_t now);
/* Forget addresses whose bucket is full again; returns how many went. */
size_t rate_sweep(struct rate_table *t, int rate, uint64_t now);
/* Addresses tracked. */
size_t rate_size(const struct rate_table *t);
/* Buckets, addresses and longest chain of the table (tests, metrics). */
void   rate_stats(const struct rate_table *t, struct ht_stats *st);

#endif
