// SPDX-License-Identifier: GPL-2.0
/*
 * kprobe.bpf.c — kernel probes on the unlink path, each recording into .bss
 * what it saw, for tests/kinds.rs to compare with what the test did:
 *
 *   kprobe/do_unlinkat        the dfd argument and the path (struct filename)
 *   kretprobe/do_unlinkat     the return value (0, or -ENOENT for a missing file)
 *   ksyscall/unlinkat         the syscall's dfd, path and flags
 *   kretsyscall/unlinkat      the syscall's return value
 *   kprobe.multi/<glob>       every function hit, by address (bpf_get_func_ip)
 *   kretprobe.multi/...       the return value of do_unlinkat
 *
 * Only the thread whose id user space writes to `target_tid` before load is
 * recorded, so other threads and processes can't disturb a test.
 *
 * struct pt_regs is the user-space x86-64 one (<asm/ptrace.h>): it has the
 * kernel's layout, with r-prefixed names, which is what bpf_tracing.h's
 * PT_REGS_* macros expect outside the kernel. With syscall wrappers (x86-64
 * since 4.17) a syscall's kprobe gets a pointer to the syscall's own pt_regs
 * as its first argument; the registers are read from there with
 * bpf_probe_read_kernel (BPF_KSYSCALL would need a __kconfig extern).
 *
 * Rebuild with `cargo xtask build-progs kprobe`; never edit the .bpf.o by hand.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

/* Only the member used; CO-RE finds its offset in the kernel's BTF. */
struct filename {
	const char *name;
} __attribute__((preserve_access_index));

const volatile __u32 target_tid = 0;

__u64 kprobe_hits;
__s64 kprobe_dfd;
char kprobe_path[64];

__u64 kretprobe_hits;
__s64 kretprobe_ret;

__u64 ksyscall_hits;
__s64 ksyscall_dfd;
__u64 ksyscall_flags;
char ksyscall_path[64];

__u64 kretsyscall_hits;
__s64 kretsyscall_ret;

__u64 multi_hits;
__u64 multi_ret_hits;
__s64 multi_ret;

/* Function address -> hits, for kprobe.multi. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u64);
	__type(value, __u64);
} multi_ips SEC(".maps");

static __always_inline int ours(void)
{
	return (__u32)bpf_get_current_pid_tgid() == target_tid;
}

SEC("kprobe/do_unlinkat")
int BPF_KPROBE(kprobe_unlinkat, int dfd, struct filename *name)
{
	const char *path;

	if (!ours())
		return 0;
	kprobe_dfd = dfd;
	path = BPF_CORE_READ(name, name);
	bpf_probe_read_kernel_str(kprobe_path, sizeof(kprobe_path), path);
	__sync_fetch_and_add(&kprobe_hits, 1);
	return 0;
}

SEC("kretprobe/do_unlinkat")
int BPF_KRETPROBE(kretprobe_unlinkat, int ret)
{
	if (!ours())
		return 0;
	kretprobe_ret = ret;
	__sync_fetch_and_add(&kretprobe_hits, 1);
	return 0;
}

SEC("ksyscall/unlinkat")
int ksyscall_unlinkat(struct pt_regs *ctx)
{
	struct pt_regs *regs = PT_REGS_SYSCALL_REGS(ctx);
	unsigned long dfd = 0, path = 0, flags = 0;

	if (!ours())
		return 0;
	bpf_probe_read_kernel(&dfd, sizeof(dfd), &regs->rdi);
	bpf_probe_read_kernel(&path, sizeof(path), &regs->rsi);
	bpf_probe_read_kernel(&flags, sizeof(flags), &regs->rdx);
	ksyscall_dfd = (int)dfd;
	ksyscall_flags = flags;
	bpf_probe_read_user_str(ksyscall_path, sizeof(ksyscall_path), (const void *)path);
	__sync_fetch_and_add(&ksyscall_hits, 1);
	return 0;
}

SEC("kretsyscall/unlinkat")
int BPF_KRETPROBE(kretsyscall_unlinkat, long ret)
{
	if (!ours())
		return 0;
	kretsyscall_ret = ret;
	__sync_fetch_and_add(&kretsyscall_hits, 1);
	return 0;
}

SEC("kprobe.multi/*unlinkat")
int kprobe_multi_unlinkat(struct pt_regs *ctx)
{
	__u64 ip, one = 1, *n;

	if (!ours())
		return 0;
	ip = bpf_get_func_ip(ctx);
	n = bpf_map_lookup_elem(&multi_ips, &ip);
	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&multi_ips, &ip, &one, BPF_NOEXIST);
	__sync_fetch_and_add(&multi_hits, 1);
	return 0;
}

SEC("kretprobe.multi/do_unlinkat")
int BPF_KRETPROBE(kretprobe_multi_unlinkat, int ret)
{
	if (!ours())
		return 0;
	multi_ret = ret;
	__sync_fetch_and_add(&multi_ret_hits, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
