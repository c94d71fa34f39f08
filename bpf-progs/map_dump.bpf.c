// SPDX-License-Identifier: GPL-2.0
/*
 * map_dump.bpf.c — maps whose BTF exercises `corebpf map dump`: a hash whose
 * value holds a nested struct, an int array, a char array, an enum and
 * bitfields; an array of u64; a per-CPU hash. The tests fill them from user
 * space and check the formatted entries; the program only keeps the maps
 * referenced.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

typedef __u32 u32;
typedef __u64 u64;

enum colour { RED = 1, GREEN = 2, BLUE = 7 };

struct inner {
	u32 a;
	u32 b;
};

struct record {
	u32 id;
	char comm[8];
	struct inner in;
	u32 counts[3];
	enum colour colour;
	u32 lo : 4;
	u32 hi : 12;
	u32 : 16;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, u32);
	__type(value, struct record);
} records SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, u32);
	__type(value, u64);
} totals SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 8);
	__type(key, u32);
	__type(value, u64);
} per_cpu SEC(".maps");

SEC("socket")
int keep(void *ctx)
{
	u32 k = 0;

	bpf_map_lookup_elem(&records, &k);
	bpf_map_lookup_elem(&totals, &k);
	bpf_map_lookup_elem(&per_cpu, &k);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
