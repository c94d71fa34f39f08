// SPDX-License-Identifier: GPL-2.0
/*
 * perf_output.bpf.c — the producer of corebpf's perf buffer tests and
 * benchmark (tests/perf_buffer.rs; `cargo xtask bench`, the perf buffer case).
 *
 * `emit` is an XDP program that user space runs with BPF_PROG_TEST_RUN and a
 * repeat count: each run sends one 36-byte `struct sample` through
 * bpf_perf_event_output() into the current CPU's ring. A sample takes 48
 * bytes in the ring (8-byte header, 4-byte raw size, 36 bytes), which does
 * not divide the page size, so records regularly straddle a ring's end.
 * The program counts what it sent and what the kernel refused (ring full:
 * reported to user space as lost), so that tests can check
 * records + lost == produced exactly.
 *
 * Rebuild with `cargo xtask build-progs perf_output`.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

typedef __u32 u32;
typedef __u64 u64;

/* 36 bytes, 4-byte aligned: no padding of its own. */
struct sample {
	u32 seq;      /* 0, 1, 2, ... across runs */
	u32 cpu;      /* the CPU it was sent on */
	u32 check;    /* seq * 2654435761 (mod 2^32): checked by the consumer */
	u32 fill[6];  /* seq + 1 .. seq + 6 */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(u32));
	__uint(value_size, sizeof(u32));
} samples SEC(".maps");

u64 produced; /* calls of bpf_perf_event_output() */
u64 failed;   /* of which refused */

SEC("xdp")
int emit(struct xdp_md *ctx)
{
	struct sample s;
	/*
	 * Not an atomic fetch-and-add: 5.10 has none (5.12). Each object is
	 * driven by one BPF_PROG_TEST_RUN at a time, so a plain increment counts
	 * exactly.
	 */
	u32 seq = produced++;

	s.seq = seq;
	s.cpu = bpf_get_smp_processor_id();
	s.check = seq * 2654435761u;
	for (int i = 0; i < 6; i++)
		s.fill[i] = seq + 1 + i;
	if (bpf_perf_event_output(ctx, &samples, BPF_F_CURRENT_CPU, &s, sizeof(s)))
		__sync_fetch_and_add(&failed, 1);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
