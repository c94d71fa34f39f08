// SPDX-License-Identifier: GPL-2.0
/*
 * printk.bpf.c — writes a line to the kernel's trace buffer on every
 * getppid(2), for the tests of `corebpf trace-pipe`.
 *
 * getppid is a syscall nothing else in the test suite drives and that costs
 * nothing, so a test can call it as often as it likes and find its own lines
 * by the pid and the counter it put in them. The counter is the number of
 * lines this program has written (".bss"), so a reader can tell lines apart.
 *
 * No vmlinux.h, no CO-RE: the tracepoint's context is not read at all.
 *
 * Rebuild with `cargo xtask build-progs`; never edit the .bpf.o by hand.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

typedef __u32 u32;
typedef __u64 u64;

/* Lines written so far; a plain increment, since fetch-and-add needs 5.12. */
u64 printed;

SEC("tracepoint/syscalls/sys_enter_getppid")
int getppid_printk(void *ctx)
{
	u32 tgid = bpf_get_current_pid_tgid() >> 32;
	u64 n = printed++; /* racy across CPUs: a test only needs lines to differ */

	bpf_printk("corebpf printk: getppid by %u, line %llu", tgid, n);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
