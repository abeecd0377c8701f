/*
 * test_json.c -- lib/json.c, poolgate's one JSON reader and string writer.
 *
 * The reader of request bodies (json_parse_object): values, every error
 * with its offset, escapes and surrogates, UTF-8, numbers and their range,
 * nesting depth, duplicates, and every cap. The same reader through the
 * document API (json_parse, as poolgatectl reads /status): the tree, spans,
 * the same strictness, and the document caps. The string writer
 * (json_write_str): escapes, one U+FFFD per byte that is not UTF-8, reading
 * back, a sink that stops it, and the fixed-buffer sink.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "lib/json.h"

#define MAXM 16

static struct json_member m[MAXM];
static size_t n;
static char arena[JSON_BODY_MAX + 1];
static char err[512];

static int
parse_len(const char *s, size_t len)
{
	n = 99;
	memset(err, 'x', sizeof(err));
	return json_parse_object(s, len, m, MAXM, &n, arena, sizeof(arena), err,
	    sizeof(err));
}

static int
parse(const char *s)
{
	return parse_len(s, strlen(s));
}

#define OK(s) do { \
	if (parse(s) != 0) \
		fail_msg("%s: %s", (s), err); \
	assert_string_equal(err, ""); \
} while (0)

/* The body must fail with exactly msg, and report no member. */
#define FAILS(s, msg) do { \
	assert_int_equal(parse(s), -1); \
	assert_string_equal(err, (msg)); \
	assert_int_equal(n, 0); \
} while (0)

#define FAILS_LEN(s, len, msg) do { \
	assert_int_equal(parse_len((s), (len)), -1); \
	assert_string_equal(err, (msg)); \
	assert_int_equal(n, 0); \
} while (0)

/* A string of n copies of piece. Freed by the caller. */
static char *
repeat(const char *head, const char *piece, size_t times, const char *tail)
{
	size_t hl = strlen(head), pl = strlen(piece), tl = strlen(tail);
	char *s = malloc(hl + pl * times + tl + 1), *p;

	assert_non_null(s);
	memcpy(s, head, hl);
	p = s + hl;
	for (size_t i = 0; i < times; i++, p += pl)
		memcpy(p, piece, pl);
	memcpy(p, tail, tl + 1);
	return s;
}

static void
test_values(void **state)
{
	OK(" \t\r\n{ \"address\" : \"10.0.0.9\", \"weight\":3,\"max_sessions\":0,"
	    "\"on\":true,\"off\":false,\"x\":null,\"f\":-1.5e3 } \n");
	assert_int_equal(n, 7);
	assert_string_equal(m[0].key, "address");
	assert_int_equal(m[0].key_pos, 6);
	assert_int_equal(m[0].type, JSON_STRING);
	assert_string_equal(m[0].str, "10.0.0.9");
	assert_int_equal(m[0].len, 8);
	assert_int_equal(m[0].pos, 18);
	assert_int_equal(m[1].type, JSON_NUMBER);
	assert_true(m[1].is_int);
	assert_int_equal(m[1].integer, 3);
	assert_string_equal(m[1].str, "3");
	assert_int_equal(m[2].integer, 0);
	assert_int_equal(m[3].type, JSON_BOOL);
	assert_true(m[3].boolean);
	assert_int_equal(m[4].type, JSON_BOOL);
	assert_false(m[4].boolean);
	assert_int_equal(m[5].type, JSON_NULL);
	assert_null(m[5].str);
	assert_int_equal(m[6].type, JSON_NUMBER);
	assert_false(m[6].is_int);
	assert_string_equal(m[6].str, "-1.5e3");

	assert_ptr_equal(json_find(m, n, "weight"), &m[1]);
	assert_null(json_find(m, n, "Weight"));
	assert_null(json_find(m, 0, "weight"));

	OK("{}");
	assert_int_equal(n, 0);
	OK("{\"\":\"\"}");
	assert_int_equal(n, 1);
	assert_string_equal(m[0].key, "");
	assert_string_equal(m[0].str, "");
}

static void
test_nested_skipped(void **state)
{
	OK("{\"o\":{\"k\":[1,\"x\",null,{}],\"a\":1,\"a\":2},\"l\":[],\"w\":1}");
	assert_int_equal(n, 3);
	assert_int_equal(m[0].type, JSON_OBJECT);
	assert_null(m[0].str);
	assert_int_equal(m[0].pos, 5);
	assert_int_equal(m[1].type, JSON_ARRAY);
	assert_int_equal(m[2].integer, 1);
	/* nested content is checked all the same */
	FAILS("{\"a\":[1,]}", "offset 8: expected a value (string, number, "
	    "object, array, true, false or null), found ']'");
	FAILS("{\"a\":[1 2]}", "offset 8: expected ',' or ']', found '2'");
	FAILS("{\"a\":{\"b\" 1}}", "offset 10: expected ':' after the member "
	    "name, found '1'");
	FAILS("{\"a\":{1:2}}", "offset 6: expected a member name (a string) or "
	    "'}', found '1'");
	FAILS("{\"a\":{\"b\":1,}}", "offset 12: expected a member name (a "
	    "string), found '}'");
	FAILS("{\"a\":{\"b\":1]}", "offset 11: expected ',' or '}', found ']'");
	FAILS("{\"a\":[\"\\x\"]}", "offset 7: invalid escape '\\x' (expected one "
	    "of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)");
	FAILS("{\"a\":[01]}", "offset 6: leading zero in a number");
	FAILS("{\"a\":[", "offset 6: expected a value (string, number, object, "
	    "array, true, false or null), found end of input");
}

static void
test_syntax_errors(void **state)
{
	FAILS("", "offset 0: expected '{' (a JSON object), found end of input");
	FAILS("  ", "offset 2: expected '{' (a JSON object), found end of input");
	FAILS("[1]", "offset 0: expected '{' (a JSON object), found '['");
	FAILS("\"a\"", "offset 0: expected '{' (a JSON object), found '\"'");
	FAILS("\xef\xbb\xbf{}", "offset 0: expected '{' (a JSON object), found "
	    "byte 0xef");
	FAILS("{", "offset 1: expected a member name (a string) or '}', found "
	    "end of input");
	FAILS("{a:1}", "offset 1: expected a member name (a string) or '}', "
	    "found 'a'");
	FAILS("{'a':1}", "offset 1: expected a member name (a string) or '}', "
	    "found \"'\"");
	FAILS("{/* c */}", "offset 1: expected a member name (a string) or '}', "
	    "found '/'");
	FAILS("{\"a\" 1}", "offset 5: expected ':' after the member name, found "
	    "'1'");
	FAILS("{\"a\"", "offset 4: expected ':' after the member name, found end "
	    "of input");
	FAILS("{\"a\":}", "offset 5: expected a value (string, number, object, "
	    "array, true, false or null), found '}'");
	FAILS("{\"a\": x}", "offset 6: expected a value (string, number, object, "
	    "array, true, false or null), found 'x'");
	FAILS("{\"a\":'x'}", "offset 5: expected a value (string, number, object, "
	    "array, true, false or null), found \"'\"");
	FAILS("{\"a\":1,}", "offset 7: expected a member name (a string), found "
	    "'}'");
	FAILS("{\"a\":1 \"b\":2}", "offset 7: expected ',' or '}', found '\"'");
	FAILS("{\"a\":1", "offset 6: expected ',' or '}', found end of input");
	FAILS("{\"a\":1}x", "offset 7: expected end of input after the object, "
	    "found 'x'");
	FAILS("{\"a\":1} {}", "offset 8: expected end of input after the object, "
	    "found '{'");
	FAILS("{\"a\":1}\x01", "offset 7: expected end of input after the object, "
	    "found byte 0x01");
	FAILS("{\"a\":tru}", "offset 5: expected 'true'");
	FAILS("{\"a\":True}", "offset 5: expected a value (string, number, "
	    "object, array, true, false or null), found 'T'");
	FAILS("{\"a\":fals", "offset 5: expected 'false'");
	FAILS("{\"a\":nul", "offset 5: expected 'null'");
	FAILS("{\"a\":truex}", "offset 9: expected ',' or '}', found 'x'");
	FAILS("{\"a\":1}\xc2\xa0", "offset 7: expected end of input after the "
	    "object, found byte 0xc2");
	FAILS("{\"a\":\f1}", "offset 5: expected a value (string, number, object, "
	    "array, true, false or null), found byte 0x0c");
	FAILS("{\"a\" : 1 , }", "offset 11: expected a member name (a string), "
	    "found '}'");
	FAILS("{ \"a\":1, \"b\" }", "offset 13: expected ':' after the member "
	    "name, found '}'");
	FAILS("{\"a\":1,,}", "offset 7: expected a member name (a string), found "
	    "','");
	FAILS("{\"a\":1,\"b\":  ", "offset 13: expected a value (string, number, "
	    "object, array, true, false or null), found end of input");
}

static void
test_trailing_nul_byte(void **state)
{
	/* the length counts, not a NUL */
	FAILS_LEN("{\"a\":1}\0", 8, "offset 7: expected end of input after the "
	    "object, found byte 0x00");
	assert_int_equal(parse_len("{\"a\":1}garbage", 7), 0);
	assert_int_equal(n, 1);
	FAILS_LEN("{\"a\":\"x\0y\"}", 11, "offset 7: control character 0x00 in a "
	    "string (write it as an escape)");
}

static void
test_escapes(void **state)
{
	OK("{\"s\":\"a\\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti\"}");
	assert_string_equal(m[0].str, "a\"b\\c/d\be\ff\ng\rh\ti");
	assert_int_equal(m[0].len, 17);
	OK("{\"s\":\"\\u0041\\u00e9\\u20AC\\uFFFF\\u0001\"}");
	assert_string_equal(m[0].str, "A\xc3\xa9\xe2\x82\xac\xef\xbf\xbf\x01");
	/* a surrogate pair is one code point: U+1F600, and the highest */
	OK("{\"s\":\"\\ud83d\\ude00|\\uDBFF\\uDFFF|\\ud800\\udc00\"}");
	assert_string_equal(m[0].str,
	    "\xf0\x9f\x98\x80|\xf4\x8f\xbf\xbf|\xf0\x90\x80\x80");
	/* escaped member names are decoded too */
	OK("{\"\\u0077eight\":1}");
	assert_string_equal(m[0].key, "weight");

	FAILS("{\"s\":\"\\x\"}", "offset 6: invalid escape '\\x' (expected one of "
	    "\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)");
	FAILS("{\"s\":\"\\U0041\"}", "offset 6: invalid escape '\\U' (expected "
	    "one of \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)");
	FAILS("{\"s\":\"\\'\"}", "offset 6: invalid escape '\\'' (expected one of "
	    "\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)");
	FAILS("{\"s\":\"\\\x01\"}", "offset 6: invalid escape: byte 0x01 after "
	    "'\\'");
	FAILS("{\"s\":\"\\u12\"}", "offset 6: expected 4 hex digits after \\u");
	FAILS("{\"s\":\"\\u12g4\"}", "offset 6: expected 4 hex digits after \\u");
	FAILS("{\"s\":\"\\u-123\"}", "offset 6: expected 4 hex digits after \\u");
	FAILS("{\"s\":\"\\u12", "offset 6: expected 4 hex digits after \\u");
	FAILS("{\"s\":\"ab\\u0000\"}", "offset 8: \\u0000 is not allowed in a "
	    "string");
	FAILS("{\"s\":\"\\", "offset 5: unterminated string");
	FAILS("{\"s\":\"abc", "offset 5: unterminated string");
	FAILS("{\"abc", "offset 1: unterminated string");
}

static void
test_surrogates(void **state)
{
	FAILS("{\"s\":\"\\udc00\"}", "offset 6: \\udc00 is a low surrogate "
	    "without a high surrogate before it");
	FAILS("{\"s\":\"x\\uDFFF\"}", "offset 7: \\udfff is a low surrogate "
	    "without a high surrogate before it");
	FAILS("{\"s\":\"\\ud800\"}", "offset 6: \\ud800 is a high surrogate not "
	    "followed by a low surrogate \\udc00-\\udfff");
	FAILS("{\"s\":\"\\ud800x\"}", "offset 6: \\ud800 is a high surrogate not "
	    "followed by a low surrogate \\udc00-\\udfff");
	FAILS("{\"s\":\"\\ud800\\ud800\"}", "offset 6: \\ud800 is a high "
	    "surrogate not followed by a low surrogate \\udc00-\\udfff");
	FAILS("{\"s\":\"\\udbff\\u0041\"}", "offset 6: \\udbff is a high "
	    "surrogate not followed by a low surrogate \\udc00-\\udfff");
	FAILS("{\"s\":\"\\ud800\\n\"}", "offset 6: \\ud800 is a high surrogate "
	    "not followed by a low surrogate \\udc00-\\udfff");
	FAILS("{\"s\":\"\\ud800\\udc0", "offset 6: \\ud800 is a high surrogate "
	    "not followed by a low surrogate \\udc00-\\udfff");
	/* the pair must be written as two escapes, not an escape and raw bytes */
	FAILS("{\"s\":\"\\ud83d\xed\xb8\x80\"}", "offset 6: \\ud83d is a high "
	    "surrogate not followed by a low surrogate \\udc00-\\udfff");
}

static void
test_utf8(void **state)
{
	OK("{\"s\":\"\xc3\xa9\xe2\x82\xac\xef\xbf\xbf\xf0\x9f\x98\x80\xf4\x8f\xbf\xbf"
	    "\xc2\x80\xe0\xa0\x80\xf0\x90\x80\x80\x7f\"}");
	assert_int_equal(m[0].len, 26);
	OK("{\"\xc3\xa9t\xc3\xa9\":1}");
	assert_string_equal(m[0].key, "\xc3\xa9t\xc3\xa9");

	FAILS("{\"s\":\"\xff\"}", "offset 6: invalid UTF-8 (byte 0xff) in a string");
	FAILS("{\"s\":\"ab\x80\"}", "offset 8: invalid UTF-8 (byte 0x80) in a "
	    "string");
	/* overlong forms of '/' and of U+0000 */
	FAILS("{\"s\":\"\xc0\xaf\"}", "offset 6: invalid UTF-8 (byte 0xc0) in a "
	    "string");
	FAILS("{\"s\":\"\xc1\xbf\"}", "offset 6: invalid UTF-8 (byte 0xc1) in a "
	    "string");
	FAILS("{\"s\":\"\xe0\x80\xaf\"}", "offset 6: invalid UTF-8 (byte 0xe0) in "
	    "a string");
	FAILS("{\"s\":\"\xf0\x80\x80\xaf\"}", "offset 6: invalid UTF-8 (byte 0xf0) "
	    "in a string");
	/* UTF-16 surrogates encoded in UTF-8 */
	FAILS("{\"s\":\"\xed\xa0\x80\"}", "offset 6: invalid UTF-8 (byte 0xed) in "
	    "a string");
	FAILS("{\"s\":\"\xed\xbf\xbf\"}", "offset 6: invalid UTF-8 (byte 0xed) in "
	    "a string");
	/* above U+10FFFF */
	FAILS("{\"s\":\"\xf4\x90\x80\x80\"}", "offset 6: invalid UTF-8 (byte 0xf4) "
	    "in a string");
	FAILS("{\"s\":\"\xf5\x80\x80\x80\"}", "offset 6: invalid UTF-8 (byte 0xf5) "
	    "in a string");
	/* truncated: the quote is not a continuation byte */
	FAILS("{\"s\":\"\xe2\x82\"}", "offset 6: invalid UTF-8 (byte 0xe2) in a "
	    "string");
	FAILS("{\"s\":\"x\xf0\x9f\x98\"}", "offset 7: invalid UTF-8 (byte 0xf0) in "
	    "a string");
	FAILS_LEN("{\"s\":\"\xc3", 7, "offset 6: invalid UTF-8 (byte 0xc3) in a "
	    "string");
	FAILS("{\"\xfe\":1}", "offset 2: invalid UTF-8 (byte 0xfe) in a string");
	FAILS("{\"s\":\"a\tb\"}", "offset 7: control character 0x09 in a string "
	    "(write it as an escape)");
	FAILS("{\"s\":\"a\nb\"}", "offset 7: control character 0x0a in a string "
	    "(write it as an escape)");
	FAILS("{\"s\":\"\x1f\"}", "offset 6: control character 0x1f in a string "
	    "(write it as an escape)");
}

static void
test_utf8_seq(void **state)
{
	static const struct {
		const char *s;
		size_t      n;
	} cases[] = {
		{ "a", 1 }, { "\x7f", 1 }, { "\xc2\x80", 2 }, { "\xdf\xbf", 2 },
		{ "\xe0\xa0\x80", 3 }, { "\xed\x9f\xbf", 3 }, { "\xee\x80\x80", 3 },
		{ "\xf0\x90\x80\x80", 4 }, { "\xf4\x8f\xbf\xbf", 4 },
		{ "\x80", 0 }, { "\xbf", 0 }, { "\xc0\x80", 0 }, { "\xc1\xbf", 0 },
		{ "\xc2\x7f", 0 }, { "\xc2\xc0", 0 }, { "\xe0\x9f\xbf", 0 },
		{ "\xed\xa0\x80", 0 }, { "\xe1\x80\x7f", 0 },
		{ "\xf0\x8f\xbf\xbf", 0 }, { "\xf4\x90\x80\x80", 0 },
		{ "\xf1\x80\x80\xc0", 0 }, { "\xf8\x88\x80\x80\x80", 0 },
		{ "\xff", 0 }, { "\xfe", 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const unsigned char *s = (const unsigned char *)cases[i].s;
		if (json_utf8_seq(s, strlen(cases[i].s)) != cases[i].n)
			fail_msg("case %zu", i);
	}
	/* never reads past n */
	assert_int_equal(json_utf8_seq((const unsigned char *)"\xe2\x82\xac", 2), 0);
	assert_int_equal(json_utf8_seq((const unsigned char *)"a", 0), 0);
}

static void
test_string_cap(void **state)
{
	char *s;

	s = repeat("{\"s\":\"", "a", JSON_STRING_MAX, "\"}");
	OK(s);
	assert_int_equal(m[0].len, JSON_STRING_MAX);
	free(s);
	s = repeat("{\"s\":\"", "a", JSON_STRING_MAX + 1, "\"}");
	FAILS(s, "offset 5: string longer than 4096 bytes");
	free(s);
	/* the cap counts decoded bytes: 2048 x U+00E9 is 4096 bytes */
	s = repeat("{\"s\":\"", "\\u00e9", JSON_STRING_MAX / 2, "\"}");
	OK(s);
	assert_int_equal(m[0].len, JSON_STRING_MAX);
	free(s);
	s = repeat("{\"s\":\"", "\\u00e9", JSON_STRING_MAX / 2, "a\"}");
	FAILS(s, "offset 5: string longer than 4096 bytes");
	free(s);
	/* member names and nested strings too */
	s = repeat("{\"", "k", JSON_STRING_MAX + 1, "\":1}");
	FAILS(s, "offset 1: string longer than 4096 bytes");
	free(s);
	s = repeat("{\"a\":[\"", "k", JSON_STRING_MAX + 1, "\"]}");
	FAILS(s, "offset 6: string longer than 4096 bytes");
	free(s);
}

static void
test_integers(void **state)
{
	OK("{\"a\":0,\"b\":-0,\"c\":123,\"d\":-123,\"e\":9223372036854775807,"
	    "\"f\":-9223372036854775808,\"g\":1000}");
	assert_int_equal(n, 7);
	for (size_t i = 0; i < n; i++)
		assert_true(m[i].is_int);
	assert_int_equal(m[0].integer, 0);
	assert_int_equal(m[1].integer, 0);
	assert_string_equal(m[1].str, "-0");
	assert_int_equal(m[2].integer, 123);
	assert_int_equal(m[3].integer, -123);
	assert_true(m[4].integer == INT64_MAX);
	assert_true(m[5].integer == INT64_MIN);
	assert_string_equal(m[5].str, "-9223372036854775808");

	/* beyond int64_t: kept as written, and the caller's range check says so */
	OK("{\"a\":9223372036854775808,\"b\":-9223372036854775809,"
	    "\"c\":18446744073709551616,\"d\":99999999999999999999999999999,"
	    "\"e\":[92233720368547758070]}");
	assert_int_equal(n, 5);
	for (size_t i = 0; i < 4; i++) {
		assert_int_equal(m[i].type, JSON_NUMBER);
		assert_false(m[i].is_int);
		assert_int_equal(m[i].integer, 0);
	}
	assert_string_equal(m[0].str, "9223372036854775808");
	assert_string_equal(m[1].str, "-9223372036854775809");
	assert_string_equal(m[3].str, "99999999999999999999999999999");
}

static void
test_numbers(void **state)
{
	char *s;

	OK("{\"a\":1.5,\"b\":1e3,\"c\":1E+3,\"d\":-0.0e-0,\"e\":1e400,"
	    "\"f\":1.0,\"g\":99999999999999999999.5}");
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(m[i].type, JSON_NUMBER);
		assert_false(m[i].is_int);
	}
	assert_string_equal(m[0].str, "1.5");
	assert_string_equal(m[2].str, "1E+3");
	assert_string_equal(m[4].str, "1e400");

	FAILS("{\"a\":01}", "offset 5: leading zero in a number");
	FAILS("{\"a\":-01}", "offset 5: leading zero in a number");
	FAILS("{\"a\":00.5}", "offset 5: leading zero in a number");
	FAILS("{\"a\":-}", "offset 6: expected a digit after '-', found '}'");
	FAILS("{\"a\":-a}", "offset 6: expected a digit after '-', found 'a'");
	FAILS("{\"a\":--1}", "offset 6: expected a digit after '-', found '-'");
	FAILS("{\"a\":1.}", "offset 7: expected a digit after '.', found '}'");
	FAILS("{\"a\":1.e5}", "offset 7: expected a digit after '.', found 'e'");
	FAILS("{\"a\":1e}", "offset 7: expected a digit in the exponent, found "
	    "'}'");
	FAILS("{\"a\":1e+}", "offset 8: expected a digit in the exponent, found "
	    "'}'");
	FAILS("{\"a\":1", "offset 6: expected ',' or '}', found end of input");
	FAILS("{\"a\":1e", "offset 7: expected a digit in the exponent, found end "
	    "of input");
	FAILS("{\"a\":+1}", "offset 5: expected a value (string, number, object, "
	    "array, true, false or null), found '+'");
	FAILS("{\"a\":.5}", "offset 5: expected a value (string, number, object, "
	    "array, true, false or null), found '.'");
	FAILS("{\"a\":0x10}", "offset 6: expected ',' or '}', found 'x'");
	FAILS("{\"a\":1.5.5}", "offset 8: expected ',' or '}', found '.'");
	FAILS("{\"a\":NaN}", "offset 5: expected a value (string, number, object, "
	    "array, true, false or null), found 'N'");
	FAILS("{\"a\":Infinity}", "offset 5: expected a value (string, number, "
	    "object, array, true, false or null), found 'I'");

	/* 64 characters are fine, 65 are not */
	s = repeat("{\"a\":1.", "0", 62, "}");
	OK(s);
	assert_int_equal(m[0].len, 64);
	free(s);
	s = repeat("{\"a\":1.", "0", 63, "}");
	FAILS(s, "offset 5: number longer than 64 characters");
	free(s);
}

static void
test_depth(void **state)
{
	char *s, *open, *close;
	size_t k = JSON_DEPTH_MAX - 1;     /* the top object is one level */

	open = repeat("", "[", k, "");
	close = repeat("", "]", k, "");
	s = malloc(strlen(open) + strlen(close) + 16);
	assert_non_null(s);
	sprintf(s, "{\"a\":%s%s}", open, close);
	OK(s);
	assert_int_equal(m[0].type, JSON_ARRAY);
	free(open);
	free(close);
	free(s);

	open = repeat("", "[", k + 1, "");
	close = repeat("", "]", k + 1, "");
	s = malloc(strlen(open) + strlen(close) + 16);
	assert_non_null(s);
	sprintf(s, "{\"a\":%s%s}", open, close);
	FAILS(s, "offset 20: nesting deeper than 16 levels");
	free(open);
	free(close);
	free(s);

	/* objects count the same as arrays */
	s = repeat("{\"a\":", "{\"b\":", k, "1");
	FAILS(s, "offset 81: expected ',' or '}', found end of input");
	free(s);
	s = repeat("{\"a\":", "{\"b\":", k + 1, "1");
	FAILS(s, "offset 80: nesting deeper than 16 levels");
	free(s);

	/* a hostile depth stops at the cap, never deep in recursion */
	s = repeat("{\"a\":", "[", 60000, "");
	FAILS(s, "offset 20: nesting deeper than 16 levels");
	free(s);
}

static void
test_duplicates(void **state)
{
	FAILS("{\"a\":1,\"a\":2}", "offset 7: duplicate member \"a\"");
	FAILS("{\"a\":1,\"b\":2,\"a\":\"x\"}", "offset 13: duplicate member \"a\"");
	/* after decoding: "\u0061" is "a" */
	FAILS("{\"a\":1,\"\\u0061\":2}", "offset 7: duplicate member \"a\"");
	/* names differ by case: not duplicates */
	OK("{\"a\":1,\"A\":2}");
	assert_int_equal(n, 2);
}

static void
test_member_cap(void **state)
{
	char arena2[256];

	assert_int_equal(json_parse_object("{\"a\":1,\"b\":2}", 13, m, 2, &n,
	    arena2, sizeof(arena2), err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_int_equal(json_parse_object("{\"a\":1,\"b\":2,\"c\":3}", 19, m, 2,
	    &n, arena2, sizeof(arena2), err, sizeof(err)), -1);
	assert_string_equal(err, "offset 13: more than 2 members");
	assert_int_equal(n, 0);
	assert_int_equal(json_parse_object("{\"a\":1}", 7, m, 0, &n, arena2,
	    sizeof(arena2), err, sizeof(err)), -1);
	assert_string_equal(err, "offset 1: more than 0 members");
	assert_int_equal(json_parse_object("{}", 2, m, 0, &n, arena2,
	    sizeof(arena2), err, sizeof(err)), 0);
}

static void
test_body_cap(void **state)
{
	char *s = malloc(JSON_BODY_MAX + 2);

	assert_non_null(s);
	/* exactly the limit: accepted */
	memset(s, ' ', JSON_BODY_MAX);
	memcpy(s, "{\"a\":1}", 7);
	assert_int_equal(parse_len(s, JSON_BODY_MAX), 0);
	assert_int_equal(n, 1);
	s[JSON_BODY_MAX] = ' ';
	FAILS_LEN(s, JSON_BODY_MAX + 1, "body of 65537 bytes is over the limit of "
	    "65536 bytes");
	free(s);
}

static void
test_arena(void **state)
{
	const char *s = "{\"abcdef\":\"ghijkl\",\"n\":12345}";
	char small[8];

	/* as long as the input is always enough */
	assert_int_equal(json_parse_object(s, strlen(s), m, MAXM, &n, small, 0,
	    err, sizeof(err)), -1);
	assert_string_equal(err, "offset 1: out of space for strings");
	assert_int_equal(json_parse_object(s, strlen(s), m, MAXM, &n, small,
	    sizeof(small), err, sizeof(err)), -1);
	assert_string_equal(err, "offset 10: out of space for strings");
	{
		char exact[29];
		assert_int_equal(strlen(s), sizeof(exact));
		assert_int_equal(json_parse_object(s, strlen(s), m, MAXM, &n, exact,
		    sizeof(exact), err, sizeof(err)), 0);
		assert_string_equal(m[0].key, "abcdef");
		assert_string_equal(m[0].str, "ghijkl");
		assert_string_equal(m[1].str, "12345");
	}
}

static void
test_err_buffer(void **state)
{
	char small[12];

	memset(small, 'x', sizeof(small));
	assert_int_equal(json_parse_object("{x", 2, m, MAXM, &n, arena,
	    sizeof(arena), small, sizeof(small)), -1);
	assert_string_equal(small, "offset 1: e");
	assert_int_equal(json_parse_object("{x", 2, m, MAXM, &n, arena,
	    sizeof(arena), small, 5), -1);
	assert_string_equal(small, "offs");
	assert_int_equal(json_parse_object("{x", 2, m, MAXM, &n, arena,
	    sizeof(arena), NULL, 0), -1);
	assert_int_equal(json_parse_object("{}", 2, m, MAXM, &n, arena,
	    sizeof(arena), NULL, 0), 0);
}

static void
test_type_names(void **state)
{
	assert_string_equal(json_type_name(JSON_NULL), "null");
	assert_string_equal(json_type_name(JSON_BOOL), "a boolean");
	assert_string_equal(json_type_name(JSON_NUMBER), "a number");
	assert_string_equal(json_type_name(JSON_STRING), "a string");
	assert_string_equal(json_type_name(JSON_OBJECT), "an object");
	assert_string_equal(json_type_name(JSON_ARRAY), "an array");
}


/* ---- Documents (json_parse) -------------------------------------------------- */

static struct json_doc *
doc_ok(const char *s)
{
	struct json_doc *d = json_parse(s, strlen(s), err, sizeof(err));

	if (d == NULL)
		fail_msg("%s: %s", s, err);
	assert_string_equal(err, "");
	return d;
}

#define DFAILS(s, msg) do { \
	struct json_doc *d_ = json_parse((s), strlen(s), err, sizeof(err)); \
	assert_null(d_); \
	assert_string_equal(err, (msg)); \
} while (0)

static void
test_doc_tree(void **state)
{
	const char *s = " {\"backends\":[{\"name\":\"vm1\",\"sessions\":3,"
	    "\"users\":[\"ann\",\"bob\"],\"health\":{\"ssh\":{\"up\":true}}},"
	    "{\"name\":\"vm2\",\"load\":null,\"f\":-1.5e3,\"ok\":false}],"
	    "\"n\":0} ";
	struct json_doc *d = doc_ok(s);
	const struct json_node *root = json_root(d), *bs, *b1, *b2, *u, *x;
	int64_t v = -1;

	assert_int_equal(root->type, JSON_OBJECT);
	assert_int_equal(root->count, 2);
	assert_null(root->key);
	assert_int_equal(root->pos, 1);
	assert_int_equal(root->end, strlen(s) - 1);
	bs = json_get(root, "backends");
	assert_non_null(bs);
	assert_int_equal(bs->type, JSON_ARRAY);
	assert_int_equal(bs->count, 2);
	assert_string_equal(bs->key, "backends");
	assert_int_equal(bs->key_pos, 2);
	b1 = bs->child;
	b2 = b1->next;
	assert_null(b2->next);
	assert_null(b1->key);   /* an element, not a member */
	assert_string_equal(json_get_str(b1, "name"), "vm1");
	assert_true(json_get_int(b1, "sessions", &v));
	assert_int_equal(v, 3);
	u = json_get(b1, "users");
	assert_int_equal(u->count, 2);
	assert_string_equal(u->child->str, "ann");
	assert_string_equal(u->child->next->str, "bob");
	x = json_get(json_get(json_get(b1, "health"), "ssh"), "up");
	assert_int_equal(x->type, JSON_BOOL);
	assert_true(x->boolean);
	/* the span is the value's bytes, for printing it verbatim */
	assert_int_equal(b2->end - b2->pos, strlen("{\"name\":\"vm2\",\"load\":null,"
	    "\"f\":-1.5e3,\"ok\":false}"));
	assert_memory_equal(s + b2->pos, "{\"name\":\"vm2\"", 13);
	assert_int_equal(json_get(b2, "load")->type, JSON_NULL);
	x = json_get(b2, "f");
	assert_int_equal(x->type, JSON_NUMBER);
	assert_false(x->is_int);
	assert_string_equal(x->str, "-1.5e3");
	assert_false(json_get_int(b2, "f", &v));
	assert_false(json_get(b2, "ok")->boolean);
	/* absent, wrong type, not an object */
	assert_null(json_get(b2, "nope"));
	assert_null(json_get_str(b2, "f"));
	assert_false(json_get_int(b1, "name", &v));
	assert_null(json_get(bs, "name"));
	assert_null(json_get(NULL, "name"));
	assert_null(json_get_str(NULL, "name"));
	assert_true(json_get_int(root, "n", &v));
	assert_int_equal(v, 0);
	json_free(d);
	json_free(NULL);

	/* scalars at the top, empty containers, duplicates keep the first */
	d = doc_ok("7");
	assert_int_equal(json_root(d)->integer, 7);
	assert_string_equal(json_root(d)->str, "7");
	json_free(d);
	d = doc_ok("\"x\"");
	assert_string_equal(json_root(d)->str, "x");
	json_free(d);
	d = doc_ok("[[],{}]");
	assert_int_equal(json_root(d)->count, 2);
	assert_int_equal(json_root(d)->child->count, 0);
	assert_null(json_root(d)->child->child);
	json_free(d);
	d = doc_ok("{\"a\":1,\"a\":2}");
	assert_true(json_get_int(json_root(d), "a", &v));
	assert_int_equal(v, 1);
	json_free(d);
	/* an integer beyond int64_t is kept as written */
	d = doc_ok("[9223372036854775807,-9223372036854775808,"
	    "9223372036854775808]");
	x = json_root(d)->child;
	assert_true(x->is_int && x->integer == INT64_MAX);
	assert_true(x->next->is_int && x->next->integer == INT64_MIN);
	assert_false(x->next->next->is_int);
	assert_string_equal(x->next->next->str, "9223372036854775808");
	json_free(d);
}

static void
test_doc_strict(void **state)
{
	struct json_doc *d;

	/* the same reader: escapes decoded, surrogate pairs joined */
	d = doc_ok("\"a\\\"b\\\\c\\/d\\be\\ff\\ng\\rh\\ti\\u0041\\u00e9\\ud83d\\ude00\"");
	assert_string_equal(json_root(d)->str,
	    "a\"b\\c/d\be\ff\ng\rh\tiA\xc3\xa9\xf0\x9f\x98\x80");
	json_free(d);
	/* ... and as strict as for bodies, whatever the top is */
	DFAILS("[\"\\ud800\"]", "offset 2: \\ud800 is a high surrogate not "
	    "followed by a low surrogate \\udc00-\\udfff");
	DFAILS("[\"x\\u0000\"]", "offset 3: \\u0000 is not allowed in a string");
	DFAILS("[\"\xff\"]", "offset 2: invalid UTF-8 (byte 0xff) in a string");
	DFAILS("{\"ok\":\"\xc0\xaf\"}", "offset 7: invalid UTF-8 (byte 0xc0) in a "
	    "string");
	DFAILS("\"a\nb\"", "offset 2: control character 0x0a in a string (write "
	    "it as an escape)");
	DFAILS("", "offset 0: expected a value (string, number, object, array, "
	    "true, false or null), found end of input");
	DFAILS("   ", "offset 3: expected a value (string, number, object, "
	    "array, true, false or null), found end of input");
	DFAILS("{\"a\":1,}", "offset 7: expected a member name (a string), found "
	    "'}'");
	DFAILS("[1,]", "offset 3: expected a value (string, number, object, "
	    "array, true, false or null), found ']'");
	DFAILS("[1 2]", "offset 3: expected ',' or ']', found '2'");
	DFAILS("{\"a\" 1}", "offset 5: expected ':' after the member name, found "
	    "'1'");
	DFAILS("{1:2}", "offset 1: expected a member name (a string) or '}', "
	    "found '1'");
	DFAILS("[tru]", "offset 1: expected 'true'");
	DFAILS("{} x", "offset 3: expected end of input after the value, found "
	    "'x'");
	DFAILS("{}{}", "offset 2: expected end of input after the value, found "
	    "'{'");
	DFAILS("01", "offset 0: leading zero in a number");
	DFAILS("-", "offset 1: expected a digit after '-', found end of input");
	DFAILS("\xef\xbb\xbf{}", "offset 0: expected a value (string, number, "
	    "object, array, true, false or null), found byte 0xef");
	/* the length counts, not a NUL */
	d = json_parse("[1]]]]", 3, err, sizeof(err));
	assert_non_null(d);
	json_free(d);
	assert_null(json_parse("x", 1, NULL, 0));
}

static void
test_doc_caps(void **state)
{
	struct json_doc *d;
	char *s, *t;

	/* depth: JSON_DOC_DEPTH_MAX containers open at once, not one more */
	s = repeat("", "[", JSON_DOC_DEPTH_MAX, "");
	t = repeat(s, "]", JSON_DOC_DEPTH_MAX, "");
	d = doc_ok(t);
	json_free(d);
	free(t);
	free(s);
	s = repeat("", "[", JSON_DOC_DEPTH_MAX + 1, "");
	t = repeat(s, "]", JSON_DOC_DEPTH_MAX + 1, "");
	DFAILS(t, "offset 64: nesting deeper than 64 levels");
	free(t);
	free(s);
	/* values: JSON_DOC_NODES_MAX in all (the array itself is one) */
	s = repeat("[", "0,", JSON_DOC_NODES_MAX - 2, "0]");
	d = doc_ok(s);
	assert_int_equal(json_root(d)->count, JSON_DOC_NODES_MAX - 1);
	json_free(d);
	free(s);
	s = repeat("[", "0,", JSON_DOC_NODES_MAX - 1, "0]");
	DFAILS(s, "offset 1048575: more than 524288 values");
	free(s);
	/* strings: JSON_STRING_MAX decoded bytes, as in bodies */
	s = repeat("[\"", "a", JSON_STRING_MAX + 1, "\"]");
	DFAILS(s, "offset 1: string longer than 4096 bytes");
	free(s);
	/* input */
	s = malloc(JSON_DOC_MAX + 1);
	assert_non_null(s);
	memset(s, ' ', JSON_DOC_MAX + 1);
	s[0] = '0';
	d = json_parse(s, JSON_DOC_MAX, err, sizeof(err));
	assert_non_null(d);
	json_free(d);
	d = json_parse(s, JSON_DOC_MAX + 1, err, sizeof(err));
	assert_null(d);
	assert_string_equal(err, "document of 4194305 bytes is over the limit of "
	    "4194304 bytes");
	free(s);
	/* the arena (len + 1) holds the worst cases exactly: checked by ASan */
	d = doc_ok("1");
	json_free(d);
	d = doc_ok("[1,22,333]");
	json_free(d);
	d = doc_ok("{\"\":\"\",\"\\u0041\":\"\\ud83d\\ude00\"}");
	assert_string_equal(json_get_str(json_root(d), "A"), "\xf0\x9f\x98\x80");
	json_free(d);
}

/* ---- The string writer -------------------------------------------------------- */

struct sink {
	char   buf[1024];
	size_t len;
	int    calls, stop_at;      /* put fails (returns 7) at call stop_at */
};

static int
sink_put(void *arg, const char *b, size_t k)
{
	struct sink *o = arg;

	if (++o->calls == o->stop_at)
		return 7;
	assert_true(k >= 1 && o->len + k < sizeof(o->buf));
	memcpy(o->buf + o->len, b, k);
	o->len += k;
	o->buf[o->len] = '\0';
	return 0;
}

static const char *
written(const char *in)
{
	static struct sink o;

	memset(&o, 0, sizeof(o));
	assert_int_equal(json_write_str(sink_put, &o, in), 0);
	return o.buf;
}

static void
test_write_str(void **state)
{
	static const struct { const char *in, *out, *reads; } cases[] = {
		{ "", "\"\"", "" },
		{ "vm-1.a_b", "\"vm-1.a_b\"", "vm-1.a_b" },
		{ "a\"b\\c/d", "\"a\\\"b\\\\c/d\"", "a\"b\\c/d" },
		{ "\n\t\x01\x1f\x7f", "\"\\u000a\\u0009\\u0001\\u001f\\u007f\"",
		  "\n\t\x01\x1f\x7f" },
		/* well-formed UTF-8 is kept, the highest code point included */
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf",
		  "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\"",
		  "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf" },
		/* one U+FFFD per byte that does not start a sequence */
		{ "\xff", "\"\\ufffd\"", "\xef\xbf\xbd" },
		{ "x\xc3\x28y", "\"x\\ufffd(y\"", "x\xef\xbf\xbd(y" },
		{ "\xc0\xaf", "\"\\ufffd\\ufffd\"", "\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xe0\x80\xaf", "\"\\ufffd\\ufffd\\ufffd\"",
		  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"",
		  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\xf4\x90\x80\x80", "\"\\ufffd\\ufffd\\ufffd\\ufffd\"",
		  "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" },
		{ "ab\xe2\x82", "\"ab\\ufffd\\ufffd\"", "ab\xef\xbf\xbd\xef\xbf\xbd" },
		{ "\x80\xbf\xc3\xa9", "\"\\ufffd\\ufffd\xc3\xa9\"",
		  "\xef\xbf\xbd\xef\xbf\xbd\xc3\xa9" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = written(cases[i].in);
		struct json_doc *d;

		if (strcmp(got, cases[i].out) != 0)
			fail_msg("case %zu: %s, want %s", i, got, cases[i].out);
		/* it always reads back, as the text with U+FFFD in place */
		if ((d = json_parse(got, strlen(got), err, sizeof(err))) == NULL)
			fail_msg("case %zu: %s: %s", i, got, err);
		assert_string_equal(json_root(d)->str, cases[i].reads);
		json_free(d);
	}
}

static void
test_write_str_stops(void **state)
{
	struct sink o;
	struct json_fbuf f;
	char small[8];

	/* the first failure of put ends the output and is returned */
	memset(&o, 0, sizeof(o));
	o.stop_at = 3;
	assert_int_equal(json_write_str(sink_put, &o, "ab\"cd"), 7);
	assert_string_equal(o.buf, "\"ab");
	memset(&o, 0, sizeof(o));
	o.stop_at = 1;
	assert_int_equal(json_write_str(sink_put, &o, ""), 7);
	assert_int_equal(o.len, 0);

	/* a fixed buffer: 7 bytes and the NUL */
	memset(&f, 0, sizeof(f));
	f.buf = small;
	f.cap = sizeof(small);
	assert_int_equal(json_write_str(json_fbuf_put, &f, "abcde"), 0);
	assert_string_equal(small, "\"abcde\"");
	assert_false(f.cut);
	memset(&f, 0, sizeof(f));
	f.buf = small;
	f.cap = sizeof(small);
	assert_int_equal(json_write_str(json_fbuf_put, &f, "abcdef"), -1);
	assert_true(f.cut);
	assert_string_equal(small, "\"abcdef");
	assert_int_equal(f.len, 7);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_nested_skipped),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_trailing_nul_byte),
		cmocka_unit_test(test_escapes),
		cmocka_unit_test(test_surrogates),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_utf8_seq),
		cmocka_unit_test(test_string_cap),
		cmocka_unit_test(test_integers),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_duplicates),
		cmocka_unit_test(test_member_cap),
		cmocka_unit_test(test_body_cap),
		cmocka_unit_test(test_arena),
		cmocka_unit_test(test_err_buffer),
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_doc_tree),
		cmocka_unit_test(test_doc_strict),
		cmocka_unit_test(test_doc_caps),
		cmocka_unit_test(test_write_str),
		cmocka_unit_test(test_write_str_stops),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
