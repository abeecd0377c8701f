/*
 * rdp.h -- the first packet of an RDP client (pure): the X.224 Connection
 * Request of MS-RDPBCGR 2.2.1.1, and what it says about where to go.
 *
 *   TPKT header      03 00 LL LL            (LL: the whole packet, big-endian)
 *   X.224 CR TPDU    LI E0 00 00 SS SS 00   (LI = packet length - 5)
 *   routingToken     "Cookie: msts=<ip>.<port>.0000\r\n" (or another token)
 *     or cookie      "Cookie: mstshash=<name>\r\n"        (optional)
 *   rdpNegReq        01 FF 08 00 PP PP PP PP               (optional)
 *   rdpCorrelationInfo  06 00 24 00 + 32 bytes  (only with flag 0x08)
 *
 * LI is one byte and 255 is reserved, so a Connection Request is at most
 * RDP_CR_MAX bytes: that bounds everything read before a VM is chosen,
 * the cookie line included. Anything that does not fit this layout (a
 * TPKT length that disagrees with LI, a line without its CRLF inside the
 * packet, bytes left after the negotiation request) is refused.
 */
#ifndef POOLGATE_RDP_H
#define POOLGATE_RDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/httpuser.h"

#define RDP_TPKT_LEN   4
#define RDP_CR_MIN     11      /* TPKT + the fixed X.224 part */
#define RDP_CR_MAX     259     /* TPKT + LI 254 */
/* mstsc sends at most this many characters of the user name. */
#define RDP_HASH_CUT   9

enum rdp_result {
	RDP_BAD   = -1,   /* not a Connection Request; why says why */
	RDP_AGAIN = 0,    /* a valid start: more bytes needed (need says how many in all) */
	RDP_OK    = 1,    /* a complete, valid Connection Request of len bytes */
};

struct rdp_cr {
	size_t      need;        /* bytes of the packet in all (4 until the
	                            TPKT header is in) */
	size_t      len;         /* RDP_OK: the packet's length */
	/*
	 * The mstshash name as an affinity user: the part after the last '\'
	 * (a domain), lowercased, "" when there is none or it is not a valid
	 * user name (hu_name_valid). Never an error: the name is a hint.
	 */
	char        user[HU_NAME_MAX + 1];
	bool        user_cut;    /* sent exactly RDP_HASH_CUT characters: may
	                            be the start of a longer name */
	bool        token;       /* a valid "Cookie: msts=" routing token */
	uint8_t     token_ip[4]; /* its IPv4 address, network order */
	uint16_t    token_port;  /* its port, host order */
	bool        other_token; /* a routing token of another form (ignored) */
	bool        neg;         /* an rdpNegReq is present */
	uint32_t    protocols;   /* its requestedProtocols */
	const char *why;         /* RDP_BAD: a static string */
};

/*
 * Judge buf[0..len), the bytes an RDP client sent so far (len may be
 * more or less than the packet). Returns RDP_OK with out filled when a
 * whole Connection Request is there, RDP_AGAIN when the bytes so far can
 * start one (out->need: the packet's size, once known), RDP_BAD otherwise
 * (out->why). Bytes after out->len are not looked at. Fails as early as
 * it can: a client sending something else is refused at its first byte.
 */
int rdp_parse_cr(const uint8_t *buf, size_t len, struct rdp_cr *out);

/*
 * The decimal fields of a "Cookie: msts=" token for an IPv4 address and
 * port, as an RD Connection Broker writes them: the address as a 32-bit
 * number from its bytes in little-endian order, the port with its two
 * bytes swapped. For tests and for writing tokens.
 */
void rdp_token_fields(const uint8_t ip[4], uint16_t port, uint32_t *ipnum,
    uint16_t *portnum);

#endif
