/*
 * fuzz_report.c -- what poolgate reads from a VM agent's GET /v1/report
 * (backends/report.c): the HTTP answer, the JSON report inside, and the
 * host identity verdict drawn from it. Every string kept must be
 * NUL-terminated within its field, every count within its cap.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backends/report.h"
#include "lib/sshkey.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static struct vm_report rep;

static void
check_report(const struct vm_report *r)
{
	char why[192];

	CHECK(r->nusers <= REP_USERS_MAX);
	CHECK(r->nsessions <= REP_SESSIONS_MAX);
	CHECK(r->nkeys <= REP_KEYS_MAX);
	CHECK(r->users_with_work >= 0);
	CHECK(!r->truncated || !r->idle);
	for (size_t i = 0; i < r->nusers; i++) {
		CHECK(memchr(r->users[i].name, 0, sizeof(r->users[i].name)) != NULL);
		CHECK(r->users[i].name[0] != '\0');
		CHECK(rep_user_find(r, r->users[i].name) != NULL);
	}
	for (size_t i = 0; i < r->nsessions; i++)
		CHECK(r->sessions[i].peer_port >= 0 && r->sessions[i].peer_port < 65536);
	for (size_t i = 0; i < r->nkeys; i++)
		CHECK(r->keys[i].nprincipals <= REP_PRINCIPALS_MAX);
	if (!rep_host_identity_ok(r, "SHA256:x", "pool", why, sizeof(why)))
		CHECK(why[0] != '\0');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body;
	size_t blen;
	char err[160], fp[SSHKEY_FP_MAX + 1], *line;

	/* As an HTTP answer (the agent's port may say anything)... */
	if (rep_http_body((const char *)data, size, &body, &blen, err,
	    sizeof(err)) == 0) {
		CHECK(body >= (const char *)data && body + blen <= (const char *)data + size);
		if (rep_parse(body, blen, &rep, err, sizeof(err)) == 0)
			check_report(&rep);
	} else
		CHECK(err[0] != '\0');
	/* ... as a report body ... */
	if (rep_parse((const char *)data, size, &rep, err, sizeof(err)) == 0)
		check_report(&rep);
	else
		CHECK(err[0] != '\0' && rep.nusers == 0);
	/* ... and as a CA line from the configuration. */
	if (size < 16384 && (line = malloc(size + 1)) != NULL) {
		memcpy(line, data, size);
		line[size] = '\0';
		if (ssh_key_fingerprint(line, fp, sizeof(fp)) == 0)
			CHECK(strncmp(fp, "SHA256:", 7) == 0);
		free(line);
	}
	return 0;
}
