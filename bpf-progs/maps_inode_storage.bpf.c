// SPDX-License-Identifier: GPL-2.0
/*
 * maps_inode_storage.bpf.c — local storage keyed by an inode:
 *
 *   lsm/file_open:                    inode_opens (inode storage, 5.10) counts the
 *                                     opens of each inode by thread `target_tid`
 *                                     (inode storage is for BPF LSM programs only).
 *
 * Rebuild with `cargo xtask build-progs maps_inode_storage`.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

typedef __u32 u32;
typedef __u64 u64;

struct inode;

struct file {
	struct inode *f_inode;
} __attribute__((preserve_access_index));

const volatile u32 target_tid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_INODE_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, u64);
} inode_opens SEC(".maps");

/* file_open(struct file *file) */
SEC("lsm/file_open")
int count_open(u64 *ctx)
{
	struct file *file = (struct file *)ctx[0];
	u64 *n;

	if ((u32)bpf_get_current_pid_tgid() != target_tid)
		return 0;
	n = bpf_inode_storage_get(&inode_opens, file->f_inode, 0,
				  BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (n)
		__sync_fetch_and_add(n, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
