/*
 * discofile.c -- the backends file of discovery: parsing (see discofile.h).
 *
 * Pure: bytes in, a list or a list of errors out. Duplicates are found with
 * two small open-addressing tables (names, binary addresses) sized from the
 * number of lines, so a file of DF_MAX_ENTRIES VMs costs linear time.
 */
#include <arpa/inet.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backends/discofile.h"
#include "lib/text.h"

#define DF_QUOTE_MAX 40         /* bytes of a field shown in a message */
#define DF_BOM       "\xef\xbb\xbf"
#define DF_SYNTAX    "expected: name address [weight]"

/* An address as bytes, to compare "fd00::6" with "fd00:0::6". */
struct df_key {
	int           family;
	unsigned char a[16];
};

struct df_parser {
	const char        *fname;
	int                default_weight;
	struct cfg_errors *errs;
	size_t             nerr;        /* errors found, reported or not */
	bool               failed;      /* out of memory, or file too large */
	bool               full;        /* DF_MAX_ENTRIES reached (reported once) */
	struct df_entry   *e;
	struct df_key     *key;         /* parallel to e */
	size_t             n, cap;
	int               *hname;       /* index into e, -1 when free */
	int               *haddr;
	size_t             hmask;
};

static void __attribute__((format(printf, 3, 4)))
df_error(struct df_parser *p, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	p->nerr++;
	if (p->nerr > DF_ERRORS_MAX)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (line > 0)
		cfg_errors_add(p->errs, "%s:%d: %s", p->fname, line, msg);
	else
		cfg_errors_add(p->errs, "%s: %s", p->fname, msg);
}

/*
 * s[0..len) between double quotes for a message: printable ASCII as is
 * ('"' and '\' escaped), other bytes as \xNN, cut after DF_QUOTE_MAX bytes
 * with "...". out holds at least DF_QUOTE_MAX * 4 + 8 bytes.
 */
static const char *
df_quote(const char *s, size_t len, char *out, size_t outlen)
{
	size_t i, o = 0;

	out[o++] = '"';
	for (i = 0; i < len && i < DF_QUOTE_MAX && o + 6 < outlen; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c >= 0x20 && c < 0x7f) {
			out[o++] = (char)c;
		} else {
			o += (size_t)snprintf(out + o, outlen - o, "\\x%02x", c);
		}
	}
	out[o++] = '"';
	if (i < len && o + 4 <= outlen) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

#define QUOTE_BUF (DF_QUOTE_MAX * 4 + 8)


bool
df_addr_usable(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		uint32_t a = ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr);

		return a != 0 && a != 0xffffffffu && (a >> 28) != 0xe;
	}
	if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;

		return !IN6_IS_ADDR_UNSPECIFIED(a) && !IN6_IS_ADDR_MULTICAST(a);
	}
	return false;
}

static uint32_t
df_hash(const void *p, size_t len)
{
	const unsigned char *s = p;
	uint32_t h = 2166136261u;       /* FNV-1a */
	size_t i;

	for (i = 0; i < len; i++) {
		h ^= s[i];
		h *= 16777619u;
	}
	return h;
}

/*
 * The slot of `name` in the name table: the index of the entry holding it,
 * or -1 (and *slot is where it would go).
 */
static int
df_find_name(const struct df_parser *p, const char *name, size_t *slot)
{
	size_t i = df_hash(name, strlen(name)) & p->hmask;

	while (p->hname[i] != -1) {
		if (strcmp(p->e[p->hname[i]].name, name) == 0)
			break;
		i = (i + 1) & p->hmask;
	}
	*slot = i;
	return p->hname[i];
}

static int
df_find_addr(const struct df_parser *p, const struct df_key *k, size_t *slot)
{
	size_t i = df_hash(k, sizeof(*k)) & p->hmask;

	while (p->haddr[i] != -1) {
		if (memcmp(&p->key[p->haddr[i]], k, sizeof(*k)) == 0)
			break;
		i = (i + 1) & p->hmask;
	}
	*slot = i;
	return p->haddr[i];
}

/* Decimal digits only; false on anything else. Large values saturate. */
static bool
df_parse_uint(const char *s, size_t len, long *v)
{
	long x = 0;
	size_t i;

	if (len == 0)
		return false;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		if (x <= 1000000)
			x = x * 10 + (s[i] - '0');
	}
	*v = x;
	return true;
}

/* One line without its end; already known to fit DF_LINE_MAX. */
static void
df_line(struct df_parser *p, const char *s, size_t len, int line)
{
	const char *f[3];
	size_t fl[3], nf = 0, i = 0, slot_n, slot_a;
	char q[QUOTE_BUF], text[DF_ADDR_MAX], atext[DF_ADDR_MAX + 2];
	struct cfg_addr a;
	struct df_key k;
	struct df_entry *e;
	long w = p->default_weight;
	int other;

	while (i < len) {
		size_t start;

		while (i < len && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i == len || s[i] == '#')
			break;
		start = i;
		while (i < len && s[i] != ' ' && s[i] != '\t')
			i++;
		if (nf == 3) {
			df_error(p, line, "%s after the weight is one field too many "
			    "(" DF_SYNTAX ")", df_quote(s + start, i - start, q,
			    sizeof(q)));
			return;
		}
		f[nf] = s + start;
		fl[nf] = i - start;
		nf++;
	}
	if (nf == 0)
		return;         /* blank or comment */

	if (!pg_name_valid_n(f[0], fl[0], CFG_NAME_MAX)) {
		df_error(p, line, "%s is not a VM name (expected 1 to %d of "
		    PG_NAME_RULE ")", df_quote(f[0], fl[0], q, sizeof(q)),
		    CFG_NAME_MAX);
		return;
	}
	if (nf == 1) {
		df_error(p, line, "VM %.*s has no address (" DF_SYNTAX ")",
		    (int)fl[0], f[0]);
		return;
	}
	/* cfg_parse_addr() wants a string: one that fits, without a NUL byte */
	memset(&a, 0, sizeof(a));
	if (fl[1] < sizeof(atext) && memchr(f[1], '\0', fl[1]) == NULL) {
		memcpy(atext, f[1], fl[1]);
		atext[fl[1]] = '\0';
	} else {
		atext[0] = '\0';
	}
	if (atext[0] == '\0' || cfg_parse_addr(atext, false, &a) != 0) {
		df_error(p, line, "%s is not an IP address (expected a numeric "
		    "IPv4 or IPv6 address)", df_quote(f[1], fl[1], q, sizeof(q)));
		return;
	}
	if (!df_addr_usable(&a.ss)) {
		df_error(p, line, "%s is not the address of a VM (expected a "
		    "unicast address, not 0.0.0.0, ::, broadcast or multicast)",
		    df_quote(f[1], fl[1], q, sizeof(q)));
		return;
	}
	if (nf == 3) {
		if (!df_parse_uint(f[2], fl[2], &w)) {
			df_error(p, line, "%s is not a weight (expected an integer "
			    "from %d to %d)", df_quote(f[2], fl[2], q, sizeof(q)),
			    DF_WEIGHT_MIN, DF_WEIGHT_MAX);
			return;
		}
		if (w < DF_WEIGHT_MIN || w > DF_WEIGHT_MAX) {
			df_error(p, line, "weight %s is out of range (expected %d "
			    "to %d)", df_quote(f[2], fl[2], q, sizeof(q)),
			    DF_WEIGHT_MIN, DF_WEIGHT_MAX);
			return;
		}
	}

	memset(&k, 0, sizeof(k));
	k.family = a.ss.ss_family;
	if (k.family == AF_INET) {
		memcpy(k.a, &((struct sockaddr_in *)&a.ss)->sin_addr, 4);
	} else {
		memcpy(k.a, &((struct sockaddr_in6 *)&a.ss)->sin6_addr, 16);
	}
	if (inet_ntop(k.family, k.a, text, sizeof(text)) == NULL) {
		df_error(p, line, "cannot write the address back as text");
		return;
	}

	/* The table's entry is written only once the line is known good. */
	if (p->n == p->cap) {
		if (!p->full) {
			df_error(p, line, "more than %d VMs (expected at most %d "
			    "a file)", DF_MAX_ENTRIES, DF_MAX_ENTRIES);
			p->full = true;
		}
		return;
	}
	e = &p->e[p->n];
	memset(e, 0, sizeof(*e));
	memcpy(e->name, f[0], fl[0]);
	if ((other = df_find_name(p, e->name, &slot_n)) != -1) {
		df_error(p, line, "VM %s is already on line %d (expected each "
		    "name once)", e->name, p->e[other].line);
		return;
	}
	if ((other = df_find_addr(p, &k, &slot_a)) != -1) {
		df_error(p, line, "address %s is already the address of %s on "
		    "line %d (expected each address once)", text,
		    p->e[other].name, p->e[other].line);
		return;
	}
	memcpy(e->address, text, sizeof(text));
	e->weight = (int)w;
	e->line = line;
	p->key[p->n] = k;
	p->hname[slot_n] = (int)p->n;
	p->haddr[slot_a] = (int)p->n;
	p->n++;
}

/* Room for every line that may be an entry, and tables twice as large. */
static bool
df_alloc(struct df_parser *p, const char *buf, size_t len)
{
	size_t lines = 1, slots = 16, i;
	const char *nl = buf;

	while (len > 0 && (nl = memchr(nl, '\n', len - (size_t)(nl - buf))) != NULL) {
		lines++;
		nl++;
		if (lines > DF_MAX_ENTRIES)
			break;
	}
	p->cap = lines < DF_MAX_ENTRIES ? lines : DF_MAX_ENTRIES;
	while (slots < 2 * p->cap)
		slots *= 2;
	p->hmask = slots - 1;
	p->e = calloc(p->cap, sizeof(*p->e));
	p->key = calloc(p->cap, sizeof(*p->key));
	p->hname = malloc(slots * sizeof(*p->hname));
	p->haddr = malloc(slots * sizeof(*p->haddr));
	if (p->e == NULL || p->key == NULL || p->hname == NULL ||
	    p->haddr == NULL)
		return false;
	for (i = 0; i < slots; i++)
		p->hname[i] = p->haddr[i] = -1;
	return true;
}

int
df_parse(const char *buf, size_t len, const char *fname, int default_weight,
    struct df_list *out, struct cfg_errors *errs)
{
	struct df_parser p;
	size_t pos = 0;
	int line = 0, rc = -1;

	memset(out, 0, sizeof(*out));
	memset(&p, 0, sizeof(p));
	p.fname = fname;
	p.default_weight = default_weight;
	p.errs = errs;
	if (default_weight < DF_WEIGHT_MIN || default_weight > DF_WEIGHT_MAX) {
		df_error(&p, 0, "default weight %d is out of range (expected %d "
		    "to %d)", default_weight, DF_WEIGHT_MIN, DF_WEIGHT_MAX);
		goto out;
	}
	if (len > DF_FILE_MAX) {
		df_error(&p, 0, "the file is larger than %zu bytes (expected at "
		    "most %d VMs of at most %d bytes a line)", DF_FILE_MAX,
		    DF_MAX_ENTRIES, DF_LINE_MAX);
		goto out;
	}
	if (!df_alloc(&p, buf, len)) {
		df_error(&p, 0, "out of memory");
		goto out;
	}
	if (len >= 3 && memcmp(buf, DF_BOM, 3) == 0)
		pos = 3;
	while (pos < len) {
		const char *s = buf + pos, *nl = memchr(s, '\n', len - pos);
		size_t l = nl != NULL ? (size_t)(nl - s) : len - pos;

		pos += l + (nl != NULL);
		line++;
		if (l > 0 && s[l - 1] == '\r')
			l--;            /* CRLF */
		if (l > DF_LINE_MAX) {
			df_error(&p, line, "the line is %zu bytes long (expected at "
			    "most %d bytes a line)", l, DF_LINE_MAX);
			continue;
		}
		df_line(&p, s, l, line);
	}
	if (p.nerr > DF_ERRORS_MAX)
		cfg_errors_add(errs, "%s: %zu more errors not shown", fname,
		    p.nerr - DF_ERRORS_MAX);
	if (p.nerr == 0) {
		if (p.n > 0) {
			out->e = p.e;
			out->n = p.n;
			p.e = NULL;     /* transferred */
		}
		rc = 0;
	}
out:
	free(p.e);
	free(p.key);
	free(p.hname);
	free(p.haddr);
	return rc;
}

void
df_list_free(struct df_list *l)
{
	if (l == NULL)
		return;
	free(l->e);
	l->e = NULL;
	l->n = 0;
}
