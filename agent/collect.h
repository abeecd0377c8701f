/*
 * collect.h -- the collector: one thread that, every `interval`, reads the
 * sessions, the processes, JupyterHub, nvidia-smi, the SSH host keys and
 * Azure Scheduled Events, decides (decide.h), acts (notices, approvals) and
 * writes the report. Everything it waits on (helpers, HTTP) is bounded by
 * its own timeouts, and the event loop never waits on it: the loop only
 * copies the last report and the pending-event flag under a mutex.
 */
#ifndef POOLGATE_AGENT_COLLECT_H
#define POOLGATE_AGENT_COLLECT_H

#include <stdbool.h>
#include <stddef.h>

#include "agent/conf.h"

struct col;

/*
 * A collector working with cfg (transferred: col frees it). Returns NULL
 * when out of memory.
 */
struct col *col_new(struct acf *cfg);

/* Start the thread (the first collection begins at once). 0 or -1. */
int   col_start(struct col *c);

/*
 * Stop the thread (waiting for the collection in progress, which its
 * timeouts bound) and free everything. c may be NULL.
 */
void  col_free(struct col *c);

/* Use cfg (transferred) from the next collection on. */
void  col_set_config(struct col *c, struct acf *cfg);

/* Run one collection on the calling thread (tests, and the thread's loop). */
void  col_cycle(struct col *c);

/*
 * A copy of the last report (the caller frees it) with its length, or NULL
 * when none was written yet or out of memory.
 */
char *col_report(struct col *c, size_t *len);

/*
 * Whether an Azure event for this VM is pending and azure.drain is on; then
 * reason gets "azure Terminate not before 2026-...Z".
 */
bool  col_event_drain(struct col *c, char *reason, size_t size);

#endif
