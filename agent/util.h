/*
 * util.h -- small helpers every part of poolgate-agent uses.
 */
#ifndef POOLGATE_AGENT_UTIL_H
#define POOLGATE_AGENT_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Read at most max bytes of the file at path (O_NOFOLLOW not used: /proc
 * and /run are read through their own links). Returns a NUL-terminated
 * copy the caller frees, with its length in *len (may be NULL), or NULL
 * with errno set. A longer file is cut at max bytes; a NUL byte in it is
 * kept (callers parse by length or stop at it).
 */
char *ag_read_text(const char *path, size_t max, size_t *len);

/*
 * snprintf for messages: a message cut at size - 1 bytes is fine (and the
 * compiler need not warn about it).
 */
void  ag_errf(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Copy at most size - 1 bytes of src and terminate (size > 0). */
void  ag_copy(char *dst, size_t size, const char *src);

/* Copy len bytes of src (not terminated) as above. */
void  ag_copyn(char *dst, size_t size, const char *src, size_t len);

/* Monotonic and wall-clock milliseconds (the callers' `now`). */
uint64_t ag_mono_ms(void);
uint64_t ag_wall_ms(void);

/*
 * Days since 1970-01-01 of a proleptic Gregorian date (no time zone, no
 * locale), for the parsers of ISO 8601 and RFC 1123 times. month 1..12.
 */
int64_t ag_days_from_civil(int64_t y, unsigned m, unsigned d);

/*
 * Parse an ISO 8601 time as JupyterHub, Jupyter and ssh-keygen write it
 * ("2026-01-31T12:00:00.123456Z", "+00:00" or "-05:30" offsets, no
 * fraction, or no zone meaning UTC) into wall ms. Returns 0, or -1.
 */
int   ag_parse_iso8601(const char *s, uint64_t *ms);

/* True when s (len bytes) are all decimal digits and len > 0. */
bool  ag_all_digits(const char *s, size_t len);

/*
 * Split line[0..len) at blanks (space, tab) into at most max words: w[i]
 * points into line (not NUL-terminated), wl[i] is its length. Returns the
 * number of words; words past max are left unread.
 */
size_t ag_words(const char *line, size_t len, const char **w, size_t *wl,
    size_t max);

#endif
