/*
 * httpuser.h -- who is this HTTP request from? (pure)
 *
 * JupyterHub serves each user under /user/<name>/ and logs users in with a
 * form POST carrying `username`; poolgate keys affinity on that name, and
 * also on its own cookie, which it strips before forwarding. These helpers
 * read those pieces out of bytes the HTTP parser found (http/http.h), with
 * no I/O and no allocation. A user name is accepted only when it looks like
 * a Unix login (see hu_name_valid), so a name can go into an affinity key,
 * a log line or the state file as it is.
 *
 * This is the one reader of Cookie values (hu_cookie_get, hu_cookie_strip)
 * and of application/x-www-form-urlencoded bodies (hu_form_value): the
 * data path and the status page both use these.
 */
#ifndef POOLGATE_HTTPUSER_H
#define POOLGATE_HTTPUSER_H

#include <stdbool.h>
#include <stddef.h>

#define HU_NAME_MAX 32    /* bytes in a user name */
#define HU_FORM_MAX 8192  /* bytes of login form body the caller may buffer */
#define HU_FORM_NAME_MAX 63  /* bytes of a form field name, as sent; see hu_form_value */

enum hu_result {
	HU_INVALID = -1,  /* the name is there but is not an acceptable user name */
	HU_ABSENT  = 0,   /* no name there */
	HU_FOUND   = 1,   /* a valid name was written to the caller's buffer */
};

/*
 * Whether name[0..len) is an acceptable user name: 1 to HU_NAME_MAX bytes,
 * first a lowercase ASCII letter or '_', then lowercase letters, digits,
 * '_', '-' or '.', optionally ending in '$'; never "..". name may be NULL
 * only when len is 0.
 */
bool hu_name_valid(const char *name, size_t len);

/*
 * The user a TLS server name names: sni is <user><suffix> (suffix
 * compared without regard to ASCII case, e.g. ".ssh.pool.example.com"),
 * and <user>, lowercased, passes hu_name_valid(). HU_FOUND with the user
 * in out; HU_ABSENT when sni is NULL (no server name sent); HU_INVALID
 * for any other name (the handshake should be refused).
 */
enum hu_result hu_user_from_sni(const char *sni, const char *suffix,
    char out[HU_NAME_MAX + 1]);

/*
 * The user named by a request target of the form <prefix><name>[/...][?...]
 * (e.g. "/user/alice/lab?x=1" with prefix "/user/"). prefix is the path
 * under which JupyterHub serves users, NUL-terminated and compared as sent
 * (case-sensitive, not percent-decoded, as JupyterHub routes); a trailing
 * '/' on it is optional ("/user" and "/user/" are the same, and neither
 * matches "/username/"). The name segment is percent-decoded, then must
 * pass hu_name_valid(); only the path is looked at, never the query.
 *
 * Returns HU_FOUND and writes the name, NUL-terminated, to out; HU_ABSENT
 * when the target is not under prefix; HU_INVALID when it is but the
 * segment is empty, badly escaped or not a valid name. out (HU_NAME_MAX + 1
 * bytes) is written only on HU_FOUND. target may be NULL only when tlen is 0.
 */
enum hu_result hu_user_from_target(const char *target, size_t tlen,
    const char *prefix, char out[HU_NAME_MAX + 1]);

/* Results of hu_form_value(). */
enum hu_form {
	HU_FORM_OK        =  0,  /* found; the value is in out */
	HU_FORM_MISSING   = -1,  /* no field is named key */
	HU_FORM_ESCAPE    = -2,  /* a '%' not followed by two hex digits */
	HU_FORM_NUL       = -3,  /* a NUL byte, sent as one or as %00 */
	HU_FORM_TOOLONG   = -4,  /* the value needs outlen bytes or more */
	HU_FORM_DUPLICATE = -5,  /* key a second time (HU_FORM_STRICT only) */
};

/* Flags of hu_form_value(). */
#define HU_FORM_STRICT 0x1u  /* the whole body must be well-formed, key once */

/*
 * The value of field `key` (NUL-terminated) in an
 * application/x-www-form-urlencoded body body[0..len), which need not be
 * NUL-terminated, decoded into out (outlen bytes, never NULL) as a C string.
 *
 * Fields are split on '&' (empty ones are skipped); a name ends at its
 * field's first '=', and a field without '=' has the empty value. Names
 * and values decode alike: '+' is a space, %XX (hex, either case) the byte
 * XX, any other byte itself. A name matches when it decodes to exactly
 * key. A name longer than HU_FORM_NAME_MAX bytes as sent is no field of
 * ours: it is skipped unread, never an error. The values of other fields
 * are never read.
 *
 * Without flags (the login form: JupyterHub reads the first field), the
 * first field named key decides, even when its value is malformed, and
 * the rest of the body is not read; a name with a bad escape or a NUL is
 * simply not key. With HU_FORM_STRICT (the status page's forms, which
 * carry secrets) the whole body is read and a name with a bad escape or a
 * NUL, or key a second time, refuses it.
 *
 * Returns the first problem met from the left, else HU_FORM_OK:
 * HU_FORM_MISSING when no field is named key; HU_FORM_ESCAPE for a '%'
 * without two hex digits after it (len cutting it short counts); HU_FORM_NUL
 * for a NUL byte, which no C string can carry; HU_FORM_TOOLONG when the
 * decoded value has outlen bytes or more (outlen - 1 bytes and the NUL
 * fit); HU_FORM_DUPLICATE for key a second time (HU_FORM_STRICT). Unless
 * HU_FORM_OK is returned, out[0..outlen) is all zero: a part of a value,
 * maybe of a secret, is wiped. body may be NULL only when len is 0.
 */
enum hu_form hu_form_value(const char *body, size_t len, const char *key,
    char *out, size_t outlen, unsigned flags);

/*
 * The `username` field of an application/x-www-form-urlencoded body (the
 * JupyterHub login form), read by hu_form_value() without flags: the first
 * field named exactly "username" wins, even if invalid. Like JupyterHub's
 * default Authenticator.normalize_username, the value is lowercased (ASCII)
 * before it is checked, so "Alice" logs in as, and is routed as, alice.
 *
 * Returns HU_FOUND and writes the name, NUL-terminated, to out; HU_ABSENT
 * when no field is named username; HU_INVALID when the first one is not a
 * valid name (empty, a space, a bad escape, a NUL, too long...) or when
 * len > HU_FORM_MAX (the caller must not buffer more). out is written only
 * on HU_FOUND. body may be NULL only when len is 0.
 */
enum hu_result hu_user_from_form(const char *body, size_t len,
    char out[HU_NAME_MAX + 1]);

/*
 * Find cookie `name` (NUL-terminated, non-empty, compared exactly) in a
 * Cookie header value hdr[0..len) ("a=b; c=d", RFC 6265 5.4; spaces and tabs
 * around names and values are ignored, pairs without '=' are skipped).
 * Returns true for the first match and sets *val and *vlen to its value, a
 * slice of hdr (quotes, if any, are kept); false when absent, leaving *val
 * and *vlen untouched. hdr may be NULL only when len is 0.
 */
bool hu_cookie_get(const char *hdr, size_t len, const char *name,
    const char **val, size_t *vlen);

/*
 * Write to out the Cookie header value hdr[0..len) without any cookie
 * called `name` (so poolgate's own cookie does not reach JupyterHub). The
 * other pairs keep their bytes, order and the separator before them; empty
 * pairs and surrounding spaces go. out must have room for len bytes and may
 * be hdr itself (rewriting in place). Returns the new length, at most len;
 * 0 means no cookie is left and the caller should drop the Cookie field.
 */
size_t hu_cookie_strip(const char *hdr, size_t len, const char *name, char *out);

#endif
