// SPDX-License-Identifier: GPL-2.0
/*
 * cg_sock_addr.bpf.c — cgroup_sock_addr programs: the socket address hooks.
 *
 * User space sets the ports before load (host byte order):
 *   - connect4/connect6: a connect to `connect_from` goes to `connect_to`
 *     instead; a connect to `connect_refused` fails with EPERM;
 *   - bind4/bind6: a bind to `bind_from` binds `bind_to` instead;
 *   - sendmsg4/sendmsg6: a UDP datagram sent to `send_from` goes to `send_to`;
 *   - recvmsg4/recvmsg6: a datagram received from `send_to` appears to come
 *     from `send_from` (so the redirection is invisible to the sender);
 *   - getpeername4/6: a peer on `connect_to` is reported as `connect_from`;
 *   - getsockname4/6: a socket bound to `bind_to` reports `bind_from`.
 * Each hook counts the calls it changed or refused in `rewrites[hook]`.
 *
 * Rebuild with `cargo xtask build-progs cg_sock_addr`; never edit the .bpf.o
 * by hand.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

const volatile __u16 connect_from = 0;
const volatile __u16 connect_to = 0;
const volatile __u16 connect_refused = 0;
const volatile __u16 bind_from = 0;
const volatile __u16 bind_to = 0;
const volatile __u16 send_from = 0;
const volatile __u16 send_to = 0;

enum hook { CONNECT, BIND, SENDMSG, RECVMSG, GETPEERNAME, GETSOCKNAME, HOOKS };

__u64 rewrites[HOOKS];
__u64 refusals;

/* user_port is in network byte order in the low 16 bits. */
static __u16 port(struct bpf_sock_addr *ctx)
{
	return bpf_ntohs(ctx->user_port);
}

/* Rewrites the port from `from` to `to`; counts it for `h`. */
static int map_port(struct bpf_sock_addr *ctx, __u16 from, __u16 to, enum hook h)
{
	if (from && port(ctx) == from) {
		ctx->user_port = bpf_htons(to);
		__sync_fetch_and_add(&rewrites[h], 1);
	}
	return 1;
}

static int connect(struct bpf_sock_addr *ctx)
{
	if (connect_refused && port(ctx) == connect_refused) {
		__sync_fetch_and_add(&refusals, 1);
		return 0;
	}
	return map_port(ctx, connect_from, connect_to, CONNECT);
}

SEC("cgroup/connect4")
int connect4(struct bpf_sock_addr *ctx) { return connect(ctx); }

SEC("cgroup/connect6")
int connect6(struct bpf_sock_addr *ctx) { return connect(ctx); }

SEC("cgroup/bind4")
int bind4(struct bpf_sock_addr *ctx) { return map_port(ctx, bind_from, bind_to, BIND); }

SEC("cgroup/bind6")
int bind6(struct bpf_sock_addr *ctx) { return map_port(ctx, bind_from, bind_to, BIND); }

SEC("cgroup/sendmsg4")
int sendmsg4(struct bpf_sock_addr *ctx) { return map_port(ctx, send_from, send_to, SENDMSG); }

SEC("cgroup/sendmsg6")
int sendmsg6(struct bpf_sock_addr *ctx) { return map_port(ctx, send_from, send_to, SENDMSG); }

SEC("cgroup/recvmsg4")
int recvmsg4(struct bpf_sock_addr *ctx) { return map_port(ctx, send_to, send_from, RECVMSG); }

SEC("cgroup/recvmsg6")
int recvmsg6(struct bpf_sock_addr *ctx) { return map_port(ctx, send_to, send_from, RECVMSG); }

SEC("cgroup/getpeername4")
int getpeername4(struct bpf_sock_addr *ctx)
{
	return map_port(ctx, connect_to, connect_from, GETPEERNAME);
}

SEC("cgroup/getpeername6")
int getpeername6(struct bpf_sock_addr *ctx)
{
	return map_port(ctx, connect_to, connect_from, GETPEERNAME);
}

SEC("cgroup/getsockname4")
int getsockname4(struct bpf_sock_addr *ctx)
{
	return map_port(ctx, bind_to, bind_from, GETSOCKNAME);
}

SEC("cgroup/getsockname6")
int getsockname6(struct bpf_sock_addr *ctx)
{
	return map_port(ctx, bind_to, bind_from, GETSOCKNAME);
}

char LICENSE[] SEC("license") = "GPL";
