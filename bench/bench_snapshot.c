/*
 * bench_snapshot.c -- what saving the affinity table costs, and where.
 *
 *   bench_snapshot [-e ENTRIES] [-s SLICE] [-d DIR]
 *
 * Fills an affinity table with ENTRIES "ip:" keys (default 1,000,000, half
 * with a session, half idle), then times:
 *
 *   slice     one aff_scan() slice of SLICE entries (default 256, as the
 *             daemon) copied with sf_snap_put(); the daemon runs slices
 *             for up to 300 us per turn of its event loop; median and
 *             longest
 *   copy      all slices together
 *   write     sf_snap_save() into DIR (default: a new directory in /tmp):
 *             formatting, write, fsync, rename; the writer thread's work
 *   sync      sf_save() of the same table: what the loop did in one go
 *             before the writer thread
 *
 * Prints one JSON object, times in milliseconds. Links backends/affinity.c,
 * statefile.c and lib/ as they are built for the daemon.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "backends/affinity.h"
#include "backends/statefile.h"

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
cmp_d(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	size_t entries = 1000000, slice = 256, i, nslices = 0, cap;
	char dir[256] = "", key[64], err[256];
	const uint64_t mono = 1000000, wall = UINT64_C(1767000000000);
	struct aff_table *t;
	struct aff_scan sc = { 0 };
	struct sf_snap *s;
	double *times, t0, t1, copy = 0, write_ms, sync_ms;
	long n1, n2;
	int ch, rc;

	while ((ch = getopt(argc, argv, "e:s:d:")) != -1) {
		switch (ch) {
		case 'e': entries = strtoul(optarg, NULL, 10); break;
		case 's': slice = strtoul(optarg, NULL, 10); break;
		case 'd': snprintf(dir, sizeof(dir), "%s", optarg); break;
		default:
			fprintf(stderr, "usage: bench_snapshot [-e N] [-s N] [-d DIR]\n");
			return 2;
		}
	}
	if (entries == 0 || slice == 0)
		return 2;
	if (dir[0] == '\0') {
		snprintf(dir, sizeof(dir), "/tmp/bench_snapshot.XXXXXX");
		if (mkdtemp(dir) == NULL)
			return 1;
	}
	if ((t = aff_new(entries, 3600000)) == NULL)
		return 1;
	for (i = 0; i < entries; i++) {
		snprintf(key, sizeof(key), "ip:10.%zu.%zu.%zu", i >> 16 & 255,
		    i >> 8 & 255, i & 255);
		if (aff_session_start(t, key, i % 2 ? "vm1" : "vm2", mono) != 0)
			return 1;
		if (i % 2)
			aff_session_end(t, key, "vm1", mono);
	}
	cap = entries / slice + 16;
	if ((times = calloc(cap, sizeof(*times))) == NULL ||
	    (s = sf_snap_new()) == NULL)
		return 1;
	do {
		sf_snap_clock(s, mono, wall, aff_ttl(t));
		t0 = now_ms();
		rc = aff_scan(t, &sc, mono, slice, sf_snap_put, s);
		t1 = now_ms();
		if (nslices < cap)
			times[nslices++] = t1 - t0;
		copy += t1 - t0;
	} while (rc == 0);
	if (rc != 1 || sf_snap_failed(s))
		return 1;
	t0 = now_ms();
	n1 = sf_snap_save(dir, s, err, sizeof(err));
	write_ms = now_ms() - t0;
	t0 = now_ms();
	n2 = sf_save(dir, t, mono, wall, err, sizeof(err));
	sync_ms = now_ms() - t0;
	if (n1 < 0 || n2 != n1) {
		fprintf(stderr, "bench_snapshot: %s\n", err);
		return 1;
	}
	qsort(times, nslices, sizeof(*times), cmp_d);
	printf("{\"entries\": %zu, \"slice\": %zu, \"slices\": %zu, "
	    "\"slice_p50_ms\": %.4f, \"slice_max_ms\": %.4f, \"copy_ms\": %.2f, "
	    "\"write_ms\": %.2f, \"sync_ms\": %.2f, \"records\": %ld}\n",
	    entries, slice, nslices, times[nslices / 2], times[nslices - 1], copy,
	    write_ms, sync_ms, n1);
	{
		char path[300];

		snprintf(path, sizeof(path), "%s/%s", dir, SF_FILE_NAME);
		unlink(path);
		rmdir(dir);
	}
	sf_snap_free(s);
	free(times);
	aff_free(t);
	return 0;
}
