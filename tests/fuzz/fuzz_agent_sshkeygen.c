/*
 * fuzz_agent_sshkeygen.c -- what poolgate-agent reads of the SSH host
 * identity (agent/sshid.c): `ssh-keygen -L` listings and public key files.
 *
 * A listing that parses has a Type, a "SHA256:" signing CA and a validity
 * window that is not inverted by the parser; judging it never reads past
 * the principals kept. A key that fingerprints gives "SHA256:" and 43
 * base64 characters.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/sshid.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct sid_key k;
	char err[256], type[SID_TYPE_MAX], fp[SID_FP_MAX];
	size_t i;

	memset(&k, 0, sizeof(k));
	if (sid_parse_listing((const char *)data, size, &k.cert, err,
	    sizeof(err)) == 0) {
		CHECK(k.cert.type[0] != '\0');
		CHECK(strncmp(k.cert.ca_fp, "SHA256:", 7) == 0);
		CHECK(k.cert.nprincipals <= SID_PRINC_MAX);
		for (i = 0; i < k.cert.nprincipals; i++)
			CHECK(strlen(k.cert.principals[i]) < SID_PRINC_LEN);
		k.has_cert = k.cert_read = true;
		strcpy(k.fp, "SHA256:x");
		sid_judge(&k, "SHA256:x", "pool1", 1800000000000ULL);
		CHECK(k.valid_now != SID_UNKNOWN);
		CHECK(k.signed_by_pool_ca != SID_UNKNOWN);
	} else
		CHECK(strlen(err) > 0);
	if (sid_fingerprint((const char *)data, size, type, sizeof(type), fp,
	    sizeof(fp)) == 0) {
		CHECK(strncmp(fp, "SHA256:", 7) == 0 && strlen(fp) == 7 + 43);
		CHECK(strlen(type) > 0);
	}
	return 0;
}
