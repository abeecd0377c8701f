/*
 * decide.h -- who has work on this VM, who is stale, whether the VM is
 * idle, when to notify and when to approve an Azure Terminate (pure: plain
 * structs in, plain structs out, the clock passed in).
 *
 * A user has work while:
 *   - they have a login session (logind or utmp; any uid), or
 *   - they run a process with uid >= min_uid that is not a zombie and whose
 *     name (the kernel's comm) is not on the ignore list, or
 *   - one of their Jupyter kernels is busy.
 * With stale_after set (0 = off), a user none of whose things moved for
 * stale_after -- no CPU used by any of their counted processes, no input on
 * their terminals, no Jupyter activity, no busy kernel -- is stale: the
 * agent notifies them once (notify_stale) and their sessions and processes
 * stop counting as work stale_notice after that notice. Anything of theirs
 * moving again clears it.
 *
 * The VM is idle when no user has work and nothing was left unseen (users
 * or processes over their caps count as work).
 */
#ifndef POOLGATE_AGENT_DECIDE_H
#define POOLGATE_AGENT_DECIDE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/gpu.h"
#include "agent/jhub.h"
#include "agent/procs.h"
#include "agent/sched.h"
#include "agent/sessions.h"

/* Why a user has work (dc_user.work). */
#define DC_WORK_SESSION  0x1
#define DC_WORK_PROCS    0x2
#define DC_WORK_KERNEL   0x4
#define DC_WORK_NOTICE   0x8   /* stale, but the notice period runs */

#define DC_IGNORE_MAX    32

struct dc_clock {
	uint64_t mono_ms;
	uint64_t wall_ms;
};

/* Resolve a uid to a name (false when unknown). */
typedef bool dc_name_fn(void *arg, uint32_t uid, char *name, size_t size);

struct dc_input {
	struct dc_clock          now;
	const struct ag_session *sess;
	size_t                   nsess;
	const struct ps_proc    *procs;     /* sorted by pid, accounted */
	size_t                   nprocs;
	bool                     procs_truncated;
	const struct jh_user    *jh;        /* NULL when not asked */
	size_t                   njh;
	const struct gpu_sample *gpu;       /* NULL when none */
	uint32_t                 min_uid;
	const char *const       *ignore;    /* process names (comm) */
	size_t                   nignore;
	uint64_t                 stale_after_ms;   /* 0: off */
	uint64_t                 stale_notice_ms;
	size_t                   max_users;
	dc_name_fn              *uid_name;
	void                    *uid_arg;
};

struct dc_user {
	char                  name[AG_NAME_MAX + 1]; /* "#1234" for an unknown uid */
	int64_t               uid;          /* -1 unknown */
	unsigned              nsessions;
	unsigned              procs;        /* counted (uid, not ignored, live) */
	unsigned              procs_ignored;
	unsigned              procs_stale;  /* of procs, idle for stale_after */
	uint64_t              cpu_ms;       /* of procs, since the last scan */
	bool                  cpu_known;
	const struct jh_user *jh;           /* borrowed from the input */
	unsigned              gpu_procs;
	int                   gpu_sm_pct;   /* sum over their GPU processes */
	int64_t               gpu_fb_mib;
	uint64_t              last_active_ms;   /* wall; 0 unknown */
	unsigned              work;         /* DC_WORK_* */
	bool                  stale;
	uint64_t              notice_ms;    /* wall time of the stale notice; 0 */
	bool                  notify_stale; /* notify now (the caller does) */
};

struct dc_view {
	struct dc_user *u;          /* sorted by name; owned, dc_view_free() */
	size_t          n;
	bool            users_truncated;
	bool            has_work;
	unsigned        with_work;  /* users with work */
	uint64_t        last_activity_ms;   /* wall: the latest any user did */
};

/* What the decisions remember from one cycle to the next. */
struct dc_memory {
	struct dc_mem_user *users;  /* sorted by name */
	size_t              n;
	uint64_t            last_activity_ms;   /* wall */
	uint64_t            started_ms;         /* wall: the agent's start */
	struct dc_mem_event {
		char     id[SE_ID_MAX + 1];
		bool     notified;
		bool     approved;
	} events[SE_EVENTS_MAX * 2];
	size_t              nevents;
};

void dc_memory_init(struct dc_memory *m, uint64_t wall_ms);
void dc_memory_free(struct dc_memory *m);

/*
 * Build the per-user view of one cycle and update mem. Returns 0, or -1
 * when out of memory (out is then empty and says has_work, so nothing
 * acts on an idle VM that was not seen).
 */
int  dc_build(const struct dc_input *in, struct dc_memory *mem,
    struct dc_view *out);
void dc_view_free(struct dc_view *v);

/* Whole seconds since last (wall ms), 0 when last is in the future. */
uint64_t dc_seconds_since(uint64_t last, uint64_t now);

/* The event's memory, created when absent (NULL when full). */
struct dc_mem_event *dc_event_mem(struct dc_memory *m, const char *id);

/* Forget events not among doc's (after a successful poll). */
void dc_events_forget(struct dc_memory *m, const struct se_doc *doc);

/* True when pending event e should be announced to the users now. */
bool dc_event_notify(const struct se_event *e, const struct dc_mem_event *em);

/*
 * True when the agent should approve e (POST StartRequests) now: a Terminate
 * for this VM, still Scheduled, not approved yet, and either the VM has no
 * user work or its NotBefore deadline has come.
 */
bool dc_event_approve(const struct se_event *e, const struct dc_mem_event *em,
    bool has_work, uint64_t now_wall);

#endif
