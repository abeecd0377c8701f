/*
 * fuzz_cookie_verify.c -- judging poolgate's affinity cookie (http/cookie.c).
 *
 * Input: a cookie value as a browser could send it. The key is fixed (the
 * seeds are signed with it), as is the clock. Whatever ck_verify() accepts
 * must be exactly what ck_make() writes for that VM, user and expiry, and
 * the user must be empty or a valid user name.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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
	char vm[CK_VM_MAX + 1], user[CK_USER_MAX + 1], again[CK_VALUE_MAX + 1];
	char prefix[CK_VM_MAX + CK_USER_MAX + 3];
	const char *v = (const char *)data, *p, *colon;
	uint64_t expires = 0;
	enum ck_result r;
	size_t i, ulen;
	int n;

	for (i = 0; i < CK_KEY_LEN; i++)
		key[i] = (uint8_t)i;            /* test_cookie.c's key */
	memset(vm, 0x7f, sizeof(vm));
	memset(user, 0x7f, sizeof(user));
	r = ck_verify(key, size ? v : NULL, size, FZ_NOW, vm, user);
	check(r == CK_VALID || r == CK_EXPIRED || r == CK_FORGED ||
	    r == CK_MALFORMED);
	check(strcmp(ck_result_name(r), "unknown") != 0);
	if (r != CK_VALID) {
		/* untouched */
		check((unsigned char)vm[0] == 0x7f && (unsigned char)user[0] == 0x7f);
		return 0;
	}
	/* Accepted: vm ':' user ':' expiry ':' MAC, as ck_make writes them. */
	ulen = strlen(user);
	check(ulen == 0 || hu_name_valid(user, ulen));
	n = snprintf(prefix, sizeof(prefix), "%s:%s:", vm, user);
	check(n > 2 && (size_t)n < size && memcmp(v, prefix, (size_t)n) == 0);
	p = v + n;
	colon = memchr(p, ':', size - (size_t)n);
	check(colon != NULL);
	for (; p < colon; p++)
		expires = expires * 10 + (uint64_t)(*p - '0');
	check(expires > FZ_NOW);
	n = ck_make(key, vm, user, expires, again, sizeof(again));
	check(n >= 0 && (size_t)n == size && memcmp(again, v, size) == 0);
	return 0;
}
