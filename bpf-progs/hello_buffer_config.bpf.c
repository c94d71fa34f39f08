// SPDX-License-Identifier: GPL-2.0
/*
 * hello_buffer_config.bpf.c — hello.bpf.c plus per-user configuration.
 *
 * Like hello, it sends a `struct event` for every execve(2) through the ring
 * buffer `events` and counts execs per uid in `counts`. In addition, each
 * event carries a 12-byte message: user space may store one per uid in the
 * hash map `config`; uids without an entry get the default message from the
 * global `default_message` (".data"), "Hello World".
 *
 * Compared with hello.bpf.o this object adds, for the loader:
 *   - a map whose value is a named struct (`struct user_msg`), to be looked
 *     up in BTF by the map definition's `value` member;
 *   - a ".data" section (initialised, writable global data) next to
 *     ".rodata" and ".bss".
 *
 * Like hello it uses neither vmlinux.h nor CO-RE; the tracepoint context is
 * written by hand from
 * /sys/kernel/tracing/events/syscalls/sys_enter_execve/format.
 *
 * Rebuild with `cargo xtask build-progs`; never edit the .bpf.o by hand.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

typedef __u32 u32;
typedef __u64 u64;

#define TASK_COMM_LEN 16
#define MAX_FILENAME_LEN 256
#define MESSAGE_LEN 12

/* The record of syscalls:sys_enter_execve (see hello.bpf.c for the format
 * file it is transcribed from). */
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
 * One record of the `events` ring buffer:
 * 4 + 4 + 16 + 256 + 12 = 292 bytes, no padding (every member is 4-byte
 * aligned at most, and 292 is a multiple of 4).
 */
struct event {
	u32 pid;                        /* tgid of the exec'ing task */
	u32 uid;                        /* its real uid */
	char comm[TASK_COMM_LEN];       /* comm *before* the exec completes */
	char filename[MAX_FILENAME_LEN];/* path passed to execve(2) */
	char message[MESSAGE_LEN];      /* from `config`, or the default */
};

/* Value of the `config` map: the message for one uid (need not be
 * NUL-terminated; all 12 bytes are copied). */
struct user_msg {
	char message[MESSAGE_LEN];
};

/* Ring buffer of `struct event`s. */
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

/* Per-uid message, written by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 500);
	__type(key, u32);               /* uid */
	__type(value, struct user_msg); /* message for that uid */
} config SEC(".maps");

/* 0 traces every process, any other value only that tgid (".rodata"). */
const volatile u32 target_tgid = 0;

/* Message for uids without a `config` entry (".data": initialised and
 * writable, so user space may change it before or after load). */
char default_message[MESSAGE_LEN] = "Hello World";

/* Events sent so far (".bss"). */
u64 total_events;

/*
 * Fills @e for the current task: identity, comm, filename and the message.
 * Non-inlined, so the object contains a bpf-to-bpf call into ".text".
 */
static __noinline void fill_event(struct event *e, const char *filename,
				  u32 tgid, u32 uid)
{
	struct user_msg *msg;

	e->pid = tgid;
	e->uid = uid;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	/* filename is a user-space pointer; on failure the string is empty. */
	if (bpf_probe_read_user_str(e->filename, sizeof(e->filename), filename) < 0)
		e->filename[0] = '\0';

	msg = bpf_map_lookup_elem(&config, &uid);
	if (msg)
		__builtin_memcpy(e->message, msg->message, sizeof(e->message));
	else
		__builtin_memcpy(e->message, default_message, sizeof(e->message));
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
	/* A concurrent insert of the same uid makes this fail with -EEXIST
	 * and loses one count, which is fine for a test. */
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
