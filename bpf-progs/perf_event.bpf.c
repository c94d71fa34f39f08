// SPDX-License-Identifier: GPL-2.0
/*
 * perf_event.bpf.c — a perf_event program for tests/kinds_misc.rs: counts the
 * samples it gets on each CPU (a per-CPU array, one slot) and remembers the last
 * sample period the kernel reported.
 *
 * Each run is one overflow of the perf event it is attached to; user space opens
 * the events (a software CPU clock on every CPU, a task clock on one thread) and
 * reads the per-CPU counts.
 *
 * Rebuild with `cargo xtask build-progs perf_event`; never edit the .bpf.o by hand.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <linux/bpf_perf_event.h>
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} samples SEC(".maps");

__u64 last_period;

SEC("perf_event")
int count_samples(struct bpf_perf_event_data *ctx)
{
	__u32 zero = 0;
	__u64 *n = bpf_map_lookup_elem(&samples, &zero);

	if (n)
		*n += 1;
	last_period = ctx->sample_period;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
