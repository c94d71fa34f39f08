// SPDX-License-Identifier: GPL-2.0
/* No maps section: global data only, so the object can do without BTF. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__u32 counter = 1;

SEC("xdp.frags")
int prog(struct xdp_md *ctx)
{
	counter++;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
