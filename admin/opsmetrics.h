/*
 * opsmetrics.h -- the metrics an operator expects of any daemon, after the
 * pool's own (metrics.c): poolgate_build_info, the process_* set of the
 * Prometheus client libraries (CPU, memory, descriptors, start time), the
 * time of the last successful configuration load, HTTP responses by status
 * class, and histograms of the time to connect to a VM and of how long
 * sessions last. docs/metrics.md lists them.
 */
#ifndef POOLGATE_OPSMETRICS_H
#define POOLGATE_OPSMETRICS_H

#include <stdint.h>

#include <event2/buffer.h>

#include "admin/admin.h"

/*
 * Append them to out in the text format 0.0.4. now is pg_now_ms(), wall
 * pg_wall_ms(): the process start time is worked out from a->started_ms.
 */
void opsmetrics_write(struct evbuffer *out, const struct adm_ctx *a,
    uint64_t now, uint64_t wall);

#endif
