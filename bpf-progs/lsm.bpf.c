// SPDX-License-Identifier: GPL-2.0
/*
 * lsm.bpf.c — a BPF LSM program that denies opening one file.
 *
 * lsm/file_open runs in security_file_open() for every open; returning
 * -EPERM makes the open fail. Only the file whose inode number user space
 * writes to `target_ino` before load, opened by the thread `target_tid`, is
 * refused; `denied` counts the refusals for the test to check. The kernel must
 * run BPF LSM (`lsm=...,bpf` on its command line).
 *
 * Rebuild with `cargo xtask build-progs lsm`; never edit the .bpf.o by hand.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define EPERM 1

struct inode {
	unsigned long i_ino;
} __attribute__((preserve_access_index));

struct file {
	struct inode *f_inode;
} __attribute__((preserve_access_index));

const volatile __u32 target_tid = 0;
const volatile __u64 target_ino = 0;

__u64 denied;

SEC("lsm/file_open")
int BPF_PROG(deny_file_open, struct file *file, int ret)
{
	if (ret)
		return ret;	/* an earlier LSM program already refused */
	if ((__u32)bpf_get_current_pid_tgid() != target_tid)
		return 0;
	if (file->f_inode->i_ino != target_ino)
		return 0;
	__sync_fetch_and_add(&denied, 1);
	return -EPERM;
}

char LICENSE[] SEC("license") = "GPL";
