/*
 * html.c -- see html.h.
 */
#include <string.h>

#include <event2/buffer.h>

#include "admin/html.h"
#include "lib/json.h"

/* Append a string literal, without its NUL. */
#define ADD_LIT(out, lit) evbuffer_add((out), (lit), sizeof(lit) - 1)

void
html_escape(struct evbuffer *out, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), k, run;

	while (n > 0) {
		/* copy plain ASCII in runs: most text has nothing to escape */
		for (run = 0; run < n && p[run] >= 0x20 && p[run] < 0x7f &&
		    strchr("&<>\"'", p[run]) == NULL; run++)
			;
		if (run > 0) {
			evbuffer_add(out, p, run);
			p += run;
			n -= run;
			continue;
		}
		k = 1;
		switch (*p) {
		case '&':  ADD_LIT(out, "&amp;"); break;
		case '<':  ADD_LIT(out, "&lt;"); break;
		case '>':  ADD_LIT(out, "&gt;"); break;
		case '"':  ADD_LIT(out, "&quot;"); break;
		case '\'': ADD_LIT(out, "&#39;"); break;
		case '\t':
		case '\n':
		case '\r': ADD_LIT(out, " "); break;
		default:
			if (*p < 0x20 || *p == 0x7f ||
			    (k = json_utf8_seq(p, n)) == 0) {
				ADD_LIT(out, "\xef\xbf\xbd");
				k = 1;
			} else
				evbuffer_add(out, p, k);
		}
		p += k;
		n -= k;
	}
}
