/*
 * test_agent_sched.c -- reading Azure Scheduled Events (agent/sched.c):
 * events for this VM and for others, the NotBefore time, the approval body.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "agent/sched.h"
#include "lib/json.h"

static const char doc_json[] =
    "{\"DocumentIncarnation\":3,\"Events\":["
    "{\"EventId\":\"602d9444-d2cd-49c7-8624-8643e7171297\",\"EventType\":\"Terminate\","
    "\"ResourceType\":\"VirtualMachine\",\"Resources\":[\"vmss_3\",\"vmss_4\"],"
    "\"EventStatus\":\"Scheduled\",\"NotBefore\":\"Mon, 19 Sep 2016 18:29:47 GMT\","
    "\"Description\":\"Virtual machine is being deleted.\",\"EventSource\":\"User\","
    "\"DurationInSeconds\":-1},"
    "{\"EventId\":\"e2\",\"EventType\":\"Freeze\",\"Resources\":[\"vmss_3\"],"
    "\"EventStatus\":\"Scheduled\",\"NotBefore\":\"\",\"DurationInSeconds\":9},"
    "{\"EventId\":\"e3\",\"EventType\":\"Reboot\",\"Resources\":[\"vmss_9\"],"
    "\"EventStatus\":\"Started\",\"NotBefore\":\"garbage\"},"
    "{\"EventType\":\"Preempt\"},"
    "{\"EventId\":\"e5\",\"EventType\":\"Preempt\",\"Resources\":[\"vmss_3\", 5],"
    "\"EventStatus\":\"Scheduled\",\"NotBefore\":\"Mon, 19 Sep 2016 18:30:17 GMT\"}"
    "]}";

static void
test_time(void **state)
{
	uint64_t ms;

	(void)state;
	assert_int_equal(se_parse_time("Mon, 19 Sep 2016 18:29:47 GMT", &ms), 0);
	assert_int_equal(ms, 1474309787000ULL);
	assert_int_equal(se_parse_time("Mon, 19 Sep 2016 18:29:47 UTC", &ms), -1);
	assert_int_equal(se_parse_time("Mon, 19 Foo 2016 18:29:47 GMT", &ms), -1);
	assert_int_equal(se_parse_time("Mon, 32 Sep 2016 18:29:47 GMT", &ms), -1);
	assert_int_equal(se_parse_time("Mon, 19 Sep 2016 24:29:47 GMT", &ms), -1);
	assert_int_equal(se_parse_time("", &ms), -1);
}

static void
test_parse(void **state)
{
	struct se_doc d;
	char err[128];

	(void)state;
	assert_int_equal(se_parse(doc_json, strlen(doc_json), "vmss_3", &d, err,
	    sizeof(err)), 0);
	assert_int_equal(d.incarnation, 3);
	assert_int_equal(d.n, 4);       /* the one without an EventId is skipped */
	assert_string_equal(d.ev[0].id, "602d9444-d2cd-49c7-8624-8643e7171297");
	assert_string_equal(d.ev[0].type, "Terminate");
	assert_string_equal(d.ev[0].status, "Scheduled");
	assert_string_equal(d.ev[0].source, "User");
	assert_int_equal(d.ev[0].not_before_ms, 1474309787000ULL);
	assert_int_equal(d.ev[0].duration_s, -1);
	assert_int_equal(d.ev[0].nresources, 2);
	assert_true(d.ev[0].this_vm);
	assert_true(se_pending(&d.ev[0]));
	assert_false(se_pending(&d.ev[1]));    /* Freeze: not acted on */
	assert_int_equal(d.ev[1].not_before_ms, 0);
	assert_int_equal(d.ev[1].duration_s, 9);
	assert_false(d.ev[2].this_vm);          /* another VM */
	assert_false(se_pending(&d.ev[2]));
	assert_int_equal(d.ev[2].not_before_ms, 0);
	assert_true(se_pending(&d.ev[3]));
	assert_int_equal(d.ev[3].nresources, 1);

	/* an unknown VM name matches nothing */
	assert_int_equal(se_parse(doc_json, strlen(doc_json), "", &d, err,
	    sizeof(err)), 0);
	assert_false(d.ev[0].this_vm);
	assert_false(se_pending(&d.ev[0]));

	assert_int_equal(se_parse("{\"DocumentIncarnation\":0,\"Events\":[]}", 37,
	    "vm", &d, err, sizeof(err)), 0);
	assert_int_equal(d.n, 0);
	assert_int_equal(se_parse("[]", 2, "vm", &d, err, sizeof(err)), -1);
	assert_int_equal(se_parse("{\"Events\":{}}", 13, "vm", &d, err, sizeof(err)), -1);
	assert_int_equal(se_parse("{", 1, "vm", &d, err, sizeof(err)), -1);
}

static void
test_cap(void **state)
{
	char big[8192];
	struct se_doc d;
	char err[128];
	size_t n = 0;
	int i;

	(void)state;
	n += (size_t)sprintf(big, "{\"Events\":[");
	for (i = 0; i < SE_EVENTS_MAX + 3; i++)
		n += (size_t)sprintf(big + n, "%s{\"EventId\":\"e%d\",\"EventType\":\"Reboot\"}",
		    i > 0 ? "," : "", i);
	sprintf(big + n, "]}");
	assert_int_equal(se_parse(big, strlen(big), "vm", &d, err, sizeof(err)), 0);
	assert_int_equal(d.n, SE_EVENTS_MAX);
	assert_true(d.truncated);
}

static void
test_approval_body(void **state)
{
	char b[128], tiny[20];
	struct json_member m[2];
	char arena[128], err[64];
	size_t n;

	(void)state;
	n = se_approval_body("602d9444", b, sizeof(b));
	assert_string_equal(b, "{\"StartRequests\":[{\"EventId\":\"602d9444\"}]}");
	assert_int_equal(n, strlen(b));
	n = se_approval_body("a\"b\\c", b, sizeof(b));
	assert_int_equal(json_parse_object(b, n, m, 2, &n, arena, sizeof(arena), err,
	    sizeof(err)), 0);
	assert_int_equal(se_approval_body("602d9444", tiny, sizeof(tiny)), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_cap),
		cmocka_unit_test(test_approval_body),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
