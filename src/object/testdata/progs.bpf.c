// SPDX-License-Identifier: GPL-2.0
/* Test object for the object layer: programs, maps, global data, subprograms. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

typedef __u32 u32;
typedef __u64 u64;

struct value_t {
	u64 a;
	u32 b;
	u32 c;
};

/* Every integer field of a BTF map definition. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 128);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(numa_node, 0);
	__type(key, u32);
	__type(value, struct value_t);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(key_size, 4);
	__uint(value_size, 8);
	__uint(max_entries, 4);
} sizes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
	__type(value, u32);
	__uint(max_entries, 16);
	__uint(map_extra, 3);
} bloom SEC(".maps");

/* Global data: .data with a variable at a nonzero offset, .rodata, .bss. */
u64 data_first = 0x1111111111111111ULL;
u32 data_second = 0x22222222;
const volatile u32 ro_value = 42;
u64 bss_counter;

extern int LINUX_KERNEL_VERSION __kconfig;

static __attribute__((noinline)) u64 leaf(u64 x)
{
	return x * 3 + data_second;
}

static __attribute__((noinline)) u64 middle(u64 x)
{
	u32 key = (u32)x;
	struct value_t *v = bpf_map_lookup_elem(&counts, &key);

	if (v)
		return leaf(v->a) + 1;
	return leaf(x);
}

__attribute__((noinline)) int global_helper(int x)
{
	bss_counter += x;
	return x + ro_value;
}

static int loop_cb(u32 index, void *ctx)
{
	bss_counter += index;
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_execve")
int prog_a(void *ctx)
{
	u64 r = middle(data_first);

	bss_counter += r;
	return global_helper((int)r);
}

SEC("kprobe/do_sys_open+16")
int prog_b(void *ctx)
{
	u32 key = 1;
	u64 *v = bpf_map_lookup_elem(&sizes, &key);

	if (v)
		*v += leaf(2);
	if (LINUX_KERNEL_VERSION > 0)
		data_second = 7;
	return 0;
}

SEC("?xdp")
int prog_c(struct xdp_md *ctx)
{
	bpf_loop(4, loop_cb, 0, 0);
	return XDP_PASS;
}

/* Two programs in one section. The static variable is reached through the
 * .data section symbol (offset in the instruction's imm), the string literal
 * through .rodata.str1.1. */
SEC("socket")
int sock_one(void *ctx)
{
	static u32 hits = 5;
	char buf[8];

	hits++;
	bpf_probe_read_kernel_str(buf, sizeof(buf), "literal");
	return (int)ro_value + hits + buf[1];
}

SEC("socket")
int sock_two(void *ctx)
{
	u32 key = 2;

	return bpf_map_lookup_elem(&bloom, &key) != 0;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
u32 _version SEC("version") = 0x060100;
