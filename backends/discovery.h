/*
 * discovery.h -- finding VMs beyond backends[]: a watched file and a DNS name.
 *
 * The "discovery" group of the configuration (struct cfg_discovery) names
 * a file (backends/discofile.h gives its format) and/or a DNS name. Every
 * refresh_ms, and at once on start and on reconfiguration:
 *
 *  - the file is looked at (stat: device, inode, size, mtime) and read
 *    again when it changed; a valid version becomes the wanted set of
 *    source BE_SRC_DISCOVERY_FILE. A version with any bad line is refused
 *    whole (every error logged once, with its line) and the last good set
 *    stays. A file that cannot be read (missing, unreadable, not a regular
 *    file) also keeps the set: only a readable, valid, empty file empties
 *    that part of the pool. A file that changes while it is read is read
 *    again on the next refresh. Replace it atomically (write a temporary
 *    file, then mv) all the same.
 *
 *  - the DNS name is resolved, A and AAAA at once, with libevent's evdns
 *    (never blocking the loop), name as written (no search domains; write
 *    it fully qualified). Each address is a VM of source BE_SRC_DNS called
 *    "dns-" and the address with '.' (IPv4) or ':' (IPv6) made '-':
 *    10.0.0.4 is dns-10-0-0-4, fd00::4 is dns-fd00--4 (distinct addresses
 *    always give distinct names). Weight and max_sessions are the group's.
 *    Record TTLs are not used: refresh_ms is the only clock.
 *
 *    What keeps the current set, with a warning logged once (until the
 *    answer changes): a failed query (timeout, SERVFAIL, REFUSED, an answer
 *    too large for UDP, ...) keeps that family's VMs, the other family is
 *    still updated; an answer that would leave no VM at all (NXDOMAIN, or
 *    no A and no AAAA record) while there are VMs keeps them all. A pool
 *    emptied by DNS is far more often a broken zone or resolver than an
 *    intended scale-in to zero; an operator empties it by removing
 *    discovery.dns (reload), which removes every DNS VM at once. Addresses
 *    that cannot be a VM's (0.0.0.0, ::, multicast, broadcast: sinkhole
 *    answers) are ignored with a warning.
 *
 *    Limits of libevent 2.1's evdns: UDP only, no EDNS0, so an answer over
 *    512 bytes is truncated, which counts as a failed query: about 29 A or
 *    16 AAAA records for a short name. Use the file for larger pools.
 *
 *    The nameservers are those of /etc/resolv.conf, read again at each
 *    disc_reconfigure() (reload). When the environment
 *    variable POOLGATE_DNS_SERVER is set (to "IP" or "IP:PORT", "[v6]:PORT")
 *    that nameserver is the only one used instead: for tests, against a
 *    local server on loopback.
 *
 * The wanted set is applied with mbr_upsert() for a VM that is new
 * or changed (it starts down until its checks pass) and mbr_remove()
 * for one no longer wanted (it drains, then is forgotten), removals first so
 * that an address can move from one name to another. What the source
 * currently has is read from the pool itself (every VM of that source not
 * being removed), so discovery never loses track of its VMs. Each source
 * touches only its own VMs: a name owned by another source (say, defined in
 * backends[]) is refused by mbr_upsert(), and so is an address that
 * another VM not being removed already has (two names for one machine
 * would count its sessions twice); either is logged once and tried again
 * every refresh. Every change is logged:
 *
 *	discovery: vm5 (10.0.0.9) added from /etc/poolgate/backends
 *
 * All of it runs on base, in the loop's thread.
 */
#ifndef POOLGATE_DISCOVERY_H
#define POOLGATE_DISCOVERY_H

#include "config/config.h"

/* The environment variable that points DNS discovery at one nameserver. */
#define DISC_DNS_SERVER_ENV "POOLGATE_DNS_SERVER"

struct event_base;
struct members;
struct discovery;

/*
 * Start discovery as cfg says; cfg->enabled false gives an idle object that
 * a later disc_reconfigure() may enable. cfg is copied: it may be freed
 * after the call. The file is read and applied before this returns (so
 * call it once the pool, services and checks are up); the first DNS query
 * is sent at once and applied when it answers. Returns the object, owned by
 * the caller (disc_free), or NULL when out of memory (logged). A DNS
 * resolver that cannot be set up is not a failure: it is logged and tried
 * again every refresh.
 */
struct discovery *disc_start(struct event_base *base, struct members *mbr,
    const struct cfg_discovery *cfg);

/*
 * Apply a new configuration (after a reload; cfg copied). A file or DNS
 * name no longer given removes every VM it brought (they drain); a new or
 * changed one is read or resolved at once; a changed weight or
 * max_sessions is applied to the VMs concerned; a changed refresh restarts
 * the timer. cfg->enabled false is as if neither file nor dns were given.
 * Returns 0, or -1 when out of memory (logged; the running discovery is
 * left as it was).
 */
int  disc_reconfigure(struct discovery *d, const struct cfg_discovery *cfg);

/*
 * Stop discovering and free d; d may be NULL. The pool is left as it is:
 * discovered VMs stay (use disc_reconfigure() with discovery disabled to
 * remove them). DNS queries still in flight are cancelled; their
 * callbacks run on a later turn of the loop and touch nothing of d. Call
 * it while the loop still runs (srv_stop) so that those callbacks free
 * their few bytes; calling it after the loop ended leaks them.
 */
void disc_free(struct discovery *d);

#endif
