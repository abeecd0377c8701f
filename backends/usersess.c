/*
 * usersess.c -- Jupyter sessions: one user on one VM (pure).
 *
 * Layout: one heap-allocated node per user, in a lib/hashtab.h table by
 * user name. Each node embeds its US_ADDRS address links, and every used
 * link is also in a second table by address, which holds one link per user
 * seen from that address (equal keys), so "who is live from this address"
 * walks only the links of that address. Both tables hash with SipHash under
 * their own random key, since names and addresses come from clients.
 *
 * A node with no open websocket is in the idle list, ordered by
 * last_seen_ms (oldest first). Stamps never decrease (see us_stamp), so a
 * touched node simply moves to the tail: us_expire() stops at the first
 * node still live, and "reclaim an idled-out user when full" looks only at
 * the head. Because every idle node shares the same idle_ms, ordering by
 * last_seen is ordering by expiry, whatever us_set_idle() does.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hashtab.h"
#include "backends/usersess.h"

struct us_node;

struct us_link {                     /* one recent address of one user */
	struct ht_node   hn;             /* in t->addrs by addr */
	struct us_node  *owner;
	uint64_t         seen_ms;
	char             addr[US_ADDR_MAX + 1];
};

struct us_node {
	struct ht_node   hn;             /* in t->users by user */
	struct us_node  *idle_prev;      /* idle list, only while ws == 0 */
	struct us_node  *idle_next;
	uint64_t         id;
	uint64_t         last_seen_ms;
	uint32_t         ws;
	size_t           nlink;          /* link[0..nlink) are in use */
	struct us_link   link[US_ADDRS];
	char             user[US_USER_MAX + 1];
	char             backend[CFG_NAME_MAX + 1];
};

struct us_table {
	struct hashtab  *users;          /* us_node by user name */
	struct hashtab  *addrs;          /* us_link by address, one per user */
	size_t           max_users;
	uint64_t         idle_ms;
	uint64_t         latest_ms;      /* largest now stamped so far */
	uint64_t         next_id;
	struct us_node  *idle_head;      /* least recently active */
	struct us_node  *idle_tail;
};

/* Length of s, or -1 when it is NULL, empty or longer than max. */
static int
us_len(const char *s, size_t max, size_t *len)
{
	if (s == NULL)
		return -1;
	*len = strnlen(s, max + 1);
	return *len == 0 || *len > max ? -1 : 0;
}

/* A stamp for now that never goes below one already given out. */
static uint64_t
us_stamp(struct us_table *t, uint64_t now)
{
	if (now > t->latest_ms)
		t->latest_ms = now;
	return t->latest_ms;
}

static bool
us_live(const struct us_table *t, const struct us_node *n, uint64_t now)
{
	if (n->ws > 0)
		return true;
	if (t->idle_ms > UINT64_MAX - n->last_seen_ms)
		return true;
	return now < n->last_seen_ms + t->idle_ms;
}

static void
us_session_view(const struct us_node *n, struct us_session *s)
{
	s->user = n->user;
	s->backend = n->backend;
	s->ws = n->ws;
	s->last_seen_ms = n->last_seen_ms;
	s->id = n->id;
}

/* --- the idle list --- */

static bool
us_is_idle(const struct us_table *t, const struct us_node *n)
{
	return n->idle_prev != NULL || t->idle_head == n;
}

static void
us_idle_remove(struct us_table *t, struct us_node *n)
{
	if (!us_is_idle(t, n))
		return;
	if (n->idle_prev != NULL)
		n->idle_prev->idle_next = n->idle_next;
	else
		t->idle_head = n->idle_next;
	if (n->idle_next != NULL)
		n->idle_next->idle_prev = n->idle_prev;
	else
		t->idle_tail = n->idle_prev;
	n->idle_prev = n->idle_next = NULL;
}

/* Append n, whose last_seen_ms is the newest stamp, at the tail. */
static void
us_idle_append(struct us_table *t, struct us_node *n)
{
	us_idle_remove(t, n);
	n->idle_prev = t->idle_tail;
	n->idle_next = NULL;
	if (t->idle_tail != NULL)
		t->idle_tail->idle_next = n;
	else
		t->idle_head = n;
	t->idle_tail = n;
}

/* --- the two tables --- */

static const void *
us_node_key(const struct ht_node *hn, size_t *len)
{
	const struct us_node *n = HT_ENTRY(hn, struct us_node, hn);

	*len = strlen(n->user);
	return n->user;
}

static const void *
us_link_key(const struct ht_node *hn, size_t *len)
{
	const struct us_link *l = HT_ENTRY(hn, struct us_link, hn);

	*len = strlen(l->addr);
	return l->addr;
}

static void
us_node_free(struct ht_node *hn)
{
	free(HT_ENTRY(hn, struct us_node, hn));
}

/*
 * Link hn into ht. Both tables are capped above what max_users allows (a
 * user is counted before a node is linked; a user holds at most US_ADDRS
 * links), so a refusal is a bug, not a state to carry on from.
 */
static void
us_link_node(struct hashtab *ht, struct ht_node *hn, uint64_t hash)
{
	if (ht_insert(ht, hn, hash) == -1) {
		fprintf(stderr, "usersess: table refused an entry below its "
		    "cap (%zu entries)\n", ht_count(ht));
		abort();
	}
}

/* Remember that n was seen from addr at stamp; evict its oldest if full. */
static void
us_note_addr(struct us_table *t, struct us_node *n, const char *addr,
    uint64_t stamp)
{
	struct us_link *l;
	size_t len, i, oldest = 0;

	if (addr == NULL || us_len(addr, US_ADDR_MAX, &len) == -1)
		return;
	for (i = 0; i < n->nlink; i++) {
		l = &n->link[i];
		if (strcmp(l->addr, addr) == 0) {
			l->seen_ms = stamp;
			return;
		}
		if (l->seen_ms < n->link[oldest].seen_ms)
			oldest = i;
	}
	if (n->nlink < US_ADDRS) {
		l = &n->link[n->nlink++];
	} else {
		l = &n->link[oldest];
		ht_remove(t->addrs, &l->hn);
	}
	memcpy(l->addr, addr, len + 1);
	l->seen_ms = stamp;
	l->owner = n;
	us_link_node(t->addrs, &l->hn, ht_hash(t->addrs, addr, len));
}

/* --- users --- */

static struct us_node *
us_find(const struct us_table *t, const char *user, size_t len,
    uint64_t hash)
{
	struct ht_node *hn = ht_find(t->users, hash, user, len);

	return hn != NULL ? HT_ENTRY(hn, struct us_node, hn) : NULL;
}

/* Look up a user name given by the caller; NULL when invalid or absent. */
static struct us_node *
us_lookup(const struct us_table *t, const char *user)
{
	size_t len;

	if (us_len(user, US_USER_MAX, &len) == -1)
		return NULL;
	return us_find(t, user, len, ht_hash(t->users, user, len));
}

/*
 * Take n out of every structure (user chain, idle list, address chains)
 * without freeing it: the caller frees it or reuses it for another user.
 */
static void
us_unlink(struct us_table *t, struct us_node *n)
{
	size_t i;

	ht_remove(t->users, &n->hn);
	us_idle_remove(t, n);
	for (i = 0; i < n->nlink; i++)
		ht_remove(t->addrs, &n->link[i].hn);
	n->nlink = 0;
}

static void
us_copy_ended(const struct us_node *n, struct us_ended *e)
{
	e->ended = true;
	memcpy(e->user, n->user, sizeof(e->user));
	memcpy(e->backend, n->backend, sizeof(e->backend));
}

/* Start a new session for n on backend (blen bytes) at stamp. */
static void
us_start(struct us_table *t, struct us_node *n, const char *backend,
    size_t blen, uint64_t stamp)
{
	memcpy(n->backend, backend, blen + 1);
	n->id = ++t->next_id;
	n->ws = 0;
	n->last_seen_ms = stamp;
	us_idle_append(t, n);
}

/* --- API --- */

struct us_table *
us_new(size_t max_users, uint64_t idle_ms)
{
	struct us_table *t = NULL, *ret = NULL;

	t = calloc(1, sizeof(*t));
	if (t == NULL)
		goto out;
	t->users = ht_new(us_node_key, max_users, 0);
	t->addrs = ht_new(us_link_key,
	    max_users > SIZE_MAX / US_ADDRS ? SIZE_MAX : max_users * US_ADDRS, 0);
	if (t->users == NULL || t->addrs == NULL)
		goto out;
	t->max_users = max_users;
	t->idle_ms = idle_ms;
	ret = t;
	t = NULL;       /* transferred */
out:
	us_free(t);
	return ret;
}

void
us_free(struct us_table *t)
{
	if (t == NULL)
		return;
	/* The links live inside the user nodes: forget them, then free those. */
	ht_free(t->addrs, NULL);
	ht_free(t->users, us_node_free);
	free(t);
}

void
us_set_idle(struct us_table *t, uint64_t idle_ms)
{
	t->idle_ms = idle_ms;
}

enum us_result
us_request(struct us_table *t, const char *user, const char *backend,
    const char *addr, uint64_t now, struct us_ended *ended)
{
	struct us_node *n;
	uint64_t hash, stamp;
	size_t ulen, blen;

	ended->ended = false;
	if (us_len(user, US_USER_MAX, &ulen) == -1 ||
	    us_len(backend, CFG_NAME_MAX, &blen) == -1)
		return US_INVALID;
	hash = ht_hash(t->users, user, ulen);

	n = us_find(t, user, ulen, hash);
	if (n != NULL) {
		bool live = us_live(t, n, now);

		stamp = us_stamp(t, now);
		us_note_addr(t, n, addr, stamp);
		if (live && strcmp(n->backend, backend) == 0) {
			n->last_seen_ms = stamp;
			if (n->ws == 0)
				us_idle_append(t, n);
			return US_CONTINUED;
		}
		/*
		 * Moved to another VM, or back after idling out unswept: the
		 * old session ends here, so us_expire() must not end it again
		 * (the node is re-stamped and gets a new id).
		 */
		us_copy_ended(n, ended);
		us_start(t, n, backend, blen, stamp);
		return US_STARTED;
	}

	if (ht_count(t->users) >= t->max_users) {
		/* Reclaim the least recently active user if it has idled out. */
		n = t->idle_head;
		if (n == NULL || us_live(t, n, now))
			return US_FULL;
		us_copy_ended(n, ended);
		us_unlink(t, n);
		memset(n, 0, sizeof(*n));
	} else {
		n = calloc(1, sizeof(*n));
		if (n == NULL)
			return US_NOMEM;
	}
	memcpy(n->user, user, ulen + 1);
	us_link_node(t->users, &n->hn, hash);
	stamp = us_stamp(t, now);
	us_start(t, n, backend, blen, stamp);
	us_note_addr(t, n, addr, stamp);
	return US_STARTED;
}

uint64_t
us_ws_open(struct us_table *t, const char *user, const char *backend,
    uint64_t now)
{
	struct us_node *n = us_lookup(t, user);

	if (n == NULL || backend == NULL || strcmp(n->backend, backend) != 0 ||
	    !us_live(t, n, now) || n->ws == UINT32_MAX)
		return 0;
	if (n->ws++ == 0)
		us_idle_remove(t, n);
	n->last_seen_ms = us_stamp(t, now);
	return n->id;
}

void
us_ws_close(struct us_table *t, const char *user, uint64_t id, uint64_t now)
{
	struct us_node *n = us_lookup(t, user);

	if (n == NULL || id == 0 || n->id != id || n->ws == 0)
		return;
	if (--n->ws > 0)
		return;
	/* The idle timer starts when the last websocket closes. */
	n->last_seen_ms = us_stamp(t, now);
	us_idle_append(t, n);
}

/* Take n out, report it to fn, free it. */
static void
us_end(struct us_table *t, struct us_node *n, us_fn *fn, void *arg)
{
	struct us_session s;

	us_unlink(t, n);
	if (fn != NULL) {
		us_session_view(n, &s);
		fn(&s, arg);
	}
	free(n);
}

size_t
us_expire(struct us_table *t, uint64_t now, us_fn *fn, void *arg)
{
	size_t ended = 0;

	while (t->idle_head != NULL && !us_live(t, t->idle_head, now)) {
		us_end(t, t->idle_head, fn, arg);
		ended++;
	}
	return ended;
}

size_t
us_forget_backend(struct us_table *t, const char *backend, us_fn *fn,
    void *arg)
{
	struct ht_iter it;
	struct ht_node *hn;
	struct us_node *n;
	size_t ended = 0;

	if (backend == NULL)
		return 0;
	for (hn = ht_first(t->users, &it); hn != NULL; hn = ht_next(&it)) {
		n = HT_ENTRY(hn, struct us_node, hn);
		if (strcmp(n->backend, backend) != 0)
			continue;
		us_end(t, n, fn, arg);   /* the iterator is already past it */
		ended++;
	}
	return ended;
}

const char *
us_sole_user_backend(const struct us_table *t, const char *addr,
    uint64_t now)
{
	const struct ht_node *hn;
	const struct us_link *l;
	const struct us_node *found = NULL;
	size_t len;

	if (us_len(addr, US_ADDR_MAX, &len) == -1)
		return NULL;
	/* A user holds an address at most once: each link is another user. */
	for (hn = ht_find(t->addrs, ht_hash(t->addrs, addr, len), addr, len);
	    hn != NULL; hn = ht_find_next(t->addrs, hn, addr, len)) {
		l = HT_ENTRY(hn, const struct us_link, hn);
		if (!us_live(t, l->owner, now))
			continue;
		if (found != NULL)
			return NULL;
		found = l->owner;
	}
	return found != NULL ? found->backend : NULL;
}

const char *
us_user_backend(const struct us_table *t, const char *user, uint64_t now)
{
	const struct us_node *n = us_lookup(t, user);

	return n != NULL && us_live(t, n, now) ? n->backend : NULL;
}

void
us_foreach(const struct us_table *t, uint64_t now, us_fn *fn, void *arg)
{
	struct ht_iter it;
	const struct ht_node *hn;
	const struct us_node *n;
	struct us_session s;

	for (hn = ht_first(t->users, &it); hn != NULL; hn = ht_next(&it)) {
		n = HT_ENTRY(hn, const struct us_node, hn);
		if (!us_live(t, n, now))
			continue;
		us_session_view(n, &s);
		fn(&s, arg);
	}
}

size_t
us_users_on(const struct us_table *t, const char *backend, uint64_t now)
{
	struct ht_iter it;
	const struct ht_node *hn;
	const struct us_node *n;
	size_t c = 0;

	if (backend == NULL)
		return 0;
	for (hn = ht_first(t->users, &it); hn != NULL; hn = ht_next(&it)) {
		n = HT_ENTRY(hn, const struct us_node, hn);
		if (us_live(t, n, now) && strcmp(n->backend, backend) == 0)
			c++;
	}
	return c;
}

size_t
us_count(const struct us_table *t)
{
	return ht_count(t->users);
}
