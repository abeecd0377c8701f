/*
 * fuzz_agent_gpu.c -- nvidia-smi pmon's output as poolgate-agent reads it
 * (agent/gpu.c): every process kept has a pid, a GPU index within ngpus,
 * percentages of at most 100 and a terminated command.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/gpu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct gpu_sample g;
	char err[128];
	size_t i;

	if (gpu_parse_pmon((const char *)data, size, &g, err, sizeof(err)) == -1) {
		CHECK(strlen(err) > 0);
		return 0;
	}
	CHECK(g.n <= GPU_PROCS_MAX);
	for (i = 0; i < g.n; i++) {
		CHECK(g.p[i].pid > 0);
		CHECK(g.p[i].gpu >= 0 && (unsigned)g.p[i].gpu < g.ngpus);
		CHECK(g.p[i].sm_pct >= -1 && g.p[i].sm_pct <= 100);
		CHECK(g.p[i].mem_pct >= -1 && g.p[i].mem_pct <= 100);
		CHECK(g.p[i].fb_mib >= -1);
		CHECK(memchr(g.p[i].command, '\0', sizeof(g.p[i].command)) != NULL);
	}
	return 0;
}
