// SPDX-License-Identifier: GPL-2.0
/*
 * freplace_ext.bpf.c — an freplace program for tests/kinds_misc.rs: replaces
 * choose() of freplace_target.bpf.o's `caller` (given to the loader with
 * Loader::attach_target) with a function of the same signature returning
 * x * 100, and counts its own runs.
 *
 * Rebuild with `cargo xtask build-progs freplace_ext`; never edit the .bpf.o by
 * hand.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

__u64 replaced_runs;

SEC("freplace/choose")
int new_choose(int x)
{
	__sync_fetch_and_add(&replaced_runs, 1);
	return x * 100;
}

char LICENSE[] SEC("license") = "GPL";
