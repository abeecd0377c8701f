/*
 * affinity.h -- the affinity table: key -> VM, with expiry (pure).
 *
 * A key is a short string such as "ip:192.0.2.7" (and later "user:alice").
 * An entry is live while it has active sessions (active > 0) and for `ttl`
 * after the last of them ended. Lookups are O(1) on average (open hashing).
 * The table never grows past max_entries: a new key is refused when full
 * and no expired entry can be reclaimed.
 *
 * The clock is injected: every call that depends on time takes `now` in
 * milliseconds of a monotonic clock chosen by the caller.
 */
#ifndef POOLGATE_AFFINITY_H
#define POOLGATE_AFFINITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

#define AFF_KEY_MAX 127

struct aff_table;

struct aff_entry {
	char     key[AFF_KEY_MAX + 1];
	char     backend[CFG_NAME_MAX + 1];
	uint32_t active;      /* live sessions under this key on `backend` */
	uint64_t expires_ms;  /* meaningful only when active == 0 */
};

/* New empty table; returns NULL on allocation failure. */
struct aff_table *aff_new(size_t max_entries, uint64_t ttl_ms);
void              aff_free(struct aff_table *t);
void              aff_set_ttl(struct aff_table *t, uint64_t ttl_ms);

/*
 * The live entry for key, or NULL. An expired entry found here is removed.
 * The returned pointer is borrowed and valid until the next call that
 * modifies the table.
 */
const struct aff_entry *aff_lookup(struct aff_table *t, const char *key,
    uint64_t now);

/*
 * A session under `key` started on `backend`. Creates the entry or points
 * it at `backend` (a key follows its newest session; active counts restart
 * when it moves). Returns 0, or -1 when the key is too long or the table is
 * full.
 */
int  aff_session_start(struct aff_table *t, const char *key,
    const char *backend, uint64_t now);

/*
 * A session under `key` on `backend` ended. When it was the last one the
 * entry starts its ttl. Unknown keys, or a key that has moved to another
 * backend since, are ignored.
 */
void aff_session_end(struct aff_table *t, const char *key,
    const char *backend, uint64_t now);

/* Remove every expired entry; returns how many were removed. */
size_t aff_expire(struct aff_table *t, uint64_t now);
/*
 * Remove at most max expired entries, the earliest first (O(log n) each):
 * a caller on an event loop sweeps a mass expiry over several turns.
 * Returns how many were removed; aff_expired_left() says whether expired
 * entries remain.
 */
size_t aff_expire_some(struct aff_table *t, uint64_t now, size_t max);
bool   aff_expired_left(const struct aff_table *t, uint64_t now);

/*
 * Remove every entry that points at `backend` (a forgotten VM). Walks the
 * table until the VM's last entry is gone.
 */
void   aff_forget_backend(struct aff_table *t, const char *backend);

/* Entries in the table (live or not yet swept). */
size_t aff_count(const struct aff_table *t);
/*
 * Live entries that point at `backend`. The table keeps a count per VM, so
 * this costs O(1) plus O(entries expired but not yet swept), not a walk
 * (aff_count_backends() for one VM, so not const either).
 */
size_t aff_count_backend(struct aff_table *t, const char *backend,
    uint64_t now);
/*
 * aff_count_backend() for n VMs at once, into counts[0..n): O(n) plus one
 * walk of the entries expired but not yet swept (GET /status, every VM).
 * Not const: the walk tallies on the table's own records.
 */
void   aff_count_backends(struct aff_table *t, const char *const *names,
    size_t n, size_t *counts, uint64_t now);

/*
 * How many characters of a user's name an RDP client may send (its
 * mstshash cookie cuts the name there; http/rdp.h RDP_HASH_CUT). "user:"
 * keys whose name is at least this long are indexed by that prefix.
 */
#define AFF_USER_PREFIX 9

/*
 * Call fn for every live "user:" entry whose name starts with prefix, which
 * must be exactly AFF_USER_PREFIX characters (else nothing is called).
 * O(entries with that prefix), not a walk. fn must not modify the table.
 */
void   aff_foreach_user_prefix(const struct aff_table *t, const char *prefix,
    uint64_t now, void (*fn)(const struct aff_entry *e, void *arg), void *arg);

/* Call fn for every live entry; fn must not modify the table. */
void   aff_foreach(const struct aff_table *t, uint64_t now,
    void (*fn)(const struct aff_entry *e, void *arg), void *arg);

/*
 * aff_foreach a slice at a time, for a caller that spreads the walk over
 * several turns of its event loop while the table keeps changing (the state
 * file's snapshot). Zero *sc, then call until it returns 1: each call passes
 * about max entries (live at now) to fn and returns 0 while more remain.
 * An entry that stays in the table throughout is passed once; one added or
 * removed meanwhile at most once, as it was when its slice was taken.
 * Returns -1 when the table has grown since the walk began (or is still
 * moving entries to its doubled buckets: that lasts a few thousand new
 * keys): what was passed so far is still right, but the rest of the walk
 * is not reliable; zero *sc and start over. fn must not modify the table.
 */
struct aff_scan {
	size_t   cursor;     /* aff_scan's own */
	uint64_t gen;        /* aff_scan's own */
	bool     started;    /* aff_scan's own */
};
int    aff_scan(const struct aff_table *t, struct aff_scan *sc, uint64_t now,
    size_t max, void (*fn)(const struct aff_entry *e, void *arg), void *arg);

/* The ttl set by aff_new() or the last aff_set_ttl(). */
uint64_t aff_ttl(const struct aff_table *t);

/*
 * Put back an idle entry (active 0) for `key` on `backend` that expires at
 * `expires_ms` on the caller's clock: the affinity state file does this at
 * start. Returns 0 when restored; 1 when the key is already live in the
 * table, which is left as it is (what the table knows is newer); -1 when
 * the key or backend is NULL or too long, expires_ms <= now (it would be
 * expired already), or the table is full (an expired entry is reclaimed
 * first, as in aff_session_start) or out of memory. An expired but unswept
 * entry for the key is replaced.
 */
int      aff_restore(struct aff_table *t, const char *key,
    const char *backend, uint64_t expires_ms, uint64_t now);

/*
 * Another node's newer assignment of `key` to `backend`, idle until
 * expires_ms on the caller's clock (cluster/: the caller decided it is
 * newer). The entry is created, or pointed at `backend` with that expiry;
 * an entry already live here on the same backend is left alone (its own
 * sessions end it). Returns 0, or -1 as aff_restore() does.
 */
int      aff_put(struct aff_table *t, const char *key, const char *backend,
    uint64_t expires_ms, uint64_t now);

#endif
