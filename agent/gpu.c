/*
 * gpu.c -- see gpu.h.
 */
#include <stdio.h>
#include <string.h>

#include "agent/gpu.h"
#include "agent/util.h"

enum col { C_OTHER = 0, C_GPU, C_PID, C_SM, C_MEM, C_FB, C_COMMAND };

static bool
is(const char *w, size_t len, const char *lit)
{
	return len == strlen(lit) && memcmp(w, lit, len) == 0;
}

/* A decimal of at most 9 digits, or -1 ("-", or anything else). */
static int64_t
num(const char *w, size_t len)
{
	int64_t v = 0;
	size_t i;

	if (!ag_all_digits(w, len) || len > 9)
		return -1;
	for (i = 0; i < len; i++)
		v = v * 10 + (w[i] - '0');
	return v;
}

int
gpu_parse_pmon(const char *buf, size_t len, struct gpu_sample *out,
    char *err, size_t errlen)
{
	const char *p = buf, *end = buf + len, *nl, *w[GPU_COLS_MAX];
	enum col cols[GPU_COLS_MAX];
	size_t wl[GPU_COLS_MAX], ncols = 0, nw, i;
	struct gpu_proc g;
	bool header = false;
	int64_t gpu, pid, v;

	memset(out, 0, sizeof(*out));
	for (; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		if (*p == '#') {
			nw = ag_words(p + 1, (size_t)(nl - p - 1), w, wl, GPU_COLS_MAX);
			/* The names row has "pid"; the units row under it has not. */
			for (i = 0; i < nw && !is(w[i], wl[i], "pid"); i++)
				;
			if (i == nw)
				continue;
			header = true;
			ncols = nw;
			for (i = 0; i < nw; i++)
				cols[i] = is(w[i], wl[i], "gpu") ? C_GPU :
				    is(w[i], wl[i], "pid") ? C_PID :
				    is(w[i], wl[i], "sm") ? C_SM :
				    is(w[i], wl[i], "mem") ? C_MEM :
				    is(w[i], wl[i], "fb") ? C_FB :
				    is(w[i], wl[i], "command") ? C_COMMAND : C_OTHER;
			continue;
		}
		if (!header)
			continue;
		nw = ag_words(p, (size_t)(nl - p), w, wl, GPU_COLS_MAX);
		if (nw < ncols - (ncols > 0 && cols[ncols - 1] == C_COMMAND))
			continue;
		memset(&g, 0, sizeof(g));
		g.sm_pct = g.mem_pct = -1;
		g.fb_mib = -1;
		gpu = pid = -1;
		for (i = 0; i < ncols && i < nw; i++) {
			v = num(w[i], wl[i]);
			switch (cols[i]) {
			case C_GPU:
				gpu = v;
				break;
			case C_PID:
				pid = v;
				break;
			case C_SM:
				g.sm_pct = v > 100 ? 100 : (int)v;
				break;
			case C_MEM:
				g.mem_pct = v > 100 ? 100 : (int)v;
				break;
			case C_FB:
				g.fb_mib = v;
				break;
			case C_COMMAND:
				/* the last column: the rest of the line */
				ag_copyn(g.command, sizeof(g.command), w[i],
				    (size_t)(nl - w[i]));
				break;
			case C_OTHER:
				break;
			}
		}
		if (gpu < 0 || gpu > 1024)
			continue;
		if ((unsigned)gpu + 1 > out->ngpus)
			out->ngpus = (unsigned)gpu + 1;
		if (pid <= 0 || pid > INT32_MAX)
			continue;       /* "-": a GPU without processes */
		if (out->n == GPU_PROCS_MAX) {
			out->truncated = true;
			continue;
		}
		g.gpu = (int)gpu;
		g.pid = (int)pid;
		/* trailing blanks of the command column */
		for (i = strlen(g.command); i > 0 && (g.command[i - 1] == ' ' ||
		    g.command[i - 1] == '\t' || g.command[i - 1] == '\r'); i--)
			g.command[i - 1] = '\0';
		out->p[out->n++] = g;
	}
	if (!header) {
		ag_errf(err, errlen, "no header with a pid column");
		return -1;
	}
	return 0;
}
