// SPDX-License-Identifier: GPL-2.0
/*
 * ringbuf_bench.bpf.c — the kernel side of corebpf's runtime benchmarks
 * (`cargo xtask bench`, cases 4 and 5; see benches/).
 *
 * Case 4, ring buffer consumption: `produce` is a BPF_PROG_TYPE_SYSCALL
 * program that user space runs with BPF_PROG_TEST_RUN. Its context says how
 * many records to write; bpf_loop() then reserves and submits that many
 * 16-byte records into `rb` (24 bytes each with the ring's 8-byte header).
 * Submitting with BPF_RB_NO_WAKEUP keeps the producer free of irq_work: the
 * benchmark fills the ring, then times only the consumer draining it, so the
 * numbers compare user-space consumers (corebpf's `RingBuffer::consume`,
 * libbpf's `ring_buffer__consume`, aya's `RingBuf::next`) on identical data.
 * It returns the number of records written (fewer when the ring is full).
 *
 * Case 5, map I/O: `big` is a plain 100,000-entry hash map (u32 -> u64) that
 * user space fills and then reads per element and in batches. No program
 * touches it; it lives here so that every system opens the same map.
 *
 * Rebuild with `cargo xtask build-progs ringbuf_bench`.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define RING_SIZE (16 << 20)
#define BIG_ENTRIES 100000

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, RING_SIZE);
} rb SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, BIG_ENTRIES);
	__type(key, __u32);
	__type(value, __u64);
} big SEC(".maps");

/* BPF_PROG_TEST_RUN's ctx_in for `produce`. */
struct produce_args {
	__u32 count;	/* records to write */
	__u32 base;	/* first sequence number */
};

/* One record: 16 bytes of payload. */
struct record {
	__u64 seq;
	__u64 value;
};

static long produce_one(__u64 i, void *data)
{
	struct produce_args *args = data;
	struct record *r;

	r = bpf_ringbuf_reserve(&rb, sizeof(*r), 0);
	if (!r)
		return 1; /* full: stop the loop */
	r->seq = args->base + i;
	r->value = (args->base + i) * 2654435761ULL;
	bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
	return 0;
}

SEC("syscall")
int produce(struct produce_args *ctx)
{
	struct produce_args args = {
		.count = ctx->count,
		.base = ctx->base,
	};

	return bpf_loop(args.count, produce_one, &args, 0);
}

char LICENSE[] SEC("license") = "GPL";
