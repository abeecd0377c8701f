/*
 * gpu.h -- reading `nvidia-smi pmon -c 1 -s um` (pure parser).
 *
 * pmon prints one sample per process on a GPU, under a header that names
 * the columns; their set and order change between driver versions, so the
 * columns are found by name ("gpu", "pid", "type", "sm", "mem", "fb",
 * "command") and the rest ignored:
 *
 *   # gpu         pid   type     sm    mem    enc    dec     fb   command
 *   # Idx           #    C/G      %      %      %      %     MB   name
 *       0       12345     C      45     10      -      -    500   python
 *       1           -     -       -      -      -      -      -   -
 *
 * A row whose pid is "-" is a GPU without processes; a value "-" is unknown.
 */
#ifndef POOLGATE_AGENT_GPU_H
#define POOLGATE_AGENT_GPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GPU_PROCS_MAX   256
#define GPU_OUTPUT_MAX  (256u * 1024)
#define GPU_COLS_MAX    24

struct gpu_proc {
	int     gpu;          /* index */
	int     pid;
	int     sm_pct;       /* streaming multiprocessor use, -1 unknown */
	int     mem_pct;      /* memory bandwidth use, -1 unknown */
	int64_t fb_mib;       /* frame buffer memory, -1 unknown */
	char    command[32];
};

struct gpu_sample {
	struct gpu_proc p[GPU_PROCS_MAX];
	size_t          n;
	bool            truncated;
	unsigned        ngpus;       /* 1 + the highest index seen, any row */
};

/*
 * Parse pmon's output (len bytes) into *out. Returns 0, or -1 with a
 * message in err when there is no header with a "pid" column. Rows that do
 * not parse are skipped.
 */
int gpu_parse_pmon(const char *buf, size_t len, struct gpu_sample *out,
    char *err, size_t errlen);

#endif
