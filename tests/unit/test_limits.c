/*
 * test_limits.c -- connections per client address.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "proxy/limits.h"

static struct sockaddr_storage
v4(const char *ip, int port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *s = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof(ss));
	s->sin_family = AF_INET;
	s->sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, ip, &s->sin_addr);
	return ss;
}

static struct sockaddr_storage
v6(const char *ip, int port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof(ss));
	s->sin6_family = AF_INET6;
	s->sin6_port = htons((uint16_t)port);
	inet_pton(AF_INET6, ip, &s->sin6_addr);
	return ss;
}

#define SA(x) ((struct sockaddr *)&(x))

static void
test_cap_per_address(void **state)
{
	struct lim_table *t = lim_new();
	struct sockaddr_storage a = v4("192.0.2.1", 1000), a2 = v4("192.0.2.1", 2000);
	struct sockaddr_storage b = v4("192.0.2.2", 1000);

	assert_int_equal(lim_acquire(t, SA(a), 2), 0);
	assert_int_equal(lim_acquire(t, SA(a2), 2), 0);   /* other port, same IP */
	assert_int_equal(lim_acquire(t, SA(a), 2), 1);    /* over the cap */
	assert_int_equal(lim_count(t, SA(a)), 2);
	assert_int_equal(lim_acquire(t, SA(b), 2), 0);    /* another address is free */
	lim_release(t, SA(a));
	assert_int_equal(lim_acquire(t, SA(a), 2), 0);    /* room again */
	assert_int_equal(lim_size(t), 2);
	lim_release(t, SA(a));
	lim_release(t, SA(a));
	lim_release(t, SA(b));
	assert_int_equal(lim_size(t), 0);                 /* entries go with their last connection */
	assert_int_equal(lim_count(t, SA(a)), 0);
	lim_free(t);
}

static void
test_no_cap(void **state)
{
	struct lim_table *t = lim_new();
	struct sockaddr_storage a = v4("198.51.100.7", 1);

	for (int i = 0; i < 5000; i++)
		assert_int_equal(lim_acquire(t, SA(a), 0), 0);
	assert_int_equal(lim_count(t, SA(a)), 5000);
	lim_free(t);
}

static void
test_v4_mapped_is_v4(void **state)
{
	struct lim_table *t = lim_new();
	struct sockaddr_storage a = v4("203.0.113.9", 1);
	struct sockaddr_storage m = v6("::ffff:203.0.113.9", 2);
	struct sockaddr_storage o = v6("2001:db8::9", 3);

	assert_int_equal(lim_acquire(t, SA(a), 1), 0);
	assert_int_equal(lim_acquire(t, SA(m), 1), 1);
	assert_int_equal(lim_acquire(t, SA(o), 1), 0);
	lim_free(t);
}

/* Many addresses: the table grows and still finds each one. */
static void
test_many_addresses(void **state)
{
	struct lim_table *t = lim_new();
	char ip[32];

	for (int i = 0; i < 20000; i++) {
		snprintf(ip, sizeof(ip), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
		struct sockaddr_storage a = v4(ip, 1);
		assert_int_equal(lim_acquire(t, SA(a), 1), 0);
	}
	assert_int_equal(lim_size(t), 20000);
	for (int i = 0; i < 20000; i++) {
		snprintf(ip, sizeof(ip), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
		struct sockaddr_storage a = v4(ip, 1);
		assert_int_equal(lim_acquire(t, SA(a), 1), 1);
	}
	lim_free(t);
}

static void
test_unknown_family(void **state)
{
	struct lim_table *t = lim_new();
	struct sockaddr_storage u;

	memset(&u, 0, sizeof(u));
	u.ss_family = AF_UNIX;
	assert_int_equal(lim_acquire(t, SA(u), 1), -1);
	lim_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cap_per_address),
		cmocka_unit_test(test_no_cap),
		cmocka_unit_test(test_v4_mapped_is_v4),
		cmocka_unit_test(test_many_addresses),
		cmocka_unit_test(test_unknown_family),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
