// SPDX-License-Identifier: GPL-2.0
/* A call of a function that is declared but defined nowhere (and is no __ksym). */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

extern int not_here(int x);

SEC("socket")
int prog(void *ctx)
{
	return not_here(1);
}

char LICENSE[] SEC("license") = "GPL";
