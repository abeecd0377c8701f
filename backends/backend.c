/*
 * backend.c -- the VM registry: every pool member, its state and its load.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/backend.h"

static void
be_free(struct backend *b)
{
	if (b == NULL)
		return;
	free(b->addr.text);
	free(b);
}

void
pool_init(struct pool *p)
{
	memset(p, 0, sizeof(*p));
}

void
pool_clear(struct pool *p)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		be_free(p->be[i]);
	free(p->be);
	pool_init(p);
}

struct backend *
pool_find(const struct pool *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->n; i++)
		if (strcmp(p->be[i]->name, name) == 0)
			return p->be[i];
	return NULL;
}

struct backend *
pool_add(struct pool *p, const struct cfg_backend *cb)
{
	struct backend *b = NULL, *ret = NULL, **nbe;
	size_t i, len, ncap;

	if (p->n == p->cap) {
		ncap = p->cap ? p->cap * 2 : 8;
		nbe = reallocarray(p->be, ncap, sizeof(*nbe));
		if (nbe == NULL)
			goto out;
		p->be = nbe;
		p->cap = ncap;
	}
	b = calloc(1, sizeof(*b));
	if (b == NULL)
		goto out;
	len = strnlen(cb->name, CFG_NAME_MAX);
	memcpy(b->name, cb->name, len);
	b->name[len] = '\0';
	b->addr = cb->address;
	b->addr.text = NULL;
	if (cb->address.text != NULL &&
	    (b->addr.text = strdup(cb->address.text)) == NULL)
		goto out;
	/* The configuration validates these; keep the invariants regardless. */
	b->weight = cb->weight >= 1 ? cb->weight : 1;
	b->max_sessions = cb->max_sessions >= 0 ? cb->max_sessions : 0;
	b->admin = BE_ADMIN_READY;
	for (i = 0; i < CFG_MAX_SERVICES; i++) {
		hc_init(&b->health[i].hc);
		b->check[i] = NULL;
	}
	p->be[p->n++] = b;
	ret = b;
	b = NULL;       /* transferred */
out:
	be_free(b);
	return ret;
}

void
pool_remove_at(struct pool *p, size_t i)
{
	if (i >= p->n) {
		fprintf(stderr, "pool_remove_at: index %zu of %zu\n", i, p->n);
		abort();
	}
	be_free(p->be[i]);
	memmove(&p->be[i], &p->be[i + 1], (p->n - i - 1) * sizeof(*p->be));
	p->n--;
	/*
	 * Keep the same backend next in turn: entries after i moved down one.
	 * If the removed one was next, its successor (now at i) is.
	 */
	if (i < p->rr)
		p->rr--;
	if (p->rr >= p->n)
		p->rr = 0;
}

enum be_state
be_state(const struct backend *b, size_t nservices)
{
	size_t i;

	if (b->admin == BE_ADMIN_MAINT)
		return BE_MAINT;
	if (b->admin == BE_ADMIN_DRAIN || b->removed)
		return BE_DRAIN;
	if (nservices > CFG_MAX_SERVICES)
		nservices = CFG_MAX_SERVICES;
	for (i = 0; i < nservices; i++)
		if (!b->health[i].hc.up)
			return BE_DOWN;
	return BE_UP;
}

const char *
be_state_name(enum be_state s)
{
	switch (s) {
	case BE_UP:
		return "up";
	case BE_DOWN:
		return "down";
	case BE_DRAIN:
		return "drain";
	case BE_MAINT:
		return "maint";
	}
	return "unknown";
}

bool
be_takes_new(const struct backend *b, size_t svc)
{
	if (svc >= CFG_MAX_SERVICES)
		return false;
	return b->admin == BE_ADMIN_READY && !b->removed &&
	    b->health[svc].hc.up &&
	    (b->max_sessions == 0 || b->sessions < b->max_sessions);
}

bool
be_takes_affine(const struct backend *b, size_t svc)
{
	if (svc >= CFG_MAX_SERVICES)
		return false;
	return b->admin != BE_ADMIN_MAINT && b->health[svc].hc.up;
}
