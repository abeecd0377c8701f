/*
 * fuzz_sni.c -- the user a TLS server name names (hu_user_from_sni in
 * http/httpuser.c), against a fixed suffix and one taken from the input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/httpuser.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[300], out[HU_NAME_MAX + 1];
	const char *nul;
	int r;

	if (size >= sizeof(name))
		size = sizeof(name) - 1;
	memcpy(name, data, size);
	name[size] = '\0';
	r = hu_user_from_sni(name, ".ssh.pool.example.com", out);
	if (r == HU_FOUND && !hu_name_valid(out, strlen(out)))
		abort();
	if (r != HU_FOUND && out[0] != '\0')
		abort();
	/* "<name>\0<suffix>": any suffix. */
	nul = memchr(name, '\0', size);
	if (nul != NULL && nul[1] != '\0') {
		r = hu_user_from_sni(name, nul + 1, out);
		if (r == HU_FOUND && !hu_name_valid(out, strlen(out)))
			abort();
	}
	return 0;
}
