// SPDX-License-Identifier: GPL-2.0
/*
 * maps_storage.bpf.c — local storage keyed by a task:
 *
 *   tp_btf/sys_enter:                 task_calls (task storage, 5.11) counts the
 *                                     system calls of process `target_tgid`, on the
 *                                     task_struct of the thread that makes them.
 *
 * Inode storage (5.10) is in maps_inode_storage.bpf.c: an object's maps are all
 * created, so one holding both would not load on 5.10.
 *
 * Rebuild with `cargo xtask build-progs maps_storage`.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

typedef __u32 u32;
typedef __u64 u64;

struct task_struct;

const volatile u32 target_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, u64);
} task_calls SEC(".maps");

/* sys_enter(struct pt_regs *regs, long id) */
SEC("tp_btf/sys_enter")
int count_task(u64 *ctx)
{
	u64 *n;

	if (bpf_get_current_pid_tgid() >> 32 != target_tgid)
		return 0;
	n = bpf_task_storage_get(&task_calls, bpf_get_current_task_btf(), 0,
				 BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (n)
		__sync_fetch_and_add(n, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
