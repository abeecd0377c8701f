/*
 * atomicfile.h -- replace a file crash-safely (state files, the cookie key).
 */
#ifndef POOLGATE_ATOMICFILE_H
#define POOLGATE_ATOMICFILE_H

#include <stddef.h>

/*
 * Replace dir/name with buf crash-safely: write dir/name.tmp (mode 0600,
 * created fresh, never through a symlink), fsync it, rename it over
 * dir/name and fsync dir. Returns 0, or -1 with the reason in err (the
 * temporary file is then removed and dir/name is untouched). err may be
 * NULL when errlen is 0.
 */
int af_write_atomic(const char *dir, const char *name, const void *buf,
    size_t len, char *err, size_t errlen);

#endif
