/*
 * log.h -- logging to stderr, one line per event.
 *
 * Lines are "YYYY-MM-DDTHH:MM:SS.mmmZ LEVEL message". Messages are built with
 * key=value pairs where a tool may want to grep them (session end, state
 * changes, reloads).
 */
#ifndef POOLGATE_LOG_H
#define POOLGATE_LOG_H

#include <stdint.h>

enum pg_log_level { PG_LOG_ERR = 0, PG_LOG_WARN, PG_LOG_INFO, PG_LOG_DEBUG };

/* Messages above `level` are dropped. Default PG_LOG_INFO. */
void pg_log_set_level(enum pg_log_level level);

void pg_log(enum pg_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_err(...)   pg_log(PG_LOG_ERR, __VA_ARGS__)
#define log_warn(...)  pg_log(PG_LOG_WARN, __VA_ARGS__)
#define log_info(...)  pg_log(PG_LOG_INFO, __VA_ARGS__)
#define log_debug(...) pg_log(PG_LOG_DEBUG, __VA_ARGS__)

/* A broken invariant: log and abort. */
void pg_fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/* Milliseconds of the monotonic clock: the `now` every pure module takes. */
uint64_t pg_now_ms(void);

#endif
