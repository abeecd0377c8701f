/*
 * fuzz_ssh_banner.c -- the SSH health check's reading of a server's first
 * bytes (backends/check_ssh.c).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "backends/check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *why;
	int r;

	if (size > CHK_SSH_BANNER_MAX)
		size = CHK_SSH_BANNER_MAX;
	r = chk_ssh_banner((const char *)data, size, &why);
	if (r < -1 || r > 1 || (r == -1 && why == NULL))
		abort();
	return 0;
}
