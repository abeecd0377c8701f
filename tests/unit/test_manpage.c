/*
 * test_manpage.c -- docs/poolgate.conf.5 against the settings table.
 *
 * The page documents every row of cfg_settings[] as one item of an mdoc
 * tag list, in the order of the table, written so that a program can read
 * it back:
 *
 *	.It Ic services[].check.interval Ar duration
 *	Time between two checks of one backend ...
 *	Default: "2s"; range 100ms to 1h.
 *	.Dl check = { interval = \(dq5s\(dq; };
 *
 * the ".It Ic PATH Ar TYPE" line with the table's path and a word for its
 * type, and somewhere in the item (up to the next .It or .El) one "facts"
 * line that facts() below builds from the row alone: default (as written in
 * the file), or Required / Optional, then the range, the choices or the
 * length. Any other "Ic" in the page names a setting too and must be one.
 * The item of a row flagged CFG_F_START_ONLY also holds the line
 * START_ONLY_LINE, and no other item does: the page says which settings a
 * reload cannot change.
 *
 * So the test fails when a row is added, removed, renamed, moved, retyped,
 * or has its default, bounds or choices changed without the page following,
 * and when the page documents or mentions a setting the table lacks. The
 * second group of cases feeds the checker altered copies of the page to show
 * that it notices each kind of drift.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"

#ifndef SRCDIR
#error "SRCDIR must name the source root"
#endif

#define PAGE         SRCDIR "/docs/poolgate.conf.5"
#define PAGE_MAX     (1u << 20)
#define FACTS_MAX    1024
#define REPORT_MAX   16384

/* In the item of each CFG_F_START_ONLY row, and of no other. */
#define START_ONLY_LINE \
	"Read at start only: a reload with another value keeps the running one and logs it."

/* ---- What the page must say about a row ----------------------------------- */

/* The word after "Ar" on an item line; NULL for a type the page lacks. */
static const char *type_word(enum cfg_type t)
{
	switch (t) {
	case CFG_T_GROUP:     return "group";
	case CFG_T_LIST:      return "list";
	case CFG_T_INT:       return "integer";
	case CFG_T_BOOL:      return "boolean";
	case CFG_T_STRING:    return "string";
	case CFG_T_NAME:      return "name";
	case CFG_T_DURATION:  return "duration";
	case CFG_T_ENUM:      return "keyword";
	case CFG_T_ADDR:      return "address";
	case CFG_T_HOST:      return "host";
	case CFG_T_ADDR_LIST: return "addresses";
	case CFG_T_URL_PATH:  return "url-path";
	case CFG_T_TOKEN:     return "token";
	case CFG_T_ABS_PATH:  return "path";
	case CFG_T_DNS_NAME:  return "hostname";
	case CFG_T_USER:      return "user";
	default:              return NULL;
	}
}

/* Written in double quotes in the file (every string-valued type). */
static bool quoted(enum cfg_type t)
{
	return t != CFG_T_INT && t != CFG_T_BOOL && t != CFG_T_GROUP &&
	    t != CFG_T_LIST && t != CFG_T_ADDR_LIST;
}

/* Measured in bytes: min..max is a length. */
static bool has_length(enum cfg_type t)
{
	return t == CFG_T_STRING || t == CFG_T_NAME || t == CFG_T_URL_PATH ||
	    t == CFG_T_TOKEN || t == CFG_T_ABS_PATH || t == CFG_T_DNS_NAME ||
	    t == CFG_T_USER;
}

static void add(char *buf, size_t len, size_t *o, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void add(char *buf, size_t len, size_t *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*o >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *o, len - *o, fmt, ap);
	va_end(ap);
	if (n > 0)
		*o += (size_t)n;
}

/*
 * The facts line of row e, e.g.
 *	Default: "2s"; range 100ms to 1h.
 *	Default: 20000; range 1 to 1000000.
 *	Default: "tcp"; one of "tcp", "http".
 *	Required; 1 to 16 addresses.
 *	Optional; 1 to 4095 bytes.
 *	Group; optional, and off when absent.
 */
static void facts(const struct cfg_setting *e, char *buf, size_t len)
{
	char a[32], b[32];
	size_t o = 0;

	buf[0] = '\0';
	if (e->type == CFG_T_GROUP) {
		add(buf, len, &o, "Group; optional%s.",
		    (e->flags & CFG_F_PRESENCE) ? ", and off when absent" : "");
		return;
	}
	if (e->def != NULL)
		add(buf, len, &o, quoted(e->type) ? "Default: \"%s\"" : "Default: %s", e->def);
	else
		add(buf, len, &o, "%s", (e->flags & CFG_F_REQUIRED) ? "Required" : "Optional");

	switch (e->type) {
	case CFG_T_INT:
		add(buf, len, &o, "; range %" PRId64 " to %" PRId64, e->min, e->max);
		break;
	case CFG_T_DURATION:
		cfg_format_duration((uint64_t)e->min, a, sizeof(a));
		cfg_format_duration((uint64_t)e->max, b, sizeof(b));
		add(buf, len, &o, "; range %s to %s%s", a, b,
		    (e->flags & CFG_F_SECONDS) ? ", whole seconds" : "");
		break;
	case CFG_T_ENUM: {
		int n = 0;

		add(buf, len, &o, "; one of");
		for (const struct cfg_enum_value *v = e->values; v != NULL && v->name != NULL; v++)
			if (v->supported)
				add(buf, len, &o, "%s \"%s\"", n++ ? "," : "", v->name);
		break;
	}
	case CFG_T_LIST:
		add(buf, len, &o, "; %" PRId64 " to %" PRId64 " entries", e->min, e->max);
		break;
	case CFG_T_ADDR_LIST:
		add(buf, len, &o, "; %" PRId64 " to %" PRId64 " addresses", e->min, e->max);
		break;
	default:
		if (has_length(e->type))
			add(buf, len, &o, "; %" PRId64 " to %" PRId64 " bytes%s", e->min, e->max,
			    (e->flags & CFG_F_DIR) ? ", ending in \"/\"" : "");
		break;
	}
	add(buf, len, &o, ".");
}

static const struct cfg_setting *row(const char *path)
{
	for (size_t i = 0; i < cfg_nsettings; i++)
		if (strcmp(cfg_settings[i].path, path) == 0)
			return &cfg_settings[i];
	return NULL;
}

/* ---- Reading the page ------------------------------------------------------ */

struct page {
	char  *text;        /* owned, split in place into lines */
	char **line;        /* owned array of pointers into text */
	size_t n;
};

static void page_split(struct page *p, char *text /* transferred */)
{
	size_t cap = 0;
	char *s = text, *nl;

	p->text = text;
	p->line = NULL;
	p->n = 0;
	while (*s != '\0') {
		if (p->n == cap) {
			cap = cap ? cap * 2 : 256;
			p->line = realloc(p->line, cap * sizeof(*p->line));
			assert_non_null(p->line);
		}
		p->line[p->n++] = s;
		if ((nl = strchr(s, '\n')) == NULL)
			break;
		*nl = '\0';
		s = nl + 1;
	}
	/* trailing spaces do not show; compare without them */
	for (size_t i = 0; i < p->n; i++) {
		size_t l = strlen(p->line[i]);

		while (l > 0 && (p->line[i][l - 1] == ' ' || p->line[i][l - 1] == '\t'))
			p->line[i][--l] = '\0';
	}
}

static void page_free(struct page *p)
{
	free(p->line);
	free(p->text);
	p->line = NULL;
	p->text = NULL;
}

static char *read_page(void)
{
	FILE *f = fopen(PAGE, "r");
	char *buf;
	size_t n;

	if (f == NULL)
		fail_msg("cannot open %s", PAGE);
	buf = malloc(PAGE_MAX + 1);
	assert_non_null(buf);
	n = fread(buf, 1, PAGE_MAX, f);
	assert_false(ferror(f));
	assert_true(n < PAGE_MAX);
	fclose(f);
	buf[n] = '\0';
	return buf;
}

/* ---- The checker ------------------------------------------------------------ */

struct report {
	char   text[REPORT_MAX];
	size_t o;
	int    problems;
};

static void problem(struct report *r, size_t line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(struct report *r, size_t line, const char *fmt, ...)
{
	va_list ap;
	int n;

	r->problems++;
	if (r->o >= sizeof(r->text))
		return;
	n = snprintf(r->text + r->o, sizeof(r->text) - r->o, "poolgate.conf.5:%zu: ", line);
	if (n > 0)
		r->o += (size_t)n;
	if (r->o >= sizeof(r->text))
		return;
	va_start(ap, fmt);
	n = vsnprintf(r->text + r->o, sizeof(r->text) - r->o, fmt, ap);
	va_end(ap);
	if (n > 0)
		r->o += (size_t)n;
	if (r->o < sizeof(r->text) - 1) {
		r->text[r->o++] = '\n';
		r->text[r->o] = '\0';
	}
}

static bool starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Index of the line ending the item that starts at line i. */
static size_t item_end(const struct page *p, size_t i)
{
	for (size_t j = i + 1; j < p->n; j++)
		if (starts(p->line[j], ".It") || starts(p->line[j], ".El") ||
		    starts(p->line[j], ".Sh") || starts(p->line[j], ".Ss"))
			return j;
	return p->n;
}

/*
 * Every "Ic" argument on a macro line that is not an item line must be a
 * setting: the page refers to settings by their full path.
 */
static void check_mentions(const struct page *p, struct report *r)
{
	for (size_t i = 0; i < p->n; i++) {
		const char *s = p->line[i];
		char word[256];

		if (s[0] != '.' || starts(s, ".It Ic ") || starts(s, ".\\\""))
			continue;
		while ((s = strstr(s, "Ic ")) != NULL) {
			size_t n;

			/* "Ic" as a macro: at the start of the line or after a space */
			if (s != p->line[i] + 1 && s[-1] != ' ') {
				s += 3;
				continue;
			}
			s += 3;
			n = strcspn(s, " ");
			if (n >= sizeof(word))
				n = sizeof(word) - 1;
			memcpy(word, s, n);
			word[n] = '\0';
			if (row(word) == NULL)
				problem(r, i + 1, "Ic %s: no such setting in cfg_settings[]", word);
		}
	}
}

/* Check the page; returns the number of problems, described in r. */
static int check_page(const struct page *p, struct report *r)
{
	size_t *at = calloc(cfg_nsettings, sizeof(*at));   /* 1-based line of each row's item */
	size_t last = 0;                                     /* table index of the item before */
	bool have_last = false;

	assert_non_null(at);
	memset(r, 0, sizeof(*r));

	for (size_t i = 0; i < p->n; i++) {
		const struct cfg_setting *e;
		char path[256], type[64], want[FACTS_MAX];
		const char *tw;
		size_t k, end;
		bool found = false, start_only = false;
		int n = 0;

		if (!starts(p->line[i], ".It Ic "))
			continue;
		if (sscanf(p->line[i], ".It Ic %255s Ar %63s%n", path, type, &n) != 2 ||
		    p->line[i][n] != '\0') {
			problem(r, i + 1, "expected \".It Ic PATH Ar TYPE\", got \"%s\"", p->line[i]);
			continue;
		}
		if ((e = row(path)) == NULL) {
			problem(r, i + 1, "documents %s, which cfg_settings[] does not have", path);
			continue;
		}
		k = (size_t)(e - cfg_settings);
		if (at[k] != 0) {
			problem(r, i + 1, "documents %s again (first at line %zu)", path, at[k]);
			continue;
		}
		at[k] = i + 1;
		if (have_last && k < last)
			problem(r, i + 1, "%s comes after %s here but before it in cfg_settings[]"
			    " (document the settings in the table's order)", path,
			    cfg_settings[last].path);
		last = k;
		have_last = true;

		if ((tw = type_word(e->type)) == NULL)
			problem(r, i + 1, "%s: type %d has no word in test_manpage.c type_word()"
			    " (add one, and describe it under TYPES in the page)", path, (int)e->type);
		else if (strcmp(type, tw) != 0)
			problem(r, i + 1, "%s: type \"%s\", the table says \"%s\"", path, type, tw);

		facts(e, want, sizeof(want));
		end = item_end(p, i);
		for (size_t j = i + 1; j < end; j++) {
			if (strcmp(p->line[j], want) == 0)
				found = true;
			else if (starts(p->line[j], "Default:"))
				problem(r, j + 1, "%s: \"%s\" (the table says \"%s\")", path,
				    p->line[j], want);
			if (strcmp(p->line[j], START_ONLY_LINE) == 0)
				start_only = true;
			else if (starts(p->line[j], "Read at start only"))
				problem(r, j + 1, "%s: \"%s\" (expected \"%s\")", path, p->line[j],
				    START_ONLY_LINE);
		}
		if (!found)
			problem(r, i + 1, "%s: the item lacks the line \"%s\"", path, want);
		if ((e->flags & CFG_F_START_ONLY) && !start_only)
			problem(r, i + 1, "%s: read at start only (CFG_F_START_ONLY), but the item"
			    " lacks the line \"%s\"", path, START_ONLY_LINE);
		if (!(e->flags & CFG_F_START_ONLY) && start_only)
			problem(r, i + 1, "%s: the item says \"%s\", but a reload applies it"
			    " (no CFG_F_START_ONLY in the table)", path, START_ONLY_LINE);
	}
	for (size_t k = 0; k < cfg_nsettings; k++)
		if (at[k] == 0)
			problem(r, 0, "%s is in cfg_settings[] but not documented"
			    " (add \".It Ic %s Ar %s\" with \"%s...\")", cfg_settings[k].path,
			    cfg_settings[k].path, type_word(cfg_settings[k].type) ?
			    type_word(cfg_settings[k].type) : "?", cfg_settings[k].def ?
			    "Default: " : "");
	check_mentions(p, r);
	free(at);
	return r->problems;
}

/* ---- Cases ---------------------------------------------------------------- */

static void check_text(char *text /* transferred */, struct report *r)
{
	struct page p;

	page_split(&p, text);
	check_page(&p, r);
	page_free(&p);
}

/* The real page agrees with the table. */
static void test_page_matches_table(void **state)
{
	struct report *r = calloc(1, sizeof(*r));

	(void)state;
	assert_non_null(r);
	assert_true(cfg_nsettings > 0);
	check_text(read_page(), r);
	if (r->problems > 0)
		print_error("%s", r->text);
	assert_int_equal(r->problems, 0);
	free(r);
}

/* Replace the first `from` in text by `to`; returns a new string. */
static char *replace(const char *text, const char *from, const char *to)
{
	const char *at = strstr(text, from);
	size_t a, b, c;
	char *out;

	if (at == NULL)
		fail_msg("\"%s\" is not in the page", from);
	a = (size_t)(at - text);
	b = strlen(to);
	c = strlen(at + strlen(from));
	out = malloc(a + b + c + 1);
	assert_non_null(out);
	memcpy(out, text, a);
	memcpy(out + a, to, b);
	memcpy(out + a + b, at + strlen(from), c + 1);
	return out;
}

/* The first row with a default of the given type, or NULL. */
static const struct cfg_setting *first_with_default(enum cfg_type t)
{
	for (size_t i = 0; i < cfg_nsettings; i++)
		if (cfg_settings[i].type == t && cfg_settings[i].def != NULL)
			return &cfg_settings[i];
	return NULL;
}

/* Expect at least one problem, and one whose text holds `what`. */
static void expect_problem(char *text /* transferred */, const char *what)
{
	struct report *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	check_text(text, r);
	if (r->problems == 0 || strstr(r->text, what) == NULL)
		fail_msg("expected a problem naming \"%s\", got %d:\n%s", what, r->problems,
		    r->text);
	free(r);
}

/* The checker notices each kind of drift; otherwise the test above proves nothing. */
static void test_checker_notices_drift(void **state)
{
	const struct cfg_setting *d = first_with_default(CFG_T_DURATION);
	const struct cfg_setting *in = first_with_default(CFG_T_INT);
	char *page = read_page();
	char item[512], want[FACTS_MAX], wrong[FACTS_MAX + 8], *s;

	(void)state;
	assert_non_null(d);
	assert_non_null(in);

	/* A changed default. */
	facts(d, want, sizeof(want));
	s = strchr(want, ';');
	assert_non_null(s);
	snprintf(wrong, sizeof(wrong), "Default: \"7s\"%s", s);
	expect_problem(replace(page, want, wrong), d->path);

	/* A changed range: "Default: 20000; range 1 to 424242." */
	facts(in, want, sizeof(want));
	s = strstr(want, " to ");
	assert_non_null(s);
	snprintf(wrong, sizeof(wrong), "%.*s to 424242.", (int)(s - want), want);
	expect_problem(replace(page, want, wrong), in->path);

	/* A setting left out. */
	snprintf(item, sizeof(item), ".It Ic %s Ar %s\n", d->path, type_word(d->type));
	expect_problem(replace(page, item, ".\\\" (removed)\n"), "not documented");

	/* A setting the table does not have, documented or mentioned. */
	expect_problem(replace(page, item, ".It Ic limits.no_such_thing Ar integer\n"),
	    "limits.no_such_thing");
	snprintf(wrong, sizeof(wrong), ".Ic limits.no_such_thing\n%s", item);
	expect_problem(replace(page, item, wrong), "no such setting");

	/* A start-only setting whose item does not say so, and a live one that does. */
	{
		const struct cfg_setting *so = NULL;

		for (size_t i = 0; i < cfg_nsettings && so == NULL; i++)
			if (cfg_settings[i].flags & CFG_F_START_ONLY)
				so = &cfg_settings[i];
		assert_non_null(so);
		assert_false(d->flags & CFG_F_START_ONLY);
		/* the first item with the line is the first such row's ("\n": not the comment) */
		snprintf(want, sizeof(want), "%s: read at start only", so->path);
		expect_problem(replace(page, "\n" START_ONLY_LINE "\n", "\n"), want);
		snprintf(wrong, sizeof(wrong), "%s" START_ONLY_LINE "\n", item);
		snprintf(want, sizeof(want), "%s: the item says", d->path);
		expect_problem(replace(page, item, wrong), want);
		expect_problem(replace(page, "\n" START_ONLY_LINE "\n", "\nRead at start only.\n"),
		    "(expected \"" START_ONLY_LINE);
	}

	/* A wrong type word. */
	snprintf(wrong, sizeof(wrong), ".It Ic %s Ar integer\n", d->path);
	expect_problem(replace(page, item, wrong), "type \"integer\"");

	/* Out of the table's order: the items of the first two rows swapped. */
	{
		char first[512], second[512], *a, *b;

		snprintf(first, sizeof(first), ".It Ic %s Ar %s\n", cfg_settings[0].path,
		    type_word(cfg_settings[0].type));
		snprintf(second, sizeof(second), ".It Ic %s Ar %s\n", cfg_settings[1].path,
		    type_word(cfg_settings[1].type));
		a = replace(page, first, ".It Ic @swapped@ Ar x\n");
		b = replace(a, second, first);
		free(a);
		expect_problem(replace(b, ".It Ic @swapped@ Ar x\n", second), "table's order");
		free(b);
	}
	free(page);
}

/* facts() itself, on rows of every shape, so the format above is pinned. */
static void test_facts_format(void **state)
{
	static const struct cfg_enum_value v[] = {
		{ "a", 1, true }, { "b", 2, false }, { "c", 3, true }, { NULL, 0, false },
	};
	const struct {
		struct cfg_setting e;
		const char *want;
	} cases[] = {
		{ { "x", CFG_T_DURATION, 0, 100, 3600000, "2s", "", NULL, 0, 0, 0 },
		  "Default: \"2s\"; range 100ms to 1h." },
		{ { "x", CFG_T_DURATION, CFG_F_SECONDS, 1000, 3600000, "10s", "", NULL, 0, 0, 0 },
		  "Default: \"10s\"; range 1s to 1h, whole seconds." },
		{ { "x", CFG_T_INT, 0, 0, 1000000, "0", "", NULL, 0, 0, 0 },
		  "Default: 0; range 0 to 1000000." },
		{ { "x", CFG_T_INT, CFG_F_REQUIRED, 1, 65535, NULL, "", NULL, 0, 0, 0 },
		  "Required; range 1 to 65535." },
		{ { "x", CFG_T_BOOL, 0, 0, 0, "true", "", NULL, 0, 0, 0 },
		  "Default: true." },
		{ { "x", CFG_T_BOOL, 0, 0, 0, NULL, "", NULL, 0, 0, 0 },
		  "Optional." },
		{ { "x", CFG_T_ENUM, 0, 0, 0, "a", "", v, 0, 0, 0 },
		  "Default: \"a\"; one of \"a\", \"c\"." },
		{ { "x", CFG_T_STRING, 0, 1, 4095, NULL, "", NULL, 0, 0, 0 },
		  "Optional; 1 to 4095 bytes." },
		{ { "x", CFG_T_URL_PATH, CFG_F_DIR, 1, 255, "/user/", "", NULL, 0, 0, 0 },
		  "Default: \"/user/\"; 1 to 255 bytes, ending in \"/\"." },
		{ { "x", CFG_T_ADDR, 0, 0, 0, "127.0.0.1:9100", "", NULL, 0, 0, 0 },
		  "Default: \"127.0.0.1:9100\"." },
		{ { "x", CFG_T_HOST, CFG_F_REQUIRED, 0, 0, NULL, "", NULL, 0, 0, 0 },
		  "Required." },
		{ { "x", CFG_T_ADDR_LIST, CFG_F_REQUIRED, 1, 16, NULL, "", NULL, 0, 0, 0 },
		  "Required; 1 to 16 addresses." },
		{ { "x", CFG_T_LIST, 0, 0, 4096, NULL, "", NULL, 0, 0, 0 },
		  "Optional; 0 to 4096 entries." },
		{ { "x", CFG_T_GROUP, 0, 0, 0, NULL, "", NULL, 0, 0, 0 },
		  "Group; optional." },
		{ { "x", CFG_T_GROUP, CFG_F_PRESENCE, 0, 0, NULL, "", NULL, 0, 0, 0 },
		  "Group; optional, and off when absent." },
	};
	char buf[FACTS_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		facts(&cases[i].e, buf, sizeof(buf));
		assert_string_equal(buf, cases[i].want);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_facts_format),
		cmocka_unit_test(test_page_matches_table),
		cmocka_unit_test(test_checker_notices_drift),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
