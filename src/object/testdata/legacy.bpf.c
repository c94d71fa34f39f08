// SPDX-License-Identifier: GPL-2.0
/* Legacy map definitions in SEC("maps"), and a kfunc extern. */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct bpf_map_def_legacy {
	unsigned int type;
	unsigned int key_size;
	unsigned int value_size;
	unsigned int max_entries;
	unsigned int map_flags;
};

struct bpf_map_def_legacy first SEC("maps") = {
	.type = BPF_MAP_TYPE_ARRAY,
	.key_size = 4,
	.value_size = 8,
	.max_entries = 2,
};

struct bpf_map_def_legacy second SEC("maps") = {
	.type = BPF_MAP_TYPE_HASH,
	.key_size = 8,
	.value_size = 16,
	.max_entries = 64,
	.map_flags = 1,
};

extern void bpf_rcu_read_lock(void) __ksym;

SEC("socket")
int prog(void *ctx)
{
	__u32 k = 0;

	bpf_rcu_read_lock();
	return bpf_map_lookup_elem(&second, &k) != 0 || bpf_map_lookup_elem(&first, &k) != 0;
}

char LICENSE[] SEC("license") = "GPL";
