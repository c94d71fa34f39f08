// SPDX-License-Identifier: GPL-2.0
/*
 * maps_stack.bpf.c — a stack trace map. On getppid(2) of the test's thread the
 * program records the kernel stack (`kernel_id`) and, with BPF_F_USER_STACK, the
 * user stack of the syscall (`user_id`) in `stacks`; a negative id is the error.
 *
 * Rebuild with `cargo xtask build-progs maps_stack`; never edit the .bpf.o by hand.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

typedef __u32 u32;
typedef __u64 u64;

/* The kernel's PERF_MAX_STACK_DEPTH. */
#define DEPTH 127

const volatile u32 target_tid = 0;

__s64 kernel_id = -1;
__s64 user_id = -1;

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 1024); /* two ids hashed to one bucket fail with -EEXIST */
	__uint(key_size, sizeof(u32));
	__uint(value_size, DEPTH * sizeof(u64));
} stacks SEC(".maps");

/* x86-64's number for getppid(2). */
#define NR_GETPPID 110

/*
 * A raw tracepoint, not tracepoint/syscalls/sys_enter_getppid: a syscall tracepoint
 * hands bpf_get_stackid the user registers of the syscall, so before 6.x kernels
 * (6.1 here) it finds no kernel stack (-EFAULT); a raw tracepoint's registers are
 * the kernel's at the tracepoint.
 */
SEC("raw_tp/sys_enter")
int record(struct bpf_raw_tracepoint_args *ctx)
{
	if ((u32)bpf_get_current_pid_tgid() != target_tid || ctx->args[1] != NR_GETPPID)
		return 0;
	kernel_id = bpf_get_stackid(ctx, &stacks, 0);
	user_id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
