/*
 * fuzz_agent_jhub.c -- JupyterHub's answers as poolgate-agent reads them
 * (agent/jhub.c): the active users and a server's kernels.
 *
 * Every user kept has a name of 1 to JH_NAME_MAX bytes and a server URL
 * that is empty or safe to put in a request line; counts stay within the
 * cap; kernel counts are never negative after a successful parse.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/jhub.h"
#include "agent/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) abort(); } while (0)
#define MAXU 8

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jh_user u[MAXU], k;
	size_t n = 0, page = 0, i;
	bool trunc = false;
	char err[256], *s;
	uint64_t ms;

	if (jh_parse_users((const char *)data, size, u, MAXU, &n, &page, &trunc,
	    err, sizeof(err)) == 0) {
		CHECK(n <= MAXU && n <= page);
		CHECK(!trunc || n == MAXU);
		for (i = 0; i < n; i++) {
			CHECK(strlen(u[i].name) >= 1 && strlen(u[i].name) <= JH_NAME_MAX);
			CHECK(u[i].server);
			CHECK(u[i].server_url[0] == '\0' || jh_url_safe(u[i].server_url));
			CHECK(u[i].kernels_busy == -1 && u[i].kernels_idle == -1);
		}
	} else
		CHECK(strlen(err) > 0 && strlen(err) < sizeof(err));
	memset(&k, 0, sizeof(k));
	k.kernels_busy = k.kernels_idle = k.kernels_other = -1;
	if (jh_parse_kernels((const char *)data, size, &k, err, sizeof(err)) == 0)
		CHECK(k.kernels_busy >= 0 && k.kernels_idle >= 0 && k.kernels_other >= 0);
	else
		CHECK(k.kernels_busy == -1);
	/* the time format, on the input as a string */
	if ((s = malloc(size + 1)) != NULL) {
		memcpy(s, data, size);
		s[size] = '\0';
		if (ag_parse_iso8601(s, &ms) == 0)
			CHECK(strlen(s) >= 19);
		(void)jh_url_safe(s);
		free(s);
	}
	return 0;
}
