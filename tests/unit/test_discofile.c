/*
 * test_discofile.c -- the backends file of discovery: lines, errors, caps.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "backends/discofile.h"

#define F "backends"

/* Parse s with default weight dw; errors land in *errs (freed by caller). */
static int
parse_w(const char *s, size_t len, int dw, struct df_list *l,
    struct cfg_errors *errs)
{
	memset(errs, 0, sizeof(*errs));
	return df_parse(s, len, F, dw, l, errs);
}

/* A valid file: returns its list; fails the test on any error. */
static struct df_list
ok(const char *s)
{
	struct df_list l;
	struct cfg_errors errs;
	size_t i;

	if (parse_w(s, strlen(s), 1, &l, &errs) != 0) {
		for (i = 0; i < errs.n; i++)
			print_error("unexpected: %s\n", errs.msg[i]);
		fail();
	}
	assert_int_equal(errs.n, 0);
	cfg_errors_free(&errs);
	return l;
}

/*
 * An invalid file with exactly one error, which must be `want`: the list
 * comes back empty whatever the good lines were.
 */
static void
bad(const char *s, size_t len, const char *want)
{
	struct df_list l;
	struct cfg_errors errs;

	assert_int_equal(parse_w(s, len, 1, &l, &errs), -1);
	assert_int_equal(l.n, 0);
	assert_null(l.e);
	if (errs.n != 1 || strcmp(errs.msg[0], want) != 0) {
		for (size_t i = 0; i < errs.n; i++)
			print_error("got: %s\n", errs.msg[i]);
		print_error("want: %s\n", want);
		fail();
	}
	cfg_errors_free(&errs);
}

static void
bad_s(const char *s, const char *want)
{
	bad(s, strlen(s), want);
}

static void
test_valid(void **state)
{
	struct df_list l = ok(
	    "vm1 10.0.0.4\n"
	    "vm2\t10.0.0.5\t2\n"
	    "  vm-3.a_B   fd00::6    1000   \n"
	    "vm4 [fd00::7] 1\n");

	(void)state;
	assert_int_equal(l.n, 4);
	assert_string_equal(l.e[0].name, "vm1");
	assert_string_equal(l.e[0].address, "10.0.0.4");
	assert_int_equal(l.e[0].weight, 1);
	assert_int_equal(l.e[0].line, 1);
	assert_string_equal(l.e[1].name, "vm2");
	assert_int_equal(l.e[1].weight, 2);
	assert_string_equal(l.e[2].name, "vm-3.a_B");
	assert_string_equal(l.e[2].address, "fd00::6");
	assert_int_equal(l.e[2].weight, 1000);
	assert_int_equal(l.e[2].line, 3);
	/* brackets are taken and dropped: the canonical text goes on */
	assert_string_equal(l.e[3].address, "fd00::7");
	df_list_free(&l);
	assert_null(l.e);
	assert_int_equal(l.n, 0);
}

static void
test_default_weight(void **state)
{
	struct df_list l;
	struct cfg_errors errs;
	const char *s = "a 10.0.0.1\nb 10.0.0.2 7\n";

	(void)state;
	assert_int_equal(parse_w(s, strlen(s), 5, &l, &errs), 0);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.e[0].weight, 5);     /* the caller's */
	assert_int_equal(l.e[1].weight, 7);     /* the line's own */
	df_list_free(&l);
	cfg_errors_free(&errs);

	/* a default out of range is the caller's bug, still reported */
	assert_int_equal(parse_w(s, strlen(s), 0, &l, &errs), -1);
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.msg[0],
	    "backends: default weight 0 is out of range (expected 1 to 1000)");
	cfg_errors_free(&errs);
}

static void
test_comments_blank(void **state)
{
	struct df_list l = ok(
	    "# the pool\n"
	    "\n"
	    "   \t  \n"
	    "   # indented comment\n"
	    "vm1 10.0.0.4 # rack a\n"
	    "vm2 10.0.0.5 3 #rack b\n"
	    "vm3 10.0.0.6\t#\n"
	    "#vm4 10.0.0.7\n");

	(void)state;
	assert_int_equal(l.n, 3);
	assert_string_equal(l.e[0].name, "vm1");
	assert_int_equal(l.e[0].line, 5);
	assert_int_equal(l.e[1].weight, 3);
	assert_int_equal(l.e[2].line, 7);
	df_list_free(&l);
}

static void
test_empty_file(void **state)
{
	struct df_list l;
	struct cfg_errors errs;

	(void)state;
	/* zero VMs is a valid file: the pool part goes to zero */
	l = ok("");
	assert_int_equal(l.n, 0);
	assert_null(l.e);
	l = ok("# nothing here\n\n");
	assert_int_equal(l.n, 0);
	assert_int_equal(parse_w(NULL, 0, 1, &l, &errs), 0);
	assert_int_equal(l.n, 0);
	cfg_errors_free(&errs);
	df_list_free(&l);       /* an empty list, and NULL, are fine to free */
	df_list_free(NULL);
}

static void
test_line_ends(void **state)
{
	struct df_list l;

	(void)state;
	l = ok("vm1 10.0.0.4\r\nvm2 10.0.0.5 2\r\n# c\r\n\r\nvm3 10.0.0.6");
	assert_int_equal(l.n, 3);
	assert_string_equal(l.e[0].address, "10.0.0.4");
	assert_int_equal(l.e[1].weight, 2);
	assert_string_equal(l.e[2].name, "vm3");     /* no final end: counts */
	assert_int_equal(l.e[2].line, 5);
	df_list_free(&l);

	l = ok("vm1 10.0.0.4 9\r");
	assert_int_equal(l.e[0].weight, 9);
	df_list_free(&l);

	/* a byte order mark at the start, as some editors write */
	l = ok("\xef\xbb\xbfvm1 10.0.0.4\n");
	assert_int_equal(l.n, 1);
	assert_string_equal(l.e[0].name, "vm1");
	df_list_free(&l);

	/* a CR inside the line is no line end */
	bad_s("vm1\r10.0.0.4\n", "backends:1: \"vm1\\x0d10.0.0.4\" is not a "
	    "VM name (expected 1 to 63 of A-Z a-z 0-9 _ - . (not starting with - or .))");
}

static void
test_bad_name(void **state)
{
	char s[200];

	(void)state;
	bad_s("vm1 10.0.0.4\nvm/2 10.0.0.5\n", "backends:2: \"vm/2\" is not a "
	    "VM name (expected 1 to 63 of A-Z a-z 0-9 _ - . (not starting with - or .))");
	bad_s("v\"m 10.0.0.5\n", "backends:1: \"v\\\"m\" is not a VM name "
	    "(expected 1 to 63 of A-Z a-z 0-9 _ - . (not starting with - or .))");
	bad_s("vm\xc3\xa9 10.0.0.5\n", "backends:1: \"vm\\xc3\\xa9\" is not a "
	    "VM name (expected 1 to 63 of A-Z a-z 0-9 _ - . (not starting with - or .))");
	/* 63 is fine, 64 is not; a long field is cut in the message */
	memset(s, 'a', 63);
	strcpy(s + 63, " 10.0.0.4\n");
	{
		struct df_list l = ok(s);

		assert_int_equal(strlen(l.e[0].name), 63);
		df_list_free(&l);
	}
	memset(s, 'a', 64);
	strcpy(s + 64, " 10.0.0.4\n");
	bad_s(s, "backends:1: \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"... "
	    "is not a VM name (expected 1 to 63 of A-Z a-z 0-9 _ - . (not starting with - or .))");
}

static void
test_bad_fields(void **state)
{
	(void)state;
	bad_s("vm1\n", "backends:1: VM vm1 has no address (expected: name "
	    "address [weight])");
	bad_s("vm1 # 10.0.0.4\n", "backends:1: VM vm1 has no address "
	    "(expected: name address [weight])");
	bad_s("vm1 10.0.0.4 2 x\n", "backends:1: \"x\" after the weight is one "
	    "field too many (expected: name address [weight])");
	bad_s("vm1 10.0.0.4 2 3 4\n", "backends:1: \"3\" after the weight is "
	    "one field too many (expected: name address [weight])");
}

static void
test_bad_address(void **state)
{
	(void)state;
	bad_s("vm1 10.0.0.300\n", "backends:1: \"10.0.0.300\" is not an IP "
	    "address (expected a numeric IPv4 or IPv6 address)");
	bad_s("vm1 vm1.example.com\n", "backends:1: \"vm1.example.com\" is not "
	    "an IP address (expected a numeric IPv4 or IPv6 address)");
	bad_s("vm1 10.0.0.4:22\n", "backends:1: \"10.0.0.4:22\" is not an IP "
	    "address (expected a numeric IPv4 or IPv6 address)");
	bad_s("vm1 [fd00::1]:22\n", "backends:1: \"[fd00::1]:22\" is not an IP "
	    "address (expected a numeric IPv4 or IPv6 address)");
	bad_s("vm1 1111:2222:3333:4444:5555:6666:7777:8888:9999\n",
	    "backends:1: \"1111:2222:3333:4444:5555:6666:7777:8888:\"... is "
	    "not an IP address (expected a numeric IPv4 or IPv6 address)");
	bad("vm1 10.0.0.4\0", 13, "backends:1: \"10.0.0.4\\x00\" is not an IP "
	    "address (expected a numeric IPv4 or IPv6 address)");
	bad_s("vm1 0.0.0.0\n", "backends:1: \"0.0.0.0\" is not the address of "
	    "a VM (expected a unicast address, not 0.0.0.0, ::, broadcast or "
	    "multicast)");
	bad_s("vm1 ::\n", "backends:1: \"::\" is not the address of a VM "
	    "(expected a unicast address, not 0.0.0.0, ::, broadcast or "
	    "multicast)");
	bad_s("vm1 239.1.2.3\n", "backends:1: \"239.1.2.3\" is not the address "
	    "of a VM (expected a unicast address, not 0.0.0.0, ::, broadcast or "
	    "multicast)");
	bad_s("vm1 255.255.255.255\n", "backends:1: \"255.255.255.255\" is not "
	    "the address of a VM (expected a unicast address, not 0.0.0.0, ::, "
	    "broadcast or multicast)");
	bad_s("vm1 ff02::1\n", "backends:1: \"ff02::1\" is not the address of "
	    "a VM (expected a unicast address, not 0.0.0.0, ::, broadcast or "
	    "multicast)");
}

static void
test_bad_weight(void **state)
{
	struct df_list l;

	(void)state;
	bad_s("vm1 10.0.0.4 0\n", "backends:1: weight \"0\" is out of range "
	    "(expected 1 to 1000)");
	bad_s("vm1 10.0.0.4 1001\n", "backends:1: weight \"1001\" is out of "
	    "range (expected 1 to 1000)");
	bad_s("vm1 10.0.0.4 99999999999999999999\n", "backends:1: weight "
	    "\"99999999999999999999\" is out of range (expected 1 to 1000)");
	bad_s("vm1 10.0.0.4 -1\n", "backends:1: \"-1\" is not a weight "
	    "(expected an integer from 1 to 1000)");
	bad_s("vm1 10.0.0.4 +2\n", "backends:1: \"+2\" is not a weight "
	    "(expected an integer from 1 to 1000)");
	bad_s("vm1 10.0.0.4 2x\n", "backends:1: \"2x\" is not a weight "
	    "(expected an integer from 1 to 1000)");
	bad_s("vm1 10.0.0.4 1.5\n", "backends:1: \"1.5\" is not a weight "
	    "(expected an integer from 1 to 1000)");
	l = ok("vm1 10.0.0.4 0001000\n");       /* leading zeros are digits */
	assert_int_equal(l.e[0].weight, 1000);
	df_list_free(&l);
}

static void
test_duplicates(void **state)
{
	(void)state;
	bad_s("vm1 10.0.0.4\nvm2 10.0.0.5\n# x\nvm1 10.0.0.6\n",
	    "backends:4: VM vm1 is already on line 1 (expected each name once)");
	bad_s("vm1 10.0.0.4\nvm2 10.0.0.5\nvm3 10.0.0.4 2\n",
	    "backends:3: address 10.0.0.4 is already the address of vm1 on "
	    "line 1 (expected each address once)");
	/* the same IPv6 address written two ways */
	bad_s("vm1 fd00::6\nvm2 fd00:0:0::0006\n",
	    "backends:2: address fd00::6 is already the address of vm1 on "
	    "line 1 (expected each address once)");
	bad_s("vm1 fd00::6\nvm2 [FD00::6]\n",
	    "backends:2: address fd00::6 is already the address of vm1 on "
	    "line 1 (expected each address once)");
	/* names are case-sensitive, as everywhere in poolgate */
	{
		struct df_list l = ok("vm1 10.0.0.4\nVM1 10.0.0.5\n");

		assert_int_equal(l.n, 2);
		df_list_free(&l);
	}
}

static void
test_long_line(void **state)
{
	char s[1200];
	struct df_list l;

	(void)state;
	/* exactly DF_LINE_MAX bytes (spaces and a comment pad it) is fine */
	memset(s, ' ', sizeof(s));
	memcpy(s, "vm1 10.0.0.4 #", 14);
	s[DF_LINE_MAX] = '\n';
	s[DF_LINE_MAX + 1] = '\0';
	l = ok(s);
	assert_int_equal(l.n, 1);
	df_list_free(&l);
	/* and with its CRLF */
	s[DF_LINE_MAX] = '\r';
	s[DF_LINE_MAX + 1] = '\n';
	s[DF_LINE_MAX + 2] = '\0';
	l = ok(s);
	df_list_free(&l);

	/* one byte more is refused, with its length */
	memset(s, ' ', sizeof(s));
	memcpy(s, "vm1 10.0.0.4 #", 14);
	s[DF_LINE_MAX + 1] = '\n';
	memcpy(s + DF_LINE_MAX + 2, "vm2 10.0.0.5\n", 14);
	bad_s(s, "backends:1: the line is 513 bytes long (expected at most 512 "
	    "bytes a line)");
	/* the last line, without its end */
	memset(s, 'x', sizeof(s));
	memcpy(s, "vm1 10.0.0.4\n", 13);
	s[sizeof(s) - 1] = '\0';
	bad_s(s, "backends:2: the line is 1186 bytes long (expected at most 512 "
	    "bytes a line)");
}

/* One line with a problem among good ones: all refused, all reported. */
static void
test_all_or_nothing(void **state)
{
	struct df_list l;
	struct cfg_errors errs;
	const char *s =
	    "vm1 10.0.0.4\n"
	    "vm2 10.0.0.5 0\n"
	    "vm3 10.0.0.6\n"
	    "vm4 10.0.0.7.1\n"
	    "vm5 10.0.0.8\n";

	(void)state;
	assert_int_equal(parse_w(s, strlen(s), 1, &l, &errs), -1);
	assert_int_equal(l.n, 0);
	assert_int_equal(errs.n, 2);
	assert_string_equal(errs.msg[0], "backends:2: weight \"0\" is out of "
	    "range (expected 1 to 1000)");
	assert_string_equal(errs.msg[1], "backends:4: \"10.0.0.7.1\" is not an "
	    "IP address (expected a numeric IPv4 or IPv6 address)");
	cfg_errors_free(&errs);
}

static void
test_error_cap(void **state)
{
	char *s = malloc(100 * 16 + 1), *p = s;
	struct df_list l;
	struct cfg_errors errs;

	(void)state;
	assert_non_null(s);
	for (int i = 0; i < 100; i++)
		p += sprintf(p, "vm%d 10.0.0.x\n", i);
	assert_int_equal(parse_w(s, strlen(s), 1, &l, &errs), -1);
	assert_int_equal(errs.n, DF_ERRORS_MAX + 1);
	assert_string_equal(errs.msg[0], "backends:1: \"10.0.0.x\" is not an "
	    "IP address (expected a numeric IPv4 or IPv6 address)");
	assert_string_equal(errs.msg[DF_ERRORS_MAX - 1], "backends:20: "
	    "\"10.0.0.x\" is not an IP address (expected a numeric IPv4 or "
	    "IPv6 address)");
	assert_string_equal(errs.msg[DF_ERRORS_MAX],
	    "backends: 80 more errors not shown");
	cfg_errors_free(&errs);
	free(s);
}

static void
test_max_entries(void **state)
{
	size_t cap = (DF_MAX_ENTRIES + 2) * 40;
	char *s = malloc(cap), *p = s;
	struct df_list l;
	struct cfg_errors errs;
	int i;

	(void)state;
	assert_non_null(s);
	for (i = 0; i < DF_MAX_ENTRIES; i++)
		p += sprintf(p, "# vm %d\nvm%d 10.%d.%d.1\n", i, i, i / 256, i % 256);
	l = ok(s);      /* exactly the cap */
	assert_int_equal(l.n, DF_MAX_ENTRIES);
	assert_string_equal(l.e[DF_MAX_ENTRIES - 1].name, "vm4095");
	assert_string_equal(l.e[DF_MAX_ENTRIES - 1].address, "10.15.255.1");
	df_list_free(&l);

	sprintf(p, "vmx 10.200.0.1\nvmy 10.200.0.2\n");
	assert_int_equal(parse_w(s, strlen(s), 1, &l, &errs), -1);
	assert_int_equal(errs.n, 1);   /* said once */
	assert_string_equal(errs.msg[0], "backends:8193: more than 4096 VMs "
	    "(expected at most 4096 a file)");
	assert_int_equal(l.n, 0);
	cfg_errors_free(&errs);
	free(s);
}

static void
test_file_too_large(void **state)
{
	size_t len = DF_FILE_MAX + 1;
	char *s = malloc(len);
	struct df_list l;
	struct cfg_errors errs;

	(void)state;
	assert_non_null(s);
	memset(s, '\n', len);
	assert_int_equal(parse_w(s, len, 1, &l, &errs), -1);
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.msg[0], "backends: the file is larger than "
	    "4194304 bytes (expected at most 4096 VMs of at most 512 bytes a "
	    "line)");
	cfg_errors_free(&errs);
	/* one byte less is only blank lines */
	assert_int_equal(parse_w(s, len - 1, 1, &l, &errs), 0);
	assert_int_equal(l.n, 0);
	cfg_errors_free(&errs);
	free(s);
}

static void
test_addr_usable(void **state)
{
	struct cfg_addr a;

	(void)state;
	assert_int_equal(cfg_parse_addr("127.0.0.1", false, &a), 0);
	assert_true(df_addr_usable(&a.ss));
	assert_int_equal(cfg_parse_addr("223.255.255.255", false, &a), 0);
	assert_true(df_addr_usable(&a.ss));
	assert_int_equal(cfg_parse_addr("224.0.0.1", false, &a), 0);
	assert_false(df_addr_usable(&a.ss));
	assert_int_equal(cfg_parse_addr("::1", false, &a), 0);
	assert_true(df_addr_usable(&a.ss));
	assert_int_equal(cfg_parse_addr("fe80::1", false, &a), 0);
	assert_true(df_addr_usable(&a.ss));
	memset(&a, 0, sizeof(a));
	a.ss.ss_family = AF_UNIX;
	assert_false(df_addr_usable(&a.ss));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_valid),
		cmocka_unit_test(test_default_weight),
		cmocka_unit_test(test_comments_blank),
		cmocka_unit_test(test_empty_file),
		cmocka_unit_test(test_line_ends),
		cmocka_unit_test(test_bad_name),
		cmocka_unit_test(test_bad_fields),
		cmocka_unit_test(test_bad_address),
		cmocka_unit_test(test_bad_weight),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_all_or_nothing),
		cmocka_unit_test(test_error_cap),
		cmocka_unit_test(test_max_entries),
		cmocka_unit_test(test_file_too_large),
		cmocka_unit_test(test_addr_usable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
