/*
 * sessions.c -- see sessions.h.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utmpx.h>

#include "agent/sessions.h"
#include "agent/util.h"

static bool
key_is(const char *line, size_t len, const char *key, const char **val,
    size_t *vlen)
{
	size_t k = strlen(key);

	if (len <= k || memcmp(line, key, k) != 0 || line[k] != '=')
		return false;
	*val = line + k + 1;
	*vlen = len - k - 1;
	return true;
}

/* A non-negative decimal of at most 19 digits, or -1. */
static int64_t
number(const char *s, size_t len)
{
	int64_t v = 0;
	size_t i;

	if (!ag_all_digits(s, len) || len > 18)
		return -1;
	for (i = 0; i < len; i++)
		v = v * 10 + (s[i] - '0');
	return v;
}

int
ss_parse_logind(const char *text, size_t len, struct ag_session *out)
{
	const char *p = text, *end = text + len, *nl, *v;
	char cls[32] = "", state[32] = "", id[SS_ID_MAX];
	size_t vlen;
	int64_t x;

	memcpy(id, out->id, sizeof(id));
	memset(out, 0, sizeof(*out));
	memcpy(out->id, id, sizeof(id));
	out->uid = -1;
	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		if (memchr(p, '\0', (size_t)(nl - p)) != NULL)
			return -1;
		if (key_is(p, (size_t)(nl - p), "USER", &v, &vlen)) {
			if (vlen == 0 || vlen > AG_NAME_MAX)
				return -1;
			ag_copyn(out->user, sizeof(out->user), v, vlen);
		} else if (key_is(p, (size_t)(nl - p), "UID", &v, &vlen)) {
			if ((x = number(v, vlen)) < 0 || x > UINT32_MAX)
				return -1;
			out->uid = x;
		} else if (key_is(p, (size_t)(nl - p), "TTY", &v, &vlen))
			ag_copyn(out->tty, sizeof(out->tty), v, vlen);
		else if (key_is(p, (size_t)(nl - p), "REMOTE_HOST", &v, &vlen))
			ag_copyn(out->remote, sizeof(out->remote), v, vlen);
		else if (key_is(p, (size_t)(nl - p), "SERVICE", &v, &vlen))
			ag_copyn(out->service, sizeof(out->service), v, vlen);
		else if (key_is(p, (size_t)(nl - p), "LEADER", &v, &vlen)) {
			if ((x = number(v, vlen)) >= 0 && x <= INT32_MAX)
				out->pid = (int)x;
		} else if (key_is(p, (size_t)(nl - p), "REALTIME", &v, &vlen)) {
			if ((x = number(v, vlen)) >= 0)
				out->since_ms = (uint64_t)x / 1000u;  /* µs */
		} else if (key_is(p, (size_t)(nl - p), "CLASS", &v, &vlen))
			ag_copyn(cls, sizeof(cls), v, vlen);
		else if (key_is(p, (size_t)(nl - p), "STATE", &v, &vlen))
			ag_copyn(state, sizeof(state), v, vlen);
		p = nl + 1;
	}
	if (out->user[0] == '\0')
		return -1;
	if (strncmp(cls, "user", 4) != 0 || strcmp(state, "closing") == 0)
		return 0;
	return 1;
}

int
ss_read_logind(const char *dir, struct ag_session *out, size_t max,
    size_t *n, bool *truncated, char *err, size_t errlen)
{
	char path[4096], *text;
	struct dirent *de;
	size_t len, nlen;
	DIR *d;

	*n = 0;
	*truncated = false;
	if ((d = opendir(dir)) == NULL) {
		int e = errno;

		ag_errf(err, errlen, "%s: %s", dir, strerror(e));
		errno = e;      /* the caller tells ENOENT (no logind) apart */
		return -1;
	}
	while ((de = readdir(d)) != NULL) {
		nlen = strlen(de->d_name);
		if (de->d_name[0] == '.' || nlen >= SS_ID_MAX ||
		    (nlen > 4 && strcmp(de->d_name + nlen - 4, ".ref") == 0))
			continue;
		if (*n >= max) {
			*truncated = true;
			break;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if ((text = ag_read_text(path, SS_FILE_MAX, &len)) == NULL)
			continue;   /* gone meanwhile, or a directory */
		ag_copy(out[*n].id, sizeof(out[*n].id), de->d_name);
		if (ss_parse_logind(text, len, &out[*n]) == 1)
			(*n)++;
		free(text);
	}
	closedir(d);
	return 0;
}

int
ss_read_utmp(const char *path, const char *proc_root, struct ag_session *out,
    size_t max, size_t *n, bool *truncated, char *err, size_t errlen)
{
	struct utmpx u;
	struct ag_session *s;
	struct stat st;
	char pidpath[4096];
	ssize_t got;
	int fd;

	*n = 0;
	*truncated = false;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		ag_errf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	for (;;) {
		got = read(fd, &u, sizeof(u));
		if (got == -1 && errno == EINTR)
			continue;
		if (got != (ssize_t)sizeof(u))
			break;          /* the end, or a torn last record */
		if (u.ut_type != USER_PROCESS || u.ut_user[0] == '\0')
			continue;
		if (u.ut_pid > 0) {
			snprintf(pidpath, sizeof(pidpath), "%s/%d", proc_root,
			    (int)u.ut_pid);
			if (stat(pidpath, &st) == -1)
				continue;   /* a stale record */
		}
		if (*n >= max) {
			*truncated = true;
			break;
		}
		s = &out[(*n)++];
		memset(s, 0, sizeof(*s));
		s->uid = -1;
		ag_copyn(s->user, sizeof(s->user), u.ut_user,
		    strnlen(u.ut_user, sizeof(u.ut_user)));
		ag_copyn(s->tty, sizeof(s->tty), u.ut_line,
		    strnlen(u.ut_line, sizeof(u.ut_line)));
		ag_copyn(s->remote, sizeof(s->remote), u.ut_host,
		    strnlen(u.ut_host, sizeof(u.ut_host)));
		s->pid = u.ut_pid > 0 ? (int)u.ut_pid : 0;
		if (u.ut_tv.tv_sec > 0)
			s->since_ms = (uint64_t)u.ut_tv.tv_sec * 1000u +
			    (uint64_t)(u.ut_tv.tv_usec > 0 ? u.ut_tv.tv_usec : 0) / 1000u;
	}
	close(fd);
	return 0;
}

bool
ss_tty_safe(const char *tty)
{
	size_t i, len = strlen(tty), comp = 0;

	if (len == 0 || len > AG_TTY_MAX || tty[0] == '/')
		return false;
	for (i = 0; i <= len; i++) {
		char c = tty[i];

		if (c == '/' || c == '\0') {
			if (comp == 0 || (comp == 1 && tty[i - 1] == '.') ||
			    (comp == 2 && tty[i - 1] == '.' && tty[i - 2] == '.'))
				return false;
			comp = 0;
			continue;
		}
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
			return false;
		comp++;
	}
	return true;
}

void
ss_input_times(struct ag_session *s, size_t n, const char *dev_root)
{
	char path[4096];
	struct stat st;
	size_t i;

	for (i = 0; i < n; i++) {
		s[i].input_ms = 0;
		if (!ss_tty_safe(s[i].tty))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dev_root, s[i].tty);
		if (stat(path, &st) == 0)
			s[i].input_ms = (uint64_t)st.st_atim.tv_sec * 1000u +
			    (uint64_t)st.st_atim.tv_nsec / 1000000u;
	}
}
