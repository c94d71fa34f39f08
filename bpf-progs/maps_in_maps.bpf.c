// SPDX-License-Identifier: GPL-2.0
/*
 * maps_in_maps.bpf.c — an array of maps and a hash of maps, both with `values`
 * initializers. On getppid(2) of the test's thread the program adds 1 to slot 0
 * of the map in `outer_array[slot]` and 10 to slot 0 of the map in
 * `outer_hash[slot]` (`slot` is .bss). At load, outer_array holds inner_a and
 * inner_b in slots 0 and 1, outer_hash holds inner_b under key 3; the test swaps
 * in a map of its own at run time.
 *
 * Rebuild with `cargo xtask build-progs maps_in_maps`; never edit the .bpf.o by hand.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

typedef __u32 u32;
typedef __u64 u64;

const volatile u32 target_tid = 0;

u32 slot;
u64 misses;

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
};

struct inner inner_a SEC(".maps");
struct inner inner_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, u32);
	__array(values, struct inner);
} outer_array SEC(".maps") = {
	.values = { &inner_a, &inner_b },
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 8);
	__type(key, u32);
	__array(values, struct inner);
} outer_hash SEC(".maps") = {
	.values = { [3] = &inner_b },
};

static __always_inline void add(void *outer, u32 key, u64 n)
{
	u32 zero = 0;
	void *inner = bpf_map_lookup_elem(outer, &key);
	u64 *v;

	if (!inner) {
		misses += 1;
		return;
	}
	v = bpf_map_lookup_elem(inner, &zero);
	if (v)
		__sync_fetch_and_add(v, n);
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int bump(void *ctx)
{
	if ((u32)bpf_get_current_pid_tgid() != target_tid)
		return 0;
	add(&outer_array, slot, 1);
	add(&outer_hash, slot, 10);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
