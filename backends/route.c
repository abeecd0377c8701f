/*
 * route.c -- the routing order for one HTTP request or SSH connection (pure).
 */
#include <stdio.h>
#include <string.h>

#include "backends/route.h"
#include "backends/select.h"
#include "http/rdp.h"

_Static_assert(AFF_USER_PREFIX == RDP_HASH_CUT,
    "the affinity table indexes the names an RDP client cuts");

/* The VM called `name` if it may take a returning user now, else NULL. */
static struct backend *
route_affine(struct pool *pool, size_t svc, const char *name,
    struct backend *const *tried, size_t ntried)
{
	struct backend *b;

	if (name == NULL)
		return NULL;
	b = pool_find(pool, name);
	if (b == NULL || !be_takes_affine(b, svc) ||
	    be_in_list(b, tried, ntried))
		return NULL;
	return b;
}

/*
 * The VM called `name` for a clue anyone could bring (rules 1 and 2): as
 * route_affine() when the user's live work is there (`live` names it, or
 * `own` says so), else only when it takes new sessions.
 */
static struct backend *
route_clue(struct pool *pool, size_t svc, const char *name, const char *live,
    bool own, struct backend *const *tried, size_t ntried)
{
	struct backend *b = route_affine(pool, svc, name, tried, ntried);

	if (b == NULL || own || (live != NULL && strcmp(live, b->name) == 0) ||
	    be_takes_new(b, svc))
		return b;
	return NULL;
}

/* The VM of the live affinity `user:<user>`, if it may take the request. */
static struct backend *
route_user(struct pool *pool, size_t svc, struct aff_table *aff,
    const struct route_in *in, uint64_t now, struct backend *const *tried,
    size_t ntried)
{
	const struct aff_entry *e;
	char key[AFF_KEY_MAX + 1];
	int len;

	if (aff == NULL || in->user == NULL || *in->user == '\0')
		return NULL;
	len = snprintf(key, sizeof(key), "user:%s", in->user);
	if (len < 0 || (size_t)len >= sizeof(key))
		return NULL;
	e = aff_lookup(aff, key, now);
	if (e == NULL)
		return NULL;
	return route_clue(pool, svc, e->backend, in->live_backend,
	    in->own_server, tried, ntried);
}

static bool
route_named(const char *s)
{
	return s != NULL && *s != '\0';
}

bool
route_cookie_applies(const struct route_in *in)
{
	if (in == NULL || !route_named(in->cookie_backend))
		return false;
	if (!route_named(in->user))
		return true;
	if (route_named(in->cookie_user))
		return strcmp(in->cookie_user, in->user) == 0;
	return in->login;
}

const char *
route_for_user(const struct route_in *in)
{
	if (in == NULL)
		return NULL;
	if (route_named(in->user))
		return in->user;
	if (route_cookie_applies(in) && route_named(in->cookie_user))
		return in->cookie_user;
	return NULL;
}

struct backend *
route_pick(struct pool *pool, size_t svc, struct aff_table *aff,
    const struct route_in *in, uint64_t now, struct backend *const *tried,
    size_t ntried, enum route_why *why)
{
	struct backend *b = NULL;
	enum route_why w = ROUTE_NONE;
	bool by_ip = false;

	if (pool == NULL || pool->n == 0)
		goto out;
	if (in != NULL) {
		if ((b = route_affine(pool, svc, in->token_backend, tried,
		    ntried)) != NULL) {
			w = ROUTE_TOKEN;
			goto out;
		}
		if ((b = route_user(pool, svc, aff, in, now, tried,
		    ntried)) != NULL) {
			w = ROUTE_USER;
			goto out;
		}
		/*
		 * Reached only when the user's affinity chose nothing: none
		 * yet, or its VM is down, in maint, gone, tried, or draining
		 * or full with no live work of the user. Then the cookie is
		 * the best remaining clue to where the work is.
		 */
		if (route_cookie_applies(in) && (b = route_clue(pool, svc,
		    in->cookie_backend, in->live_backend, in->own_server, tried,
		    ntried)) != NULL) {
			w = ROUTE_COOKIE;
			goto out;
		}
		if ((b = route_affine(pool, svc, in->sole_user_backend, tried,
		    ntried)) != NULL) {
			w = ROUTE_SOLE_USER;
			goto out;
		}
	}
	/* Rules 4 and 5 are exactly sel_pick with the address key. */
	b = sel_pick(pool, svc, aff, in != NULL ? in->ip_key : NULL, now,
	    tried, ntried, &by_ip);
	if (b != NULL)
		w = by_ip ? ROUTE_IP : ROUTE_LOAD;
out:
	if (why != NULL)
		*why = w;
	return b;
}

const char *
route_why_name(enum route_why why)
{
	switch (why) {
	case ROUTE_NONE:
		return "none";
	case ROUTE_USER:
		return "user";
	case ROUTE_COOKIE:
		return "cookie";
	case ROUTE_SOLE_USER:
		return "sole_user";
	case ROUTE_IP:
		return "ip";
	case ROUTE_LOAD:
		return "load";
	case ROUTE_TOKEN:
		return "token";
	}
	return "unknown";
}

struct hint_walk {
	const char *prefix;
	size_t      plen;
	char       *out;
	size_t      outlen;
	int         found;   /* distinct users seen, counting to 2 */
};

static void
hint_cb(const struct aff_entry *e, void *arg)
{
	struct hint_walk *h = arg;
	const char *user = e->key + 5;
	size_t n;

	if (strncmp(e->key, "user:", 5) != 0 ||
	    strncmp(user, h->prefix, h->plen) != 0)
		return;
	if (h->found == 1 && strcmp(h->out, user) == 0)
		return;   /* the same user again: cannot be, keys are unique */
	h->found = h->found < 2 ? h->found + 1 : 2;
	if (h->found == 1 && (n = strlen(user)) < h->outlen)
		memcpy(h->out, user, n + 1);
	else if (h->found == 1)
		h->found = 2;   /* does not fit: never guess */
}

int
route_user_hint(const struct aff_table *aff, const char *name, bool cut,
    uint64_t now, char *out, size_t outlen)
{
	struct hint_walk h = { .prefix = name, .out = out, .outlen = outlen };
	size_t n = name != NULL ? strlen(name) : 0;

	if (n == 0 || outlen == 0)
		return 0;
	out[0] = '\0';
	if (!cut) {
		if (n >= outlen)
			return 0;
		memcpy(out, name, n + 1);
		return 1;
	}
	if (aff == NULL)
		return 0;
	h.plen = n;
	/* an RDP client's cut names are indexed; any other length walks */
	if (n == AFF_USER_PREFIX)
		aff_foreach_user_prefix(aff, name, now, hint_cb, &h);
	else
		aff_foreach(aff, now, hint_cb, &h);
	if (h.found == 1)
		return 1;
	out[0] = '\0';
	return h.found == 0 ? 0 : -1;
}

struct backend *
route_member_at(const struct pool *pool, const char *addr)
{
	for (size_t i = 0; i < pool->n; i++)
		if (strcmp(pool->be[i]->addr.text, addr) == 0)
			return pool->be[i];
	return NULL;
}
