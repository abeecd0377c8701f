/*
 * procs.h -- the processes collector: who runs what under proc_root, and
 * how much CPU each process used since the previous scan.
 *
 * The scan reads proc_root/<pid>/stat and proc_root/<pid>/status (both
 * readable by any user unless /proc is mounted hidepid), so the agent needs
 * no privilege for it. Tests point proc_root at a fake tree.
 */
#ifndef POOLGATE_AGENT_PROCS_H
#define POOLGATE_AGENT_PROCS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PS_COMM_MAX   16      /* the kernel's TASK_COMM_LEN, NUL included */
#define PS_STAT_MAX   4096    /* bytes read of a stat file */
#define PS_STATUS_MAX 16384   /* bytes read of a status file */

struct ps_proc {
	int      pid;
	int      ppid;
	uint32_t uid;                 /* real uid (status "Uid:" first field) */
	char     comm[PS_COMM_MAX];   /* stat's comm, parentheses removed */
	char     state;               /* 'R', 'S', 'Z', ... */
	uint64_t ticks;               /* utime + stime, clock ticks */
	uint64_t start;               /* starttime, clock ticks after boot */
	/* filled by ps_account(): */
	bool     cpu_known;           /* false on the first scan */
	uint64_t cpu_ms;              /* CPU used since the previous scan */
	uint64_t last_cpu_ms;         /* monotonic ms when it last used CPU
	                                 (or was first seen) */
};

/*
 * Pure. Parse the text of /proc/<pid>/stat (len bytes) into pid, comm,
 * state, ppid, ticks and start. The comm is between the first '(' and the
 * last ')', so a name with spaces or parentheses is read whole. Returns 0,
 * or -1 when the text is not a stat line.
 */
int  ps_parse_stat(const char *buf, size_t len, struct ps_proc *out);

/*
 * Pure. The real uid from the text of /proc/<pid>/status (the first number
 * of its "Uid:" line). Returns 0, or -1 when there is no such line.
 */
int  ps_parse_status_uid(const char *buf, size_t len, uint32_t *uid);

/*
 * Scan proc_root: every entry whose name is a number, at most max of them
 * (*truncated tells whether there were more). A process that vanishes
 * during the scan is skipped. Returns an array sorted by pid that the
 * caller frees, with its length in *n (possibly 0), or NULL with a message
 * in err when proc_root cannot be read.
 */
struct ps_proc *ps_scan(const char *proc_root, size_t max, size_t *n,
    bool *truncated, char *err, size_t errlen);

/* What the collector remembers of the previous scan. */
struct ps_memory {
	struct ps_sample *v;   /* sorted by pid */
	size_t            n;
	bool              have;  /* a scan was accounted already */
};

/*
 * Fill the accounting fields of p[0..n) (sorted by pid) from mem, then
 * replace mem with this scan. A pid seen before with the same start time
 * used ticks - previous ticks; a new pid used all its ticks (it started
 * since the last scan); on the first scan nothing is known (cpu_known
 * false). clk_tck: ticks per second (sysconf(_SC_CLK_TCK)), now: monotonic
 * ms. Returns 0, or -1 when out of memory (mem is then left as it was and
 * the fields say nothing is known).
 */
int  ps_account(struct ps_memory *mem, struct ps_proc *p, size_t n,
    uint64_t now, long clk_tck);

void ps_memory_free(struct ps_memory *mem);

/* The process pid in p[0..n) (sorted), or NULL. */
const struct ps_proc *ps_find(const struct ps_proc *p, size_t n, int pid);

#endif
