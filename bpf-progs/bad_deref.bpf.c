// SPDX-License-Identifier: GPL-2.0
/*
 * bad_deref.bpf.c — a program the verifier must reject.
 *
 * The object itself is well formed (it parses, its map is created and its
 * relocations resolve); only PROG_LOAD fails, because the program writes
 * through the pointer returned by bpf_map_lookup_elem() without checking it
 * for NULL. The verifier's log then ends with
 *
 *     R0 invalid mem access 'map_value_or_null'
 *
 * and the loader's error must carry that log (its last lines in Display).
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

typedef __u32 u32;
typedef __u64 u64;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, u32);
	__type(value, u64);
} counts SEC(".maps");

SEC("tracepoint/syscalls/sys_enter_execve")
int bad_deref(void *ctx __attribute__((unused)))
{
	u32 key = 0;
	u64 *count;

	count = bpf_map_lookup_elem(&counts, &key);
	/* BUG (on purpose): no `if (!count) return 0;` here. */
	*count += 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
