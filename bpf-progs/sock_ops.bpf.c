// SPDX-License-Identifier: GPL-2.0
/*
 * sock_ops.bpf.c — a sock_ops program (attached to a cgroup) watching TCP
 * connections.
 *
 * track_established counts the active and passive "established" callbacks,
 * adds every established socket to `established` (a sockhash keyed by its
 * local port), and counts in each socket's sk_storage (`callbacks`) the
 * callbacks it saw.
 *
 * Rebuild with `cargo xtask build-progs sock_ops`; never edit the .bpf.o by
 * hand.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_SOCKHASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} established SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} callbacks SEC(".maps");

__u64 active;
__u64 passive;
__u64 added;

SEC("sockops")
int track_established(struct bpf_sock_ops *ops)
{
	__u32 port = ops->local_port;
	struct bpf_sock *sk = ops->sk;
	__u64 *count;

	switch (ops->op) {
	case BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB:
		__sync_fetch_and_add(&active, 1);
		break;
	case BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB:
		__sync_fetch_and_add(&passive, 1);
		break;
	default:
		return 1;
	}
	if (sk) {
		count = bpf_sk_storage_get(&callbacks, sk, 0,
					   BPF_SK_STORAGE_GET_F_CREATE);
		if (count)
			__sync_fetch_and_add(count, 1);
	}
	if (!bpf_sock_hash_update(ops, &established, &port, BPF_NOEXIST))
		__sync_fetch_and_add(&added, 1);
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
