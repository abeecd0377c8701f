/*
 * test_upgmsg.c -- the binary upgrade's messages (daemon/upgmsg.c): every
 * type round-trips, the byte layout is fixed, and what is not ours (short,
 * wrong magic, unknown type, set padding, another family) is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "daemon/upgmsg.h"

static void
test_round_trip(void **state)
{
	static const enum upg_type types[] = { UPG_SOCKS, UPG_READY, UPG_GO,
	    UPG_DRAINING };
	static const uint32_t values[] = { 0, 1, 4242, 0x7fffffff, 0xffffffff };
	uint8_t m[UPG_MSG_LEN];
	enum upg_type t;
	uint32_t v;

	for (size_t i = 0; i < 4; i++)
		for (size_t j = 0; j < 5; j++) {
			upg_put(m, types[i], values[j]);
			assert_int_equal(upg_get(m, sizeof(m), &t, &v), 0);
			assert_int_equal(t, types[i]);
			assert_true(v == values[j]);
		}
}

static void
test_layout(void **state)
{
	static const uint8_t want[UPG_MSG_LEN] = { 'P', 'G', UPG_READY, 0,
	    0x00, 0x01, 0x02, 0x03 };
	uint8_t m[UPG_MSG_LEN];

	upg_put(m, UPG_READY, 0x010203);
	assert_memory_equal(m, want, sizeof(want));
}

static void
test_refused(void **state)
{
	uint8_t m[UPG_MSG_LEN];
	enum upg_type t;
	uint32_t v;

	upg_put(m, UPG_GO, 0);
	assert_int_equal(upg_get(m, UPG_MSG_LEN - 1, &t, &v), -1);   /* short */
	m[0] = 'X';
	assert_int_equal(upg_get(m, sizeof(m), &t, &v), -1);         /* magic */
	upg_put(m, UPG_GO, 0);
	m[2] = 0;
	assert_int_equal(upg_get(m, sizeof(m), &t, &v), -1);         /* type 0 */
	m[2] = UPG_DRAINING + 1;
	assert_int_equal(upg_get(m, sizeof(m), &t, &v), -1);         /* unknown */
	upg_put(m, UPG_GO, 0);
	m[3] = 1;
	assert_int_equal(upg_get(m, sizeof(m), &t, &v), -1);         /* padding */
}

static void
test_addr_v4(void **state)
{
	struct sockaddr_storage ss, back;
	struct sockaddr_in *in = (void *)&ss, *b = (void *)&back;
	uint8_t buf[UPG_ADDR_LEN];

	memset(&ss, 0, sizeof(ss));
	in->sin_family = AF_INET;
	in->sin_port = htons(2222);
	inet_pton(AF_INET, "127.0.0.1", &in->sin_addr);
	assert_int_equal(upg_put_addr(buf, &ss), 0);
	assert_int_equal(upg_get_addr(buf, &back), 0);
	assert_int_equal(b->sin_family, AF_INET);
	assert_int_equal(ntohs(b->sin_port), 2222);
	assert_memory_equal(&b->sin_addr, &in->sin_addr, 4);
	buf[12] = 1;        /* bytes past an IPv4 address must be zero */
	assert_int_equal(upg_get_addr(buf, &back), -1);
}

static void
test_addr_v6(void **state)
{
	struct sockaddr_storage ss, back;
	struct sockaddr_in6 *in = (void *)&ss, *b = (void *)&back;
	uint8_t buf[UPG_ADDR_LEN];

	memset(&ss, 0, sizeof(ss));
	in->sin6_family = AF_INET6;
	in->sin6_port = htons(443);
	inet_pton(AF_INET6, "2001:db8::7", &in->sin6_addr);
	assert_int_equal(upg_put_addr(buf, &ss), 0);
	assert_int_equal(upg_get_addr(buf, &back), 0);
	assert_int_equal(b->sin6_family, AF_INET6);
	assert_int_equal(ntohs(b->sin6_port), 443);
	assert_memory_equal(&b->sin6_addr, &in->sin6_addr, 16);
}

static void
test_addr_refused(void **state)
{
	struct sockaddr_storage ss, back;
	uint8_t buf[UPG_ADDR_LEN];

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = AF_UNIX;
	assert_int_equal(upg_put_addr(buf, &ss), -1);
	memset(buf, 0, sizeof(buf));
	buf[0] = 5;                                   /* no such family */
	assert_int_equal(upg_get_addr(buf, &back), -1);
	buf[0] = 6;
	buf[1] = 1;                                   /* padding */
	assert_int_equal(upg_get_addr(buf, &back), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_layout),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_addr_v4),
		cmocka_unit_test(test_addr_v6),
		cmocka_unit_test(test_addr_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
