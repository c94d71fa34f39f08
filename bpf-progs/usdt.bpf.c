// SPDX-License-Identifier: GPL-2.0
/*
 * usdt.bpf.c — USDT probes for tests/usdt.rs, written for libbpf's usdt.bpf.h
 * (bpf_usdt_arg, bpf_usdt_arg_cnt, bpf_usdt_cookie, BPF_USDT) and nothing else:
 * the loader must fill __bpf_usdt_specs and __bpf_usdt_ip_to_spec_id as libbpf
 * does for these to read the right values.
 *
 *   record      every argument of the probe that fired, its argument count and
 *               its USDT cookie, to a ring buffer
 *   two         BPF_USDT with two typed arguments, kept in .bss
 *   auto_libc   a section naming its target, for auto-attach (Debian's libc has
 *               no USDT notes: the test checks the error that says so)
 *
 * Only the process whose tgid user space writes to `target_tgid` before load is
 * recorded (0: every process).
 *
 * Rebuild with `cargo xtask build-progs usdt`; never edit the .bpf.o by hand.
 */
#include <stdbool.h>
#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

const volatile __u32 target_tgid = 0;

__u64 two_hits;
__s64 two_a;
__s64 two_b;

struct usdt_event {
	__u32 pid;
	__s32 arg_cnt;
	__u64 cookie;
	__u64 ip;
	long args[BPF_USDT_MAX_ARG_CNT];
	__s32 errors[BPF_USDT_MAX_ARG_CNT];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

static __always_inline int ours(void)
{
	return !target_tgid || (bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

SEC("usdt")
int record(struct pt_regs *ctx)
{
	struct usdt_event *e;
	int i;

	if (!ours())
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->arg_cnt = bpf_usdt_arg_cnt(ctx);
	e->cookie = bpf_usdt_cookie(ctx);
	e->ip = PT_REGS_IP(ctx);
	for (i = 0; i < BPF_USDT_MAX_ARG_CNT; i++)
		e->errors[i] = bpf_usdt_arg(ctx, i, &e->args[i]);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("usdt")
int BPF_USDT(two, int a, long b)
{
	if (!ours())
		return 0;
	two_a = a;
	two_b = b;
	__sync_fetch_and_add(&two_hits, 1);
	return 0;
}

SEC("usdt/libc.so.6:libc:setjmp")
int auto_libc(struct pt_regs *ctx)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
