/*
 * statefile.h -- the affinity table kept across restarts.
 *
 * poolgate writes its affinity table to <state_dir>/affinity.state so that
 * after a restart, a crash or a `kill -9` every returning user goes back to
 * their VM. The file is text:
 *
 *	poolgate-affinity 1
 *	<key> <backend> <expires_wall_ms> <crc>
 *	...
 *	end <count>
 *
 * one record per line, fields separated by one space, lines ended by '\n'.
 * <key> is "ip:" and an IPv4 or IPv6 address, or "user:" and a Unix-style
 * login name, at most AFF_KEY_MAX bytes; <backend> is [A-Za-z0-9_.-]{1,63};
 * <expires_wall_ms> is the expiry in UNIX milliseconds (decimal), because
 * the monotonic clock restarts with the machine; <crc> is the CRC-32 (IEEE,
 * as zlib's crc32) of the line before the space that precedes it, as eight
 * lowercase hex digits. <count> is the number of record lines.
 *
 * Each record carries its own checksum, so a damaged or cut line loses only
 * that record; the "end" line tells a complete file from a truncated one.
 * Loading never fails the start: a missing, empty, truncated or garbage
 * file yields a report of what was kept and what was dropped.
 *
 * sf_serialize() and sf_parse() are pure (no I/O, no clock: the caller
 * passes both clocks); sf_save() and sf_load() add the file handling.
 */
#ifndef POOLGATE_STATEFILE_H
#define POOLGATE_STATEFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "backends/affinity.h"

#define SF_FILE_NAME "affinity.state"
#define SF_HEADER    "poolgate-affinity 1"
#define SF_LINE_MAX  512                     /* bytes in a line, '\n' included */
#define SF_FILE_MAX  ((size_t)256 << 20)     /* bytes read from a file */

/* What sf_parse() / sf_load() found. Every record line is counted once. */
struct sf_report {
	bool   missing;      /* no file: a first start, not an error */
	bool   bad_header;   /* the first line is not a header (records still read) */
	bool   bad_version;  /* a header of another format version: nothing read */
	bool   truncated;    /* no complete "end" line, or its count differs */
	bool   too_large;    /* only the first SF_FILE_MAX bytes were read */
	size_t loaded;       /* records now in the table */
	size_t unknown;      /* records for a VM no longer configured */
	size_t expired;      /* records already expired */
	size_t corrupt;      /* bad syntax or checksum; lines after "end" */
	size_t duplicate;    /* a key seen before (the first one is kept) */
	size_t full;         /* refused by a full table */
};

/*
 * Serialise the live entries of t into a new buffer, NUL-terminated, that
 * the caller frees; *len is its length without the NUL. An entry with
 * sessions (active > 0) is written as expiring at now + aff_ttl(t): after a
 * restart its sessions are gone and the ttl keeps the VM for the user. An
 * idle entry keeps its remaining time. now_mono is the table's clock,
 * now_wall the UNIX time in milliseconds at the same instant. Entries whose
 * key or backend would not load back (see the format above) are left out.
 * Returns the number of records written, or -1 on allocation failure
 * (*buf and *len untouched).
 */
long sf_serialize(const struct aff_table *t, uint64_t now_mono,
    uint64_t now_wall, char **buf, size_t *len);

/*
 * A snapshot of an affinity table for sf_snap_save(), for a daemon that must
 * not stall its event loop on a big table: the loop copies the entries a
 * slice at a time (aff_scan with sf_snap_put; a compact copy, no
 * formatting), and another thread formats and writes the copy. A snapshot
 * belongs to one thread at a time; the hand-over is the caller's.
 *
 * sf_snap_new() returns NULL on allocation failure; sf_snap_free() takes
 * NULL. Before each slice, sf_snap_clock() sets the clocks (as for
 * sf_serialize) and the table's ttl that the entries of the slice are
 * written with. sf_snap_put(e, snap) is aff_scan's callback: it copies e
 * (an entry with sessions as expiring at now_wall + ttl, an idle one with
 * its remaining time). When a copy cannot be allocated the snapshot is
 * failed for good (sf_snap_failed): its save returns -1.
 */
struct sf_snap;
struct sf_snap *sf_snap_new(void);
void            sf_snap_free(struct sf_snap *s);
/*
 * Empty s to copy again from the start, keeping its memory for the new
 * copy: a copy that starts over (the table grew) frees nothing on the loop.
 * Clears the failed mark too.
 */
void            sf_snap_reset(struct sf_snap *s);
void            sf_snap_clock(struct sf_snap *s, uint64_t now_mono,
    uint64_t now_wall, uint64_t ttl);
void            sf_snap_put(const struct aff_entry *e, void *snap);
bool            sf_snap_failed(const struct sf_snap *s);
size_t          sf_snap_count(const struct sf_snap *s);   /* entries copied */

/*
 * The file's text for s, as sf_serialize() makes it for a table (the same
 * records are left out). Returns the number of records, or -1 when s failed
 * or on allocation failure (*buf and *len untouched).
 */
long sf_snap_serialize(const struct sf_snap *s, char **buf, size_t *len);

/* sf_save() of a snapshot: same file, same crash safety, same returns. */
long sf_snap_save(const char *dir, const struct sf_snap *s, char *err,
    size_t errlen);

/*
 * Read the state in buf[0..len) (any bytes; NULs and a missing final '\n'
 * are fine) into t as idle entries (aff_restore). A record's remaining time
 * is its expiry minus now_wall, capped at aff_ttl(t) so that a wall clock
 * that stepped back cannot pin a user to a VM for longer than the ttl; it
 * expires at now_mono plus that. Records already expired at now_wall, and
 * those for which backend_known(name, arg) is false, are dropped;
 * backend_known may be NULL to keep every VM. Keys already live in t are
 * left as they are (counted as duplicate). Fills *rep, which is zeroed
 * first. buf may be NULL only when len is 0.
 */
void sf_parse(const char *buf, size_t len, struct aff_table *t,
    uint64_t now_mono, uint64_t now_wall,
    bool (*backend_known)(const char *name, void *arg), void *arg,
    struct sf_report *rep);

/*
 * Write t to <dir>/affinity.state crash-safely: the records go to
 * <dir>/affinity.state.tmp (created anew, mode 0600), which is fsync'd and
 * renamed over the old file; then the directory is fsync'd. A crash at any
 * point leaves either the old file or the new one. dir must exist. Meant to
 * be called at most once a second while the table changed, and at shutdown.
 * Returns the number of records written, or -1 with a message in err (the
 * temporary file is removed; the old state file is untouched): the caller
 * logs it and tries again later. err may be NULL when errlen is 0.
 */
long sf_save(const char *dir, const struct aff_table *t, uint64_t now_mono,
    uint64_t now_wall, char *err, size_t errlen);

/*
 * Read the state file at path into t (see sf_parse for the arguments).
 * Returns 0 when the file was read, or was missing (rep->missing; a first
 * start). Returns -1 with a message in err when it exists but cannot be
 * read (permissions, I/O error, not a regular file, no memory); *rep then
 * holds what was read, if anything. Neither is a reason not to start: the
 * caller logs err and the report and goes on with what is in t.
 */
int  sf_load(const char *path, struct aff_table *t, uint64_t now_mono,
    uint64_t now_wall,
    bool (*backend_known)(const char *name, void *arg), void *arg,
    struct sf_report *rep, char *err, size_t errlen);

/*
 * One log line's worth of key=value text for rep, such as "loaded=12
 * unknown_vm=1 expired=3 corrupt=0 duplicate=0 full=0 truncated=no", into
 * out (always NUL-terminated when outlen > 0; cut if too small).
 */
void sf_report_format(const struct sf_report *rep, char *out, size_t outlen);

#endif
