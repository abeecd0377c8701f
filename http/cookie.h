/*
 * cookie.h -- poolgate's signed affinity cookie.
 *
 * poolgate tells a browser's later requests which VM it belongs to, and for
 * which user, with a cookie (default name "poolgate_vm") whose value is
 *
 *	<vm>:<user>:<expires>:<mac>
 *
 * <vm> is the VM name ([A-Za-z0-9_.-], 1 to CK_VM_MAX bytes), <user> the
 * Jupyter user the browser was last answered for (a name hu_name_valid()
 * accepts, or empty for an anonymous browser, e.g. before its login),
 * <expires> the wall-clock expiry in UNIX seconds (decimal, no leading
 * zero), <mac> the HMAC-SHA256 under a 32-byte key of the string
 * "poolgate-vm 2:" followed by "<vm>:<user>:<expires>", in unpadded
 * base64url (43 characters). No field can hold a ':', so the value splits
 * one way only; a dot would not do, as names of VMs and of users both may
 * hold dots (vm "a", user "b.c" and vm "a.b", user "c" would share a MAC).
 * Every byte is a cookie-octet (RFC 6265), so the value needs no quoting.
 * Values of version 1 ("<vm>.<expires>.<mac>", which named no user) are
 * malformed now: the browser simply gets a new cookie. The key lives in
 * <state_dir>/cookie.key, made once, so cookies stay valid across restarts.
 *
 * The user is bound so that a cookie routes only its own user (see
 * backends/route.h and proxy/httpconn.c): a cookie copied from another
 * browser names another user and cannot place anyone else.
 */
#ifndef POOLGATE_COOKIE_H
#define POOLGATE_COOKIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "http/httpuser.h"

#define CK_NAME_DEFAULT "poolgate_vm"
#define CK_KEY_FILE     "cookie.key"
#define CK_KEY_TMP      CK_KEY_FILE ".tmp" /* see af_write_atomic() */
#define CK_KEY_LEN      32
#define CK_VM_MAX       CFG_NAME_MAX        /* bytes in a VM name */
#define CK_USER_MAX     HU_NAME_MAX         /* bytes in a user name */
#define CK_MAC_CHARS    43                  /* base64url of 32 bytes, unpadded */
#define CK_EXPIRES_MAX  20                  /* digits of a uint64_t */
/* Longest value, without the NUL: the four fields and three colons. */
#define CK_VALUE_MAX    (CK_VM_MAX + 1 + CK_USER_MAX + 1 + CK_EXPIRES_MAX + 1 + \
    CK_MAC_CHARS)

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
 * Write the cookie value for vm_name and user, expiring at expires_wall_s
 * (UNIX seconds), NUL-terminated, into out. user is a user name
 * (hu_name_valid) or "" for an anonymous browser. Returns its length, or
 * -1 when vm_name is not a valid VM name, user is NULL or not a valid user
 * name, out has fewer than length + 1 bytes, or the HMAC could not be
 * computed; out is then "" (when outlen > 0).
 */
int  ck_make(const uint8_t key[CK_KEY_LEN], const char *vm_name,
    const char *user, uint64_t expires_wall_s, char *out, size_t outlen);

/*
 * Judge the cookie value value[0..vlen) (as the browser sent it, not
 * NUL-terminated, any bytes) at wall-clock time now_wall_s. The MAC is
 * checked, in constant time, before the expiry, so only a value signed
 * with key is ever reported expired; a value is valid while now_wall_s <
 * expires. On CK_VALID the VM name is written, NUL-terminated, to vm_out
 * and the user name (possibly "", anonymous) to user_out; otherwise both
 * are untouched. If OpenSSL cannot compute the HMAC the value is reported
 * forged: it is never accepted unchecked. value may be NULL only when vlen
 * is 0.
 */
enum ck_result ck_verify(const uint8_t key[CK_KEY_LEN], const char *value,
    size_t vlen, uint64_t now_wall_s, char vm_out[CK_VM_MAX + 1],
    char user_out[CK_USER_MAX + 1]);

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
