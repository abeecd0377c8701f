/*
 * sshkey.c -- see sshkey.h.
 */
#include <stdio.h>

#include <openssl/evp.h>

#include "lib/sshkey.h"

int
ssh_key_fingerprint(const char *line, char *out, size_t outlen)
{
	unsigned char blob[8192], md[32], b64[64];
	const char *p = line, *s;
	size_t n;
	int len, pad = 0;

	while (*p == ' ' || *p == '\t')
		p++;
	/* TYPE */
	for (s = p; *p != '\0' && *p != ' ' && *p != '\t'; p++)
		;
	if (p == s || *p == '\0')
		return -1;
	while (*p == ' ' || *p == '\t')
		p++;
	for (s = p; *p != '\0' && *p != ' ' && *p != '\t' && *p != '\n' &&
	    *p != '\r'; p++)
		;
	n = (size_t)(p - s);
	if (n == 0 || n % 4 != 0 || n / 4 * 3 > sizeof(blob))
		return -1;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '=') {
			if (i + 2 < n)
				return -1;
			pad++;
		} else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '+' || c == '/') || pad)
			return -1;
	}
	if ((len = EVP_DecodeBlock(blob, (const unsigned char *)s, (int)n)) < 0)
		return -1;
	len -= pad;  /* EVP_DecodeBlock counts the padding as bytes */
	if (len <= 0 || EVP_Digest(blob, (size_t)len, md, NULL, EVP_sha256(),
	    NULL) != 1)
		return -1;
	len = EVP_EncodeBlock(b64, md, sizeof(md));
	while (len > 0 && b64[len - 1] == '=')
		len--;
	if ((size_t)len + 8 > outlen)
		return -1;
	snprintf(out, outlen, "SHA256:%.*s", len, (const char *)b64);
	return 0;
}
