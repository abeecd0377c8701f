/*
 * atomicfile.c -- see atomicfile.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/atomicfile.h"

static void __attribute__((format(printf, 3, 4)))
af_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int
af_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
af_write_atomic(const char *dir, const char *name, const void *buf,
    size_t len, char *err, size_t errlen)
{
	char *path = NULL, *tmp = NULL;
	int fd = -1, dfd = -1, ret = -1;
	bool made_tmp = false;

	if (asprintf(&path, "%s/%s", dir, name) == -1) {
		path = NULL;
		af_errf(err, errlen, "%s/%s: out of memory", dir, name);
		goto out;
	}
	if (asprintf(&tmp, "%s.tmp", path) == -1) {
		tmp = NULL;
		af_errf(err, errlen, "%s: out of memory", path);
		goto out;
	}
	/*
	 * A temporary file left by a crash is removed, then created anew with
	 * O_EXCL: whatever was there (a symlink, a file of another mode) is
	 * never written through.
	 */
	if (unlink(tmp) == -1 && errno != ENOENT) {
		af_errf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd == -1) {
		af_errf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	made_tmp = true;
	if (fchmod(fd, 0600) == -1 || af_write_all(fd, buf, len) == -1 ||
	    fsync(fd) == -1) {
		af_errf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) == -1) {
		fd = -1;
		af_errf(err, errlen, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	/* The data is on disk before the name points at it. */
	if (rename(tmp, path) == -1) {
		af_errf(err, errlen, "%s: rename to %s: %s", tmp, path,
		    strerror(errno));
		goto out;
	}
	made_tmp = false;
	/* And the rename itself survives a crash. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1 || fsync(dfd) == -1) {
		af_errf(err, errlen, "%s: %s", dir, strerror(errno));
		goto out;
	}
	ret = 0;
out:
	if (fd != -1)
		close(fd);
	if (dfd != -1)
		close(dfd);
	if (made_tmp)
		unlink(tmp);
	free(tmp);
	free(path);
	return ret;
}
