/*
 * cookie.c -- poolgate's signed affinity cookie and its key.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "lib/atomicfile.h"
#include "lib/text.h"
#include "http/cookie.h"

/*
 * Signed before the value: should the key ever sign anything else, such a
 * MAC can never pass for a cookie's. The version moved to 2 when the user
 * joined the signed text, so that no MAC of version 1 can vouch for a
 * version 2 value, whatever its bytes.
 */
#define CK_DOMAIN "poolgate-vm 2:"
#define CK_SEP    ':'

_Static_assert(CK_KEY_LEN == 32, "the MAC is HMAC-SHA256 with a 32-byte key");

static void ck_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
ck_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static bool
ck_vm_valid(const char *s, size_t len)
{
	return pg_name_valid_n(s, len, CK_VM_MAX);   /* the one VM-name rule */
}

static bool
ck_b64url_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '_';
}

/* Unpadded base64url of in[0..len) into out (4 * len / 3 rounded up, then NUL). */
static void
ck_b64url(const uint8_t *in, size_t len, char *out)
{
	static const char a[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t i, o = 0;
	uint32_t v;

	for (i = 0; i + 3 <= len; i += 3) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		out[o++] = a[v >> 18 & 63];
		out[o++] = a[v >> 12 & 63];
		out[o++] = a[v >> 6 & 63];
		out[o++] = a[v & 63];
	}
	if (len - i == 1) {
		v = (uint32_t)in[i] << 16;
		out[o++] = a[v >> 18 & 63];
		out[o++] = a[v >> 12 & 63];
	} else if (len - i == 2) {
		v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		out[o++] = a[v >> 18 & 63];
		out[o++] = a[v >> 12 & 63];
		out[o++] = a[v >> 6 & 63];
	}
	out[o] = '\0';
}

/* A user field: empty (anonymous) or a valid user name. */
static bool
ck_user_valid(const char *s, size_t len)
{
	return len == 0 || hu_name_valid(s, len);
}

/*
 * The MAC of the signed part s[0..len) ("<vm>:<user>:<expires>"),
 * base64url, into mac. Returns 0, or -1 when OpenSSL fails (mac is then
 * wiped).
 */
static int
ck_mac(const uint8_t key[CK_KEY_LEN], const char *s, size_t len,
    char mac[CK_MAC_CHARS + 1])
{
	unsigned char msg[sizeof(CK_DOMAIN) - 1 + CK_VALUE_MAX];
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int ret = -1;

	if (len > CK_VALUE_MAX)
		goto out;
	memcpy(msg, CK_DOMAIN, sizeof(CK_DOMAIN) - 1);
	memcpy(msg + sizeof(CK_DOMAIN) - 1, s, len);
	if (HMAC(EVP_sha256(), key, CK_KEY_LEN, msg, sizeof(CK_DOMAIN) - 1 + len,
	    md, &mdlen) == NULL || mdlen != 32)
		goto out;
	ck_b64url(md, mdlen, mac);
	ret = 0;
out:
	if (ret == -1)
		OPENSSL_cleanse(mac, CK_MAC_CHARS + 1);
	OPENSSL_cleanse(md, sizeof(md));
	return ret;
}

int
ck_make(const uint8_t key[CK_KEY_LEN], const char *vm_name, const char *user,
    uint64_t expires_wall_s, char *out, size_t outlen)
{
	char val[CK_VALUE_MAX + 1], mac[CK_MAC_CHARS + 1];
	size_t nlen, ulen;
	int n, ret = -1;

	if (vm_name == NULL || user == NULL)
		goto out;
	nlen = strnlen(vm_name, CK_VM_MAX + 1);
	ulen = strnlen(user, CK_USER_MAX + 1);
	if (!ck_vm_valid(vm_name, nlen) || !ck_user_valid(user, ulen))
		goto out;
	n = snprintf(val, sizeof(val), "%s%c%s%c%" PRIu64, vm_name, CK_SEP, user,
	    CK_SEP, expires_wall_s);
	if (n < 0 || (size_t)n >= sizeof(val) ||
	    ck_mac(key, val, (size_t)n, mac) == -1)
		goto out;
	n = snprintf(out, outlen, "%s%c%s", val, CK_SEP, mac);
	if (n < 0 || (size_t)n >= outlen)
		goto out;
	ret = n;
out:
	if (ret == -1 && outlen > 0)
		out[0] = '\0';
	OPENSSL_cleanse(mac, sizeof(mac));
	return ret;
}

enum ck_result
ck_verify(const uint8_t key[CK_KEY_LEN], const char *value, size_t vlen,
    uint64_t now_wall_s, char vm_out[CK_VM_MAX + 1],
    char user_out[CK_USER_MAX + 1])
{
	char mac[CK_MAC_CHARS + 1];
	const char *sep_user, *sep_exp, *sep_mac, *u, *e, *end;
	size_t signed_len, nlen, ulen, elen, i;
	uint64_t expires = 0;
	enum ck_result ret = CK_MALFORMED;

	if (vlen == 0 || vlen > CK_VALUE_MAX)
		goto out;
	/* No field holds a ':', so the first three split the value. */
	end = value + vlen;
	if ((sep_user = memchr(value, CK_SEP, vlen)) == NULL)
		goto out;
	u = sep_user + 1;
	if ((sep_exp = memchr(u, CK_SEP, (size_t)(end - u))) == NULL)
		goto out;
	e = sep_exp + 1;
	if ((sep_mac = memchr(e, CK_SEP, (size_t)(end - e))) == NULL)
		goto out;
	nlen = (size_t)(sep_user - value);
	ulen = (size_t)(sep_exp - u);
	elen = (size_t)(sep_mac - e);
	signed_len = (size_t)(sep_mac - value);
	if (vlen - signed_len - 1 != CK_MAC_CHARS)
		goto out;
	for (i = 0; i < CK_MAC_CHARS; i++)
		if (!ck_b64url_char(sep_mac[1 + i]))
			goto out;
	if (!ck_vm_valid(value, nlen) || !ck_user_valid(u, ulen) ||
	    elen == 0 || elen > CK_EXPIRES_MAX || (elen > 1 && e[0] == '0'))
		goto out;
	for (i = 0; i < elen; i++) {
		unsigned d = (unsigned char)e[i] - '0';

		if (d > 9 || expires > (UINT64_MAX - d) / 10)
			goto out;
		expires = expires * 10 + d;
	}

	ret = CK_FORGED;
	if (ck_mac(key, value, signed_len, mac) == -1)
		goto out;
	if (CRYPTO_memcmp(mac, sep_mac + 1, CK_MAC_CHARS) != 0)
		goto out;
	ret = CK_EXPIRED;
	if (now_wall_s >= expires)
		goto out;
	memcpy(vm_out, value, nlen);
	vm_out[nlen] = '\0';
	memcpy(user_out, u, ulen);
	user_out[ulen] = '\0';
	ret = CK_VALID;
out:
	OPENSSL_cleanse(mac, sizeof(mac));
	return ret;
}

const char *
ck_result_name(enum ck_result r)
{
	switch (r) {
	case CK_VALID:
		return "valid";
	case CK_EXPIRED:
		return "expired";
	case CK_FORGED:
		return "forged";
	case CK_MALFORMED:
		return "malformed";
	}
	return "unknown";
}

/* An RFC 6265 cookie-name: a token, RFC 2616 2.2. */
static bool
ck_token_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && strchr("()<>@,;:\\\"/[]?={}", c) == NULL;
}

/* cookie-octet, RFC 6265 4.1.1: no CTL, space, DQUOTE, comma, ';' or '\'. */
static bool
ck_octet(unsigned char c)
{
	return c == 0x21 || (c >= 0x23 && c <= 0x2b) || (c >= 0x2d && c <= 0x3a) ||
	    (c >= 0x3c && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);
}

int
ck_set_cookie_header(const char *name, const char *value, uint64_t max_age_s,
    bool secure, char *out, size_t outlen)
{
	const char *p;
	int n, ret = -1;

	if (name == NULL || value == NULL || name[0] == '\0')
		goto out;
	for (p = name; *p != '\0'; p++)
		if (!ck_token_char((unsigned char)*p))
			goto out;
	for (p = value; *p != '\0'; p++)
		if (!ck_octet((unsigned char)*p))
			goto out;
	n = snprintf(out, outlen, "%s=%s; Path=/; Max-Age=%" PRIu64
	    "; HttpOnly; SameSite=Lax%s", name, value, max_age_s,
	    secure ? "; Secure" : "");
	if (n < 0 || (size_t)n >= outlen)
		goto out;
	ret = n;
out:
	if (ret == -1 && outlen > 0)
		out[0] = '\0';
	return ret;
}

/* --- the key file --- */

/* Read exactly CK_KEY_LEN bytes from fd; -1 with errno, or 1 on a short file. */
static int
ck_read_key(int fd, uint8_t key[CK_KEY_LEN])
{
	uint8_t buf[CK_KEY_LEN + 1];
	size_t len = 0;
	ssize_t n;
	int ret = -1;

	/* One byte more than a key, to see a file that grew after fstat. */
	while (len < sizeof(buf)) {
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			goto out;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len != CK_KEY_LEN) {
		ret = 1;
		goto out;
	}
	memcpy(key, buf, CK_KEY_LEN);
	ret = 0;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	return ret;
}

/* Draw a key and write it crash-safely (see cookie.h and af_write_atomic). */
static int
ck_create_key(const char *dir, const char *path, uint8_t key[CK_KEY_LEN],
    char *err, size_t errlen)
{
	if (RAND_bytes(key, CK_KEY_LEN) != 1) {
		ck_errf(err, errlen, "%s: no random bytes for a new key", path);
		goto fail;
	}
	/* The new name must survive a crash, or the next start makes another key. */
	if (af_write_atomic(dir, CK_KEY_FILE, key, CK_KEY_LEN, err, errlen) == -1)
		goto fail;
	return 0;
fail:
	OPENSSL_cleanse(key, CK_KEY_LEN);
	return -1;
}

int
ck_key_load_or_create(const char *state_dir, uint8_t key[CK_KEY_LEN],
    char *err, size_t errlen)
{
	char *path = NULL;
	struct stat st;
	int fd = -1, r, ret = -1;

	if (asprintf(&path, "%s/%s", state_dir, CK_KEY_FILE) == -1) {
		path = NULL;
		ck_errf(err, errlen, "%s: out of memory", state_dir);
		goto out;
	}
	if (mkdir(state_dir, 0700) == -1 && errno != EEXIST) {
		ck_errf(err, errlen, "%s: cannot create: %s", state_dir,
		    strerror(errno));
		goto out;
	}
	/* O_NONBLOCK: a FIFO planted there must not hang the start. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd == -1 && errno == ENOENT) {
		ret = ck_create_key(state_dir, path, key, err, errlen);
		goto out;
	}
	if (fd == -1 || fstat(fd, &st) == -1) {
		ck_errf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		ck_errf(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if ((st.st_mode & 077) != 0) {
		ck_errf(err, errlen, "%s: mode %04o lets others at the key, who "
		    "could then forge cookies: remove the file to make a new key "
		    "(current cookies stop working), or chmod 600 it if nobody "
		    "else can have read it", path, (unsigned)(st.st_mode & 07777));
		goto out;
	}
	if (st.st_size != CK_KEY_LEN) {
		ck_errf(err, errlen, "%s: %jd bytes, expected a key of exactly %d: "
		    "not written by poolgate; remove it to make a new key",
		    path, (intmax_t)st.st_size, CK_KEY_LEN);
		goto out;
	}
	r = ck_read_key(fd, key);
	if (r == -1) {
		ck_errf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (r == 1) {
		ck_errf(err, errlen, "%s: changed while read, expected exactly "
		    "%d bytes", path, CK_KEY_LEN);
		goto out;
	}
	ret = 0;
out:
	if (ret == -1)
		OPENSSL_cleanse(key, CK_KEY_LEN);
	if (fd != -1)
		close(fd);
	free(path);
	return ret;
}
