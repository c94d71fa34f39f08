// SPDX-License-Identifier: GPL-2.0
/*
 * sock_netfilter.bpf.c — a netfilter program (6.4+).
 *
 * drop_marked drops (NF_DROP) the packets whose skb mark is `drop_mark`
 * (set before load; senders mark with SO_MARK) and accepts the others; it
 * counts both. The context and sk_buff fields are read through CO-RE.
 *
 * Rebuild with `cargo xtask build-progs sock_netfilter`; never edit the .bpf.o
 * by hand.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define NF_DROP 0
#define NF_ACCEPT 1

struct sk_buff {
	__u32 mark;
} __attribute__((preserve_access_index));

struct bpf_nf_ctx {
	const void *state;
	struct sk_buff *skb;
} __attribute__((preserve_access_index));

const volatile __u32 drop_mark = 0;

__u64 accepted;
__u64 dropped;

SEC("netfilter")
int drop_marked(struct bpf_nf_ctx *ctx)
{
	struct sk_buff *skb = ctx->skb;

	if (drop_mark && skb->mark == drop_mark) {
		__sync_fetch_and_add(&dropped, 1);
		return NF_DROP;
	}
	__sync_fetch_and_add(&accepted, 1);
	return NF_ACCEPT;
}

char LICENSE[] SEC("license") = "GPL";
