// SPDX-License-Identifier: GPL-2.0
/*
 * maps_tail.bpf.c — a program array and tail calls. `entry` runs on getppid(2)
 * of the test's thread and tail-calls slot `slot` (.bss) of `jumps`; `tail_a`
 * and `tail_b` count their runs; when the slot is empty the call falls through
 * and `fell_through` counts that. The `values` initializer fills slot 0 with
 * `tail_a` at load (as libbpf does); the test puts `tail_b` in slot 1 at run time.
 *
 * Rebuild with `cargo xtask build-progs maps_tail`; never edit the .bpf.o by hand.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

typedef __u32 u32;
typedef __u64 u64;

const volatile u32 target_tid = 0;

u32 slot;
u64 hits_a;
u64 hits_b;
u64 fell_through;

SEC("tracepoint/syscalls/sys_enter_getppid")
int tail_a(void *ctx)
{
	hits_a += 1;
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int tail_b(void *ctx)
{
	hits_b += 1;
	return 0;
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, u32);
	__array(values, int(void *));
} jumps SEC(".maps") = {
	.values = {
		[0] = (void *)&tail_a,
	},
};

SEC("tracepoint/syscalls/sys_enter_getppid")
int entry(void *ctx)
{
	if ((u32)bpf_get_current_pid_tgid() != target_tid)
		return 0;
	bpf_tail_call(ctx, &jumps, slot);
	fell_through += 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
