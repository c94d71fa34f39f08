// SPDX-License-Identifier: GPL-2.0
/*
 * cg_lsm.bpf.c — an lsm_cgroup program (6.0+): the BPF LSM hook socket_bind,
 * run only for the sockets of the cgroup it is attached to.
 *
 * deny_bind refuses (returns 0) binding an IPv4 socket to `refused_port`
 * (host byte order, set before load) and counts the binds it saw. The kernel
 * must run the BPF LSM (`lsm=...,bpf`).
 *
 * Rebuild with `cargo xtask build-progs cg_lsm`; never edit the .bpf.o by hand.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_endian.h>

#define AF_INET 2

struct socket;

struct sockaddr {
	unsigned short sa_family;
} __attribute__((preserve_access_index));

struct in_addr {
	__u32 s_addr;
} __attribute__((preserve_access_index));

struct sockaddr_in {
	unsigned short sin_family;
	__u16 sin_port;
	struct in_addr sin_addr;
} __attribute__((preserve_access_index));

const volatile __u16 refused_port = 0;

__u64 binds;
__u64 denied;

SEC("lsm_cgroup/socket_bind")
int BPF_PROG(deny_bind, struct socket *sock, struct sockaddr *address, int addrlen)
{
	struct sockaddr_in *in = (struct sockaddr_in *)address;

	__sync_fetch_and_add(&binds, 1);
	if (addrlen < sizeof(*in) || address->sa_family != AF_INET)
		return 1;
	if (bpf_ntohs(in->sin_port) != refused_port)
		return 1;
	__sync_fetch_and_add(&denied, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
