// SPDX-License-Identifier: GPL-2.0
/*
 * maps_kinds.bpf.c — one program per family of map types, each driven by a
 * syscall of the test's own thread (`target_tid`, set before load):
 *
 *   getpgid:    hash, array, percpu_hash, percpu_array, lru_hash, lru_percpu_hash
 *               count per key `input` (a .bss value the test writes through the
 *               mmap'd view);
 *   getsid:     lpm_trie: `output` = the value of the longest prefix matching the
 *               IPv4 address in `input`, or 0xffffffff;
 *   getgid:      queue and stack get `input` pushed.
 *
 * The bloom filter (5.16+) is in maps_bloom.bpf.c, so that older kernels load this.
 *
 * Rebuild with `cargo xtask build-progs maps_kinds`; never edit the .bpf.o by hand.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

typedef __u32 u32;
typedef __u64 u64;

const volatile u32 target_tid = 0;

u64 input;
u64 output;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, u32);
	__type(value, u64);
} hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 8);
	__type(key, u32);
	__type(value, u64);
} array SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 64);
	__type(key, u32);
	__type(value, u64);
} percpu_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 8);
	__type(key, u32);
	__type(value, u64);
} percpu_array SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 64);
	__type(key, u32);
	__type(value, u64);
} lru_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_PERCPU_HASH);
	__uint(max_entries, 64);
	__type(key, u32);
	__type(value, u64);
} lru_percpu_hash SEC(".maps");

struct ipv4_key {
	u32 prefix_len;
	__u8 addr[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct ipv4_key);
	__type(value, u32);
} routes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 16);
	__type(value, u64);
} queue SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK);
	__uint(max_entries, 16);
	__type(value, u64);
} stack SEC(".maps");

static __always_inline int mine(void)
{
	return (u32)bpf_get_current_pid_tgid() == target_tid;
}

/* *slot += 1, creating it as 1 when missing. */
static __always_inline void count(void *map, u32 *key)
{
	u64 one = 1, *v = bpf_map_lookup_elem(map, key);

	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(map, key, &one, BPF_NOEXIST);
}

SEC("tracepoint/syscalls/sys_enter_getpgid")
int count_keys(void *ctx)
{
	u32 key, slot;
	u64 *v;

	if (!mine())
		return 0;
	key = (u32)input;
	slot = key % 8;
	count(&hash, &key);
	count(&lru_hash, &key);
	count(&percpu_hash, &key);
	count(&lru_percpu_hash, &key);
	v = bpf_map_lookup_elem(&array, &slot);
	if (v)
		__sync_fetch_and_add(v, 1);
	v = bpf_map_lookup_elem(&percpu_array, &slot);
	if (v)
		*v += 1; /* this CPU's slot: no other CPU writes it */
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getsid")
int match_prefix(void *ctx)
{
	struct ipv4_key key = { .prefix_len = 32 };
	u32 *v;

	if (!mine())
		return 0;
	__builtin_memcpy(key.addr, &input, 4);
	v = bpf_map_lookup_elem(&routes, &key);
	output = v ? *v : 0xffffffff;
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getgid")
int push(void *ctx)
{
	u64 v = input;

	if (!mine())
		return 0;
	bpf_map_push_elem(&queue, &v, BPF_ANY);
	bpf_map_push_elem(&stack, &v, BPF_ANY);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
