/*
 * sshid.c -- see sshid.h.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "agent/run.h"
#include "agent/sshid.h"
#include "agent/util.h"

static int
b64val(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Decode base64 (padding optional) into out; returns bytes or -1. */
static long
b64decode(const char *s, size_t len, unsigned char *out, size_t cap)
{
	size_t i, n = 0, bits = 0;
	uint32_t acc = 0;
	int v;

	while (len > 0 && s[len - 1] == '=')
		len--;
	for (i = 0; i < len; i++) {
		if ((v = b64val(s[i])) < 0)
			return -1;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == cap)
				return -1;
			out[n++] = (unsigned char)(acc >> bits);
		}
	}
	return bits >= 6 ? -1 : (long)n;
}

/* Does blob start with the SSH string type (uint32 length, bytes)? */
static bool
blob_names(const unsigned char *b, long n, const char *type, size_t tlen)
{
	uint32_t l;

	if (n < 4)
		return false;
	l = (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
	return l == tlen && (size_t)n - 4 >= tlen && memcmp(b + 4, type, tlen) == 0;
}

int
sid_fingerprint(const char *text, size_t len, char *type, size_t tsize,
    char *fp, size_t fsize)
{
	const char *p = text, *end = text + len, *nl, *w[4];
	unsigned char blob[SID_FILE_MAX], md[EVP_MAX_MD_SIZE];
	char b64[EVP_MAX_MD_SIZE * 2];
	unsigned mdlen = 0;
	size_t wl[4], nw, i, k;
	long n;
	int e;

	if (memchr(text, '\0', len) != NULL)
		return -1;      /* not a text file */
	for (; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		nw = ag_words(p, (size_t)(nl - p), w, wl, 4);
		for (i = 0; i + 1 < nw; i++) {
			if (w[i][0] == '#')
				break;
			if (wl[i] >= tsize || wl[i + 1] > sizeof(blob) * 4 / 3 + 4)
				continue;
			n = b64decode(w[i + 1], wl[i + 1], blob, sizeof(blob));
			if (n <= 0 || !blob_names(blob, n, w[i], wl[i]))
				continue;
			if (!EVP_Digest(blob, (size_t)n, md, &mdlen, EVP_sha256(), NULL))
				return -1;
			e = EVP_EncodeBlock((unsigned char *)b64, md, (int)mdlen);
			for (k = (size_t)e; k > 0 && b64[k - 1] == '='; k--)
				b64[k - 1] = '\0';
			ag_copyn(type, tsize, w[i], wl[i]);
			snprintf(fp, fsize, "SHA256:%s", b64);
			return 0;
		}
	}
	return -1;
}

/* Indentation, and the line without it and without trailing blanks. */
static size_t
trim(const char **line, size_t *len)
{
	size_t ind = 0;

	while (ind < *len && ((*line)[ind] == ' ' || (*line)[ind] == '\t'))
		ind++;
	*line += ind;
	*len -= ind;
	while (*len > 0 && ((*line)[*len - 1] == ' ' || (*line)[*len - 1] == '\t' ||
	    (*line)[*len - 1] == '\r'))
		(*len)--;
	return ind;
}

static bool
field(const char *line, size_t len, const char *name, const char **v,
    size_t *vlen)
{
	size_t n = strlen(name);

	if (len < n || memcmp(line, name, n) != 0)
		return false;
	*v = line + n;
	*vlen = len - n;
	while (*vlen > 0 && **v == ' ') {
		(*v)++;
		(*vlen)--;
	}
	return true;
}

/* The "SHA256:..." word of "ALG SHA256:... (using ...)". */
static bool
fp_word(const char *v, size_t vlen, char *fp, size_t fsize)
{
	const char *w[3];
	size_t wl[3], nw = ag_words(v, vlen, w, wl, 3);

	if (nw < 2 || wl[1] < 8 || wl[1] >= fsize || memcmp(w[1], "SHA256:", 7) != 0)
		return false;
	ag_copyn(fp, fsize, w[1], wl[1]);
	return true;
}

static int
cert_time(const char *s, size_t len, uint64_t *ms)
{
	char buf[32];

	if (len >= sizeof(buf))
		return -1;
	ag_copyn(buf, sizeof(buf), s, len);
	return ag_parse_iso8601(buf, ms);
}

/* "forever", "from A to B", "after A", "before B". */
static int
validity(const char *v, size_t vlen, struct sid_cert *c)
{
	const char *w[5];
	size_t wl[5], nw = ag_words(v, vlen, w, wl, 5);

	c->valid_from_ms = 0;
	c->valid_to_ms = UINT64_MAX;
	if (nw == 1 && wl[0] == 7 && memcmp(w[0], "forever", 7) == 0)
		return 0;
	if (nw == 4 && wl[0] == 4 && memcmp(w[0], "from", 4) == 0 &&
	    wl[2] == 2 && memcmp(w[2], "to", 2) == 0)
		return cert_time(w[1], wl[1], &c->valid_from_ms) |
		    cert_time(w[3], wl[3], &c->valid_to_ms);
	if (nw == 2 && wl[0] == 5 && memcmp(w[0], "after", 5) == 0)
		return cert_time(w[1], wl[1], &c->valid_from_ms);
	if (nw == 2 && wl[0] == 6 && memcmp(w[0], "before", 6) == 0)
		return cert_time(w[1], wl[1], &c->valid_to_ms);
	return -1;
}

int
sid_parse_listing(const char *text, size_t len, struct sid_cert *out,
    char *err, size_t errlen)
{
	const char *p = text, *end = text + len, *nl, *line, *v;
	bool have_type = false, have_ca = false, have_valid = false;
	size_t ll, vlen, ind, princ_ind = 0;
	bool in_princ = false;

	memset(out, 0, sizeof(*out));
	out->valid_to_ms = UINT64_MAX;
	if (memchr(text, '\0', len) != NULL) {
		ag_errf(err, errlen, "ssh-keygen -L output with a NUL byte");
		return -1;
	}
	for (; p < end; p = nl + 1) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (nl == NULL)
			nl = end;
		line = p;
		ll = (size_t)(nl - p);
		ind = trim(&line, &ll);
		if (ll == 0)
			continue;
		if (in_princ && ind > princ_ind) {
			if (out->nprincipals == SID_PRINC_MAX)
				out->principals_cut = true;
			else
				ag_copyn(out->principals[out->nprincipals++],
				    SID_PRINC_LEN, line, ll);
			continue;
		}
		in_princ = false;
		if (field(line, ll, "Type:", &v, &vlen)) {
			const char *w[3];
			size_t wl[3], nw = ag_words(v, vlen, w, wl, 3);

			if (nw >= 1)
				ag_copyn(out->type, sizeof(out->type), w[0], wl[0]);
			out->host = nw == 3 && wl[1] == 4 && memcmp(w[1], "host", 4) == 0;
			have_type = nw >= 1;
		} else if (field(line, ll, "Public key:", &v, &vlen))
			fp_word(v, vlen, out->key_fp, sizeof(out->key_fp));
		else if (field(line, ll, "Signing CA:", &v, &vlen))
			have_ca = fp_word(v, vlen, out->ca_fp, sizeof(out->ca_fp));
		else if (field(line, ll, "Key ID:", &v, &vlen)) {
			if (vlen >= 2 && v[0] == '"' && v[vlen - 1] == '"') {
				v++;
				vlen -= 2;
			}
			ag_copyn(out->key_id, sizeof(out->key_id), v, vlen);
		} else if (field(line, ll, "Valid:", &v, &vlen))
			have_valid = validity(v, vlen, out) == 0;
		else if (field(line, ll, "Principals:", &v, &vlen)) {
			in_princ = vlen == 0;   /* "(none)" otherwise */
			princ_ind = ind;
		}
	}
	if (!have_type || !have_ca || !have_valid) {
		ag_errf(err, errlen, "ssh-keygen -L output without %s",
		    !have_type ? "a Type line" : !have_ca ? "a Signing CA line" :
		    "a readable Valid line");
		return -1;
	}
	return 0;
}

void
sid_judge(struct sid_key *k, const char *ca_fp, const char *principal,
    uint64_t now)
{
	const struct sid_cert *c = &k->cert;
	size_t i;

	k->signed_by_pool_ca = k->pool_principal = SID_UNKNOWN;
	k->valid_now = k->matches_key = SID_UNKNOWN;
	if (!k->has_cert || !k->cert_read)
		return;
	if (ca_fp != NULL && ca_fp[0] != '\0')
		k->signed_by_pool_ca = strcmp(c->ca_fp, ca_fp) == 0 && c->host ?
		    SID_YES : SID_NO;
	if (principal != NULL && principal[0] != '\0') {
		k->pool_principal = c->nprincipals == 0 && !c->principals_cut ?
		    SID_YES : SID_NO;
		for (i = 0; i < c->nprincipals; i++)
			if (strcmp(c->principals[i], principal) == 0)
				k->pool_principal = SID_YES;
	}
	k->valid_now = now >= c->valid_from_ms && now < c->valid_to_ms ?
	    SID_YES : SID_NO;
	if (c->key_fp[0] != '\0' && k->fp[0] != '\0')
		k->matches_key = strcmp(c->key_fp, k->fp) == 0 ? SID_YES : SID_NO;
}

int
sid_ca_fingerprint(const char *ca, char *fp, size_t fsize, char *err,
    size_t errlen)
{
	char type[SID_TYPE_MAX], *text;
	size_t len;
	int rc;

	if (strncmp(ca, "SHA256:", 7) == 0) {
		if (strlen(ca) >= fsize) {
			ag_errf(err, errlen, "fingerprint too long");
			return -1;
		}
		ag_copy(fp, fsize, ca);
		return 0;
	}
	if ((text = ag_read_text(ca, SID_FILE_MAX, &len)) == NULL) {
		ag_errf(err, errlen, "%s: %s", ca, strerror(errno));
		return -1;
	}
	rc = sid_fingerprint(text, len, type, sizeof(type), fp, fsize);
	free(text);
	if (rc == -1)
		ag_errf(err, errlen, "%s: no public key in it", ca);
	return rc;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Read the certificate beside k->file, if any, with ssh-keygen -L. */
static void
read_cert(struct sid_key *k, const char *keygen, uint64_t timeout_ms)
{
	char cert[300], tz[] = "TZ=UTC0", lc[] = "LC_ALL=C", path[4200];
	char *env[4] = { tz, lc, NULL, NULL };
	const char *argv[5], *envpath = getenv("PATH");
	struct run_result r;
	size_t n = strlen(k->file);

	/* ssh_host_ed25519_key.pub -> ssh_host_ed25519_key-cert.pub */
	if (n < 4 || n - 4 + sizeof("-cert.pub") > sizeof(cert))
		return;
	snprintf(cert, sizeof(cert), "%.*s-cert.pub", (int)(n - 4), k->file);
	if (access(cert, F_OK) == -1)
		return;
	k->has_cert = true;
	snprintf(path, sizeof(path), "PATH=%s", envpath != NULL ? envpath :
	    "/usr/bin:/bin");
	env[2] = path;
	argv[0] = keygen;
	argv[1] = "-L";
	argv[2] = "-f";
	argv[3] = cert;
	argv[4] = NULL;
	if (run_capture(argv, env, timeout_ms, SID_LISTING_MAX, &r) != RUN_OK) {
		ag_errf(k->cert_error, sizeof(k->cert_error), "%s", r.err);
		run_result_free(&r);
		return;
	}
	if (sid_parse_listing(r.out, r.len, &k->cert, k->cert_error,
	    sizeof(k->cert_error)) == 0)
		k->cert_read = true;
	run_result_free(&r);
}

int
sid_collect(const char *dir, const char *keygen, uint64_t timeout_ms,
    const char *ca_fp, const char *principal, uint64_t now,
    struct sid_key *out, size_t *n, char *err, size_t errlen)
{
	char *names[SID_KEYS_MAX], *text;
	struct dirent *de;
	size_t nn = 0, i, len, l;
	struct sid_key *k;
	DIR *d;

	*n = 0;
	if ((d = opendir(dir)) == NULL) {
		ag_errf(err, errlen, "%s: %s", dir, strerror(errno));
		return -1;
	}
	while ((de = readdir(d)) != NULL && nn < SID_KEYS_MAX) {
		l = strlen(de->d_name);
		if (strncmp(de->d_name, "ssh_host_", 9) != 0 || l < 17 ||
		    strcmp(de->d_name + l - 8, "_key.pub") != 0)
			continue;
		if ((names[nn] = strdup(de->d_name)) != NULL)
			nn++;
	}
	closedir(d);
	qsort(names, nn, sizeof(names[0]), cmp_str);
	for (i = 0; i < nn; i++) {
		k = &out[*n];
		memset(k, 0, sizeof(*k));
		if ((size_t)snprintf(k->file, sizeof(k->file), "%s/%s", dir,
		    names[i]) >= sizeof(k->file))
			continue;
		text = ag_read_text(k->file, SID_FILE_MAX, &len);
		if (text == NULL || sid_fingerprint(text, len, k->type,
		    sizeof(k->type), k->fp, sizeof(k->fp)) == -1) {
			free(text);
			continue;
		}
		free(text);
		read_cert(k, keygen, timeout_ms);
		sid_judge(k, ca_fp, principal, now);
		(*n)++;
	}
	for (i = 0; i < nn; i++)
		free(names[i]);
	return 0;
}
