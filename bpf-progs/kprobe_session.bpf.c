// SPDX-License-Identifier: GPL-2.0
/*
 * kprobe_session.bpf.c — a kprobe session (6.10+) on do_unlinkat, for
 * tests/kinds_misc.rs: one program runs at both the entry and the return of
 * each call, bpf_session_is_return() telling which, and the session cookie
 * (bpf_session_cookie()) carries a value from the entry run to the return run
 * of the same call.
 *
 * For the thread `target_tid` the entry run counts `entries` and stores the
 * first argument (dfd) in the cookie; the return run counts `returns`, and
 * records the cookie and the return value. Every other thread's entry run
 * returns 1, which tells the kernel to skip that call's return run.
 *
 * struct pt_regs is the user-space x86-64 one (see kprobe.bpf.c).
 *
 * Rebuild with `cargo xtask build-progs kprobe_session`; never edit the .bpf.o by
 * hand.
 */
#include <linux/types.h>
#include <linux/bpf.h>
#include <linux/ptrace.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

extern _Bool bpf_session_is_return(void) __ksym;
extern __u64 *bpf_session_cookie(void) __ksym;

const volatile __u32 target_tid = 0;

__u64 entries;
__u64 returns;
__s64 cookie_at_return;
__s64 ret_seen;

SEC("kprobe.session/do_unlinkat")
int session_unlinkat(struct pt_regs *ctx)
{
	__u64 *cookie = bpf_session_cookie();
	/*
	 * Both registers are read here, before the branch: read in the branches, the
	 * compiler would merge the two loads into one at a computed context offset,
	 * which the verifier refuses.
	 */
	long rc = PT_REGS_RC(ctx), dfd = PT_REGS_PARM1(ctx);

	barrier_var(rc);
	barrier_var(dfd);
	if ((__u32)bpf_get_current_pid_tgid() != target_tid)
		return 1;
	if (bpf_session_is_return()) {
		__sync_fetch_and_add(&returns, 1);
		cookie_at_return = *cookie;
		ret_seen = (int)rc;	/* an int return value, in the low half of ax */
		return 0;
	}
	__sync_fetch_and_add(&entries, 1);
	*cookie = (int)dfd;	/* an int argument, in the low half of di */
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
