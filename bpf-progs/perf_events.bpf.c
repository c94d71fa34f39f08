// SPDX-License-Identifier: GPL-2.0
/*
 * perf_events.bpf.c — sending events through a perf buffer
 * (BPF_MAP_TYPE_PERF_EVENT_ARRAY), the way most existing BPF tools do.
 *
 * On every getpgid(2) made by a thread named "cbpf-burst" (see burst.h) it
 * sends a `struct event` with bpf_perf_event_output() into the ring of the
 * CPU it runs on. User space opens one ring per CPU (corebpf's PerfBuffer,
 * libbpf's perf_buffer__new) and stores each ring's perf event in `events`.
 *
 * Loss: when a CPU's ring is full, bpf_perf_event_output() fails with
 * -ENOSPC and the kernel counts the sample as lost; it reports the count in
 * a PERF_RECORD_LOST record ahead of the next sample that fits, which the
 * consumer's lost callback receives (`corebpf run` prints the total as
 * "lost M"). The program needs no counter of its own for that, but counts
 * its sends and failures in ".bss" so that tests can check the sums.
 *
 * Try it: `corebpf run bpf-progs/perf_events.bpf.o`, and in another shell
 * run something that calls getpgid() from a thread named cbpf-burst.
 *
 * Rebuild with `cargo xtask build-progs perf_events`.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "burst.h"

typedef __u32 u32;
typedef __u64 u64;

/* What each sample carries: 24 bytes (28 with the raw field's padding). */
struct event {
	u32 pid;                  /* tgid of the caller */
	u32 seq;                  /* 0, 1, 2, ... in the order of the sends */
	char comm[TASK_COMM_LEN]; /* the calling thread's name */
};

/* One slot per possible CPU (max_entries 0: the loader sets it, as libbpf
 * does); user space puts each CPU's perf event in it. */
struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(u32));
	__uint(value_size, sizeof(u32));
} events SEC(".maps");

u64 sent;   /* samples the kernel accepted */
u64 failed; /* samples it refused (ring full): the kernel reports them lost */

/* The next sequence number: shared by every CPU, so ordered by the sends. */
static u32 next_seq;

/*
 * Fills @e. Not inlined: clang describes a function's prototype in BTF, so
 * `struct event` is in the object's BTF, where `corebpf run` finds it to
 * decode the samples (a type used only by local variables is not).
 */
static __noinline void fill_event(struct event *e)
{
	e->pid = bpf_get_current_pid_tgid() >> 32;
	/*
	 * Not an atomic fetch-and-add: 5.10 has none (5.12). The events come from
	 * the one burst thread (burst.h), so a plain increment counts exactly.
	 */
	e->seq = next_seq++;
}

SEC("tracepoint/syscalls/sys_enter_getpgid")
int send_event(void *ctx)
{
	struct event e = {};

	bpf_get_current_comm(e.comm, sizeof(e.comm));
	if (!is_burst_thread(e.comm))
		return 0;
	fill_event(&e);
	if (bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &e, sizeof(e)))
		__sync_fetch_and_add(&failed, 1);
	else
		__sync_fetch_and_add(&sent, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
