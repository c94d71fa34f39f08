// SPDX-License-Identifier: GPL-2.0
/*
 * xdp.bpf.c — XDP programs for corebpf's XDP tests (tests/xdp.rs).
 *
 * Every program looks only at IPv4 UDP datagrams to `port` (set in .rodata
 * before load), so ARP and IPv6 neighbour traffic on the test's veth pairs
 * pass untouched and are not counted. Each counts what it saw in .bss, where
 * the test reads it, and then:
 *
 *   - xdp_pass / xdp_drop: XDP_PASS / XDP_DROP;
 *   - xdp_to_devmap, xdp_to_devmap_hash: redirect to the interface in slot 0 of
 *     `tx_ports` / under key `tx_key` of `tx_hash` (another veth pair);
 *   - xdp_to_cpumap: redirect to CPU `target_cpu` through `cpus`;
 *   - xdp_to_xsk: redirect to the AF_XDP socket of the receive queue in `xsks`;
 *   - devmap_prog (xdp/devmap) and cpumap_prog (xdp/cpumap): run from a devmap
 *     or cpumap entry (the value's bpf_prog.fd), count and pass;
 *   - xdp_frags (xdp.frags): loaded with BPF_F_XDP_HAS_FRAGS, records the
 *     largest packet length it saw (the whole multi-buffer frame, from
 *     bpf_xdp_get_buff_len) and passes.
 *
 * Rebuild with `cargo xtask build-progs xdp`.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

typedef __u16 u16;
typedef __u32 u32;
typedef __u64 u64;

/* The UDP destination port the programs act on (host byte order). */
const volatile u16 port = 0;
/* The key of the target interface in tx_hash, and the CPU of cpumap. */
const volatile u32 tx_key = 0;
const volatile u32 target_cpu = 0;

u64 passed = 0;
u64 dropped = 0;
u64 redirected = 0;
u64 devmap_seen = 0;
u64 cpumap_seen = 0;
u64 frags_seen = 0;
u64 frags_max_len = 0;

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct bpf_devmap_val);
} tx_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP_HASH);
	__uint(max_entries, 4);
	__type(key, u32);
	__type(value, struct bpf_devmap_val);
} tx_hash SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CPUMAP);
	__uint(max_entries, 64);
	__type(key, u32);
	__type(value, struct bpf_cpumap_val);
} cpus SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 4);
	__type(key, u32);
	__type(value, u32);
} xsks SEC(".maps");

/* True for an IPv4 UDP datagram to `port` whose headers lie in [data, end). */
static __always_inline int is_ours(void *data, void *end)
{
	struct ethhdr *eth = data;
	struct iphdr *ip;
	struct udphdr *udp;

	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return 0;
	ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end || ip->protocol != IPPROTO_UDP || ip->ihl != 5)
		return 0;
	udp = (void *)(ip + 1);
	if ((void *)(udp + 1) > end)
		return 0;
	return udp->dest == bpf_htons(port);
}

static __always_inline int ours(struct xdp_md *ctx)
{
	return is_ours((void *)(long)ctx->data, (void *)(long)ctx->data_end);
}

SEC("xdp")
int xdp_pass(struct xdp_md *ctx)
{
	if (ours(ctx))
		__sync_fetch_and_add(&passed, 1);
	return XDP_PASS;
}

SEC("xdp")
int xdp_drop(struct xdp_md *ctx)
{
	if (!ours(ctx))
		return XDP_PASS;
	__sync_fetch_and_add(&dropped, 1);
	return XDP_DROP;
}

SEC("xdp")
int xdp_to_devmap(struct xdp_md *ctx)
{
	if (!ours(ctx))
		return XDP_PASS;
	__sync_fetch_and_add(&redirected, 1);
	return bpf_redirect_map(&tx_ports, 0, XDP_ABORTED);
}

SEC("xdp")
int xdp_to_devmap_hash(struct xdp_md *ctx)
{
	if (!ours(ctx))
		return XDP_PASS;
	__sync_fetch_and_add(&redirected, 1);
	return bpf_redirect_map(&tx_hash, tx_key, XDP_ABORTED);
}

SEC("xdp")
int xdp_to_cpumap(struct xdp_md *ctx)
{
	if (!ours(ctx))
		return XDP_PASS;
	__sync_fetch_and_add(&redirected, 1);
	return bpf_redirect_map(&cpus, target_cpu, XDP_ABORTED);
}

SEC("xdp")
int xdp_to_xsk(struct xdp_md *ctx)
{
	if (!ours(ctx))
		return XDP_PASS;
	__sync_fetch_and_add(&redirected, 1);
	return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_ABORTED);
}

SEC("xdp/devmap")
int devmap_prog(struct xdp_md *ctx)
{
	if (ours(ctx))
		__sync_fetch_and_add(&devmap_seen, 1);
	return XDP_PASS;
}

SEC("xdp/cpumap")
int cpumap_prog(struct xdp_md *ctx)
{
	if (ours(ctx))
		__sync_fetch_and_add(&cpumap_seen, 1);
	return XDP_PASS;
}

SEC("xdp.frags")
int xdp_frags(struct xdp_md *ctx)
{
	u64 len;

	if (!ours(ctx))
		return XDP_PASS;
	__sync_fetch_and_add(&frags_seen, 1);
	len = bpf_xdp_get_buff_len(ctx);
	if (len > frags_max_len)
		frags_max_len = len;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
