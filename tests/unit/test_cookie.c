/*
 * test_cookie.c -- the signed affinity cookie and its key file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "http/cookie.h"

#define T0 UINT64_C(1767000000)          /* 2025-12-29, UNIX seconds */
#define MAC1 "hQrrIJhkYWoS_7U_kPhCV8xJx8fi3EUYUkPKWh2Gqj4" /* of VALUE1 */
#define VALUE1 "vm1:alice:1767000000:" MAC1

static void
test_key(uint8_t key[CK_KEY_LEN])
{
	size_t i;

	for (i = 0; i < CK_KEY_LEN; i++)
		key[i] = (uint8_t)i;
}

static enum ck_result
verify_str(const uint8_t *key, const char *v, uint64_t now, char *vm,
    char *user)
{
	return ck_verify(key, v, strlen(v), now, vm, user);
}

/* Values checked against Python's hmac and base64 modules. */
static void
test_known_values(void **state)
{
	uint8_t key[CK_KEY_LEN];
	char v[CK_VALUE_MAX + 1];

	(void)state;
	test_key(key);
	assert_int_equal(ck_make(key, "vm1", "alice", T0, v, sizeof(v)), 64);
	assert_string_equal(v, VALUE1);
	assert_int_equal(ck_make(key, "vm.prod.1", "", T0, v, sizeof(v)), 65);
	assert_string_equal(v,
	    "vm.prod.1::1767000000:Ste6Sw5elcLZ3Ao5Bdhv4VZ6iGzE4uvkbhmcsOl8_GI");
	assert_int_equal(ck_make(key, "vm.prod.1", "j.doe$", T0, v, sizeof(v)),
	    71);
	assert_string_equal(v, "vm.prod.1:j.doe$:1767000000:"
	    "enjhvFQvuU_xXWJ11lJ5KbR24eADAnI2aaJGmjx58Jw");
}

static void
test_round_trip(void **state)
{
	static const char *names[] = { "vm1", "vm.prod.1", "a", "VM_2-b.",
	    "a...", "0", "123.456",
	    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_" };
	/* "" is an anonymous browser's; the last is HU_NAME_MAX bytes. */
	static const char *users[] = { "", "alice", "j.doe", "_svc-1$", "a",
	    "abcdefghijklmnopqrstuvwxyz012345" };
	uint8_t key[CK_KEY_LEN];
	char v[CK_VALUE_MAX + 1], vm[CK_VM_MAX + 1], user[CK_USER_MAX + 1];
	size_t i, j;
	int n;

	(void)state;
	test_key(key);
	assert_int_equal(strlen(names[7]), CK_VM_MAX);
	assert_int_equal(strlen(users[5]), CK_USER_MAX);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		for (j = 0; j < sizeof(users) / sizeof(users[0]); j++) {
			n = ck_make(key, names[i], users[j], T0, v, sizeof(v));
			assert_int_equal(n, (int)strlen(v));
			memset(vm, 'x', sizeof(vm));
			memset(user, 'x', sizeof(user));
			assert_int_equal(verify_str(key, v, T0 - 1, vm, user),
			    CK_VALID);
			assert_string_equal(vm, names[i]);
			assert_string_equal(user, users[j]);
		}
	}

	/* The longest value fits CK_VALUE_MAX exactly. */
	n = ck_make(key, names[7], users[5], UINT64_MAX, v, sizeof(v));
	assert_int_equal(n, CK_VALUE_MAX);
	assert_int_equal(verify_str(key, v, T0, vm, user), CK_VALID);
	assert_int_equal(ck_make(key, names[7], users[5], UINT64_MAX, v,
	    CK_VALUE_MAX), -1);
	assert_string_equal(v, "");
	/* Expiry 0 is well-formed, and long gone. */
	assert_true(ck_make(key, "vm1", "", 0, v, sizeof(v)) > 0);
	assert_int_equal(verify_str(key, v, 0, vm, user), CK_EXPIRED);
}

/*
 * Names of VMs and of users may both hold dots: the two pairs below would
 * be one signed text if a dot separated them. Each must verify as itself.
 */
static void
test_vm_and_user_never_confused(void **state)
{
	uint8_t key[CK_KEY_LEN];
	char a[CK_VALUE_MAX + 1], b[CK_VALUE_MAX + 1];
	char vm[CK_VM_MAX + 1], user[CK_USER_MAX + 1];

	(void)state;
	test_key(key);
	assert_true(ck_make(key, "vm.a", "b.c", T0, a, sizeof(a)) > 0);
	assert_true(ck_make(key, "vm.a.b", "c", T0, b, sizeof(b)) > 0);
	assert_string_not_equal(strrchr(a, ':'), strrchr(b, ':'));
	assert_int_equal(verify_str(key, a, T0 - 1, vm, user), CK_VALID);
	assert_string_equal(vm, "vm.a");
	assert_string_equal(user, "b.c");
	assert_int_equal(verify_str(key, b, T0 - 1, vm, user), CK_VALID);
	assert_string_equal(vm, "vm.a.b");
	assert_string_equal(user, "c");
}

static void
test_expiry_boundary(void **state)
{
	uint8_t key[CK_KEY_LEN];
	char v[CK_VALUE_MAX + 1], vm[CK_VM_MAX + 1] = "untouched";
	char user[CK_USER_MAX + 1] = "untouched";

	(void)state;
	test_key(key);
	assert_true(ck_make(key, "vm1", "alice", T0, v, sizeof(v)) > 0);
	assert_int_equal(verify_str(key, v, 0, vm, user), CK_VALID);
	assert_int_equal(verify_str(key, v, T0 - 1, vm, user), CK_VALID);
	strcpy(vm, "untouched");
	strcpy(user, "untouched");
	assert_int_equal(verify_str(key, v, T0, vm, user), CK_EXPIRED);
	assert_int_equal(verify_str(key, v, T0 + 1, vm, user), CK_EXPIRED);
	assert_int_equal(verify_str(key, v, UINT64_MAX, vm, user), CK_EXPIRED);
	assert_string_equal(vm, "untouched");
	assert_string_equal(user, "untouched");
	assert_string_equal(ck_result_name(CK_EXPIRED), "expired");
}

static void
test_forged(void **state)
{
	static const char b64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	uint8_t key[CK_KEY_LEN], other[CK_KEY_LEN];
	char v[CK_VALUE_MAX + 1], w[CK_VALUE_MAX + 1], vm[CK_VM_MAX + 1];
	char user[CK_USER_MAX + 1] = "untouched";
	char vm2[CK_VALUE_MAX + 1], late[CK_VALUE_MAX + 1];
	size_t len, i, mac_at;
	enum ck_result r;
	int bit;

	(void)state;
	test_key(key);
	len = (size_t)ck_make(key, "vm.prod.1", "alice", T0, v, sizeof(v));
	mac_at = len - CK_MAC_CHARS;

	/* Every MAC character changed to every other base64url one: forged. */
	for (i = mac_at; i < len; i++) {
		for (bit = 0; bit < 64; bit++) {
			if (b64[bit] == v[i])
				continue;
			memcpy(w, v, len + 1);
			w[i] = b64[bit];
			assert_int_equal(verify_str(key, w, T0 - 1, vm, user),
			    CK_FORGED);
		}
	}
	/* One bit flipped anywhere: never accepted, never "expired". */
	for (i = 0; i < len; i++) {
		for (bit = 0; bit < 8; bit++) {
			memcpy(w, v, len + 1);
			w[i] ^= (char)(1 << bit);
			r = ck_verify(key, w, len, T0 - 1, vm, user);
			assert_true(r == CK_FORGED || r == CK_MALFORMED);
			/* In the MAC: forged if still base64url, else malformed. */
			if (i >= mac_at)
				assert_int_equal(r, w[i] != '\0' &&
				    strchr(b64, w[i]) != NULL ? CK_FORGED :
				    CK_MALFORMED);
		}
	}
	assert_string_equal(user, "untouched");

	/* Another VM's name, or a later expiry, under the old MAC. */
	snprintf(vm2, sizeof(vm2), "vm2:alice:1767000000:%s", v + mac_at);
	assert_int_equal(verify_str(key, vm2, T0 - 1, vm, user), CK_FORGED);
	snprintf(vm2, sizeof(vm2), "vm.prod.2:alice:1767000000:%s", v + mac_at);
	assert_int_equal(verify_str(key, vm2, T0 - 1, vm, user), CK_FORGED);
	snprintf(late, sizeof(late), "vm.prod.1:alice:1767000001:%s", v + mac_at);
	assert_int_equal(verify_str(key, late, T0 - 1, vm, user), CK_FORGED);
	/* Expired and forged at once: forged, an old MAC tells nothing. */
	assert_int_equal(verify_str(key, vm2, UINT64_MAX, vm, user), CK_FORGED);

	/* Another key. */
	memcpy(other, key, sizeof(other));
	other[31] ^= 1;
	assert_int_equal(verify_str(other, v, T0 - 1, vm, user), CK_FORGED);
	assert_string_equal(ck_result_name(CK_FORGED), "forged");
	assert_string_equal(user, "untouched");
}

/*
 * The user is signed: alice's cookie with another name put in, or the
 * name taken out (an anonymous browser's), or one put into an anonymous
 * cookie, is forged; it never routes anyone.
 */
static void
test_tampered_user_refused(void **state)
{
	static const char *others[] = { "bob", "alicf", "alice$", "", "alic",
	    "alice.x" };
	uint8_t key[CK_KEY_LEN];
	char v[CK_VALUE_MAX + 1], vm[CK_VM_MAX + 1] = "untouched";
	char user[CK_USER_MAX + 1] = "untouched", anon[CK_VALUE_MAX + 1];
	size_t i;

	(void)state;
	test_key(key);
	for (i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		snprintf(v, sizeof(v), "vm1:%s:1767000000:%s", others[i], MAC1);
		assert_int_equal(verify_str(key, v, T0 - 1, vm, user), CK_FORGED);
	}
	/* An anonymous cookie given a name. */
	assert_true(ck_make(key, "vm1", "", T0, anon, sizeof(anon)) > 0);
	snprintf(v, sizeof(v), "vm1:alice:1767000000:%s", strrchr(anon, ':') + 1);
	assert_int_equal(verify_str(key, v, T0 - 1, vm, user), CK_FORGED);
	/* A name that is no user name at all: refused before the MAC. */
	snprintf(v, sizeof(v), "vm1:Alice:1767000000:%s", MAC1);
	assert_int_equal(verify_str(key, v, T0 - 1, vm, user), CK_MALFORMED);
	assert_string_equal(vm, "untouched");
	assert_string_equal(user, "untouched");
	/* The genuine one still verifies. */
	assert_int_equal(verify_str(key, VALUE1, T0 - 1, vm, user), CK_VALID);
	assert_string_equal(user, "alice");
}

/* v1's MAC over `text` under the same key, base64url, into mac. */
static void
mac_v1(const uint8_t *key, const char *text, char mac[CK_MAC_CHARS + 1])
{
	static const char a[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	unsigned char msg[256], md[32];
	unsigned int mdlen = 0;
	size_t n = strlen(text), i, o = 0;
	uint32_t x;

	assert_true(14 + n <= sizeof(msg));
	memcpy(msg, "poolgate-vm 1:", 14);
	memcpy(msg + 14, text, n);
	assert_non_null(HMAC(EVP_sha256(), key, CK_KEY_LEN, msg, 14 + n, md,
	    &mdlen));
	assert_int_equal(mdlen, 32);
	for (i = 0; i + 3 <= 32; i += 3) {
		x = (uint32_t)md[i] << 16 | (uint32_t)md[i + 1] << 8 | md[i + 2];
		mac[o++] = a[x >> 18 & 63];
		mac[o++] = a[x >> 12 & 63];
		mac[o++] = a[x >> 6 & 63];
		mac[o++] = a[x & 63];
	}
	x = (uint32_t)md[30] << 16 | (uint32_t)md[31] << 8;
	mac[o++] = a[x >> 18 & 63];
	mac[o++] = a[x >> 12 & 63];
	mac[o++] = a[x >> 6 & 63];
	mac[o] = '\0';
}

/*
 * Cookies of version 1 ("<vm>.<expires>.<mac>", no user) are refused, so a
 * browser holding one is placed by the normal rules and given a new one;
 * and no v1 MAC vouches for a v2 text (the signed prefix changed).
 */
static void
test_old_format_refused(void **state)
{
	uint8_t key[CK_KEY_LEN];
	char v[CK_VALUE_MAX + 1], mac[CK_MAC_CHARS + 1];
	char vm[CK_VM_MAX + 1] = "untouched", user[CK_USER_MAX + 1] = "untouched";

	(void)state;
	test_key(key);
	/* Exactly what version 1 wrote for vm1 at T0 (its known value). */
	mac_v1(key, "vm1.1767000000", mac);
	assert_string_equal(mac, "QmBbqpVx3hIdyaRVx9tXk27ON8qG_675P0qb03Ofhfk");
	assert_int_equal(verify_str(key,
	    "vm1.1767000000.QmBbqpVx3hIdyaRVx9tXk27ON8qG_675P0qb03Ofhfk", T0 - 1,
	    vm, user), CK_MALFORMED);
	assert_int_equal(verify_str(key,
	    "vm.prod.1.1767000000.-6q9w8kXjMunPc5U4yPorDUf5K9yUmPoBsJ5clQav5w",
	    T0 - 1, vm, user), CK_MALFORMED);
	/* The v1 MAC of a v2 text: forged. */
	mac_v1(key, "vm1:alice:1767000000", mac);
	snprintf(v, sizeof(v), "vm1:alice:1767000000:%s", mac);
	assert_int_equal(verify_str(key, v, T0 - 1, vm, user), CK_FORGED);
	assert_string_equal(vm, "untouched");
	assert_string_equal(user, "untouched");
}

static void
test_truncated_and_garbage(void **state)
{
	static const char *bad[] = {
		":", "::", ":::", "::::", "vm1", "vm1:alice", "vm1:alice:1767000000",
		"vm1:alice:1767000000:", "vm1::", ":alice:1767000000:",
		"\"" VALUE1 "\"", " " VALUE1, VALUE1 " ", VALUE1 "=", VALUE1 ":",
		"vm1:alice:1767000000:hQrrIJhkYWoS_7U_kPhCV8xJx8fi3EUYUkPKWh2Gqj",
		"vm1:alice:1767000000:hQrrIJhkYWoS_7U_kPhCV8xJx8fi3EUYUkPKWh2Gqj4A",
		"vm1:alice:1767000000:hQrrIJhkYWoS+7U_kPhCV8xJx8fi3EUYUkPKWh2Gqj4",
		"vm1:alice:01767000000:" MAC1,
		"vm1:alice:-1767000000:" MAC1,
		"vm1:alice:+1767000000:" MAC1,
		"vm1:alice::" MAC1,
		":alice:1767000000:" MAC1,
		"alice:1767000000:" MAC1,
		"vm1:1767000000:" MAC1,
		"vm1:alice:1767000000:x:" MAC1,
		"vm1:al:ice:1767000000:" MAC1,
		"vm/1:alice:1767000000:" MAC1,
		"vm1:al ice:1767000000:" MAC1,
		"vm1:1alice:1767000000:" MAC1,
		"vm1:a..b:1767000000:" MAC1,
		"vm1:abcdefghijklmnopqrstuvwxyz0123456:1767000000:" MAC1,
		"vm1:alice:18446744073709551616:" MAC1,
		"poolgate_vm=" VALUE1,
		"\xc3\xa9:alice:1767000000:" MAC1,
		"vm1:\xc3\xa9:1767000000:" MAC1,
	};
	uint8_t key[CK_KEY_LEN];
	char v[CK_VALUE_MAX + 1], vm[CK_VM_MAX + 1] = "untouched";
	char user[CK_USER_MAX + 1] = "untouched";
	char *cut;
	size_t i, len;

	(void)state;
	test_key(key);
	assert_int_equal(ck_verify(key, NULL, 0, T0, vm, user), CK_MALFORMED);
	assert_int_equal(ck_verify(key, "", 0, T0, vm, user), CK_MALFORMED);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(verify_str(key, bad[i], T0 - 1, vm, user),
		    CK_MALFORMED);
	/* A NUL inside is a byte like any other. */
	assert_int_equal(ck_verify(key, "vm1\0:alice:1767000000:" MAC1, 65,
	    T0 - 1, vm, user), CK_MALFORMED);
	assert_int_equal(ck_verify(key, "vm1:alice\0:1767000000:" MAC1, 65,
	    T0 - 1, vm, user), CK_MALFORMED);
	assert_string_equal(vm, "untouched");
	assert_string_equal(user, "untouched");

	/* Every prefix of a valid value, in an exact-size buffer. */
	len = (size_t)ck_make(key, "vm.prod.1", "j.doe", T0, v, sizeof(v));
	for (i = 0; i < len; i++) {
		cut = malloc(i ? i : 1);
		assert_non_null(cut);
		memcpy(cut, v, i);
		assert_int_equal(ck_verify(key, cut, i, T0 - 1, vm, user),
		    CK_MALFORMED);
		free(cut);
	}
	assert_int_equal(ck_verify(key, v, len, T0 - 1, vm, user), CK_VALID);
	assert_string_equal(vm, "vm.prod.1");
	assert_string_equal(user, "j.doe");
	assert_string_equal(ck_result_name(CK_MALFORMED), "malformed");
	assert_string_equal(ck_result_name(CK_VALID), "valid");
}

static void
test_over_long(void **state)
{
	uint8_t key[CK_KEY_LEN];
	char name[CK_VM_MAX + 2], v[2 * CK_VALUE_MAX], vm[CK_VM_MAX + 1];
	char user[CK_USER_MAX + 1];
	size_t len;

	(void)state;
	test_key(key);
	memset(name, 'n', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';          /* CK_VM_MAX + 1 bytes */
	assert_int_equal(ck_make(key, name, "", T0, v, sizeof(v)), -1);
	assert_string_equal(v, "");

	/* A longest valid value with one more byte in its name. */
	name[CK_VM_MAX] = '\0';
	len = (size_t)ck_make(key, name, "abcdefghijklmnopqrstuvwxyz012345",
	    UINT64_MAX, v + 1, sizeof(v) - 1);
	assert_int_equal(len, CK_VALUE_MAX);
	v[0] = 'n';
	assert_int_equal(ck_verify(key, v, len + 1, 0, vm, user), CK_MALFORMED);
	assert_int_equal(ck_verify(key, v + 1, len, 0, vm, user), CK_VALID);
	/* Huge lengths are refused before anything is read. */
	assert_int_equal(ck_verify(key, v, SIZE_MAX, 0, vm, user), CK_MALFORMED);
}

static void
test_make_errors(void **state)
{
	static const char *bad[] = { "", "vm 1", "vm/1", "vm1;", "vm1=",
	    "\xc3\xa9", "vm\n1", "vm:1" };
	static const char *bad_users[] = { "Alice", "al:ice", "al ice", "1abc",
	    "a..b", "$", "abcdefghijklmnopqrstuvwxyz0123456", "al;ice",
	    "\xc3\xa9" };
	uint8_t key[CK_KEY_LEN];
	char v[CK_VALUE_MAX + 1];
	size_t i;
	int n;

	(void)state;
	test_key(key);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		strcpy(v, "junk");
		assert_int_equal(ck_make(key, bad[i], "", T0, v, sizeof(v)), -1);
		assert_string_equal(v, "");
	}
	for (i = 0; i < sizeof(bad_users) / sizeof(bad_users[0]); i++) {
		strcpy(v, "junk");
		assert_int_equal(ck_make(key, "vm1", bad_users[i], T0, v,
		    sizeof(v)), -1);
		assert_string_equal(v, "");
	}
	assert_int_equal(ck_make(key, NULL, "", T0, v, sizeof(v)), -1);
	assert_int_equal(ck_make(key, "vm1", NULL, T0, v, sizeof(v)), -1);
	/* Exactly enough room, and one byte less. */
	n = ck_make(key, "vm1", "alice", T0, v, sizeof(v));
	assert_int_equal(ck_make(key, "vm1", "alice", T0, v, (size_t)n + 1), n);
	assert_int_equal(ck_make(key, "vm1", "alice", T0, v, (size_t)n), -1);
	assert_string_equal(v, "");
	assert_int_equal(ck_make(key, "vm1", "alice", T0, v, 0), -1);
}

static void
test_set_cookie(void **state)
{
	char out[256];
	int n;

	(void)state;
	n = ck_set_cookie_header(CK_NAME_DEFAULT, VALUE1, 3600, false, out,
	    sizeof(out));
	assert_int_equal(n, (int)strlen(out));
	assert_string_equal(out, "poolgate_vm=" VALUE1 "; Path=/; Max-Age=3600; "
	    "HttpOnly; SameSite=Lax");
	n = ck_set_cookie_header("pg", "v", 86400, true, out, sizeof(out));
	assert_int_equal(n, (int)strlen(out));
	assert_string_equal(out, "pg=v; Path=/; Max-Age=86400; HttpOnly; "
	    "SameSite=Lax; Secure");
	/* Removing the cookie. */
	assert_true(ck_set_cookie_header("pg", "", 0, true, out, sizeof(out)) > 0);
	assert_string_equal(out, "pg=; Path=/; Max-Age=0; HttpOnly; "
	    "SameSite=Lax; Secure");

	/* Nothing that could end or split the header. */
	assert_int_equal(ck_set_cookie_header("pg", "v\r\nX-Evil: 1", 1, false,
	    out, sizeof(out)), -1);
	assert_string_equal(out, "");
	assert_int_equal(ck_set_cookie_header("pg", "a;b", 1, false, out,
	    sizeof(out)), -1);
	assert_int_equal(ck_set_cookie_header("pg", "a b", 1, false, out,
	    sizeof(out)), -1);
	assert_int_equal(ck_set_cookie_header("pg", "\"a\"", 1, false, out,
	    sizeof(out)), -1);
	assert_int_equal(ck_set_cookie_header("p=g", "v", 1, false, out,
	    sizeof(out)), -1);
	assert_int_equal(ck_set_cookie_header("p g", "v", 1, false, out,
	    sizeof(out)), -1);
	assert_int_equal(ck_set_cookie_header("", "v", 1, false, out,
	    sizeof(out)), -1);
	assert_int_equal(ck_set_cookie_header(NULL, "v", 1, false, out,
	    sizeof(out)), -1);
	assert_int_equal(ck_set_cookie_header("pg", NULL, 1, false, out,
	    sizeof(out)), -1);
	/* Too small: exactly enough, then one byte less. */
	assert_int_equal(ck_set_cookie_header("pg", "v", 1, false, out, 48), 47);
	assert_int_equal(ck_set_cookie_header("pg", "v", 1, false, out, 47), -1);
	assert_string_equal(out, "");
}

/* --- the key file --- */

static char *
mkdir_tmp(void)
{
	char *d = strdup("/tmp/pg-ck-XXXXXX");

	assert_non_null(d);
	assert_non_null(mkdtemp(d));
	return d;
}

static void
rm_dir(char *d)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
	assert_int_equal(system(cmd), 0);
	free(d);
}

static char *
path_in(const char *dir, const char *name)
{
	char *p;

	assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

static bool
all_zero(const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != 0)
			return false;
	return true;
}

static void
write_file(const char *path, const void *p, size_t n, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, n), (ssize_t)n);
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static void
test_key_create_and_reuse(void **state)
{
	uint8_t k1[CK_KEY_LEN], k2[CK_KEY_LEN], disk[CK_KEY_LEN + 1];
	char err[512] = "", *top = mkdir_tmp(), *dir = path_in(top, "state");
	char *path = path_in(dir, CK_KEY_FILE), *tmp = path_in(dir, CK_KEY_TMP);
	char v[CK_VALUE_MAX + 1], vm[CK_VM_MAX + 1], user[CK_USER_MAX + 1];
	struct stat st;
	mode_t old = umask(0);
	int fd;

	(void)state;
	assert_int_equal(ck_key_load_or_create(dir, k1, err, sizeof(err)), 0);
	assert_string_equal(err, "");
	assert_false(all_zero(k1, sizeof(k1)));
	/* The directory and the file, private. */
	assert_int_equal(stat(dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, CK_KEY_LEN);
	assert_int_equal(lstat(tmp, &st), -1);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, disk, sizeof(disk)), CK_KEY_LEN);
	close(fd);
	assert_memory_equal(disk, k1, CK_KEY_LEN);

	/* The next start reuses it, so its cookies still verify. */
	assert_true(ck_make(k1, "vm1", "alice", T0, v, sizeof(v)) > 0);
	assert_int_equal(ck_key_load_or_create(dir, k2, err, sizeof(err)), 0);
	assert_memory_equal(k1, k2, CK_KEY_LEN);
	assert_int_equal(verify_str(k2, v, T0 - 1, vm, user), CK_VALID);

	/* Read-only for the owner is fine too. */
	assert_int_equal(chmod(path, 0400), 0);
	assert_int_equal(ck_key_load_or_create(dir, k2, err, sizeof(err)), 0);
	assert_memory_equal(k1, k2, CK_KEY_LEN);

	/* Another directory makes another key; a stale temporary file goes. */
	umask(old);
	free(tmp);
	free(path);
	free(dir);
	dir = path_in(top, "other");
	assert_int_equal(mkdir(dir, 0755), 0);
	tmp = path_in(dir, CK_KEY_TMP);
	path = path_in(dir, CK_KEY_FILE);
	write_file(tmp, "junk", 4, 0644);
	assert_int_equal(ck_key_load_or_create(dir, k2, err, sizeof(err)), 0);
	assert_memory_not_equal(k1, k2, CK_KEY_LEN);
	assert_int_equal(lstat(tmp, &st), -1);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	free(tmp);
	free(path);
	free(dir);
	rm_dir(top);
}

static void
test_key_refused(void **state)
{
	uint8_t key[CK_KEY_LEN], good[CK_KEY_LEN], disk[64];
	char err[512], *dir = mkdir_tmp(), *path = path_in(dir, CK_KEY_FILE);
	struct stat st;
	static const size_t sizes[] = { 0, 31, 33, 64 };
	static const mode_t modes[] = { 0644, 0640, 0604, 0660, 0602 };
	size_t i;

	(void)state;
	memset(good, 0xab, sizeof(good));

	/* Wrong size: refused, the file left as it was, the key wiped. */
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		memset(disk, 'k', sizeof(disk));
		write_file(path, disk, sizes[i], 0600);
		memset(key, 0x55, sizeof(key));
		err[0] = '\0';
		assert_int_equal(ck_key_load_or_create(dir, key, err, sizeof(err)), -1);
		assert_true(all_zero(key, sizeof(key)));
		assert_non_null(strstr(err, "expected a key of exactly 32"));
		assert_non_null(strstr(err, "remove it"));
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_size, (off_t)sizes[i]);
	}

	/* Readable or writable by others: refused, mode untouched. */
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		write_file(path, good, sizeof(good), modes[i]);
		memset(key, 0x55, sizeof(key));
		err[0] = '\0';
		assert_int_equal(ck_key_load_or_create(dir, key, err, sizeof(err)), -1);
		assert_true(all_zero(key, sizeof(key)));
		assert_non_null(strstr(err, "lets others at the key"));
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_mode & 07777, modes[i]);
	}
	/* Once fixed by the operator, it is used. */
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(ck_key_load_or_create(dir, key, err, sizeof(err)), 0);
	assert_memory_equal(key, good, sizeof(good));
	unlink(path);

	/* Not a regular file. */
	assert_int_equal(mkdir(path, 0700), 0);
	err[0] = '\0';
	assert_int_equal(ck_key_load_or_create(dir, key, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a regular file"));
	rmdir(path);

	/* A state_dir that cannot be made (its parent is missing, or a file). */
	free(path);
	path = path_in(dir, "no/such");
	err[0] = '\0';
	assert_int_equal(ck_key_load_or_create(path, key, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot create"));
	free(path);
	path = path_in(dir, "file");
	write_file(path, "x", 1, 0600);
	err[0] = '\0';
	assert_int_equal(ck_key_load_or_create(path, key, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "Not a directory"));
	assert_true(all_zero(key, sizeof(key)));

	/* A directory we may not write to (root writes anyway). */
	if (geteuid() != 0) {
		free(path);
		path = path_in(dir, "ro");
		assert_int_equal(mkdir(path, 0500), 0);
		err[0] = '\0';
		assert_int_equal(ck_key_load_or_create(path, key, err,
		    sizeof(err)), -1);
		assert_non_null(strstr(err, "Permission denied"));
		assert_int_equal(chmod(path, 0700), 0);
	}
	free(path);
	rm_dir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_values),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_vm_and_user_never_confused),
		cmocka_unit_test(test_expiry_boundary),
		cmocka_unit_test(test_forged),
		cmocka_unit_test(test_tampered_user_refused),
		cmocka_unit_test(test_old_format_refused),
		cmocka_unit_test(test_truncated_and_garbage),
		cmocka_unit_test(test_over_long),
		cmocka_unit_test(test_make_errors),
		cmocka_unit_test(test_set_cookie),
		cmocka_unit_test(test_key_create_and_reuse),
		cmocka_unit_test(test_key_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
