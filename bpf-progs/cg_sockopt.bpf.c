// SPDX-License-Identifier: GPL-2.0
/*
 * cg_sockopt.bpf.c — cgroup_sockopt programs on SOL_SOCKET/SO_PRIORITY.
 *
 *   - set_priority (cgroup/setsockopt): a priority of 42 is refused
 *     (setsockopt fails with EPERM); a priority of 5 is stored as 6;
 *   - get_priority (cgroup/getsockopt): getsockopt reports 7 whatever the
 *     socket's priority is.
 * Other options pass unchanged. `set_calls`/`get_calls` count the calls seen
 * on SO_PRIORITY.
 *
 * Rebuild with `cargo xtask build-progs cg_sockopt`; never edit the .bpf.o by
 * hand.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define SOL_SOCKET 1
#define SO_PRIORITY 12
#define PAGE_SIZE 4096

__u64 set_calls;
__u64 get_calls;

static int is_priority(struct bpf_sockopt *ctx)
{
	return ctx->level == SOL_SOCKET && ctx->optname == SO_PRIORITY;
}

SEC("cgroup/setsockopt")
int set_priority(struct bpf_sockopt *ctx)
{
	int *value = ctx->optval;

	if (!is_priority(ctx)) {
		/* Options longer than a page reach the program truncated: leave
		 * them to the kernel untouched. */
		if (ctx->optlen > PAGE_SIZE)
			ctx->optlen = -1;
		return 1;
	}
	__sync_fetch_and_add(&set_calls, 1);
	if ((void *)(value + 1) > ctx->optval_end)
		return 1;
	if (*value == 42)
		return 0;
	if (*value == 5)
		*value = 6;
	return 1;
}

SEC("cgroup/getsockopt")
int get_priority(struct bpf_sockopt *ctx)
{
	int *value = ctx->optval;

	if (!is_priority(ctx)) {
		if (ctx->optlen > PAGE_SIZE)
			ctx->optlen = 0;
		return 1;
	}
	__sync_fetch_and_add(&get_calls, 1);
	if ((void *)(value + 1) > ctx->optval_end)
		return 1;
	*value = 7;
	ctx->retval = 0;
	/* Two 32-bit fields: keep clang from merging the stores into one 64-bit
	 * store, which the verifier refuses on the context. */
	asm volatile("" ::: "memory");
	ctx->optlen = sizeof(*value);
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
