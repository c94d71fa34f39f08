// SPDX-License-Identifier: GPL-2.0
/* A strong extern the kernel does not have: built once per kind (-DKCONFIG, -DVAR,
 * -DKFUNC, -DUNTYPED); loading must fail with an error naming it.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

int out;

#if defined(KCONFIG)
extern int CONFIG_DEFINITELY_NOT_THERE_XYZ __kconfig;
#define USE() (out = CONFIG_DEFINITELY_NOT_THERE_XYZ)
#elif defined(VAR)
extern const int definitely_not_a_kernel_var_xyz __ksym;
#define USE() (out = *(const int *)bpf_this_cpu_ptr(&definitely_not_a_kernel_var_xyz))
#elif defined(UNTYPED)
extern const void definitely_not_a_kernel_symbol_xyz __ksym;
#define USE() (out = (long)&definitely_not_a_kernel_symbol_xyz)
#elif defined(KFUNC)
extern void definitely_not_a_kfunc_xyz(void) __ksym;
#define USE() (definitely_not_a_kfunc_xyz(), out = 1)
#endif

SEC("tracepoint/syscalls/sys_enter_getpid")
int use_missing(void *ctx)
{
	USE();
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
