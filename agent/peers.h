/*
 * peers.h -- the TCP peer of each sshd session (poolgate's side of the
 * relayed connection, so poolgate can show the real client next to the user).
 *
 * proc_root/net/tcp and tcp6 list every established connection with its
 * socket inode; the session's sshd process holds that socket, and its
 * proc_root/<pid>/fd/ links name it ("socket:[INODE]"). Reading the fd links
 * of another user's process needs CAP_SYS_PTRACE (the unit grants it, see
 * poolgate-agent(8)); without it the sessions are reported without a peer.
 */
#ifndef POOLGATE_AGENT_PEERS_H
#define POOLGATE_AGENT_PEERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "agent/procs.h"
#include "agent/sessions.h"

#define PR_CONNS_MAX   16384   /* established connections read per file */
#define PR_FDS_MAX     1024    /* fd links read per process */
#define PR_PORTS_MAX   8       /* sshd ports */
#define PR_TCP_FILE_MAX (4u << 20)

struct pr_conn {
	uint64_t inode;
	char     peer[AG_ADDR_MAX];   /* v4-mapped addresses written as IPv4 */
	uint16_t peer_port;
	uint16_t local_port;
};

/*
 * Pure. Read the text of /proc/net/tcp (v6 false) or tcp6 (v6 true):
 * established connections whose local port is one of ports[0..nports),
 * appended to out[*n..max). Lines that do not parse are skipped. The
 * addresses are the kernel's words in this host's byte order.
 */
void pr_parse_tcp(const char *text, size_t len, bool v6,
    const uint16_t *ports, size_t nports, struct pr_conn *out, size_t max,
    size_t *n);

/*
 * For each session with a pid whose service is "sshd" or unknown (utmp):
 * walk from its pid up through at most 4 ancestors (procs, sorted by pid)
 * and, in each sshd process (comm "sshd", "sshd-session"), look for one of
 * the connections among its fd links. Sets has_peer, peer_addr, peer_port
 * and local_port of the sessions where one is found. Returns how many
 * sessions could not be looked at for lack of permission.
 */
size_t pr_find_peers(const char *proc_root, struct ag_session *s, size_t n,
    const struct ps_proc *procs, size_t nprocs, const uint16_t *ports,
    size_t nports);

#endif
