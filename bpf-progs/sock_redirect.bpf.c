// SPDX-License-Identifier: GPL-2.0
/*
 * sock_redirect.bpf.c — sk_skb and sk_msg programs redirecting between TCP
 * sockets.
 *
 *   - parse_whole (sk_skb/stream_parser) makes each received skb one message;
 *   - redirect_to_peer (sk_skb/stream_verdict) sends what a socket of
 *     `sock_map` receives into the receive queue of the socket at index 1;
 *   - msg_to_peer (sk_msg) sends what a socket of `sock_hash` sends into the
 *     receive queue of the socket with key 1.
 * The counters count redirected messages and bytes.
 *
 * Rebuild with `cargo xtask build-progs sock_redirect`; never edit the .bpf.o
 * by hand.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} sock_map SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} sock_hash SEC(".maps");

__u64 skb_redirects;
__u64 skb_bytes;
__u64 msg_redirects;
__u64 msg_bytes;

SEC("sk_skb/stream_parser")
int parse_whole(struct __sk_buff *skb)
{
	return skb->len;
}

SEC("sk_skb/stream_verdict")
int redirect_to_peer(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&skb_redirects, 1);
	__sync_fetch_and_add(&skb_bytes, skb->len);
	return bpf_sk_redirect_map(skb, &sock_map, 1, BPF_F_INGRESS);
}

SEC("sk_msg")
int msg_to_peer(struct sk_msg_md *msg)
{
	__u32 key = 1;

	__sync_fetch_and_add(&msg_redirects, 1);
	__sync_fetch_and_add(&msg_bytes, msg->size);
	return bpf_msg_redirect_hash(msg, &sock_hash, &key, BPF_F_INGRESS);
}

char LICENSE[] SEC("license") = "GPL";
