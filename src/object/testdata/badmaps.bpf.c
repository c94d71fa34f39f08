// SPDX-License-Identifier: GPL-2.0
/* Map definitions libbpf refuses: built once per -D flag (see build.sh). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#ifdef UNKNOWN_FIELD
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
	__uint(colour, 3);
} odd SEC(".maps");
#define MAP odd
#endif

#ifdef VALUES
struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} inner_a SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner);
} outer SEC(".maps") = {
	.values = { &inner_a },
};
#define MAP outer
#endif

SEC("socket")
int prog(void *ctx)
{
	__u32 k = 0;

	return bpf_map_lookup_elem(&MAP, &k) != 0;
}

char LICENSE[] SEC("license") = "GPL";
