// SPDX-License-Identifier: GPL-2.0
/*
 * hello.bpf.c — the foundation test object of corebpf.
 *
 * On every execve(2) it sends a `struct event` to user space through a ring
 * buffer and counts execs per uid in a hash map. The object is deliberately
 * small but touches every basic path of the loader:
 *
 *   - BTF-defined maps in ".maps": a BPF_MAP_TYPE_RINGBUF (`events`) and a
 *     BPF_MAP_TYPE_HASH (`counts`), referenced through `ld_imm64` map
 *     relocations;
 *   - global data: `target_tgid` lives in ".rodata" (the loader writes it
 *     before load and freezes the map), `total_events` lives in ".bss";
 *   - a bpf-to-bpf call: `fill_event()` is a static, non-inlined function in
 *     ".text" that the loader must append to the program and link;
 *   - a tracepoint program whose SEC() name gives its type and attach point.
 *
 * It uses neither vmlinux.h nor CO-RE: the tracepoint context below is
 * written by hand from
 * /sys/kernel/tracing/events/syscalls/sys_enter_execve/format, whose layout
 * is part of the kernel's user-visible tracing ABI.
 *
 * Rebuild with `cargo xtask build-progs`; never edit the .bpf.o by hand.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

typedef __u32 u32;
typedef __u64 u64;

#define TASK_COMM_LEN 16
#define MAX_FILENAME_LEN 256

/*
 * The record of syscalls:sys_enter_execve, as the format file describes it:
 *
 *   field:unsigned short common_type;          offset:0;  size:2;
 *   field:unsigned char common_flags;          offset:2;  size:1;
 *   field:unsigned char common_preempt_count;  offset:3;  size:1;
 *   field:int common_pid;                      offset:4;  size:4;
 *   field:int __syscall_nr;                    offset:8;  size:4;
 *   field:const char * filename;               offset:16; size:8;
 *   field:const char *const * argv;            offset:24; size:8;
 *   field:const char *const * envp;            offset:32; size:8;
 *
 * The 4 bytes at offset 12 are padding (pointers are 8-byte aligned), which
 * the natural C layout reproduces; the explicit `__pad` only documents it.
 */
struct sys_enter_execve_ctx {
	unsigned short common_type;
	unsigned char common_flags;
	unsigned char common_preempt_count;
	int common_pid;
	int __syscall_nr;
	int __pad;
	const char *filename;
	const char *const *argv;
	const char *const *envp;
};

/*
 * One record of the `events` ring buffer. User space (the tests) decodes it
 * with the same layout: 4 + 4 + 16 + 256 = 280 bytes, no padding.
 *
 * Its BTF is always emitted because `fill_event()` takes a `struct event *`
 * and clang describes every function's prototype in BTF.
 */
struct event {
	u32 pid;                        /* tgid of the exec'ing task */
	u32 uid;                        /* its real uid */
	char comm[TASK_COMM_LEN];       /* comm *before* the exec completes */
	char filename[MAX_FILENAME_LEN];/* path passed to execve(2) */
};

/* Ring buffer of `struct event`s; the size must be a power-of-2 multiple of
 * the page size. */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* Number of execs seen per uid. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, u32);   /* uid */
	__type(value, u64); /* exec count */
} counts SEC(".maps");

/*
 * Configuration set by the loader before the program is loaded (".rodata"):
 * 0 traces every process, any other value only the process with that tgid.
 * `volatile` stops clang from folding the initial value into the code.
 */
const volatile u32 target_tgid = 0;

/* Events sent so far (".bss", zero-initialised, readable from user space). */
u64 total_events;

/*
 * Fills @e for the current task. A separate, non-inlined function so that
 * the object contains a bpf-to-bpf call into ".text" (a pseudo call whose
 * immediate the loader must fix up once the subprogram is appended).
 */
static __noinline void fill_event(struct event *e, const char *filename,
				  u32 tgid, u32 uid)
{
	e->pid = tgid;
	e->uid = uid;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	/* filename is a user-space pointer; on failure the string is empty. */
	if (bpf_probe_read_user_str(e->filename, sizeof(e->filename), filename) < 0)
		e->filename[0] = '\0';
}

/* Adds one exec to @uid's counter, creating the entry on first use. */
static __always_inline void count_exec(u32 uid)
{
	u64 one = 1;
	u64 *count;

	count = bpf_map_lookup_elem(&counts, &uid);
	if (count) {
		__sync_fetch_and_add(count, 1);
		return;
	}
	/* Another CPU may insert the same uid first: then BPF_NOEXIST fails
	 * with -EEXIST and this exec is lost, which is fine for a test. */
	bpf_map_update_elem(&counts, &uid, &one, BPF_NOEXIST);
}

SEC("tracepoint/syscalls/sys_enter_execve")
int handle_execve(struct sys_enter_execve_ctx *ctx)
{
	u64 pid_tgid = bpf_get_current_pid_tgid();
	u32 tgid = pid_tgid >> 32;
	u32 uid = (u32)bpf_get_current_uid_gid();
	struct event *e;

	if (target_tgid && tgid != target_tgid)
		return 0;

	count_exec(uid);

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0; /* ring buffer full: drop the event */

	fill_event(e, ctx->filename, tgid, uid);
	bpf_ringbuf_submit(e, 0);
	__sync_fetch_and_add(&total_events, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
