// SPDX-License-Identifier: GPL-2.0
/*
 * user_ringbuf.bpf.c — the other direction: user space produces records in a
 * BPF_MAP_TYPE_USER_RINGBUF (Linux 6.1) and a BPF program drains them with
 * bpf_user_ringbuf_drain(), which calls back once per record with a dynptr
 * over its bytes.
 *
 * `drain` is a BPF_PROG_TYPE_SYSCALL program that user space runs with
 * BPF_PROG_TEST_RUN (tests/user_ringbuf.rs); it returns the number of
 * records it drained. Each record is a `struct request`; the program adds
 * up how many it saw and the sum of their values, and counts records of the
 * wrong size, so that the test can check what arrived.
 *
 * Rebuild with `cargo xtask build-progs user_ringbuf`.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

typedef __u32 u32;
typedef __u64 u64;

struct request {
	u64 seq;
	u64 value;
};

struct {
	__uint(type, BPF_MAP_TYPE_USER_RINGBUF);
	__uint(max_entries, 64 * 1024);
} requests SEC(".maps");

u64 drained;   /* records of the right size */
u64 value_sum; /* the sum of their values */
u64 seq_sum;   /* the sum of their sequence numbers */
u64 bad;       /* records of another size */

static long on_request(struct bpf_dynptr *record, void *ctx)
{
	struct request r;

	if (bpf_dynptr_read(&r, sizeof(r), record, 0, 0)) {
		bad++;
		return 0;
	}
	drained++;
	value_sum += r.value;
	seq_sum += r.seq;
	return 0; /* 0: go on with the next record */
}

SEC("syscall")
int drain(void *ctx)
{
	return bpf_user_ringbuf_drain(&requests, on_request, NULL, 0);
}

char LICENSE[] SEC("license") = "GPL";
