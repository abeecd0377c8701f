/*
 * history.c -- see history.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/history.h"
#include "config/config.h"
#include "lib/hashtab.h"

struct hist_vm {
	struct ht_node node;
	char           name[CFG_NAME_MAX + 1];
	uint64_t       minute[HIST_SLOTS];  /* which minute slot i holds (+1; 0: none) */
	unsigned       peak[HIST_SLOTS];
	uint64_t       last;                /* minute of the last sample */
};

struct history {
	struct hashtab *t;
	uint64_t        swept;              /* minute of the last sweep */
};

static const void *
vm_key(const struct ht_node *n, size_t *len)
{
	const struct hist_vm *e = HT_ENTRY(n, struct hist_vm, node);

	*len = strlen(e->name);
	return e->name;
}

struct history *
hist_new(void)
{
	struct history *h = calloc(1, sizeof(*h));

	if (h == NULL)
		return NULL;
	if ((h->t = ht_new(vm_key, HIST_MAX_VMS, 0)) == NULL) {
		free(h);
		return NULL;
	}
	return h;
}

static void
vm_free(struct ht_node *n)
{
	free(HT_ENTRY(n, struct hist_vm, node));
}

void
hist_free(struct history *h)
{
	if (h == NULL)
		return;
	ht_free(h->t, vm_free);
	free(h);
}

static struct hist_vm *
find(const struct history *h, const char *vm)
{
	size_t len = strlen(vm);
	struct ht_node *n = ht_find(h->t, ht_hash(h->t, vm, len), vm, len);

	return n != NULL ? HT_ENTRY(n, struct hist_vm, node) : NULL;
}

int
hist_note(struct history *h, const char *vm, unsigned n, uint64_t now)
{
	uint64_t m = now / HIST_SLOT_MS;
	struct hist_vm *e = find(h, vm);
	size_t slot = (size_t)(m % HIST_SLOTS);

	if (e == NULL) {
		if (strlen(vm) > CFG_NAME_MAX || (e = calloc(1, sizeof(*e))) == NULL)
			return -1;
		memcpy(e->name, vm, strlen(vm) + 1);
		if (ht_insert(h->t, &e->node, ht_hash(h->t, vm, strlen(vm))) != 0) {
			free(e);
			return -1;
		}
	}
	/* a slot of an hour ago is this minute's now */
	if (e->minute[slot] != m + 1) {
		e->minute[slot] = m + 1;
		e->peak[slot] = 0;
	}
	if (n > e->peak[slot])
		e->peak[slot] = n;
	e->last = m;
	return 0;
}

static void
sweep(struct history *h, uint64_t m)
{
	struct ht_iter it;
	struct ht_node *n = ht_first(h->t, &it);

	while (n != NULL) {
		struct hist_vm *e = HT_ENTRY(n, struct hist_vm, node);

		n = ht_next(&it);   /* before e may go */
		if (m - e->last >= HIST_SLOTS) {
			ht_remove(h->t, &e->node);
			free(e);
		}
	}
}

void
hist_tick(struct history **h, const struct pool *pool, uint64_t now)
{
	uint64_t m = now / HIST_SLOT_MS;

	if (*h == NULL && (*h = hist_new()) == NULL)
		return;
	for (size_t i = 0; i < pool->n; i++)
		(void)hist_note(*h, pool->be[i]->name, pool->be[i]->sessions > 0 ?
		    (unsigned)pool->be[i]->sessions : 0, now);
	if (m != (*h)->swept) {
		(*h)->swept = m;
		sweep(*h, m);
	}
}

bool
hist_series(const struct history *h, const char *vm, uint64_t now,
    int v[HIST_SLOTS])
{
	uint64_t m = now / HIST_SLOT_MS;
	const struct hist_vm *e;

	if (h == NULL || (e = find(h, vm)) == NULL)
		return false;
	for (size_t k = 0; k < HIST_SLOTS; k++) {
		/* minute m - (HIST_SLOTS - 1) + k; none before the clock's start */
		uint64_t want = m + k + 1 >= HIST_SLOTS ? m + k + 1 - HIST_SLOTS : UINT64_MAX;
		size_t slot = (size_t)(want % HIST_SLOTS);

		v[k] = want != UINT64_MAX && e->minute[slot] == want + 1 ?
		    (int)e->peak[slot] : -1;
	}
	return true;
}

/* Append to buf at *o, bounded; the caller checked the room. */
static void
put(char *buf, size_t len, size_t *o, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
put(char *buf, size_t len, size_t *o, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (*o + 1 >= len)
		return;
	va_start(ap, fmt);
	k = vsnprintf(buf + *o, len - *o, fmt, ap);
	va_end(ap);
	if (k > 0)
		*o += (size_t)k < len - *o ? (size_t)k : len - *o - 1;
}

/*
 * 2 px per minute, 24 px high: a polyline per run of minutes with a sample.
 * Coordinates are whole numbers, so the size is bounded: the frame and the
 * title (at most 200 bytes), at most 30 runs of about 70 bytes
 * and 60 points of at most 9: under HIST_SVG_MAX.
 */
size_t
hist_svg(const int *v, size_t n, int ymax, const char *title, char *buf,
    size_t len)
{
	const int w = 2, hgt = 24;
	size_t o = 0;
	bool open = false;

	if (len < HIST_SVG_MAX || n > HIST_SLOTS) {
		if (len > 0)
			buf[0] = '\0';
		return 0;
	}
	buf[0] = '\0';
	if (ymax <= 0)
		for (size_t i = 0; i < n; i++)
			if (v[i] > ymax)
				ymax = v[i];
	if (ymax <= 0)
		ymax = 1;
	put(buf, len, &o, "<svg class=\"hist\" width=\"%d\" height=\"%d\" "
	    "viewBox=\"0 0 %d %d\" role=\"img\" aria-label=\"%.200s\">"
	    "<line x1=\"0\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#ccc\"/>",
	    (int)n * w, hgt, (int)n * w, hgt, title, hgt - 1,
	    (int)n * w, hgt - 1);
	for (size_t i = 0; i < n; i++) {
		int val = v[i] > ymax ? ymax : v[i];

		if (v[i] < 0) {
			if (open)
				put(buf, len, &o, "\"/>");
			open = false;
			continue;
		}
		if (!open)
			put(buf, len, &o, "<polyline fill=\"none\" stroke=\"#2a6fdb\" "
			    "stroke-width=\"1.5\" points=\"");
		put(buf, len, &o, "%s%d,%d", open ? " " : "", (int)i * w + 1,
		    hgt - 1 - val * (hgt - 3) / ymax);
		open = true;
	}
	if (open)
		put(buf, len, &o, "\"/>");
	put(buf, len, &o, "</svg>");
	return o;
}
