/*
 * procs.c -- see procs.h.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent/procs.h"
#include "agent/util.h"

struct ps_sample {
	int      pid;
	uint64_t start;
	uint64_t ticks;
	uint64_t last_cpu_ms;
};

/* An unsigned decimal at *p (advanced past it), or -1. */
static int
read_u64(const char **p, const char *end, uint64_t *v)
{
	const char *s = *p;
	uint64_t x = 0;

	if (s >= end || *s < '0' || *s > '9')
		return -1;
	for (; s < end && *s >= '0' && *s <= '9'; s++) {
		if (x > (UINT64_MAX - 9) / 10)
			return -1;
		x = x * 10 + (uint64_t)(*s - '0');
	}
	*p = s;
	*v = x;
	return 0;
}

int
ps_parse_stat(const char *buf, size_t len, struct ps_proc *out)
{
	const char *end = buf + len, *open, *close = NULL, *p;
	uint64_t v, utime = 0, stime = 0, start = 0, pid, ppid = 0;
	size_t i;
	int field;

	memset(out, 0, sizeof(*out));
	p = buf;
	if (read_u64(&p, end, &pid) == -1 || pid == 0 || pid > INT32_MAX)
		return -1;
	if (end - p < 2 || p[0] != ' ' || p[1] != '(')
		return -1;
	open = p + 1;
	for (i = len; i > (size_t)(open - buf); i--)
		if (buf[i - 1] == ')') {
			close = buf + i - 1;
			break;
		}
	if (close == NULL || end - close < 4 || close[1] != ' ')
		return -1;
	ag_copyn(out->comm, sizeof(out->comm), open + 1, (size_t)(close - open - 1));
	out->state = close[2];
	if (close[3] != ' ')
		return -1;
	p = close + 4;
	/* Fields 4 (ppid) to 22 (starttime); field 3 is the state. */
	for (field = 4; field <= 22; field++) {
		/* tpgid is -1 without a terminal; priority and nice go negative. */
		if (p < end && *p == '-' && field != 4 && field != 14 &&
		    field != 15 && field != 22)
			p++;
		if (read_u64(&p, end, &v) == -1)
			return -1;
		if (field == 4)
			ppid = v;
		else if (field == 14)
			utime = v;
		else if (field == 15)
			stime = v;
		else if (field == 22)
			start = v;
		if (field < 22) {
			if (p >= end || *p != ' ')
				return -1;
			p++;
		}
	}
	if (ppid > INT32_MAX || utime > UINT64_MAX - stime)
		return -1;
	out->pid = (int)pid;
	out->ppid = (int)ppid;
	out->ticks = utime + stime;
	out->start = start;
	return 0;
}

int
ps_parse_status_uid(const char *buf, size_t len, uint32_t *uid)
{
	const char *p = buf, *end = buf + len, *nl;
	uint64_t v;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		if (nl - p > 4 && memcmp(p, "Uid:", 4) == 0) {
			p += 4;
			while (p < nl && (*p == '\t' || *p == ' '))
				p++;
			if (read_u64(&p, nl, &v) == -1 || v > UINT32_MAX)
				return -1;
			*uid = (uint32_t)v;
			return 0;
		}
		p = nl + 1;
	}
	return -1;
}

static int
cmp_proc(const void *a, const void *b)
{
	const struct ps_proc *x = a, *y = b;

	return (x->pid > y->pid) - (x->pid < y->pid);
}

/* Read one process; -1 when it vanished or its files make no sense. */
static int
read_proc(const char *proc_root, const char *name, struct ps_proc *out)
{
	char path[4096], *text;
	size_t len;
	int rc;

	snprintf(path, sizeof(path), "%s/%s/stat", proc_root, name);
	if ((text = ag_read_text(path, PS_STAT_MAX, &len)) == NULL)
		return -1;
	rc = ps_parse_stat(text, len, out);
	free(text);
	if (rc == -1)
		return -1;
	snprintf(path, sizeof(path), "%s/%s/status", proc_root, name);
	if ((text = ag_read_text(path, PS_STATUS_MAX, &len)) == NULL)
		return -1;
	rc = ps_parse_status_uid(text, len, &out->uid);
	free(text);
	return rc;
}

struct ps_proc *
ps_scan(const char *proc_root, size_t max, size_t *n, bool *truncated,
    char *err, size_t errlen)
{
	struct ps_proc *v = NULL, *nv;
	size_t cap = 0, have = 0;
	struct dirent *de;
	DIR *d;

	*n = 0;
	*truncated = false;
	if ((d = opendir(proc_root)) == NULL) {
		ag_errf(err, errlen, "%s: %s", proc_root, strerror(errno));
		return NULL;
	}
	while ((de = readdir(d)) != NULL) {
		if (!ag_all_digits(de->d_name, strlen(de->d_name)))
			continue;
		if (have >= max) {
			*truncated = true;
			break;
		}
		if (have == cap) {
			cap = cap == 0 ? 256 : cap * 2;
			if (cap > max)
				cap = max;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
				ag_errf(err, errlen, "out of memory scanning %s",
				    proc_root);
				free(v);
				closedir(d);
				return NULL;
			}
			v = nv;
		}
		if (read_proc(proc_root, de->d_name, &v[have]) == 0)
			have++;
	}
	closedir(d);
	if (v == NULL && (v = malloc(sizeof(*v))) == NULL) {
		ag_errf(err, errlen, "out of memory scanning %s", proc_root);
		return NULL;
	}
	qsort(v, have, sizeof(*v), cmp_proc);
	*n = have;
	return v;
}

static const struct ps_sample *
find_sample(const struct ps_memory *mem, int pid)
{
	size_t lo = 0, hi = mem->n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (mem->v[mid].pid == pid)
			return &mem->v[mid];
		if (mem->v[mid].pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int
ps_account(struct ps_memory *mem, struct ps_proc *p, size_t n, uint64_t now,
    long clk_tck)
{
	const struct ps_sample *prev;
	struct ps_sample *nv;
	uint64_t used;
	size_t i;

	if (clk_tck < 1)
		clk_tck = 100;
	nv = malloc((n > 0 ? n : 1) * sizeof(*nv));
	for (i = 0; i < n; i++) {
		p[i].cpu_known = false;
		p[i].cpu_ms = 0;
		p[i].last_cpu_ms = now;
		if (nv == NULL)
			continue;
		prev = find_sample(mem, p[i].pid);
		if (prev != NULL && prev->start == p[i].start) {
			used = p[i].ticks > prev->ticks ? p[i].ticks - prev->ticks : 0;
			p[i].cpu_known = true;
			p[i].last_cpu_ms = used > 0 ? now : prev->last_cpu_ms;
		} else {
			/* New since the last scan (or a reused pid): all of it. */
			used = p[i].ticks;
			p[i].cpu_known = mem->have;
		}
		p[i].cpu_ms = p[i].cpu_known ?
		    used * 1000u / (uint64_t)clk_tck : 0;
		nv[i].pid = p[i].pid;
		nv[i].start = p[i].start;
		nv[i].ticks = p[i].ticks;
		nv[i].last_cpu_ms = p[i].last_cpu_ms;
	}
	if (nv == NULL)
		return -1;
	free(mem->v);
	mem->v = nv;
	mem->n = n;
	mem->have = true;
	return 0;
}

void
ps_memory_free(struct ps_memory *mem)
{
	free(mem->v);
	memset(mem, 0, sizeof(*mem));
}

const struct ps_proc *
ps_find(const struct ps_proc *p, size_t n, int pid)
{
	size_t lo = 0, hi = n, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (p[mid].pid == pid)
			return &p[mid];
		if (p[mid].pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}
