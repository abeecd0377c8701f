/*
 * notify.c -- see notify.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "agent/notify.h"

size_t
nt_format(const char *host, uint64_t wall_ms, const char *text, char *buf,
    size_t size)
{
	time_t sec = (time_t)(wall_ms / 1000);
	char stamp[32];
	struct tm tm;
	size_t n, i;
	int w;

	if (size == 0)
		return 0;
	gmtime_r(&sec, &tm);
	strftime(stamp, sizeof(stamp), "%a %b %e %H:%M:%S %Y", &tm);
	w = snprintf(buf, size, "\r\n\007Broadcast message from "
	    "poolgate-agent@%s (%s UTC):\r\n\r\n", host, stamp);
	if (w < 0)
		return 0;
	n = (size_t)w < size ? (size_t)w : size - 1;
	if (size > NT_TEXT_MAX + 1)
		size = NT_TEXT_MAX + 1;
	for (i = 0; text[i] != '\0' && n + 3 < size; i++) {
		unsigned char c = (unsigned char)text[i];

		if (c == '\n') {
			buf[n++] = '\r';
			buf[n++] = '\n';
		} else if (c >= 0x20 && c != 0x7f)
			buf[n++] = (char)c;     /* UTF-8 passes; controls do not */
	}
	if (n + 2 < size) {
		buf[n++] = '\r';
		buf[n++] = '\n';
	}
	buf[n] = '\0';
	return n;
}

size_t
nt_send(const char *dev_root, const struct ag_session *s, size_t n,
    const char *user, const char *msg, size_t len)
{
	char path[4096];
	struct stat st;
	size_t i, j, sent = 0;
	bool dup;
	int fd;

	for (i = 0; i < n; i++) {
		if (user != NULL && strcmp(s[i].user, user) != 0)
			continue;
		if (!ss_tty_safe(s[i].tty))
			continue;
		for (dup = false, j = 0; j < i && !dup; j++)
			dup = (user == NULL || strcmp(s[j].user, user) == 0) &&
			    strcmp(s[j].tty, s[i].tty) == 0;
		if (dup)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dev_root, s[i].tty);
		fd = open(path, O_WRONLY | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW |
		    O_CLOEXEC);
		if (fd == -1)
			continue;       /* mesg n (EACCES), gone */
		if (fstat(fd, &st) == 0 && S_ISCHR(st.st_mode) &&
		    write(fd, msg, len) > 0)
			sent++;
		close(fd);
	}
	return sent;
}
