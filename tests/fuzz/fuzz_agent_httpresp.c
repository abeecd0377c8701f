/*
 * fuzz_agent_httpresp.c -- the answers poolgate-agent's HTTP client reads
 * from JupyterHub and the Azure metadata service (agent/httpc.c).
 *
 * Input: the bytes of an answer. Read as complete (the connection closed)
 * it is done or refused, never "more"; a done answer has a status of 200 to
 * 999 and a NUL-terminated body within the cap. Read as still open, a done
 * answer is the same when read at the end.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/httpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) abort(); } while (0)
#define MAX 4096

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hcl_resp a, b;
	char err[256];
	enum hcl_parse r, r2;

	r = hcl_parse_response((const char *)data, size, true, MAX, &a, err,
	    sizeof(err));
	CHECK(r == HCL_DONE || r == HCL_ERROR);
	if (r == HCL_DONE) {
		CHECK(a.status >= 200 && a.status <= 999);
		CHECK(a.body != NULL && a.len <= MAX && a.body[a.len] == '\0');
	} else
		CHECK(a.body == NULL && strlen(err) < sizeof(err));
	r2 = hcl_parse_response((const char *)data, size, false, MAX, &b, err,
	    sizeof(err));
	if (r2 == HCL_DONE) {
		/* framed by length or chunks: the end of the connection agrees */
		CHECK(r == HCL_DONE && a.status == b.status && a.len == b.len &&
		    memcmp(a.body, b.body, a.len) == 0);
		hcl_resp_free(&b);
	}
	if (r == HCL_DONE)
		hcl_resp_free(&a);
	return 0;
}
