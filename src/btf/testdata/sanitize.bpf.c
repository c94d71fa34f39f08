// SPDX-License-Identifier: GPL-2.0
/*
 * sanitize.bpf.c — a BTF fixture for src/btf/sanitize.rs and src/loader/probe.rs.
 *
 * It carries one of every BTF kind the sanitizer may have to rewrite for an
 * older kernel, so the tests can force each kernel feature off and check that
 * the rewritten BTF still loads into the running kernel:
 *
 *   FLOAT     `double` and `float` members and variables
 *   ENUM64    `enum big`, whose values need 64 bits
 *   ENUM      `enum neg`, signed (kind flag set, cleared when ENUM64 is missing)
 *   DECL_TAG  on a struct member, a global variable, a function and a parameter
 *   TYPE_TAG  `int __tag_user *` (a PTR to a TYPE_TAG to an INT)
 *   FUNC      a global function (global linkage), two programs
 *   DATASEC   .data, .rodata, .bss, .maps, license, and .ksyms with an extern
 *             FUNC (unnamed parameters) and an extern VAR (typeless ksym)
 *
 * `plain` loads without externs; `uses_ksyms` references the .ksyms externs,
 * so clang emits their BTF, and is not loaded by the tests.
 *
 * Rebuild with ./build.sh (clang-19, llvm-strip-19); the object is committed.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

typedef unsigned int u32;
typedef unsigned long long u64;

#define __tag(x) __attribute__((btf_decl_tag(x)))
#define __tag_user __attribute__((btf_type_tag("user")))

enum big { BIG_ONE = 1, BIG_HUGE = 0x100000000ULL };
enum neg { NEG_MINUS = -1, NEG_PLUS = 1 };

struct sample {
	double ratio;
	float scale;
	enum neg neg;
	enum big big;
	int tagged __tag("member_tag");
	int __tag_user *uptr;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, u32);
	__type(value, struct sample);
} samples SEC(".maps");

struct sample sample_data = { .ratio = 1.5, .scale = 0.25, .neg = NEG_MINUS, .big = BIG_HUGE, .tagged = 7 };
const volatile double threshold = 2.5;
u64 hits __tag("var_tag");

extern int bpf_fake_kfunc(int, void *) __ksym __weak;
extern void bpf_fake_void_kfunc(void) __ksym __weak;
extern const int bpf_fake_ksym __ksym __weak;

__noinline __tag("func_tag") int global_helper(int x __tag("param_tag"))
{
	return x * 2;
}

SEC("tracepoint/syscalls/sys_enter_getpid")
int plain(void *ctx)
{
	u32 key = 0;
	struct sample *s = bpf_map_lookup_elem(&samples, &key);

	/* Read the float bits without float arithmetic (BPF has none). */
	if (*(volatile const u64 *)&threshold == 0)
		return 1;
	if (s)
		s->tagged = global_helper(sample_data.tagged) + (s->big == BIG_HUGE);
	__sync_fetch_and_add(&hits, 1);
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int uses_ksyms(void *ctx)
{
	if (bpf_fake_void_kfunc)
		bpf_fake_void_kfunc();
	if (bpf_fake_kfunc)
		return bpf_fake_kfunc(1, ctx);
	return &bpf_fake_ksym != 0;
}

char LICENSE[] SEC("license") = "GPL";
