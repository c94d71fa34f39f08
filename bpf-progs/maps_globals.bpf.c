// SPDX-License-Identifier: GPL-2.0
/*
 * maps_globals.bpf.c — global data as user space sees it after load. On each
 * getppid(2) of the test's thread (`target_tid`), the program reads `input` (.bss,
 * written by user space through the mmap'd view) and writes `output = input *
 * factor + bias`, where `factor` is a .rodata constant, `bias` an initialized .data
 * variable, and counts its runs in `runs`, which lives in a custom `.data.stats`
 * section.
 *
 * Rebuild with `cargo xtask build-progs maps_globals`; never edit the .bpf.o by hand.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

typedef __u32 u32;
typedef __u64 u64;

const volatile u32 target_tid = 0;
const volatile u64 factor = 3;

u64 input;
u64 output;
u64 bias = 7;
u64 runs SEC(".data.stats") = 100;

SEC("tracepoint/syscalls/sys_enter_getppid")
int compute(void *ctx)
{
	if ((u32)bpf_get_current_pid_tgid() != target_tid)
		return 0;
	output = input * factor + bias;
	runs += 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
