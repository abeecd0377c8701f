/*
 * load.h -- the figures of the agent-check line: the load percent and the
 * drain file, exactly as deploy/agent/poolgate-agent (the shell agent this
 * program replaces) computed them.
 */
#ifndef POOLGATE_AGENT_LOAD_H
#define POOLGATE_AGENT_LOAD_H

#include <stdbool.h>
#include <stddef.h>

#define LD_FILE_MAX   65536   /* bytes read of loadavg and meminfo */
#define LD_REASON_MAX 100     /* bytes of the drain reason */

/*
 * Pure. How much of its weight this VM should get, 1..100: the lower of the
 * idle CPU share (100 - load1 * 100 / ncpu) and the available memory share
 * (MemAvailable * 100 / MemTotal, when meminfo has both), truncated and
 * clamped. loadavg and meminfo are the files' texts (NUL-terminated;
 * meminfo may be NULL); ncpu < 1 counts as 1. Returns -1 when loadavg does
 * not start with a number.
 */
int  ld_percent(const char *loadavg, const char *meminfo, int ncpu);

/* ld_percent() of proc_root/loadavg and proc_root/meminfo; -1 unreadable. */
int  ld_read_percent(const char *proc_root, int ncpu);

/*
 * Whether the drain file exists (stat(2) succeeds, as the shell's -e). When
 * it does, reason (at least LD_REASON_MAX + 1 bytes) gets its first line,
 * tabs as spaces, printable ASCII only, at most LD_REASON_MAX bytes, or
 * "drain file PATH" when that leaves nothing; otherwise "".
 */
bool ld_drain(const char *path, char *reason, size_t size);

#endif
