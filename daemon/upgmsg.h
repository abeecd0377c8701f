/*
 * upgmsg.h -- the messages of a binary upgrade (upgrade.h), pure: bytes in,
 * values out. Every message is a fixed 8-byte record, "PG", a type, a zero
 * byte and a 32-bit value (network order); the hand-over (UPG_SOCKS) is
 * followed by value addresses of UPG_ADDR_LEN bytes each (family, port,
 * 16 address bytes), sent with the listening sockets in the same order
 * (SCM_RIGHTS).
 *
 *   old -> new  UPG_SOCKS n, addresses   the listeners, state saved before
 *   new -> old  UPG_READY pid            the new process accepts
 *   old -> new  UPG_GO 0                 the old one stopped accepting and
 *                                        told systemd the new MAINPID
 *   old -> new  UPG_DRAINING n           sessions it still relays (each s)
 */
#ifndef POOLGATE_UPGMSG_H
#define POOLGATE_UPGMSG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define UPG_MSG_LEN   8
#define UPG_ADDR_LEN  20
#define UPG_MAX_SOCKS 64     /* sockets handed over, at most */

enum upg_type {
	UPG_SOCKS = 1,
	UPG_READY,
	UPG_GO,
	UPG_DRAINING,
};

/* Write one message into buf (UPG_MSG_LEN bytes at least). */
void upg_put(uint8_t *buf, enum upg_type t, uint32_t v);

/*
 * Read the message at buf (len bytes). Returns 0 with *t and *v set, or -1
 * when it is short or not one of ours.
 */
int  upg_get(const uint8_t *buf, size_t len, enum upg_type *t, uint32_t *v);

/*
 * Write an IPv4 or IPv6 address into buf (UPG_ADDR_LEN bytes). Returns 0,
 * or -1 for another family.
 */
int  upg_put_addr(uint8_t *buf, const struct sockaddr_storage *ss);

/*
 * Read an address written by upg_put_addr (UPG_ADDR_LEN bytes). Returns 0,
 * or -1 when the family is neither or a padding byte is set.
 */
int  upg_get_addr(const uint8_t *buf, struct sockaddr_storage *ss);

#endif
