// SPDX-License-Identifier: GPL-2.0
/*
 * CO-RE across kernels: read the current task's state whichever name the kernel
 * gives the field. Linux 5.14 renamed task_struct's `long state` to
 * `unsigned int __state`; the `___old` flavor describes the earlier layout, and
 * bpf_core_field_exists() picks the branch at load time (the other branch's
 * relocations are poisoned, and the verifier never reaches them).
 *
 * The local types declare only the fields used: CO-RE finds their offsets in the
 * target kernel's BTF. Results go to .bss for the test to compare with offsets it
 * computes from the same BTF with an independent reader.
 */
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct {
	unsigned int __state;
	int pid;
	int tgid;
} __attribute__((preserve_access_index));

/* The layout before 5.14. */
struct task_struct___old {
	long state;
} __attribute__((preserve_access_index));

/* Set by user space before load: only this process's syscalls are recorded. */
const volatile __u32 target_tgid = 0;

__u32 has_new_state;	/* __state exists in the target */
__u32 has_old_state;	/* state exists in the target */
__u64 state_offset;	/* byte offset of whichever field exists */
__u64 state_value;	/* its value, read through that offset */
__u64 pid_offset;
__s32 pid_value;
__u32 state_size;	/* size of the field that exists */
__u64 hits;

SEC("raw_tp/sys_enter")
int read_state(void *ctx)
{
	struct task_struct *t;

	if ((bpf_get_current_pid_tgid() >> 32) != target_tgid)
		return 0;
	t = (struct task_struct *)bpf_get_current_task();

	if (bpf_core_field_exists(t->__state)) {
		has_new_state = 1;
		state_offset = bpf_core_field_offset(t->__state);
		state_size = bpf_core_field_size(t->__state);
		state_value = BPF_CORE_READ(t, __state);
	} else {
		struct task_struct___old *old = (void *)t;

		state_offset = bpf_core_field_offset(old->state);
		state_size = bpf_core_field_size(old->state);
		state_value = BPF_CORE_READ(old, state);
	}
	has_old_state = bpf_core_field_exists(((struct task_struct___old *)t)->state);
	pid_offset = bpf_core_field_offset(t->pid);
	pid_value = BPF_CORE_READ(t, pid);
	__sync_fetch_and_add(&hits, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
