// SPDX-License-Identifier: GPL-2.0
/*
 * links.bpf.c — programs whose links tests/links.rs pins, reopens and inspects.
 * Each counts one syscall of one process (`target_tgid`, written before load) in
 * the hash map `counts`, so a test sees exactly its own events:
 *
 *   raw_tp/sys_enter                   key 0: syscalls numbered `target_syscall`
 *   tp/syscalls/sys_enter_getppid      key 1: getppid(2) calls
 *
 * `counts` can be pinned and read by another process than the one that loaded
 * the object: the test that pins a link in a child process reads it after the
 * child has exited.
 *
 * Rebuild with `cargo xtask build-progs links`; never edit the .bpf.o by hand.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

const volatile __u32 target_tgid = 0;
const volatile __s64 target_syscall = -1;

static __always_inline void count(__u32 key)
{
	__u64 one = 1, *n;

	n = bpf_map_lookup_elem(&counts, &key);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST);
}

static __always_inline int ours(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

/* args[0] is the pt_regs, args[1] the syscall number. */
SEC("raw_tp/sys_enter")
int count_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	if (ours() && (__s64)ctx->args[1] == target_syscall)
		count(0);
	return 0;
}

SEC("tp/syscalls/sys_enter_getppid")
int count_getppid(void *ctx)
{
	if (ours())
		count(1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
