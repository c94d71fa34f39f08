// SPDX-License-Identifier: GPL-2.0
/* A program in a section whose name is no program type. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("not_a_type/foo")
int prog(void *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
