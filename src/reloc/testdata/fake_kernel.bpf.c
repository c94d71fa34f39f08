// SPDX-License-Identifier: GPL-2.0
/* A stand-in for the kernel's BTF in the pure tests: the variables and functions
 * externs.bpf.c and ksym_var.bpf.c look for, as FUNCs and VARs of this object's BTF.
 * -DINCOMPATIBLE gives bpf_task_from_pid a different prototype; -DNO_RELEASE leaves
 * bpf_task_release out (the tests put it in a module's BTF instead).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct task_struct {
	int pid;
	int tgid;
};

int bpf_prog_active;
struct task_struct init_task_data;

#ifdef INCOMPATIBLE
__attribute__((noinline)) struct task_struct *bpf_task_from_pid(int pid, int flags)
{
	return pid + flags ? 0 : &init_task_data;
}
#else
__attribute__((noinline)) struct task_struct *bpf_task_from_pid(int pid)
{
	return pid ? 0 : &init_task_data;
}
#endif

#ifndef NO_RELEASE
__attribute__((noinline)) void bpf_task_release(struct task_struct *p)
{
	if (p)
		p->pid = 0;
}
#endif

__attribute__((noinline)) int __x64_sys_bpf(int cmd)
{
	return cmd;
}

SEC("tracepoint/x/y")
int uses(void *ctx)
{
#ifdef INCOMPATIBLE
	struct task_struct *t = bpf_task_from_pid(0, 0);
#else
	struct task_struct *t = bpf_task_from_pid(0);
#endif

#ifndef NO_RELEASE
	bpf_task_release(t);
#endif
	return __x64_sys_bpf(bpf_prog_active) + (t != 0);
}

char LICENSE[] SEC("license") = "GPL";
