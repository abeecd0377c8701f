/*
 * sink.c -- see sink.h.
 */
#include <stdarg.h>
#include <stdio.h>

#include "backends/sink.h"

void
sink_notef(const struct pg_sink *s, const char *fmt, ...)
{
	char text[240];
	va_list ap;

	if (s == NULL || s->note == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	s->note(s->arg, text);
}
