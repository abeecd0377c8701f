/*
 * hookrun.c -- running the operator's hook command; see hookrun.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "backends/hookrun.h"
#include "lib/log.h"

#define DEFAULT_PATH   "/usr/local/bin:/usr/bin:/bin"
#define READ_CHUNK     4096
#define READS_PER_CALL 16           /* then yield to the rest of the loop */
#define FINAL_DRAIN    (1024 * 1024) /* bytes read after exit, at most */

#if defined(__GLIBC__) && \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 34))
#define HAVE_SPAWN_CLOSEFROM 1
#endif

enum job_state { JOB_WAITING, JOB_RUNNING };

/* One (event, backend) key: its run in progress or waiting, and what follows. */
struct hr_job {
	TAILQ_ENTRY(hr_job) link;       /* hr->jobs: every job */
	TAILQ_ENTRY(hr_job) wlink;      /* hr->waitq: waiting jobs only */
	struct hookrun *hr;
	char            event[HR_EVENT_MAX + 1];
	char            backend[CFG_NAME_MAX + 1];
	enum job_state  state;
	char          **env;            /* for this run; owned, NULL-terminated */
	char          **again_env;      /* a coalesced request: run again with it */
	bool            again;

	/* While running. */
	pid_t           pid;            /* also the process group id */
	int             fd;             /* read end of the output pipe, -1 = none */
	struct event   *ev_out;
	struct event   *ev_timer;
	uint64_t        start_ms;
	time_t          started;
	bool            reaped;
	int             wstatus;
	bool            status_lost;    /* reaped by someone else: no status */
	bool            timed_out;      /* SIGTERM sent */
	bool            killed;         /* SIGKILL sent after the grace */
	bool            out_eof;
	char            line[HR_LINE_MAX + 1];
	size_t          linelen;
	bool            skipping;       /* rest of an over-long line */
	uint64_t        out_total;
	uint64_t        out_dropped;
};

TAILQ_HEAD(hr_jobq, hr_job);

struct hr_counter {
	char     event[HR_EVENT_MAX + 1];
	uint64_t n[HR_NOUTCOMES];
};

struct hookrun {
	struct event_base *base;
	struct event      *ev_chld;
	char              *command;
	uint64_t           timeout_ms;
	struct hr_jobq     jobs;
	struct hr_jobq     waitq;
	size_t             njobs, nrunning, nwaiting;
	hr_line_cb         line_cb;
	void              *line_arg;
	hr_done_cb         done_cb;
	void              *done_arg;
	struct hr_counter  ctr[HR_MAX_EVENTS];
	size_t             nctr;
	uint64_t           coalesced, rejected;
	struct hr_result   recent[HR_RECENT];
	size_t             rnext, rcount;
};

static void start_job(struct hr_job *job);

static const char *const outcome_names[HR_NOUTCOMES] = {
	[HR_OK] = "ok",
	[HR_FAILED] = "failed",
	[HR_TIMEOUT] = "timeout",
	[HR_SPAWN_ERROR] = "spawn_error",
};

const char *
hr_outcome_name(enum hr_outcome o)
{
	if ((unsigned)o >= HR_NOUTCOMES)
		return "unknown";
	return outcome_names[o];
}

/* " vm1" for a VM, "" for the pool: log lines read "hook vm_busy vm1: ...". */
static const char *
sep(const char *backend)
{
	return backend[0] != '\0' ? " " : "";
}

static void
default_line_cb(const char *event, const char *backend, const char *line,
    void *arg)
{
	log_info("hook %s%s%s: %s", event, sep(backend), backend, line);
}

static void
env_free(char **env)
{
	size_t i;

	if (env == NULL)
		return;
	for (i = 0; env[i] != NULL; i++)
		free(env[i]);
	free(env);
}

/* A deep copy of a NULL-terminated array of n strings (src may be NULL). */
static char **
env_dup(const char *const src[], size_t n)
{
	char **env;
	size_t i;

	if ((env = calloc(n + 1, sizeof(*env))) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if ((env[i] = strdup(src[i])) == NULL) {
			env_free(env);
			return NULL;
		}
	}
	return env;
}

static bool
valid_event(const char *s)
{
	size_t i;

	if (s == NULL || s[0] == '\0')
		return false;
	for (i = 0; s[i] != '\0'; i++) {
		if (i >= HR_EVENT_MAX)
			return false;
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
			return false;
	}
	return true;
}

/* A VM name as the configuration allows it: [A-Za-z0-9_.-], or "". */
static bool
valid_backend(const char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if (i >= CFG_NAME_MAX)
			return false;
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		    (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') ||
		    s[i] == '_' || s[i] == '.' || s[i] == '-'))
			return false;
	}
	return true;
}

/* The number of entries in env, or -1 when one breaks the rules. */
static ssize_t
valid_env(const char *const env[])
{
	size_t i;

	if (env == NULL)
		return 0;
	for (i = 0; env[i] != NULL; i++) {
		const char *eq = strchr(env[i], '=');

		if (i >= HR_MAX_ENV || eq == NULL || eq == env[i] ||
		    strnlen(env[i], HR_ENV_MAX + 1) > HR_ENV_MAX)
			return -1;
	}
	return (ssize_t)i;
}

static struct hr_counter *
counter(struct hookrun *hr, const char *event, bool add)
{
	size_t i;

	for (i = 0; i < hr->nctr; i++)
		if (strcmp(hr->ctr[i].event, event) == 0)
			return &hr->ctr[i];
	if (!add || hr->nctr == HR_MAX_EVENTS)
		return NULL;
	/* valid_event() bounded the length. */
	strcpy(hr->ctr[hr->nctr].event, event);
	return &hr->ctr[hr->nctr++];
}

static void
job_free(struct hr_job *job)
{
	if (job->ev_out != NULL)
		event_free(job->ev_out);
	if (job->ev_timer != NULL)
		event_free(job->ev_timer);
	if (job->fd >= 0)
		close(job->fd);
	env_free(job->env);
	env_free(job->again_env);
	free(job);
}

/* Unlink a job from the runner's lists and free it. */
static void
job_drop(struct hr_job *job)
{
	struct hookrun *hr = job->hr;

	TAILQ_REMOVE(&hr->jobs, job, link);
	hr->njobs--;
	if (job->state == JOB_WAITING) {
		TAILQ_REMOVE(&hr->waitq, job, wlink);
		hr->nwaiting--;
	}
	job_free(job);
}

static void
emit_line(struct hr_job *job)
{
	struct hookrun *hr = job->hr;
	size_t i;

	/* CRLF ends a line too; a CR anywhere else could overwrite one. */
	if (job->linelen > 0 && job->line[job->linelen - 1] == '\r')
		job->linelen--;
	for (i = 0; i < job->linelen; i++)
		if (job->line[i] == '\r')
			job->line[i] = '?';
	job->line[job->linelen] = '\0';
	hr->line_cb(job->event, job->backend, job->line, hr->line_arg);
	job->linelen = 0;
}

/* Split output into lines, within the per-line and per-run caps. */
static void
feed(struct hr_job *job, const char *buf, size_t n)
{
	size_t i, take;
	unsigned char c;

	take = n;
	if (job->out_total + take > HR_OUTPUT_MAX)
		take = HR_OUTPUT_MAX - job->out_total;
	job->out_dropped += n - take;
	job->out_total += take;
	for (i = 0; i < take; i++) {
		c = (unsigned char)buf[i];
		if (c == '\n') {
			if (!job->skipping)
				emit_line(job);
			job->skipping = false;
			continue;
		}
		if (job->skipping)
			continue;
		if (job->linelen == HR_LINE_MAX) {
			/* Deliver what fits; the rest of the line is dropped. */
			emit_line(job);
			job->skipping = true;
			continue;
		}
		/* No control characters in the log: no forged or broken lines. */
		if ((c < 0x20 && c != '\t' && c != '\r') || c == 0x7f)
			c = '?';
		job->line[job->linelen++] = (char)c;
	}
	if (job->out_total == HR_OUTPUT_MAX && job->linelen > 0 && take > 0)
		emit_line(job);
}

/*
 * Read what the pipe holds, at most `budget` bytes. Returns false at EOF or
 * on an error other than "nothing to read now".
 */
static bool
read_output(struct hr_job *job, size_t budget)
{
	char buf[READ_CHUNK];
	ssize_t r;

	while (budget > 0) {
		r = read(job->fd, buf, sizeof(buf));
		if (r > 0) {
			feed(job, buf, (size_t)r);
			budget -= (size_t)r < budget ? (size_t)r : budget;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return true;
		if (r < 0)
			log_warn("hook %s%s%s: reading output: %s", job->event,
			    sep(job->backend), job->backend, strerror(errno));
		return false;
	}
	return true;
}

static void
record(struct hookrun *hr, const struct hr_result *res)
{
	struct hr_counter *c;

	/* The counter was made when the run was requested. */
	if ((c = counter(hr, res->event, false)) != NULL)
		c->n[res->outcome]++;
	hr->recent[hr->rnext] = *res;
	hr->rnext = (hr->rnext + 1) % HR_RECENT;
	if (hr->rcount < HR_RECENT)
		hr->rcount++;
	if (hr->done_cb != NULL)
		hr->done_cb(res, hr->done_arg);
}

static void
result_init(struct hr_result *res, const struct hr_job *job)
{
	memset(res, 0, sizeof(*res));
	memcpy(res->event, job->event, sizeof(res->event));
	memcpy(res->backend, job->backend, sizeof(res->backend));
}

/*
 * A run is over: report it, then either queue the coalesced rerun or free
 * the job. Never starts another job (the caller pumps the queue after),
 * so loops over the job list only ever lose the job at hand.
 */
static void
finish_job(struct hr_job *job)
{
	struct hookrun *hr = job->hr;
	struct hr_result res;
	uint64_t now = pg_now_ms();

	/* What was written before the exit is still in the pipe. */
	if (job->fd >= 0 && !job->out_eof)
		read_output(job, FINAL_DRAIN);
	if (job->linelen > 0 && !job->skipping)
		emit_line(job);

	result_init(&res, job);
	res.started = job->started;
	res.duration_ms = now >= job->start_ms ? now - job->start_ms : 0;
	res.output_dropped = job->out_dropped;
	if (job->status_lost)
		res.status = -1;
	else if (WIFEXITED(job->wstatus))
		res.status = WEXITSTATUS(job->wstatus);
	else if (WIFSIGNALED(job->wstatus))
		res.status = -WTERMSIG(job->wstatus);
	if (job->timed_out)
		res.outcome = HR_TIMEOUT;
	else if (!job->status_lost && WIFEXITED(job->wstatus) &&
	    WEXITSTATUS(job->wstatus) == 0)
		res.outcome = HR_OK;
	else
		res.outcome = HR_FAILED;

	if (job->out_dropped > 0)
		log_warn("hook %s%s%s: output cut at %d bytes, %llu more dropped",
		    job->event, sep(job->backend), job->backend, HR_OUTPUT_MAX,
		    (unsigned long long)job->out_dropped);
	if (res.outcome == HR_OK)
		log_info("hook %s%s%s: done in %llu ms", job->event,
		    sep(job->backend), job->backend,
		    (unsigned long long)res.duration_ms);
	else if (res.outcome == HR_TIMEOUT)
		log_warn("hook %s%s%s: timed out, process group killed after "
		    "%llu ms", job->event, sep(job->backend), job->backend,
		    (unsigned long long)res.duration_ms);
	else if (job->status_lost)
		log_warn("hook %s%s%s: exit status lost (reaped elsewhere)",
		    job->event, sep(job->backend), job->backend);
	else if (res.status >= 0)
		log_warn("hook %s%s%s: failed, exit status %d", job->event,
		    sep(job->backend), job->backend, res.status);
	else
		log_warn("hook %s%s%s: failed, killed by signal %d", job->event,
		    sep(job->backend), job->backend, -res.status);

	hr->nrunning--;
	event_free(job->ev_out);
	job->ev_out = NULL;
	event_free(job->ev_timer);
	job->ev_timer = NULL;
	close(job->fd);
	job->fd = -1;

	record(hr, &res);

	if (!job->again) {
		TAILQ_REMOVE(&hr->jobs, job, link);
		hr->njobs--;
		job_free(job);
		return;
	}
	/* The coalesced request: same key, newest environment, back in line. */
	env_free(job->env);
	job->env = job->again_env;
	job->again_env = NULL;
	job->again = false;
	job->state = JOB_WAITING;
	job->pid = 0;
	job->reaped = job->status_lost = job->timed_out = job->killed = false;
	job->out_eof = job->skipping = false;
	job->linelen = 0;
	job->out_total = job->out_dropped = 0;
	TAILQ_INSERT_TAIL(&hr->waitq, job, wlink);
	hr->nwaiting++;
}

/* Finish the run if the command is reaped and, after a timeout, SIGKILLed. */
static void
maybe_finish(struct hr_job *job)
{
	if (job->reaped && (!job->timed_out || job->killed))
		finish_job(job);
}

/* Start waiting jobs while slots are free. */
static void
pump(struct hookrun *hr)
{
	struct hr_job *job;

	while (hr->nwaiting > 0 &&
	    (hr->command == NULL || hr->nrunning < HR_MAX_RUNNING)) {
		job = TAILQ_FIRST(&hr->waitq);
		if (hr->command == NULL) {
			/* Hooks were switched off: nothing waiting runs. */
			hr->rejected++;
			job_drop(job);
			continue;
		}
		TAILQ_REMOVE(&hr->waitq, job, wlink);
		hr->nwaiting--;
		start_job(job);
	}
}

static void
out_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hr_job *job = arg;

	if (!read_output(job, READ_CHUNK * READS_PER_CALL)) {
		/* EOF: wait for the exit status; nothing more to read. */
		job->out_eof = true;
		event_del(job->ev_out);
	}
}

static void
timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct hr_job *job = arg;
	struct hookrun *hr = job->hr;
	struct timeval tv;

	if (!job->timed_out) {
		job->timed_out = true;
		log_warn("hook %s%s%s: still running after %llu ms, "
		    "terminating process group %ld", job->event,
		    sep(job->backend), job->backend,
		    (unsigned long long)(pg_now_ms() - job->start_ms),
		    (long)job->pid);
		/*
		 * The whole group: a script's children die with it. The
		 * group lives on, and its id stays reserved, as long as a
		 * member does, even once the leader is reaped.
		 */
		kill(-job->pid, SIGTERM);
		tv.tv_sec = HR_KILL_GRACE_MS / 1000;
		tv.tv_usec = (HR_KILL_GRACE_MS % 1000) * 1000;
		evtimer_add(job->ev_timer, &tv);
		return;
	}
	kill(-job->pid, SIGKILL);
	job->killed = true;
	maybe_finish(job);
	pump(hr);
}

static void
sigchld_cb(evutil_socket_t sig, short what, void *arg)
{
	struct hookrun *hr = arg;
	struct hr_job *job, *next;
	pid_t r;
	int st;

	/* Our own children only: other parts of the daemon may fork too. */
	for (job = TAILQ_FIRST(&hr->jobs); job != NULL; job = next) {
		next = TAILQ_NEXT(job, link);
		if (job->state != JOB_RUNNING || job->reaped)
			continue;
		do
			r = waitpid(job->pid, &st, WNOHANG);
		while (r < 0 && errno == EINTR);
		if (r == 0)
			continue;
		job->reaped = true;
		if (r < 0)
			job->status_lost = true;
		else
			job->wstatus = st;
		maybe_finish(job);
	}
	pump(hr);
}

/* Move fd above the standard descriptors (it must not land on 0..2). */
static int
fd_above_std(int fd)
{
	int nfd;

	if (fd > 2)
		return fd;
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	close(fd);
	return nfd;
}

/* "PATH=..." for the hook: from its env if given, else inherited. */
static char *
path_entry(char **env)
{
	const char *path;
	char *s;
	size_t i;

	for (i = 0; env != NULL && env[i] != NULL; i++)
		if (strncmp(env[i], "PATH=", 5) == 0)
			return NULL;
	if ((path = getenv("PATH")) == NULL || path[0] == '\0')
		path = DEFAULT_PATH;
	if ((s = malloc(strlen(path) + 6)) == NULL)
		return NULL;
	memcpy(s, "PATH=", 5);
	strcpy(s + 5, path);
	return s;
}

/*
 * Spawn the command for a job taken off the wait queue. On any failure the
 * run is reported as a spawn error and the job goes as finish_job() decides.
 */
static void
start_job(struct hr_job *job)
{
	struct hookrun *hr = job->hr;
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t all, none;
	struct timeval tv;
	char *argv[4], **envp = NULL, *path = NULL;
	const char *what = "pipe";
	size_t i, n = 0;
	int p[2] = { -1, -1 }, err = 0;
	bool fa_ok = false, attr_ok = false;

	job->state = JOB_RUNNING;
	job->fd = -1;
	job->start_ms = pg_now_ms();
	job->started = time(NULL);
	hr->nrunning++;

	if (pipe2(p, O_CLOEXEC) < 0) {
		err = errno;
		goto out;
	}
	if ((p[0] = fd_above_std(p[0])) < 0 || (p[1] = fd_above_std(p[1])) < 0) {
		err = errno;
		goto out;
	}
	/* Only our end: the hook's stdout must block like any other. */
	if (fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK) < 0) {
		err = errno;
		goto out;
	}
	what = "event";
	job->ev_out = event_new(hr->base, p[0], EV_READ | EV_PERSIST, out_cb, job);
	job->ev_timer = evtimer_new(hr->base, timer_cb, job);
	if (job->ev_out == NULL || job->ev_timer == NULL) {
		err = ENOMEM;
		goto out;
	}

	what = "environment";
	while (job->env != NULL && job->env[n] != NULL)
		n++;
	if ((envp = calloc(n + 2, sizeof(*envp))) == NULL) {
		err = ENOMEM;
		goto out;
	}
	path = path_entry(job->env);
	i = 0;
	if (path != NULL)
		envp[i++] = path;
	memcpy(&envp[i], job->env, n * sizeof(*envp));
	argv[0] = hr->command;
	argv[1] = job->event;
	argv[2] = job->backend;
	argv[3] = NULL;

	what = "spawn attributes";
	if ((err = posix_spawn_file_actions_init(&fa)) != 0)
		goto out;
	fa_ok = true;
	if ((err = posix_spawnattr_init(&attr)) != 0)
		goto out;
	attr_ok = true;
	sigfillset(&all);
	sigdelset(&all, SIGKILL);
	sigdelset(&all, SIGSTOP);
	sigemptyset(&none);
	/*
	 * Own process group, so a timeout can kill the script and its
	 * children together; default dispositions, since an ignored SIGPIPE
	 * of the daemon would otherwise survive exec.
	 */
	if ((err = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP |
	    POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)) != 0 ||
	    (err = posix_spawnattr_setpgroup(&attr, 0)) != 0 ||
	    (err = posix_spawnattr_setsigdefault(&attr, &all)) != 0 ||
	    (err = posix_spawnattr_setsigmask(&attr, &none)) != 0)
		goto out;
	if ((err = posix_spawn_file_actions_addopen(&fa, 0, "/dev/null",
	    O_RDONLY, 0)) != 0 ||
	    (err = posix_spawn_file_actions_adddup2(&fa, p[1], 1)) != 0 ||
	    (err = posix_spawn_file_actions_adddup2(&fa, p[1], 2)) != 0)
		goto out;
#ifdef HAVE_SPAWN_CLOSEFROM
	/* Descriptors the daemon forgot to mark close-on-exec. */
	if ((err = posix_spawn_file_actions_addclosefrom_np(&fa, 3)) != 0)
		goto out;
#endif
	what = hr->command;
	/* glibc reports exec failures here: the child is gone by then. */
	if ((err = posix_spawn(&job->pid, hr->command, &fa, &attr, argv,
	    envp)) != 0)
		goto out;

	close(p[1]);
	p[1] = -1;
	job->fd = p[0];
	p[0] = -1;
	tv.tv_sec = (time_t)(hr->timeout_ms / 1000);
	tv.tv_usec = (suseconds_t)((hr->timeout_ms % 1000) * 1000);
	/*
	 * The loop's cached clock may be from before a long callback: the
	 * timeout counts from now.
	 */
	event_base_update_cache_time(hr->base);
	/* Both adds only fail on a broken base: the timer is what matters. */
	if (event_add(job->ev_out, NULL) < 0 ||
	    evtimer_add(job->ev_timer, &tv) < 0)
		pg_fatalx("hookrun: cannot add events for pid %ld",
		    (long)job->pid);
	log_info("hook %s%s%s: started, pid %ld", job->event,
	    sep(job->backend), job->backend, (long)job->pid);
out:
	if (fa_ok)
		posix_spawn_file_actions_destroy(&fa);
	if (attr_ok)
		posix_spawnattr_destroy(&attr);
	free(envp);
	free(path);
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	if (err != 0) {
		struct hr_result res;

		log_warn("hook %s%s%s: cannot run %s: %s", job->event,
		    sep(job->backend), job->backend, what, strerror(err));
		result_init(&res, job);
		res.outcome = HR_SPAWN_ERROR;
		res.status = -1;
		res.started = job->started;
		hr->nrunning--;
		record(hr, &res);
		/*
		 * A coalesced request would only fail the same way: the
		 * key is done.
		 */
		TAILQ_REMOVE(&hr->jobs, job, link);
		hr->njobs--;
		job_free(job);
	}
}

struct hookrun *
hr_new(struct event_base *base)
{
	struct hookrun *hr;

	if ((hr = calloc(1, sizeof(*hr))) == NULL)
		return NULL;
	hr->base = base;
	TAILQ_INIT(&hr->jobs);
	TAILQ_INIT(&hr->waitq);
	hr->line_cb = default_line_cb;
	hr->ev_chld = evsignal_new(base, SIGCHLD, sigchld_cb, hr);
	if (hr->ev_chld == NULL || event_add(hr->ev_chld, NULL) < 0) {
		if (hr->ev_chld != NULL)
			event_free(hr->ev_chld);
		free(hr);
		return NULL;
	}
	return hr;
}

void
hr_free(struct hookrun *hr)
{
	struct hr_job *job;
	int st;

	if (hr == NULL)
		return;
	while ((job = TAILQ_FIRST(&hr->jobs)) != NULL) {
		if (job->state == JOB_RUNNING) {
			kill(-job->pid, SIGKILL);
			/* SIGKILL cannot be caught: this wait is short. */
			while (!job->reaped && waitpid(job->pid, &st, 0) < 0 &&
			    errno == EINTR)
				;
			log_warn("hook %s%s%s: killed at shutdown", job->event,
			    sep(job->backend), job->backend);
		}
		job_drop(job);
	}
	event_free(hr->ev_chld);
	free(hr->command);
	free(hr);
}

int
hr_configure(struct hookrun *hr, const char *command, uint64_t timeout_ms)
{
	char *cmd = NULL;

	if (command != NULL) {
		if (command[0] != '/' || strnlen(command, PATH_MAX) >= PATH_MAX ||
		    timeout_ms == 0)
			return -1;
		if ((cmd = strdup(command)) == NULL)
			return -1;
	}
	free(hr->command);
	hr->command = cmd;
	hr->timeout_ms = timeout_ms;
	pump(hr);
	return 0;
}

void
hr_set_line_cb(struct hookrun *hr, hr_line_cb cb, void *arg)
{
	hr->line_cb = cb != NULL ? cb : default_line_cb;
	hr->line_arg = cb != NULL ? arg : NULL;
}

void
hr_set_done_cb(struct hookrun *hr, hr_done_cb cb, void *arg)
{
	hr->done_cb = cb;
	hr->done_arg = arg;
}

static struct hr_job *
find_job(struct hookrun *hr, const char *event, const char *backend)
{
	struct hr_job *job;

	TAILQ_FOREACH(job, &hr->jobs, link)
		if (strcmp(job->event, event) == 0 &&
		    strcmp(job->backend, backend) == 0)
			return job;
	return NULL;
}

enum hr_submit
hr_run(struct hookrun *hr, const char *event, const char *backend,
    const char *const env[])
{
	struct hr_job *job;
	char **copy;
	ssize_t nenv;

	if (backend == NULL)
		backend = "";
	if (hr->command == NULL) {
		hr->rejected++;
		return HR_REJECTED;
	}
	if (!valid_event(event) || !valid_backend(backend) ||
	    (nenv = valid_env(env)) < 0) {
		log_warn("hook: request rejected: bad event, backend name or "
		    "environment");
		hr->rejected++;
		return HR_REJECTED;
	}
	if (counter(hr, event, true) == NULL) {
		log_warn("hook %s%s%s: rejected: more than %d event names",
		    event, sep(backend), backend, HR_MAX_EVENTS);
		hr->rejected++;
		return HR_REJECTED;
	}
	if ((job = find_job(hr, event, backend)) != NULL) {
		if ((copy = env_dup(env, (size_t)nenv)) == NULL)
			goto nomem;
		if (job->state == JOB_WAITING) {
			env_free(job->env);
			job->env = copy;
		} else {
			env_free(job->again_env);
			job->again_env = copy;
			job->again = true;
		}
		hr->coalesced++;
		return HR_COALESCED;
	}
	if (hr->njobs >= HR_MAX_JOBS) {
		log_warn("hook %s%s%s: rejected: %d hooks already running or "
		    "waiting", event, sep(backend), backend, HR_MAX_JOBS);
		hr->rejected++;
		return HR_REJECTED;
	}
	if ((job = calloc(1, sizeof(*job))) == NULL)
		goto nomem;
	if ((job->env = env_dup(env, (size_t)nenv)) == NULL) {
		free(job);
		goto nomem;
	}
	job->hr = hr;
	job->fd = -1;
	strcpy(job->event, event);       /* lengths checked above */
	strcpy(job->backend, backend);
	job->state = JOB_WAITING;
	TAILQ_INSERT_TAIL(&hr->jobs, job, link);
	hr->njobs++;
	if (hr->nrunning >= HR_MAX_RUNNING) {
		TAILQ_INSERT_TAIL(&hr->waitq, job, wlink);
		hr->nwaiting++;
		return HR_WAITING;
	}
	start_job(job);
	/* start_job() frees the job on a spawn error: look it up again. */
	return find_job(hr, event, backend) != NULL ? HR_STARTED :
	    HR_NOT_STARTED;
nomem:
	log_warn("hook %s%s%s: rejected: out of memory", event, sep(backend),
	    backend);
	hr->rejected++;
	return HR_REJECTED;
}

size_t
hr_running(const struct hookrun *hr)
{
	return hr->nrunning;
}

size_t
hr_waiting(const struct hookrun *hr)
{
	return hr->nwaiting;
}

uint64_t
hr_count(const struct hookrun *hr, const char *event, enum hr_outcome outcome)
{
	size_t i;

	if ((unsigned)outcome >= HR_NOUTCOMES)
		return 0;
	for (i = 0; i < hr->nctr; i++)
		if (strcmp(hr->ctr[i].event, event) == 0)
			return hr->ctr[i].n[outcome];
	return 0;
}

const char *
hr_event_at(const struct hookrun *hr, size_t i)
{
	return i < hr->nctr ? hr->ctr[i].event : NULL;
}

uint64_t
hr_coalesced(const struct hookrun *hr)
{
	return hr->coalesced;
}

uint64_t
hr_rejected(const struct hookrun *hr)
{
	return hr->rejected;
}

size_t
hr_recent(const struct hookrun *hr, struct hr_result *out, size_t max)
{
	size_t i, n = hr->rcount < max ? hr->rcount : max;

	for (i = 0; i < n; i++)
		out[i] = hr->recent[(hr->rnext + HR_RECENT - 1 - i) % HR_RECENT];
	return n;
}
