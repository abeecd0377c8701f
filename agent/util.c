/*
 * util.c -- see util.h.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent/util.h"

char *
ag_read_text(const char *path, size_t max, size_t *len)
{
	size_t have = 0, cap = 4096;
	char *buf = NULL, *nb;
	ssize_t n;
	int fd, saved;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) == -1)
		return NULL;
	if (cap > max + 1)
		cap = max + 1;
	if ((buf = malloc(cap)) == NULL)
		goto fail;
	for (;;) {
		if (have + 1 >= cap) {
			if (cap >= max + 1)
				break;
			cap = cap * 2 > max + 1 ? max + 1 : cap * 2;
			if ((nb = realloc(buf, cap)) == NULL)
				goto fail;
			buf = nb;
		}
		n = read(fd, buf + have, cap - 1 - have);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			goto fail;
		if (n == 0)
			break;
		have += (size_t)n;
	}
	buf[have] = '\0';
	close(fd);
	if (len != NULL)
		*len = have;
	return buf;
fail:
	saved = errno;
	free(buf);
	close(fd);
	errno = saved;
	return NULL;
}

void
ag_errf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (size == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
}

void
ag_copyn(char *dst, size_t size, const char *src, size_t len)
{
	if (size == 0)
		return;
	if (len > size - 1)
		len = size - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
}

void
ag_copy(char *dst, size_t size, const char *src)
{
	ag_copyn(dst, size, src, strlen(src));
}

uint64_t
ag_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t
ag_wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Howard Hinnant's days_from_civil. */
int64_t
ag_days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

bool
ag_all_digits(const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* n digits at s as a number, or -1. */
static int
digits(const char *s, size_t n)
{
	int v = 0;
	size_t i;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int
ag_parse_iso8601(const char *s, uint64_t *ms)
{
	int y, mo, d, h, mi, sec, frac = 0, fdig = 0, oh, om, sign;
	int64_t days, t;
	size_t i = 19;

	if (strlen(s) < 19 || s[4] != '-' || s[7] != '-' ||
	    (s[10] != 'T' && s[10] != ' ') || s[13] != ':' || s[16] != ':')
		return -1;
	y = digits(s, 4);
	mo = digits(s + 5, 2);
	d = digits(s + 8, 2);
	h = digits(s + 11, 2);
	mi = digits(s + 14, 2);
	sec = digits(s + 17, 2);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 ||
	    h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60)
		return -1;
	if (s[i] == '.') {
		for (i++; s[i] >= '0' && s[i] <= '9'; i++, fdig++)
			if (fdig < 3)
				frac = frac * 10 + (s[i] - '0');
		if (fdig == 0 || fdig > 9)
			return -1;
		for (; fdig < 3; fdig++)
			frac *= 10;
	}
	t = 0;
	if (s[i] == 'Z' && s[i + 1] == '\0')
		;
	else if ((s[i] == '+' || s[i] == '-') && strlen(s + i) == 6 &&
	    s[i + 3] == ':') {
		sign = s[i] == '+' ? 1 : -1;
		oh = digits(s + i + 1, 2);
		om = digits(s + i + 4, 2);
		if (oh < 0 || oh > 23 || om < 0 || om > 59)
			return -1;
		t = -sign * (int64_t)(oh * 3600 + om * 60);
	} else if (s[i] != '\0')
		return -1;
	days = ag_days_from_civil(y, (unsigned)mo, (unsigned)d);
	t += days * 86400 + h * 3600 + mi * 60 + sec;
	if (t < 0)
		return -1;
	*ms = (uint64_t)t * 1000u + (uint64_t)frac;
	return 0;
}

size_t
ag_words(const char *line, size_t len, const char **w, size_t *wl, size_t max)
{
	size_t n = 0, i = 0, s;

	while (i < len && n < max) {
		while (i < len && (line[i] == ' ' || line[i] == '\t'))
			i++;
		if (i == len)
			break;
		s = i;
		while (i < len && line[i] != ' ' && line[i] != '\t')
			i++;
		w[n] = line + s;
		wl[n++] = i - s;
	}
	return n;
}
