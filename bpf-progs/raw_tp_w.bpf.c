// SPDX-License-Identifier: GPL-2.0
/*
 * raw_tp_w.bpf.c — a writable raw tracepoint program for tests/kinds_misc.rs.
 *
 * The kernel's bpf_test_finish tracepoint fires at the end of BPF_PROG_TEST_RUN
 * of a packet program, with a pointer to the run's error code, and is writable:
 * `fail_test_runs` (raw_tp.w) overwrites that error with `injected` (-EBADMSG by
 * default), so the test run fails with an errno no run returns by itself. Only
 * test runs made by the thread `target_tid` are touched (and counted in
 * `finishes`).
 *
 * `accept_all`, a socket filter, is the program whose test runs the tracepoint
 * sees: it returns the packet's length.
 *
 * Rebuild with `cargo xtask build-progs raw_tp_w`; never edit the .bpf.o by hand.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define EBADMSG 74

const volatile __u32 target_tid = 0;
const volatile __s32 injected = -EBADMSG;

__u64 finishes;

/* bpf_test_finish(int *err): args[0] is the pointer, writable for sizeof(int). */
SEC("raw_tp.w/bpf_test_finish")
int fail_test_runs(struct bpf_raw_tracepoint_args *ctx)
{
	int *err = (int *)ctx->args[0];

	if ((__u32)bpf_get_current_pid_tgid() != target_tid)
		return 0;
	*err = injected;
	__sync_fetch_and_add(&finishes, 1);
	return 0;
}

SEC("socket")
int accept_all(struct __sk_buff *skb)
{
	return skb->len;
}

char LICENSE[] SEC("license") = "GPL";
