/*
 * history.h -- the status page's memory of the last hour: per VM, the most
 * sessions it held in each minute, and a small inline SVG chart of them.
 * Kept in memory only (a restart starts an empty hour), capped at
 * HIST_MAX_VMS VMs; a VM without a sample for an hour is forgotten. Pure:
 * the caller passes `now` (pg_now_ms()). Main thread only.
 */
#ifndef POOLGATE_HISTORY_H
#define POOLGATE_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backends/backend.h"

#define HIST_SLOTS    60        /* minutes shown */
#define HIST_SLOT_MS  60000
#define HIST_MAX_VMS  4096
#define HIST_SVG_MAX  4096      /* bytes of one chart, at most */

struct history;

/* A new, empty history, or NULL out of memory. Freed with hist_free(). */
struct history *hist_new(void);
void            hist_free(struct history *h);   /* NULL is ignored */

/*
 * vm held n sessions at now: its minute keeps the highest count noted in
 * it. Returns 0, or -1 when the VM could not be added (HIST_MAX_VMS VMs
 * known already, or out of memory).
 */
int  hist_note(struct history *h, const char *vm, unsigned n, uint64_t now);

/*
 * Once a second from the daemon: note every VM of pool, and once a minute
 * forget the VMs without a sample for HIST_SLOTS minutes. Makes *h on first
 * use (left NULL when out of memory: nothing is kept).
 */
void hist_tick(struct history **h, const struct pool *pool, uint64_t now);

/*
 * The last HIST_SLOTS minutes of vm up to now, oldest first, into v: the
 * count of each minute, -1 for a minute without a sample. Returns false (v
 * untouched) when vm has no history. h may be NULL.
 */
bool hist_series(const struct history *h, const char *vm, uint64_t now,
    int v[HIST_SLOTS]);

/*
 * An inline SVG chart (no script, no style attribute, no external
 * reference) of the n values of v on a scale of 0 to ymax (the highest
 * value when ymax <= 0), a line broken where a value is -1, into buf
 * (always terminated; "" when len < HIST_SVG_MAX). `title` (escaped for
 * HTML by the caller) becomes its aria-label; no text inside the chart, so
 * the text of the element around it stays its own. Returns the length.
 */
size_t hist_svg(const int *v, size_t n, int ymax, const char *title, char *buf,
    size_t len);

#endif
