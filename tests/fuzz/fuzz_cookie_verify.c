/*
 * fuzz_cookie_verify.c -- judging poolgate's affinity cookie (http/cookie.c).
 *
 * Input: a cookie value as a browser could send it. The key is fixed (the
 * seeds are signed with it), as is the clock. Whatever ck_verify() accepts
 * must be exactly what ck_make() writes for that VM and expiry.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/cookie.h"

#define FZ_NOW UINT64_C(1767000000)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(bool ok)
{
	if (!ok)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t key[CK_KEY_LEN];
	char vm[CK_VM_MAX + 1], again[CK_VALUE_MAX + 1];
	const char *v = (const char *)data, *dot;
	uint64_t expires = 0;
	enum ck_result r;
	size_t i;
	int n;

	for (i = 0; i < CK_KEY_LEN; i++)
		key[i] = (uint8_t)i;            /* test_cookie.c's key */
	memset(vm, 0x7f, sizeof(vm));
	r = ck_verify(key, size ? v : NULL, size, FZ_NOW, vm);
	check(r == CK_VALID || r == CK_EXPIRED || r == CK_FORGED ||
	    r == CK_MALFORMED);
	check(strcmp(ck_result_name(r), "unknown") != 0);
	if (r != CK_VALID) {
		check((unsigned char)vm[0] == 0x7f);  /* untouched */
		return 0;
	}
	/* Accepted: name, '.', expiry, '.', MAC, as ck_make writes them. */
	n = (int)strlen(vm);
	check(n > 0 && (size_t)n < size && v[n] == '.');
	dot = memchr(v + n + 1, '.', size - (size_t)n - 1);
	check(dot != NULL);
	for (i = (size_t)n + 1; v + i < dot; i++)
		expires = expires * 10 + (uint64_t)(v[i] - '0');
	check(expires > FZ_NOW);
	n = ck_make(key, vm, expires, again, sizeof(again));
	check(n >= 0 && (size_t)n == size && memcmp(again, v, size) == 0);
	return 0;
}
