/*
 * test_check_ssh.c -- judging an SSH identification line.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "backends/check.h"

static int
judge(const char *s, const char **why)
{
	return chk_ssh_banner(s, strlen(s), why);
}

static void
test_banners(void **state)
{
	const char *why;
	char big[CHK_SSH_BANNER_MAX + 10];

	assert_int_equal(judge("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", &why), 1);
	assert_int_equal(judge("SSH-1.99-Old\r\n", &why), 1);
	/* Not complete yet: wait for more. */
	assert_int_equal(judge("", &why), 0);
	assert_int_equal(judge("SSH-2.0-OpenSSH", &why), 0);
	/* Lines before the identification are allowed (RFC 4253 4.2). */
	assert_int_equal(judge("welcome\r\nSSH-2.0-x\r\n", &why), 1);
	assert_int_equal(judge("welcome\r\n", &why), 0);
	/* Wrong versions and other protocols. */
	assert_int_equal(judge("SSH-1.5-Old\r\n", &why), -1);
	assert_non_null(why);
	assert_int_equal(judge("SSH-\n", &why), -1);
	/* Too much without an identification line. */
	memset(big, 'a', sizeof(big));
	assert_int_equal(chk_ssh_banner(big, sizeof(big), &why), -1);
	assert_string_equal(why, "no SSH identification line");
	/* An HTTP server on the SSH port never passes. */
	assert_int_not_equal(judge("HTTP/1.1 400 Bad Request\r\n\r\n", &why), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_banners),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
