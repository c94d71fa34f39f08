// SPDX-License-Identifier: GPL-2.0
/*
 * cg_sysctl.bpf.c — a cgroup_sysctl program: sees /proc/sys reads and writes.
 *
 * guard_domainname records the name of every sysctl read (`last_read`) and
 * counts the reads; a write to kernel/domainname is refused (the write fails
 * with EPERM), its new value recorded in `refused_value`. Other writes pass.
 *
 * Rebuild with `cargo xtask build-progs cg_sysctl`; never edit the .bpf.o by
 * hand.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define NAME_LEN 64

char last_read[NAME_LEN];
char refused_value[NAME_LEN];
__u64 reads;
__u64 refused_writes;

static const char guarded[] = "kernel/domainname";

static int is_guarded(const char *name)
{
	for (int i = 0; i < sizeof(guarded); i++)
		if (name[i] != guarded[i])
			return 0;
	return 1;
}

SEC("cgroup/sysctl")
int guard_domainname(struct bpf_sysctl *ctx)
{
	char name[NAME_LEN] = {};

	if (bpf_sysctl_get_name(ctx, name, sizeof(name), 0) < 0)
		return 1;
	if (!ctx->write) {
		__builtin_memcpy(last_read, name, sizeof(name));
		__sync_fetch_and_add(&reads, 1);
		return 1;
	}
	if (!is_guarded(name))
		return 1;
	bpf_sysctl_get_new_value(ctx, refused_value, sizeof(refused_value));
	__sync_fetch_and_add(&refused_writes, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
