/*
 * sshid.h -- the VM's SSH host identity: the fingerprint of each host key
 * and whether it carries a certificate signed by the pool's host CA with
 * the pool's name among its principals.
 *
 * Fingerprints are computed here (SHA256 of the key blob, unpadded base64,
 * as ssh-keygen -l prints them). A certificate, ssh_host_*_key-cert.pub
 * beside its key, is read with `ssh-keygen -L -f FILE` run with TZ=UTC0,
 * so its validity times are UTC:
 *
 *   FILE:
 *           Type: ssh-ed25519-cert-v01@openssh.com host certificate
 *           Public key: ED25519-CERT SHA256:HaV+Y/+Voln4mRZ...
 *           Signing CA: ED25519 SHA256:dQx5zySh9cZo8q+z... (using ssh-ed25519)
 *           Key ID: "vm1"
 *           Serial: 0
 *           Valid: from 2024-01-01T00:00:00 to 2030-01-01T00:00:00
 *           Principals:
 *                   pool1
 *           Critical Options: (none)
 *           Extensions: (none)
 */
#ifndef POOLGATE_AGENT_SSHID_H
#define POOLGATE_AGENT_SSHID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SID_KEYS_MAX     8
#define SID_FP_MAX       64     /* "SHA256:" and 43 characters fit */
#define SID_TYPE_MAX     48
#define SID_PRINC_MAX    16     /* principals kept per certificate */
#define SID_PRINC_LEN    128
#define SID_FILE_MAX     16384  /* bytes read of a .pub file */
#define SID_LISTING_MAX  65536  /* bytes kept of ssh-keygen -L */

/* Tri-state: unknown (nothing to compare with), no, yes. */
enum sid_tri { SID_UNKNOWN = -1, SID_NO = 0, SID_YES = 1 };

struct sid_cert {
	char     type[96];           /* "ssh-ed25519-cert-v01@openssh.com" */
	bool     host;               /* "host certificate" (not user) */
	char     key_fp[SID_FP_MAX]; /* of the certified key */
	char     ca_fp[SID_FP_MAX];  /* of the signing CA */
	char     key_id[128];
	uint64_t valid_from_ms;      /* wall ms; 0 = no start */
	uint64_t valid_to_ms;        /* wall ms; UINT64_MAX = forever */
	char     principals[SID_PRINC_MAX][SID_PRINC_LEN];
	size_t   nprincipals;
	bool     principals_cut;     /* more than SID_PRINC_MAX */
};

struct sid_key {
	char            file[256];           /* the .pub file */
	char            type[SID_TYPE_MAX];  /* "ssh-ed25519" */
	char            fp[SID_FP_MAX];      /* "SHA256:..." */
	bool            has_cert;            /* a -cert.pub is beside it */
	bool            cert_read;           /* and ssh-keygen -L read it */
	char            cert_error[128];     /* why not, when has_cert */
	struct sid_cert cert;
	enum sid_tri    signed_by_pool_ca;
	enum sid_tri    pool_principal;
	enum sid_tri    valid_now;
	enum sid_tri    matches_key;         /* the certificate is of this key */
};

/*
 * Pure. The first public key in text (len bytes): a line "TYPE BASE64 ..."
 * or a known_hosts "@cert-authority PATTERN TYPE BASE64" line, whose blob
 * decodes and names TYPE as its first string. Writes the type and the
 * "SHA256:..." fingerprint. Returns 0, or -1 when there is none (or the
 * text holds a NUL byte).
 */
int  sid_fingerprint(const char *text, size_t len, char *type, size_t tsize,
    char *fp, size_t fsize);

/*
 * Pure. Parse `ssh-keygen -L` output (len bytes). Returns 0, or -1 with a
 * message in err when it holds a NUL byte or lacks the Type, Signing CA or
 * Valid line.
 */
int  sid_parse_listing(const char *text, size_t len, struct sid_cert *out,
    char *err, size_t errlen);

/*
 * Pure. Set k's verdicts from k->cert (when cert_read): signed_by_pool_ca
 * against ca_fp (NULL or "": unknown), pool_principal against principal
 * (NULL or "": unknown; a host certificate without principals is valid for
 * every name, as sshd treats it), valid_now at now (wall ms), matches_key
 * against k->fp.
 */
void sid_judge(struct sid_key *k, const char *ca_fp, const char *principal,
    uint64_t now);

/*
 * The pool's CA fingerprint from ca: a "SHA256:..." fingerprint as it is,
 * or the path of a file holding the CA's public key. Returns 0, or -1 with
 * a message in err.
 */
int  sid_ca_fingerprint(const char *ca, char *fp, size_t fsize, char *err,
    size_t errlen);

/*
 * Collect the host keys: dir/ssh_host_*_key.pub (at most SID_KEYS_MAX, in
 * name order), each certificate read with keygen (the ssh-keygen program)
 * within timeout_ms, then judged. Returns 0 with *n set, or -1 with err
 * when dir cannot be read.
 */
int  sid_collect(const char *dir, const char *keygen, uint64_t timeout_ms,
    const char *ca_fp, const char *principal, uint64_t now,
    struct sid_key *out, size_t *n, char *err, size_t errlen);

#endif
