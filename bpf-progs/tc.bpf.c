// SPDX-License-Identifier: GPL-2.0
/*
 * tc.bpf.c — TC and netkit programs for corebpf's tests (tests/tc.rs).
 *
 * Every program looks only at IPv4 UDP datagrams to `port` (set in .rodata
 * before load) and counts what it saw in .bss, where the test reads it:
 *
 *   - tc_pass / tc_drop (SEC "tc", attached through tcx or a clsact qdisc):
 *     TC_ACT_OK / TC_ACT_SHOT;
 *   - tc_mark: sets skb->mark to MARK and returns -1 (TC_ACT_UNSPEC for
 *     cls_bpf, TCX_NEXT for tcx: either way the next program runs);
 *     tc_count_marked, attached after it, counts the datagrams that carry the
 *     mark and passes them: a mark seen there was set by tc_mark;
 *   - tcx_ingress_drop / tcx_egress_drop (SEC "tcx/ingress", "tcx/egress"):
 *     drop, for the sections that name their hook;
 *   - netkit_primary_count / netkit_peer_count (SEC "netkit/primary",
 *     "netkit/peer"): count and return NETKIT_PASS, or NETKIT_DROP when
 *     `netkit_drop` is set before load.
 *
 * Rebuild with `cargo xtask build-progs tc`.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;

#define MARK 0x2a2a

/* netkit's verdicts (enum netkit_action in linux/if_link.h, 6.7+). */
#define NETKIT_PASS 0
#define NETKIT_DROP 2

const volatile u16 port = 0;
const volatile _Bool netkit_drop = 0;

u64 passed = 0;
u64 dropped = 0;
u64 marked = 0;
u64 marked_seen = 0;
u64 primary_seen = 0;
u64 peer_seen = 0;

/* True for an IPv4 UDP datagram to `port`; reads through bpf_skb_load_bytes so
 * headers outside the linear part are found too. */
static __always_inline int ours(struct __sk_buff *skb)
{
	struct iphdr ip;
	struct udphdr udp;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return 0;
	if (bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof(ip)))
		return 0;
	if (ip.protocol != IPPROTO_UDP || ip.ihl != 5)
		return 0;
	if (bpf_skb_load_bytes(skb, ETH_HLEN + sizeof(ip), &udp, sizeof(udp)))
		return 0;
	return udp.dest == bpf_htons(port);
}

SEC("tc")
int tc_pass(struct __sk_buff *skb)
{
	if (ours(skb))
		__sync_fetch_and_add(&passed, 1);
	return TC_ACT_OK;
}

SEC("tc")
int tc_drop(struct __sk_buff *skb)
{
	if (!ours(skb))
		return TC_ACT_OK;
	__sync_fetch_and_add(&dropped, 1);
	return TC_ACT_SHOT;
}

SEC("tc")
int tc_mark(struct __sk_buff *skb)
{
	if (ours(skb)) {
		skb->mark = MARK;
		__sync_fetch_and_add(&marked, 1);
	}
	return -1;
}

SEC("tc")
int tc_count_marked(struct __sk_buff *skb)
{
	if (ours(skb) && skb->mark == MARK)
		__sync_fetch_and_add(&marked_seen, 1);
	return TC_ACT_OK;
}

SEC("tcx/ingress")
int tcx_ingress_drop(struct __sk_buff *skb)
{
	if (!ours(skb))
		return TC_ACT_OK;
	__sync_fetch_and_add(&dropped, 1);
	return TC_ACT_SHOT;
}

SEC("tcx/egress")
int tcx_egress_drop(struct __sk_buff *skb)
{
	if (!ours(skb))
		return TC_ACT_OK;
	__sync_fetch_and_add(&dropped, 1);
	return TC_ACT_SHOT;
}

SEC("netkit/primary")
int netkit_primary_count(struct __sk_buff *skb)
{
	if (!ours(skb))
		return NETKIT_PASS;
	__sync_fetch_and_add(&primary_seen, 1);
	return netkit_drop ? NETKIT_DROP : NETKIT_PASS;
}

SEC("netkit/peer")
int netkit_peer_count(struct __sk_buff *skb)
{
	if (!ours(skb))
		return NETKIT_PASS;
	__sync_fetch_and_add(&peer_seen, 1);
	return netkit_drop ? NETKIT_DROP : NETKIT_PASS;
}

char LICENSE[] SEC("license") = "GPL";
