/*
 * agent.c -- see agent.h. The word rules follow HAProxy's
 * tcpcheck_agent_expect_reply(): separators are space, tab and comma; a '#'
 * only starts the reason at the start of a word; a weight is a word that
 * starts with a digit and holds a '%'.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "backends/agent.h"

#define STR_(x) #x
#define STR(x)  STR_(x)

_Static_assert(AGENT_REASON_MAX < sizeof(((struct backend *)0)->agent_reason),
    "the reason must fit struct backend");

static bool
is_sep(char c)
{
	return c == ' ' || c == '\t' || c == ',';
}

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* ASCII only: the reply is not text in any locale. */
static char
lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Does w (len bytes) equal the lower-case literal lit, ignoring case? */
static bool
word_is(const char *w, size_t len, const char *lit)
{
	size_t i;

	if (len != strlen(lit))
		return false;
	for (i = 0; i < len; i++)
		if (lower(w[i]) != lit[i])
			return false;
	return true;
}

static bool
has_prefix(const char *w, size_t len, const char *lit)
{
	size_t n = strlen(lit);

	return len >= n && word_is(w, n, lit);
}

/* Copy at most size - 1 bytes, each non-printable one as '?'; terminate. */
static void
sanitize(char *dst, size_t size, const char *src, size_t len)
{
	size_t i;

	if (size == 0)
		return;
	if (len > size - 1)
		len = size - 1;
	for (i = 0; i < len; i++)
		dst[i] = src[i] >= 0x20 && src[i] < 0x7f ? src[i] : '?';
	dst[len] = '\0';
}

/*
 * Digits of s (len bytes, at least one) as a number clamped to max; the
 * index of the first non-digit in *end. -1 when s does not start with one.
 */
static int
number(const char *s, size_t len, int max, size_t *end)
{
	size_t i;
	int v = 0;

	for (i = 0; i < len && is_digit(s[i]); i++)
		if (v <= max)   /* past max it only has to stay past it */
			v = v * 10 + (s[i] - '0');
	*end = i;
	if (i == 0)
		return -1;
	return v > max ? max : v;
}

static void
note(struct agent_reply *out, const char *what, const char *w, size_t len)
{
	char word[48];

	if (out->note[0] != '\0')
		return;         /* the first problem is the one to read */
	sanitize(word, sizeof(word), w, len);
	snprintf(out->note, sizeof(out->note), "%s '%s%s'", what, word,
	    len >= sizeof(word) ? "..." : "");
}

static void
set_admin(struct agent_reply *out, enum be_admin a)
{
	out->has_admin = true;
	out->admin = a;
}

bool
agent_complete(const char *buf, size_t len)
{
	size_t n = len > AGENT_LINE_MAX ? AGENT_LINE_MAX + 1 : len;

	return memchr(buf, '\n', n) != NULL || memchr(buf, '\r', n) != NULL ||
	    len > AGENT_LINE_MAX;
}

int
agent_parse(const char *buf, size_t len, struct agent_reply *out)
{
	const char *w, *wt = NULL, *mc = NULL;  /* last weight / maxconn word */
	size_t n, i, wl, wtlen = 0, mclen = 0, end;
	int v;

	memset(out, 0, sizeof(*out));
	out->weight_pct = -1;
	out->maxconn = -1;
	if (len == 0) {
		out->error = "closed without a reply";
		return -1;
	}
	/* Only the first line counts; look no further than the cap. */
	for (n = 0; n < len && n <= AGENT_LINE_MAX; n++) {
		if (buf[n] == '\n' || buf[n] == '\r')
			break;
		if (buf[n] == '\0') {
			out->error = "NUL byte in the reply";
			return -1;
		}
	}
	if (n > AGENT_LINE_MAX) {
		out->error = "reply line longer than " STR(AGENT_LINE_MAX) " bytes";
		return -1;
	}

	i = 0;
	while (i < n) {
		if (is_sep(buf[i])) {
			i++;
			continue;
		}
		if (buf[i] == '#') {
			/* The rest of the line, without the blanks around it. */
			for (i++; i < n && (buf[i] == ' ' || buf[i] == '\t'); i++)
				;
			end = n;
			while (end > i && (buf[end - 1] == ' ' ||
			    buf[end - 1] == '\t'))
				end--;
			out->has_reason = true;
			sanitize(out->reason, sizeof(out->reason), buf + i, end - i);
			break;
		}
		w = buf + i;
		while (i < n && !is_sep(buf[i]))
			i++;
		wl = (size_t)(buf + i - w);

		if (word_is(w, wl, "up"))
			out->op = AGENT_OP_UP;
		else if (word_is(w, wl, "down"))
			out->op = AGENT_OP_DOWN;
		else if (word_is(w, wl, "fail"))
			out->op = AGENT_OP_FAIL;
		else if (word_is(w, wl, "stopped"))
			out->op = AGENT_OP_STOPPED;
		else if (word_is(w, wl, "ready"))
			set_admin(out, BE_ADMIN_READY);
		else if (word_is(w, wl, "drain"))
			set_admin(out, BE_ADMIN_DRAIN);
		else if (word_is(w, wl, "maint"))
			set_admin(out, BE_ADMIN_MAINT);
		else if (is_digit(w[0]) && memchr(w, '%', wl) != NULL) {
			wt = w;
			wtlen = wl;
		} else if (has_prefix(w, wl, "maxconn:")) {
			mc = w;
			mclen = wl;
		} else
			note(out, "unknown word", w, wl);
	}

	/* As in HAProxy, only the last word of each kind is read. */
	if (wt != NULL) {
		v = number(wt, wtlen, AGENT_PCT_MAX, &end);
		if (end + 1 == wtlen && wt[end] == '%')
			out->weight_pct = v;
		else
			note(out, "malformed weight", wt, wtlen);
	}
	if (mc != NULL) {
		v = number(mc + 8, mclen - 8, AGENT_MAXCONN_MAX, &end);
		if (v >= 0 && end == mclen - 8)
			out->maxconn = v;
		else
			note(out, "malformed maxconn", mc, mclen);
	}
	return 0;
}

unsigned
agent_apply(struct backend *b, const struct agent_reply *r)
{
	unsigned ch = 0;
	bool down = r->op == AGENT_OP_DOWN || r->op == AGENT_OP_FAIL ||
	    r->op == AGENT_OP_STOPPED;

	if (r->weight_pct >= 0 && r->weight_pct != b->agent_weight_pct) {
		b->agent_weight_pct = r->weight_pct;
		ch |= AGENT_CH_WEIGHT;
	}
	if (r->maxconn >= 0 && r->maxconn != b->agent_maxconn) {
		b->agent_maxconn = r->maxconn;
		ch |= AGENT_CH_MAXCONN;
	}
	if (r->has_admin && r->admin != b->agent_admin) {
		b->agent_admin = r->admin;
		ch |= AGENT_CH_ADMIN;
	}
	if (down != b->agent_down) {
		b->agent_down = down;
		ch |= AGENT_CH_DOWN;
	}
	/*
	 * The reason explains a state, so a reply that announces none (a bare
	 * "75%") leaves the reason of the drain still in force.
	 */
	if (r->has_admin || r->op != AGENT_OP_NONE)
		snprintf(b->agent_reason, sizeof(b->agent_reason), "%s", r->reason);
	return ch;
}

/* Append to buf (size bytes, holding *len), truncating; a space between. */
static void __attribute__((format(printf, 4, 5)))
addf(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (*len + 1 >= size)
		return;
	if (*len > 0)
		buf[(*len)++] = ' ';
	buf[*len] = '\0';
	va_start(ap, fmt);
	w = vsnprintf(buf + *len, size - *len, fmt, ap);
	va_end(ap);
	if (w > 0)
		*len += (size_t)w < size - *len ? (size_t)w : size - *len - 1;
}

char *
agent_describe(const struct agent_reply *r, char *buf, size_t size)
{
	size_t len = 0;

	if (size == 0)
		return buf;
	buf[0] = '\0';
	if (r->weight_pct >= 0)
		addf(buf, size, &len, "%d%%", r->weight_pct);
	if (r->maxconn >= 0)
		addf(buf, size, &len, "maxconn:%d", r->maxconn);
	if (r->has_admin)
		addf(buf, size, &len, "%s", agent_admin_name(r->admin));
	if (r->op != AGENT_OP_NONE)
		addf(buf, size, &len, "%s", agent_op_name(r->op));
	if (r->has_reason)
		addf(buf, size, &len, "#%s", r->reason);
	if (len == 0)
		addf(buf, size, &len, "empty reply");
	if (r->note[0] != '\0')
		addf(buf, size, &len, "(ignored: %s)", r->note);
	return buf;
}

const char *
agent_admin_name(enum be_admin a)
{
	switch (a) {
	case BE_ADMIN_READY:
		return "ready";
	case BE_ADMIN_DRAIN:
		return "drain";
	case BE_ADMIN_MAINT:
		return "maint";
	}
	return "";
}

const char *
agent_op_name(enum agent_op op)
{
	switch (op) {
	case AGENT_OP_NONE:
		return "";
	case AGENT_OP_UP:
		return "up";
	case AGENT_OP_DOWN:
		return "down";
	case AGENT_OP_FAIL:
		return "fail";
	case AGENT_OP_STOPPED:
		return "stopped";
	}
	return "";
}
