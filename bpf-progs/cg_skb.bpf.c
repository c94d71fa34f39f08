// SPDX-License-Identifier: GPL-2.0
/*
 * cg_skb.bpf.c — cgroup_skb programs: count what a cgroup's sockets receive,
 * count what they send and drop UDP datagrams to one port.
 *
 * count_ingress keeps its counts in a BPF_MAP_TYPE_CGROUP_STORAGE: one value
 * per (cgroup, attach type) the program is attached to, which user space reads
 * with the key { cgroup inode number, BPF_CGROUP_INET_INGRESS }.
 * count_egress counts in .bss and drops (returns 0) the IPv4 UDP datagrams
 * whose destination port is `drop_port`, which user space sets before load.
 *
 * Rebuild with `cargo xtask build-progs cg_skb`; never edit the .bpf.o by hand.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct counts {
	__u64 packets;
	__u64 bytes;
};

struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_STORAGE);
	__type(key, struct bpf_cgroup_storage_key);
	__type(value, struct counts);
} ingress_counts SEC(".maps");

const volatile __u16 drop_port = 0;

__u64 egress_packets;
__u64 egress_dropped;

SEC("cgroup_skb/ingress")
int count_ingress(struct __sk_buff *skb)
{
	struct counts *c = bpf_get_local_storage(&ingress_counts, 0);

	__sync_fetch_and_add(&c->packets, 1);
	__sync_fetch_and_add(&c->bytes, skb->len);
	return 1;
}

/* The UDP destination port of an IPv4 packet (data starts at the IP header),
 * or 0. */
static __u16 udp_dport(struct __sk_buff *skb)
{
	struct iphdr ip;
	struct udphdr udp;

	if (skb->protocol != bpf_htons(ETH_P_IP))
		return 0;
	if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)) || ip.protocol != IPPROTO_UDP)
		return 0;
	if (bpf_skb_load_bytes(skb, ip.ihl * 4, &udp, sizeof(udp)))
		return 0;
	return bpf_ntohs(udp.dest);
}

SEC("cgroup_skb/egress")
int count_egress(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&egress_packets, 1);
	if (drop_port && udp_dport(skb) == drop_port) {
		__sync_fetch_and_add(&egress_dropped, 1);
		return 0;
	}
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
