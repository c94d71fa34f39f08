// SPDX-License-Identifier: GPL-2.0
/*
 * sock_reuseport.bpf.c — an sk_reuseport program choosing the socket of a
 * SO_REUSEPORT group that gets each new connection.
 *
 * select_listener picks the socket of `listeners` (a reuseport_sockarray) at
 * the index stored in `choice[0]`, which user space may change at any time;
 * `selected` counts the choices made.
 *
 * Rebuild with `cargo xtask build-progs sock_reuseport`; never edit the .bpf.o
 * by hand.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} listeners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} choice SEC(".maps");

__u64 selected;

SEC("sk_reuseport")
int select_listener(struct sk_reuseport_md *md)
{
	__u32 zero = 0;
	__u32 *index = bpf_map_lookup_elem(&choice, &zero);

	if (!index)
		return SK_DROP;
	if (bpf_sk_select_reuseport(md, &listeners, index, 0))
		return SK_DROP;
	__sync_fetch_and_add(&selected, 1);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "GPL";
