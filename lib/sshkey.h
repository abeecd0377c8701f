/*
 * sshkey.h -- OpenSSH public key lines (pure; OpenSSL for the digest).
 */
#ifndef POOLGATE_SSHKEY_H
#define POOLGATE_SSHKEY_H

#include <stddef.h>

#define SSHKEY_FP_MAX 95   /* "SHA256:" + 43 base64 characters, with room */

/*
 * The SHA256 fingerprint, as `ssh-keygen -l` prints it ("SHA256:" and
 * unpadded base64), of the public key line `line` ("TYPE BASE64 [comment]",
 * as in a .pub file or after @cert-authority). Returns 0 with out filled,
 * or -1 when the line is not a public key line (out untouched).
 */
int ssh_key_fingerprint(const char *line, char *out, size_t outlen);

#endif
