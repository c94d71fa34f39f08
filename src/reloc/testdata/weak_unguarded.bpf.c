// SPDX-License-Identifier: GPL-2.0
/* A __weak kfunc the kernel lacks, called without bpf_ksym_exists(): the call is
 * poisoned, the verifier reaches it, and the load fails naming the kfunc.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

extern void bpf_weak_but_unguarded_xyz(void) __ksym __weak;

SEC("tracepoint/syscalls/sys_enter_getpid")
int call_unguarded(void *ctx)
{
	bpf_weak_but_unguarded_xyz();
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
