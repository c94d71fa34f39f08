// SPDX-License-Identifier: GPL-2.0
/*
 * cg_dev.bpf.c — a cgroup_device program: refuses reading /dev/zero.
 *
 * deny_zero runs when a process of the cgroup opens or mknods a device node.
 * It refuses read access to character device 1:5 (/dev/zero: the open fails
 * with EPERM) and allows everything else; `denied` and `checked` count.
 *
 * Rebuild with `cargo xtask build-progs cg_dev`; never edit the .bpf.o by hand.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__u64 checked;
__u64 denied;

SEC("cgroup/dev")
int deny_zero(struct bpf_cgroup_dev_ctx *ctx)
{
	__u32 type = ctx->access_type & 0xffff;
	__u32 access = ctx->access_type >> 16;

	__sync_fetch_and_add(&checked, 1);
	if (type == BPF_DEVCG_DEV_CHAR && ctx->major == 1 && ctx->minor == 5 &&
	    (access & BPF_DEVCG_ACC_READ)) {
		__sync_fetch_and_add(&denied, 1);
		return 0;
	}
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
