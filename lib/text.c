/*
 * text.c -- see text.h.
 */
#include <string.h>

#include "lib/text.h"

bool
pg_name_valid(const char *s, size_t max)
{
	return s != NULL && pg_name_valid_n(s, strnlen(s, max + 1), max);
}

bool
pg_name_valid_n(const char *s, size_t n, size_t max)
{
	if (s == NULL || n == 0 || n > max || s[0] == '-' || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}
