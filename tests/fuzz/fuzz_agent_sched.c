/*
 * fuzz_agent_sched.c -- the Azure metadata service's scheduledevents answer
 * as poolgate-agent reads it (agent/sched.c), and the approval it writes.
 *
 * At most SE_EVENTS_MAX events, each with an id and a type; pending only for
 * this VM; every approval body is JSON the project's reader accepts, naming
 * the event.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/sched.h"
#include "lib/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct se_doc d;
	struct json_member m[2];
	char err[256], body[512], arena[512], *s;
	size_t i, n, nm;
	uint64_t ms;

	if (se_parse((const char *)data, size, "vmss_3", &d, err, sizeof(err)) == 0) {
		CHECK(d.n <= SE_EVENTS_MAX);
		for (i = 0; i < d.n; i++) {
			CHECK(d.ev[i].id[0] != '\0' && d.ev[i].type[0] != '\0');
			CHECK(d.ev[i].nresources <= SE_RESOURCES_MAX);
			CHECK(!se_pending(&d.ev[i]) || d.ev[i].this_vm);
			n = se_approval_body(d.ev[i].id, body, sizeof(body));
			CHECK(n > 0);
			CHECK(json_parse_object(body, n, m, 2, &nm, arena, sizeof(arena),
			    err, sizeof(err)) == 0);
		}
	}
	if ((s = malloc(size + 1)) != NULL) {
		memcpy(s, data, size);
		s[size] = '\0';
		if (se_parse_time(s, &ms) == 0)
			CHECK(strlen(s) == 29);
		free(s);
	}
	return 0;
}
