/*
 * events.h -- the status page's "recent events": a bounded ring of short
 * texts with their wall-clock time (pure: no I/O, the time is given).
 *
 * Holds the newest EVR_MAX events; each new one past that replaces the
 * oldest. Texts are cut at EVR_TEXT - 1 bytes and their control
 * characters become '?', so an event is always one line.
 */
#ifndef POOLGATE_EVENTS_H
#define POOLGATE_EVENTS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define EVR_MAX  100   /* events kept */
#define EVR_TEXT 240   /* bytes of one text, NUL included */

struct evr_entry {
	uint64_t wall_ms;            /* UNIX time in ms */
	char     text[EVR_TEXT];
};

/* Zero it to start empty. */
struct evr_ring {
	struct evr_entry e[EVR_MAX];
	size_t           next;       /* slot of the next event */
	size_t           n;          /* events held, <= EVR_MAX */
};

/* Record one event at wall_ms, its text formatted from fmt and ap. */
void evr_addv(struct evr_ring *r, uint64_t wall_ms, const char *fmt,
    va_list ap) __attribute__((format(printf, 3, 0)));

/* The number of events held (at most EVR_MAX). */
size_t evr_count(const struct evr_ring *r);

/*
 * Event k, newest first (k = 0 is the last recorded), for k below
 * evr_count(); NULL past that. Borrowed: the next evr_addv() may reuse it.
 */
const struct evr_entry *evr_at(const struct evr_ring *r, size_t k);

#endif
