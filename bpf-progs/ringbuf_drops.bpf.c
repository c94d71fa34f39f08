// SPDX-License-Identifier: GPL-2.0
/*
 * ringbuf_drops.bpf.c — making ring buffer loss visible: the drop-counter
 * pattern.
 *
 * A ring buffer never tells user space what it could not hold:
 * bpf_ringbuf_reserve() just returns NULL when the ring is full, and a
 * program that ignores that loses the event silently. So count it: a
 * BPF_MAP_TYPE_PERCPU_ARRAY named `dropped` with one u64 slot, bumped on
 * every failed reservation (per CPU, so without atomics). `corebpf run` reads
 * a map of that name at the end, sums it over the CPUs and prints it beside
 * what it read ("records N, lost 0, dropped D"); any tool can do the same.
 *
 * The ring is deliberately small (8 KiB: 256 events of 24 bytes plus their
 * 8-byte headers), so a consumer that falls behind a burst drops events.
 * Events are made on every getpgid(2) by a thread named "cbpf-burst" (see
 * burst.h).
 *
 * Rebuild with `cargo xtask build-progs ringbuf_drops`.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "burst.h"

typedef __u32 u32;
typedef __u64 u64;

struct event {
	u32 pid;                  /* tgid of the caller */
	u32 seq;                  /* 0, 1, 2, ... in the order of the events */
	char comm[TASK_COMM_LEN]; /* the calling thread's name */
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8192);
} events SEC(".maps");

/* Failed reservations, per CPU: the pattern `corebpf run` reports. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, u64);
} dropped SEC(".maps");

static u32 next_seq;

/*
 * Fills @e. Not inlined: clang describes a function's prototype in BTF, so
 * `struct event` is in the object's BTF, where `corebpf run` finds it to
 * decode the records (a type used only through local variables is not).
 */
static __noinline void fill_event(struct event *e, const char *comm)
{
	e->pid = bpf_get_current_pid_tgid() >> 32;
	/*
	 * Not an atomic fetch-and-add: 5.10 has none (5.12). The events come from
	 * the one burst thread (burst.h), so a plain increment counts exactly.
	 */
	e->seq = next_seq++;
	__builtin_memcpy(e->comm, comm, TASK_COMM_LEN);
}

/* Counts one event the ring had no room for. */
static __always_inline void count_drop(void)
{
	u32 zero = 0;
	u64 *n = bpf_map_lookup_elem(&dropped, &zero);

	if (n)
		*n += 1; /* this CPU's slot: no other CPU writes it */
}

SEC("tracepoint/syscalls/sys_enter_getpgid")
int send_event(void *ctx)
{
	char comm[TASK_COMM_LEN];
	struct event *e;

	bpf_get_current_comm(comm, sizeof(comm));
	if (!is_burst_thread(comm))
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count_drop();
		return 0;
	}
	fill_event(e, comm);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
