// SPDX-License-Identifier: GPL-2.0
/*
 * cg_storage.bpf.c — BPF_MAP_TYPE_CGRP_STORAGE (6.2+) from a cgroup program.
 *
 * count_sockets (cgroup/sock_create) counts, in the cgroup storage of the
 * creating task's cgroup, the sockets created there. User space reads the
 * count with the cgroup's directory fd as the key.
 *
 * Rebuild with `cargo xtask build-progs cg_storage`; never edit the .bpf.o by
 * hand.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define BPF_MAP_TYPE_CGRP_STORAGE 32

struct cgroup {
	int level;
} __attribute__((preserve_access_index));

struct css_set {
	struct cgroup *dfl_cgrp;
} __attribute__((preserve_access_index));

struct task_struct {
	struct css_set *cgroups;
} __attribute__((preserve_access_index));

struct {
	__uint(type, BPF_MAP_TYPE_CGRP_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} sockets SEC(".maps");

SEC("cgroup/sock_create")
int count_sockets(struct bpf_sock *sk)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 *count;

	count = bpf_cgrp_storage_get(&sockets, task->cgroups->dfl_cgrp, 0,
				     BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (count)
		__sync_fetch_and_add(count, 1);
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
