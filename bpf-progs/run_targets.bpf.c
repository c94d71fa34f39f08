// SPDX-License-Identifier: GPL-2.0
/*
 * run_targets.bpf.c — programs whose section does not say everything about where
 * they attach: `corebpf run` needs a target flag for each (cli/tests/run_flags.rs).
 *
 *   xdp_count   section xdp                --iface IFACE
 *   tc_count    section tcx/ingress        --iface IFACE
 *   cg_egress   section cgroup_skb/egress  --cgroup PATH
 *   up_getppid  section uprobe/getppid     --binary PATH (the C library), --pid PID
 *   usdt_tick   section usdt/corebpf_cli:tick  --binary PATH (a program the test builds)
 *
 * Each sends a `struct event` per packet or call, so the tests count what reached it.
 *
 * Rebuild with `cargo xtask build-progs`; never edit the .bpf.o by hand.
 */
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

enum kind { KIND_XDP = 1, KIND_TC = 2, KIND_CGROUP = 3, KIND_UPROBE = 4, KIND_USDT = 5 };

struct event {
	enum kind kind;
	__u32 pid;
	__u32 len;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* Not inlined, so that `struct event` is in the BTF for `corebpf run` to decode. */
static __noinline void fill(struct event *e, enum kind kind, __u32 len, __u32 pid)
{
	e->kind = kind;
	e->pid = pid;
	e->len = len;
}

/*
 * `pid`: the process, for the probes; 0 for the packet programs, which may not call
 * bpf_get_current_pid_tgid before 6.x (XDP never; cgroup_skb on 6.1 neither).
 */
static __always_inline void emit(enum kind kind, __u32 len, __u32 pid)
{
	struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e)
		return;
	fill(e, kind, len, pid);
	bpf_ringbuf_submit(e, 0);
}

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	emit(KIND_XDP, ctx->data_end - ctx->data, 0);
	return XDP_PASS;
}

SEC("tcx/ingress")
int tc_count(struct __sk_buff *skb)
{
	emit(KIND_TC, skb->len, 0);
	return 0; /* TC_ACT_OK */
}

SEC("cgroup_skb/egress")
int cg_egress(struct __sk_buff *skb)
{
	emit(KIND_CGROUP, skb->len, 0);
	return 1; /* let it through */
}

SEC("uprobe/getppid")
int up_getppid(void *ctx)
{
	emit(KIND_UPROBE, 0, bpf_get_current_pid_tgid() >> 32);
	return 0;
}

/* len: the probe's argument. */
SEC("usdt/corebpf_cli:tick")
int BPF_USDT(usdt_tick, long n)
{
	emit(KIND_USDT, n, bpf_get_current_pid_tgid() >> 32);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
