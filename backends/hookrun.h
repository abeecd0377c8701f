/*
 * hookrun.h -- running the operator's hook command without blocking the
 * event loop.
 *
 * A run is the command executed as `command EVENT BACKEND` (BACKEND is ""
 * for pool-wide events) with an environment of PATH (inherited, or
 * "/usr/local/bin:/usr/bin:/bin") plus the "K=V" strings given to hr_run().
 * It starts in its own process group with every signal at its default and
 * none blocked, stdin on /dev/null and stdout and stderr on one pipe. The
 * pipe is read through the event loop and each line goes to the output
 * callback (default: the log, "hook vm_busy vm1: <line>"): lines are cut at
 * HR_LINE_MAX bytes, control characters become '?', and after HR_OUTPUT_MAX
 * bytes of one run the rest is read and dropped, with one warning when the
 * run ends. The run ends when the command exits; output still buffered in
 * the pipe is read then, and anything its leftover children write later is
 * lost (their end of the pipe is closed).
 *
 * Exit statuses come from SIGCHLD (a libevent signal event: the base must
 * be the one that handles the daemon's signals) and waitpid(pid, WNOHANG)
 * on this runner's own children only: other children of the daemon are
 * left alone.
 *
 * Timeout: past timeout_ms the whole process group gets SIGTERM and,
 * HR_KILL_GRACE_MS later, SIGKILL; the run ends (outcome timeout) once the
 * command has been reaped and the SIGKILL has gone out, so nothing the hook
 * started stays behind unless it left the group.
 *
 * One run per (event, backend) at a time. A request for a key whose run is
 * in progress is coalesced: the key runs once more after the current run
 * ends, with the environment of the latest request; more requests meanwhile
 * only update that environment. Rerunning rather than dropping because the
 * running hook acted on a snapshot taken before the new event (a scale-out
 * that started before the pool filled up further); coalescing bounds the
 * work to one pending run per key.
 *
 * Bounds: HR_MAX_RUNNING commands at once; further keys wait in arrival
 * order, up to HR_MAX_JOBS keys running or waiting in all; a request past
 * that is rejected, counted and logged. A burst (every VM coming up at
 * start) is spread out rather than forking hundreds of processes.
 *
 * Counters per event name and outcome feed the metrics; the last
 * HR_RECENT finished runs feed the status page.
 */
#ifndef POOLGATE_HOOKRUN_H
#define POOLGATE_HOOKRUN_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "config/config.h"

struct event_base;
struct hookrun;

#define HR_EVENT_MAX      31        /* event names: [a-z0-9_], 1..31 bytes */
#define HR_MAX_EVENTS     16        /* distinct event names counted */
#define HR_MAX_ENV        32        /* "K=V" strings per run */
#define HR_ENV_MAX        1024      /* bytes per "K=V" string */
#define HR_LINE_MAX       512       /* bytes per output line */
#define HR_OUTPUT_MAX     (64 * 1024)
#define HR_MAX_RUNNING    8
#define HR_MAX_JOBS       512
#define HR_RECENT         32
#define HR_KILL_GRACE_MS  2000

enum hr_outcome {
	HR_OK = 0,          /* exit status 0 */
	HR_FAILED,          /* other exit status, or killed by a signal */
	HR_TIMEOUT,         /* killed past the timeout */
	HR_SPAWN_ERROR,     /* could not start (no such file, no pipe, ...) */
};
#define HR_NOUTCOMES 4

/* What hr_run() did with a request. */
enum hr_submit {
	HR_STARTED = 0,     /* the command is running */
	HR_WAITING,         /* queued until fewer than HR_MAX_RUNNING run */
	HR_COALESCED,       /* folded into the key's running or waiting run */
	HR_NOT_STARTED,     /* spawn error: reported as a finished run */
	HR_REJECTED,        /* no command, bad arguments, or HR_MAX_JOBS */
};

/* One finished run. */
struct hr_result {
	char            event[HR_EVENT_MAX + 1];
	char            backend[CFG_NAME_MAX + 1];
	enum hr_outcome outcome;
	int             status;     /* exit code 0..255, -signal, -1 spawn error */
	time_t          started;    /* wall clock */
	uint64_t        duration_ms;
	uint64_t        output_dropped;  /* bytes past HR_OUTPUT_MAX */
};

/* One line of output (without its newline, NUL-terminated). Borrowed. */
typedef void (*hr_line_cb)(const char *event, const char *backend,
    const char *line, void *arg);
/*
 * A run finished (also for a spawn error, possibly from inside hr_run()).
 * The callback must not call hr_run(), hr_configure() or hr_free().
 */
typedef void (*hr_done_cb)(const struct hr_result *r, void *arg);

/*
 * A runner on `base` with no command (every hr_run() is rejected until
 * hr_configure()). Installs the SIGCHLD event. Returns NULL on failure.
 * The base must outlive the runner.
 */
struct hookrun *hr_new(struct event_base *base);

/*
 * Kill every running hook's process group (SIGKILL), reap it (waiting, so
 * call at shutdown only), drop waiting runs, free. NULL is fine.
 */
void            hr_free(struct hookrun *hr);

/*
 * Set the command (an absolute path, copied; NULL disables hooks) and the
 * timeout (> 0). Runs in progress keep their command and deadline; waiting
 * ones will use the new command. Returns 0, or -1 (settings unchanged) on a
 * relative path, a zero timeout or allocation failure.
 */
int             hr_configure(struct hookrun *hr, const char *command,
    uint64_t timeout_ms);

/* Where output lines and finished runs go; NULL restores the default. */
void            hr_set_line_cb(struct hookrun *hr, hr_line_cb cb, void *arg);
void            hr_set_done_cb(struct hookrun *hr, hr_done_cb cb, void *arg);

/*
 * Request a run of `event` (HR_EVENT_MAX bytes of [a-z0-9_]) for `backend`
 * (NULL or "" for the pool, at most CFG_NAME_MAX bytes). env is
 * NULL-terminated "K=V" strings (may be NULL), copied: the caller's memory
 * may go after the call. At most HR_MAX_ENV entries of at most HR_ENV_MAX
 * bytes each, each with a '='; a PATH entry replaces the inherited one.
 */
enum hr_submit  hr_run(struct hookrun *hr, const char *event,
    const char *backend, const char *const env[]);

/* Commands running now, and keys waiting for a slot. */
size_t          hr_running(const struct hookrun *hr);
size_t          hr_waiting(const struct hookrun *hr);

/*
 * Counters for metrics. hr_count(): finished runs of `event` with `outcome`
 * (0 for an event never run). hr_event_at(): the i-th event name counted,
 * or NULL past the last; borrowed, lives as long as the runner.
 */
uint64_t        hr_count(const struct hookrun *hr, const char *event,
    enum hr_outcome outcome);
const char     *hr_event_at(const struct hookrun *hr, size_t i);
/* Requests coalesced into another run, and requests rejected. */
uint64_t        hr_coalesced(const struct hookrun *hr);
uint64_t        hr_rejected(const struct hookrun *hr);

/*
 * Copy up to max finished runs, newest first, into out. Returns how many.
 */
size_t          hr_recent(const struct hookrun *hr, struct hr_result *out,
    size_t max);

const char     *hr_outcome_name(enum hr_outcome o);

#endif
