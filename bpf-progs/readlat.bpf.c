// SPDX-License-Identifier: GPL-2.0
/*
 * readlat.bpf.c — read(2) latency as a log2 histogram, after BCC's vfsreadlat.
 *
 * sys_enter_read stores the entry time per thread in `start`; sys_exit_read
 * takes it out, computes the latency in microseconds and counts it in
 * `hist`, an array indexed by log2 bucket as BCC's bpf_log2l() numbers them
 * (slot 1 holds 0 and 1 usecs, slot i >= 2 holds [2^(i-1), 2^i - 1]).
 * `corebpf run readlat.bpf.o --hist hist --hist-label usecs` prints it the
 * way BCC's print_log2_hist does.
 *
 * `target_tgid` (set with `run --set target_tgid=PID`) restricts it to one
 * process; 0 traces every process.
 *
 * Rebuild with `cargo xtask build-progs readlat`; never edit the .bpf.o by hand.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

typedef __u32 u32;
typedef __u64 u64;

#define MAX_SLOTS 65

const volatile u32 target_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, u32);
	__type(value, u64);
} start SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, MAX_SLOTS);
	__type(key, u32);
	__type(value, u64);
} hist SEC(".maps");

/* BCC's bpf_log2l: floor(log2(v)) + 1, and 1 for v == 0. */
static __always_inline u32 log2l(u64 v)
{
	u32 r = 0;

	if (v >> 32) { v >>= 32; r += 32; }
	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8) { v >>= 8; r += 8; }
	if (v >> 4) { v >>= 4; r += 4; }
	if (v >> 2) { v >>= 2; r += 2; }
	if (v >> 1) { r += 1; }
	return r + 1;
}

static __always_inline int traced(u64 id)
{
	return !target_tgid || (u32)(id >> 32) == target_tgid;
}

SEC("tracepoint/syscalls/sys_enter_read")
int read_enter(void *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tid = (u32)id;
	u64 ts;

	if (!traced(id))
		return 0;
	ts = bpf_ktime_get_ns();
	bpf_map_update_elem(&start, &tid, &ts, BPF_ANY);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_read")
int read_exit(void *ctx)
{
	u64 id = bpf_get_current_pid_tgid();
	u32 tid = (u32)id;
	u64 *tsp, *slot;
	u32 idx;

	if (!traced(id))
		return 0;
	tsp = bpf_map_lookup_elem(&start, &tid);
	if (!tsp)
		return 0;
	idx = log2l((bpf_ktime_get_ns() - *tsp) / 1000);
	bpf_map_delete_elem(&start, &tid);
	if (idx >= MAX_SLOTS)
		idx = MAX_SLOTS - 1;
	slot = bpf_map_lookup_elem(&hist, &idx);
	if (slot)
		__sync_fetch_and_add(slot, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
