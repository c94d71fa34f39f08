// SPDX-License-Identifier: GPL-2.0
/*
 * run_flags.bpf.c — the object of `corebpf run --only/--disable/--set/--map-size`'s
 * tests (cli/tests/run_flags.rs).
 *
 * Two variants of one probe, as real tools ship them (a tool attaches one): `exec_tp`
 * on the syscalls:sys_enter_execve tracepoint and `exec_raw` on the raw sys_enter
 * tracepoint, filtered to execve. Each sends one `struct event` per exec, saying which
 * variant it is and the configuration the loader wrote into .rodata and .data, so
 * the test sees `--set` in what the program records and `--only` in how many events
 * each exec makes. `seen` is a map for `--map-size` to resize.
 *
 * Rebuild with `cargo xtask build-progs`; never edit the .bpf.o by hand.
 */
#include <linux/bpf.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>

/* execve's number on x86-64, the architecture the tests run on. */
#define NR_EXECVE 59
#define LABEL_LEN 12

enum mode { MODE_OFF = 0, MODE_ON = 1, MODE_LOUD = 7 };

struct event {
	__u32 pid;
	__u32 variant; /* 1: exec_tp, 2: exec_raw */
	__s64 cookie;
	enum mode mode;
	bool flag;
	__u8 small;
	char label[LABEL_LEN];
	__u32 scale;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* Exec counts per tgid: sized by `--map-size seen=N` in the tests. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} seen SEC(".maps");

/* Configuration, set with `--set NAME=VALUE` (".rodata", frozen after load). */
const volatile __s64 cookie = 0;
const volatile bool flag = false;
const volatile enum mode mode = MODE_OFF;
const volatile __u8 small = 0;
const volatile char label[LABEL_LEN] = "none";
/* ".data": writable, set the same way. */
volatile __u32 scale = 1;

/* Not inlined, so that `struct event` is in the BTF for `corebpf run` to decode. */
static __noinline void fill(struct event *e, __u32 tgid, __u32 variant)
{
	e->pid = tgid;
	e->variant = variant;
	e->cookie = cookie;
	e->mode = mode;
	e->flag = flag;
	e->small = small;
	for (int i = 0; i < LABEL_LEN; i++)
		e->label[i] = label[i];
	e->scale = scale;
}

static __always_inline int emit(__u32 variant)
{
	struct event *e;
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	__u64 one = 1;

	bpf_map_update_elem(&seen, &tgid, &one, BPF_ANY);
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e)
		return 0;
	fill(e, tgid, variant);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_execve")
int exec_tp(void *ctx)
{
	return emit(1);
}

SEC("raw_tp/sys_enter")
int exec_raw(struct bpf_raw_tracepoint_args *ctx)
{
	if (ctx->args[1] != NR_EXECVE)
		return 0;
	return emit(2);
}

char LICENSE[] SEC("license") = "GPL";
