// SPDX-License-Identifier: GPL-2.0
/*
 * maps_sock.bpf.c — a socket map and a socket hash. `steer` is an sk_msg verdict
 * program (attached to a map by the test): every message a socket of that map sends
 * is counted (`msgs`, `bytes`, .bss) and redirected to the receive side of the socket
 * at slot `target` of `socks`, or under `hash_key` of `socks_by_key` when `use_hash`
 * is set. An empty slot drops the message (the sender sees EACCES).
 *
 * Rebuild with `cargo xtask build-progs maps_sock`; never edit the .bpf.o by hand.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

typedef __u32 u32;
typedef __u64 u64;

u32 target;
u32 use_hash;
u64 hash_key;
u32 msgs;
u64 bytes;

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 2);
	__type(key, u32);
	__type(value, u64);
} socks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 2);
	__type(key, u64);
	__type(value, u64);
} socks_by_key SEC(".maps");

SEC("sk_msg")
int steer(struct sk_msg_md *msg)
{
	u64 key = hash_key;

	msgs++;
	bytes += msg->size;
	if (use_hash)
		return bpf_msg_redirect_hash(msg, &socks_by_key, &key, BPF_F_INGRESS);
	return bpf_msg_redirect_map(msg, &socks, target, BPF_F_INGRESS);
}

char LICENSE[] SEC("license") = "GPL";
