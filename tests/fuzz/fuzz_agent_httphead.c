/*
 * fuzz_agent_httphead.c -- what a client sends to poolgate-agent's port
 * (agent/proto.c): the sniff that tells HTTP from the agent-check line, the
 * end of the request head, and its parse.
 *
 * The sniff and the parse must agree (a head that parses began with a
 * method the sniff calls HTTP, or is refused); the status is one of those
 * the agent sends; 200 means GET or HEAD of /v1/report over HTTP/1.0 or 1.1;
 * the head length never passes the input or the cap.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c) do { if (!(c)) abort(); } while (0)

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data, *why = NULL;
	struct ap_request req;
	enum ap_sniff s = ap_sniff(buf, size);
	size_t hl = ap_head_len(buf, size);
	int st;

	CHECK(s == AP_SNIFF_MORE || s == AP_SNIFF_HTTP || s == AP_SNIFF_LINE);
	if (size == 0)
		CHECK(s == AP_SNIFF_MORE);
	CHECK(hl <= size && hl <= AP_HEAD_MAX);
	if (hl > 0)
		CHECK(buf[hl - 1] == '\n');
	st = ap_parse_head(buf, hl > 0 ? hl : size, &req, &why);
	CHECK(why != NULL);
	CHECK(st == 200 || st == 400 || st == 404 || st == 405 || st == 414 ||
	    st == 431);
	if (st == 200 || st == 404 || st == 405) {
		CHECK(s == AP_SNIFF_HTTP || s == AP_SNIFF_LINE);
		CHECK(strlen(req.method) > 0 && strlen(req.method) < sizeof(req.method));
		CHECK(req.path[0] == '/' && strlen(req.path) <= AP_TARGET_MAX);
		CHECK(req.minor == 0 || req.minor == 1);
	}
	if (st == 200) {
		CHECK(strcmp(req.path, AP_REPORT_PATH) == 0);
		CHECK(strcmp(req.method, "GET") == 0 || strcmp(req.method, "HEAD") == 0);
		CHECK(s == AP_SNIFF_HTTP);
	}
	if (size > AP_HEAD_MAX && hl == 0)
		CHECK(ap_parse_head(buf, size, &req, &why) == 431);
	return 0;
}
