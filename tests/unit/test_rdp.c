/*
 * test_rdp.c -- an RDP client's Connection Request (http/rdp.c), the RDP
 * check's packets (backends/check_rdp.c) and the user an mstshash names
 * (route_user_hint in backends/route.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "backends/affinity.h"
#include "backends/check.h"
#include "backends/route.h"
#include "http/rdp.h"

/* What FreeRDP 2.11 sends for `xfreerdp /u:alice` (captured). */
static const uint8_t freerdp_hash[] = {
	0x03, 0x00, 0x00, 0x2b, 0x26, 0xe0, 0x00, 0x00, 0x00, 0x00, 0x00,
	'C', 'o', 'o', 'k', 'i', 'e', ':', ' ', 'm', 's', 't', 's', 'h', 'a',
	's', 'h', '=', 'a', 'l', 'i', 'c', 'e', '\r', '\n',
	0x01, 0x00, 0x08, 0x00, 0x03, 0x00, 0x00, 0x00,
};

/* A Connection Request around var[0..n) into buf; returns its length. */
static size_t
cr(uint8_t *buf, const void *var, size_t n)
{
	size_t len = 11 + n;

	buf[0] = 3;
	buf[1] = 0;
	buf[2] = (uint8_t)(len >> 8);
	buf[3] = (uint8_t)len;
	buf[4] = (uint8_t)(len - 5);
	buf[5] = 0xe0;
	memset(buf + 6, 0, 5);
	memcpy(buf + 11, var, n);
	return len;
}

static void
test_freerdp_cookie(void **state)
{
	struct rdp_cr c;

	assert_int_equal(rdp_parse_cr(freerdp_hash, sizeof(freerdp_hash), &c),
	    RDP_OK);
	assert_int_equal(c.len, sizeof(freerdp_hash));
	assert_string_equal(c.user, "alice");
	assert_false(c.user_cut);
	assert_false(c.token);
	assert_true(c.neg);
	assert_int_equal(c.protocols, 3);
}

/* Every split of the packet: AGAIN until the last byte, then the same result. */
static void
test_split_across_reads(void **state)
{
	struct rdp_cr c;

	for (size_t n = 0; n < sizeof(freerdp_hash); n++) {
		assert_int_equal(rdp_parse_cr(freerdp_hash, n, &c), RDP_AGAIN);
		assert_int_equal(c.need, n < 4 ? 4 : sizeof(freerdp_hash));
	}
	/* Bytes after the packet are not its business. */
	uint8_t more[sizeof(freerdp_hash) + 5];
	memcpy(more, freerdp_hash, sizeof(freerdp_hash));
	memset(more + sizeof(freerdp_hash), 0xff, 5);
	assert_int_equal(rdp_parse_cr(more, sizeof(more), &c), RDP_OK);
	assert_int_equal(c.len, sizeof(freerdp_hash));
}

static void
test_lying_lengths(void **state)
{
	uint8_t b[300];
	struct rdp_cr c;

	memcpy(b, freerdp_hash, sizeof(freerdp_hash));
	/* TPKT says more than a Connection Request can hold. */
	b[2] = 0x01;
	b[3] = 0x04;
	assert_int_equal(rdp_parse_cr(b, 4, &c), RDP_BAD);
	assert_string_equal(c.why,
	    "TPKT length out of range for a Connection Request");
	/* Less than the fixed part. */
	b[2] = 0;
	b[3] = 10;
	assert_int_equal(rdp_parse_cr(b, 4, &c), RDP_BAD);
	/* TPKT and X.224 disagree: refused at the fifth byte. */
	memcpy(b, freerdp_hash, sizeof(freerdp_hash));
	b[4] = 0x20;
	assert_int_equal(rdp_parse_cr(b, 5, &c), RDP_BAD);
	assert_string_equal(c.why,
	    "X.224 length disagrees with the TPKT length");
	/* A length shorter than the cookie line: the line has no CRLF inside. */
	memcpy(b, freerdp_hash, sizeof(freerdp_hash));
	b[3] = 0x20;
	b[4] = 0x20 - 5;
	assert_int_equal(rdp_parse_cr(b, sizeof(freerdp_hash), &c), RDP_BAD);
	assert_string_equal(c.why,
	    "the cookie line does not end inside the packet");
	/* A length longer than what follows the line. */
	memcpy(b, freerdp_hash, sizeof(freerdp_hash));
	b[sizeof(freerdp_hash)] = 0;
	b[3] = (uint8_t)(sizeof(freerdp_hash) + 1);
	b[4] = (uint8_t)(sizeof(freerdp_hash) + 1 - 5);
	assert_int_equal(rdp_parse_cr(b, sizeof(freerdp_hash) + 1, &c),
	    RDP_BAD);
	assert_string_equal(c.why, "bytes after the negotiation request");
}

static void
test_garbage_at_once(void **state)
{
	struct rdp_cr c;
	const uint8_t ssh[] = "SSH-2.0-OpenSSH_9.2";
	const uint8_t cc[] = { 0x03, 0x00, 0x00, 0x0b, 0x06, 0xd0 };

	assert_int_equal(rdp_parse_cr(ssh, 1, &c), RDP_BAD);
	assert_int_equal(rdp_parse_cr((const uint8_t *)"\x03\x01", 2, &c),
	    RDP_BAD);
	/* A Connection Confirm is not a request. */
	assert_int_equal(rdp_parse_cr(cc, sizeof(cc), &c), RDP_BAD);
	assert_string_equal(c.why, "not an X.224 Connection Request");
}

static void
test_long_cookie(void **state)
{
	uint8_t b[RDP_CR_MAX + 64], var[RDP_CR_MAX];
	struct rdp_cr c;
	size_t n;

	/* The longest line that fits: a name too long to be a user is no hint. */
	memcpy(var, "Cookie: mstshash=", 17);
	memset(var + 17, 'a', RDP_CR_MAX - 11 - 17 - 2);
	memcpy(var + RDP_CR_MAX - 11 - 2, "\r\n", 2);
	n = cr(b, var, RDP_CR_MAX - 11);
	assert_int_equal(n, RDP_CR_MAX);
	assert_int_equal(rdp_parse_cr(b, n, &c), RDP_OK);
	assert_string_equal(c.user, "");
	/* One byte longer cannot be a Connection Request. */
	n = cr(b, var, RDP_CR_MAX - 10);
	assert_int_equal(rdp_parse_cr(b, n, &c), RDP_BAD);
	/* A control byte in the line. */
	n = cr(b, "Cookie: mstshash=a\x01" "b\r\n", 22);
	assert_int_equal(rdp_parse_cr(b, n, &c), RDP_BAD);
	assert_string_equal(c.why, "a control byte in the cookie line");
}

static void
test_names(void **state)
{
	uint8_t b[RDP_CR_MAX];
	struct rdp_cr c;
	size_t n;

	/* mstsc: a domain, cut to nine characters, in capitals. */
	n = cr(b, "Cookie: mstshash=CONTOSO\\a\r\n", 28);
	assert_int_equal(rdp_parse_cr(b, n, &c), RDP_OK);
	assert_string_equal(c.user, "a");
	assert_true(c.user_cut);
	n = cr(b, "Cookie: mstshash=Alexandra\r\n", 28);
	assert_int_equal(rdp_parse_cr(b, n, &c), RDP_OK);
	assert_string_equal(c.user, "alexandra");
	assert_true(c.user_cut);
	/* Not a user name: no hint, still a valid request. */
	n = cr(b, "Cookie: mstshash=9lives\r\n", 25);
	assert_int_equal(rdp_parse_cr(b, n, &c), RDP_OK);
	assert_string_equal(c.user, "");
	n = cr(b, "Cookie: mstshash=\r\n", 19);
	assert_int_equal(rdp_parse_cr(b, n, &c), RDP_OK);
	assert_string_equal(c.user, "");
}

static void
test_tokens(void **state)
{
	uint8_t b[RDP_CR_MAX];
	const uint8_t ip[4] = { 10, 231, 0, 11 };
	struct rdp_cr c;
	char var[128];
	uint32_t ipnum;
	uint16_t portnum;
	size_t n;
	int len;

	/* The documented example: 10.0.0.1? No: the broker's own arithmetic. */
	rdp_token_fields(ip, 3389, &ipnum, &portnum);
	assert_int_equal(portnum, 15629);
	len = snprintf(var, sizeof(var), "Cookie: msts=%u.%u.0000\r\n", ipnum,
	    portnum);
	n = cr(b, var, (size_t)len);
	assert_int_equal(rdp_parse_cr(b, n, &c), RDP_OK);
	assert_true(c.token);
	assert_memory_equal(c.token_ip, ip, 4);
	assert_int_equal(c.token_port, 3389);
	assert_string_equal(c.user, "");
	/* Out of range or malformed: ignored as another broker's token. */
	n = cr(b, "Cookie: msts=4294967296.15629.0000\r\n", 36);
	assert_int_equal(rdp_parse_cr(b, n, &c), RDP_OK);
	assert_false(c.token);
	assert_true(c.other_token);
	n = cr(b, "Cookie: msts=1.2\r\n", 18);
	assert_int_equal(rdp_parse_cr(b, n, &c), RDP_OK);
	assert_false(c.token);
	n = cr(b, "tsv://MS Terminal Services Plugin.1.S\r\n", 39);
	assert_int_equal(rdp_parse_cr(b, n, &c), RDP_OK);
	assert_true(c.other_token);
}

static void
test_negotiation(void **state)
{
	uint8_t b[RDP_CR_MAX], var[64];
	struct rdp_cr c;
	size_t n;

	/* Only the negotiation request, and nothing at all. */
	memcpy(var, "\x01\x00\x08\x00\x0b\x00\x00\x00", 8);
	n = cr(b, var, 8);
	assert_int_equal(rdp_parse_cr(b, n, &c), RDP_OK);
	assert_true(c.neg);
	assert_int_equal(c.protocols, 11);
	n = cr(b, "", 0);
	assert_int_equal(rdp_parse_cr(b, n, &c), RDP_OK);
	assert_false(c.neg);
	/* With correlation info (flag 0x08). */
	memset(var, 0, sizeof(var));
	memcpy(var, "\x01\x08\x08\x00\x03\x00\x00\x00\x06\x00\x24\x00", 12);
	n = cr(b, var, 44);
	assert_int_equal(rdp_parse_cr(b, n, &c), RDP_OK);
	/* The flag without the info, and a short request. */
	n = cr(b, var, 8);
	assert_int_equal(rdp_parse_cr(b, n, &c), RDP_BAD);
	assert_string_equal(c.why, "a malformed correlation info");
	n = cr(b, var, 5);
	assert_int_equal(rdp_parse_cr(b, n, &c), RDP_BAD);
	assert_string_equal(c.why, "a malformed negotiation request");
}

static void
test_check_packets(void **state)
{
	const char *why;
	size_t n;
	const uint8_t *req = chk_rdp_request(&n);
	struct rdp_cr c;
	/* xrdp 0.9's answer: Connection Confirm, negotiation response TLS. */
	const uint8_t cc[] = { 0x03, 0x00, 0x00, 0x13, 0x0e, 0xd0, 0x00, 0x00,
	    0x12, 0x34, 0x00, 0x02, 0x00, 0x08, 0x00, 0x01, 0x00, 0x00, 0x00 };

	/* What the check sends is what a client sends. */
	assert_int_equal(rdp_parse_cr(req, n, &c), RDP_OK);
	assert_int_equal(chk_rdp_confirm(cc, sizeof(cc), &why), 1);
	for (size_t i = 0; i < sizeof(cc); i++)
		assert_int_equal(chk_rdp_confirm(cc, i, &why), 0);
	assert_int_equal(chk_rdp_confirm((const uint8_t *)"SSH-2.0-", 8, &why),
	    -1);
	assert_string_equal(why, "not a TPKT header");
	/* Its own request echoed back is not a confirm. */
	assert_int_equal(chk_rdp_confirm(req, n, &why), -1);
	assert_string_equal(why, "not an X.224 Connection Confirm");
	assert_int_equal(chk_rdp_confirm((const uint8_t *)"\x03\x00\x01\x04",
	    4, &why), -1);
}

static void
test_user_hint(void **state)
{
	struct aff_table *t = aff_new(100, 60000);
	char out[HU_NAME_MAX + 1];

	assert_non_null(t);
	assert_int_equal(aff_session_start(t, "user:alexandra", "vm1", 0), 0);
	assert_int_equal(aff_session_start(t, "user:bob", "vm2", 0), 0);
	assert_int_equal(aff_session_start(t, "ip:alexandrb", "vm2", 0), 0);
	/* Not cut: the name as it is, known or not. */
	assert_int_equal(route_user_hint(t, "carol", false, 1, out,
	    sizeof(out)), 1);
	assert_string_equal(out, "carol");
	/* Cut: the one user it starts. */
	assert_int_equal(route_user_hint(t, "alexandra", true, 1, out,
	    sizeof(out)), 1);
	assert_string_equal(out, "alexandra");
	assert_int_equal(aff_session_start(t, "user:alexandrab", "vm2", 0), 0);
	/* Two users start with it: never a wrong full match. */
	assert_int_equal(route_user_hint(t, "alexandra", true, 1, out,
	    sizeof(out)), -1);
	assert_string_equal(out, "");
	/* Nobody starts with it: unknown. */
	assert_int_equal(route_user_hint(t, "zacharias", true, 1, out,
	    sizeof(out)), 0);
	/* Expired users are not known. */
	aff_session_end(t, "user:alexandrab", "vm2", 0);
	assert_int_equal(route_user_hint(t, "alexandra", true, 70000, out,
	    sizeof(out)), 1);
	assert_string_equal(out, "alexandra");
	assert_int_equal(route_user_hint(t, "", false, 1, out, sizeof(out)), 0);
	assert_int_equal(route_user_hint(NULL, "alexandra", true, 1, out,
	    sizeof(out)), 0);
	aff_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_freerdp_cookie),
		cmocka_unit_test(test_split_across_reads),
		cmocka_unit_test(test_lying_lengths),
		cmocka_unit_test(test_garbage_at_once),
		cmocka_unit_test(test_long_cookie),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_tokens),
		cmocka_unit_test(test_negotiation),
		cmocka_unit_test(test_check_packets),
		cmocka_unit_test(test_user_hint),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
