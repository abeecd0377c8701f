/*
 * histo.c -- see histo.h.
 */
#include "lib/histo.h"

void
histo_observe(struct histo *h, const struct histo_bounds *b, double v)
{
	if (v < 0)
		v = 0;
	for (size_t i = 0; i < b->n && i < HISTO_MAX_BUCKETS; i++)
		if (v <= b->le[i]) {
			h->le[i]++;
			break;
		}
	h->count++;
	h->sum += v;
}

uint64_t
histo_cumulative(const struct histo *h, const struct histo_bounds *b, size_t i)
{
	uint64_t n = 0;

	for (size_t k = 0; k <= i && k < b->n && k < HISTO_MAX_BUCKETS; k++)
		n += h->le[k];
	return n;
}
