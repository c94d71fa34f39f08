// SPDX-License-Identifier: GPL-2.0
/* A BTF map whose key type contradicts its key_size. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8);
	__uint(key_size, 8);
	__type(key, __u32);
	__type(value, __u64);
} bad_map SEC(".maps");

SEC("socket")
int prog(void *ctx)
{
	__u32 k = 0;

	return bpf_map_lookup_elem(&bad_map, &k) != 0;
}

char LICENSE[] SEC("license") = "GPL";
