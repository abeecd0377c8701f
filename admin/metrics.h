/*
 * metrics.h -- GET /metrics: the Prometheus text format (version 0.0.4).
 *
 * Every metric is one row of a table in metrics.c -- name, type, help, what
 * it is counted over (the whole process, each VM, each service, each VM and
 * service) with at most one more label, and a getter -- walked by one loop.
 * docs/metrics.md lists them (tests/unit/test_metrics_doc.sh checks it).
 */
#ifndef POOLGATE_METRICS_H
#define POOLGATE_METRICS_H

#include <stdint.h>

#include <event2/buffer.h>

#include "admin/admin.h"

/*
 * Append every metric of a (borrowed, read only) to out: "# HELP" and
 * "# TYPE" lines, then one sample per line. Label values that come from
 * outside (VM and service names) have \ " and newline escaped. now is
 * pg_now_ms() (live Jupyter users are counted against it).
 */
void metrics_write(struct evbuffer *out, const struct adm_ctx *a,
    uint64_t now);

#endif
