/*
 * agent.h -- reading a VM agent's reply, HAProxy agent-check grammar (pure).
 *
 * An agent answers a bare TCP connection with one line, ended by the first
 * CR or LF (or by the end of the connection), of words separated by spaces,
 * tabs or commas, in any order, case-insensitive:
 *
 *   75%            weight relative to the configured one (0% = drain-like:
 *                  returning users only); above AGENT_PCT_MAX is clamped
 *   maxconn:30     session cap (the lower of it and max_sessions applies);
 *                  maxconn:0 means no cap from the agent, as in HAProxy
 *   ready drain maint      the agent's admin state
 *   up down fail stopped   operational state: down/fail/stopped take the VM
 *                  out like a failed health check, up brings it back
 *   # text         from a '#' that starts a word to the end of the line:
 *                  the reason, kept printable and bounded
 *
 * When a category appears twice the last word wins. Other words are
 * ignored, as HAProxy does, and the first one is reported in `note`; so is a
 * malformed weight or maxconn, which then changes nothing. Differences from
 * HAProxy, both on purpose: a last line without CR/LF at the end of the
 * connection counts (HAProxy ignores it as incomplete), and a sign or other
 * non-digit in maxconn is malformed (HAProxy's strtol takes "-1").
 */
#ifndef POOLGATE_AGENT_H
#define POOLGATE_AGENT_H

#include <stdbool.h>
#include <stddef.h>

#include "backends/backend.h"

#define AGENT_LINE_MAX     1024    /* bytes of the line, CR/LF excluded */
#define AGENT_PCT_MAX      25600   /* HAProxy's clamp of a percentage */
#define AGENT_MAXCONN_MAX  100000  /* the bound of max_sessions */
#define AGENT_REASON_MAX   127     /* fits backend.agent_reason */
#define AGENT_NOTE_MAX     95

enum agent_op {
	AGENT_OP_NONE = 0,
	AGENT_OP_UP,
	AGENT_OP_DOWN,
	AGENT_OP_FAIL,
	AGENT_OP_STOPPED,
};

struct agent_reply {
	int           weight_pct;   /* -1 = not given, else 0..AGENT_PCT_MAX */
	int           maxconn;      /* -1 = not given, else 0..AGENT_MAXCONN_MAX */
	bool          has_admin;
	enum be_admin admin;        /* when has_admin */
	enum agent_op op;
	bool          has_reason;   /* a '#' was present */
	char          reason[AGENT_REASON_MAX + 1]; /* printable ASCII, "" if none */
	char          note[AGENT_NOTE_MAX + 1];     /* first ignored word, or "" */
	const char   *error;        /* static text when agent_parse fails */
};

/*
 * True when buf already decides the reply: it holds a CR or LF, or more
 * than AGENT_LINE_MAX bytes without one (agent_parse then refuses it).
 * Otherwise more bytes, or the end of the connection, are needed.
 */
bool        agent_complete(const char *buf, size_t len);

/*
 * Parse the first line of buf (len bytes, not NUL-terminated; what follows
 * the line is ignored). Without a CR or LF the whole buffer is the line: the
 * caller passes it so at the end of the connection. Returns 0 and fills
 * *out, or -1 with out->error set: nothing at all (len 0), a line longer
 * than AGENT_LINE_MAX, or a NUL byte in it. An empty line is a valid reply
 * that reports nothing.
 */
int         agent_parse(const char *buf, size_t len, struct agent_reply *out);

/* Flags returned by agent_apply: what changed in the backend. */
#define AGENT_CH_WEIGHT   0x1
#define AGENT_CH_MAXCONN  0x2
#define AGENT_CH_ADMIN    0x4
#define AGENT_CH_DOWN     0x8

/*
 * Store a parsed reply in b: weight, maxconn and admin state when given (each
 * stays otherwise: a drain lasts until the agent says ready or maint);
 * agent_down is set by down/fail/stopped and cleared by any other reply; the
 * reason is replaced when the reply has an admin or operational word. Does
 * not touch agent_last*, which belong to the caller. Returns AGENT_CH_* of
 * what changed.
 */
unsigned    agent_apply(struct backend *b, const struct agent_reply *r);

/*
 * Write r in normalised form ("75% maxconn:30 drain up #ok", then
 * " (ignored: ...)" when note is set) into buf of size bytes (truncated,
 * always terminated when size > 0). Returns buf.
 */
char       *agent_describe(const struct agent_reply *r, char *buf, size_t size);

/* "ready", "drain", "maint"; "up", "down", "fail", "stopped" ("" for none). */
const char *agent_admin_name(enum be_admin a);
const char *agent_op_name(enum agent_op op);

#endif
