// SPDX-License-Identifier: GPL-2.0
/*
 * maps_pinned.bpf.c — a map pinned by name (`LIBBPF_PIN_BY_NAME`): a second load
 * with the same pin root reuses it, so both loads see one map. On getppid(2) of the
 * test's thread the program counts the call under its thread id in `shared`
 * (pinned) and in `private` (each load's own).
 *
 * Rebuild with `cargo xtask build-progs maps_pinned`; never edit the .bpf.o by hand.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

typedef __u32 u32;
typedef __u64 u64;

const volatile u32 target_tid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, u32);
	__type(value, u64);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} shared SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, u32);
	__type(value, u64);
} private SEC(".maps");

static __always_inline void count(void *map, u32 key)
{
	u64 one = 1, *v = bpf_map_lookup_elem(map, &key);

	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(map, &key, &one, BPF_NOEXIST);
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int count_calls(void *ctx)
{
	if ((u32)bpf_get_current_pid_tgid() != target_tid)
		return 0;
	count(&shared, target_tid);
	count(&private, target_tid);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
