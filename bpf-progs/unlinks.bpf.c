// SPDX-License-Identifier: GPL-2.0
/*
 * unlinks.bpf.c — counts the unlinkat(2) calls of one process, through either of two
 * programs that see the same event: a kprobe on the syscall (`ksyscall/unlinkat`) or
 * the syscall's tracepoint (`tracepoint/syscalls/sys_enter_unlinkat`). User space
 * (examples/probe_choice.rs) loads the one this kernel supports, the way tools
 * choose between kprobes and tracepoints at run time.
 *
 * `target_tgid` (".rodata") is set by the loader before load; the count is in an
 * array map so user space reads it with a typed `Array<u64>`.
 *
 * Rebuild with `cargo xtask build-progs unlinks`; never edit the .bpf.o by hand.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

typedef __u32 u32;
typedef __u64 u64;

/* Slot 0: unlinkat calls seen. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} calls SEC(".maps");

const volatile u32 target_tgid = 0;

static __always_inline int count(void)
{
	u32 zero = 0;
	u64 *n;

	if ((u32)(bpf_get_current_pid_tgid() >> 32) != target_tgid)
		return 0;
	n = bpf_map_lookup_elem(&calls, &zero);
	if (n)
		__sync_fetch_and_add(n, 1);
	return 0;
}

SEC("ksyscall/unlinkat")
int unlink_kprobe(void *ctx)
{
	return count();
}

SEC("tracepoint/syscalls/sys_enter_unlinkat")
int unlink_tracepoint(void *ctx)
{
	return count();
}

char LICENSE[] SEC("license") = "GPL";
