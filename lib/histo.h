/*
 * histo.h -- a fixed-bucket histogram as Prometheus counts one: per upper
 * bound ("le") the observations at or below it, their count and their sum.
 * The bounds are a constant array the caller keeps (the same for every
 * histogram of one metric); the struct holds only counts, so it can live
 * zeroed inside a bigger struct. Not thread-safe: one thread observes and
 * reads (the main thread, for poolgate's histograms).
 */
#ifndef POOLGATE_HISTO_H
#define POOLGATE_HISTO_H

#include <stddef.h>
#include <stdint.h>

#define HISTO_MAX_BUCKETS 16

struct histo {
	uint64_t le[HISTO_MAX_BUCKETS];  /* observations <= bound[i] (not cumulative) */
	uint64_t count;                  /* all observations, +Inf included */
	double   sum;
};

/* Bounds of one metric's buckets: ascending, n <= HISTO_MAX_BUCKETS. */
struct histo_bounds {
	size_t n;
	double le[HISTO_MAX_BUCKETS];
};

/* Count v (negative counts as 0) in h, whose buckets are b. */
void     histo_observe(struct histo *h, const struct histo_bounds *b, double v);

/* Observations <= b->le[i], cumulative as Prometheus writes them. */
uint64_t histo_cumulative(const struct histo *h, const struct histo_bounds *b,
    size_t i);

#endif
