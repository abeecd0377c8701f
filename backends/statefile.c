/*
 * statefile.c -- the affinity table kept across restarts.
 *
 * The format (see statefile.h) is line-oriented with a checksum per record
 * so that damage stays local: whatever cut a file short (a full disk, an
 * older poolgate without fsync, a copy gone wrong) or garbled a line costs
 * only the records it touched. The writer never produces such a file
 * itself: it writes a temporary file and renames it over the old one.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backends/statefile.h"
#include "lib/atomicfile.h"
#include "lib/text.h"

#define SF_CRC_DIGITS 8
#define SF_U64_DIGITS 20
#define SF_END        "end "

/* --- CRC-32 (IEEE 802.3, reflected, as zlib's crc32), a byte at a time --- */

/*
 * sf_crc_tab[n] is the CRC register after shifting the byte n through it
 * (polynomial 0xedb88320): entry n = n shifted right 8 times, xor-ing the
 * polynomial on each 1 shifted out. Written out, not computed on first use,
 * so the writer thread and the loop share it with no initialisation race.
 * A byte costs one table load on the register's dependency chain instead
 * of the two of a nibble table (9 instructions a byte against 14, x86-64
 * gcc -O3).
 */
static const uint32_t sf_crc_tab[256] = {
	0x00000000, 0x77073096, 0xee0e612c, 0x990951ba,
	0x076dc419, 0x706af48f, 0xe963a535, 0x9e6495a3,
	0x0edb8832, 0x79dcb8a4, 0xe0d5e91e, 0x97d2d988,
	0x09b64c2b, 0x7eb17cbd, 0xe7b82d07, 0x90bf1d91,
	0x1db71064, 0x6ab020f2, 0xf3b97148, 0x84be41de,
	0x1adad47d, 0x6ddde4eb, 0xf4d4b551, 0x83d385c7,
	0x136c9856, 0x646ba8c0, 0xfd62f97a, 0x8a65c9ec,
	0x14015c4f, 0x63066cd9, 0xfa0f3d63, 0x8d080df5,
	0x3b6e20c8, 0x4c69105e, 0xd56041e4, 0xa2677172,
	0x3c03e4d1, 0x4b04d447, 0xd20d85fd, 0xa50ab56b,
	0x35b5a8fa, 0x42b2986c, 0xdbbbc9d6, 0xacbcf940,
	0x32d86ce3, 0x45df5c75, 0xdcd60dcf, 0xabd13d59,
	0x26d930ac, 0x51de003a, 0xc8d75180, 0xbfd06116,
	0x21b4f4b5, 0x56b3c423, 0xcfba9599, 0xb8bda50f,
	0x2802b89e, 0x5f058808, 0xc60cd9b2, 0xb10be924,
	0x2f6f7c87, 0x58684c11, 0xc1611dab, 0xb6662d3d,
	0x76dc4190, 0x01db7106, 0x98d220bc, 0xefd5102a,
	0x71b18589, 0x06b6b51f, 0x9fbfe4a5, 0xe8b8d433,
	0x7807c9a2, 0x0f00f934, 0x9609a88e, 0xe10e9818,
	0x7f6a0dbb, 0x086d3d2d, 0x91646c97, 0xe6635c01,
	0x6b6b51f4, 0x1c6c6162, 0x856530d8, 0xf262004e,
	0x6c0695ed, 0x1b01a57b, 0x8208f4c1, 0xf50fc457,
	0x65b0d9c6, 0x12b7e950, 0x8bbeb8ea, 0xfcb9887c,
	0x62dd1ddf, 0x15da2d49, 0x8cd37cf3, 0xfbd44c65,
	0x4db26158, 0x3ab551ce, 0xa3bc0074, 0xd4bb30e2,
	0x4adfa541, 0x3dd895d7, 0xa4d1c46d, 0xd3d6f4fb,
	0x4369e96a, 0x346ed9fc, 0xad678846, 0xda60b8d0,
	0x44042d73, 0x33031de5, 0xaa0a4c5f, 0xdd0d7cc9,
	0x5005713c, 0x270241aa, 0xbe0b1010, 0xc90c2086,
	0x5768b525, 0x206f85b3, 0xb966d409, 0xce61e49f,
	0x5edef90e, 0x29d9c998, 0xb0d09822, 0xc7d7a8b4,
	0x59b33d17, 0x2eb40d81, 0xb7bd5c3b, 0xc0ba6cad,
	0xedb88320, 0x9abfb3b6, 0x03b6e20c, 0x74b1d29a,
	0xead54739, 0x9dd277af, 0x04db2615, 0x73dc1683,
	0xe3630b12, 0x94643b84, 0x0d6d6a3e, 0x7a6a5aa8,
	0xe40ecf0b, 0x9309ff9d, 0x0a00ae27, 0x7d079eb1,
	0xf00f9344, 0x8708a3d2, 0x1e01f268, 0x6906c2fe,
	0xf762575d, 0x806567cb, 0x196c3671, 0x6e6b06e7,
	0xfed41b76, 0x89d32be0, 0x10da7a5a, 0x67dd4acc,
	0xf9b9df6f, 0x8ebeeff9, 0x17b7be43, 0x60b08ed5,
	0xd6d6a3e8, 0xa1d1937e, 0x38d8c2c4, 0x4fdff252,
	0xd1bb67f1, 0xa6bc5767, 0x3fb506dd, 0x48b2364b,
	0xd80d2bda, 0xaf0a1b4c, 0x36034af6, 0x41047a60,
	0xdf60efc3, 0xa867df55, 0x316e8eef, 0x4669be79,
	0xcb61b38c, 0xbc66831a, 0x256fd2a0, 0x5268e236,
	0xcc0c7795, 0xbb0b4703, 0x220216b9, 0x5505262f,
	0xc5ba3bbe, 0xb2bd0b28, 0x2bb45a92, 0x5cb36a04,
	0xc2d7ffa7, 0xb5d0cf31, 0x2cd99e8b, 0x5bdeae1d,
	0x9b64c2b0, 0xec63f226, 0x756aa39c, 0x026d930a,
	0x9c0906a9, 0xeb0e363f, 0x72076785, 0x05005713,
	0x95bf4a82, 0xe2b87a14, 0x7bb12bae, 0x0cb61b38,
	0x92d28e9b, 0xe5d5be0d, 0x7cdcefb7, 0x0bdbdf21,
	0x86d3d2d4, 0xf1d4e242, 0x68ddb3f8, 0x1fda836e,
	0x81be16cd, 0xf6b9265b, 0x6fb077e1, 0x18b74777,
	0x88085ae6, 0xff0f6a70, 0x66063bca, 0x11010b5c,
	0x8f659eff, 0xf862ae69, 0x616bffd3, 0x166ccf45,
	0xa00ae278, 0xd70dd2ee, 0x4e048354, 0x3903b3c2,
	0xa7672661, 0xd06016f7, 0x4969474d, 0x3e6e77db,
	0xaed16a4a, 0xd9d65adc, 0x40df0b66, 0x37d83bf0,
	0xa9bcae53, 0xdebb9ec5, 0x47b2cf7f, 0x30b5ffe9,
	0xbdbdf21c, 0xcabac28a, 0x53b39330, 0x24b4a3a6,
	0xbad03605, 0xcdd70693, 0x54de5729, 0x23d967bf,
	0xb3667a2e, 0xc4614ab8, 0x5d681b02, 0x2a6f2b94,
	0xb40bbe37, 0xc30c8ea1, 0x5a05df1b, 0x2d02ef8d,
};

static uint32_t
sf_crc32(const char *p, size_t len)
{
	uint32_t c = 0xffffffffu;
	size_t i;

	for (i = 0; i < len; i++)
		c = (c >> 8) ^ sf_crc_tab[(c ^ (unsigned char)p[i]) & 0xff];
	return c ^ 0xffffffffu;
}

/* --- what a record may hold --- */

static bool
sf_backend_valid(const char *s, size_t len)
{
	return pg_name_valid_n(s, len, CFG_NAME_MAX);   /* the one VM-name rule */
}

/*
 * A Unix-style login name: a letter or '_', then letters, digits, '_', '.'
 * or '-', and optionally a final '$'. Wider than what the HTTP side accepts
 * today (http/httpuser.c: lowercase only), so a file never loses a user
 * that an older or newer rule let in; what matters here is that the key
 * holds no space, control byte or other surprise.
 */
static bool
sf_user_valid(const char *s, size_t len)
{
	size_t i, n = len;

	if (len > 0 && s[len - 1] == '$')
		n--;
	if (n == 0 || !((s[0] >= 'a' && s[0] <= 'z') ||
	    (s[0] >= 'A' && s[0] <= 'Z') || s[0] == '_'))
		return false;
	for (i = 1; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

static bool
sf_addr_valid(const char *s, size_t len)
{
	char a[INET6_ADDRSTRLEN];
	unsigned char bin[sizeof(struct in6_addr)];

	if (len == 0 || len >= sizeof(a))
		return false;
	memcpy(a, s, len);
	a[len] = '\0';
	return inet_pton(AF_INET, a, bin) == 1 || inet_pton(AF_INET6, a, bin) == 1;
}

static bool
sf_key_valid(const char *s, size_t len)
{
	if (len > AFF_KEY_MAX)
		return false;
	if (len > 3 && memcmp(s, "ip:", 3) == 0)
		return sf_addr_valid(s + 3, len - 3);
	if (len > 5 && memcmp(s, "user:", 5) == 0)
		return sf_user_valid(s + 5, len - 5);
	return false;
}

/* Decimal digits s[0..len) as a uint64_t; false on anything else or overflow. */
static bool
sf_parse_u64(const char *s, size_t len, uint64_t *v)
{
	uint64_t x = 0;
	size_t i;

	if (len == 0 || len > SF_U64_DIGITS)
		return false;
	for (i = 0; i < len; i++) {
		unsigned d = (unsigned char)s[i] - '0';

		if (d > 9 || x > (UINT64_MAX - d) / 10)
			return false;
		x = x * 10 + d;
	}
	*v = x;
	return true;
}

static bool
sf_parse_crc(const char *s, size_t len, uint32_t *v)
{
	uint32_t x = 0;
	size_t i;

	if (len != SF_CRC_DIGITS)
		return false;
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c >= '0' && c <= '9')
			x = x << 4 | (uint32_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			x = x << 4 | (uint32_t)(c - 'a' + 10);
		else
			return false;
	}
	*v = x;
	return true;
}

static uint64_t
sf_add_sat(uint64_t a, uint64_t b)
{
	return b > UINT64_MAX - a ? UINT64_MAX : a + b;
}

/* --- writing --- */

struct sf_out {
	char     *buf;
	size_t    len, cap;
	uint64_t  now_mono, now_wall, ttl;
	long      n;
	bool      failed;
};

/* v in decimal at p (no NUL); returns the end. */
static char *
sf_put_u64(char *p, uint64_t v)
{
	char tmp[SF_U64_DIGITS];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	while (n > 0)
		*p++ = tmp[--n];
	return p;
}

/* One record line: key, backend, expiry and checksum. */
static void
sf_put_line(struct sf_out *o, const char *key, size_t klen, const char *be,
    size_t blen, uint64_t wall)
{
	size_t need;
	char *nb, *p, *line;
	uint32_t crc;

	if (o->failed)
		return;
	if (!sf_key_valid(key, klen) || !sf_backend_valid(be, blen))
		return;
	/* key, backend, expiry, three spaces, crc, '\n' and the NUL */
	need = klen + blen + SF_U64_DIGITS + 3 + SF_CRC_DIGITS + 2;
	if (o->cap - o->len < need) {
		size_t cap = o->cap * 2 > o->len + need ? o->cap * 2 : o->len + need;

		nb = realloc(o->buf, cap);
		if (nb == NULL) {
			o->failed = true;
			return;
		}
		o->buf = nb;
		o->cap = cap;
	}
	/*
	 * "%.*s %.*s %" PRIu64 " %08" PRIx32 "\n", by hand: snprintf took
	 * about 2,400 instructions a call, most of a save's formatting.
	 */
	p = line = o->buf + o->len;
	memcpy(p, key, klen);
	p += klen;
	*p++ = ' ';
	memcpy(p, be, blen);
	p += blen;
	*p++ = ' ';
	p = sf_put_u64(p, wall);
	crc = sf_crc32(line, (size_t)(p - line));
	*p++ = ' ';
	for (int i = SF_CRC_DIGITS - 1; i >= 0; i--)
		p[SF_CRC_DIGITS - 1 - i] = "0123456789abcdef"[(crc >> (4 * i)) & 15];
	p += SF_CRC_DIGITS;
	*p++ = '\n';
	*p = '\0';
	o->len += (size_t)(p - line);
	o->n++;
}

/* How long e has left: the ttl while it has sessions; 0 means expired. */
static uint64_t
sf_remain(const struct aff_entry *e, uint64_t now_mono, uint64_t ttl)
{
	if (e->active > 0)
		return ttl;
	/* aff_foreach and aff_scan give live entries only: not due yet. */
	return e->expires_ms > now_mono ? e->expires_ms - now_mono : 0;
}

static void
sf_put_entry(const struct aff_entry *e, void *arg)
{
	struct sf_out *o = arg;
	uint64_t remain = sf_remain(e, o->now_mono, o->ttl);

	if (remain == 0)
		return;                 /* would load as expired */
	sf_put_line(o, e->key, strlen(e->key), e->backend, strlen(e->backend),
	    sf_add_sat(o->now_wall, remain));
}

/* Header, then the records put(o, arg) writes, then the "end" line. */
static long
sf_format(struct sf_out *o, void (*put)(struct sf_out *o, const void *arg),
    const void *arg, char **buf, size_t *len)
{
	long ret = -1;
	int n;

	o->cap = 4096;
	o->buf = malloc(o->cap);
	if (o->buf == NULL)
		goto out;
	o->len = (size_t)snprintf(o->buf, o->cap, "%s\n", SF_HEADER);
	put(o, arg);
	if (o->failed)
		goto out;
	/* "end ", the count, '\n' and the NUL (sizeof counts it). */
	if (o->cap - o->len < sizeof(SF_END) + SF_U64_DIGITS + 1) {
		char *nb = realloc(o->buf, o->len + sizeof(SF_END) + SF_U64_DIGITS + 1);

		if (nb == NULL)
			goto out;
		o->buf = nb;
		o->cap = o->len + sizeof(SF_END) + SF_U64_DIGITS + 1;
	}
	n = snprintf(o->buf + o->len, o->cap - o->len, SF_END "%ld\n", o->n);
	o->len += (size_t)n;
	*buf = o->buf;
	o->buf = NULL;           /* transferred */
	*len = o->len;
	ret = o->n;
out:
	free(o->buf);
	o->buf = NULL;
	return ret;
}

static void
sf_put_table(struct sf_out *o, const void *arg)
{
	aff_foreach(arg, o->now_mono, sf_put_entry, o);
}

long
sf_serialize(const struct aff_table *t, uint64_t now_mono, uint64_t now_wall,
    char **buf, size_t *len)
{
	struct sf_out o = { 0 };

	o.now_mono = now_mono;
	o.now_wall = now_wall;
	o.ttl = aff_ttl(t);
	return sf_format(&o, sf_put_table, t, buf, len);
}

/* --- snapshots --- */

/*
 * A record in a snapshot: this header, then the key and the backend name
 * (not NUL-terminated), packed one after the other. Copying these is all
 * the event loop does per entry; the formatting and checksums are left to
 * the writer thread.
 */
struct sf_snap_rec {
	uint64_t wall;      /* expiry, UNIX milliseconds */
	uint8_t  klen, blen;
};

/*
 * The records go into a list of fixed-size chunks, never into one buffer
 * that doubles: a realloc of a 16 MiB buffer copies it (glibc keeps buffers
 * that size on the heap once a bigger one was freed), which held the event
 * loop for milliseconds in a single slice. A new chunk is one mmap and no
 * copy. The chunks are mapped, not malloc'ed, because the writer thread
 * frees them: freeing heap chunks there held glibc's main arena lock (and
 * trimmed the heap under it) while the loop's own malloc and free waited
 * for it, 3 ms at a time. A record never straddles two chunks (it is at
 * most sizeof(struct sf_snap_rec) + 2 * 255 bytes).
 */
#define SF_SNAP_CHUNK_BYTES ((size_t)256 * 1024)   /* one mapping */

struct sf_snap_chunk {
	struct sf_snap_chunk *next;
	size_t                len;   /* bytes used of buf */
	char                  buf[];
};

#define SF_SNAP_CHUNK (SF_SNAP_CHUNK_BYTES - sizeof(struct sf_snap_chunk))

static struct sf_snap_chunk *
sf_chunk_new(void)
{
	void *p = mmap(NULL, SF_SNAP_CHUNK_BYTES, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

struct sf_snap {
	struct sf_snap_chunk *head, *tail;
	size_t    n;
	uint64_t  now_mono, now_wall, ttl;
	bool      failed;
};

struct sf_snap *
sf_snap_new(void)
{
	return calloc(1, sizeof(struct sf_snap));
}

void
sf_snap_free(struct sf_snap *s)
{
	struct sf_snap_chunk *c, *next;

	if (s == NULL)
		return;
	for (c = s->head; c != NULL; c = next) {
		next = c->next;
		munmap(c, SF_SNAP_CHUNK_BYTES);
	}
	free(s);
}

void
sf_snap_reset(struct sf_snap *s)
{
	struct sf_snap_chunk *c;

	for (c = s->head; c != NULL; c = c->next)
		c->len = 0;
	s->tail = s->head;
	s->n = 0;
	s->failed = false;
}

void
sf_snap_clock(struct sf_snap *s, uint64_t now_mono, uint64_t now_wall,
    uint64_t ttl)
{
	s->now_mono = now_mono;
	s->now_wall = now_wall;
	s->ttl = ttl;
}

void
sf_snap_put(const struct aff_entry *e, void *arg)
{
	struct sf_snap *s = arg;
	struct sf_snap_rec r;
	struct sf_snap_chunk *c;
	size_t klen, blen, need;
	uint64_t remain;

	if (s->failed)
		return;
	remain = sf_remain(e, s->now_mono, s->ttl);
	if (remain == 0)
		return;
	klen = strnlen(e->key, AFF_KEY_MAX + 1);
	blen = strnlen(e->backend, CFG_NAME_MAX + 1);
	if (klen > UINT8_MAX || blen > UINT8_MAX)
		return;                 /* too long to load back anyway */
	need = sizeof(r) + klen + blen;
	c = s->tail;
	if (c != NULL && SF_SNAP_CHUNK - c->len < need && c->next != NULL) {
		c = s->tail = c->next;  /* kept by sf_snap_reset(), empty */
	} else if (c == NULL || SF_SNAP_CHUNK - c->len < need) {
		if ((c = sf_chunk_new()) == NULL) {
			s->failed = true;
			return;
		}
		c->next = NULL;
		c->len = 0;
		if (s->tail != NULL)
			s->tail->next = c;
		else
			s->head = c;
		s->tail = c;
	}
	r.wall = sf_add_sat(s->now_wall, remain);
	r.klen = (uint8_t)klen;
	r.blen = (uint8_t)blen;
	memcpy(c->buf + c->len, &r, sizeof(r));
	memcpy(c->buf + c->len + sizeof(r), e->key, klen);
	memcpy(c->buf + c->len + sizeof(r) + klen, e->backend, blen);
	c->len += need;
	s->n++;
}

bool
sf_snap_failed(const struct sf_snap *s)
{
	return s->failed;
}

size_t
sf_snap_count(const struct sf_snap *s)
{
	return s->n;
}

static void
sf_put_snap(struct sf_out *o, const void *arg)
{
	const struct sf_snap *s = arg;
	const struct sf_snap_chunk *c;
	struct sf_snap_rec r;
	size_t pos;

	for (c = s->head; c != NULL; c = c->next) {
		for (pos = 0; pos < c->len; pos += (size_t)r.klen + r.blen) {
			memcpy(&r, c->buf + pos, sizeof(r));
			pos += sizeof(r);
			sf_put_line(o, c->buf + pos, r.klen, c->buf + pos + r.klen,
			    r.blen, r.wall);
		}
	}
}

long
sf_snap_serialize(const struct sf_snap *s, char **buf, size_t *len)
{
	struct sf_out o = { 0 };

	if (s->failed)
		return -1;
	return sf_format(&o, sf_put_snap, s, buf, len);
}

/* --- reading --- */

struct sf_in {
	struct aff_table  *t;
	uint64_t           now_mono, now_wall, ttl;
	bool             (*known)(const char *name, void *arg);
	void              *arg;
	struct sf_report  *rep;
};

/* One record line (without its '\n'): counted in exactly one report field. */
static void
sf_record(struct sf_in *in, const char *line, size_t len)
{
	char key[AFF_KEY_MAX + 1], be[CFG_NAME_MAX + 1];
	const char *sp1, *sp2, *crc;
	size_t body, klen, blen;
	uint64_t wall, remain;
	uint32_t sum;
	int rc;

	/* The checksum first: nothing of a damaged line is trusted. */
	crc = memrchr(line, ' ', len);
	if (crc == NULL)
		goto corrupt;
	body = (size_t)(crc - line);
	crc++;
	if (!sf_parse_crc(crc, len - body - 1, &sum) || sum != sf_crc32(line, body))
		goto corrupt;
	sp1 = memchr(line, ' ', body);
	if (sp1 == NULL)
		goto corrupt;
	klen = (size_t)(sp1 - line);
	sp2 = memchr(sp1 + 1, ' ', body - klen - 1);
	if (sp2 == NULL)
		goto corrupt;
	blen = (size_t)(sp2 - sp1 - 1);
	if (!sf_key_valid(line, klen) || !sf_backend_valid(sp1 + 1, blen) ||
	    !sf_parse_u64(sp2 + 1, body - klen - blen - 2, &wall))
		goto corrupt;
	memcpy(key, line, klen);
	key[klen] = '\0';
	memcpy(be, sp1 + 1, blen);
	be[blen] = '\0';

	remain = wall > in->now_wall ? wall - in->now_wall : 0;
	if (remain > in->ttl)
		remain = in->ttl;
	if (remain == 0) {
		in->rep->expired++;
		return;
	}
	if (in->known != NULL && !in->known(be, in->arg)) {
		in->rep->unknown++;
		return;
	}
	rc = aff_restore(in->t, key, be, sf_add_sat(in->now_mono, remain),
	    in->now_mono);
	if (rc == 0)
		in->rep->loaded++;
	else if (rc == 1)
		in->rep->duplicate++;
	else
		in->rep->full++;
	return;
corrupt:
	in->rep->corrupt++;
}

/*
 * Whether line is "end <count>". The last line of a buffer, cut short, may
 * also be what is left of one ("e", "end ", "end 1" of "end 12"): that is a
 * truncation, not a damaged record.
 */
static bool
sf_end_line(const char *line, size_t len, bool last, uint64_t *count)
{
	const size_t n = sizeof(SF_END) - 1;

	*count = UINT64_MAX;
	if (last && len > 0 && len <= n)
		return memcmp(line, SF_END, len) == 0;
	return len > n && memcmp(line, SF_END, n) == 0 &&
	    sf_parse_u64(line + n, len - n, count);
}

static bool
sf_line_is(const char *line, size_t len, const char *s)
{
	return len == strlen(s) && memcmp(line, s, len) == 0;
}

void
sf_parse(const char *buf, size_t len, struct aff_table *t, uint64_t now_mono,
    uint64_t now_wall, bool (*backend_known)(const char *name, void *arg),
    void *arg, struct sf_report *rep)
{
	static const char vprefix[] = "poolgate-affinity ";
	struct sf_in in = { t, now_mono, now_wall, aff_ttl(t), backend_known,
	    arg, rep };
	const char *line, *nl;
	size_t pos = 0, llen, records = 0;
	uint64_t count;
	bool first = true, ended = false, terminated;

	memset(rep, 0, sizeof(*rep));
	while (pos < len) {
		line = buf + pos;
		nl = memchr(line, '\n', len - pos);
		llen = nl != NULL ? (size_t)(nl - line) : len - pos;
		terminated = nl != NULL;
		pos += llen + terminated;

		if (first) {
			first = false;
			if (sf_line_is(line, llen, SF_HEADER))
				continue;
			/*
			 * Another version's records may not mean what ours do:
			 * keep none. Anything else is a damaged header; the
			 * records below carry their own checksums.
			 */
			if (llen > sizeof(vprefix) - 1 &&
			    memcmp(line, vprefix, sizeof(vprefix) - 1) == 0 &&
			    sf_parse_u64(line + sizeof(vprefix) - 1,
			    llen - (sizeof(vprefix) - 1), &count)) {
				rep->bad_version = true;
				return;
			}
			rep->bad_header = true;
			continue;
		}
		if (ended) {
			rep->corrupt++;     /* nothing is written after "end" */
			continue;
		}
		if (sf_end_line(line, llen, !terminated, &count)) {
			if (!terminated)
				break;      /* maybe cut: its count is not trusted */
			ended = true;
			if (count != records)
				rep->truncated = true;
			continue;
		}
		records++;
		if (llen >= SF_LINE_MAX)
			rep->corrupt++;
		else
			sf_record(&in, line, llen);
	}
	if (first)
		rep->bad_header = true;     /* an empty file */
	if (!ended)
		rep->truncated = true;
}

/* --- files --- */

static void sf_errf(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
sf_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}


/* Write what serialize() gave (n records in buf, or -1) to dir. */
static long
sf_write(const char *dir, long n, char *buf, size_t len, char *err,
    size_t errlen)
{
	if (n == -1) {
		sf_errf(err, errlen, "%s/%s: out of memory", dir, SF_FILE_NAME);
		return -1;
	}
	if (af_write_atomic(dir, SF_FILE_NAME, buf, len, err, errlen) == -1)
		n = -1;
	free(buf);
	return n;
}

long
sf_save(const char *dir, const struct aff_table *t, uint64_t now_mono,
    uint64_t now_wall, char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	long n = sf_serialize(t, now_mono, now_wall, &buf, &len);

	return sf_write(dir, n, buf, len, err, errlen);
}

long
sf_snap_save(const char *dir, const struct sf_snap *s, char *err,
    size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	long n = sf_snap_serialize(s, &buf, &len);

	return sf_write(dir, n, buf, len, err, errlen);
}

int
sf_load(const char *path, struct aff_table *t, uint64_t now_mono,
    uint64_t now_wall, bool (*backend_known)(const char *name, void *arg),
    void *arg, struct sf_report *rep, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t want, len = 0;
	ssize_t n;
	int fd = -1, ret = -1;

	memset(rep, 0, sizeof(*rep));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd == -1 && errno == ENOENT) {
		rep->missing = true;
		ret = 0;
		goto out;
	}
	if (fd == -1 || fstat(fd, &st) == -1) {
		sf_errf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		sf_errf(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	want = (uint64_t)st.st_size > SF_FILE_MAX ? SF_FILE_MAX :
	    (size_t)st.st_size;
	buf = malloc(want + 1);
	if (buf == NULL) {
		sf_errf(err, errlen, "%s: %zu bytes: out of memory", path, want);
		goto out;
	}
	/* Up to the size fstat gave: our writer replaces, it never appends. */
	while (len < want) {
		n = read(fd, buf + len, want - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			sf_errf(err, errlen, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	sf_parse(buf, len, t, now_mono, now_wall, backend_known, arg, rep);
	rep->too_large = (uint64_t)st.st_size > SF_FILE_MAX;
	ret = 0;
out:
	if (fd != -1)
		close(fd);
	free(buf);
	return ret;
}

void
sf_report_format(const struct sf_report *rep, char *out, size_t outlen)
{
	if (outlen == 0)
		return;
	if (rep->missing) {
		snprintf(out, outlen, "file=missing loaded=0");
		return;
	}
	snprintf(out, outlen, "loaded=%zu unknown_vm=%zu expired=%zu corrupt=%zu "
	    "duplicate=%zu full=%zu truncated=%s%s%s%s", rep->loaded,
	    rep->unknown, rep->expired, rep->corrupt, rep->duplicate, rep->full,
	    rep->truncated ? "yes" : "no",
	    rep->bad_header ? " header=bad" : "",
	    rep->bad_version ? " header=other_version" : "",
	    rep->too_large ? " too_large=yes" : "");
}
