// SPDX-License-Identifier: GPL-2.0
/*
 * maps_bloom.bpf.c — a bloom filter (Linux 5.16+). On getgid(2) of the test's
 * thread (`target_tid`) the program asks the filter whether it holds `input`
 * (.bss), writes the answer to `hit`, then pushes `input + 1000`.
 *
 * Rebuild with `cargo xtask build-progs maps_bloom`; never edit the .bpf.o by hand.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

typedef __u32 u32;
typedef __u64 u64;

const volatile u32 target_tid = 0;

u64 input;
u64 hit;

struct {
	__uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
	__uint(max_entries, 64);
	__uint(map_extra, 3);
	__type(value, u64);
} bloom SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_getgid")
int probe(void *ctx)
{
	u64 v = input, later = input + 1000;

	if ((u32)bpf_get_current_pid_tgid() != target_tid)
		return 0;
	hit = bpf_map_peek_elem(&bloom, &v) == 0;
	bpf_map_push_elem(&bloom, &later, BPF_ANY);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
