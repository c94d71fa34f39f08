// SPDX-License-Identifier: GPL-2.0
/*
 * fentry.bpf.c — BTF-based tracing programs, each recording into .bss what it
 * saw, for tests/kinds.rs:
 *
 *   fentry/do_unlinkat           the dfd and path arguments
 *   fexit/do_unlinkat            the dfd argument and the return value
 *   fmod_ret/security_file_open  makes open(2) of one file (by inode) fail with
 *                                ENOTUNIQ, an errno open never returns by itself
 *   tp_btf/sys_enter             the number of the thread's syscalls of one kind
 *
 * The loader resolves each target in the kernel's BTF (attach_btf_id). Arguments
 * arrive typed (BPF_PROG): pointers to kernel structs are read directly, and
 * CO-RE relocates the member offsets. fmod_ret is allowed on functions marked
 * for error injection and on security_* functions; 6.1 as Debian builds it has
 * no error injection, so a security_* function it is.
 *
 * Only the thread whose id user space writes to `target_tid` before load is
 * recorded (and only it is ever refused an open).
 *
 * Rebuild with `cargo xtask build-progs fentry`; never edit the .bpf.o by hand.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define ENOTUNIQ 76

struct filename {
	const char *name;
} __attribute__((preserve_access_index));

struct inode {
	unsigned long i_ino;
} __attribute__((preserve_access_index));

struct file {
	struct inode *f_inode;
} __attribute__((preserve_access_index));

struct pt_regs;

const volatile __u32 target_tid = 0;
const volatile __u64 target_ino = 0;	/* fmod_ret: the file to refuse */
const volatile __s64 target_syscall = -1;	/* tp_btf: the syscall to count */

__u64 fentry_hits;
__s64 fentry_dfd;
char fentry_path[64];

__u64 fexit_hits;
__s64 fexit_dfd;
__s64 fexit_ret;

__u64 fmod_ret_hits;

__u64 tp_btf_hits;

static __always_inline int ours(void)
{
	return (__u32)bpf_get_current_pid_tgid() == target_tid;
}

SEC("fentry/do_unlinkat")
int BPF_PROG(fentry_unlinkat, int dfd, struct filename *name)
{
	if (!ours())
		return 0;
	fentry_dfd = dfd;
	bpf_probe_read_kernel_str(fentry_path, sizeof(fentry_path), name->name);
	__sync_fetch_and_add(&fentry_hits, 1);
	return 0;
}

/* do_unlinkat has released `name` by the time it returns: only dfd and ret. */
SEC("fexit/do_unlinkat")
int BPF_PROG(fexit_unlinkat, int dfd, struct filename *name, int ret)
{
	if (!ours())
		return 0;
	fexit_dfd = dfd;
	fexit_ret = ret;
	__sync_fetch_and_add(&fexit_hits, 1);
	return 0;
}

SEC("fmod_ret/security_file_open")
int BPF_PROG(fmod_ret_file_open, struct file *file, int ret)
{
	if (ret)
		return ret;	/* an earlier program already decided */
	if (!ours() || file->f_inode->i_ino != target_ino)
		return 0;
	__sync_fetch_and_add(&fmod_ret_hits, 1);
	return -ENOTUNIQ;
}

SEC("tp_btf/sys_enter")
int BPF_PROG(tp_btf_sys_enter, struct pt_regs *regs, long id)
{
	if (ours() && id == target_syscall)
		__sync_fetch_and_add(&tp_btf_hits, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
