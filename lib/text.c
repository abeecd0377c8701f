/*
 * text.c -- see text.h.
 */
#include <string.h>

#include "lib/text.h"

bool
pg_name_valid(const char *s, size_t max)
{
	size_t n;

	if (s == NULL || (n = strnlen(s, max + 1)) == 0 || n > max ||
	    s[0] == '-' || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.'))
			return false;
	}
	return true;
}
