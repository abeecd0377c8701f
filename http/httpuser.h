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
 */
#ifndef POOLGATE_HTTPUSER_H
#define POOLGATE_HTTPUSER_H

#include <stdbool.h>
#include <stddef.h>

#define HU_NAME_MAX 32    /* bytes in a user name */
#define HU_FORM_MAX 8192  /* bytes of login form body the caller may buffer */

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

/*
 * The `username` field of an application/x-www-form-urlencoded body (the
 * JupyterHub login form). Fields are split on '&'; names and values are
 * decoded ('+' is a space, %XX a byte); the first field named exactly
 * "username" wins, even if invalid. Like JupyterHub's default
 * Authenticator.normalize_username, the value is lowercased (ASCII) before
 * it is checked, so "Alice" logs in as, and is routed as, alice.
 *
 * Returns HU_FOUND and writes the name, NUL-terminated, to out; HU_ABSENT
 * when no field is named username; HU_INVALID when the first one is not a
 * valid name (empty, a space, a bad escape...) or when len > HU_FORM_MAX
 * (the caller must not buffer more). out is written only on HU_FOUND. body
 * may be NULL only when len is 0.
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
