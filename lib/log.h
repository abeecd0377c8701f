/*
 * log.h -- one line per event, to stderr or syslog, as text or JSON.
 *
 * Text lines are "YYYY-MM-DDTHH:MM:SS.mmmZ LEVEL message"; events that a
 * tool may want to grep (a session's end, state changes, reloads) are
 * written with pg_log_event() as "event key=value ...", and in JSON format
 * as one object per line: {"time":..,"level":..,"event":..,"key":"value"}.
 * Plain messages become {"time":..,"level":..,"msg":..} in JSON.
 *
 * When stderr is the systemd journal (JOURNAL_STREAM names fd 2), text
 * lines start with the syslog priority instead of a timestamp:
 * "<3>ERROR message" -- the journal keeps the priority and its own time.
 * Syslog and JSON output are the same either way.
 */
#ifndef POOLGATE_LOG_H
#define POOLGATE_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum pg_log_level { PG_LOG_ERR = 0, PG_LOG_WARN, PG_LOG_INFO, PG_LOG_DEBUG };

/* Messages above `level` are dropped. Default PG_LOG_INFO. */
void pg_log_set_level(enum pg_log_level level);
/* Set the level and ignore later pg_log_set_level() calls (poolgate -d). */
void pg_log_force_level(enum pg_log_level level);

/*
 * Where and how lines go: syslog (with facility, e.g. LOG_DAEMON) or
 * stderr; JSON or text. Default stderr, text. Also looks again whether
 * stderr is the journal (JOURNAL_STREAM), as on the first line logged.
 */
void pg_log_configure(bool to_syslog, int facility, bool json);

void pg_log(enum pg_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* One field of an event: a string value, or a number when str is NULL. */
struct pg_kv {
	const char *key;
	const char *str;
	long long   num;
};
#define KV_S(k, v) { (k), (v) != NULL ? (v) : "", 0 }
#define KV_N(k, v) { (k), NULL, (long long)(v) }

/*
 * From now on the calling thread's INFO and DEBUG lines wait in a buffer
 * until pg_log_flush(): the daemon flushes after each turn of its loop, so
 * a burst of session lines costs one write() instead of one per line (and
 * one wake-up of the journal). A WARN or ERR line of this thread is
 * written at once, after what waits; other threads write at once as
 * before. Nothing waits at exit() (flushed by atexit). Not with syslog.
 * One thread of the process may call it (the daemon's main thread).
 */
void pg_log_batch(void);
/* Write out the calling thread's waiting lines, if any. */
void pg_log_flush(void);
/* An event with its fields, in the configured format. */
void pg_log_event(enum pg_log_level level, const char *event,
    const struct pg_kv *kv, size_t n);

#define log_err(...)   pg_log(PG_LOG_ERR, __VA_ARGS__)
#define log_warn(...)  pg_log(PG_LOG_WARN, __VA_ARGS__)
#define log_info(...)  pg_log(PG_LOG_INFO, __VA_ARGS__)
#define log_debug(...) pg_log(PG_LOG_DEBUG, __VA_ARGS__)

/* A broken invariant: log and abort. */
void pg_fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2), noreturn));

/* Milliseconds of the monotonic clock: the `now` every pure module takes. */
uint64_t pg_now_ms(void);

/* Milliseconds of the wall clock (UNIX time), for timestamps people read. */
uint64_t pg_wall_ms(void);

/* "2026-11-27T12:34:56.789Z" for a wall-clock time in ms; buf >= 32 bytes. */
void pg_format_time(uint64_t wall_ms, char *buf, size_t len);

#endif
