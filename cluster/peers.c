/*
 * peers.c -- see peers.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster/peers.h"

void
cl_peers_init(struct cl_peers *ps, const char *self, uint64_t expiry_ms)
{
	memset(ps, 0, sizeof(*ps));
	snprintf(ps->self, sizeof(ps->self), "%s", self);
	ps->expiry_ms = expiry_ms;
}

void
cl_peers_free(struct cl_peers *ps)
{
	for (size_t i = 0; i < ps->n; i++)
		free(ps->p[i].vms);
	ps->n = 0;
}

static int
by_vm(const void *a, const void *b)
{
	return strcmp(((const struct cl_vmcount *)a)->vm,
	    ((const struct cl_vmcount *)b)->vm);
}

int
cl_peers_update(struct cl_peers *ps, const struct cl_entry *e, uint64_t now)
{
	struct cl_peer *p = NULL;
	struct cl_vmcount *vms = NULL;
	size_t n = 0;

	if (e->kind != CL_NODE || strcmp(e->node, ps->self) == 0)
		return 0;
	for (size_t i = 0; i < ps->n && p == NULL; i++)
		if (strcmp(ps->p[i].node, e->node) == 0)
			p = &ps->p[i];
	if (p != NULL && e->stamp < p->stamp)
		return 0;
	if (p == NULL && ps->n == CL_PEERS_MAX)
		return -1;
	if (e->u.node.nvms > 0) {
		if ((vms = malloc(e->u.node.nvms * sizeof(*vms))) == NULL)
			return -1;
		memcpy(vms, e->u.node.vms, e->u.node.nvms * sizeof(*vms));
		qsort(vms, e->u.node.nvms, sizeof(*vms), by_vm);
		/* One VM named twice counts once with the sum. */
		for (size_t i = 0; i < e->u.node.nvms; i++) {
			if (n > 0 && strcmp(vms[n - 1].vm, vms[i].vm) == 0)
				vms[n - 1].sessions += vms[i].sessions;
			else
				vms[n++] = vms[i];
		}
	}
	if (p == NULL) {
		p = &ps->p[ps->n++];
		memset(p, 0, sizeof(*p));
		snprintf(p->node, sizeof(p->node), "%s", e->node);
	}
	free(p->vms);
	p->vms = vms;   /* transferred */
	p->nvms = n;
	p->draining = e->u.node.draining;
	p->runner_seen = e->u.node.runner;
	p->stamp = e->stamp;
	p->seen_at = now;
	return 1;
}

size_t
cl_peers_expire(struct cl_peers *ps, uint64_t now)
{
	size_t k = 0;

	for (size_t i = 0; i < ps->n; ) {
		if (now - ps->p[i].seen_at < ps->expiry_ms) {
			i++;
			continue;
		}
		free(ps->p[i].vms);
		ps->p[i] = ps->p[--ps->n];
		k++;
	}
	return k;
}

uint32_t
cl_peers_sessions(const struct cl_peers *ps, const char *vm, uint64_t now)
{
	struct cl_vmcount key;
	uint64_t sum = 0;

	snprintf(key.vm, sizeof(key.vm), "%s", vm);
	for (size_t i = 0; i < ps->n; i++) {
		const struct cl_vmcount *c;

		if (now - ps->p[i].seen_at >= ps->expiry_ms || ps->p[i].nvms == 0)
			continue;
		c = bsearch(&key, ps->p[i].vms, ps->p[i].nvms, sizeof(key), by_vm);
		if (c != NULL)
			sum += c->sessions;
	}
	return sum > UINT32_MAX ? UINT32_MAX : (uint32_t)sum;
}
