// SPDX-License-Identifier: GPL-2.0
/*
 * cg_sock_unix.bpf.c — the cgroup_sock_addr hooks of Unix sockets (6.7+):
 * `cgroup/connect_unix`, `sendmsg_unix`, `recvmsg_unix`, `getpeername_unix`
 * and `getsockname_unix`.
 *
 * User space sets three socket paths before load (NUL-padded):
 *   - connect_unix, sendmsg_unix: a connect or datagram to `from_path` goes to
 *     `to_path` instead; a connect to `refused_path` fails with EPERM;
 *   - recvmsg_unix, getpeername_unix, getsockname_unix: an address that is
 *     `to_path` is reported as `from_path` (so the redirection is invisible).
 * Each hook counts the addresses it changed or refused in `rewrites[hook]`.
 *
 * The address is read through the kernel's context (`bpf_cast_to_kern_ctx`)
 * and rewritten with the `bpf_sock_addr_set_sun_path` kfunc: both are __ksym
 * externs, and the context's layout is relocated by CO-RE (no vmlinux.h).
 *
 * Rebuild with `cargo xtask build-progs cg_sock_unix`; never edit the .bpf.o
 * by hand.
 */
#include <linux/bpf.h>
#include <stdbool.h>
#include <bpf/bpf_helpers.h>

#define PATH_MAX_UN 108
/* offsetof(struct sockaddr_un, sun_path) */
#define SUN_PATH_OFFSET 2

struct sockaddr;

/* The kernel's context behind `struct bpf_sock_addr` (include/linux/filter.h). */
struct bpf_sock_addr_kern {
	struct sockaddr *uaddr;
	__u32 uaddrlen;
} __attribute__((preserve_access_index));

extern void *bpf_cast_to_kern_ctx(void *ctx) __ksym;
extern int bpf_sock_addr_set_sun_path(struct bpf_sock_addr_kern *sa_kern,
				      const __u8 *sun_path,
				      __u32 sun_path__sz) __ksym;

const volatile char from_path[PATH_MAX_UN] = {};
const volatile char to_path[PATH_MAX_UN] = {};
const volatile char refused_path[PATH_MAX_UN] = {};

enum hook { CONNECT, SENDMSG, RECVMSG, GETPEERNAME, GETSOCKNAME, HOOKS };

__u64 rewrites[HOOKS];
__u64 refusals;

/* The socket path of the address, NUL-padded past its length (128 bytes, so
 * that a length masked with 0x7f fits). */
struct path {
	char bytes[128];
};

/* A copy of the path the hook sees; false when it can't be read. */
static bool read_path(struct bpf_sock_addr_kern *sa, struct path *p)
{
	__u32 len = sa->uaddrlen;

	__builtin_memset(p, 0, sizeof(*p));
	if (len <= SUN_PATH_OFFSET)
		return false;
	len -= SUN_PATH_OFFSET;
	if (len > PATH_MAX_UN)
		len = PATH_MAX_UN;
	return bpf_probe_read_kernel(p->bytes, len & 0x7f,
				     (void *)sa->uaddr + SUN_PATH_OFFSET) == 0;
}

/* Whether the path read is `want` (an empty `want` matches nothing). */
static bool is(const struct path *p, const volatile char *want)
{
	if (!want[0])
		return false;
	for (int i = 0; i < PATH_MAX_UN; i++) {
		if (p->bytes[i] != want[i])
			return false;
		if (!want[i])
			return true;
	}
	return !p->bytes[PATH_MAX_UN];
}

/* The length of `s` without its NUL. */
static __u32 length(const volatile char *s)
{
	for (int i = 0; i < PATH_MAX_UN; i++)
		if (!s[i])
			return i;
	return PATH_MAX_UN;
}

/* Puts `to` in place of the address when it is `from`; counts it for `h`. */
static int map_path(struct bpf_sock_addr *ctx, const volatile char *from,
		    const volatile char *to, enum hook h)
{
	struct bpf_sock_addr_kern *sa = bpf_cast_to_kern_ctx(ctx);
	struct path p, new;
	__u32 n;

	if (!read_path(sa, &p) || !is(&p, from))
		return 1;
	/* A stack copy the size of `struct path`: the verifier then knows a length
	 * masked with 0x7f stays inside it. */
	__builtin_memset(&new, 0, sizeof(new));
	for (int i = 0; i < PATH_MAX_UN; i++)
		new.bytes[i] = to[i];
	/* With its NUL, as the kernel reports a bound path (a full-length path has
	 * none). */
	n = length(to) + 1;
	if (n > PATH_MAX_UN)
		n = PATH_MAX_UN;
	if (bpf_sock_addr_set_sun_path(sa, (const __u8 *)new.bytes, n & 0x7f) == 0)
		__sync_fetch_and_add(&rewrites[h], 1);
	return 1;
}

SEC("cgroup/connect_unix")
int connect_unix(struct bpf_sock_addr *ctx)
{
	struct path p;

	if (read_path(bpf_cast_to_kern_ctx(ctx), &p) && is(&p, refused_path)) {
		__sync_fetch_and_add(&refusals, 1);
		return 0;
	}
	return map_path(ctx, from_path, to_path, CONNECT);
}

SEC("cgroup/sendmsg_unix")
int sendmsg_unix(struct bpf_sock_addr *ctx)
{
	return map_path(ctx, from_path, to_path, SENDMSG);
}

SEC("cgroup/recvmsg_unix")
int recvmsg_unix(struct bpf_sock_addr *ctx)
{
	return map_path(ctx, to_path, from_path, RECVMSG);
}

SEC("cgroup/getpeername_unix")
int getpeername_unix(struct bpf_sock_addr *ctx)
{
	return map_path(ctx, to_path, from_path, GETPEERNAME);
}

SEC("cgroup/getsockname_unix")
int getsockname_unix(struct bpf_sock_addr *ctx)
{
	return map_path(ctx, to_path, from_path, GETSOCKNAME);
}

char LICENSE[] SEC("license") = "GPL";
