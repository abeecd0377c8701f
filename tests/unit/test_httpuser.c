/*
 * test_httpuser.c -- user names from targets and login forms; cookies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "http/httpuser.h"

/* malloc that never returns NULL: a test cannot go on without memory. */
static void *
xmalloc(size_t n)
{
	void *p = malloc(n);

	if (p == NULL)
		abort();
	return p;
}

#define SENTINEL "untouched"

static enum hu_result
from_target(const char *target, const char *prefix, char out[HU_NAME_MAX + 1])
{
	strcpy(out, SENTINEL);
	return hu_user_from_target(target, strlen(target), prefix, out);
}

/* The name found under prefix, or "" (absent) / "!" (invalid). */
static const char *
user_of(const char *target, const char *prefix)
{
	static char out[HU_NAME_MAX + 1];

	switch (from_target(target, prefix, out)) {
	case HU_FOUND:
		return out;
	case HU_ABSENT:
		assert_string_equal(out, SENTINEL);
		return "";
	case HU_INVALID:
		assert_string_equal(out, SENTINEL);
		return "!";
	}
	return "?";
}

static const char *
form_user(const char *body)
{
	static char out[HU_NAME_MAX + 1];

	strcpy(out, SENTINEL);
	switch (hu_user_from_form(body, strlen(body), out)) {
	case HU_FOUND:
		return out;
	case HU_ABSENT:
		assert_string_equal(out, SENTINEL);
		return "";
	case HU_INVALID:
		assert_string_equal(out, SENTINEL);
		return "!";
	}
	return "?";
}

static void
test_name_valid(void **state)
{
	static const char *good[] = {
		"alice", "a", "_", "_svc", "bob.smith", "bob-smith", "b0b", "x_1.2-3",
		"machine$", "a.", "a-", "abcdefghijklmnopqrstuvwxyz012345",   /* 32 */
	};
	static const char *bad[] = {
		"", "Alice", "1alice", "-alice", ".alice", "al ice", "al/ice", "a..b",
		"$", "a$b", "a$$", "ali\xc3\xa9", "al+ice", "al@ice", "al:ice",
		"abcdefghijklmnopqrstuvwxyz0123456",              /* 33 */
	};
	size_t i;

	for (i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		if (!hu_name_valid(good[i], strlen(good[i])))
			fail_msg("\"%s\" should be valid", good[i]);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (hu_name_valid(bad[i], strlen(bad[i])))
			fail_msg("\"%s\" should be invalid", bad[i]);
	assert_false(hu_name_valid("a\0b", 3));
	assert_false(hu_name_valid(NULL, 0));
}

static void
test_target_found(void **state)
{
	assert_string_equal(user_of("/user/alice/lab/tree/x.ipynb", "/user/"), "alice");
	assert_string_equal(user_of("/user/alice", "/user/"), "alice");
	assert_string_equal(user_of("/user/alice/", "/user/"), "alice");
	assert_string_equal(user_of("/user/alice?token=abc", "/user/"), "alice");
	assert_string_equal(user_of("/user/alice/?next=/user/bob/", "/user/"), "alice");
	assert_string_equal(user_of("/user/bob/api/kernels/1/channels?session_id=x", "/user/"), "bob");
	assert_string_equal(user_of("/user/_svc$/", "/user/"), "_svc$");
	assert_string_equal(user_of("/user/%61lice/", "/user/"), "alice");
	assert_string_equal(user_of("/user/%5Fx%2e%2D1/", "/user/"), "_x.-1");
	assert_string_equal(user_of("/user/abcdefghijklmnopqrstuvwxyz012345/", "/user/"),
	    "abcdefghijklmnopqrstuvwxyz012345");
	assert_string_equal(user_of("/user/%61%61%61%61%61%61%61%61%61%61%61%61%61%61%61%61"
	    "%61%61%61%61%61%61%61%61%61%61%61%61%61%61%61%61", "/user/"),
	    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
}

static void
test_target_prefixes(void **state)
{
	assert_string_equal(user_of("/user/carol/tree", "/user"), "carol");
	assert_string_equal(user_of("/user/carol/tree", "/user//"), "carol");
	assert_string_equal(user_of("/jupyter/user/dave/lab", "/jupyter/user/"), "dave");
	assert_string_equal(user_of("/user/dave/lab", "/jupyter/user/"), "");
	assert_string_equal(user_of("/jupyter/user/dave/lab", "/user/"), "");
	assert_string_equal(user_of("/erin/files", "/"), "erin");
	assert_string_equal(user_of("/erin", ""), "erin");
	/* the prefix is a whole path segment, compared as sent */
	assert_string_equal(user_of("/username/frank/", "/user/"), "");
	assert_string_equal(user_of("/username/frank/", "/user"), "");
	assert_string_equal(user_of("/users/frank/", "/user"), "");
	assert_string_equal(user_of("/USER/frank/", "/user/"), "");
	assert_string_equal(user_of("/us%65r/frank/", "/user/"), "");
	assert_string_equal(user_of("//user/frank/", "/user/"), "");
	assert_string_equal(user_of("/user", "/user/"), "");
	assert_string_equal(user_of("/user?x=/user/frank/", "/user/"), "");
	assert_string_equal(user_of("/hub/login?next=%2Fuser%2Fbob%2F", "/user/"), "");
	assert_string_equal(user_of("/hub/user/bob/", "/user/"), "");
	assert_string_equal(user_of("*", "/user/"), "");
	assert_string_equal(user_of("", "/user/"), "");
}

static void
test_target_invalid(void **state)
{
	static const char *bad[] = {
		"/user/", "/user//x", "/user/?a=b", "/user/../hub/admin", "/user/..",
		"/user/%2e%2e/hub", "/user/a..b/", "/user/Alice/", "/user/1abc/",
		"/user/-rf/", "/user/al%2Fice/", "/user/al%2fice", "/user/%00alice/",
		"/user/alice%00/", "/user/%zz/", "/user/%6/", "/user/%", "/user/a%2",
		"/user/al+ice/", "/user/al%20ice/", "/user/al@ice/", "/user/caf%C3%A9/",
		"/user/abcdefghijklmnopqrstuvwxyz0123456/",
		("/user/%61%61%61%61%61%61%61%61%61%61%61%61%61%61%61%61"
		 "%61%61%61%61%61%61%61%61%61%61%61%61%61%61%61%61%61/"),   /* 33 */
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (strcmp(user_of(bad[i], "/user/"), "!") != 0)
			fail_msg("%s: want invalid, got \"%s\"", bad[i], user_of(bad[i], "/user/"));
}

static void
test_form(void **state)
{
	assert_string_equal(form_user("username=alice&password=secret"), "alice");
	assert_string_equal(form_user("_xsrf=2%7C1a2b%7C3c&username=bob&password=p%26w"), "bob");
	assert_string_equal(form_user("password=x&username=carol"), "carol");
	assert_string_equal(form_user("username=alice&username=bob"), "alice");
	assert_string_equal(form_user("username=Dave"), "dave");     /* JupyterHub lowercases */
	assert_string_equal(form_user("username=%45rin"), "erin");
	assert_string_equal(form_user("user%6Eame=frank"), "frank"); /* encoded field name */
	assert_string_equal(form_user("%75sername=gina&username=x"), "gina");
	assert_string_equal(form_user("user+name=x&username=hank"), "hank");
	assert_string_equal(form_user("xusername=a&usernamex=b&username=ivy"), "ivy");
	assert_string_equal(form_user("&&username=jo&"), "jo");
	assert_string_equal(form_user("=&=x&username=kim"), "kim");
	assert_string_equal(form_user("a%zz=1&username=lee"), "lee"); /* bad name skipped */
	assert_string_equal(form_user("username=mo&"), "mo");
	assert_string_equal(form_user("username=n_o$"), "n_o$");

	assert_string_equal(form_user(""), "");
	assert_string_equal(form_user("a=b"), "");
	assert_string_equal(form_user("usernam=alice&usernamee=bob"), "");
	assert_string_equal(form_user("&&&"), "");
	assert_string_equal(form_user("password=username%3Dalice"), "");

	assert_string_equal(form_user("username="), "!");
	assert_string_equal(form_user("username"), "!");
	assert_string_equal(form_user("username&x=1"), "!");
	assert_string_equal(form_user("username=al+ice"), "!");       /* '+' is a space */
	assert_string_equal(form_user("username=+alice"), "!");
	assert_string_equal(form_user("username=al%20ice"), "!");
	assert_string_equal(form_user("username=alice%26x"), "!");
	assert_string_equal(form_user("username=bad%zz"), "!");
	assert_string_equal(form_user("username=bad%4"), "!");
	assert_string_equal(form_user("username=../etc"), "!");
	assert_string_equal(form_user("username=a=b"), "!");
	assert_string_equal(form_user("username=bad$$&username=bob"), "!"); /* first wins */
	assert_string_equal(form_user("username=abcdefghijklmnopqrstuvwxyz0123456"), "!");
}

static void
test_form_size_cap(void **state)
{
	char *body = xmalloc(HU_FORM_MAX + 2);
	char out[HU_NAME_MAX + 1];
	size_t pad = HU_FORM_MAX - strlen("&username=zoe");

	/* exactly HU_FORM_MAX bytes, the field at the very end */
	memset(body, 'x', pad);
	memcpy(body + pad, "&username=zoe", strlen("&username=zoe") + 1);
	assert_int_equal(strlen(body), HU_FORM_MAX);
	assert_int_equal(hu_user_from_form(body, HU_FORM_MAX, out), HU_FOUND);
	assert_string_equal(out, "zoe");
	/* one byte more is not looked at */
	memmove(body + 1, body, HU_FORM_MAX + 1);
	assert_int_equal(hu_user_from_form(body, HU_FORM_MAX + 1, out), HU_INVALID);
	assert_int_equal(hu_user_from_form(NULL, 0, out), HU_ABSENT);
	free(body);
}

/* The value of cookie name in hdr, "<absent>" if none. */
static const char *
cget(const char *hdr, const char *name)
{
	static char buf[256];
	const char *v = "unset";
	size_t vlen = 99;

	if (!hu_cookie_get(hdr, strlen(hdr), name, &v, &vlen)) {
		assert_string_equal(v, "unset");
		return "<absent>";
	}
	assert_true(v >= hdr && v + vlen <= hdr + strlen(hdr));
	snprintf(buf, sizeof(buf), "%.*s", (int)vlen, v);
	return buf;
}

static void
test_cookie_get(void **state)
{
	const char *h = "a=1; b=2; c=3";

	assert_string_equal(cget(h, "a"), "1");
	assert_string_equal(cget(h, "b"), "2");
	assert_string_equal(cget(h, "c"), "3");
	assert_string_equal(cget(h, "d"), "<absent>");
	assert_string_equal(cget("pg=tok", "pg"), "tok");
	assert_string_equal(cget("a=1;b=2", "b"), "2");
	assert_string_equal(cget("  a = 1 ;\tb=2\t;  c=3  ", "a"), "1");
	assert_string_equal(cget("  a = 1 ;\tb=2\t;  c=3  ", "b"), "2");
	assert_string_equal(cget("  a = 1 ;\tb=2\t;  c=3  ", "c"), "3");
	assert_string_equal(cget("t=x=y; u=1", "t"), "x=y");
	assert_string_equal(cget("a=; b=2", "a"), "");
	assert_string_equal(cget("q=\"quoted\"", "q"), "\"quoted\"");
	assert_string_equal(cget("pg=first; pg=second", "pg"), "first");
	assert_string_equal(cget("pgx=1; xpg=2; pg=3", "pg"), "3");
	assert_string_equal(cget("flag; pg=1", "flag"), "<absent>");
	assert_string_equal(cget("flag; pg=1", "pg"), "1");
	assert_string_equal(cget("PG=1", "pg"), "<absent>");
	assert_string_equal(cget(";;pg=1;;", "pg"), "1");
	assert_string_equal(cget("", "pg"), "<absent>");
	assert_string_equal(cget("=1", ""), "<absent>");
	assert_string_equal(cget("a=1", ""), "<absent>");
}

/* hdr without cookie name, rewritten in place. */
static const char *
cstrip(const char *hdr, const char *name)
{
	static char buf[256];
	char copy[256];
	size_t n, n2;

	snprintf(buf, sizeof(buf), "%s", hdr);
	n = hu_cookie_strip(buf, strlen(hdr), name, buf);
	assert_true(n <= strlen(hdr));
	buf[n] = '\0';
	/* out of place gives the same */
	memset(copy, '#', sizeof(copy));
	n2 = hu_cookie_strip(hdr, strlen(hdr), name, copy);
	assert_int_equal(n2, n);
	assert_memory_equal(copy, buf, n);
	return buf;
}

static void
test_cookie_strip(void **state)
{
	assert_string_equal(cstrip("pg=1; a=b; c=d", "pg"), "a=b; c=d");    /* first */
	assert_string_equal(cstrip("a=b; pg=1; c=d", "pg"), "a=b; c=d");    /* middle */
	assert_string_equal(cstrip("a=b; c=d; pg=1", "pg"), "a=b; c=d");    /* last */
	assert_string_equal(cstrip("pg=1", "pg"), "");                      /* only */
	assert_string_equal(cstrip("  pg=1 ; ", "pg"), "");
	assert_string_equal(cstrip("a=b; c=d", "pg"), "a=b; c=d");          /* absent */
	assert_string_equal(cstrip("a=b;pg=1;c=d", "pg"), "a=b;c=d");       /* no spaces */
	assert_string_equal(cstrip("a=b ;  pg = 1\t;\tc=d  ", "pg"), "a=b;\tc=d");
	assert_string_equal(cstrip("  a=b ;  c=d  ", "pg"), "a=b;  c=d");
	assert_string_equal(cstrip("pg=1; a=b; pg=2; c=d; pg=3", "pg"), "a=b; c=d");
	assert_string_equal(cstrip("pgx=1; xpg=2; pg=3", "pg"), "pgx=1; xpg=2");
	assert_string_equal(cstrip("flag; pg=1; a=\"q\"", "pg"), "flag; a=\"q\"");
	assert_string_equal(cstrip("a=b;; ;c=d", "pg"), "a=b;c=d");
	assert_string_equal(cstrip(";;;", "pg"), "");
	assert_string_equal(cstrip("", "pg"), "");
	assert_string_equal(cstrip("jupyterhub-session-id=abc; pg=sig.v1; _xsrf=2|x", "pg"),
	    "jupyterhub-session-id=abc; _xsrf=2|x");
	assert_string_equal(cstrip("a=1; b=2", ""), "a=1; b=2");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_valid),
		cmocka_unit_test(test_target_found),
		cmocka_unit_test(test_target_prefixes),
		cmocka_unit_test(test_target_invalid),
		cmocka_unit_test(test_form),
		cmocka_unit_test(test_form_size_cap),
		cmocka_unit_test(test_cookie_get),
		cmocka_unit_test(test_cookie_strip),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
