// SPDX-License-Identifier: GPL-2.0
/* Extern resolution: every kind of __kconfig and __ksym extern, recorded into .bss
 * by a tracepoint program that runs on getpid() of the test's process.
 */
#include <stdbool.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* bpf_helpers.h of libbpf 1.1 predates bpf_ksym_exists(). */
#ifndef bpf_ksym_exists
#define bpf_ksym_exists(sym) ({ \
	_Static_assert(!__builtin_constant_p(!!sym), #sym " should be marked as __weak"); \
	!!sym; \
})
#endif

/* Virtual values libbpf computes. */
extern unsigned int LINUX_KERNEL_VERSION __kconfig;
extern bool LINUX_HAS_BPF_COOKIE __kconfig;
extern bool LINUX_HAS_SYSCALL_WRAPPER __kconfig;
extern int LINUX_UNKNOWN_BUT_WEAK __kconfig __weak;

/* The kernel configuration: int, bool, tristate, string, hex, and missing. */
extern int CONFIG_HZ __kconfig;
extern bool CONFIG_BPF_SYSCALL __kconfig;
extern bool CONFIG_KPROBES __kconfig __weak;			/* "is not set" here */
extern enum libbpf_tristate CONFIG_TCP_CONG_CUBIC __kconfig __weak;
extern enum libbpf_tristate CONFIG_MODULES __kconfig __weak;	/* "is not set" here */
extern char CONFIG_LOCALVERSION[16] __kconfig __weak;
extern unsigned long long CONFIG_ILLEGAL_POINTER_VALUE __kconfig __weak;
extern int CONFIG_NOT_THERE_XYZ __kconfig __weak;

/* Kernel symbols: untyped (by kallsyms address). Typed variables are in
 * ksym_var.bpf.c: the kernel resolves them through kallsyms too, which lists
 * variables only with CONFIG_KALLSYMS_ALL.
 */
extern const void schedule __ksym;
extern const int this_var_does_not_exist_xyz __ksym __weak;

/* Kernel functions. Their prototypes must match the kernel's as libbpf's
 * bpf_core_types_are_compat() sees it: a struct, not a forward declaration.
 * Both are __weak and guarded: 6.1 has neither (they came in 6.2).
 */
struct task_struct {
	int unused;
};
extern struct task_struct *bpf_task_from_pid(int pid) __ksym __weak;
extern void bpf_task_release(struct task_struct *p) __ksym __weak;
extern void bpf_this_kfunc_does_not_exist_xyz(void) __ksym __weak;

const volatile unsigned int target_pid = 0;

unsigned int kernel_version;
int has_bpf_cookie;
int has_syscall_wrapper;
int unknown_weak = -1;
int hz;
int bpf_syscall;
int kprobes = -1;
int cubic = -1;
int modules = -1;
char localversion[16];
unsigned long long illegal_pointer_value;
int not_there = -1;
unsigned long long schedule_addr;
unsigned long long missing_var_addr = 1;
int task_found;
int task_from_pid_exists = -1;
int missing_kfunc_exists = -1;
int missing_kfunc_called;
int runs;

SEC("tracepoint/syscalls/sys_enter_getpid")
int record(void *ctx)
{
	struct task_struct *t;
	int i;

	if ((bpf_get_current_pid_tgid() >> 32) != target_pid)
		return 0;

	kernel_version = LINUX_KERNEL_VERSION;
	has_bpf_cookie = LINUX_HAS_BPF_COOKIE;
	has_syscall_wrapper = LINUX_HAS_SYSCALL_WRAPPER;
	unknown_weak = LINUX_UNKNOWN_BUT_WEAK;
	hz = CONFIG_HZ;
	bpf_syscall = CONFIG_BPF_SYSCALL;
	kprobes = CONFIG_KPROBES;
	cubic = CONFIG_TCP_CONG_CUBIC;
	modules = CONFIG_MODULES;
	for (i = 0; i < sizeof(localversion); i++)
		localversion[i] = CONFIG_LOCALVERSION[i];
	illegal_pointer_value = CONFIG_ILLEGAL_POINTER_VALUE;
	not_there = CONFIG_NOT_THERE_XYZ;

	schedule_addr = (unsigned long long)&schedule;
	missing_var_addr = (unsigned long long)&this_var_does_not_exist_xyz;

	task_from_pid_exists = bpf_ksym_exists(bpf_task_from_pid);
	if (bpf_ksym_exists(bpf_task_from_pid) && bpf_ksym_exists(bpf_task_release)) {
		t = bpf_task_from_pid(target_pid);
		if (t) {
			task_found = 1;
			bpf_task_release(t);
		}
	}

	missing_kfunc_exists = bpf_ksym_exists(bpf_this_kfunc_does_not_exist_xyz);
	if (bpf_ksym_exists(bpf_this_kfunc_does_not_exist_xyz)) {
		bpf_this_kfunc_does_not_exist_xyz();
		missing_kfunc_called = 1;
	}
	runs++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
