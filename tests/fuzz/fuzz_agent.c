/*
 * fuzz_agent.c -- reading a VM agent's reply (backends/agent.c), and storing
 * and describing what was read.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "backends/agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) abort(); } while (0)

static bool
printable(const char *s)
{
	for (; *s != '\0'; s++)
		if (*s < 0x20 || *s > 0x7e)
			return false;
	return true;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct agent_reply r;
	struct backend b;
	char desc[128];

	/* agent_complete and agent_parse must agree on the cap. */
	if (agent_complete((const char *)data, size) &&
	    memchr(data, '\n', size) == NULL && memchr(data, '\r', size) == NULL)
		CHECK(size > AGENT_LINE_MAX);
	if (agent_parse((const char *)data, size, &r) == -1) {
		CHECK(r.error != NULL);
		return 0;
	}
	CHECK(r.error == NULL);
	CHECK(r.weight_pct >= -1 && r.weight_pct <= AGENT_PCT_MAX);
	CHECK(r.maxconn >= -1 && r.maxconn <= AGENT_MAXCONN_MAX);
	CHECK(r.op >= AGENT_OP_NONE && r.op <= AGENT_OP_STOPPED);
	CHECK(!r.has_admin || r.admin <= BE_ADMIN_MAINT);
	CHECK(strlen(r.reason) <= AGENT_REASON_MAX && printable(r.reason));
	CHECK(strlen(r.note) <= AGENT_NOTE_MAX && printable(r.note));
	CHECK(r.has_reason || r.reason[0] == '\0');

	memset(&b, 0, sizeof(b));
	b.weight = 1000;
	be_agent_clear(&b);
	agent_apply(&b, &r);
	CHECK(be_weight(&b) >= 0);
	CHECK(be_max_sessions(&b) >= 0);
	CHECK(strlen(b.agent_reason) <= AGENT_REASON_MAX);
	/* Applying the same reply again changes nothing. */
	CHECK(agent_apply(&b, &r) == 0);
	agent_describe(&r, desc, sizeof(desc));
	CHECK(strlen(desc) < sizeof(desc) && printable(desc));
	return 0;
}
