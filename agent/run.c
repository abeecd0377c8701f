/*
 * run.c -- see run.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent/run.h"
#include "agent/util.h"

extern char **environ;

/* Reap pid; kill its group first when the deadline has passed. */
static int
reap(pid_t pid, uint64_t deadline, bool *killed)
{
	int st = 0;
	pid_t w;

	for (;;) {
		w = waitpid(pid, &st, WNOHANG);
		if (w == pid)
			return st;
		if (w == -1 && errno != EINTR)
			return 0;
		if (ag_mono_ms() >= deadline && !*killed) {
			kill(-pid, SIGKILL);
			*killed = true;
		}
		if (*killed) {
			while (waitpid(pid, &st, 0) == -1 && errno == EINTR)
				;
			return st;
		}
		usleep(5000);
	}
}

enum run_status
run_capture(const char *const argv[], char *const env[], uint64_t timeout_ms,
    size_t max, struct run_result *r)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	uint64_t deadline = ag_mono_ms() + timeout_ms, now;
	int fds[2] = { -1, -1 }, rc, st;
	size_t cap = 4096;
	struct pollfd pfd;
	bool killed = false;
	sigset_t none, dfl;
	char drop[4096];
	ssize_t n;
	pid_t pid;

	memset(r, 0, sizeof(*r));
	if (pipe2(fds, O_CLOEXEC) == -1) {
		ag_errf(r->err, sizeof(r->err), "pipe: %s", strerror(errno));
		return r->status = RUN_FAILED;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawnattr_init(&at);
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	sigaddset(&dfl, SIGCHLD);
	sigaddset(&dfl, SIGTERM);
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGHUP);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &dfl);
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP |
	    POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	rc = posix_spawnp(&pid, argv[0], &fa, &at, (char *const *)argv,
	    env != NULL ? env : environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	close(fds[1]);
	if (rc != 0) {
		close(fds[0]);
		ag_errf(r->err, sizeof(r->err), "%s: %s", argv[0], strerror(rc));
		return r->status = rc == ENOENT ? RUN_NOTFOUND : RUN_FAILED;
	}
	if (cap > max + 1)
		cap = max + 1;
	if ((r->out = malloc(cap)) == NULL) {
		kill(-pid, SIGKILL);
		killed = true;
	}
	pfd.fd = fds[0];
	pfd.events = POLLIN;
	while (!killed) {
		now = ag_mono_ms();
		if (now >= deadline) {
			kill(-pid, SIGKILL);
			killed = true;
			break;
		}
		rc = poll(&pfd, 1, (int)(deadline - now));
		if (rc == -1 && errno == EINTR)
			continue;
		if (rc <= 0)
			continue;   /* the deadline test above ends it */
		if (r->len < max) {
			if (r->len + 1 >= cap) {
				char *nb;
				size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;

				if ((nb = realloc(r->out, ncap)) == NULL) {
					kill(-pid, SIGKILL);
					killed = true;
					break;
				}
				r->out = nb;
				cap = ncap;
			}
			/* cap <= max + 1, so this never passes max */
			n = read(fds[0], r->out + r->len, cap - 1 - r->len);
			if (n > 0)
				r->len += (size_t)n;
		} else {
			/* Over the cap: drain and drop, so the child is not stuck. */
			n = read(fds[0], drop, sizeof(drop));
			if (n > 0)
				r->cut = true;
		}
		if (n == 0)
			break;
		if (n == -1 && errno != EINTR && errno != EAGAIN)
			break;
	}
	close(fds[0]);
	st = reap(pid, deadline, &killed);
	if (r->out != NULL)
		r->out[r->len] = '\0';
	if (killed) {
		ag_errf(r->err, sizeof(r->err), "%s: no answer within %llu ms",
		    argv[0], (unsigned long long)timeout_ms);
		return r->status = RUN_TIMEOUT;
	}
	if (r->out == NULL) {
		ag_errf(r->err, sizeof(r->err), "out of memory");
		return r->status = RUN_FAILED;
	}
	if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
		return r->status = RUN_OK;
	r->code = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ?
	    WTERMSIG(st) : -1;
	ag_errf(r->err, sizeof(r->err), "%s: %s %d", argv[0],
	    WIFEXITED(st) ? "exit status" : "killed by signal", r->code);
	return r->status = RUN_EXIT;
}

void
run_result_free(struct run_result *r)
{
	free(r->out);
	r->out = NULL;
	r->len = 0;
}

const char *
run_status_name(enum run_status s)
{
	switch (s) {
	case RUN_OK:       return "ok";
	case RUN_NOTFOUND: return "not found";
	case RUN_FAILED:   return "failed";
	case RUN_TIMEOUT:  return "timeout";
	case RUN_EXIT:     return "exit";
	}
	return "?";
}
