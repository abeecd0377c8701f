/*
 * run.h -- run a helper program (nvidia-smi, ssh-keygen) and keep its
 * standard output, bounded in bytes and time. Blocking: the collector
 * thread calls it, never the event loop.
 */
#ifndef POOLGATE_AGENT_RUN_H
#define POOLGATE_AGENT_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum run_status {
	RUN_OK = 0,        /* exited with status 0 */
	RUN_NOTFOUND,      /* no such program (PATH searched) */
	RUN_FAILED,        /* could not start it (see err) */
	RUN_TIMEOUT,       /* killed, with its process group, at the deadline */
	RUN_EXIT,          /* exited non-zero or by a signal */
};

struct run_result {
	enum run_status status;
	int             code;     /* exit status, or the signal for RUN_EXIT */
	char           *out;      /* standard output, NUL-terminated; caller frees */
	size_t          len;
	bool            cut;      /* more than max bytes came; the rest dropped */
	char            err[128];
};

/*
 * Run argv[0] (searched on PATH when it has no '/') with argv, standard
 * input and error on /dev/null, in its own process group, with env as its
 * environment (NULL: the agent's). Waits at most timeout_ms. Returns
 * r->status; r->out is set (possibly "") unless RUN_NOTFOUND or RUN_FAILED.
 */
enum run_status run_capture(const char *const argv[], char *const env[],
    uint64_t timeout_ms, size_t max, struct run_result *r);

void run_result_free(struct run_result *r);

const char *run_status_name(enum run_status s);

#endif
