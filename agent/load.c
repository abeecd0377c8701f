/*
 * load.c -- see load.h.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/load.h"
#include "agent/util.h"

/* The number after "Key:" at the start of a line of meminfo, or -1. */
static double
meminfo_kb(const char *text, const char *key)
{
	size_t klen = strlen(key);
	const char *p = text;
	char *end;
	double v;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, key, klen) == 0) {
			v = strtod(p + klen, &end);
			return end == p + klen ? -1 : v;
		}
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return -1;
}

int
ld_percent(const char *loadavg, const char *meminfo, int ncpu)
{
	double load, p, total, avail;
	char *end;

	if (ncpu < 1)
		ncpu = 1;
	load = strtod(loadavg, &end);
	if (end == loadavg || load != load || load < 0)
		return -1;
	p = 100.0 - load * 100.0 / ncpu;
	if (meminfo != NULL) {
		total = meminfo_kb(meminfo, "MemTotal:");
		avail = meminfo_kb(meminfo, "MemAvailable:");
		if (total > 0 && avail >= 0 && avail * 100.0 / total < p)
			p = avail * 100.0 / total;
	}
	if (p < 1)
		return 1;
	if (p > 100)
		return 100;
	return (int)p;
}

int
ld_read_percent(const char *proc_root, int ncpu)
{
	char path[4096], *load = NULL, *mem = NULL;
	int pct = -1;

	snprintf(path, sizeof(path), "%s/loadavg", proc_root);
	if ((load = ag_read_text(path, LD_FILE_MAX, NULL)) == NULL)
		goto out;
	snprintf(path, sizeof(path), "%s/meminfo", proc_root);
	if ((mem = ag_read_text(path, LD_FILE_MAX, NULL)) == NULL)
		goto out;     /* the shell agent needs both files too */
	pct = ld_percent(load, mem, ncpu);
out:
	free(load);
	free(mem);
	return pct;
}

bool
ld_drain(const char *path, char *reason, size_t size)
{
	struct stat st;
	char line[LD_REASON_MAX * 4];
	size_t n = 0, i;
	ssize_t got;
	int fd;

	if (size > 0)
		reason[0] = '\0';
	if (path == NULL || path[0] == '\0' || stat(path, &st) == -1)
		return false;
	if (size == 0)
		return true;
	fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	if (fd != -1) {
		got = S_ISREG(st.st_mode) ? read(fd, line, sizeof(line)) : 0;
		for (i = 0; got > 0 && i < (size_t)got && line[i] != '\n' &&
		    n < LD_REASON_MAX && n + 1 < size; i++) {
			char c = line[i] == '\t' ? ' ' : line[i];

			if (c >= 0x20 && c < 0x7f)
				reason[n++] = c;
		}
		reason[n] = '\0';
		close(fd);
	}
	if (n == 0)
		snprintf(reason, size, "drain file %s", path);
	return true;
}
