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

#include "lib/hashtab.h"
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

/* An address of 2001:db8:0:1::/64 whose interface id is iid. */
static struct sockaddr_storage
in64(uint64_t iid, int port)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
	static const uint8_t prefix[8] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1 };

	memset(&ss, 0, sizeof(ss));
	s->sin6_family = AF_INET6;
	s->sin6_port = htons((uint16_t)port);
	memcpy(s->sin6_addr.s6_addr, prefix, 8);
	for (int b = 0; b < 8; b++)
		s->sin6_addr.s6_addr[8 + b] = (uint8_t)(iid >> (56 - 8 * b));
	return ss;
}

#define HUGE 100000

/*
 * 100,000 clients of one IPv6 /64 (what one attacker holds): the table
 * grows far past its first buckets, its chains stay short, and every
 * address is still counted on its own.
 */
static void
test_many_in_one_slash64(void **state)
{
	struct lim_table *t = lim_new();
	struct ht_stats st;

	assert_non_null(t);
	for (uint64_t i = 0; i < HUGE; i++) {
		struct sockaddr_storage a = in64(i, 1);
		assert_int_equal(lim_acquire(t, SA(a), 1), 0);
	}
	lim_stats(t, &st);
	assert_int_equal(st.entries, HUGE);
	assert_int_equal(lim_size(t), HUGE);
	assert_true(st.buckets >= HUGE);        /* load factor at most 1 */
	assert_true(st.longest <= 16);
	for (uint64_t i = 0; i < HUGE; i++) {
		struct sockaddr_storage a = in64(i, 2);
		assert_int_equal(lim_count(t, SA(a)), 1);
		assert_int_equal(lim_acquire(t, SA(a), 1), 1);   /* at its cap */
	}
	struct sockaddr_storage other = in64(HUGE, 1);
	assert_int_equal(lim_count(t, SA(other)), 0);
	for (uint64_t i = 0; i < HUGE; i += 2) {
		struct sockaddr_storage a = in64(i, 1);
		lim_release(t, SA(a));
	}
	assert_int_equal(lim_size(t), HUGE / 2);
	for (uint64_t i = 0; i < HUGE; i++) {
		struct sockaddr_storage a = in64(i, 1);
		assert_int_equal(lim_count(t, SA(a)), i % 2 == 0 ? 0 : 1);
	}
	lim_free(t);
}

/* The rate table too grows past the 1,024 buckets it once stopped at. */
static void
test_rate_many_in_one_slash64(void **state)
{
	struct rate_table *t = rate_new(2 * HUGE);
	struct ht_stats st;

	assert_non_null(t);
	for (uint64_t i = 0; i < HUGE; i++) {
		struct sockaddr_storage a = in64(i, 1);
		assert_int_equal(rate_allow(t, SA(a), 1, 0), 1);
	}
	rate_stats(t, &st);
	assert_int_equal(st.entries, HUGE);
	assert_true(st.buckets >= HUGE);
	assert_true(st.longest <= 16);
	for (uint64_t i = 0; i < HUGE; i++) {
		struct sockaddr_storage a = in64(i, 1);
		assert_int_equal(rate_allow(t, SA(a), 1, 1000), 0);   /* bucket empty */
	}
	assert_int_equal(rate_sweep(t, 1, 59999), 0);
	assert_int_equal(rate_sweep(t, 1, 60000), HUGE);          /* all full again */
	assert_int_equal(rate_size(t), 0);
	rate_free(t);
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

/* 60 a minute: a burst of 60 passes, the 61st is refused, one a second refills. */
static void
test_rate_bucket(void **state)
{
	struct rate_table *t = rate_new(1000);
	struct sockaddr_storage a = v4("192.0.2.50", 1), b = v4("192.0.2.51", 1);
	int passed = 0;

	for (int i = 0; i < 100; i++)
		passed += rate_allow(t, SA(a), 60, 1000) == 1;
	assert_int_equal(passed, 60);
	assert_int_equal(rate_allow(t, SA(a), 60, 1000), 0);
	/* another address is not affected */
	assert_int_equal(rate_allow(t, SA(b), 60, 1000), 1);
	/* 999 ms later: not a whole token yet; at 1000 ms: one */
	assert_int_equal(rate_allow(t, SA(a), 60, 1999), 0);
	assert_int_equal(rate_allow(t, SA(a), 60, 2000), 1);
	assert_int_equal(rate_allow(t, SA(a), 60, 2000), 0);
	/* no limit */
	assert_int_equal(rate_allow(t, SA(a), 0, 2000), 1);
	rate_free(t);
}

/* Slow rates refill smoothly; full buckets are swept away. */
static void
test_rate_slow_and_sweep(void **state)
{
	struct rate_table *t = rate_new(1000);
	struct sockaddr_storage a = v4("198.51.100.1", 1);

	assert_int_equal(rate_allow(t, SA(a), 2, 0), 1);
	assert_int_equal(rate_allow(t, SA(a), 2, 0), 1);
	assert_int_equal(rate_allow(t, SA(a), 2, 0), 0);
	assert_int_equal(rate_allow(t, SA(a), 2, 29999), 0);  /* 30 s per token */
	assert_int_equal(rate_allow(t, SA(a), 2, 30000), 1);
	assert_int_equal(rate_size(t), 1);
	assert_int_equal(rate_sweep(t, 2, 30001), 0);        /* still busy */
	assert_int_equal(rate_sweep(t, 2, 90000), 1);        /* full again */
	assert_int_equal(rate_size(t), 0);
	rate_free(t);
}

/* A table full of busy addresses lets new ones through (-1), never grows. */
static void
test_rate_full(void **state)
{
	struct rate_table *t = rate_new(2);
	struct sockaddr_storage a = v4("203.0.113.1", 1), b = v4("203.0.113.2", 1);
	struct sockaddr_storage c = v4("203.0.113.3", 1);

	assert_int_equal(rate_allow(t, SA(a), 10, 0), 1);
	assert_int_equal(rate_allow(t, SA(b), 10, 0), 1);
	assert_int_equal(rate_allow(t, SA(c), 10, 0), -1);
	assert_int_equal(rate_size(t), 2);
	/* once a's and b's buckets are full again there is room */
	assert_int_equal(rate_allow(t, SA(c), 10, 60000), 1);
	rate_free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cap_per_address),
		cmocka_unit_test(test_no_cap),
		cmocka_unit_test(test_v4_mapped_is_v4),
		cmocka_unit_test(test_many_addresses),
		cmocka_unit_test(test_many_in_one_slash64),
		cmocka_unit_test(test_rate_many_in_one_slash64),
		cmocka_unit_test(test_unknown_family),
		cmocka_unit_test(test_rate_bucket),
		cmocka_unit_test(test_rate_slow_and_sweep),
		cmocka_unit_test(test_rate_full),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
