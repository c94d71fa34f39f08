// SPDX-License-Identifier: GPL-2.0
/*
 * A CO-RE relocation that cannot be resolved on kernels after 5.14, on a path the
 * verifier does reach: task_struct lost `long state` (it became `__state`), and this
 * program reads it without asking bpf_core_field_exists() first. The loader poisons
 * the instruction; the verifier then refuses the program, and the error must name
 * the relocation (struct task_struct___old.state), not a bare helper number.
 */
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

struct task_struct___old {
	long state;
} __attribute__((preserve_access_index));

long last_state;

SEC("raw_tp/sys_enter")
int read_old_state(void *ctx)
{
	struct task_struct___old *t = (void *)bpf_get_current_task();

	last_state = BPF_CORE_READ(t, state);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
