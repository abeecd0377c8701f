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
 *
 * Per VM: a record (struct us_vm, in a third table by VM name) lists the
 * VM's sessions and counts them, and keeps a second idle list of its own
 * sessions in the same order. The sessions there that idled out but are
 * not swept yet are therefore a prefix of that list, so the live users of
 * one VM cost O(1) plus that prefix (emptied by us_expire() every second),
 * not a walk over every user: a scrape of 400 VMs and 100k users stays
 * cheap. A record exists while the VM has a session; it is made before a
 * session starts there (so a failed allocation changes nothing) and freed
 * by us_vm_release() once its last session left.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/hashtab.h"
#include "backends/usersess.h"

struct us_node;

struct us_vm {                       /* the sessions of one VM */
	struct ht_node   hn;             /* in t->vms by name */
	struct us_node  *head;           /* every session on it, any order */
	struct us_node  *idle_head;      /* those with no websocket, */
	struct us_node  *idle_tail;      /* oldest last_seen first */
	size_t           n;              /* sessions on it, live or unswept */
	char             name[CFG_NAME_MAX + 1];
};

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
	struct us_vm    *vm;             /* the record of backend; NULL only
	                                    while the node is being reused */
	struct us_node  *vm_prev;        /* vm->head list */
	struct us_node  *vm_next;
	struct us_node  *vidle_prev;     /* vm->idle_head list, while ws == 0 */
	struct us_node  *vidle_next;
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
	struct hashtab  *vms;            /* us_vm by VM name */
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

/* Take n off the idle lists: the table's and its VM's. */
static void
us_idle_remove(struct us_table *t, struct us_node *n)
{
	struct us_vm *vm = n->vm;

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
	if (n->vidle_prev != NULL)
		n->vidle_prev->vidle_next = n->vidle_next;
	else
		vm->idle_head = n->vidle_next;
	if (n->vidle_next != NULL)
		n->vidle_next->vidle_prev = n->vidle_prev;
	else
		vm->idle_tail = n->vidle_prev;
	n->vidle_prev = n->vidle_next = NULL;
}

/*
 * Append n, whose last_seen_ms is the newest stamp, at the tail of both
 * idle lists (n->vm must be set): each stays in last_seen order.
 */
static void
us_idle_append(struct us_table *t, struct us_node *n)
{
	struct us_vm *vm = n->vm;

	us_idle_remove(t, n);
	n->idle_prev = t->idle_tail;
	n->idle_next = NULL;
	if (t->idle_tail != NULL)
		t->idle_tail->idle_next = n;
	else
		t->idle_head = n;
	t->idle_tail = n;
	n->vidle_prev = vm->idle_tail;
	n->vidle_next = NULL;
	if (vm->idle_tail != NULL)
		vm->idle_tail->vidle_next = n;
	else
		vm->idle_head = n;
	vm->idle_tail = n;
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

static const void *
us_vm_key(const struct ht_node *hn, size_t *len)
{
	const struct us_vm *vm = HT_ENTRY(hn, struct us_vm, hn);

	*len = strlen(vm->name);
	return vm->name;
}

static void
us_node_free(struct ht_node *hn)
{
	free(HT_ENTRY(hn, struct us_node, hn));
}

static void
us_vm_free(struct ht_node *hn)
{
	free(HT_ENTRY(hn, struct us_vm, hn));
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

/* --- VM records --- */

static struct us_vm *
us_vm_find(const struct us_table *t, const char *name, size_t len)
{
	struct ht_node *hn = ht_find(t->vms, ht_hash(t->vms, name, len), name,
	    len);

	return hn != NULL ? HT_ENTRY(hn, struct us_vm, hn) : NULL;
}

/*
 * The record of VM name (len bytes, valid), made when missing. NULL when
 * out of memory. A record made here and left without a session must be
 * given back with us_vm_release().
 */
static struct us_vm *
us_vm_get(struct us_table *t, const char *name, size_t len)
{
	struct us_vm *vm = us_vm_find(t, name, len);

	if (vm != NULL)
		return vm;
	if ((vm = calloc(1, sizeof(*vm))) == NULL)
		return NULL;
	memcpy(vm->name, name, len + 1);
	us_link_node(t->vms, &vm->hn, ht_hash(t->vms, name, len));
	return vm;
}

/* Free vm (may be NULL) if no session is left on it. */
static void
us_vm_release(struct us_table *t, struct us_vm *vm)
{
	if (vm == NULL || vm->n > 0)
		return;
	ht_remove(t->vms, &vm->hn);
	free(vm);
}

/* Count n (on no VM, not idle) on vm. */
static void
us_vm_attach(struct us_vm *vm, struct us_node *n)
{
	n->vm = vm;
	n->vm_prev = NULL;
	n->vm_next = vm->head;
	if (vm->head != NULL)
		vm->head->vm_prev = n;
	vm->head = n;
	vm->n++;
}

/*
 * Uncount n (already off the idle lists) from its VM. The record stays,
 * even when empty: the caller releases it once nothing points at it.
 */
static void
us_vm_detach(struct us_node *n)
{
	struct us_vm *vm = n->vm;

	if (vm == NULL)
		return;
	if (n->vm_prev != NULL)
		n->vm_prev->vm_next = n->vm_next;
	else
		vm->head = n->vm_next;
	if (n->vm_next != NULL)
		n->vm_next->vm_prev = n->vm_prev;
	vm->n--;
	n->vm = NULL;
	n->vm_prev = n->vm_next = NULL;
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
 * Take n out of every structure (user chain, idle lists, address chains,
 * its VM) without freeing it: the caller frees it or reuses it for another
 * user. Returns n's VM record, which the caller must us_vm_release() once
 * it no longer needs it.
 */
static struct us_vm *
us_unlink(struct us_table *t, struct us_node *n)
{
	struct us_vm *vm = n->vm;
	size_t i;

	ht_remove(t->users, &n->hn);
	us_idle_remove(t, n);
	us_vm_detach(n);
	for (i = 0; i < n->nlink; i++)
		ht_remove(t->addrs, &n->link[i].hn);
	n->nlink = 0;
	return vm;
}

static void
us_copy_ended(const struct us_node *n, struct us_ended *e)
{
	e->ended = true;
	memcpy(e->user, n->user, sizeof(e->user));
	memcpy(e->backend, n->backend, sizeof(e->backend));
}

/*
 * Start a new session for n on vm at stamp. n may hold an old session (a
 * move): it leaves the old VM first. Returns the old VM's record (or
 * NULL), for the caller to us_vm_release() -- not here, since it may be
 * vm itself, just emptied and filled again.
 */
static struct us_vm *
us_start(struct us_table *t, struct us_node *n, struct us_vm *vm,
    uint64_t stamp)
{
	struct us_vm *old = n->vm;

	if (old != NULL) {
		us_idle_remove(t, n);
		us_vm_detach(n);
	}
	us_vm_attach(vm, n);
	memcpy(n->backend, vm->name, sizeof(n->backend));
	n->id = ++t->next_id;
	n->ws = 0;
	n->last_seen_ms = stamp;
	us_idle_append(t, n);
	return old;
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
	/* a VM per user, and one more made before a reclaim frees its own */
	t->vms = ht_new(us_vm_key, max_users == SIZE_MAX ? SIZE_MAX :
	    max_users + 1, 0);
	if (t->users == NULL || t->addrs == NULL || t->vms == NULL)
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
	ht_free(t->vms, us_vm_free);
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
	struct us_vm *vm, *old;
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

		if (live && strcmp(n->backend, backend) == 0) {
			stamp = us_stamp(t, now);
			us_note_addr(t, n, addr, stamp);
			n->last_seen_ms = stamp;
			if (n->ws == 0)
				us_idle_append(t, n);
			return US_CONTINUED;
		}
		/* before any change: without a record nothing may end */
		if ((vm = us_vm_get(t, backend, blen)) == NULL)
			return US_NOMEM;
		stamp = us_stamp(t, now);
		us_note_addr(t, n, addr, stamp);
		/*
		 * Moved to another VM, or back after idling out unswept: the
		 * old session ends here, so us_expire() must not end it again
		 * (the node is re-stamped and gets a new id).
		 */
		us_copy_ended(n, ended);
		us_vm_release(t, us_start(t, n, vm, stamp));
		return US_STARTED;
	}

	if (ht_count(t->users) >= t->max_users &&
	    (t->idle_head == NULL || us_live(t, t->idle_head, now)))
		return US_FULL;
	if ((vm = us_vm_get(t, backend, blen)) == NULL)
		return US_NOMEM;
	old = NULL;
	if (ht_count(t->users) >= t->max_users) {
		/* Reclaim the least recently active user: it has idled out. */
		n = t->idle_head;
		us_copy_ended(n, ended);
		old = us_unlink(t, n);
		memset(n, 0, sizeof(*n));
	} else if ((n = calloc(1, sizeof(*n))) == NULL) {
		us_vm_release(t, vm);
		return US_NOMEM;
	}
	memcpy(n->user, user, ulen + 1);
	us_link_node(t->users, &n->hn, hash);
	stamp = us_stamp(t, now);
	us_start(t, n, vm, stamp);
	us_vm_release(t, old);
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

/*
 * Take n out, report it to fn, free it. Its VM's record is released too,
 * unless it is keep (a record the caller is still walking).
 */
static void
us_end(struct us_table *t, struct us_node *n, us_fn *fn, void *arg,
    const struct us_vm *keep)
{
	struct us_session s;
	struct us_vm *vm = us_unlink(t, n);

	if (fn != NULL) {
		us_session_view(n, &s);
		fn(&s, arg);
	}
	free(n);
	if (vm != keep)
		us_vm_release(t, vm);
}

size_t
us_expire(struct us_table *t, uint64_t now, us_fn *fn, void *arg)
{
	size_t ended = 0;

	while (t->idle_head != NULL && !us_live(t, t->idle_head, now)) {
		us_end(t, t->idle_head, fn, arg, NULL);
		ended++;
	}
	return ended;
}

size_t
us_forget_backend(struct us_table *t, const char *backend, us_fn *fn,
    void *arg)
{
	struct us_vm *vm;
	size_t ended = 0, len;

	if (backend == NULL || us_len(backend, CFG_NAME_MAX, &len) == -1 ||
	    (vm = us_vm_find(t, backend, len)) == NULL)
		return 0;
	/* only this VM's sessions; its record goes with the last one */
	while (vm->head != NULL) {
		us_end(t, vm->head, fn, arg, vm);
		ended++;
	}
	us_vm_release(t, vm);
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

/* The VM's record, or NULL (no session there, or an invalid name). */
static const struct us_vm *
us_vm_of(const struct us_table *t, const char *backend)
{
	size_t len;

	if (backend == NULL || us_len(backend, CFG_NAME_MAX, &len) == -1)
		return NULL;
	return us_vm_find(t, backend, len);
}

void
us_foreach_on(const struct us_table *t, const char *backend, uint64_t now,
    us_fn *fn, void *arg)
{
	const struct us_vm *vm = us_vm_of(t, backend);
	const struct us_node *n;
	struct us_session s;

	for (n = vm != NULL ? vm->head : NULL; n != NULL; n = n->vm_next) {
		if (!us_live(t, n, now))
			continue;
		us_session_view(n, &s);
		fn(&s, arg);
	}
}

size_t
us_users_on(const struct us_table *t, const char *backend, uint64_t now)
{
	const struct us_vm *vm = us_vm_of(t, backend);
	const struct us_node *n;
	size_t c;

	if (vm == NULL)
		return 0;
	/* the idled-out, unswept ones lead the VM's idle list */
	c = vm->n;
	for (n = vm->idle_head; n != NULL && !us_live(t, n, now); n = n->vidle_next)
		c--;
	return c;
}

size_t
us_count(const struct us_table *t)
{
	return ht_count(t->users);
}
