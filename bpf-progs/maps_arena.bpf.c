// SPDX-License-Identifier: GPL-2.0
/*
 * maps_arena.bpf.c — an arena (Linux 6.9+): memory a program allocates and user
 * space reads and writes at the same addresses. `alloc` (a syscall program, run
 * with BPF_PROG_TEST_RUN) allocates a page, writes `0xc0ffee` at its start and
 * publishes the page's address in `page` (.bss); `sum` adds the two u64s user
 * space put after it into `total` (and names the arena, as the verifier wants).
 *
 * Rebuild with `cargo xtask build-progs maps_arena`; never edit the .bpf.o by hand.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

typedef __u64 u64;

#define BPF_MAP_TYPE_ARENA_ 33 /* not in the 6.1 uapi headers */
#define NUMA_NO_NODE (-1)
#define __arena __attribute__((address_space(1)))

struct {
	__uint(type, BPF_MAP_TYPE_ARENA_);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 4); /* pages */
} arena SEC(".maps");

void __arena *bpf_arena_alloc_pages(void *map, void __arena *addr, __u32 page_cnt,
				    int node_id, __u64 flags) __ksym __weak;
void bpf_arena_free_pages(void *map, void __arena *ptr, __u32 page_cnt) __ksym __weak;

u64 page;
u64 total;

SEC("syscall")
int alloc(void *ctx)
{
	u64 __arena *p = bpf_arena_alloc_pages(&arena, NULL, 1, NUMA_NO_NODE, 0);

	if (!p)
		return 1;
	p[0] = 0xc0ffee;
	page = (u64)p;
	return 0;
}

SEC("syscall")
int sum(void *ctx)
{
	u64 __arena *p = (u64 __arena *)page;

	/* The verifier allows addr_space_cast only in a program that uses the arena
	 * map: this call (never made, `page` is set by then) is that use. */
	if (!p) {
		bpf_arena_free_pages(&arena, p, 0);
		return 1;
	}
	total = p[1] + p[2];
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
