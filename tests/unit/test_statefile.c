/*
 * test_statefile.c -- the affinity state file: format, damage, clocks, files.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "backends/statefile.h"

#define TTL   3600000u                    /* 1h */
#define WALL  UINT64_C(1767000000000)     /* 2025-12-29, UNIX ms */
#define MONO  UINT64_C(900000000)         /* some uptime */
#define MIN   60000u

static struct aff_table *
table(size_t max)
{
	struct aff_table *t = aff_new(max, TTL);

	assert_non_null(t);
	return t;
}

/* Where key points and when it expires; NULL when absent. */
static const char *
where(struct aff_table *t, const char *key, uint64_t now, uint64_t *exp)
{
	const struct aff_entry *e = aff_lookup(t, key, now);

	if (e == NULL)
		return NULL;
	assert_int_equal(e->active, 0);
	if (exp != NULL)
		*exp = e->expires_ms;
	return e->backend;
}

/* A CRC-32 written apart from the module's (bit by bit), to check it. */
static uint32_t
crc32_ref(const char *p, size_t len)
{
	uint32_t c = 0xffffffffu;
	size_t i;
	int k;

	for (i = 0; i < len; i++) {
		c ^= (unsigned char)p[i];
		for (k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
	}
	return ~c;
}

/* Append "<body> <crc>\n" to buf, with a right checksum. */
static void
add_rec(char *buf, size_t cap, const char *body)
{
	size_t n = strlen(buf);

	snprintf(buf + n, cap - n, "%s %08" PRIx32 "\n", body,
	    crc32_ref(body, strlen(body)));
}

static void
parse_str(const char *s, struct aff_table *t, uint64_t mono, uint64_t wall,
    struct sf_report *rep)
{
	sf_parse(s, strlen(s), t, mono, wall, NULL, NULL, rep);
}

/* A table in a known state: idle and active entries, IPv4, IPv6, users. */
static struct aff_table *
sample(void)
{
	struct aff_table *t = table(100);

	assert_int_equal(aff_session_start(t, "ip:192.0.2.7", "vm1", MONO - 1000), 0);
	aff_session_end(t, "ip:192.0.2.7", "vm1", MONO - 10 * MIN);  /* 50 min left */
	assert_int_equal(aff_session_start(t, "ip:2001:db8::1", "vm2", MONO), 0);
	aff_session_end(t, "ip:2001:db8::1", "vm2", MONO - 50 * MIN); /* 10 min left */
	assert_int_equal(aff_session_start(t, "user:alice", "vm-2.a", MONO), 0);
	assert_int_equal(aff_session_start(t, "user:alice", "vm-2.a", MONO), 0);
	assert_int_equal(aff_session_start(t, "user:bob", "vm1", MONO - 1000), 0);
	aff_session_end(t, "user:bob", "vm1", MONO - 1000);          /* ~60 min left */
	assert_int_equal(aff_session_start(t, "ip:10.0.0.9", "vm3", MONO), 0);
	return t;
}

static char tmpdir_tpl[] = "/tmp/pg-sf-XXXXXX";

static char *
mkdir_tmp(void)
{
	char *d = strdup(tmpdir_tpl);

	assert_non_null(d);
	assert_non_null(mkdtemp(d));
	return d;
}

static void
rm_dir(char *d)
{
	char cmd[256];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d);
	assert_int_equal(system(cmd), 0);
	free(d);
}

static char *
path_in(const char *dir, const char *name)
{
	char *p;

	assert_true(asprintf(&p, "%s/%s", dir, name) > 0);
	return p;
}

static void
test_crc_is_zlib(void **state)
{
	struct aff_table *t = table(10);
	struct sf_report rep;
	uint64_t exp;
	char *buf;
	size_t len;

	(void)state;
	assert_int_equal(crc32_ref("123456789", 9), 0xcbf43926u);
	assert_int_equal(crc32_ref("", 0), 0);
	assert_int_equal(crc32_ref("a", 1), 0xe8b7be43u);
	assert_int_equal(crc32_ref("The quick brown fox jumps over the lazy dog",
	    43), 0x414fa339u);
	/* The writer's checksum of a line, against zlib.crc32's. */
	assert_int_equal(aff_restore(t, "user:alice", "vm-2.a", MONO + 1, MONO),
	    0);
	assert_int_equal(sf_serialize(t, MONO, UINT64_C(1767003600000) - 1, &buf,
	    &len), 1);
	assert_string_equal(buf, SF_HEADER "\n"
	    "user:alice vm-2.a 1767003600000 80a68e91\n"
	    "end 1\n");
	free(buf);
	aff_free(t);
	t = table(10);
	/* Checksums from Python's zlib.crc32: the file can be checked by hand. */
	parse_str("poolgate-affinity 1\n"
	    "ip:192.0.2.7 vm1 1767000600000 b81adae4\n"
	    "user:alice vm-2.a 1767003600000 80a68e91\n"
	    "ip:2001:db8::1 vm3 1767000000001 9fa0edc0\n"
	    "end 3\n", t, 5, WALL, &rep);
	assert_int_equal(rep.loaded, 3);
	assert_int_equal(rep.corrupt, 0);
	assert_false(rep.truncated);
	assert_false(rep.bad_header);
	assert_string_equal(where(t, "ip:192.0.2.7", 5, &exp), "vm1");
	assert_int_equal(exp, 5 + 10 * MIN);
	assert_string_equal(where(t, "user:alice", 5, &exp), "vm-2.a");
	assert_int_equal(exp, 5 + TTL);
	assert_string_equal(where(t, "ip:2001:db8::1", 5, &exp), "vm3");
	assert_int_equal(exp, 6);
	aff_free(t);
}

static void
test_round_trip(void **state)
{
	struct aff_table *t = sample(), *u = table(100);
	struct sf_report rep;
	char err[256] = "", *dir = mkdir_tmp(), *path = path_in(dir, SF_FILE_NAME);
	uint64_t exp;

	(void)state;
	assert_int_equal(sf_save(dir, t, MONO, WALL, err, sizeof(err)), 5);
	assert_int_equal(sf_load(path, u, MONO, WALL, NULL, NULL, &rep, err,
	    sizeof(err)), 0);
	assert_int_equal(rep.loaded, 5);
	assert_false(rep.missing || rep.truncated || rep.bad_header ||
	    rep.bad_version || rep.too_large);
	assert_int_equal(rep.corrupt + rep.expired + rep.unknown + rep.duplicate +
	    rep.full, 0);
	assert_int_equal(aff_count(u), 5);

	/* Idle entries keep their remaining time. */
	assert_string_equal(where(u, "ip:192.0.2.7", MONO, &exp), "vm1");
	assert_int_equal(exp, MONO + 50 * MIN);
	assert_string_equal(where(u, "ip:2001:db8::1", MONO, &exp), "vm2");
	assert_int_equal(exp, MONO + 10 * MIN);
	assert_string_equal(where(u, "user:bob", MONO, &exp), "vm1");
	assert_int_equal(exp, MONO - 1000 + TTL);
	/* Entries with sessions come back idle, for a full ttl. */
	assert_string_equal(where(u, "user:alice", MONO, &exp), "vm-2.a");
	assert_int_equal(exp, MONO + TTL);
	assert_string_equal(where(u, "ip:10.0.0.9", MONO, &exp), "vm3");
	assert_int_equal(exp, MONO + TTL);

	/* Saving again replaces the file. */
	assert_int_equal(aff_session_start(t, "user:carol", "vm9", MONO), 0);
	assert_int_equal(sf_save(dir, t, MONO, WALL, err, sizeof(err)), 6);
	aff_free(u);
	u = table(100);
	assert_int_equal(sf_load(path, u, MONO, WALL, NULL, NULL, &rep, err,
	    sizeof(err)), 0);
	assert_int_equal(rep.loaded, 6);
	assert_string_equal(where(u, "user:carol", MONO, NULL), "vm9");
	aff_free(u);
	aff_free(t);
	free(path);
	rm_dir(dir);
}

/*
 * Every line is exactly "<key> <vm> <expiry> <crc %08x>\n", as snprintf
 * would make it: expiries of every length, from one digit to twenty.
 */
static void
test_line_format(void **state)
{
	static const uint64_t walls[] = { 1, 9, 10, 4294967296u,
	    UINT64_C(1767000000000), UINT64_MAX - 1 };
	char *buf, want[256], body[200];
	size_t len;

	(void)state;
	for (size_t i = 0; i < sizeof(walls) / sizeof(walls[0]); i++) {
		struct aff_table *t = table(10);
		uint64_t wall = walls[i] - 1;   /* expiry = wall + 1 ms left */

		assert_int_equal(aff_restore(t, "user:a.b-c_d", "vm-2.a",
		    MONO + 1, MONO), 0);
		assert_int_equal(sf_serialize(t, MONO, wall, &buf, &len), 1);
		snprintf(body, sizeof(body), "user:a.b-c_d vm-2.a %" PRIu64,
		    walls[i]);
		snprintf(want, sizeof(want), "%s\n%s %08" PRIx32 "\nend 1\n",
		    SF_HEADER, body, crc32_ref(body, strlen(body)));
		assert_string_equal(buf, want);
		assert_int_equal(len, strlen(want));
		free(buf);
		aff_free(t);
	}
}

/* The machine restarts: the monotonic clock starts again near 0. */
static void
test_reboot_clocks(void **state)
{
	struct aff_table *t = sample(), *u = table(100);
	struct sf_report rep;
	char *buf;
	size_t len;
	uint64_t exp;

	(void)state;
	assert_int_equal(sf_serialize(t, MONO, WALL, &buf, &len), 5);
	assert_int_equal(strlen(buf), len);
	/* Back 15 minutes later, 7 seconds after boot. */
	sf_parse(buf, len, u, 7000, WALL + 15 * MIN, NULL, NULL, &rep);
	assert_int_equal(rep.loaded, 4);
	assert_int_equal(rep.expired, 1);         /* had 10 minutes left */
	assert_false(rep.truncated);
	assert_null(aff_lookup(u, "ip:2001:db8::1", 7000));
	assert_string_equal(where(u, "ip:192.0.2.7", 7000, &exp), "vm1");
	assert_int_equal(exp, 7000 + 35 * MIN);
	assert_string_equal(where(u, "user:alice", 7000, &exp), "vm-2.a");
	assert_int_equal(exp, 7000 + TTL - 15 * MIN);
	aff_free(u);

	/*
	 * The wall clock stepped back an hour: the remaining time is capped at
	 * the ttl, never more.
	 */
	u = table(100);
	sf_parse(buf, len, u, 7000, WALL - 60 * MIN, NULL, NULL, &rep);
	assert_int_equal(rep.loaded, 5);
	assert_string_equal(where(u, "ip:2001:db8::1", 7000, &exp), "vm2");
	assert_int_equal(exp, 7000 + TTL);
	aff_free(u);

	/* A shorter ttl in the new configuration caps them too. */
	u = table(100);
	aff_set_ttl(u, 20 * MIN);
	sf_parse(buf, len, u, 7000, WALL, NULL, NULL, &rep);
	assert_int_equal(rep.loaded, 5);
	assert_string_equal(where(u, "ip:192.0.2.7", 7000, &exp), "vm1");
	assert_int_equal(exp, 7000 + 20 * MIN);
	assert_string_equal(where(u, "ip:2001:db8::1", 7000, &exp), "vm2");
	assert_int_equal(exp, 7000 + 10 * MIN);
	aff_free(u);

	/* ttl 0: affinities end with their sessions, none comes back. */
	u = aff_new(100, 0);
	assert_non_null(u);
	sf_parse(buf, len, u, 7000, WALL, NULL, NULL, &rep);
	assert_int_equal(rep.loaded, 0);
	assert_int_equal(rep.expired, 5);
	aff_free(u);
	free(buf);
	aff_free(t);
}

static void
test_expiry_boundary(void **state)
{
	struct aff_table *t = table(10);
	struct sf_report rep;
	char buf[1024] = "poolgate-affinity 1\n";
	uint64_t exp;

	(void)state;
	add_rec(buf, sizeof(buf), "user:due vm1 1767000000000");    /* == WALL */
	add_rec(buf, sizeof(buf), "user:past vm1 1");
	add_rec(buf, sizeof(buf), "user:next vm1 1767000000001");   /* WALL + 1 ms */
	strcat(buf, "end 3\n");
	parse_str(buf, t, 50, WALL, &rep);
	assert_int_equal(rep.expired, 2);
	assert_int_equal(rep.loaded, 1);
	assert_null(aff_lookup(t, "user:due", 50));
	assert_string_equal(where(t, "user:next", 50, &exp), "vm1");
	assert_int_equal(exp, 51);
	aff_free(t);
}

static bool
known_cb(const char *name, void *arg)
{
	int *calls = arg;

	(*calls)++;
	return strcmp(name, "vm1") == 0 || strcmp(name, "vm3") == 0;
}

static void
test_unknown_vm_dropped(void **state)
{
	struct aff_table *t = sample(), *u = table(100);
	struct sf_report rep;
	char *buf, line[128];
	size_t len;
	int calls = 0;

	(void)state;
	assert_int_equal(sf_serialize(t, MONO, WALL, &buf, &len), 5);
	sf_parse(buf, len, u, 0, WALL, known_cb, &calls, &rep);
	assert_int_equal(calls, 5);
	assert_int_equal(rep.loaded, 3);
	assert_int_equal(rep.unknown, 2);
	assert_null(aff_lookup(u, "user:alice", 0));
	assert_null(aff_lookup(u, "ip:2001:db8::1", 0));
	assert_string_equal(where(u, "user:bob", 0, NULL), "vm1");
	sf_report_format(&rep, line, sizeof(line));
	assert_string_equal(line, "loaded=3 unknown_vm=2 expired=0 corrupt=0 "
	    "duplicate=0 full=0 truncated=no");
	free(buf);
	aff_free(u);
	aff_free(t);
}

/* Offsets just past each '\n' of buf: where each line ends. */
static size_t
line_ends(const char *buf, size_t len, size_t *ends, size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		if (buf[i] == '\n') {
			assert_true(n < max);
			ends[n++] = i + 1;
		}
	return n;
}

static void
test_truncated_everywhere(void **state)
{
	struct aff_table *t = sample(), *u;
	struct sf_report rep;
	char *buf, *cut;
	size_t len, at, i, ends[16], nlines, complete;

	(void)state;
	assert_int_equal(sf_serialize(t, MONO, WALL, &buf, &len), 5);
	nlines = line_ends(buf, len, ends, 16);
	assert_int_equal(nlines, 7);              /* header, 5 records, end */

	for (at = 0; at <= len; at++) {
		/* An exact-size copy: a read past the cut is a sanitizer error. */
		cut = malloc(at ? at : 1);
		assert_non_null(cut);
		memcpy(cut, buf, at);
		u = table(100);
		sf_parse(cut, at, u, MONO, WALL, NULL, NULL, &rep);

		/* Records whose text is whole (the '\n' may be cut off). */
		complete = 0;
		for (i = 1; i + 1 < nlines; i++)
			if (ends[i] - 1 <= at)
				complete++;
		if (at == len) {
			assert_false(rep.truncated);
			assert_int_equal(rep.loaded, 5);
		} else {
			assert_true(rep.truncated);
			assert_int_equal(rep.loaded, complete);
			/* At most the one cut record is lost. */
			assert_true(rep.corrupt <= 1);
			assert_int_equal(rep.corrupt + rep.loaded,
			    at <= ends[0] ? 0 :
			    complete + (complete < 5 && at > ends[complete]));
		}
		assert_int_equal(aff_count(u), rep.loaded);
		assert_int_equal(rep.bad_header, at < ends[0] - 1);
		/* What was kept is right. */
		for (i = 0; i < complete; i++) {
			char key[AFF_KEY_MAX + 1];
			const char *l = buf + ends[i];
			size_t k = strcspn(l, " ");

			memcpy(key, l, k);
			key[k] = '\0';
			assert_non_null(aff_lookup(u, key, MONO));
		}
		aff_free(u);
		free(cut);
	}
	free(buf);
	aff_free(t);
}

static void
test_corrupt_record_in_middle(void **state)
{
	struct aff_table *t = sample(), *u;
	struct sf_report rep;
	char *buf, *bad;
	size_t len, ends[16], i, pos;

	(void)state;
	assert_int_equal(sf_serialize(t, MONO, WALL, &buf, &len), 5);
	line_ends(buf, len, ends, 16);
	bad = malloc(len + 64);
	assert_non_null(bad);

	/* One flipped bit anywhere in the third record's line (not its '\n'). */
	for (pos = ends[2]; pos < ends[3] - 1; pos++) {
		for (i = 0; i < 8; i++) {
			memcpy(bad, buf, len);
			bad[pos] ^= (char)(1u << i);
			if (bad[pos] == '\n')
				continue;       /* a split line: below */
			u = table(100);
			sf_parse(bad, len, u, MONO, WALL, NULL, NULL, &rep);
			assert_int_equal(rep.loaded, 4);
			assert_int_equal(rep.corrupt, 1);
			assert_false(rep.truncated);
			assert_int_equal(aff_count(u), 4);
			aff_free(u);
		}
	}

	/* Two records run together (the '\n' between them lost): both go. */
	memcpy(bad, buf, len);
	bad[ends[2] - 1] = 'x';
	u = table(100);
	sf_parse(bad, len, u, MONO, WALL, NULL, NULL, &rep);
	assert_int_equal(rep.loaded, 3);
	assert_int_equal(rep.corrupt, 1);
	assert_true(rep.truncated);               /* 4 lines where "end" says 5 */
	aff_free(u);

	/* A garbage line slipped in: it alone is lost. */
	memcpy(bad, buf, ends[3]);
	memcpy(bad + ends[3], "\x01\xff garbage\n", 11);
	memcpy(bad + ends[3] + 11, buf + ends[3], len - ends[3]);
	u = table(100);
	sf_parse(bad, len + 11, u, MONO, WALL, NULL, NULL, &rep);
	assert_int_equal(rep.loaded, 5);
	assert_int_equal(rep.corrupt, 1);
	assert_true(rep.truncated);
	aff_free(u);

	/* Lines after "end" are not read. */
	memcpy(bad, buf, len);
	memcpy(bad + len, buf + ends[0], ends[1] - ends[0]);
	u = table(100);
	sf_parse(bad, len + ends[1] - ends[0], u, MONO, WALL, NULL, NULL, &rep);
	assert_int_equal(rep.loaded, 5);
	assert_int_equal(rep.corrupt, 1);
	assert_false(rep.truncated);
	aff_free(u);
	free(bad);
	free(buf);
	aff_free(t);
}

static void
test_record_validation(void **state)
{
	static const char *bad[] = {
		"cookie:abc vm1 1767003600000",         /* unknown key kind */
		"ip:999.0.2.7 vm1 1767003600000",       /* not an address */
		"ip: vm1 1767003600000",
		"ip:192.0.2.7x vm1 1767003600000",
		"user:-x vm1 1767003600000",            /* not a login name */
		"user: vm1 1767003600000",
		"user:a$b vm1 1767003600000",
		"user:alice vm/1 1767003600000",        /* bad VM name */
		"user:alice vm1 18446744073709551616",  /* overflow */
		"user:alice vm1 +1767003600000",
		"user:alice vm1 ",
		"user:alice vm1",
		"user:alice  vm1 1767003600000",        /* two spaces */
		"user:alice vm1 1767003600000 extra",
		" user:alice vm1 1767003600000",
		"user:alice\tvm1 1767003600000",
		("user:bob bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
		    " 1767003600000"),                  /* 64-byte VM name */
	};
	struct aff_table *t = table(100);
	struct sf_report rep;
	char buf[8192] = "poolgate-affinity 1\n", body[512], line[160];
	size_t i, n;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		add_rec(buf, sizeof(buf), bad[i]);
	/* Limits that still pass. */
	add_rec(buf, sizeof(buf), "user:bob$ vm1 1767003600000");
	add_rec(buf, sizeof(buf), "user:Bob_2.x-y vm1 1767003600000");
	add_rec(buf, sizeof(buf), "ip:::ffff:192.0.2.1 vm1 1767003600000");
	add_rec(buf, sizeof(buf), "user:carol vm1 18446744073709551615");
	add_rec(buf, sizeof(buf), "user:dave "
	    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	    " 1767003600000");                      /* 63-byte VM name */
	/* Key of exactly AFF_KEY_MAX bytes, and one more. */
	memset(body, 0, sizeof(body));
	memcpy(body, "user:", 5);
	memset(body + 5, 'u', AFF_KEY_MAX - 5);
	strcat(body, " vm1 1767003600000");
	add_rec(buf, sizeof(buf), body);
	memset(body, 0, sizeof(body));
	memcpy(body, "user:", 5);
	memset(body + 5, 'u', AFF_KEY_MAX - 4);
	strcat(body, " vm1 1767003600000");
	add_rec(buf, sizeof(buf), body);
	/* Checksums must be eight lowercase hex digits. */
	n = strlen(buf);
	snprintf(buf + n, sizeof(buf) - n, "user:erin vm1 1767003600000 %08" PRIX32
	    "\n", crc32_ref("user:erin vm1 1767003600000", 27));
	n = strlen(buf);
	snprintf(buf + n, sizeof(buf) - n, "user:erin vm1 1767003600000 %07" PRIx32
	    "\n", crc32_ref("user:erin vm1 1767003600000", 27) & 0xfffffff);
	strcat(buf, "user:erin vm1 1767003600000 \n");
	strcat(buf, "user:erin vm1 1767003600000\n");
	n = strlen(buf);
	/* The line count includes every record line above. */
	snprintf(buf + n, sizeof(buf) - n, "end %zu\n",
	    sizeof(bad) / sizeof(bad[0]) + 7 + 4);

	parse_str(buf, t, 0, WALL, &rep);
	assert_int_equal(rep.loaded, 6);
	assert_int_equal(rep.corrupt, sizeof(bad) / sizeof(bad[0]) + 1 + 4);
	assert_false(rep.truncated);
	assert_non_null(aff_lookup(t, "user:bob$", 0));
	assert_non_null(aff_lookup(t, "user:Bob_2.x-y", 0));
	assert_non_null(aff_lookup(t, "ip:::ffff:192.0.2.1", 0));
	assert_non_null(aff_lookup(t, "user:carol", 0));
	assert_null(aff_lookup(t, "user:erin", 0));
	sf_report_format(&rep, line, sizeof(line));
	assert_string_equal(line, "loaded=6 unknown_vm=0 expired=0 corrupt=22 "
	    "duplicate=0 full=0 truncated=no");
	aff_free(t);
}

static void
test_headers(void **state)
{
	struct aff_table *t;
	struct sf_report rep;
	char recs[512] = "", buf[1024];
	char line[160];

	(void)state;
	add_rec(recs, sizeof(recs), "user:alice vm1 1767003600000");
	add_rec(recs, sizeof(recs), "user:bob vm2 1767003600000");

	/* Another version: nothing is read, even records that look right. */
	t = table(10);
	snprintf(buf, sizeof(buf), "poolgate-affinity 2\n%send 2\n", recs);
	parse_str(buf, t, 0, WALL, &rep);
	assert_true(rep.bad_version);
	assert_int_equal(rep.loaded + rep.corrupt, 0);
	assert_int_equal(aff_count(t), 0);
	sf_report_format(&rep, line, sizeof(line));
	assert_non_null(strstr(line, "header=other_version"));
	aff_free(t);

	/* A damaged header: the checksummed records still count. */
	t = table(10);
	snprintf(buf, sizeof(buf), "poolgate-affinitx 1\n%send 2\n", recs);
	parse_str(buf, t, 0, WALL, &rep);
	assert_true(rep.bad_header);
	assert_false(rep.bad_version);
	assert_false(rep.truncated);
	assert_int_equal(rep.loaded, 2);
	aff_free(t);

	/* The header alone: no records, and no end. */
	t = table(10);
	parse_str("poolgate-affinity 1\n", t, 0, WALL, &rep);
	assert_false(rep.bad_header);
	assert_true(rep.truncated);
	assert_int_equal(rep.loaded, 0);
	aff_free(t);

	/* An empty table: header and "end 0". */
	t = table(10);
	parse_str("poolgate-affinity 1\nend 0\n", t, 0, WALL, &rep);
	assert_false(rep.bad_header || rep.truncated);
	aff_free(t);

	/* An empty file is a truncated one. */
	t = table(10);
	sf_parse(NULL, 0, t, 0, WALL, NULL, NULL, &rep);
	assert_true(rep.bad_header);
	assert_true(rep.truncated);
	assert_int_equal(rep.loaded + rep.corrupt, 0);
	aff_free(t);
}

static void
test_duplicates_and_full(void **state)
{
	struct aff_table *t = table(2);
	struct sf_report rep;
	char buf[1024] = "poolgate-affinity 1\n";

	(void)state;
	/* Already live in the table: it stays as it is. */
	assert_int_equal(aff_session_start(t, "user:zed", "vm7", 0), 0);
	add_rec(buf, sizeof(buf), "user:zed vm1 1767003600000");
	add_rec(buf, sizeof(buf), "user:alice vm1 1767003600000");
	add_rec(buf, sizeof(buf), "user:alice vm2 1767003000000");  /* first wins */
	add_rec(buf, sizeof(buf), "user:bob vm1 1767003600000");    /* no room */
	strcat(buf, "end 4\n");
	parse_str(buf, t, 0, WALL, &rep);
	assert_int_equal(rep.loaded, 1);
	assert_int_equal(rep.duplicate, 2);
	assert_int_equal(rep.full, 1);
	assert_string_equal(aff_lookup(t, "user:zed", 0)->backend, "vm7");
	assert_string_equal(where(t, "user:alice", 0, NULL), "vm1");
	assert_null(aff_lookup(t, "user:bob", 0));
	aff_free(t);
}

static void
test_long_line(void **state)
{
	struct aff_table *t = table(10);
	struct sf_report rep;
	char buf[4096] = "poolgate-affinity 1\n";
	size_t n;

	(void)state;
	n = strlen(buf);
	memset(buf + n, 'x', SF_LINE_MAX);       /* one byte past the cap */
	buf[n + SF_LINE_MAX] = '\0';
	strcat(buf, "\n");
	add_rec(buf, sizeof(buf), "user:alice vm1 1767003600000");
	strcat(buf, "end 2\n");
	parse_str(buf, t, 0, WALL, &rep);
	assert_int_equal(rep.corrupt, 1);
	assert_int_equal(rep.loaded, 1);
	assert_false(rep.truncated);
	aff_free(t);
}

static void
test_garbage(void **state)
{
	struct aff_table *t;
	struct sf_report rep;
	unsigned char junk[4096];
	uint64_t s = 88172645463325252u;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(junk); i++) {
		s ^= s << 13;
		s ^= s >> 7;
		s ^= s << 17;
		junk[i] = (unsigned char)s;
	}
	t = table(10);
	sf_parse((const char *)junk, sizeof(junk), t, 0, WALL, NULL, NULL, &rep);
	assert_int_equal(rep.loaded, 0);
	assert_true(rep.bad_header);
	assert_true(rep.truncated);
	assert_int_equal(aff_count(t), 0);
	aff_free(t);

	t = table(10);
	parse_str("GET / HTTP/1.1\r\nHost: x\r\n\r\n", t, 0, WALL, &rep);
	assert_int_equal(rep.loaded, 0);
	assert_true(rep.bad_header && rep.truncated);
	assert_int_equal(rep.corrupt, 2);         /* the first line is the header's */
	aff_free(t);

	/* NULs inside a line are just bad bytes. */
	t = table(10);
	sf_parse("poolgate-affinity 1\n\0\0\0\nend 1\n", 30, t, 0, WALL, NULL,
	    NULL, &rep);
	assert_int_equal(rep.corrupt, 1);
	assert_false(rep.truncated);
	aff_free(t);
}

static void
test_serialize_skips(void **state)
{
	struct aff_table *t = aff_new(10, 0), *u = table(10);
	struct sf_report rep;
	char *buf;
	size_t len;

	(void)state;
	assert_non_null(t);
	/* Keys that would not load back, and entries that would be expired. */
	assert_int_equal(aff_session_start(t, "k", "vm1", 0), 0);
	assert_int_equal(aff_session_start(t, "user:has space", "vm1", 0), 0);
	assert_int_equal(aff_session_start(t, "user:alice", "vm1", 0), 0);  /* ttl 0 */
	aff_set_ttl(t, 100);
	assert_int_equal(aff_session_start(t, "user:bob", "vm1", 0), 0);
	assert_int_equal(aff_session_start(t, "user:gone", "vm1", 0), 0);
	aff_session_end(t, "user:gone", "vm1", 0);          /* expired at 100 */
	assert_int_equal(sf_serialize(t, 100, WALL, &buf, &len), 2);
	assert_non_null(strstr(buf, "user:bob vm1 1767000000100 "));
	assert_non_null(strstr(buf, "user:alice vm1 1767000000100 "));
	assert_non_null(strstr(buf, "\nend 2\n"));
	assert_int_equal(strncmp(buf, SF_HEADER "\n", sizeof(SF_HEADER)), 0);
	sf_parse(buf, len, u, 100, WALL, NULL, NULL, &rep);
	assert_int_equal(rep.loaded, 2);
	free(buf);

	/* With ttl 0 an entry with sessions would come back expired. */
	aff_set_ttl(t, 0);
	assert_int_equal(sf_serialize(t, 100, WALL, &buf, &len), 0);
	assert_string_equal(buf, SF_HEADER "\nend 0\n");
	free(buf);
	aff_free(u);
	aff_free(t);
}

/* Every fill level of the serialiser's buffer, under the sanitizers. */
static void
test_serialize_sizes(void **state)
{
	struct aff_table *t, *u;
	struct sf_report rep;
	char key[AFF_KEY_MAX + 1], *buf;
	size_t n, i, len;

	(void)state;
	for (n = 0; n <= 160; n++) {
		t = table(200);
		u = table(200);
		for (i = 0; i < n; i++) {
			/* Lines of 45 to 160 bytes: the ends land everywhere. */
			snprintf(key, sizeof(key), "user:u%03zu", i);
			memset(key + 9, 'u', (i * 37) % 116);
			key[9 + (i * 37) % 116] = '\0';
			assert_int_equal(aff_session_start(t, key, "vm1", 0), 0);
		}
		assert_int_equal(sf_serialize(t, 0, WALL, &buf, &len), (long)n);
		assert_int_equal(strlen(buf), len);
		sf_parse(buf, len, u, 0, WALL, NULL, NULL, &rep);
		assert_int_equal(rep.loaded, n);
		assert_false(rep.truncated);
		free(buf);
		aff_free(u);
		aff_free(t);
	}
}

/* A table larger than the serialiser's first buffer. */
static void
test_many(void **state)
{
	enum { N = 20000 };
	struct aff_table *t = aff_new(N, TTL), *u = aff_new(N, TTL);
	struct sf_report rep;
	char key[64], *buf;
	size_t len, i;

	(void)state;
	assert_non_null(t);
	assert_non_null(u);
	for (i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "ip:10.%zu.%zu.%zu", i >> 16,
		    (i >> 8) & 255, i & 255);
		assert_int_equal(aff_session_start(t, key, "vm1", 0), 0);
		aff_session_end(t, key, "vm1", i);
	}
	/* At TTL key i has i ms left; key 0 has expired. */
	assert_int_equal(sf_serialize(t, TTL, WALL, &buf, &len), N - 1);
	sf_parse(buf, len, u, 0, WALL, NULL, NULL, &rep);
	assert_int_equal(rep.loaded, N - 1);
	assert_false(rep.truncated);
	assert_int_equal(aff_expire(u, 0), 0);
	assert_int_equal(aff_expire(u, 1), 1);
	assert_int_equal(aff_expire(u, N - 2), N - 3);
	assert_int_equal(aff_count(u), 1);
	free(buf);
	aff_free(u);
	aff_free(t);
}

/* A snapshot taken in slices writes what sf_serialize writes. */
static void
test_snapshot_same_as_serialize(void **state)
{
	struct aff_table *t = aff_new(3000, 100);
	struct aff_scan sc = { 0 };
	struct sf_snap *s = sf_snap_new();
	char key[64], *a, *b;
	size_t alen, blen, i, slices = 0;
	int rc;

	(void)state;
	assert_non_null(t);
	assert_non_null(s);
	assert_int_equal(aff_session_start(t, "k", "vm1", 0), 0);   /* bad key */
	assert_int_equal(aff_session_start(t, "user:gone", "vm1", 0), 0);
	aff_session_end(t, "user:gone", "vm1", 0);                  /* expired */
	for (i = 0; i < 2500; i++) {
		snprintf(key, sizeof(key), "ip:10.0.%zu.%zu", i >> 8, i & 255);
		assert_int_equal(aff_session_start(t, key, i % 2 ? "vm1" : "vm-2",
		    0), 0);
		if (i % 3)
			aff_session_end(t, key, i % 2 ? "vm1" : "vm-2", i % 90);
	}
	do {
		sf_snap_clock(s, 100, WALL, aff_ttl(t));
		rc = aff_scan(t, &sc, 100, 64, sf_snap_put, s);
		slices++;
	} while (rc == 0);
	assert_int_equal(rc, 1);
	assert_true(slices > 2500 / 64 / 2);
	assert_false(sf_snap_failed(s));
	assert_int_equal(sf_serialize(t, 100, WALL, &a, &alen),
	    sf_snap_serialize(s, &b, &blen));
	/* The walk orders differ only if the table does; here both are one. */
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);
	free(a);
	free(b);
	sf_snap_free(s);
	aff_free(t);
}

/*
 * A snapshot bigger than one of its chunks (256 KiB) keeps every record
 * whole across the chunk boundaries: long keys of every length, so records
 * end at every offset near the end of a chunk.
 */
static void
test_snapshot_many_chunks(void **state)
{
	struct aff_table *t = aff_new(8000, 100);
	struct aff_scan sc = { 0 };
	struct sf_snap *s = sf_snap_new();
	char key[AFF_KEY_MAX + 1], *a, *b;
	size_t alen, blen, i, klen;
	int rc;

	(void)state;
	assert_non_null(t);
	assert_non_null(s);
	for (i = 0; i < 8000; i++) {
		klen = (size_t)snprintf(key, sizeof(key), "user:u%zu-", i);
		while (klen < 60 + i % (AFF_KEY_MAX - 60))
			key[klen++] = (char)('a' + i % 26);
		key[klen] = '\0';
		assert_int_equal(aff_session_start(t, key, "vm1", 0), 0);
		aff_session_end(t, key, "vm1", i % 50);
	}
	do {
		sf_snap_clock(s, 10, WALL, aff_ttl(t));
		rc = aff_scan(t, &sc, 10, 100, sf_snap_put, s);
	} while (rc == 0);
	assert_int_equal(rc, 1);
	assert_false(sf_snap_failed(s));
	assert_int_equal(sf_snap_count(s), 8000);
	assert_int_equal(sf_serialize(t, 10, WALL, &a, &alen),
	    sf_snap_serialize(s, &b, &blen));
	assert_true(blen > 3 * 256 * 1024);   /* several chunks */
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);
	free(b);

	/* Reset (a copy that starts over): empty, then the same bytes again. */
	sf_snap_reset(s);
	assert_int_equal(sf_snap_count(s), 0);
	assert_int_equal(sf_snap_serialize(s, &b, &blen), 0);
	free(b);
	memset(&sc, 0, sizeof(sc));
	do {
		sf_snap_clock(s, 10, WALL, aff_ttl(t));
		rc = aff_scan(t, &sc, 10, 100, sf_snap_put, s);
	} while (rc == 0);
	assert_int_equal(sf_snap_count(s), 8000);
	assert_int_equal(sf_snap_serialize(s, &b, &blen), 8000);
	assert_int_equal(alen, blen);
	assert_memory_equal(a, b, alen);
	free(a);
	free(b);
	sf_snap_free(s);
	aff_free(t);
}

static void
test_file_mode_and_tmp(void **state)
{
	struct aff_table *t = sample();
	struct stat st;
	char err[256], *dir = mkdir_tmp();
	char *path = path_in(dir, SF_FILE_NAME), *tmp = path_in(dir, SF_FILE_NAME ".tmp");
	char *other = path_in(dir, "elsewhere");
	mode_t old = umask(0);
	int fd;

	(void)state;
	/* A stale temporary file of another mode, and one that is a symlink. */
	fd = open(tmp, O_WRONLY | O_CREAT, 0666);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "junk", 4), 4);
	close(fd);
	assert_int_equal(sf_save(dir, t, MONO, WALL, err, sizeof(err)), 5);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(lstat(tmp, &st), -1);
	assert_int_equal(errno, ENOENT);

	assert_int_equal(symlink(other, tmp), 0);
	assert_int_equal(sf_save(dir, t, MONO, WALL, err, sizeof(err)), 5);
	assert_int_equal(lstat(other, &st), -1);  /* not written through */
	assert_int_equal(lstat(tmp, &st), -1);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	umask(old);
	free(other);
	free(tmp);
	free(path);
	aff_free(t);
	rm_dir(dir);
}

static void
test_save_errors(void **state)
{
	struct aff_table *t = sample(), *u;
	struct sf_report rep;
	struct stat st;
	char err[256], *dir = mkdir_tmp(), *missing = path_in(dir, "nope");
	char *file = path_in(dir, SF_FILE_NAME);
	char *sub = path_in(dir, "ro");

	(void)state;
	err[0] = '\0';
	assert_int_equal(sf_save(missing, t, MONO, WALL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file or directory"));
	assert_non_null(strstr(err, "nope/affinity.state.tmp"));

	/* The state dir is a regular file. */
	assert_int_equal(sf_save(dir, t, MONO, WALL, err, sizeof(err)), 5);
	err[0] = '\0';
	assert_int_equal(sf_save(file, t, MONO, WALL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "Not a directory"));

	/*
	 * A directory we may not write to. root writes anyway, so this one
	 * only runs as another user; the cases above fail for root too.
	 */
	if (geteuid() != 0) {
		assert_int_equal(mkdir(sub, 0700), 0);
		assert_int_equal(sf_save(sub, t, MONO, WALL, err, sizeof(err)), 5);
		assert_int_equal(chmod(sub, 0500), 0);
		assert_int_equal(aff_session_start(t, "user:new", "vm1", MONO), 0);
		err[0] = '\0';
		assert_int_equal(sf_save(sub, t, MONO, WALL, err, sizeof(err)), -1);
		assert_non_null(strstr(err, "Permission denied"));
		assert_int_equal(chmod(sub, 0700), 0);
		/* The old file is still there, whole. */
		free(file);
		file = path_in(sub, SF_FILE_NAME);
		u = table(100);
		assert_int_equal(sf_load(file, u, MONO, WALL, NULL, NULL, &rep,
		    err, sizeof(err)), 0);
		assert_int_equal(rep.loaded, 5);
		assert_false(rep.truncated);
		aff_free(u);
	}
	assert_int_equal(stat(dir, &st), 0);
	free(sub);
	free(file);
	free(missing);
	aff_free(t);
	rm_dir(dir);
}

static void
test_load_missing_and_errors(void **state)
{
	struct aff_table *t = table(10);
	struct sf_report rep;
	char err[256] = "", line[160], *dir = mkdir_tmp();
	char *path = path_in(dir, SF_FILE_NAME);
	int fd;

	(void)state;
	/* First start: no file, no error. */
	assert_int_equal(sf_load(path, t, 0, WALL, NULL, NULL, &rep, err,
	    sizeof(err)), 0);
	assert_true(rep.missing);
	assert_false(rep.truncated);
	assert_string_equal(err, "");
	sf_report_format(&rep, line, sizeof(line));
	assert_string_equal(line, "file=missing loaded=0");

	/* An empty file: read, reported truncated. */
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(sf_load(path, t, 0, WALL, NULL, NULL, &rep, err,
	    sizeof(err)), 0);
	assert_false(rep.missing);
	assert_true(rep.truncated);
	unlink(path);

	/* A directory where the file should be. */
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(sf_load(path, t, 0, WALL, NULL, NULL, &rep, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "not a regular file"));
	assert_int_equal(aff_count(t), 0);
	rmdir(path);
	free(path);
	aff_free(t);
	rm_dir(dir);
}

/* A file past SF_FILE_MAX: only the cap is read (a sparse file, so cheap). */
static void
test_load_too_large(void **state)
{
	struct aff_table *t = table(10);
	struct sf_report rep;
	char err[256] = "", recs[512] = "poolgate-affinity 1\n", *dir = mkdir_tmp();
	char *path = path_in(dir, SF_FILE_NAME);
	int fd;

	(void)state;
	add_rec(recs, sizeof(recs), "user:alice vm1 1767003600000");
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, recs, strlen(recs)), (ssize_t)strlen(recs));
	assert_int_equal(ftruncate(fd, (off_t)SF_FILE_MAX + 1), 0);
	close(fd);
	assert_int_equal(sf_load(path, t, 0, WALL, NULL, NULL, &rep, err,
	    sizeof(err)), 0);
	assert_true(rep.too_large);
	assert_true(rep.truncated);
	assert_int_equal(rep.loaded, 1);
	assert_int_equal(rep.corrupt, 1);         /* the run of NULs */
	free(path);
	aff_free(t);
	rm_dir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc_is_zlib),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_line_format),
		cmocka_unit_test(test_reboot_clocks),
		cmocka_unit_test(test_expiry_boundary),
		cmocka_unit_test(test_unknown_vm_dropped),
		cmocka_unit_test(test_truncated_everywhere),
		cmocka_unit_test(test_corrupt_record_in_middle),
		cmocka_unit_test(test_record_validation),
		cmocka_unit_test(test_headers),
		cmocka_unit_test(test_duplicates_and_full),
		cmocka_unit_test(test_long_line),
		cmocka_unit_test(test_garbage),
		cmocka_unit_test(test_serialize_skips),
		cmocka_unit_test(test_serialize_sizes),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_snapshot_same_as_serialize),
		cmocka_unit_test(test_snapshot_many_chunks),
		cmocka_unit_test(test_file_mode_and_tmp),
		cmocka_unit_test(test_save_errors),
		cmocka_unit_test(test_load_missing_and_errors),
		cmocka_unit_test(test_load_too_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
