// SPDX-License-Identifier: GPL-2.0
/*
 * freplace_target.bpf.c — the program freplace_ext.bpf.c extends, for
 * tests/kinds_misc.rs.
 *
 * `caller` runs on getppid(2) calls of the thread `target_tid` and stores
 * choose(input) in `seen`. choose() is a global (non-static) function: the
 * verifier checks it on its own, by its BTF signature, which is what lets an
 * freplace program take its place. Here it returns input + 1 (42); replaced by
 * freplace_ext.bpf.o's new_choose, input * 100 (4100).
 *
 * Rebuild with `cargo xtask build-progs freplace_target`; never edit the .bpf.o
 * by hand.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

const volatile __u32 target_tid = 0;
const volatile int input = 41;

__s64 seen;
__u64 calls;

__attribute__((noinline)) int choose(int x)
{
	return x + 1;
}

SEC("tp/syscalls/sys_enter_getppid")
int caller(void *ctx)
{
	if ((__u32)bpf_get_current_pid_tgid() != target_tid)
		return 0;
	seen = choose(input);
	__sync_fetch_and_add(&calls, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
