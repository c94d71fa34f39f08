// SPDX-License-Identifier: GPL-2.0
/*
 * sock_flow.bpf.c — a flow dissector for IPv4 TCP and UDP.
 *
 * dissect fills `struct bpf_flow_keys` from the IPv4 header and the ports, as
 * the kernel's own dissector would for these protocols, and records what it
 * dissected last (`last_proto`, `last_dport`, host byte order) and how many
 * packets (`dissected`). Anything else is refused (BPF_DROP: the dissection
 * fails), which the tests' traffic, in a namespace of its own, never needs.
 * A flow dissector reads the packet, not the skb: the protocol comes from the
 * keys (`n_proto`, set by the kernel) and the bytes by direct packet access
 * (bpf_skb_load_bytes needs an skb, which a test run does not have).
 *
 * Rebuild with `cargo xtask build-progs sock_flow`; never edit the .bpf.o by
 * hand.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

__u64 dissected;
__u32 last_proto;
__u32 last_dport;

SEC("flow_dissector")
int dissect(struct __sk_buff *skb)
{
	struct bpf_flow_keys *keys = skb->flow_keys;
	void *data = (void *)(long)skb->data;
	void *data_end = (void *)(long)skb->data_end;
	__u16 nhoff = keys->nhoff, thoff;
	struct iphdr *ip = data + nhoff;
	__u16 *ports;

	/* A bounded offset, so the verifier can check the accesses after it. */
	if (keys->n_proto != bpf_htons(ETH_P_IP) || nhoff > 64)
		return BPF_DROP;
	if ((void *)(ip + 1) > data_end || ip->ihl < 5)
		return BPF_DROP;
	thoff = nhoff + ip->ihl * 4;
	keys->addr_proto = ETH_P_IP;
	keys->ipv4_src = ip->saddr;
	keys->ipv4_dst = ip->daddr;
	keys->ip_proto = ip->protocol;
	keys->thoff = thoff;
	if (ip->protocol != IPPROTO_TCP && ip->protocol != IPPROTO_UDP)
		return BPF_OK;
	ports = data + thoff;
	if ((void *)(ports + 2) > data_end)
		return BPF_DROP;
	keys->sport = ports[0];
	keys->dport = ports[1];
	__sync_fetch_and_add(&dissected, 1);
	last_proto = ip->protocol;
	last_dport = bpf_ntohs(ports[1]);
	return BPF_OK;
}

char LICENSE[] SEC("license") = "GPL";
