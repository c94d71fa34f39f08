// SPDX-License-Identifier: GPL-2.0
/*
 * multi.bpf.c — a many-program, many-map object for corebpf's full-load
 * benchmark (`cargo xtask bench`, case 3; see benches/).
 *
 25 programs of 11 kinds (socket filter, XDP, TC classifier, cgroup_skb,
 * cgroup/sock_create, sockops, kprobe/kretprobe, tracepoint, raw_tp, tp_btf,
 * perf_event), 12 BTF-defined maps of 12 types, and global data in .data,
 * .rodata and .bss. Several programs read kernel structures through CO-RE,
 * and the tp_btf programs need attach BTF ids, so a full load exercises the
 * kernel BTF path as real tools do. Every program loads on Linux 6.18
 * without being attached; the benchmark only loads the object (BTF, maps,
 * programs) and drops it. (No fentry/fexit: some 6.18 builds, such as this
 * project's Firecracker guests, refuse them with EPERM.)
 *
 * The section names are the ones libbpf, aya and corebpf all know
 * (`classifier` rather than `tc`, which aya does not parse).
 *
 * Rebuild with `cargo xtask build-progs multi`.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

typedef __u8 u8;
typedef __u32 u32;
typedef __u64 u64;
typedef _Bool bool;

/* Local views of kernel types: CO-RE finds the fields in the kernel's BTF. */
struct mm_struct {
	unsigned long total_vm;
	unsigned long start_code;
} __attribute__((preserve_access_index));

struct task_struct {
	int pid;
	int tgid;
	int prio;
	unsigned int flags;
	struct task_struct *real_parent;
	struct mm_struct *mm;
	char comm[16];
} __attribute__((preserve_access_index));

/* ---- maps ---------------------------------------------------------- */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 10240);
	__type(key, u32);
	__type(value, u64);
} counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 64);
	__type(key, u32);
	__type(value, u64);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096);
	__type(key, u32);
	__type(value, u64);
} pcpu_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 16);
	__type(key, u32);
	__type(value, u64);
} pcpu_array SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, u64);
	__type(value, u64);
} lru SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(u32));
	__uint(value_size, sizeof(u32));
} perf_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 8);
	__uint(key_size, sizeof(u32));
	__uint(value_size, sizeof(u32));
} jump SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 1024);
	__uint(key_size, sizeof(u32));
	__uint(value_size, 127 * sizeof(u64));
} stacks SEC(".maps");

struct lpm_key {
	u32 prefixlen;
	u32 addr;
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 256);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm_key);
	__type(value, u32);
} prefixes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_QUEUE);
	__uint(max_entries, 1024);
	__type(value, u64);
} queue SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_BLOOM_FILTER);
	__uint(max_entries, 1024);
	__type(value, u32);
} bloom SEC(".maps");

/* ---- global data ------------------------------------------------------ */

const volatile u32 sample_every = 1;	/* .rodata */
const volatile u32 target_tgid = 0;	/* .rodata */
u64 generation = 1;			/* .data */
u64 packets;				/* .bss */
u64 syscalls;				/* .bss */
u64 drops;				/* .bss */

struct event {
	u32 pid;
	u32 kind;
	u64 value;
	char comm[16];
};

/* ---- shared helpers --------------------------------------------------- */

static __always_inline void bump(u32 key)
{
	u64 one = 1, *v;

	v = bpf_map_lookup_elem(&counts, &key);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(&counts, &key, &one, BPF_NOEXIST);
}

static __always_inline void pcpu_bump(u32 key)
{
	u64 *v = bpf_map_lookup_elem(&pcpu_array, &key);

	if (v)
		*v += 1;
}

static __always_inline int emit(u32 kind, u64 value)
{
	struct event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		__sync_fetch_and_add(&drops, 1);
		return 0;
	}
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->kind = kind;
	e->value = value;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
	return 1;
}

static __always_inline bool wanted(void)
{
	u32 tgid = bpf_get_current_pid_tgid() >> 32;

	return !target_tgid || tgid == target_tgid;
}

/* Reads a few task fields through CO-RE (bpf_probe_read_kernel underneath). */
static __always_inline u64 task_digest(struct task_struct *t)
{
	u64 d = 0;

	d += BPF_CORE_READ(t, pid);
	d += BPF_CORE_READ(t, tgid);
	d += BPF_CORE_READ(t, prio);
	d += BPF_CORE_READ(t, flags);
	d += BPF_CORE_READ(t, real_parent, pid);
	d += BPF_CORE_READ(t, mm, total_vm);
	return d;
}

/* ---- packet programs -------------------------------------------------- */

SEC("socket")
int sock_len(struct __sk_buff *skb)
{
	bump(1);
	__sync_fetch_and_add(&packets, 1);
	return skb->len;
}

SEC("socket")
int sock_proto(struct __sk_buff *skb)
{
	u32 key = skb->protocol & 0xff;
	u64 one = 1, *v;

	v = bpf_map_lookup_elem(&pcpu_hash, &key);
	if (v)
		*v += 1;
	else
		bpf_map_update_elem(&pcpu_hash, &key, &one, BPF_ANY);
	return 0;
}

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	__sync_fetch_and_add(&packets, 1);
	return XDP_PASS;
}

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;

	bump(2);
	pcpu_bump(2);
	if (data + 14 > end)
		return XDP_DROP;
	return XDP_PASS;
}

SEC("xdp")
int xdp_lpm(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct lpm_key key = { .prefixlen = 32 };
	u32 *verdict;

	if (data + 34 > end)
		return XDP_PASS;
	/* IPv4 source address, assuming an untagged Ethernet frame. */
	__builtin_memcpy(&key.addr, data + 26, 4);
	verdict = bpf_map_lookup_elem(&prefixes, &key);
	if (verdict && *verdict)
		return XDP_DROP;
	bpf_tail_call(ctx, &jump, 0);
	return XDP_PASS;
}

SEC("classifier")
int tc_mark(struct __sk_buff *skb)
{
	skb->mark = generation;
	return 0; /* TC_ACT_OK */
}

SEC("classifier")
int tc_count(struct __sk_buff *skb)
{
	u64 key = skb->ifindex, one = 1, *v;

	v = bpf_map_lookup_elem(&lru, &key);
	if (v)
		__sync_fetch_and_add(v, skb->len);
	else
		bpf_map_update_elem(&lru, &key, &one, BPF_ANY);
	return 0;
}

SEC("cgroup_skb/ingress")
int cg_ingress(struct __sk_buff *skb)
{
	bump(3);
	return 1;
}

SEC("cgroup_skb/egress")
int cg_egress(struct __sk_buff *skb)
{
	pcpu_bump(3);
	return 1;
}

SEC("cgroup/sock_create")
int cg_sock_create(struct bpf_sock *sk)
{
	bump(4 + (sk->family & 0xf));
	return 1;
}

SEC("sockops")
int sock_ops(struct bpf_sock_ops *ops)
{
	u32 key = 32 + (ops->op & 0x1f);

	bump(key);
	return 1;
}

/* ---- tracing programs ------------------------------------------------- */

SEC("kprobe/vfs_read")
int kp_vfs_read(void *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();

	if (!wanted())
		return 0;
	bump(10);
	emit(1, task_digest(t));
	return 0;
}

SEC("kretprobe/vfs_read")
int krp_vfs_read(void *ctx)
{
	u64 id = bpf_get_current_pid_tgid(), *v;

	v = bpf_map_lookup_elem(&lru, &id);
	if (v)
		bpf_map_delete_elem(&lru, &id);
	return 0;
}

SEC("kprobe/do_sys_openat2")
int kp_openat2(void *ctx)
{
	long id = bpf_get_stackid(ctx, &stacks, 0);

	if (id >= 0)
		bump(11);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_openat")
int tp_openat(void *ctx)
{
	u64 ts = bpf_ktime_get_ns();

	__sync_fetch_and_add(&syscalls, 1);
	bpf_map_push_elem(&queue, &ts, BPF_EXIST);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_write")
int tp_write(void *ctx)
{
	u32 tgid = bpf_get_current_pid_tgid() >> 32;

	if (bpf_map_peek_elem(&bloom, &tgid) == 0)
		bump(12);
	return 0;
}

SEC("tracepoint/sched/sched_process_exec")
int tp_exec(void *ctx)
{
	struct event e = {};

	e.pid = bpf_get_current_pid_tgid() >> 32;
	e.kind = 2;
	e.value = generation;
	bpf_get_current_comm(e.comm, sizeof(e.comm));
	bpf_perf_event_output(ctx, &perf_events, BPF_F_CURRENT_CPU, &e, sizeof(e));
	return 0;
}

SEC("raw_tp/sys_enter")
int rtp_sys_enter(void *ctx)
{
	u32 key = 0;
	u64 *every = bpf_map_lookup_elem(&config, &key);

	if (every && *every > 1 && bpf_get_prandom_u32() % *every)
		return 0;
	__sync_fetch_and_add(&syscalls, 1);
	return 0;
}

SEC("raw_tp/sched_switch")
int rtp_sched_switch(void *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	u32 key = BPF_CORE_READ(t, tgid) & 0xfff;
	u64 one = 1;

	if (sample_every > 1 && bpf_get_prandom_u32() % sample_every)
		return 0;
	bpf_map_update_elem(&pcpu_hash, &key, &one, BPF_ANY);
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(btf_sched_switch, bool preempt, struct task_struct *prev,
	     struct task_struct *next)
{
	u32 key = next->pid & 0xfff;
	u64 val = prev->pid;

	bpf_map_update_elem(&pcpu_hash, &key, &val, BPF_ANY);
	return 0;
}

SEC("tp_btf/sched_process_fork")
int BPF_PROG(btf_fork, struct task_struct *parent, struct task_struct *child)
{
	if (!wanted())
		return 0;
	emit(3, ((u64)parent->tgid << 32) | child->pid);
	return 0;
}

SEC("kprobe/do_unlinkat")
int kp_unlinkat(void *ctx)
{
	u64 key = bpf_get_current_pid_tgid(), one = 1, *v;

	v = bpf_map_lookup_elem(&lru, &key);
	if (v)
		__sync_fetch_and_add(v, 1);
	else
		bpf_map_update_elem(&lru, &key, &one, BPF_ANY);
	return 0;
}

SEC("tracepoint/sched/sched_process_exit")
int tp_exit(void *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();

	if (!wanted())
		return 0;
	if (BPF_CORE_READ(t, pid) == BPF_CORE_READ(t, tgid))
		emit(5, task_digest(t));
	else
		bump(14);
	return 0;
}

SEC("perf_event")
int perf_sample(void *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	long id = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
	u64 digest = task_digest(t);

	if (id >= 0)
		bump(15);
	bpf_map_push_elem(&queue, &digest, BPF_EXIST);
	return 0;
}

SEC("raw_tp/sys_exit")
int rtp_sys_exit(void *ctx)
{
	struct task_struct *t = (void *)bpf_get_current_task();
	char comm[16];

	if (!wanted())
		return 0;
	BPF_CORE_READ_STR_INTO(&comm, t, comm);
	if (comm[0] == 'b' && comm[1] == 'p' && comm[2] == 'f')
		emit(4, BPF_CORE_READ(t, mm, start_code));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
