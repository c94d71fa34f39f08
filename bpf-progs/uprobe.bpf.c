// SPDX-License-Identifier: GPL-2.0
/*
 * uprobe.bpf.c — user-space probes for tests/uprobe.rs. Each program records
 * what it saw in .bss or a map, for the test to compare with what it did:
 *
 *   uprobe            entry: the first two arguments, and a hit count
 *   uretprobe         return: the return value, and a hit count
 *   uprobe            hits per process (tgid), for the pid filter
 *   uprobe            hits per BPF cookie
 *   uprobe.s          a sleepable probe copying a string argument with
 *                     bpf_copy_from_user (only sleepable programs may)
 *   uprobe.multi      hits per cookie; uretprobe.multi: return values per cookie
 *   uprobe.session    entries and returns of one session, the entry's argument
 *                     carried to the return in the session cookie
 *   uprobe/libc.so.6:getpid            auto-attached by library name
 *   uretprobe//bin/bash:readline       BCC's bashreadline: each line typed into an
 *                                      interactive bash, to a ring buffer
 *
 * Only the process whose tgid user space writes to `target_tgid` before load is
 * recorded (0: every process), so other processes can't disturb a test.
 *
 * Rebuild with `cargo xtask build-progs uprobe`; never edit the .bpf.o by hand.
 */
#include <stdbool.h>
#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

const volatile __u32 target_tgid = 0;

__u64 entry_hits;
__u64 entry_arg1;
__u64 entry_arg2;
__u64 ret_hits;
__u64 ret_value;
__u64 getpid_hits;
__u64 sleepable_hits;
char sleepable_text[32];
__u64 session_entries;
__u64 session_returns;
__u64 session_carried;
__s64 session_ret;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} hits_by_tgid SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u64);
	__type(value, __u64);
} hits_by_cookie SEC(".maps");

/* Sum of the return values seen, per cookie (uretprobe.multi). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u64);
	__type(value, __u64);
} ret_by_cookie SEC(".maps");

struct line_event {
	__u32 pid;
	char line[124];
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} lines SEC(".maps");

/* Kfuncs of uprobe.session programs (6.13); weak, so the object loads anywhere. */
extern bool bpf_session_is_return(void) __ksym __weak;
extern __u64 *bpf_session_cookie(void) __ksym __weak;

static __always_inline int ours(void)
{
	return !target_tgid || (bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

static __always_inline void count(void *map, __u64 key, __u64 add)
{
	__u64 *n = bpf_map_lookup_elem(map, &key);

	if (n)
		__sync_fetch_and_add(n, add);
	else
		bpf_map_update_elem(map, &key, &add, BPF_NOEXIST);
}

SEC("uprobe")
int BPF_KPROBE(entry, __u64 a, __u64 b)
{
	if (!ours())
		return 0;
	entry_arg1 = a;
	entry_arg2 = b;
	__sync_fetch_and_add(&entry_hits, 1);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(ret, __u64 value)
{
	if (!ours())
		return 0;
	ret_value = value;
	__sync_fetch_and_add(&ret_hits, 1);
	return 0;
}

SEC("uprobe")
int by_pid(struct pt_regs *ctx)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 one = 1, *n = bpf_map_lookup_elem(&hits_by_tgid, &tgid);

	if (n)
		__sync_fetch_and_add(n, 1);
	else
		bpf_map_update_elem(&hits_by_tgid, &tgid, &one, BPF_NOEXIST);
	return 0;
}

SEC("uprobe")
int by_cookie(struct pt_regs *ctx)
{
	if (!ours())
		return 0;
	count(&hits_by_cookie, bpf_get_attach_cookie(ctx), 1);
	return 0;
}

SEC("uprobe.s")
int BPF_KPROBE(sleepable, const char *text)
{
	if (!ours())
		return 0;
	bpf_copy_from_user(sleepable_text, sizeof(sleepable_text) - 1, text);
	__sync_fetch_and_add(&sleepable_hits, 1);
	return 0;
}

SEC("uprobe.multi")
int multi_entry(struct pt_regs *ctx)
{
	if (!ours())
		return 0;
	count(&hits_by_cookie, bpf_get_attach_cookie(ctx), 1);
	return 0;
}

SEC("uretprobe.multi")
int multi_ret(struct pt_regs *ctx)
{
	if (!ours())
		return 0;
	count(&ret_by_cookie, bpf_get_attach_cookie(ctx), PT_REGS_RC(ctx));
	return 0;
}

SEC("uprobe.session")
int session(struct pt_regs *ctx)
{
	/* Both registers read up front: the verifier wants constant context offsets. */
	__u64 arg = PT_REGS_PARM1(ctx), rc = PT_REGS_RC(ctx);
	__u64 *carried;

	if (!ours())
		return 0;
	carried = bpf_session_cookie();
	if (!bpf_session_is_return()) {
		*carried = arg;
		__sync_fetch_and_add(&session_entries, 1);
		return 0; /* 0: run at the return too */
	}
	session_carried = *carried;
	session_ret = rc;
	__sync_fetch_and_add(&session_returns, 1);
	return 0;
}

SEC("uprobe/libc.so.6:getpid")
int auto_getpid(struct pt_regs *ctx)
{
	if (!ours())
		return 0;
	__sync_fetch_and_add(&getpid_hits, 1);
	return 0;
}

SEC("uretprobe//bin/bash:readline")
int BPF_KRETPROBE(bash_readline, const void *line)
{
	struct line_event *e;

	if (!line || !ours())
		return 0;
	e = bpf_ringbuf_reserve(&lines, sizeof(*e), 0);
	if (!e)
		return 0;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	bpf_probe_read_user_str(e->line, sizeof(e->line), line);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
