// SPDX-License-Identifier: GPL-2.0
/* CO-RE relocations in a program and in a subprogram that two programs share. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct task {
	int pid;
	int tgid;
} __attribute__((preserve_access_index));

static __attribute__((noinline)) int get_tgid(struct task *t)
{
	return t->tgid;
}

SEC("kprobe/one")
int one(struct task *t)
{
	return get_tgid(t) + t->pid;
}

SEC("kprobe/two")
int two(struct task *t)
{
	return get_tgid(t);
}

char LICENSE[] SEC("license") = "GPL";
