/*
 * route.c -- the routing order for one HTTP request or SSH connection (pure).
 */
#include <stdio.h>

#include "backends/route.h"
#include "backends/select.h"

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

/* The VM of the live affinity `user:<user>`, if it may take the user. */
static struct backend *
route_user(struct pool *pool, size_t svc, struct aff_table *aff,
    const char *user, uint64_t now, struct backend *const *tried,
    size_t ntried)
{
	const struct aff_entry *e;
	char key[AFF_KEY_MAX + 1];
	int len;

	if (aff == NULL || user == NULL || *user == '\0')
		return NULL;
	len = snprintf(key, sizeof(key), "user:%s", user);
	if (len < 0 || (size_t)len >= sizeof(key))
		return NULL;
	e = aff_lookup(aff, key, now);
	if (e == NULL)
		return NULL;
	return route_affine(pool, svc, e->backend, tried, ntried);
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
		if ((b = route_user(pool, svc, aff, in->user, now, tried,
		    ntried)) != NULL) {
			w = ROUTE_USER;
			goto out;
		}
		/*
		 * Reached only when the user's affinity chose nothing: none
		 * yet, or its VM is down, in maint, gone or tried. Then the
		 * cookie is the best remaining clue to where the work is.
		 */
		if ((b = route_affine(pool, svc, in->cookie_backend, tried,
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
	}
	return "unknown";
}
