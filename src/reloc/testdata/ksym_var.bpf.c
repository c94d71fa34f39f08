// SPDX-License-Identifier: GPL-2.0
/* A typed __ksym variable: a per-CPU kernel variable, by BTF id. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

extern const int bpf_prog_active __ksym;

const volatile unsigned int target_pid = 0;

int this_cpu_ok = -1;
int cpu0_ok = -1;

SEC("tracepoint/syscalls/sys_enter_getpid")
int read_percpu(void *ctx)
{
	const int *active;

	if ((bpf_get_current_pid_tgid() >> 32) != target_pid)
		return 0;
	active = bpf_this_cpu_ptr(&bpf_prog_active);
	this_cpu_ok = *active >= 0;
	cpu0_ok = bpf_per_cpu_ptr(&bpf_prog_active, 0) != 0;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
