// SPDX-License-Identifier: GPL-2.0
/*
 * syscall.bpf.c — a `syscall` program for tests/kinds_misc.rs, run by
 * BPF_PROG_TEST_RUN with a `struct args` context:
 *
 *   - it writes a + b into `sum` (the kernel copies the context back);
 *   - it creates an array map of `max_entries` u64 values named "syscall_made"
 *     with bpf_sys_bpf(BPF_MAP_CREATE), and puts the new fd (installed in the
 *     calling process) into `map_fd` (a negative errno on failure);
 *   - it returns 7.
 *
 * Rebuild with `cargo xtask build-progs syscall`; never edit the .bpf.o by hand.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct args {
	__u32 a;
	__u32 b;
	__u32 sum;
	__s32 map_fd;
	__u32 max_entries;
};

/* The BPF_MAP_CREATE part of union bpf_attr, up to map_name. */
struct map_create_attr {
	__u32 map_type;
	__u32 key_size;
	__u32 value_size;
	__u32 max_entries;
	__u32 map_flags;
	__u32 inner_map_fd;
	__u32 numa_node;
	char map_name[16];
};

SEC("syscall")
int add_and_create(struct args *ctx)
{
	struct map_create_attr attr = {
		.map_type = BPF_MAP_TYPE_ARRAY,
		.key_size = 4,
		.value_size = 8,
		.max_entries = ctx->max_entries,
		.map_name = "syscall_made",
	};

	ctx->sum = ctx->a + ctx->b;
	ctx->map_fd = bpf_sys_bpf(BPF_MAP_CREATE, &attr, sizeof(attr));
	return 7;
}

char LICENSE[] SEC("license") = "GPL";
