/*
 * affinity.c -- the affinity table: key -> VM, with expiry (pure).
 *
 * Layout: a lib/hashtab.h table by key holds one heap-allocated node per
 * key, so an entry never moves while it lives. Every idle node (active == 0)
 * is also in a binary min-heap ordered by expires_ms. The heap makes both "reclaim an
 * expired entry when full" and the aff_expire() sweep cost O(log n) per
 * entry instead of a scan of the whole table: a table full of live entries
 * must not turn every refused connection into an O(max_entries) walk.
 *
 * Keys come from clients (addresses, user names); the table hashes them
 * with SipHash under a per-table random key, so nobody outside can aim keys
 * at one bucket.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/affinity.h"
#include "lib/hashtab.h"

#define AFF_MIN_HEAP    16
#define AFF_NOT_IDLE    SIZE_MAX   /* heap_at of a node with sessions */

/*
 * How many entries point at one VM, so that counting a VM's affinities
 * (GET /status, every VM) is not a walk of the whole table. One record per
 * VM name that some entry points at, freed with its last entry.
 */
struct aff_vm {
	struct ht_node    hn;       /* in t->vms by name */
	size_t            n;        /* entries (live or not yet swept) */
	uint64_t          gen;      /* aff_count_backends() call that set: */
	size_t            expired;  /* entries expired, not swept, at that call */
	char              name[CFG_NAME_MAX + 1];
};

/*
 * The index of "user:" keys by the first AFF_USER_PREFIX characters of the
 * name: a multimap of small records, only for such keys (a million "ip:"
 * keys cost nothing here).
 */
struct aff_pfx {
	struct ht_node    hn;       /* in t->pfx by the key's first bytes */
	struct aff_node  *n;
};

#define AFF_USER        "user:"
#define AFF_USER_LEN    (sizeof(AFF_USER) - 1)
#define AFF_PFX_LEN     (AFF_USER_LEN + AFF_USER_PREFIX)

struct aff_node {
	struct aff_entry  e;
	struct ht_node    hn;       /* in t->ht by e.key */
	size_t            heap_at;  /* index in t->heap, or AFF_NOT_IDLE */
	struct aff_vm    *vm;       /* the record of e.backend; NULL until set */
};

struct aff_table {
	struct hashtab   *ht;
	struct hashtab   *vms;      /* struct aff_vm by name */
	uint64_t          count_gen;/* aff_count_backends() calls */
	struct hashtab   *pfx;      /* struct aff_pfx by user-name prefix */
	size_t            max_entries;
	uint64_t          ttl_ms;
	/*
	 * Idle nodes, min-heap on e.expires_ms. heap_cap is reserved up to
	 * the node count before a node is created, so pushing never
	 * allocates and aff_session_end() cannot fail.
	 */
	struct aff_node **heap;
	size_t            nheap;
	size_t            heap_cap;
};

static bool
aff_expired(const struct aff_node *n, uint64_t now)
{
	return n->e.active == 0 && now >= n->e.expires_ms;
}

/* --- the idle heap --- */

static void
aff_heap_set(struct aff_table *t, size_t i, struct aff_node *n)
{
	t->heap[i] = n;
	n->heap_at = i;
}

static void
aff_heap_up(struct aff_table *t, size_t i)
{
	struct aff_node *n = t->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (t->heap[parent]->e.expires_ms <= n->e.expires_ms)
			break;
		aff_heap_set(t, i, t->heap[parent]);
		i = parent;
	}
	aff_heap_set(t, i, n);
}

static void
aff_heap_down(struct aff_table *t, size_t i)
{
	struct aff_node *n = t->heap[i];

	for (;;) {
		size_t c = 2 * i + 1;

		if (c >= t->nheap)
			break;
		if (c + 1 < t->nheap &&
		    t->heap[c + 1]->e.expires_ms < t->heap[c]->e.expires_ms)
			c++;
		if (n->e.expires_ms <= t->heap[c]->e.expires_ms)
			break;
		aff_heap_set(t, i, t->heap[c]);
		i = c;
	}
	aff_heap_set(t, i, n);
}

static void
aff_heap_push(struct aff_table *t, struct aff_node *n)
{
	/* Capacity is reserved in aff_reserve_heap() before a node exists. */
	if (t->nheap >= t->heap_cap) {
		fprintf(stderr, "aff_heap_push: heap full (%zu)\n", t->nheap);
		abort();
	}
	aff_heap_set(t, t->nheap++, n);
	aff_heap_up(t, n->heap_at);
}

static void
aff_heap_remove(struct aff_table *t, struct aff_node *n)
{
	size_t i = n->heap_at;
	struct aff_node *last;

	if (i == AFF_NOT_IDLE)
		return;
	n->heap_at = AFF_NOT_IDLE;
	last = t->heap[--t->nheap];
	if (last == n)
		return;
	aff_heap_set(t, i, last);
	aff_heap_up(t, i);
	aff_heap_down(t, last->heap_at);
}

/* Make room in the heap for every node, including one about to be added. */
static int
aff_reserve_heap(struct aff_table *t, size_t want)
{
	struct aff_node **h;
	size_t cap;

	if (want <= t->heap_cap)
		return 0;
	cap = t->heap_cap ? t->heap_cap : AFF_MIN_HEAP;
	while (cap < want && cap <= SIZE_MAX / 2)
		cap *= 2;
	if (cap < want)
		cap = want;
	if (cap > t->max_entries && want <= t->max_entries)
		cap = t->max_entries;
	h = reallocarray(t->heap, cap, sizeof(*h));
	if (h == NULL)
		return -1;
	t->heap = h;
	t->heap_cap = cap;
	return 0;
}

/* --- the table by key --- */

static const void *
aff_node_key(const struct ht_node *hn, size_t *len)
{
	const struct aff_node *n = HT_ENTRY(hn, struct aff_node, hn);

	*len = strlen(n->e.key);
	return n->e.key;
}

static void
aff_node_free(struct ht_node *hn)
{
	free(HT_ENTRY(hn, struct aff_node, hn));
}

static struct aff_node *
aff_find(const struct aff_table *t, const char *key, size_t len,
    uint64_t hash)
{
	struct ht_node *hn = ht_find(t->ht, hash, key, len);

	return hn != NULL ? HT_ENTRY(hn, struct aff_node, hn) : NULL;
}

static const void *
aff_vm_key(const struct ht_node *hn, size_t *len)
{
	const struct aff_vm *v = HT_ENTRY(hn, struct aff_vm, hn);

	*len = strlen(v->name);
	return v->name;
}

static void
aff_vm_free(struct ht_node *hn)
{
	free(HT_ENTRY(hn, struct aff_vm, hn));
}

static struct aff_vm *
aff_vm_find(const struct aff_table *t, const char *name, size_t len)
{
	struct ht_node *hn = ht_find(t->vms, ht_hash(t->vms, name, len), name,
	    len);

	return hn != NULL ? HT_ENTRY(hn, struct aff_vm, hn) : NULL;
}

/* The record of VM backend, or NULL (none, or not a VM's name). */
static struct aff_vm *
aff_vm_named(const struct aff_table *t, const char *backend)
{
	size_t len;

	if (backend == NULL ||
	    (len = strnlen(backend, CFG_NAME_MAX + 1)) > CFG_NAME_MAX)
		return NULL;
	return aff_vm_find(t, backend, len);
}

/* One entry less points at v; the record goes with its last one. */
static void
aff_vm_put(struct aff_table *t, struct aff_vm *v)
{
	if (v == NULL || --v->n > 0)
		return;
	ht_remove(t->vms, &v->hn);
	free(v);
}

/*
 * Point n at backend[0..len) (NUL-terminated, len <= CFG_NAME_MAX), counting
 * it under that VM. Returns 0, or -1 when a new VM's record cannot be
 * allocated (n is then unchanged).
 */
static int
aff_set_backend(struct aff_table *t, struct aff_node *n, const char *backend,
    size_t len)
{
	struct aff_vm *v;

	if (n->vm != NULL && strcmp(n->vm->name, backend) == 0)
		return 0;
	v = aff_vm_find(t, backend, len);
	if (v == NULL) {
		if ((v = calloc(1, sizeof(*v))) == NULL)
			return -1;
		memcpy(v->name, backend, len + 1);
		if (ht_insert(t->vms, &v->hn, ht_hash(t->vms, backend, len))
		    == -1) {
			free(v);
			return -1;
		}
	}
	v->n++;
	aff_vm_put(t, n->vm);
	n->vm = v;
	memcpy(n->e.backend, backend, len + 1);
	return 0;
}

static const void *
aff_pfx_key(const struct ht_node *hn, size_t *len)
{
	*len = AFF_PFX_LEN;
	return HT_ENTRY(hn, struct aff_pfx, hn)->n->e.key;
}

static void
aff_pfx_free(struct ht_node *hn)
{
	free(HT_ENTRY(hn, struct aff_pfx, hn));
}

/* Whether the key of length len goes into the prefix index. */
static bool
aff_pfx_wants(const char *key, size_t len)
{
	return len >= AFF_PFX_LEN && memcmp(key, AFF_USER, AFF_USER_LEN) == 0;
}

/* Index n by its prefix, if it is a user's. Returns 0, or -1 (memory). */
static int
aff_pfx_add(struct aff_table *t, struct aff_node *n)
{
	struct aff_pfx *p;

	if (!aff_pfx_wants(n->e.key, strlen(n->e.key)))
		return 0;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return -1;
	p->n = n;
	if (ht_insert(t->pfx, &p->hn, ht_hash(t->pfx, n->e.key,
	    AFF_PFX_LEN)) == -1) {
		free(p);
		return -1;
	}
	return 0;
}

static void
aff_pfx_remove(struct aff_table *t, struct aff_node *n)
{
	struct ht_node *hn;

	if (!aff_pfx_wants(n->e.key, strlen(n->e.key)))
		return;
	hn = ht_find(t->pfx, ht_hash(t->pfx, n->e.key, AFF_PFX_LEN),
	    n->e.key, AFF_PFX_LEN);
	for (; hn != NULL; hn = ht_find_next(t->pfx, hn, n->e.key,
	    AFF_PFX_LEN)) {
		if (HT_ENTRY(hn, struct aff_pfx, hn)->n == n) {
			ht_remove(t->pfx, hn);
			aff_pfx_free(hn);
			return;
		}
	}
}

/* Unlink n from the table and the heap, and free it. */
static void
aff_remove(struct aff_table *t, struct aff_node *n)
{
	aff_pfx_remove(t, n);
	ht_remove(t->ht, &n->hn);
	aff_heap_remove(t, n);
	aff_vm_put(t, n->vm);
	free(n);
}

/*
 * Link the new node n (its key and expiry set) under hash, pointing at
 * backend[0..blen); an idle one (active 0) also goes into the heap. Returns
 * 0, or -1 when the table refuses it (full, or out of memory), n then freed.
 */
static int
aff_add(struct aff_table *t, struct aff_node *n, uint64_t hash,
    const char *backend, size_t blen)
{
	n->heap_at = AFF_NOT_IDLE;
	if (aff_set_backend(t, n, backend, blen) == -1) {
		free(n);
		return -1;
	}
	if (ht_insert(t->ht, &n->hn, hash) == -1) {
		aff_vm_put(t, n->vm);
		free(n);
		return -1;
	}
	if (aff_pfx_add(t, n) == -1) {
		ht_remove(t->ht, &n->hn);
		aff_vm_put(t, n->vm);
		free(n);
		return -1;
	}
	if (n->e.active == 0)
		aff_heap_push(t, n);
	return 0;
}

/* Length of key, or -1 when it is NULL or longer than AFF_KEY_MAX. */
static int
aff_key_len(const char *key, size_t *len)
{
	if (key == NULL)
		return -1;
	*len = strnlen(key, AFF_KEY_MAX + 1);
	return *len > AFF_KEY_MAX ? -1 : 0;
}

/* --- API --- */

struct aff_table *
aff_new(size_t max_entries, uint64_t ttl_ms)
{
	struct aff_table *t = NULL, *ret = NULL;

	t = calloc(1, sizeof(*t));
	if (t == NULL)
		goto out;
	t->ht = ht_new(aff_node_key, max_entries, 0);
	/* no more VMs than entries; few in practice, so few buckets */
	t->vms = ht_new(aff_vm_key, max_entries, 1024);
	t->pfx = ht_new(aff_pfx_key, max_entries, 0);
	if (t->ht == NULL || t->vms == NULL || t->pfx == NULL)
		goto out;
	t->max_entries = max_entries;
	t->ttl_ms = ttl_ms;
	ret = t;
	t = NULL;       /* transferred */
out:
	aff_free(t);
	return ret;
}

void
aff_free(struct aff_table *t)
{
	if (t == NULL)
		return;
	ht_free(t->ht, aff_node_free);
	ht_free(t->vms, aff_vm_free);
	ht_free(t->pfx, aff_pfx_free);
	free(t->heap);
	free(t);
}

void
aff_set_ttl(struct aff_table *t, uint64_t ttl_ms)
{
	/* Applies to sessions ending from now on; idle entries keep their expiry. */
	t->ttl_ms = ttl_ms;
}

const struct aff_entry *
aff_lookup(struct aff_table *t, const char *key, uint64_t now)
{
	struct aff_node *n;
	size_t len;

	if (aff_key_len(key, &len) == -1)
		return NULL;
	n = aff_find(t, key, len, ht_hash(t->ht, key, len));
	if (n == NULL)
		return NULL;
	if (aff_expired(n, now)) {
		aff_remove(t, n);
		return NULL;
	}
	return &n->e;
}

int
aff_session_start(struct aff_table *t, const char *key, const char *backend,
    uint64_t now)
{
	struct aff_node *n;
	uint64_t hash;
	size_t klen, blen;

	if (aff_key_len(key, &klen) == -1 || backend == NULL)
		return -1;
	blen = strnlen(backend, CFG_NAME_MAX + 1);
	if (blen > CFG_NAME_MAX)
		return -1;
	hash = ht_hash(t->ht, key, klen);

	n = aff_find(t, key, klen, hash);
	if (n != NULL) {
		if (aff_expired(n, now) || strcmp(n->e.backend, backend) != 0) {
			/* Expired, or the key follows its newest session. */
			if (aff_set_backend(t, n, backend, blen) == -1)
				return -1;
			n->e.active = 0;
		}
		aff_heap_remove(t, n);
		if (n->e.active < UINT32_MAX)
			n->e.active++;
		n->e.expires_ms = 0;
		return 0;
	}

	if (ht_count(t->ht) >= t->max_entries) {
		if (t->nheap == 0 || !aff_expired(t->heap[0], now))
			return -1;
		aff_remove(t, t->heap[0]);
	}
	if (aff_reserve_heap(t, ht_count(t->ht) + 1) == -1)
		return -1;
	n = calloc(1, sizeof(*n));
	if (n == NULL)
		return -1;
	memcpy(n->e.key, key, klen + 1);
	n->e.active = 1;
	return aff_add(t, n, hash, backend, blen);
}

void
aff_session_end(struct aff_table *t, const char *key, const char *backend,
    uint64_t now)
{
	struct aff_node *n;
	size_t len;

	if (aff_key_len(key, &len) == -1 || backend == NULL)
		return;
	n = aff_find(t, key, len, ht_hash(t->ht, key, len));
	/* A moved key's old sessions end here too; they no longer count. */
	if (n == NULL || n->e.active == 0 || strcmp(n->e.backend, backend) != 0)
		return;
	if (--n->e.active > 0)
		return;
	n->e.expires_ms = t->ttl_ms > UINT64_MAX - now ? UINT64_MAX :
	    now + t->ttl_ms;
	aff_heap_push(t, n);
}

size_t
aff_expire(struct aff_table *t, uint64_t now)
{
	return aff_expire_some(t, now, SIZE_MAX);
}

size_t
aff_expire_some(struct aff_table *t, uint64_t now, size_t max)
{
	size_t removed = 0;

	while (removed < max && t->nheap > 0 && aff_expired(t->heap[0], now)) {
		aff_remove(t, t->heap[0]);
		removed++;
	}
	return removed;
}

bool
aff_expired_left(const struct aff_table *t, uint64_t now)
{
	return t->nheap > 0 && aff_expired(t->heap[0], now);
}

void
aff_forget_backend(struct aff_table *t, const char *backend)
{
	struct ht_iter it;
	struct ht_node *hn;
	struct aff_node *n;

	struct aff_vm *v = aff_vm_named(t, backend);
	size_t left = v != NULL ? v->n : 0;

	/* stops at the VM's last entry (its record goes with it) */
	for (hn = ht_first(t->ht, &it); hn != NULL && left > 0;
	    hn = ht_next(&it)) {
		n = HT_ENTRY(hn, struct aff_node, hn);
		if (n->vm == v) {
			aff_remove(t, n);   /* the iterator is already past it */
			left--;
		}
	}
}

size_t
aff_count(const struct aff_table *t)
{
	return ht_count(t->ht);
}


/* Tally the expired entries below heap index i on their VMs' records. */
static void
aff_tally_expired(struct aff_table *t, size_t i, uint64_t now)
{
	struct aff_vm *v;

	while (i < t->nheap && t->heap[i]->e.expires_ms <= now) {
		v = t->heap[i]->vm;
		if (v->gen != t->count_gen) {
			v->gen = t->count_gen;
			v->expired = 0;
		}
		v->expired++;
		aff_tally_expired(t, 2 * i + 1, now);
		i = 2 * i + 2;
	}
}

void
aff_count_backends(struct aff_table *t, const char *const *names, size_t n,
    size_t *counts, uint64_t now)
{
	const struct aff_vm *v;

	t->count_gen++;
	aff_tally_expired(t, 0, now);
	for (size_t i = 0; i < n; i++) {
		v = aff_vm_named(t, names[i]);
		counts[i] = v == NULL ? 0 : v->n -
		    (v->gen == t->count_gen ? v->expired : 0);
	}
}

size_t
aff_count_backend(struct aff_table *t, const char *backend, uint64_t now)
{
	size_t c;

	aff_count_backends(t, &backend, 1, &c, now);
	return c;
}

void
aff_foreach(const struct aff_table *t, uint64_t now,
    void (*fn)(const struct aff_entry *e, void *arg), void *arg)
{
	struct ht_iter it;
	const struct ht_node *hn;
	const struct aff_node *n;

	for (hn = ht_first(t->ht, &it); hn != NULL; hn = ht_next(&it)) {
		n = HT_ENTRY(hn, const struct aff_node, hn);
		if (!aff_expired(n, now))
			fn(&n->e, arg);
	}
}

void
aff_foreach_user_prefix(const struct aff_table *t, const char *prefix,
    uint64_t now, void (*fn)(const struct aff_entry *e, void *arg), void *arg)
{
	char k[AFF_PFX_LEN];
	const struct ht_node *hn;
	const struct aff_node *n;

	if (prefix == NULL || strnlen(prefix, AFF_USER_PREFIX + 1) !=
	    AFF_USER_PREFIX)
		return;
	memcpy(k, AFF_USER, AFF_USER_LEN);
	memcpy(k + AFF_USER_LEN, prefix, AFF_USER_PREFIX);
	hn = ht_find(t->pfx, ht_hash(t->pfx, k, sizeof(k)), k, sizeof(k));
	for (; hn != NULL; hn = ht_find_next(t->pfx, hn, k, sizeof(k))) {
		n = HT_ENTRY(hn, const struct aff_pfx, hn)->n;
		if (!aff_expired(n, now))
			fn(&n->e, arg);
	}
}

struct aff_scan_ctx {
	uint64_t now;
	void   (*fn)(const struct aff_entry *e, void *arg);
	void    *arg;
};

static void
aff_scan_node(const struct ht_node *hn, void *arg)
{
	const struct aff_scan_ctx *c = arg;
	const struct aff_node *n = HT_ENTRY(hn, const struct aff_node, hn);

	if (!aff_expired(n, c->now))
		c->fn(&n->e, c->arg);
}

int
aff_scan(const struct aff_table *t, struct aff_scan *sc, uint64_t now,
    size_t max, void (*fn)(const struct aff_entry *e, void *arg), void *arg)
{
	struct aff_scan_ctx c = { now, fn, arg };

	if (!sc->started) {
		sc->gen = ht_generation(t->ht);
		sc->started = true;
	} else if (sc->gen != ht_generation(t->ht)) {
		return -1;
	}
	return ht_scan(t->ht, &sc->cursor, max, aff_scan_node, &c);
}

uint64_t
aff_ttl(const struct aff_table *t)
{
	return t->ttl_ms;
}

int
aff_restore(struct aff_table *t, const char *key, const char *backend,
    uint64_t expires_ms, uint64_t now)
{
	struct aff_node *n;
	uint64_t hash;
	size_t klen, blen;

	if (aff_key_len(key, &klen) == -1 || backend == NULL ||
	    expires_ms <= now)
		return -1;
	blen = strnlen(backend, CFG_NAME_MAX + 1);
	if (blen > CFG_NAME_MAX)
		return -1;
	hash = ht_hash(t->ht, key, klen);

	n = aff_find(t, key, klen, hash);
	if (n != NULL && !aff_expired(n, now))
		return 1;
	if (n != NULL) {
		/* Expired and idle: it is in the heap; move it to its new place. */
		if (aff_set_backend(t, n, backend, blen) == -1)
			return -1;
		aff_heap_remove(t, n);
		n->e.expires_ms = expires_ms;
		aff_heap_push(t, n);
		return 0;
	}

	if (ht_count(t->ht) >= t->max_entries) {
		if (t->nheap == 0 || !aff_expired(t->heap[0], now))
			return -1;
		aff_remove(t, t->heap[0]);
	}
	if (aff_reserve_heap(t, ht_count(t->ht) + 1) == -1)
		return -1;
	n = calloc(1, sizeof(*n));
	if (n == NULL)
		return -1;
	memcpy(n->e.key, key, klen + 1);
	n->e.expires_ms = expires_ms;
	return aff_add(t, n, hash, backend, blen);
}

int
aff_put(struct aff_table *t, const char *key, const char *backend,
    uint64_t expires_ms, uint64_t now)
{
	struct aff_node *n;
	size_t klen, blen;

	if (aff_key_len(key, &klen) == -1 || backend == NULL ||
	    expires_ms <= now)
		return -1;
	blen = strnlen(backend, CFG_NAME_MAX + 1);
	if (blen > CFG_NAME_MAX)
		return -1;
	n = aff_find(t, key, klen, ht_hash(t->ht, key, klen));
	if (n == NULL)
		return aff_restore(t, key, backend, expires_ms, now);
	if (n->e.active > 0 && strcmp(n->e.backend, backend) == 0)
		return 0;   /* live here on that VM: its own end starts the ttl */
	/*
	 * Idle, expired, or live on another VM: the key now follows the newer
	 * assignment. Sessions still running here under the old VM end
	 * without touching it (aff_session_end ignores a key that moved).
	 */
	if (aff_set_backend(t, n, backend, blen) == -1)
		return -1;
	aff_heap_remove(t, n);
	n->e.active = 0;
	n->e.expires_ms = expires_ms;
	aff_heap_push(t, n);
	return 0;
}
