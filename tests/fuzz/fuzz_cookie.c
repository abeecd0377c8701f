/*
 * fuzz_cookie.c -- cookie reading and stripping, user names from request
 * targets and from login forms (http/httpuser.c).
 *
 * Input: NAME '\n' OTHER '\n' REST. NAME is the cookie to read and strip
 * and the user prefix; OTHER another cookie name; REST the Cookie value,
 * the request target and the form body at once.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/httpuser.h"

#define NAME_MAX_FUZZ 64
#define SENTINEL      "sentinel"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int ok)
{
	if (!ok)
		abort();
}

/* Take one '\n'-terminated piece (without NULs) as a C string. */
static void
take_line(const char **p, size_t *len, char out[NAME_MAX_FUZZ + 1])
{
	size_t n = 0;

	while (*len > 0 && **p != '\n' && n < NAME_MAX_FUZZ) {
		if (**p != '\0')
			out[n++] = **p;
		(*p)++;
		(*len)--;
	}
	out[n] = '\0';
	if (*len > 0 && **p == '\n') {
		(*p)++;
		(*len)--;
	}
}

static void
check_user(enum hu_result rc, const char *out)
{
	if (rc == HU_FOUND)
		check(strlen(out) <= HU_NAME_MAX && hu_name_valid(out, strlen(out)));
	else
		check((rc == HU_ABSENT || rc == HU_INVALID) && strcmp(out, SENTINEL) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char name[NAME_MAX_FUZZ + 1], other[NAME_MAX_FUZZ + 1], user[HU_NAME_MAX + 1];
	const char *p = (const char *)data, *v1, *v2;
	size_t len = size, n1, n2, vl1, vl2;
	char *a, *b;
	bool g1, g2;

	take_line(&p, &len, name);
	take_line(&p, &len, other);
	if (len > 2 * HU_FORM_MAX)
		len = 2 * HU_FORM_MAX;
	a = malloc(len + 1);
	b = malloc(len + 1);
	if (a == NULL || b == NULL)
		abort();

	/* strip: never longer, in place == out of place, idempotent, the
	 * named cookie gone, any other cookie's value unchanged */
	memcpy(a, p, len);
	n1 = hu_cookie_strip(a, len, name, a);
	check(n1 <= len);
	n2 = hu_cookie_strip(p, len, name, b);
	check(n2 == n1 && memcmp(a, b, n1) == 0);
	n2 = hu_cookie_strip(a, n1, name, b);
	check(n2 == n1 && memcmp(a, b, n1) == 0);
	if (name[0] != '\0')
		check(!hu_cookie_get(a, n1, name, &v1, &vl1));
	if (strcmp(other, name) != 0) {
		g1 = hu_cookie_get(p, len, other, &v1, &vl1);
		g2 = hu_cookie_get(a, n1, other, &v2, &vl2);
		check(g1 == g2);
		if (g1) {
			check(v1 >= p && v1 + vl1 <= p + len);
			check(vl1 == vl2 && memcmp(v1, v2, vl1) == 0);
		}
	}

	strcpy(user, SENTINEL);
	check_user(hu_user_from_target(p, len, name, user), user);
	strcpy(user, SENTINEL);
	check_user(hu_user_from_target(p, len, "/user/", user), user);
	strcpy(user, SENTINEL);
	check_user(hu_user_from_form(p, len, user), user);

	free(a);
	free(b);
	return 0;
}
