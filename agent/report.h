/*
 * report.h -- the JSON report served at GET /v1/report (version 1; every
 * field is documented in poolgate-agent(8)). Strings go through
 * json_write_str() of lib/json.h, the project's one string writer, so the
 * report is valid JSON and valid UTF-8 whatever a user name, a terminal or a
 * JupyterHub answer held.
 */
#ifndef POOLGATE_AGENT_REPORT_H
#define POOLGATE_AGENT_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/decide.h"
#include "agent/gpu.h"
#include "agent/sched.h"
#include "agent/sessions.h"
#include "agent/sshid.h"

#define RP_VERSION 1

/* A section's state in the report. */
enum rp_state { RP_OFF = 0, RP_OK, RP_ABSENT, RP_ERROR };

struct rp_input {
	uint64_t                 wall_ms;       /* when collected */
	uint64_t                 interval_ms;   /* since the previous collection */
	const char              *host;
	int                      load_pct;      /* -1 unknown */
	bool                     drain;
	const char              *drain_reason;
	const struct dc_view    *view;
	const struct dc_memory  *mem;
	const struct ag_session *sess;
	size_t                   nsess;
	const char              *sess_source;   /* "logind", "utmp" */
	const char              *sess_error;    /* NULL */
	bool                     sess_truncated;
	size_t                   peers_denied;
	size_t                   nprocs;
	bool                     procs_truncated;
	const char              *procs_error;
	enum rp_state            hub_state;
	const char              *hub_error;
	size_t                   hub_users;
	enum rp_state            gpu_state;
	const struct gpu_sample *gpu;
	const char              *gpu_error;
	enum rp_state            ssh_state;
	const struct sid_key    *keys;
	size_t                   nkeys;
	const char              *ssh_ca_fp;     /* "" unknown */
	const char              *ssh_principal; /* "" unset */
	const char              *ssh_error;
	enum rp_state            azure_state;
	const char              *azure_vm_name; /* "" unknown */
	const struct se_doc     *events;        /* NULL before the first answer */
	const char              *azure_error;
	size_t                   max_report;    /* bytes */
};

/*
 * Write the report. Returns a NUL-terminated JSON text the caller frees,
 * with its length in *len, or NULL when out of memory. Past max_report,
 * the sessions and then the users are left out from the end until it fits
 * ("limits": {"report_truncated": true}).
 */
char *rp_write(const struct rp_input *in, size_t *len);

#endif
