// SPDX-License-Identifier: GPL-2.0
/*
 * sock_filter.bpf.c — a socket filter (SO_ATTACH_BPF) for a UDP socket.
 *
 * On a UDP socket the filter sees each datagram from its UDP header on; its
 * return value is how many bytes to keep. keep_short drops datagrams whose
 * payload starts with 'D', truncates those starting with 'T' to 4 bytes of
 * payload, and keeps the others whole; it counts what it saw and dropped.
 *
 * Rebuild with `cargo xtask build-progs sock_filter`; never edit the .bpf.o by
 * hand.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define UDP_HLEN 8

__u64 seen;
__u64 dropped;
__u64 truncated;

SEC("socket")
int keep_short(struct __sk_buff *skb)
{
	__u8 first;

	__sync_fetch_and_add(&seen, 1);
	if (bpf_skb_load_bytes(skb, UDP_HLEN, &first, 1))
		return skb->len;
	if (first == 'D') {
		__sync_fetch_and_add(&dropped, 1);
		return 0;
	}
	if (first == 'T') {
		__sync_fetch_and_add(&truncated, 1);
		return UDP_HLEN + 4;
	}
	return skb->len;
}

char LICENSE[] SEC("license") = "GPL";
