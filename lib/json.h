/*
 * json.h -- poolgate's one JSON reader and one JSON string writer (pure:
 * no I/O, no libevent).
 *
 * The reader (RFC 8259) has two entry points over the same parser:
 *
 *   json_parse_object()  an admin API request body: one object, its
 *                        top-level members returned in the caller's array,
 *                        nested objects and arrays checked but skipped.
 *   json_parse()         a whole document as a tree (poolgatectl reading
 *                        /status and /api/v1 replies).
 *
 * Both are strict, with the same rules: no comments, no trailing commas, no
 * leading zeros, no single quotes, no byte order mark, no raw control
 * characters in strings, strings valid UTF-8 (no overlong forms, no
 * surrogates, nothing above U+10FFFF), \u escapes of surrogates only as a
 * high-low pair, \u0000 refused (so every decoded string is a C string with
 * no NUL inside), at most JSON_STRING_MAX decoded bytes in one string or
 * member name and JSON_NUMBER_MAX characters in one number, and nothing but
 * whitespace after the value. An integer literal (no fraction, no exponent)
 * that fits int64_t is converted (is_int); any other number is kept only as
 * written, and the caller's range check names the member. They differ only
 * in their caps and in what the top must be:
 *
 *                      json_parse_object      json_parse
 *   input bytes        JSON_BODY_MAX          JSON_DOC_MAX
 *   nesting            JSON_DEPTH_MAX         JSON_DOC_DEPTH_MAX
 *   values             (members: the caller)  JSON_DOC_NODES_MAX
 *   the top            an object whose        any value; a duplicate
 *                      member names are       member name is kept and
 *                      unique                 json_get() finds the first
 *
 * The daemon writes its replies with json_write_str(), so whatever a VM
 * sent is valid UTF-8 there and the strict reader reads every reply.
 *
 * Every error message starts with the byte offset (from 0) where the
 * problem is and says what was expected and what was found:
 *   offset 12: expected ':' after the member name, found 'x'
 * (the input caps excepted: "body of N bytes is over the limit of M bytes").
 */
#ifndef POOLGATE_JSON_H
#define POOLGATE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_BODY_MAX      65536             /* bytes of a request body */
#define JSON_DEPTH_MAX     16                /* containers open at once in a body, the top one included */
#define JSON_STRING_MAX    4096              /* decoded bytes of one string or member name */
#define JSON_NUMBER_MAX    64                /* characters of one number */
#define JSON_DOC_MAX       (4u * 1024 * 1024) /* bytes of a document */
#define JSON_DOC_DEPTH_MAX 64                /* containers open at once in a document */
#define JSON_DOC_NODES_MAX (1u << 19)        /* values in one document, the top one included */

enum json_type {
	JSON_NULL = 0,
	JSON_BOOL,
	JSON_NUMBER,
	JSON_STRING,
	JSON_OBJECT,
	JSON_ARRAY,
};

/* ---- Request bodies: one object, its top-level members -------------------- */

/*
 * One top-level member. The strings point into the caller's arena and live
 * as long as it does.
 */
struct json_member {
	const char     *key;     /* decoded name, NUL-terminated */
	size_t          key_pos; /* offset of the name's opening quote */
	size_t          pos;     /* offset of the value's first byte */
	enum json_type  type;    /* JSON_OBJECT, JSON_ARRAY: checked and skipped */
	const char     *str;     /* JSON_STRING: decoded; JSON_NUMBER: as written;
	                            NULL for the other types */
	size_t          len;     /* strlen(str), 0 when str is NULL */
	bool            boolean; /* JSON_BOOL */
	bool            is_int;  /* JSON_NUMBER: an integer literal within int64_t */
	int64_t         integer; /* JSON_NUMBER with is_int */
};

/*
 * Parse buf[0..len) as one JSON object. At most `max` members are stored in
 * out[] ("more than N members" past that); *n gets their count. Decoded
 * strings are written to arena (arenalen bytes); arenalen >= len is always
 * enough. buf need not be NUL-terminated and is not kept. Returns 0, or -1
 * with *n = 0 and a message in err (always NUL-terminated when errlen > 0).
 * A body longer than JSON_BODY_MAX is refused before anything else ("body
 * of N bytes is over the limit of 65536 bytes").
 */
int  json_parse_object(const char *buf, size_t len, struct json_member *out,
    size_t max, size_t *n, char *arena, size_t arenalen, char *err,
    size_t errlen);

/* The member named key among m[0..n), or NULL. Borrowed from m. */
const struct json_member *json_find(const struct json_member *m, size_t n,
    const char *key);

/* ---- Documents: the whole tree --------------------------------------------- */

/*
 * One value of a document. Every pointer in it is owned by its struct
 * json_doc and dies with json_free().
 */
struct json_node {
	enum json_type          type;
	const char             *key;     /* its name when a member, else NULL */
	size_t                  key_pos; /* member: offset of its name's opening quote */
	const char             *str;     /* JSON_STRING decoded, JSON_NUMBER as
	                                    written; NULL for the other types */
	size_t                  len;     /* strlen(str); 0 when str is NULL */
	bool                    boolean; /* JSON_BOOL */
	bool                    is_int;  /* JSON_NUMBER: integer literal within int64_t */
	int64_t                 integer; /* JSON_NUMBER with is_int */
	size_t                  pos;     /* [pos, end): the value's bytes in the */
	size_t                  end;     /*   input, for printing it verbatim */
	size_t                  count;   /* JSON_ARRAY, JSON_OBJECT: children */
	const struct json_node *child;   /* first member or element, or NULL */
	const struct json_node *next;    /* next sibling, or NULL */
};

struct json_doc;

/*
 * Parse buf[0..len) as one JSON document (need not be NUL-terminated; it is
 * not kept). Returns a document the caller frees with json_free(), or NULL
 * with a message in err (always NUL-terminated when errlen > 0; "document
 * of N bytes is over the limit of M bytes", "offset N: more than M values",
 * "offset N: out of memory" or a grammar error as above).
 */
struct json_doc        *json_parse(const char *buf, size_t len, char *err,
    size_t errlen);

/* Free doc and every node and string of it. doc may be NULL. */
void                    json_free(struct json_doc *doc);

/* The top value (borrowed from doc). Never NULL for a parsed document. */
const struct json_node *json_root(const struct json_doc *doc);

/*
 * The first member named key of obj, or NULL when obj is NULL, not an
 * object, or has no such member. Borrowed from obj's document.
 */
const struct json_node *json_get(const struct json_node *obj, const char *key);

/* Member key of obj as a string, or NULL when absent or of another type. */
const char             *json_get_str(const struct json_node *obj,
    const char *key);

/*
 * Member key of obj as an integer: true with *v set, or false (*v
 * untouched) when absent, not a number, or not an integer literal within
 * int64_t.
 */
bool                    json_get_int(const struct json_node *obj,
    const char *key, int64_t *v);

/* ---- Both ------------------------------------------------------------------ */

/* "a string", "a number", "an object", ... for messages. Static. */
const char *json_type_name(enum json_type t);

/*
 * The length (1 to 4) of the well-formed UTF-8 sequence that starts s[0]
 * among s[0..n), or 0 when it is not one (truncated, overlong, surrogate,
 * above U+10FFFF, stray continuation byte). n == 0 gives 0.
 */
size_t json_utf8_seq(const unsigned char *s, size_t n);

/* ---- The string writer ----------------------------------------------------- */

/*
 * Where the writer's output goes: called with each piece in order (bytes
 * not NUL-terminated, n >= 1). Returns 0 to go on, anything else to stop.
 */
typedef int json_put_fn(void *arg, const char *bytes, size_t n);

/*
 * Write the C string s as one JSON string, quotes included, through
 * put(arg, ...). The one treatment of what s may hold (a VM's error text,
 * a banner, a file name: anything):
 *   - '"' and '\' are written \" and \\;
 *   - control characters (0x00-0x1f) and DEL (0x7f) are written \u00XX,
 *     lowercase hex (\u000a, not \n);
 *   - a well-formed UTF-8 sequence (json_utf8_seq) is copied as it is;
 *   - each byte that does not start one (a stray continuation byte, a
 *     truncated, overlong or surrogate sequence, 0xf5-0xff) is written
 *     \ufffd: U+FFFD, one per byte.
 * So the output is always valid JSON that decodes to valid UTF-8, and reads
 * back with json_parse*() as s where s was valid UTF-8 without controls.
 * Returns 0, or the first nonzero value put returned (the output then
 * stops part-way).
 */
int  json_write_str(json_put_fn *put, void *arg, const char *s);

/*
 * A caller's fixed buffer as a json_put_fn: bytes go to buf[len..cap - 1)
 * and buf stays NUL-terminated. A piece that does not fit whole is cut,
 * `cut` is set and -1 returned (the buffer then holds a prefix, not valid
 * JSON: check cut). Set buf and cap, zero the rest, before the first call.
 */
struct json_fbuf {
	char   *buf;
	size_t  cap;     /* bytes of buf, the NUL included; >= 1 */
	size_t  len;     /* bytes written */
	bool    cut;
};
int  json_fbuf_put(void *arg, const char *bytes, size_t n);

#endif
