// SPDX-License-Identifier: GPL-2.0
/*
 * sock_lookup.bpf.c — an sk_lookup program (5.9+) steering connections.
 *
 * steer gives a TCP connection to port `from_port` (host byte order, set
 * before load) to the listening socket stored at index 0 of `listeners`,
 * whatever port that one listens on; `steered` counts them.
 *
 * Rebuild with `cargo xtask build-progs sock_lookup`; never edit the .bpf.o
 * by hand.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} listeners SEC(".maps");

const volatile __u16 from_port = 0;

__u64 steered;

SEC("sk_lookup")
int steer(struct bpf_sk_lookup *ctx)
{
	__u32 zero = 0;
	struct bpf_sock *sk;
	long err;

	if (ctx->protocol != IPPROTO_TCP || ctx->local_port != from_port)
		return SK_PASS;
	sk = bpf_map_lookup_elem(&listeners, &zero);
	if (!sk)
		return SK_PASS;
	err = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	if (!err)
		__sync_fetch_and_add(&steered, 1);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "GPL";
