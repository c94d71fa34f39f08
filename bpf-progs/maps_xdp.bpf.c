// SPDX-License-Identifier: GPL-2.0
/*
 * maps_xdp.bpf.c — the redirect maps of XDP programs: a device map, a device hash
 * map and a CPU map. `redirect` redirects every frame through the map chosen by
 * `which` (.bss: 0 devmap, 1 devmap_hash, 2 cpumap) at `key`; an empty slot falls
 * back to XDP_PASS, a filled one returns XDP_REDIRECT. Driven by BPF_PROG_TEST_RUN.
 * `on_dev` and `on_cpu` are the programs a devmap / cpumap entry can carry.
 *
 * Rebuild with `cargo xtask build-progs maps_xdp`; never edit the .bpf.o by hand.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

typedef __u32 u32;

u32 which;
u32 key;
u32 runs;

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 8);
	__type(key, u32);
	__type(value, struct bpf_devmap_val);
} devs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 8);
	__type(key, u32);
	__type(value, u32);
} devs_by_key SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CPUMAP);
	__uint(max_entries, 4);
	__type(key, u32);
	__type(value, struct bpf_cpumap_val);
} cpus SEC(".maps");

SEC("xdp")
int redirect(struct xdp_md *ctx)
{
	runs++;
	switch (which) {
	case 0:
		return bpf_redirect_map(&devs, key, XDP_PASS);
	case 1:
		return bpf_redirect_map(&devs_by_key, key, XDP_PASS);
	case 2:
		return bpf_redirect_map(&cpus, key, XDP_PASS);
	}
	return XDP_ABORTED;
}

SEC("xdp/devmap")
int on_dev(struct xdp_md *ctx)
{
	return XDP_PASS;
}

SEC("xdp/cpumap")
int on_cpu(struct xdp_md *ctx)
{
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
