// SPDX-License-Identifier: GPL-2.0
/*
 * iter.bpf.c — BPF iterators, for tests/kinds_misc.rs. Each program prints text
 * with bpf_seq_printf(); user space reads it from the iterator's fd (or from the
 * link's pin on bpffs):
 *
 *   iter/task          "PID COMM" for each process (its main thread), after a
 *                      header line "pid comm"
 *   iter/task          (dump_pids) "pid PID" for each process: the program
 *                      Link::update_program swaps in on a live link
 *   iter/task_file     "FD" for each open file of the process `target_tgid`
 *   iter/bpf_map       "ID NAME" for each map in the system
 *   iter/bpf_map_elem  "KEY=VALUE" for each element of the map given at attach
 *                      time (u32 keys, u64 values)
 *
 * The context structs follow the kernel's bpf_iter__<target>; their members are
 * the arguments of the kernel's bpf_iter_<target>() prototype, which is what the
 * loader resolves the program's attach_btf_id to.
 *
 * Rebuild with `cargo xtask build-progs iter`; never edit the .bpf.o by hand.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

struct seq_file;

struct bpf_iter_meta {
	struct seq_file *seq;
	__u64 session_id;
	__u64 seq_num;
} __attribute__((preserve_access_index));

struct task_struct {
	int pid;
	int tgid;
	char comm[16];
} __attribute__((preserve_access_index));

struct bpf_map {
	__u32 id;
	char name[16];
} __attribute__((preserve_access_index));

struct file;

struct bpf_iter__task {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
};

struct bpf_iter__task_file {
	struct bpf_iter_meta *meta;
	struct task_struct *task;
	__u32 fd;
	struct file *file;
};

struct bpf_iter__bpf_map {
	struct bpf_iter_meta *meta;
	struct bpf_map *map;
};

struct bpf_iter__bpf_map_elem {
	struct bpf_iter_meta *meta;
	struct bpf_map *map;
	void *key;
	void *value;
};

/* The map the element iterator walks in the test (any u32 -> u64 map would do). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16);
	__type(key, __u32);
	__type(value, __u64);
} elems SEC(".maps");

const volatile __s32 target_tgid = 0;

SEC("iter/task")
int dump_task(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	char comm[16];

	if (ctx->meta->seq_num == 0)
		BPF_SEQ_PRINTF(seq, "pid comm\n");
	if (!task || task->pid != task->tgid)
		return 0;
	bpf_probe_read_kernel_str(comm, sizeof(comm), task->comm);
	BPF_SEQ_PRINTF(seq, "%d %s\n", task->tgid, comm);
	return 0;
}

SEC("iter/task")
int dump_pids(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;

	if (!task || task->pid != task->tgid)
		return 0;
	BPF_SEQ_PRINTF(ctx->meta->seq, "pid %d\n", task->tgid);
	return 0;
}

SEC("iter/task_file")
int dump_files(struct bpf_iter__task_file *ctx)
{
	struct task_struct *task = ctx->task;

	if (!task || !ctx->file || task->tgid != target_tgid || task->pid != task->tgid)
		return 0;
	BPF_SEQ_PRINTF(ctx->meta->seq, "%u\n", ctx->fd);
	return 0;
}

SEC("iter/bpf_map")
int dump_maps(struct bpf_iter__bpf_map *ctx)
{
	struct bpf_map *map = ctx->map;
	char name[16];

	if (!map)
		return 0;
	bpf_probe_read_kernel_str(name, sizeof(name), map->name);
	BPF_SEQ_PRINTF(ctx->meta->seq, "%u %s\n", map->id, name);
	return 0;
}

SEC("iter/bpf_map_elem")
int dump_elems(struct bpf_iter__bpf_map_elem *ctx)
{
	__u32 *key = ctx->key;
	__u64 *value = ctx->value;

	if (!key || !value)
		return 0;
	BPF_SEQ_PRINTF(ctx->meta->seq, "%u=%llu\n", *key, *value);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
