// SPDX-License-Identifier: GPL-2.0
/*
 * struct_ops.bpf.c — a TCP congestion control written in BPF, for
 * tests/struct_ops.rs: Reno, minimal, with each callback counted in a global.
 *
 * The variable `corebpf_reno` of type struct tcp_congestion_ops, in section
 * TCP_CA_SEC (".struct_ops" here; struct_ops_link.bpf.c includes this file with
 * ".struct_ops.link"), becomes a struct_ops map; its function pointers point to
 * the struct_ops/ programs below, which the loader loads against the kernel's
 * struct tcp_congestion_ops (attach_btf_id) at their member's index (expected
 * attach type). Registering the map makes the algorithm selectable by its
 * `.name` with setsockopt(TCP_CONGESTION); the test writes a name of its own
 * (with its pid) there before loading.
 *
 * The kernel hands the callbacks a struct sock pointer and lets them read it as a
 * struct tcp_sock, and write snd_cwnd, snd_cwnd_cnt and snd_ssthresh.
 *
 * Rebuild with `cargo xtask build-progs struct_ops struct_ops_link`; never edit
 * the .bpf.o by hand.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#ifndef TCP_CA_SEC
#define TCP_CA_SEC ".struct_ops"
#endif

struct sock;

struct tcp_sock {
	__u32 snd_cwnd;
	__u32 snd_cwnd_cnt;
	__u32 snd_cwnd_clamp;
	__u32 snd_ssthresh;
	__u32 prior_cwnd;
} __attribute__((preserve_access_index));

/* The members used, by name: the loader places them in the kernel's layout. */
struct tcp_congestion_ops {
	__u32 (*ssthresh)(struct sock *sk);
	void (*cong_avoid)(struct sock *sk, __u32 ack, __u32 acked);
	void (*cwnd_event)(struct sock *sk, int ev);
	__u32 (*undo_cwnd)(struct sock *sk);
	void (*init)(struct sock *sk);
	char name[16];
};

__u64 init_calls;
__u64 ssthresh_calls;
__u64 cong_avoid_calls;
__u64 undo_calls;
__u64 cwnd_event_calls;
__u64 acked_segments;

static __always_inline struct tcp_sock *tcp_sk(struct sock *sk)
{
	return (struct tcp_sock *)sk;
}

SEC("struct_ops/reno_init")
void BPF_PROG(reno_init, struct sock *sk)
{
	__sync_fetch_and_add(&init_calls, 1);
}

SEC("struct_ops/reno_ssthresh")
__u32 BPF_PROG(reno_ssthresh, struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);
	__u32 half = tp->snd_cwnd >> 1;

	__sync_fetch_and_add(&ssthresh_calls, 1);
	return half > 2 ? half : 2;
}

/* Slow start up to ssthresh, then one segment more per window acked. */
SEC("struct_ops/reno_cong_avoid")
void BPF_PROG(reno_cong_avoid, struct sock *sk, __u32 ack, __u32 acked)
{
	struct tcp_sock *tp = tcp_sk(sk);
	__u32 cwnd = tp->snd_cwnd;

	__sync_fetch_and_add(&cong_avoid_calls, 1);
	__sync_fetch_and_add(&acked_segments, acked);
	if (cwnd < tp->snd_ssthresh) {
		cwnd += acked;
		if (cwnd > tp->snd_ssthresh)
			cwnd = tp->snd_ssthresh;
	} else if (tp->snd_cwnd_cnt + 1 >= cwnd) {
		tp->snd_cwnd_cnt = 0;
		cwnd += 1;
	} else {
		tp->snd_cwnd_cnt += 1;
	}
	if (cwnd > tp->snd_cwnd_clamp)
		cwnd = tp->snd_cwnd_clamp;
	tp->snd_cwnd = cwnd;
}

SEC("struct_ops/reno_undo_cwnd")
__u32 BPF_PROG(reno_undo_cwnd, struct sock *sk)
{
	struct tcp_sock *tp = tcp_sk(sk);

	__sync_fetch_and_add(&undo_calls, 1);
	return tp->snd_cwnd > tp->prior_cwnd ? tp->snd_cwnd : tp->prior_cwnd;
}

SEC("struct_ops/reno_cwnd_event")
void BPF_PROG(reno_cwnd_event, struct sock *sk, int ev)
{
	__sync_fetch_and_add(&cwnd_event_calls, 1);
}

SEC(TCP_CA_SEC)
struct tcp_congestion_ops corebpf_reno = {
	.init = (void *)reno_init,
	.ssthresh = (void *)reno_ssthresh,
	.cong_avoid = (void *)reno_cong_avoid,
	.undo_cwnd = (void *)reno_undo_cwnd,
	.cwnd_event = (void *)reno_cwnd_event,
	.name = "corebpf_reno",
};

char LICENSE[] SEC("license") = "GPL";
