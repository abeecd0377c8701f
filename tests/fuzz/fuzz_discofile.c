/*
 * fuzz_discofile.c -- the backends file of discovery (backends/discofile.c).
 *
 * Input: the file's bytes; the first byte, when there is one, also picks
 * the default weight. A valid file must give valid, unique entries that,
 * written out again as "name address weight" lines, parse back the same;
 * a refused one must give an empty list and one-line, printable messages
 * that name the file, no more than the cap.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/discofile.h"

#define FZ_NAME "backends"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(bool ok)
{
	if (!ok)
		abort();
}

static bool
name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CFG_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		    (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '.' ||
		    s[i] == '-'))
			return false;
	return true;
}

static void
check_errors(const struct cfg_errors *errs)
{
	check(errs->n >= 1 && errs->n <= DF_ERRORS_MAX + 1);
	for (size_t i = 0; i < errs->n; i++) {
		const char *m = errs->msg[i];

		check(strncmp(m, FZ_NAME ":", strlen(FZ_NAME ":")) == 0);
		for (; *m != '\0'; m++)
			check(*m >= 0x20 && *m < 0x7f);
	}
}

static void
check_list(const struct df_list *l)
{
	check(l->n <= DF_MAX_ENTRIES);
	check((l->n == 0) == (l->e == NULL));
	for (size_t i = 0; i < l->n; i++) {
		const struct df_entry *e = &l->e[i];
		struct cfg_addr a;
		char back[DF_ADDR_MAX];

		check(name_ok(e->name));
		check(e->weight >= DF_WEIGHT_MIN && e->weight <= DF_WEIGHT_MAX);
		check(i == 0 || e->line > l->e[i - 1].line);
		check(cfg_parse_addr(e->address, false, &a) == 0);
		check(df_addr_usable(&a.ss));
		/* the text is canonical: it writes back the same */
		check(inet_ntop(a.ss.ss_family, a.ss.ss_family == AF_INET ?
		    (void *)&((struct sockaddr_in *)&a.ss)->sin_addr :
		    (void *)&((struct sockaddr_in6 *)&a.ss)->sin6_addr,
		    back, sizeof(back)) != NULL);
		check(strcmp(back, e->address) == 0);
		for (size_t j = 0; j < i; j++) {
			check(strcmp(l->e[j].name, e->name) != 0);
			check(strcmp(l->e[j].address, e->address) != 0);
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct df_list l = { NULL, 0 }, l2 = { NULL, 0 };
	struct cfg_errors errs = { NULL, 0 }, errs2 = { NULL, 0 };
	int dw = size > 0 ? 1 + data[0] % DF_WEIGHT_MAX : 1;
	char *out = NULL;
	size_t outlen = 0;
	FILE *f;

	if (df_parse((const char *)data, size, FZ_NAME, dw, &l, &errs) != 0) {
		check(l.n == 0 && l.e == NULL);
		check_errors(&errs);
		goto done;
	}
	check(errs.n == 0);
	check_list(&l);

	/* Written out plainly, the list reads back the same. */
	if ((f = open_memstream(&out, &outlen)) == NULL)
		goto done;
	for (size_t i = 0; i < l.n; i++)
		fprintf(f, "%s %s %d\n", l.e[i].name, l.e[i].address,
		    l.e[i].weight);
	if (fclose(f) != 0)
		goto done;
	check(df_parse(out, outlen, FZ_NAME, dw, &l2, &errs2) == 0);
	check(l2.n == l.n);
	for (size_t i = 0; i < l.n; i++) {
		check(strcmp(l.e[i].name, l2.e[i].name) == 0);
		check(strcmp(l.e[i].address, l2.e[i].address) == 0);
		check(l.e[i].weight == l2.e[i].weight);
		check(l2.e[i].line == (int)i + 1);
	}
done:
	free(out);
	df_list_free(&l);
	df_list_free(&l2);
	cfg_errors_free(&errs);
	cfg_errors_free(&errs2);
	return 0;
}
