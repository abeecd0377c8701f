/*
 * rdp.c -- see rdp.h.
 */
#include <string.h>

#include "http/rdp.h"

#define X224_CR        0xE0
#define NEG_REQ        0x01
#define NEG_REQ_LEN    8
#define NEG_CORRELATION 0x08     /* CORRELATION_INFO_PRESENT */
#define CORRELATION    0x06
#define CORRELATION_LEN 36

static const char hash_prefix[] = "Cookie: mstshash=";
static const char token_prefix[] = "Cookie: msts=";

static int
bad(struct rdp_cr *out, const char *why)
{
	out->why = why;
	return RDP_BAD;
}

/* Decimal digits s[0..n) into *v, at most max; false when not that. */
static bool
decimal(const char *s, size_t n, uint64_t max, uint64_t *v)
{
	uint64_t x = 0;

	if (n == 0 || n > 10)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		x = x * 10 + (uint64_t)(s[i] - '0');
	}
	if (x > max)
		return false;
	*v = x;
	return true;
}

/* "<ip>.<port>.<reserved>" of a msts token; false when not that. */
static bool
token(const char *s, size_t n, struct rdp_cr *out)
{
	const char *d1 = memchr(s, '.', n), *d2;
	uint64_t ip, port, reserved;

	if (d1 == NULL)
		return false;
	d2 = memchr(d1 + 1, '.', n - (size_t)(d1 + 1 - s));
	if (d2 == NULL || !decimal(s, (size_t)(d1 - s), UINT32_MAX, &ip) ||
	    !decimal(d1 + 1, (size_t)(d2 - d1 - 1), UINT16_MAX, &port) ||
	    !decimal(d2 + 1, n - (size_t)(d2 + 1 - s), UINT32_MAX, &reserved))
		return false;
	for (int i = 0; i < 4; i++)
		out->token_ip[i] = (uint8_t)(ip >> (8 * i));
	out->token_port = (uint16_t)(((port & 0xff) << 8) | (port >> 8));
	return true;
}

/* The mstshash identifier s[0..n) as a user hint (never an error). */
static void
user(const char *s, size_t n, struct rdp_cr *out)
{
	const char *bs;

	out->user_cut = n == RDP_HASH_CUT;
	/* "DOMAIN\user": the domain is not part of the name on the VMs. */
	while ((bs = memchr(s, '\\', n)) != NULL) {
		n -= (size_t)(bs + 1 - s);
		s = bs + 1;
	}
	if (n == 0 || n > HU_NAME_MAX)
		return;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		out->user[i] = c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
	}
	out->user[n] = '\0';
	if (!hu_name_valid(out->user, n))
		out->user[0] = '\0';
}

/* The one optional line (token or cookie) at buf[*p..end); moves *p. */
static int
line(const uint8_t *buf, size_t *p, size_t end, struct rdp_cr *out)
{
	const char *s = (const char *)buf + *p;
	size_t n;

	for (n = 0; *p + n + 1 < end; n++) {
		if (s[n] == '\r' && s[n + 1] == '\n')
			break;
		if ((unsigned char)s[n] < 0x20 || (unsigned char)s[n] > 0x7e)
			return bad(out, "a control byte in the cookie line");
	}
	if (*p + n + 1 >= end)
		return bad(out, "the cookie line does not end inside the packet");
	*p += n + 2;
	if (n >= sizeof(hash_prefix) - 1 &&
	    memcmp(s, hash_prefix, sizeof(hash_prefix) - 1) == 0)
		user(s + sizeof(hash_prefix) - 1, n - (sizeof(hash_prefix) - 1),
		    out);
	else if (n >= sizeof(token_prefix) - 1 &&
	    memcmp(s, token_prefix, sizeof(token_prefix) - 1) == 0 &&
	    token(s + sizeof(token_prefix) - 1, n - (sizeof(token_prefix) - 1),
	    out))
		out->token = true;
	else
		out->other_token = true;   /* another broker's: not ours to read */
	return RDP_OK;
}

int
rdp_parse_cr(const uint8_t *buf, size_t len, struct rdp_cr *out)
{
	size_t plen, p = RDP_CR_MIN;

	memset(out, 0, sizeof(*out));
	out->need = RDP_TPKT_LEN;
	if (len >= 1 && buf[0] != 3)
		return bad(out, "not a TPKT header (version is not 3)");
	if (len >= 2 && buf[1] != 0)
		return bad(out, "not a TPKT header (reserved byte is not 0)");
	if (len < RDP_TPKT_LEN)
		return RDP_AGAIN;
	plen = (size_t)buf[2] << 8 | buf[3];
	if (plen < RDP_CR_MIN || plen > RDP_CR_MAX)
		return bad(out, "TPKT length out of range for a Connection Request");
	out->need = plen;
	if (len >= 5 && buf[4] != plen - 5)
		return bad(out, "X.224 length disagrees with the TPKT length");
	if (len >= 6 && buf[5] != X224_CR)
		return bad(out, "not an X.224 Connection Request");
	if ((len >= 7 && buf[6] != 0) || (len >= 8 && buf[7] != 0))
		return bad(out, "X.224 destination reference is not 0");
	if (len >= 11 && buf[10] != 0)
		return bad(out, "X.224 class option is not 0");
	if (len < plen)
		return RDP_AGAIN;

	if (p < plen && buf[p] != NEG_REQ && line(buf, &p, plen, out) < 0)
		return RDP_BAD;
	if (p < plen) {
		if (plen - p < NEG_REQ_LEN || buf[p] != NEG_REQ ||
		    buf[p + 2] != NEG_REQ_LEN || buf[p + 3] != 0)
			return bad(out, "a malformed negotiation request");
		out->neg = true;
		out->protocols = (uint32_t)buf[p + 4] |
		    (uint32_t)buf[p + 5] << 8 | (uint32_t)buf[p + 6] << 16 |
		    (uint32_t)buf[p + 7] << 24;
		if (buf[p + 1] & NEG_CORRELATION) {
			p += NEG_REQ_LEN;
			if (plen - p < CORRELATION_LEN || buf[p] != CORRELATION ||
			    buf[p + 2] != CORRELATION_LEN || buf[p + 3] != 0)
				return bad(out, "a malformed correlation info");
			p += CORRELATION_LEN;
		} else
			p += NEG_REQ_LEN;
	}
	if (p != plen)
		return bad(out, "bytes after the negotiation request");
	out->len = plen;
	return RDP_OK;
}

void
rdp_token_fields(const uint8_t ip[4], uint16_t port, uint32_t *ipnum,
    uint16_t *portnum)
{
	*ipnum = (uint32_t)ip[0] | (uint32_t)ip[1] << 8 |
	    (uint32_t)ip[2] << 16 | (uint32_t)ip[3] << 24;
	*portnum = (uint16_t)(((port & 0xff) << 8) | (port >> 8));
}
