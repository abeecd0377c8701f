/*
 * log.c -- see log.h.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "lib/json.h"
#include "lib/log.h"

#define LOG_LINE_MAX 4096

/* Read by relay threads too (log.h): set and read atomically. */
static enum pg_log_level log_level = PG_LOG_INFO;
static bool log_level_forced;   /* -d on the command line beats the file */
static bool log_syslog, log_json;
/* stderr is the journal: 0 not yet known, 1 no, 2 yes (see to_journal). */
static int log_journal;

static const char *const level_names[] = { "ERROR", "WARN", "INFO", "DEBUG" };
static const char *const level_json[] = { "error", "warn", "info", "debug" };
static const int level_prio[] = { LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };

void
pg_log_set_level(enum pg_log_level level)
{
	if (!log_level_forced)
		__atomic_store_n(&log_level, level, __ATOMIC_RELAXED);
}

void
pg_log_force_level(enum pg_log_level level)
{
	__atomic_store_n(&log_level, level, __ATOMIC_RELAXED);
	log_level_forced = true;
}

void
pg_log_configure(bool to_syslog, int facility, bool json)
{
	if (to_syslog && !log_syslog)
		openlog("poolgate", LOG_PID | LOG_NDELAY, facility);
	else if (!to_syslog && log_syslog)
		closelog();
	log_syslog = to_syslog;
	log_json = json;
	__atomic_store_n(&log_journal, 0, __ATOMIC_RELAXED);
}

/*
 * systemd connects stderr to the journal and says so in JOURNAL_STREAM
 * ("DEVICE:INODE" of that stream). Only when fd 2 is still that stream:
 * a child of a service inherits the variable with stderr sent elsewhere.
 * Worked out once; threads that race here compute the same answer.
 */
static bool
to_journal(void)
{
	int j = __atomic_load_n(&log_journal, __ATOMIC_RELAXED);
	const char *js;
	unsigned long long dev, ino;
	struct stat st;
	char tail;

	if (j == 0) {
		js = getenv("JOURNAL_STREAM");
		j = 1;
		if (js != NULL &&
		    sscanf(js, "%llu:%llu%c", &dev, &ino, &tail) == 2 &&
		    fstat(STDERR_FILENO, &st) == 0 &&
		    (unsigned long long)st.st_dev == dev &&
		    (unsigned long long)st.st_ino == ino)
			j = 2;
		__atomic_store_n(&log_journal, j, __ATOMIC_RELAXED);
	}
	return j == 2;
}

uint64_t
pg_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/*
 * The seconds part of the last time formatted by this thread: every line
 * logged in the same second reuses it (gmtime_r and strftime cost more
 * than the rest of a session line). Per thread: relay threads log too.
 */
static _Thread_local struct {
	int64_t sec;
	bool    set;
	char    text[20];   /* "YYYY-MM-DDTHH:MM:SS" */
} stamp_cache;

void
pg_format_time(uint64_t wall_ms, char *buf, size_t len)
{
	time_t sec = (time_t)(wall_ms / 1000);
	unsigned ms = (unsigned)(wall_ms % 1000);
	char out[32];
	struct tm tm;

	if (!stamp_cache.set || stamp_cache.sec != (int64_t)sec) {
		if (gmtime_r(&sec, &tm) == NULL)   /* a year past INT_MAX */
			memset(&tm, 0, sizeof(tm));
		if (strftime(stamp_cache.text, sizeof(stamp_cache.text),
		    "%Y-%m-%dT%H:%M:%S", &tm) != 19) {
			/* a year past 9999 or before 0: no cache, the long way */
			stamp_cache.set = false;
			snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ",
			    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
			    tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
			return;
		}
		stamp_cache.sec = (int64_t)sec;
		stamp_cache.set = true;
	}
	memcpy(out, stamp_cache.text, 19);
	out[19] = '.';
	out[20] = (char)('0' + ms / 100);
	out[21] = (char)('0' + ms / 10 % 10);
	out[22] = (char)('0' + ms % 10);
	out[23] = 'Z';
	out[24] = '\0';
	if (len == 0)
		return;
	if (len > 25)
		len = 25;
	memcpy(buf, out, len - 1);
	buf[len - 1] = '\0';
}

/*
 * Bounded appends for a line of cap bytes (the terminating NUL included):
 * they write what fits, keep the line terminated, and return the new end,
 * which never passes cap - 1. For the session lines logged on every
 * connection, in place of a snprintf per field.
 */
static size_t
put_mem(char *buf, size_t at, size_t cap, const char *s, size_t n)
{
	if (at + 1 >= cap)
		return at;
	if (n > cap - 1 - at)
		n = cap - 1 - at;
	memcpy(buf + at, s, n);
	at += n;
	buf[at] = '\0';
	return at;
}

static size_t
put_str(char *buf, size_t at, size_t cap, const char *s)
{
	return put_mem(buf, at, cap, s, strlen(s));
}

static size_t
put_num(char *buf, size_t at, size_t cap, long long v)
{
	char d[24];
	size_t i = sizeof(d);
	unsigned long long u = v < 0 ? 0ull - (unsigned long long)v :
	    (unsigned long long)v;

	do {
		d[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		d[--i] = '-';
	return put_mem(buf, at, cap, d + i, sizeof(d) - i);
}

/* Append s to buf as a JSON string (quotes included), bounded. */
static size_t
json_put(char *buf, size_t at, size_t cap, const char *s)
{
	struct json_fbuf fb = { 0 };
	char cut[LOG_LINE_MAX];
	size_t n;

	if (at + 2 >= cap)
		return at;
	/* The one JSON string writer: invalid UTF-8 becomes U+FFFD. */
	fb.buf = buf + at;
	fb.cap = cap - at;
	if (json_write_str(json_fbuf_put, &fb, s) == 0)
		return at + fb.len;
	/*
	 * Too long for the line: a prefix that fits even if every byte needs
	 * six (\uXXXX), so the line stays valid JSON.
	 */
	n = (cap - at - 2) / 6;
	if (n >= sizeof(cut))
		n = sizeof(cut) - 1;
	n = strnlen(s, n);
	memcpy(cut, s, n);
	cut[n] = '\0';
	memset(&fb, 0, sizeof(fb));
	fb.buf = buf + at;
	fb.cap = cap - at;
	if (json_write_str(json_fbuf_put, &fb, cut) == 0)
		return at + fb.len;
	buf[at] = '\0';
	return at;
}

/*
 * pg_log_batch(): the batching thread's waiting lines. Only that thread
 * touches them (log_batch is per thread), so they need no lock.
 */
#define LOG_BATCH_MAX (16 * 1024)
static _Thread_local bool log_batch;
static char log_held[LOG_BATCH_MAX];
static size_t log_nheld;

void
pg_log_flush(void)
{
	if (!log_batch || log_nheld == 0)
		return;
	/* stderr is unbuffered: one write() for the whole batch */
	fwrite(log_held, 1, log_nheld, stderr);
	log_nheld = 0;
}

static void
log_flush_at_exit(void)
{
	pg_log_flush();
}

void
pg_log_batch(void)
{
	if (log_batch)
		return;
	log_batch = true;
	atexit(log_flush_at_exit);
}

/* Write one finished line (without its newline) where the logs go. */
static void
emit(enum pg_log_level level, const char *line)
{
	size_t n;

	if (log_syslog) {
		syslog(level_prio[level], "%s", line);
		return;
	}
	if (log_batch) {
		n = strlen(line);
		if (level >= PG_LOG_INFO && n + 1 <= LOG_BATCH_MAX) {
			if (log_nheld + n + 1 > LOG_BATCH_MAX)
				pg_log_flush();
			memcpy(log_held + log_nheld, line, n);
			log_held[log_nheld + n] = '\n';
			log_nheld += n + 1;
			return;
		}
		pg_log_flush();   /* what waits goes first */
	}
	/* One fprintf per line so concurrent writers never interleave a line. */
	fprintf(stderr, "%s\n", line);
}

/* The start of a line: timestamp and level (text), or the JSON opening. */
static size_t
line_start(enum pg_log_level level, char *buf, size_t cap)
{
	char stamp[32];
	size_t at = 0;

	if (log_json) {
		pg_format_time(pg_wall_ms(), stamp, sizeof(stamp));
		at = put_str(buf, at, cap, "{\"time\":\"");
		at = put_str(buf, at, cap, stamp);
		at = put_str(buf, at, cap, "\",\"level\":\"");
		at = put_str(buf, at, cap, level_json[level]);
		return put_mem(buf, at, cap, "\"", 1);
	}
	/*
	 * Syslog stamps lines itself. The journal does too, and reads a
	 * leading "<N>" as the line's syslog priority (sd-daemon(3)), so
	 * `journalctl -p err` works.
	 */
	if (!log_syslog) {
		if (to_journal()) {
			at = put_mem(buf, at, cap, "<", 1);
			at = put_num(buf, at, cap, level_prio[level]);
			at = put_mem(buf, at, cap, ">", 1);
		} else {
			pg_format_time(pg_wall_ms(), stamp, sizeof(stamp));
			at = put_str(buf, at, cap, stamp);
			at = put_mem(buf, at, cap, " ", 1);
		}
	}
	at = put_str(buf, at, cap, level_names[level]);
	return put_mem(buf, at, cap, " ", 1);
}

static void __attribute__((format(printf, 2, 0)))
vlog(enum pg_log_level level, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX], msg[LOG_LINE_MAX - 128];
	size_t at;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	at = line_start(level, line, sizeof(line));
	if (log_json) {
		at += (size_t)snprintf(line + at, sizeof(line) - at, ",\"msg\":");
		at = json_put(line, at, sizeof(line) - 2, msg);
		line[at++] = '}';
		line[at] = '\0';
	} else
		snprintf(line + at, sizeof(line) - at, "%s", msg);
	emit(level, line);
}

void
pg_log(enum pg_log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level > __atomic_load_n(&log_level, __ATOMIC_RELAXED))
		return;
	va_start(ap, fmt);
	vlog(level, fmt, ap);
	va_end(ap);
}

void
pg_log_event(enum pg_log_level level, const char *event,
    const struct pg_kv *kv, size_t n)
{
	char line[LOG_LINE_MAX];
	size_t at, cap = sizeof(line) - 2;

	if (level > __atomic_load_n(&log_level, __ATOMIC_RELAXED))
		return;
	at = line_start(level, line, sizeof(line));
	if (log_json) {
		at = put_str(line, at, cap, ",\"event\":");
		at = json_put(line, at, cap, event);
		for (size_t i = 0; i < n && at + 1 < cap; i++) {
			at = put_mem(line, at, cap, ",", 1);
			at = json_put(line, at, cap, kv[i].key);
			at = put_mem(line, at, cap, ":", 1);
			if (kv[i].str != NULL)
				at = json_put(line, at, cap, kv[i].str);
			else
				at = put_num(line, at, cap, kv[i].num);
		}
		if (at > cap)
			at = cap;
		line[at++] = '}';
		line[at] = '\0';
	} else {
		/* Values with spaces are quoted so key=value stays greppable. */
		at = put_str(line, at, cap, event);
		for (size_t i = 0; i < n && at + 1 < cap; i++) {
			at = put_mem(line, at, cap, " ", 1);
			at = put_str(line, at, cap, kv[i].key);
			at = put_mem(line, at, cap, "=", 1);
			if (kv[i].str == NULL)
				at = put_num(line, at, cap, kv[i].num);
			else if (kv[i].str[0] == '\0' || strpbrk(kv[i].str, " \"=")) {
				at = put_mem(line, at, cap, "\"", 1);
				at = put_str(line, at, cap, kv[i].str);
				at = put_mem(line, at, cap, "\"", 1);
			} else
				at = put_str(line, at, cap, kv[i].str);
		}
	}
	emit(level, line);
}

void
pg_fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(PG_LOG_ERR, fmt, ap);
	va_end(ap);
	abort();
}

uint64_t
pg_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
