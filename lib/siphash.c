/*
 * siphash.c -- see siphash.h.
 */
#include <sys/random.h>

#include "lib/siphash.h"

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND do {                                           \
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32); \
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                    \
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                    \
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32); \
} while (0)

uint64_t
sip_hash24(const uint64_t k[2], const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t v0 = UINT64_C(0x736f6d6570736575) ^ k[0];
	uint64_t v1 = UINT64_C(0x646f72616e646f6d) ^ k[1];
	uint64_t v2 = UINT64_C(0x6c7967656e657261) ^ k[0];
	uint64_t v3 = UINT64_C(0x7465646279746573) ^ k[1];
	uint64_t m, b = (uint64_t)len << 56;
	size_t i;

	for (; len >= 8; len -= 8, p += 8) {
		for (m = 0, i = 0; i < 8; i++)
			m |= (uint64_t)p[i] << (8 * i);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	for (i = 0; i < len; i++)
		b |= (uint64_t)p[i] << (8 * i);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

void
sip_seed(uint64_t k[2], const void *salt)
{
	uintptr_t a = (uintptr_t)salt, s = (uintptr_t)&a;

	if (getrandom(k, 2 * sizeof(k[0]), GRND_NONBLOCK) ==
	    (ssize_t)(2 * sizeof(k[0])))
		return;
	k[0] = (uint64_t)a * UINT64_C(0x9e3779b97f4a7c15);
	k[1] = (uint64_t)s * UINT64_C(0xc2b2ae3d27d4eb4f);
}
