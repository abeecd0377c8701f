/*
 * test_httpuser.c -- user names from targets and login forms; form fields
 * (hu_form_value, lenient and strict); cookies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
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

/*
 * hu_form_value() into a buffer of outlen bytes that starts full of '#'.
 * On success the value must be NUL-terminated inside outlen; on failure all
 * outlen bytes must be zero; past outlen nothing may be written.
 */
static char fv_out[300];

static enum hu_form
fv_len(const char *body, size_t len, const char *key, unsigned flags,
    size_t outlen)
{
	enum hu_form rc;
	size_t i;

	assert_true(outlen < sizeof(fv_out));
	memset(fv_out, '#', sizeof(fv_out));
	rc = hu_form_value(body, len, key, fv_out, outlen, flags);
	if (rc == HU_FORM_OK)
		assert_non_null(memchr(fv_out, '\0', outlen));
	else
		for (i = 0; i < outlen; i++)
			if (fv_out[i] != '\0')
				fail_msg("%s: out[%zu] not wiped after %d", body, i, rc);
	assert_int_equal(fv_out[outlen], '#');
	return rc;
}

struct fcase {
	const char  *body;
	const char  *key;
	unsigned     flags;
	size_t       outlen;
	enum hu_form rc;
	const char  *val;      /* on HU_FORM_OK */
};

#define ST HU_FORM_STRICT

static const struct fcase form_cases[] = {
	/* found, missing, only the named field */
	{ "vm=vm1&op=drain&csrf=abc", "vm", ST, 16, HU_FORM_OK, "vm1" },
	{ "vm=vm1&op=drain&csrf=abc", "op", ST, 16, HU_FORM_OK, "drain" },
	{ "vm=vm1&op=drain&csrf=abc", "csrf", ST, 16, HU_FORM_OK, "abc" },
	{ "vm=vm1&op=drain&csrf=abc", "token", ST, 16, HU_FORM_MISSING, NULL },
	{ "vm=vm1&op=drain&csrf=abc", "token", 0, 16, HU_FORM_MISSING, NULL },
	{ "", "a", ST, 16, HU_FORM_MISSING, NULL },
	{ "&&&", "a", 0, 16, HU_FORM_MISSING, NULL },
	{ "ab=1&ba=2&aa=3&A=4", "a", ST, 16, HU_FORM_MISSING, NULL },
	{ "a=1", "ab", ST, 16, HU_FORM_MISSING, NULL },
	{ "%41=1", "a", ST, 16, HU_FORM_MISSING, NULL },    /* names: exact case */
	{ "%41=1", "A", ST, 16, HU_FORM_OK, "1" },
	/* decoding: '+' is a space, %XX in either case, in names and values */
	{ "token=a+b%2Bc%25%3d&c%73rf=x", "token", ST, 16, HU_FORM_OK, "a b+c%=" },
	{ "token=a+b%2Bc%25%3d&c%73rf=x", "csrf", ST, 16, HU_FORM_OK, "x" },
	{ "a=%4a%4A%2b%2B+", "a", 0, 16, HU_FORM_OK, "JJ++ " },
	{ "+a+=1", " a ", ST, 16, HU_FORM_OK, "1" },
	{ "a=%e9%FF", "a", ST, 16, HU_FORM_OK, "\xe9\xff" },
	/* empty values, a name without '=', empty fields, '=' in a value */
	{ "&&a=&flag&b=2&", "a", ST, 16, HU_FORM_OK, "" },
	{ "&&a=&flag&b=2&", "flag", ST, 16, HU_FORM_OK, "" },
	{ "&&a=&flag&b=2&", "b", ST, 16, HU_FORM_OK, "2" },
	{ "a=b=c", "a", ST, 16, HU_FORM_OK, "b=c" },
	/* malformed escapes, in the value and cut short */
	{ "a=%G1", "a", ST, 16, HU_FORM_ESCAPE, NULL },
	{ "a=%1G", "a", 0, 16, HU_FORM_ESCAPE, NULL },
	{ "a=%4", "a", ST, 16, HU_FORM_ESCAPE, NULL },
	{ "a=%", "a", 0, 16, HU_FORM_ESCAPE, NULL },
	/* NUL as %00 */
	{ "a=x%00y", "a", ST, 16, HU_FORM_NUL, NULL },
	{ "a=%00", "a", 0, 16, HU_FORM_NUL, NULL },
	/* too long: 15 bytes fit in 16, 16 do not; the NUL needs a byte too */
	{ "a=0123456789abcde", "a", ST, 16, HU_FORM_OK, "0123456789abcde" },
	{ "a=0123456789abcdef", "a", ST, 16, HU_FORM_TOOLONG, NULL },
	{ "a=%30123456789abcdef", "a", 0, 16, HU_FORM_TOOLONG, NULL },
	{ "a=", "a", ST, 1, HU_FORM_OK, "" },
	{ "a=x", "a", ST, 1, HU_FORM_TOOLONG, NULL },
	{ "a=", "a", ST, 0, HU_FORM_TOOLONG, NULL },
	{ "b=", "a", ST, 0, HU_FORM_MISSING, NULL },
	/* the first problem from the left decides */
	{ "a=0123456789abcdef%zz", "a", ST, 16, HU_FORM_TOOLONG, NULL },
	{ "a=%zz0123456789abcdef", "a", ST, 16, HU_FORM_ESCAPE, NULL },
	{ "a=%zz%00", "a", ST, 16, HU_FORM_ESCAPE, NULL },
	{ "a=%00%zz", "a", ST, 16, HU_FORM_NUL, NULL },
	/* duplicates: the first wins, or (strict) refused */
	{ "a=1&a=2", "a", 0, 16, HU_FORM_OK, "1" },
	{ "a=1&a=2", "a", ST, 16, HU_FORM_DUPLICATE, NULL },
	{ "a=1&a=1", "a", ST, 16, HU_FORM_DUPLICATE, NULL },
	{ "a=1&b=2&%61=3", "a", ST, 16, HU_FORM_DUPLICATE, NULL },
	{ "a=1&a=%zz", "a", 0, 16, HU_FORM_OK, "1" },
	{ "a=1&a=%zz", "a", ST, 16, HU_FORM_DUPLICATE, NULL },
	{ "a=%zz&a=1", "a", 0, 16, HU_FORM_ESCAPE, NULL },   /* even if malformed */
	{ "a=%zz&a=1", "a", ST, 16, HU_FORM_ESCAPE, NULL },
	/* malformed names: not the key, or (strict) refused wherever they are */
	{ "%zz=1&a=1", "a", 0, 16, HU_FORM_OK, "1" },
	{ "%zz=1&a=1", "a", ST, 16, HU_FORM_ESCAPE, NULL },
	{ "a%=1&a=2", "a", 0, 16, HU_FORM_OK, "2" },
	{ "a%=1&a=2", "a", ST, 16, HU_FORM_ESCAPE, NULL },
	{ "a=1&%zz=2", "a", 0, 16, HU_FORM_OK, "1" },
	{ "a=secret&%zz=2", "a", ST, 16, HU_FORM_ESCAPE, NULL },  /* value wiped */
	{ "a=1&b%00=2", "a", 0, 16, HU_FORM_OK, "1" },
	{ "a=1&b%00=2", "a", ST, 16, HU_FORM_NUL, NULL },
	{ "%zz=1&b=2", "a", 0, 16, HU_FORM_MISSING, NULL },
	{ "%zz=1&b=2", "a", ST, 16, HU_FORM_ESCAPE, NULL },
	/* other fields' values are never read */
	{ "x=%zz&y=%00&a=1", "a", ST, 16, HU_FORM_OK, "1" },
};

static void
test_form_value(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(form_cases) / sizeof(form_cases[0]); i++) {
		const struct fcase *c = &form_cases[i];
		enum hu_form rc = fv_len(c->body, strlen(c->body), c->key,
		    c->flags, c->outlen);

		if (rc != c->rc)
			fail_msg("%s [%s]%s: got %d, want %d", c->body, c->key,
			    c->flags ? " strict" : "", rc, c->rc);
		if (rc == HU_FORM_OK && strcmp(fv_out, c->val) != 0)
			fail_msg("%s [%s]: got \"%s\", want \"%s\"", c->body, c->key,
			    fv_out, c->val);
	}
}

/*
 * body = a name of nlen bytes as sent ("%61" repeated, then 'a's, so it
 * decodes to key: all 'a'), then rest; or, with bad, the name starts "%zz".
 */
static void
name_of(char *body, char *key, size_t nlen, bool bad, const char *rest)
{
	size_t n = 0, k = 0;

	if (bad) {
		memcpy(body, "%zz", 3);
		n = 3;
	}
	for (; n + 3 <= nlen; n += 3, k++)
		memcpy(body + n, "%61", 3);
	for (; n < nlen; n++, k++)
		body[n] = 'a';
	memset(key, 'a', k);
	key[k] = '\0';
	strcpy(body + n, rest);
}

/* A name of HU_FORM_NAME_MAX bytes as sent is read; a longer one skipped. */
static void
test_form_name_cap(void **state)
{
	char body[HU_FORM_NAME_MAX + 16], key[HU_FORM_NAME_MAX + 1];

	(void)state;
	name_of(body, key, HU_FORM_NAME_MAX, false, "=1");
	assert_int_equal(fv_len(body, strlen(body), key, ST, 16), HU_FORM_OK);
	assert_string_equal(fv_out, "1");
	name_of(body, key, HU_FORM_NAME_MAX + 1, false, "=1");
	assert_int_equal(fv_len(body, strlen(body), key, ST, 16), HU_FORM_MISSING);
	assert_int_equal(fv_len(body, strlen(body), key, 0, 16), HU_FORM_MISSING);
	/* a long name is skipped unread, even a malformed one (strict) */
	name_of(body, key, HU_FORM_NAME_MAX + 1, true, "=1&a=2");
	assert_int_equal(fv_len(body, strlen(body), "a", ST, 16), HU_FORM_OK);
	assert_string_equal(fv_out, "2");
	name_of(body, key, HU_FORM_NAME_MAX, true, "=1&a=2");
	assert_int_equal(fv_len(body, strlen(body), "a", ST, 16), HU_FORM_ESCAPE);
	assert_int_equal(fv_len(body, strlen(body), "a", 0, 16), HU_FORM_OK);
	assert_string_equal(fv_out, "2");
}

/* Only len bytes are read, and NUL bytes are data, not the end. */
static void
test_form_value_bytes(void **state)
{
	static const char nul_val[] = "a=x\0y", nul_name[] = "a\0=1&a=2";
	const char *b = "vm=vm1&op=drain&csrf=abc";

	(void)state;
	/* "csrf=abc" cut to "csrf=a"; "a=%41" cut inside its escape */
	assert_int_equal(fv_len(b, strlen(b) - 2, "csrf", ST, 16), HU_FORM_OK);
	assert_string_equal(fv_out, "a");
	assert_int_equal(fv_len("a=%41", 4, "a", 0, 16), HU_FORM_ESCAPE);
	assert_int_equal(fv_len("a=%41", 5, "a", 0, 16), HU_FORM_OK);
	assert_string_equal(fv_out, "A");
	assert_int_equal(fv_len(NULL, 0, "a", ST, 16), HU_FORM_MISSING);
	/* a NUL sent as it is */
	assert_int_equal(fv_len(nul_val, sizeof(nul_val) - 1, "a", 0, 16),
	    HU_FORM_NUL);
	assert_int_equal(fv_len(nul_val, sizeof(nul_val) - 1, "a", ST, 16),
	    HU_FORM_NUL);
	assert_int_equal(fv_len(nul_name, sizeof(nul_name) - 1, "a", 0, 16),
	    HU_FORM_OK);
	assert_string_equal(fv_out, "2");
	assert_int_equal(fv_len(nul_name, sizeof(nul_name) - 1, "a", ST, 16),
	    HU_FORM_NUL);
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

static void
test_user_from_sni(void **state)
{
	const char *suf = ".ssh.pool.example.com";
	char out[HU_NAME_MAX + 1];
	char big[128];

	(void)state;
	assert_int_equal(hu_user_from_sni("alice.ssh.pool.example.com", suf, out),
	    HU_FOUND);
	assert_string_equal(out, "alice");
	/* Host names are case-insensitive: the user comes lowercased. */
	assert_int_equal(hu_user_from_sni("Bob.SSH.Pool.Example.COM", suf, out),
	    HU_FOUND);
	assert_string_equal(out, "bob");
	assert_int_equal(hu_user_from_sni("j.doe.ssh.pool.example.com", suf, out),
	    HU_FOUND);
	assert_string_equal(out, "j.doe");
	/* No server name: routed by address. */
	assert_int_equal(hu_user_from_sni(NULL, suf, out), HU_ABSENT);
	/* Everything else is refused. */
	assert_int_equal(hu_user_from_sni("pool.example.com", suf, out), HU_INVALID);
	assert_int_equal(hu_user_from_sni(".ssh.pool.example.com", suf, out),
	    HU_INVALID);
	assert_int_equal(hu_user_from_sni("ssh.pool.example.com", suf, out),
	    HU_INVALID);
	assert_int_equal(hu_user_from_sni("9lives.ssh.pool.example.com", suf, out),
	    HU_INVALID);
	assert_string_equal(out, "");
	assert_int_equal(hu_user_from_sni("a..b.ssh.pool.example.com", suf, out),
	    HU_INVALID);
	assert_int_equal(hu_user_from_sni("alice.ssh.pool.example.org", suf, out),
	    HU_INVALID);
	memset(big, 'a', HU_NAME_MAX + 1);
	strcpy(big + HU_NAME_MAX + 1, suf);
	assert_int_equal(hu_user_from_sni(big, suf, out), HU_INVALID);
	strcpy(big + HU_NAME_MAX, suf);
	assert_int_equal(hu_user_from_sni(big, suf, out), HU_FOUND);
	assert_int_equal(strlen(out), HU_NAME_MAX);
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
		cmocka_unit_test(test_form_value),
		cmocka_unit_test(test_form_value_bytes),
		cmocka_unit_test(test_form_name_cap),
		cmocka_unit_test(test_cookie_get),
		cmocka_unit_test(test_cookie_strip),
		cmocka_unit_test(test_user_from_sni),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
