/*
 * upgmsg.c -- see upgmsg.h.
 */
#include <netinet/in.h>
#include <string.h>

#include "daemon/upgmsg.h"

void
upg_put(uint8_t *buf, enum upg_type t, uint32_t v)
{
	buf[0] = 'P';
	buf[1] = 'G';
	buf[2] = (uint8_t)t;
	buf[3] = 0;
	buf[4] = (uint8_t)(v >> 24);
	buf[5] = (uint8_t)(v >> 16);
	buf[6] = (uint8_t)(v >> 8);
	buf[7] = (uint8_t)v;
}

int
upg_get(const uint8_t *buf, size_t len, enum upg_type *t, uint32_t *v)
{
	if (len < UPG_MSG_LEN || buf[0] != 'P' || buf[1] != 'G' || buf[3] != 0 ||
	    buf[2] < UPG_SOCKS || buf[2] > UPG_DRAINING)
		return -1;
	*t = (enum upg_type)buf[2];
	*v = (uint32_t)buf[4] << 24 | (uint32_t)buf[5] << 16 |
	    (uint32_t)buf[6] << 8 | buf[7];
	return 0;
}

/* family (4 or 6), 0, port (2, network order), address (16, v4 zero-padded) */
int
upg_put_addr(uint8_t *buf, const struct sockaddr_storage *ss)
{
	memset(buf, 0, UPG_ADDR_LEN);
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)ss;
		buf[0] = 4;
		memcpy(buf + 2, &s->sin_port, 2);
		memcpy(buf + 4, &s->sin_addr, 4);
		return 0;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)ss;
		buf[0] = 6;
		memcpy(buf + 2, &s->sin6_port, 2);
		memcpy(buf + 4, &s->sin6_addr, 16);
		return 0;
	}
	return -1;
}

int
upg_get_addr(const uint8_t *buf, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (buf[1] != 0)
		return -1;
	if (buf[0] == 4) {
		struct sockaddr_in *s = (void *)ss;
		for (size_t i = 8; i < UPG_ADDR_LEN; i++)
			if (buf[i] != 0)
				return -1;
		s->sin_family = AF_INET;
		memcpy(&s->sin_port, buf + 2, 2);
		memcpy(&s->sin_addr, buf + 4, 4);
		return 0;
	}
	if (buf[0] == 6) {
		struct sockaddr_in6 *s = (void *)ss;
		s->sin6_family = AF_INET6;
		memcpy(&s->sin6_port, buf + 2, 2);
		memcpy(&s->sin6_addr, buf + 4, 16);
		return 0;
	}
	return -1;
}
