/*
 * check_rdp.c -- the RDP health check's two packets (pure): the X.224
 * Connection Request it sends and its judging of the Connection Confirm
 * (MS-RDPBCGR 2.2.1.1 and 2.2.1.2).
 */
#include <string.h>

#include "backends/check.h"

/*
 * TPKT, X.224 CR, and an rdpNegReq asking for TLS or CredSSP (what every
 * real client asks for): a server that only speaks standard RDP security
 * still confirms, with a negotiation failure, which is healthy too: the
 * RDP server answered.
 */
static const uint8_t rdp_cr[] = {
	0x03, 0x00, 0x00, 0x13,                   /* TPKT, 19 bytes */
	0x0e, 0xe0, 0x00, 0x00, 0x00, 0x00, 0x00, /* X.224 CR */
	0x01, 0x00, 0x08, 0x00, 0x03, 0x00, 0x00, 0x00, /* TLS | CredSSP */
};

const uint8_t *
chk_rdp_request(size_t *len)
{
	*len = sizeof(rdp_cr);
	return rdp_cr;
}

int
chk_rdp_confirm(const uint8_t *buf, size_t len, const char **why)
{
	size_t plen;

	*why = NULL;
	if ((len >= 1 && buf[0] != 3) || (len >= 2 && buf[1] != 0)) {
		*why = "not a TPKT header";
		return -1;
	}
	if (len < 4)
		return 0;
	plen = (size_t)buf[2] << 8 | buf[3];
	if (plen < 11 || plen > CHK_RDP_CONFIRM_MAX) {
		*why = "TPKT length out of range for a Connection Confirm";
		return -1;
	}
	if (len >= 5 && buf[4] != plen - 5) {
		*why = "X.224 length disagrees with the TPKT length";
		return -1;
	}
	if (len >= 6 && (buf[5] & 0xf0) != 0xd0) {
		*why = "not an X.224 Connection Confirm";
		return -1;
	}
	return len >= plen ? 1 : 0;
}
