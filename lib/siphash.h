/*
 * siphash.h -- SipHash-2-4 (Aumasson, Bernstein) for hash tables whose keys
 * come from clients (addresses, user names), as Linux, Python and Rust use
 * it: with a random key per table, nobody outside can aim keys at one bucket.
 */
#ifndef POOLGATE_SIPHASH_H
#define POOLGATE_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

/*
 * SipHash-2-4 of data[0..len) under key k (k[0] holds key bytes 0..7, k[1]
 * bytes 8..15, little-endian, as in the reference implementation). data may
 * be NULL when len is 0.
 */
uint64_t sip_hash24(const uint64_t k[2], const void *data, size_t len);

/*
 * Fill k with random bytes (getrandom). Before the kernel has entropy (very
 * early boot) fall back to bits of salt's and the stack's addresses: weak
 * against a determined attacker, but a table still works and its entry cap
 * still bounds it.
 */
void     sip_seed(uint64_t k[2], const void *salt);

#endif
