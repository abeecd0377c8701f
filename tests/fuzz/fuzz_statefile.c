/*
 * fuzz_statefile.c -- reading the affinity state file (backends/statefile.c).
 *
 * Input: the file's bytes. They are parsed into a fresh table; then what
 * was kept is written out again and read back, which must give the same
 * entries with nothing corrupt, truncated or dropped.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backends/statefile.h"

#define FZ_MAX_ENTRIES 256
#define FZ_TTL         3600000u
#define FZ_MONO        1000u
#define FZ_WALL        UINT64_C(1767000000000)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(bool ok)
{
	if (!ok)
		abort();
}

/* VMs whose name starts with 'x' are no longer configured. */
static bool
known(const char *name, void *arg)
{
	(void)arg;
	return name[0] != 'x';
}

struct fz_cmp {
	struct aff_table *other;
	size_t            n;
};

/* Every entry of one table is in the other, the same. */
static void
same_cb(const struct aff_entry *e, void *arg)
{
	struct fz_cmp *c = arg;
	const struct aff_entry *o = aff_lookup(c->other, e->key, FZ_MONO);

	check(o != NULL);
	check(strcmp(o->backend, e->backend) == 0);
	check(o->active == 0 && e->active == 0);
	check(o->expires_ms == e->expires_ms);
	check(e->expires_ms > FZ_MONO && e->expires_ms <= FZ_MONO + FZ_TTL);
	check(e->backend[0] != 'x');
	c->n++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct aff_table *t = aff_new(FZ_MAX_ENTRIES, FZ_TTL), *u = NULL;
	struct sf_report rep, rep2;
	struct fz_cmp cmp;
	char *buf = NULL;
	size_t len;
	long n;

	if (t == NULL)
		goto out;
	sf_parse((const char *)data, size, t, FZ_MONO, FZ_WALL, known, NULL,
	    &rep);
	check(rep.loaded == aff_count(t));
	check(rep.loaded <= FZ_MAX_ENTRIES);
	check(!rep.missing && !rep.too_large);
	check(!rep.bad_version || rep.loaded + rep.corrupt == 0);

	n = sf_serialize(t, FZ_MONO, FZ_WALL, &buf, &len);
	if (n == -1)
		goto out;
	check((size_t)n == rep.loaded);
	check(strlen(buf) == len);
	u = aff_new(FZ_MAX_ENTRIES, FZ_TTL);
	if (u == NULL)
		goto out;
	sf_parse(buf, len, u, FZ_MONO, FZ_WALL, known, NULL, &rep2);
	check(rep2.loaded == rep.loaded);
	check(!rep2.truncated && !rep2.bad_header && !rep2.bad_version);
	check(rep2.corrupt + rep2.expired + rep2.unknown + rep2.duplicate +
	    rep2.full == 0);
	cmp.other = u;
	cmp.n = 0;
	aff_foreach(t, FZ_MONO, same_cb, &cmp);
	check(cmp.n == rep.loaded);
out:
	free(buf);
	aff_free(u);
	aff_free(t);
	return 0;
}
