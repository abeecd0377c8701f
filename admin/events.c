/*
 * events.c -- see events.h.
 */
#include <stdio.h>

#include "admin/events.h"

void
evr_addv(struct evr_ring *r, uint64_t wall_ms, const char *fmt, va_list ap)
{
	struct evr_entry *e = &r->e[r->next];

	e->wall_ms = wall_ms;
	vsnprintf(e->text, sizeof(e->text), fmt, ap);
	for (char *c = e->text; *c != '\0'; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	r->next = (r->next + 1) % EVR_MAX;
	if (r->n < EVR_MAX)
		r->n++;
}

size_t
evr_count(const struct evr_ring *r)
{
	return r->n;
}

const struct evr_entry *
evr_at(const struct evr_ring *r, size_t k)
{
	if (k >= r->n)
		return NULL;
	return &r->e[(r->next + EVR_MAX - 1 - k) % EVR_MAX];
}
