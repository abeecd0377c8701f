/*
 * test_agent_gpu.c -- reading nvidia-smi pmon (agent/gpu.c) in the column
 * layouts of several driver versions, and running a fake nvidia-smi put on
 * PATH by the test (agent/run.c): found, absent, failing, too slow, too
 * talkative.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/gpu.h"
#include "agent/run.h"
#include "agent/util.h"

static const char pmon_535[] =
    "# gpu         pid   type     sm    mem    enc    dec    jpg    ofa     fb   command \n"
    "# Idx           #    C/G      %      %      %      %      %      %     MB   name \n"
    "    0      12345     C     45     10      -      -      -      -    500   python \n"
    "    0      12346     C      -      -      -      -      -      -    120   jupyter kernel\n"
    "    1          -     -      -      -      -      -      -      -      -   -              \n";

static const char pmon_old[] =
    "# gpu        pid  type    sm   mem   enc   dec   command\n"
    "# Idx          #   C/G     %     %     %     %   name\n"
    "    0       4242     C    99    40     0     0   train.py\n"
    "    0       junk  line\n";

static void
test_parse(void **state)
{
	struct gpu_sample g;
	char err[128];

	(void)state;
	assert_int_equal(gpu_parse_pmon(pmon_535, strlen(pmon_535), &g, err,
	    sizeof(err)), 0);
	assert_int_equal(g.n, 2);
	assert_int_equal(g.ngpus, 2);
	assert_int_equal(g.p[0].gpu, 0);
	assert_int_equal(g.p[0].pid, 12345);
	assert_int_equal(g.p[0].sm_pct, 45);
	assert_int_equal(g.p[0].mem_pct, 10);
	assert_int_equal(g.p[0].fb_mib, 500);
	assert_string_equal(g.p[0].command, "python");
	assert_int_equal(g.p[1].sm_pct, -1);
	assert_int_equal(g.p[1].fb_mib, 120);
	assert_string_equal(g.p[1].command, "jupyter kernel");

	assert_int_equal(gpu_parse_pmon(pmon_old, strlen(pmon_old), &g, err,
	    sizeof(err)), 0);
	assert_int_equal(g.n, 1);
	assert_int_equal(g.p[0].sm_pct, 99);
	assert_int_equal(g.p[0].fb_mib, -1);    /* no fb column */

	assert_int_equal(gpu_parse_pmon("", 0, &g, err, sizeof(err)), -1);
	assert_int_equal(gpu_parse_pmon("No devices were found\n", 22, &g, err,
	    sizeof(err)), -1);
}

static void
test_cap(void **state)
{
	char *big = malloc(64 * (GPU_PROCS_MAX + 10) + 256);
	struct gpu_sample g;
	char err[128];
	size_t n;
	int i;

	(void)state;
	n = (size_t)sprintf(big, "# gpu pid type sm mem fb command\n");
	for (i = 0; i < GPU_PROCS_MAX + 10; i++)
		n += (size_t)sprintf(big + n, "0 %d C 1 1 1 p\n", 100 + i);
	assert_int_equal(gpu_parse_pmon(big, n, &g, err, sizeof(err)), 0);
	assert_int_equal(g.n, GPU_PROCS_MAX);
	assert_true(g.truncated);
	free(big);
}

static char bin[64];

static void
script(const char *name, const char *body)
{
	char p[128];
	FILE *f;

	snprintf(p, sizeof(p), "%s/%s", bin, name);
	f = fopen(p, "w");
	fprintf(f, "#!/bin/sh\n%s", body);
	fclose(f);
	chmod(p, 0755);
}

static int
setup(void **state)
{
	char path[4096];

	(void)state;
	strcpy(bin, "/tmp/agent-gpu.XXXXXX");
	if (mkdtemp(bin) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s:%s", bin, getenv("PATH"));
	setenv("PATH", path, 1);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", bin);
	return system(cmd) == 0 ? 0 : -1;
}

static void
test_run(void **state)
{
	const char *argv[] = { "nvidia-smi", "pmon", "-c", "1", "-s", "um", NULL };
	const char *absent[] = { "no-such-nvidia-smi-here", NULL };
	struct run_result r;
	struct gpu_sample g;
	char err[128], body[1024];
	uint64_t t0;

	(void)state;
	/* The fake prints pmon_535 when called with exactly pmon's options. */
	snprintf(body, sizeof(body), "[ \"$*\" = \"pmon -c 1 -s um\" ] || exit 9\n"
	    "cat <<'EOF'\n%sEOF\n", pmon_535);
	script("nvidia-smi", body);
	assert_int_equal(run_capture(argv, NULL, 5000, GPU_OUTPUT_MAX, &r), RUN_OK);
	assert_int_equal(gpu_parse_pmon(r.out, r.len, &g, err, sizeof(err)), 0);
	assert_int_equal(g.n, 2);
	run_result_free(&r);

	/* where there is none: skipped silently by the caller */
	assert_int_equal(run_capture(absent, NULL, 5000, 100, &r), RUN_NOTFOUND);
	assert_null(r.out);

	script("nvidia-smi", "echo 'NVIDIA-SMI has failed' ; exit 6\n");
	assert_int_equal(run_capture(argv, NULL, 5000, 100, &r), RUN_EXIT);
	assert_int_equal(r.code, 6);
	run_result_free(&r);

	/* too slow: killed with its children at the deadline */
	script("nvidia-smi", "sleep 30 & sleep 30\n");
	t0 = ag_mono_ms();
	assert_int_equal(run_capture(argv, NULL, 300, 100, &r), RUN_TIMEOUT);
	assert_true(ag_mono_ms() - t0 < 3000);
	run_result_free(&r);

	/* too talkative: cut at the cap, still read to the end */
	script("nvidia-smi", "head -c 100000 /dev/zero | tr '\\0' x\n");
	assert_int_equal(run_capture(argv, NULL, 5000, 1000, &r), RUN_OK);
	assert_int_equal(r.len, 1000);
	assert_true(r.cut);
	run_result_free(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_cap),
		cmocka_unit_test_setup_teardown(test_run, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
