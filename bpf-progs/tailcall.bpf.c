// SPDX-License-Identifier: GPL-2.0
/*
 * tailcall.bpf.c — a chain of tail calls through the prog_array `stages`, for
 * tests/kinds_misc.rs.
 *
 * `stage0` runs on getppid(2) calls of the thread `target_tid`; it starts
 * `result` at 1 and tail-calls slot 1. `stage1` appends the digit 2 and
 * tail-calls slot 2; `stage2` appends 3 and tail-calls slot 3. User space fills
 * the slots with the programs' fds. A tail call into an empty slot does not
 * happen: the caller goes on and appends 0. So the whole chain gives 1230, and a
 * chain cut after stage1 (slot 2 empty) gives 120: the digits say which stages
 * ran, in which order, and where the chain ended.
 *
 * Rebuild with `cargo xtask build-progs tailcall`; never edit the .bpf.o by hand.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} stages SEC(".maps");

const volatile __u32 target_tid = 0;

__u64 result;
__u64 runs;

static __always_inline void append(__u64 digit)
{
	result = result * 10 + digit;
}

SEC("tp/syscalls/sys_enter_getppid")
int stage0(void *ctx)
{
	if ((__u32)bpf_get_current_pid_tgid() != target_tid)
		return 0;
	__sync_fetch_and_add(&runs, 1);
	result = 1;
	bpf_tail_call(ctx, &stages, 1);
	append(0);
	return 0;
}

SEC("tracepoint")
int stage1(void *ctx)
{
	append(2);
	bpf_tail_call(ctx, &stages, 2);
	append(0);
	return 0;
}

SEC("tracepoint")
int stage2(void *ctx)
{
	append(3);
	bpf_tail_call(ctx, &stages, 3);
	append(0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
