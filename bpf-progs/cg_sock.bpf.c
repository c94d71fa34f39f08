// SPDX-License-Identifier: GPL-2.0
/*
 * cg_sock.bpf.c — cgroup_sock programs: socket creation, release and bind.
 *
 *   - refuse_udp6 (cgroup/sock_create) refuses IPv6 UDP sockets (socket()
 *     fails with EPERM) and counts the IPv4 TCP sockets created;
 *   - count_release (cgroup/sock_release, 5.9+) counts the IPv4 TCP sockets
 *     released;
 *   - check_bind4 (cgroup/post_bind4) records the port each IPv4 socket was
 *     bound to, and refuses the bind to `refused_port` (bind fails, EPERM).
 *
 * Rebuild with `cargo xtask build-progs cg_sock`; never edit the .bpf.o by hand.
 */
#include <linux/bpf.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>

#define AF_INET 2
#define AF_INET6 10
#define SOCK_STREAM 1
#define SOCK_DGRAM 2

const volatile __u16 refused_port = 0;

__u64 created;
__u64 refused;
__u64 released;
__u32 last_bound_port;
__u64 bind_refused;

static int is_tcp4(struct bpf_sock *sk)
{
	return sk->family == AF_INET && sk->type == SOCK_STREAM;
}

SEC("cgroup/sock_create")
int refuse_udp6(struct bpf_sock *sk)
{
	if (sk->family == AF_INET6 && sk->type == SOCK_DGRAM) {
		__sync_fetch_and_add(&refused, 1);
		return 0;
	}
	if (is_tcp4(sk))
		__sync_fetch_and_add(&created, 1);
	return 1;
}

SEC("cgroup/sock_release")
int count_release(struct bpf_sock *sk)
{
	if (is_tcp4(sk))
		__sync_fetch_and_add(&released, 1);
	return 1;
}

SEC("cgroup/post_bind4")
int check_bind4(struct bpf_sock *sk)
{
	/* src_port is in host byte order. */
	last_bound_port = sk->src_port;
	if (refused_port && sk->src_port == refused_port) {
		__sync_fetch_and_add(&bind_refused, 1);
		return 0;
	}
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
