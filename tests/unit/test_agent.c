/*
 * test_agent.c -- reading an agent's reply (HAProxy agent-check grammar) and
 * storing it in the backend (backends/agent.c).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "backends/agent.h"

/* Parse a C string; the parse must succeed. */
static struct agent_reply
ok(const char *s)
{
	struct agent_reply r;

	assert_int_equal(agent_parse(s, strlen(s), &r), 0);
	assert_null(r.error);
	return r;
}

/* Parse len bytes; the parse must fail. Returns the error. */
static const char *
bad(const char *s, size_t len)
{
	struct agent_reply r;

	assert_int_equal(agent_parse(s, len, &r), -1);
	assert_non_null(r.error);
	return r.error;
}

static void
assert_nothing(const struct agent_reply *r)
{
	assert_int_equal(r->weight_pct, -1);
	assert_int_equal(r->maxconn, -1);
	assert_false(r->has_admin);
	assert_int_equal(r->op, AGENT_OP_NONE);
	assert_false(r->has_reason);
	assert_string_equal(r->reason, "");
}

static struct backend *
vm(struct pool *p, int weight, int max_sessions)
{
	struct cfg_backend cb;
	struct backend *b;

	memset(&cb, 0, sizeof(cb));
	snprintf(cb.name, sizeof(cb.name), "vm%zu", p->n + 1);
	cb.address.text = "10.0.0.4";
	cb.weight = weight;
	cb.max_sessions = max_sessions;
	b = pool_add(p, &cb);
	assert_non_null(b);
	b->health[0].hc.up = true;
	return b;
}

/* --- agent_parse: single words --- */

static void
test_each_word(void **state)
{
	struct agent_reply r;

	(void)state;
	r = ok("up\n");
	assert_int_equal(r.op, AGENT_OP_UP);
	assert_false(r.has_admin);
	assert_int_equal(r.weight_pct, -1);
	assert_int_equal(r.maxconn, -1);
	assert_string_equal(r.note, "");
	assert_int_equal(ok("down\n").op, AGENT_OP_DOWN);
	assert_int_equal(ok("fail\n").op, AGENT_OP_FAIL);
	assert_int_equal(ok("stopped\n").op, AGENT_OP_STOPPED);

	r = ok("ready\n");
	assert_true(r.has_admin);
	assert_int_equal(r.admin, BE_ADMIN_READY);
	assert_int_equal(r.op, AGENT_OP_NONE);
	r = ok("drain\n");
	assert_true(r.has_admin);
	assert_int_equal(r.admin, BE_ADMIN_DRAIN);
	r = ok("maint\n");
	assert_true(r.has_admin);
	assert_int_equal(r.admin, BE_ADMIN_MAINT);

	r = ok("75%\n");
	assert_int_equal(r.weight_pct, 75);
	assert_false(r.has_admin);
	assert_int_equal(ok("0%\n").weight_pct, 0);
	assert_int_equal(ok("100%\n").weight_pct, 100);
	assert_int_equal(ok("007%\n").weight_pct, 7);

	r = ok("maxconn:30\n");
	assert_int_equal(r.maxconn, 30);
	assert_int_equal(r.weight_pct, -1);
	assert_int_equal(ok("maxconn:0\n").maxconn, 0);

	r = ok("#just a note\n");
	assert_true(r.has_reason);
	assert_string_equal(r.reason, "just a note");
	assert_int_equal(r.op, AGENT_OP_NONE);
}

static void
test_mixtures(void **state)
{
	struct agent_reply r;

	(void)state;
	r = ok("75% drain\n");
	assert_int_equal(r.weight_pct, 75);
	assert_true(r.has_admin);
	assert_int_equal(r.admin, BE_ADMIN_DRAIN);
	assert_int_equal(r.op, AGENT_OP_NONE);

	r = ok("up,maxconn:30 #ok\n");
	assert_int_equal(r.op, AGENT_OP_UP);
	assert_int_equal(r.maxconn, 30);
	assert_string_equal(r.reason, "ok");

	/* HAProxy's own regression test reply. */
	r = ok("75%,maxconn:30,maint,down\n");
	assert_int_equal(r.weight_pct, 75);
	assert_int_equal(r.maxconn, 30);
	assert_int_equal(r.admin, BE_ADMIN_MAINT);
	assert_int_equal(r.op, AGENT_OP_DOWN);

	/* Tabs, runs of separators, leading and trailing ones. */
	r = ok("\t ,ready\t\t50%,,, up ,\t\r\n");
	assert_int_equal(r.admin, BE_ADMIN_READY);
	assert_int_equal(r.weight_pct, 50);
	assert_int_equal(r.op, AGENT_OP_UP);
	assert_string_equal(r.note, "");

	/* The reason may follow a separator directly, with blanks around. */
	r = ok("down,#  disk full  \n");
	assert_int_equal(r.op, AGENT_OP_DOWN);
	assert_string_equal(r.reason, "disk full");
	/* Words after '#' are the reason, not words. */
	r = ok("up # drain 0% maxconn:1\n");
	assert_int_equal(r.op, AGENT_OP_UP);
	assert_false(r.has_admin);
	assert_int_equal(r.weight_pct, -1);
	assert_int_equal(r.maxconn, -1);
	assert_string_equal(r.reason, "drain 0% maxconn:1");
}

static void
test_last_word_wins(void **state)
{
	struct agent_reply r;

	(void)state;
	r = ok("drain ready 10% 20% down up maxconn:5 maxconn:6\n");
	assert_int_equal(r.admin, BE_ADMIN_READY);
	assert_int_equal(r.weight_pct, 20);
	assert_int_equal(r.op, AGENT_OP_UP);
	assert_int_equal(r.maxconn, 6);
	/* As in HAProxy, a malformed last weight hides a good earlier one. */
	r = ok("20% 30%x\n");
	assert_int_equal(r.weight_pct, -1);
	assert_string_equal(r.note, "malformed weight '30%x'");
}

static void
test_case_insensitive(void **state)
{
	struct agent_reply r;

	(void)state;
	/* HAProxy compares with strcasecmp(). */
	r = ok("UP Drain MAXCONN:12 50%\n");
	assert_int_equal(r.op, AGENT_OP_UP);
	assert_int_equal(r.admin, BE_ADMIN_DRAIN);
	assert_int_equal(r.maxconn, 12);
	assert_int_equal(r.weight_pct, 50);
	assert_int_equal(ok("MAINT\n").admin, BE_ADMIN_MAINT);
	assert_int_equal(ok("Ready\n").admin, BE_ADMIN_READY);
	assert_int_equal(ok("DOWN\n").op, AGENT_OP_DOWN);
	assert_int_equal(ok("Fail\n").op, AGENT_OP_FAIL);
	assert_int_equal(ok("STOPPED\n").op, AGENT_OP_STOPPED);
	assert_int_equal(ok("MaxConn:7\n").maxconn, 7);
}

/* --- agent_parse: what is ignored, and what fails --- */

static void
test_unknown_words_ignored(void **state)
{
	struct agent_reply r;

	(void)state;
	r = ok("hello up world\n");
	assert_int_equal(r.op, AGENT_OP_UP);
	assert_string_equal(r.note, "unknown word 'hello'");   /* the first */
	r = ok("upp\n");
	assert_int_equal(r.op, AGENT_OP_NONE);
	assert_string_equal(r.note, "unknown word 'upp'");
	/* A '#' inside a word does not start a reason (HAProxy neither). */
	r = ok("up#why\n");
	assert_int_equal(r.op, AGENT_OP_NONE);
	assert_false(r.has_reason);
	assert_string_equal(r.note, "unknown word 'up#why'");
	/* A weight starts with a digit. */
	r = ok("x75% -5% %\n");
	assert_int_equal(r.weight_pct, -1);
	assert_string_equal(r.note, "unknown word 'x75%'");
	/* Non-printable bytes are shown as '?', long words cut. */
	r = ok("\x01\x7f\xff\n");
	/* "?\?" because "??'" would be a trigraph. */
	assert_string_equal(r.note, "unknown word '?\?\?'");
	r = ok("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n");
	assert_string_equal(r.note,
	    "unknown word 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa...'");
	/* An unknown word is reported before a malformed number. */
	r = ok("1.5% what\n");
	assert_string_equal(r.note, "unknown word 'what'");
}

static void
test_numbers(void **state)
{
	struct agent_reply r;

	(void)state;
	/* Above 100% is more than configured; clamped where HAProxy clamps. */
	assert_int_equal(ok("150%\n").weight_pct, 150);
	assert_int_equal(ok("25600%\n").weight_pct, AGENT_PCT_MAX);
	assert_int_equal(ok("25601%\n").weight_pct, AGENT_PCT_MAX);
	assert_int_equal(ok("99999999999999999999999999%\n").weight_pct,
	    AGENT_PCT_MAX);
	assert_int_equal(ok("maxconn:100000\n").maxconn, AGENT_MAXCONN_MAX);
	assert_int_equal(ok("maxconn:99999999999999999999\n").maxconn,
	    AGENT_MAXCONN_MAX);

	/* Malformed: ignored, reported, nothing set. */
	r = ok("1.5%\n");
	assert_int_equal(r.weight_pct, -1);
	assert_string_equal(r.note, "malformed weight '1.5%'");
	r = ok("75%%\n");
	assert_int_equal(r.weight_pct, -1);
	assert_string_equal(r.note, "malformed weight '75%%'");
	assert_int_equal(ok("7%5\n").weight_pct, -1);
	assert_int_equal(ok("50 %\n").weight_pct, -1);   /* "50" then "%" */
	r = ok("maxconn:\n");
	assert_int_equal(r.maxconn, -1);
	assert_string_equal(r.note, "malformed maxconn 'maxconn:'");
	assert_int_equal(ok("maxconn:-1\n").maxconn, -1);
	assert_int_equal(ok("maxconn:+1\n").maxconn, -1);
	assert_int_equal(ok("maxconn:12a\n").maxconn, -1);
	assert_int_equal(ok("maxconn:1.0\n").maxconn, -1);
	assert_string_equal(ok("maxconn=5\n").note, "unknown word 'maxconn=5'");
}

static void
test_lines(void **state)
{
	struct agent_reply r;
	char buf[AGENT_LINE_MAX + 8];

	(void)state;
	/* Nothing at all is an error; an empty line reports nothing. */
	assert_string_equal(bad("", 0), "closed without a reply");
	r = ok("\n");
	assert_nothing(&r);
	assert_string_equal(r.note, "");
	r = ok("\r\n");
	assert_nothing(&r);
	r = ok(" \t, \n");
	assert_nothing(&r);
	/* Without CR/LF at the end of the connection, the line counts. */
	assert_int_equal(ok("drain").admin, BE_ADMIN_DRAIN);
	assert_int_equal(ok("  ").weight_pct, -1);
	/* CR alone ends the line; only the first line is read. */
	assert_int_equal(ok("down\rup\n").op, AGENT_OP_DOWN);
	assert_int_equal(ok("up\ndown\n").op, AGENT_OP_UP);
	assert_string_equal(ok("up #why\r\n").reason, "why");

	/* A NUL in the line fails; after the line it is not looked at. */
	assert_string_equal(bad("up\0down\n", 8), "NUL byte in the reply");
	assert_int_equal(ok("up\n\0").op, AGENT_OP_UP);
	assert_int_equal(agent_parse("up\n\0junk", 8, &r), 0);

	/* AGENT_LINE_MAX bytes fit, with or without the LF. */
	memset(buf, ' ', sizeof(buf));
	memcpy(buf + AGENT_LINE_MAX - 3, "50%", 3);
	buf[AGENT_LINE_MAX] = '\n';
	assert_int_equal(agent_parse(buf, AGENT_LINE_MAX + 1, &r), 0);
	assert_int_equal(r.weight_pct, 50);
	assert_int_equal(agent_parse(buf, AGENT_LINE_MAX, &r), 0);
	assert_int_equal(r.weight_pct, 50);
	/* One byte more does not. */
	memset(buf, ' ', sizeof(buf));
	buf[AGENT_LINE_MAX + 1] = '\n';
	assert_string_equal(bad(buf, AGENT_LINE_MAX + 2),
	    "reply line longer than 1024 bytes");
	assert_string_equal(bad(buf, AGENT_LINE_MAX + 1),
	    "reply line longer than 1024 bytes");
	assert_string_equal(bad(buf, sizeof(buf)),
	    "reply line longer than 1024 bytes");
}

static void
test_reason(void **state)
{
	struct agent_reply r;
	char line[400];

	(void)state;
	r = ok("drain #maintenance until 14:00\n");
	assert_true(r.has_reason);
	assert_string_equal(r.reason, "maintenance until 14:00");
	r = ok("down #\n");
	assert_true(r.has_reason);
	assert_string_equal(r.reason, "");
	/* Control and non-ASCII bytes become '?'. */
	r = ok("down #a\tb\x1b[31mc\xc3\xa9\n");
	assert_string_equal(r.reason, "a?b?[31mc??");
	/* Cut to AGENT_REASON_MAX bytes. */
	memset(line, 'r', sizeof(line));
	memcpy(line, "down #", 6);
	line[sizeof(line) - 1] = '\n';
	assert_int_equal(agent_parse(line, sizeof(line), &r), 0);
	assert_int_equal(strlen(r.reason), AGENT_REASON_MAX);
	assert_int_equal(r.reason[0], 'r');
	assert_int_equal(r.op, AGENT_OP_DOWN);
}

static void
test_complete(void **state)
{
	char buf[AGENT_LINE_MAX + 2];

	(void)state;
	assert_false(agent_complete("", 0));
	assert_false(agent_complete("75% up", 6));
	assert_true(agent_complete("75% up\n", 7));
	assert_true(agent_complete("75% up\r", 7));
	assert_true(agent_complete("\n", 1));
	memset(buf, 'a', sizeof(buf));
	assert_false(agent_complete(buf, AGENT_LINE_MAX));
	assert_true(agent_complete(buf, AGENT_LINE_MAX + 1));  /* too long */
}

/* --- agent_apply and the backend --- */

static void
test_apply_sticky(void **state)
{
	struct pool p;
	struct backend *b;
	struct agent_reply r;

	(void)state;
	pool_init(&p);
	b = vm(&p, 2, 10);
	/* pool_add: nothing from an agent yet. */
	assert_int_equal(b->agent_weight_pct, -1);
	assert_int_equal(b->agent_maxconn, -1);
	assert_int_equal(b->agent_admin, BE_ADMIN_READY);
	assert_false(b->agent_down);
	assert_null(b->agent_check);
	assert_int_equal(be_weight(b), 200);

	r = ok("50% maxconn:4 drain #patching\n");
	assert_int_equal(agent_apply(b, &r),
	    AGENT_CH_WEIGHT | AGENT_CH_MAXCONN | AGENT_CH_ADMIN);
	assert_int_equal(b->agent_weight_pct, 50);
	assert_int_equal(b->agent_maxconn, 4);
	assert_int_equal(b->agent_admin, BE_ADMIN_DRAIN);
	assert_string_equal(b->agent_reason, "patching");
	assert_int_equal(be_weight(b), 100);
	assert_int_equal(be_max_sessions(b), 4);
	assert_int_equal(be_state(b, 1), BE_DRAIN);

	/* The same again changes nothing. */
	assert_int_equal(agent_apply(b, &r), 0);
	/* What a reply does not mention stays, the reason with its state. */
	r = ok("60%\n");
	assert_int_equal(agent_apply(b, &r), AGENT_CH_WEIGHT);
	assert_int_equal(b->agent_weight_pct, 60);
	assert_int_equal(b->agent_maxconn, 4);
	assert_int_equal(b->agent_admin, BE_ADMIN_DRAIN);
	assert_string_equal(b->agent_reason, "patching");
	/* Only the agent's ready undoes its drain. */
	r = ok("ready\n");
	assert_int_equal(agent_apply(b, &r), AGENT_CH_ADMIN);
	assert_int_equal(b->agent_admin, BE_ADMIN_READY);
	assert_string_equal(b->agent_reason, "");
	assert_int_equal(be_state(b, 1), BE_UP);
	/* maxconn:0 lifts the agent's cap; the configured one is left. */
	r = ok("maxconn:0\n");
	assert_int_equal(agent_apply(b, &r), AGENT_CH_MAXCONN);
	assert_int_equal(be_max_sessions(b), 10);
	pool_clear(&p);
}

static void
test_apply_down(void **state)
{
	struct pool p;
	struct backend *b;
	struct agent_reply r;

	(void)state;
	pool_init(&p);
	b = vm(&p, 1, 0);
	r = ok("fail #oom killer\n");
	assert_int_equal(agent_apply(b, &r), AGENT_CH_DOWN);
	assert_true(b->agent_down);
	assert_string_equal(b->agent_reason, "oom killer");
	assert_int_equal(be_state(b, 1), BE_DOWN);
	assert_false(be_takes_new(b, 0));
	assert_false(be_takes_affine(b, 0));
	r = ok("stopped\n");
	assert_int_equal(agent_apply(b, &r), 0);        /* still down */
	assert_string_equal(b->agent_reason, "");
	/* Any reply without down brings it back, an empty line too. */
	r = ok("\n");
	assert_int_equal(agent_apply(b, &r), AGENT_CH_DOWN);
	assert_false(b->agent_down);
	assert_true(be_takes_new(b, 0));
	r = ok("down\n");
	assert_int_equal(agent_apply(b, &r), AGENT_CH_DOWN);
	r = ok("UP\n");
	assert_int_equal(agent_apply(b, &r), AGENT_CH_DOWN);
	assert_int_equal(be_state(b, 1), BE_UP);
	/* The agent's maint: nothing new, no affinity. */
	r = ok("maint\n");
	assert_int_equal(agent_apply(b, &r), AGENT_CH_ADMIN);
	assert_int_equal(be_state(b, 1), BE_MAINT);
	assert_false(be_takes_affine(b, 0));
	/* be_agent_clear forgets it all. */
	be_agent_clear(b);
	assert_int_equal(be_state(b, 1), BE_UP);
	assert_int_equal(b->agent_weight_pct, -1);
	pool_clear(&p);
}

static void
test_apply_zero_weight(void **state)
{
	struct pool p;
	struct backend *b;
	struct agent_reply r;

	(void)state;
	pool_init(&p);
	b = vm(&p, 1, 0);
	r = ok("0%\n");
	agent_apply(b, &r);
	assert_int_equal(be_weight(b), 0);
	assert_int_equal(be_state(b, 1), BE_DRAIN);
	assert_false(be_takes_new(b, 0));
	assert_true(be_takes_affine(b, 0));             /* like drain */
	/* 1% of weight 1 is still a weight (hundredths). */
	r = ok("1%\n");
	agent_apply(b, &r);
	assert_int_equal(be_weight(b), 1);
	assert_true(be_takes_new(b, 0));
	pool_clear(&p);
}

static void
test_describe(void **state)
{
	struct agent_reply r;
	char buf[128], small[8];

	(void)state;
	r = ok("down,maint 75% maxconn:30 #disk full\n");
	assert_string_equal(agent_describe(&r, buf, sizeof(buf)),
	    "75% maxconn:30 maint down #disk full");
	r = ok("up hello\n");
	assert_string_equal(agent_describe(&r, buf, sizeof(buf)),
	    "up (ignored: unknown word 'hello')");
	r = ok("\n");
	assert_string_equal(agent_describe(&r, buf, sizeof(buf)), "empty reply");
	r = ok("stopped ready\n");
	assert_string_equal(agent_describe(&r, buf, sizeof(buf)), "ready stopped");
	/* Truncated, still terminated. */
	r = ok("75% maxconn:30 drain\n");
	assert_string_equal(agent_describe(&r, small, sizeof(small)), "75% max");
	assert_ptr_equal(agent_describe(&r, small, 0), small);
	assert_string_equal(agent_admin_name(BE_ADMIN_MAINT), "maint");
	assert_string_equal(agent_op_name(AGENT_OP_NONE), "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_each_word),
		cmocka_unit_test(test_mixtures),
		cmocka_unit_test(test_last_word_wins),
		cmocka_unit_test(test_case_insensitive),
		cmocka_unit_test(test_unknown_words_ignored),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_reason),
		cmocka_unit_test(test_complete),
		cmocka_unit_test(test_apply_sticky),
		cmocka_unit_test(test_apply_down),
		cmocka_unit_test(test_apply_zero_weight),
		cmocka_unit_test(test_describe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
