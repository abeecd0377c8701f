/*
 * relay.bpf.c -- the in-kernel relay of bench/sockmap: an sk_skb verdict
 * program that sends every skb received on one socket of a relayed pair out
 * of (egress) the other socket.
 *
 * Two sockhash maps, both keyed by socket cookie:
 *   peers   the entry under the cookie of socket A holds A's partner B (and
 *           the one under B's cookie holds A): the redirect targets. No
 *           program is attached to it, so putting a socket in it changes
 *           nothing about how that socket receives.
 *   active  the verdict program is attached to this one: putting a socket
 *           in it hands its received bytes to the program.
 * User space puts both sockets of a pair in peers before either goes into
 * active, so the program never meets a socket whose partner is not yet a
 * target (with one map, the first insert would activate a socket whose
 * partner is missing, and an skb arriving then would be dropped: bytes TCP
 * has already acknowledged, lost).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u64);
} peers SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u64);
} active SEC(".maps");

/* counts for smrelay -v: [0] redirected, [1] no partner (dropped), [2] empty */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void
count(__u32 i)
{
	__u64 *n = bpf_map_lookup_elem(&stats, &i);

	if (n != NULL)
		__sync_fetch_and_add(n, 1);
}

SEC("sk_skb")
int
relay_verdict(struct __sk_buff *skb)
{
	__u64 cookie;
	long verdict;

	/*
	 * A FIN that carries no data reaches the program as an skb of length
	 * 0 (tcp_read_skb hands it over like any other). Redirected, the
	 * partner's backlog worker sends 0 bytes, takes that for a broken
	 * pipe, reports EPIPE on the partner and stops its transmit for good:
	 * every later byte the other way is lost. The FIN is already known to
	 * the socket (user space sees EPOLLRDHUP), so the empty skb is dropped.
	 */
	if (skb->len == 0) {
		count(2);
		return SK_DROP;
	}
	cookie = bpf_get_socket_cookie(skb);
	/*
	 * flags 0: out of the partner (egress), not into its receive queue.
	 * No partner (it left the map at the end of the session): SK_DROP.
	 */
	verdict = bpf_sk_redirect_hash(skb, &peers, &cookie, 0);
	count(verdict == SK_PASS ? 0 : 1);
	return (int)verdict;
}

char LICENSE[] SEC("license") = "GPL";
