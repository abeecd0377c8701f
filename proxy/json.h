/*
 * json.h -- a small strict JSON reader for admin API request bodies (pure).
 *
 * It reads exactly one JSON object (RFC 8259) and returns its top-level
 * members. Values that are strings, numbers, true, false and null are
 * decoded; nested objects and arrays are checked in full (grammar, strings,
 * depth) but skipped: their member reports only the type, so a caller can
 * say "labels: expected a string" instead of failing the whole body.
 *
 * Strict means: no comments, no trailing commas, no leading zeros, no
 * single quotes, no byte order mark, no raw control characters in strings,
 * strings valid UTF-8 (no overlong forms, no surrogates, nothing above
 * U+10FFFF), \u escapes of surrogates only as a high-low pair, and nothing
 * but whitespace after the object. A duplicate top-level member name is an
 * error. \u0000 is refused, so every decoded string is a C string with no
 * NUL inside. An integer literal (no fraction, no exponent) must fit in
 * int64_t; other numbers are kept as written.
 *
 * Every error message starts with the byte offset (from 0) where the problem
 * is and says what was expected and what was found:
 *   offset 12: expected ':' after the member name, found 'x'
 */
#ifndef POOLGATE_JSON_H
#define POOLGATE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_BODY_MAX   65536   /* bytes of input */
#define JSON_DEPTH_MAX  16      /* objects and arrays open at once, the top one included */
#define JSON_STRING_MAX 4096    /* decoded bytes of one string or member name */
#define JSON_NUMBER_MAX 64      /* characters of one number */

enum json_type {
	JSON_NULL = 0,
	JSON_BOOL,
	JSON_NUMBER,
	JSON_STRING,
	JSON_OBJECT,            /* nested: checked and skipped */
	JSON_ARRAY,             /* nested: checked and skipped */
};

/*
 * One top-level member. The strings point into the caller's arena and live
 * as long as it does.
 */
struct json_member {
	const char     *key;     /* decoded name, NUL-terminated */
	size_t          key_pos; /* offset of the name's opening quote */
	size_t          pos;     /* offset of the value's first byte */
	enum json_type  type;
	const char     *str;     /* JSON_STRING: decoded; JSON_NUMBER: as written;
	                            NULL for the other types */
	size_t          len;     /* strlen(str), 0 when str is NULL */
	bool            boolean; /* JSON_BOOL */
	bool            is_int;  /* JSON_NUMBER: an integer literal */
	int64_t         integer; /* JSON_NUMBER with is_int */
};

/*
 * Parse buf[0..len) as one JSON object. At most `max` members are stored in
 * out[]; *n gets their count. Decoded strings are written to arena (arenalen
 * bytes); arenalen >= len is always enough. buf need not be NUL-terminated.
 * Returns 0, or -1 with *n = 0 and a message in err (always NUL-terminated
 * when errlen > 0). A body longer than JSON_BODY_MAX is refused before
 * anything else ("body of N bytes is over the limit of 65536 bytes").
 */
int  json_parse_object(const char *buf, size_t len, struct json_member *out,
    size_t max, size_t *n, char *arena, size_t arenalen, char *err,
    size_t errlen);

/* The member named key among m[0..n), or NULL. Borrowed from m. */
const struct json_member *json_find(const struct json_member *m, size_t n,
    const char *key);

/* "a string", "a number", "an object", ... for messages. Static. */
const char *json_type_name(enum json_type t);

/*
 * The length (1 to 4) of the well-formed UTF-8 sequence that starts s[0]
 * among s[0..n), or 0 when it is not one (truncated, overlong, surrogate,
 * above U+10FFFF, stray continuation byte). n == 0 gives 0.
 */
size_t json_utf8_seq(const unsigned char *s, size_t n);

#endif
