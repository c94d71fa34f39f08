// SPDX-License-Identifier: GPL-2.0
/* A program that uses a map declared extern and defined nowhere. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

extern struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} ghost SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_execve")
int use_ghost(void *ctx)
{
	__u32 key = 0;
	__u64 *value;

	value = bpf_map_lookup_elem(&counts, &key);
	if (value)
		__sync_fetch_and_add(value, 1);
	value = bpf_map_lookup_elem(&ghost, &key);
	if (value)
		__sync_fetch_and_add(value, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
