/* SPDX-License-Identifier: GPL-2.0 */
/*
 * burst.h — the thread filter shared by the event examples (perf_events.bpf.c,
 * ringbuf_drops.bpf.c): they report only syscalls made by a thread named
 * "cbpf-burst", which is what corebpf's tests name the thread that makes
 * their events, so that other processes' syscalls never count.
 */
#ifndef CBPF_BURST_H
#define CBPF_BURST_H

#define TASK_COMM_LEN 16

/* True when the current thread's comm is exactly "cbpf-burst". */
static __always_inline int is_burst_thread(const char comm[TASK_COMM_LEN])
{
	return comm[0] == 'c' && comm[1] == 'b' && comm[2] == 'p' &&
	       comm[3] == 'f' && comm[4] == '-' && comm[5] == 'b' &&
	       comm[6] == 'u' && comm[7] == 'r' && comm[8] == 's' &&
	       comm[9] == 't' && comm[10] == '\0';
}

#endif
