/*
 * ctljson.h -- a small JSON tree reader for poolgatectl (pure, no I/O).
 *
 * proxy/json.h reads flat request bodies for the daemon; the client must walk
 * the daemon's replies ("backends": [ {"health": {"ssh": {...}}} ]), so this
 * reader builds the whole tree. It follows RFC 8259's grammar strictly (no
 * comments, no trailing commas, no leading zeros, nothing after the value)
 * but is lenient where a reply may carry bytes the daemon relayed from a VM:
 * a raw byte that is not well-formed UTF-8, a lone surrogate escape and
 * \u0000 all decode to '?', so one odd health-check message never makes
 * `poolgatectl status` fail. A duplicate member name is kept; cj_get()
 * finds the first.
 *
 * Caps: CJ_INPUT_MAX bytes of input, CJ_DEPTH_MAX nested containers,
 * CJ_NODES_MAX values in all, CJ_NUMBER_MAX characters in a number. Every
 * error says where: "offset 12: expected ':' after the member name, found 'x'".
 */
#ifndef POOLGATE_CTLJSON_H
#define POOLGATE_CTLJSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CJ_INPUT_MAX  (4u * 1024 * 1024)  /* bytes */
#define CJ_DEPTH_MAX  64                  /* arrays and objects open at once */
#define CJ_NODES_MAX  (1u << 19)          /* values in one document */
#define CJ_NUMBER_MAX 64                  /* characters of one number */

enum cj_type {
	CJ_NULL = 0,
	CJ_BOOL,
	CJ_NUMBER,
	CJ_STRING,
	CJ_ARRAY,
	CJ_OBJECT,
};

/*
 * One value. Every pointer in it is owned by its struct cj_doc and dies with
 * cj_free().
 */
struct cj_node {
	enum cj_type          type;
	const char           *key;     /* its name when a member, else NULL */
	const char           *str;     /* CJ_STRING decoded, CJ_NUMBER as
	                                  written; NULL for the other types */
	size_t                len;     /* strlen(str); 0 when str is NULL */
	bool                  boolean; /* CJ_BOOL */
	bool                  is_int;  /* CJ_NUMBER: integer literal in int64_t */
	int64_t               integer; /* CJ_NUMBER with is_int */
	size_t                pos;     /* [pos, end): the value's bytes in the */
	size_t                end;     /*   input, for printing it verbatim */
	size_t                count;   /* CJ_ARRAY, CJ_OBJECT: children */
	const struct cj_node *child;   /* first member or element, or NULL */
	const struct cj_node *next;    /* next sibling, or NULL */
};

struct cj_doc;

/*
 * Parse buf[0..len) (need not be NUL-terminated; it is not kept). Returns a
 * document the caller frees with cj_free(), or NULL with a message in err
 * (always NUL-terminated when errlen > 0).
 */
struct cj_doc        *cj_parse(const char *buf, size_t len, char *err,
    size_t errlen);
void                  cj_free(struct cj_doc *doc);

/* The top value. Never NULL for a parsed document. */
const struct cj_node *cj_root(const struct cj_doc *doc);

/*
 * The first member named key of obj, or NULL when obj is NULL, not an
 * object, or has no such member.
 */
const struct cj_node *cj_get(const struct cj_node *obj, const char *key);

/* Member key of obj as a string, or NULL when absent or of another type. */
const char           *cj_get_str(const struct cj_node *obj, const char *key);

/*
 * Member key of obj as an integer: true with *v set, or false when absent,
 * not a number, or not an integer literal that fits int64_t.
 */
bool                  cj_get_int(const struct cj_node *obj, const char *key,
    int64_t *v);

/* "a string", "an object", ... for messages. Static. */
const char           *cj_type_name(enum cj_type t);

#endif
