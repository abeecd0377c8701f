/*
 * cookie.h -- poolgate's signed affinity cookie.
 *
 * poolgate tells a browser's later requests which VM it belongs to with a
 * cookie (default name "poolgate_vm") whose value is
 *
 *	<vm>.<expires>.<mac>
 *
 * <vm> is the VM name ([A-Za-z0-9_.-], 1 to CK_VM_MAX bytes; it may hold
 * dots), <expires> the wall-clock expiry in UNIX seconds (decimal, no
 * leading zero), <mac> the HMAC-SHA256 under a 32-byte key of the string
 * "poolgate-vm 1:" followed by "<vm>.<expires>", in unpadded base64url (43
 * characters). Neither <expires> nor <mac> holds a dot, so the value is
 * read from the right: the last dot ends the signed part, the one before
 * it ends the name. Every byte is a cookie-octet (RFC 6265), so the value
 * needs no quoting. The key lives in <state_dir>/cookie.key, made once, so
 * cookies stay valid across restarts.
 */
#ifndef POOLGATE_COOKIE_H
#define POOLGATE_COOKIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"

#define CK_NAME_DEFAULT "poolgate_vm"
#define CK_KEY_FILE     "cookie.key"
#define CK_KEY_TMP      CK_KEY_FILE ".tmp" /* see af_write_atomic() */
#define CK_KEY_LEN      32
#define CK_VM_MAX       CFG_NAME_MAX        /* bytes in a VM name */
#define CK_MAC_CHARS    43                  /* base64url of 32 bytes, unpadded */
#define CK_EXPIRES_MAX  20                  /* digits of a uint64_t */
/* Longest value, without the NUL: name, dot, expiry, dot, MAC. */
#define CK_VALUE_MAX    (CK_VM_MAX + 1 + CK_EXPIRES_MAX + 1 + CK_MAC_CHARS)

enum ck_result {
	CK_VALID = 0,     /* signed by us and not expired */
	CK_EXPIRED,       /* signed by us, but now >= its expiry */
	CK_FORGED,        /* well-formed, but the MAC is not ours */
	CK_MALFORMED,     /* not a value ck_make() could have written */
};

/*
 * Read the cookie key from <state_dir>/cookie.key into key, or make one.
 *
 * An existing file must be a regular file of exactly CK_KEY_LEN bytes that
 * neither group nor others may read or write (mode 0600 or 0400). Anything
 * else is refused, never repaired or replaced: a key others could read may
 * be known to them (fixing the mode would not undo that), and a file of
 * another size was not written by poolgate and may be an operator's. The
 * message in err says what to do (remove the file, and a new key is made;
 * cookies signed with the old one then stop working).
 *
 * When the file does not exist, state_dir is created (mode 0700) if
 * missing (its parent must exist), a key is drawn with RAND_bytes and
 * written crash-safely: to cookie.key.tmp (mode 0600), fsync'd, renamed to
 * cookie.key, and the directory fsync'd. One poolgate per state_dir.
 *
 * Returns 0 with the key in key, or -1 with key wiped and a message in err
 * (err may be NULL when errlen is 0).
 */
int  ck_key_load_or_create(const char *state_dir, uint8_t key[CK_KEY_LEN],
    char *err, size_t errlen);

/*
 * Write the cookie value for vm_name, expiring at expires_wall_s (UNIX
 * seconds), NUL-terminated, into out. Returns its length, or -1 when
 * vm_name is not a valid VM name, out has fewer than length + 1 bytes, or
 * the HMAC could not be computed; out is then "" (when outlen > 0).
 */
int  ck_make(const uint8_t key[CK_KEY_LEN], const char *vm_name,
    uint64_t expires_wall_s, char *out, size_t outlen);

/*
 * Judge the cookie value value[0..vlen) (as the browser sent it, not
 * NUL-terminated, any bytes) at wall-clock time now_wall_s. The MAC is
 * checked, in constant time, before the expiry, so only a value signed
 * with key is ever reported expired; a value is valid while now_wall_s <
 * expires. On CK_VALID the VM name is written, NUL-terminated, to vm_out;
 * otherwise vm_out is untouched. If OpenSSL cannot compute the HMAC the
 * value is reported forged: it is never accepted unchecked. value may be
 * NULL only when vlen is 0.
 */
enum ck_result ck_verify(const uint8_t key[CK_KEY_LEN], const char *value,
    size_t vlen, uint64_t now_wall_s, char vm_out[CK_VM_MAX + 1]);

/* "valid", "expired", "forged" or "malformed", for log lines. */
const char *ck_result_name(enum ck_result r);

/*
 * Write the value of a Set-Cookie header field,
 *	<name>=<value>; Path=/; Max-Age=<max_age_s>; HttpOnly; SameSite=Lax
 * followed by "; Secure" when secure, NUL-terminated, into out. name must
 * be an RFC 6265 token (no separators, spaces or control bytes) and value
 * cookie-octets only (it may be empty: with Max-Age=0 that removes the
 * cookie), so nothing can end the header early. Returns its length, or -1
 * when name or value is not acceptable or out is too small (out is then ""
 * when outlen > 0).
 */
int  ck_set_cookie_header(const char *name, const char *value,
    uint64_t max_age_s, bool secure, char *out, size_t outlen);

#endif
