/*
 * fuzz_form.c -- the form parser, hu_form_value() (http/httpuser.c), and
 * the login form's user name on top of it.
 *
 * Input: MODE KEY '\n' BODY. Bit 0 of the MODE byte is HU_FORM_STRICT, the
 * rest gives outlen (1 to 128). KEY is the field to look for. BODY, copied
 * into a buffer of exactly its size so that reading past len is caught,
 * is the form.
 *
 * Each call is checked against a plain reference: split the body on '&'
 * and '=', decode each name in full, compare. Also: out is a C string
 * inside outlen on success and all zero otherwise, and strict and lenient
 * agree where they must.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/httpuser.h"

#define KEY_MAX_FUZZ 80

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(int ok)
{
	if (!ok)
		abort();
}

static int
ref_hex(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Decode s[0..n) into d (n bytes of room); *dl bytes decode well, and the
 * result is the error met after them, else HU_FORM_OK.
 */
static enum hu_form
ref_decode(const uint8_t *s, size_t n, uint8_t *d, size_t *dl)
{
	size_t i;

	*dl = 0;
	for (i = 0; i < n; i++) {
		int c = s[i];

		if (c == '+')
			c = ' ';
		else if (c == '%') {
			if (i + 2 >= n || ref_hex(s[i + 1]) < 0 || ref_hex(s[i + 2]) < 0)
				return HU_FORM_ESCAPE;
			c = ref_hex(s[i + 1]) * 16 + ref_hex(s[i + 2]);
			i += 2;
		}
		if (c == 0)
			return HU_FORM_NUL;
		d[(*dl)++] = (uint8_t)c;
	}
	return HU_FORM_OK;
}

/* What hu_form_value() must return; the value goes to val, its size *vl. */
static enum hu_form
ref_form(const uint8_t *b, size_t len, const char *key, size_t outlen,
    bool strict, uint8_t *val, size_t *vl, uint8_t *scratch)
{
	size_t pos = 0, klen = strlen(key);
	bool found = false;

	while (pos < len) {
		size_t end = pos, nend, dl;
		enum hu_form e;

		while (end < len && b[end] != '&')
			end++;
		for (nend = pos; nend < end && b[nend] != '='; nend++)
			;
		if (nend - pos <= HU_FORM_NAME_MAX) {
			e = ref_decode(b + pos, nend - pos, scratch, &dl);
			if (e != HU_FORM_OK && strict)
				return e;
			if (e == HU_FORM_OK && dl == klen && memcmp(scratch, key, klen) == 0) {
				size_t v = nend < end ? nend + 1 : end;

				if (found)
					return HU_FORM_DUPLICATE;
				e = ref_decode(b + v, end - v, val, vl);
				/* outlen - 1 bytes fit: the byte after them is too many */
				if (*vl >= outlen)
					return HU_FORM_TOOLONG;
				if (e != HU_FORM_OK || !strict)
					return e;
				found = true;
			}
		}
		pos = end + 1;
	}
	return found ? HU_FORM_OK : HU_FORM_MISSING;
}

static enum hu_form
run(const char *body, size_t len, const char *key, size_t outlen,
    unsigned flags, char *out)
{
	enum hu_form rc, want;
	uint8_t *val = malloc(len + 1), *scratch = malloc(len + 1);
	size_t vl = 0, i;

	check(val != NULL && scratch != NULL);
	rc = hu_form_value(body, len, key, out, outlen, flags);
	check(rc == HU_FORM_OK || rc == HU_FORM_MISSING || rc == HU_FORM_ESCAPE ||
	    rc == HU_FORM_NUL || rc == HU_FORM_TOOLONG ||
	    (rc == HU_FORM_DUPLICATE && (flags & HU_FORM_STRICT)));
	want = ref_form((const uint8_t *)body, len, key, outlen,
	    (flags & HU_FORM_STRICT) != 0, val, &vl, scratch);
	check(rc == want);
	if (rc == HU_FORM_OK) {
		check(vl < outlen && memcmp(out, val, vl) == 0 && out[vl] == '\0');
	} else {
		for (i = 0; i < outlen; i++)
			check(out[i] == '\0');
	}
	free(val);
	free(scratch);
	return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char key[KEY_MAX_FUZZ + 1], user[HU_NAME_MAX + 1];
	char *body, *out, *lax;
	size_t outlen, klen = 0, len;
	unsigned flags;
	enum hu_form rc, rl;

	if (size < 1)
		return 0;
	flags = (data[0] & 1) ? HU_FORM_STRICT : 0;
	outlen = 1 + (data[0] >> 1);
	data++;
	size--;
	while (size > 0 && *data != '\n' && klen < KEY_MAX_FUZZ) {
		if (*data != '\0')
			key[klen++] = (char)*data;
		data++;
		size--;
	}
	key[klen] = '\0';
	if (size > 0 && *data == '\n') {
		data++;
		size--;
	}
	len = size < 2 * HU_FORM_MAX ? size : 2 * HU_FORM_MAX;
	body = malloc(len + 1);   /* +1: malloc(0) may be NULL */
	out = malloc(outlen);
	lax = malloc(outlen);
	check(body != NULL && out != NULL && lax != NULL);
	memcpy(body, data, len);

	rc = run(body, len, key, outlen, flags, out);
	/* strict finds a value only where lenient finds the same one */
	if (flags & HU_FORM_STRICT) {
		rl = run(body, len, key, outlen, 0, lax);
		if (rc == HU_FORM_OK)
			check(rl == HU_FORM_OK && strcmp(out, lax) == 0);
		if (rl == HU_FORM_MISSING)
			check(rc == HU_FORM_MISSING || rc == HU_FORM_ESCAPE ||
			    rc == HU_FORM_NUL);
	}

	/* the login form's name is the lenient "username", lowercased */
	if (len <= HU_FORM_MAX) {
		char raw[HU_NAME_MAX + 1];
		enum hu_result hr = hu_user_from_form(body, len, user);

		rl = hu_form_value(body, len, "username", raw, sizeof(raw), 0);
		check((hr == HU_ABSENT) == (rl == HU_FORM_MISSING));
		if (hr == HU_FOUND) {
			check(rl == HU_FORM_OK && strlen(user) == strlen(raw));
			check(hu_name_valid(user, strlen(user)));
			for (size_t i = 0; raw[i] != '\0'; i++)
				check(user[i] == ((raw[i] >= 'A' && raw[i] <= 'Z') ?
				    raw[i] - 'A' + 'a' : raw[i]));
		}
	}

	free(body);
	free(out);
	free(lax);
	return 0;
}
