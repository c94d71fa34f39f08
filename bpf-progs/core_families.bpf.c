// SPDX-License-Identifier: GPL-2.0
/*
 * CO-RE families run in the kernel (tests/core_families.rs).
 *
 * The local types below are declared as a CO-RE user would, with
 * preserve_access_index, under the names of the target types in
 * btf-fixtures/core/t_<family>.c; the tests load this object with one of the
 * raw target BTFs target_<family>_<variant>.btf as the "kernel" BTF.
 *
 * Every program is a raw tracepoint on sys_enter that is not loaded by
 * default (`?`): a test picks one with Loader::autoload. It returns at once
 * unless the process making the syscall is the test's (`target_tgid`). It
 * then reads `in` — a buffer the test fills before load, laid out as the
 * TARGET type — through CO-RE: directly (loads from the map value, whose
 * offsets and sizes the loader relocates), through bpf_probe_read_kernel
 * (BPF_CORE_READ, bpf_core_read, BPF_CORE_READ_BITFIELD_PROBED: relocated
 * address arithmetic), and through the field/type/enum builtins. Results go
 * to `out`; `hits` counts the runs.
 *
 * Reads of things a target may lack are guarded with the matching existence
 * check, as CO-RE users do: the loader poisons the read, and the verifier
 * never reaches it because the check is a constant 0. A guarded output reads
 * MISSING when the check said no. The `*_unguarded` programs read without
 * asking: on a target that lacks the field the load must fail, naming it.
 *
 * Rebuild with `cargo xtask build-progs core_families`.
 */
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#define __pai __attribute__((preserve_access_index))

/* What a guarded output holds when its existence check said no. */
#define MISSING 0xdeadbeefdeadbeefULL

/* Set by user space before load: only this process's syscalls are recorded. */
const volatile __u32 target_tgid = 0;

/* The input, laid out as the target type (.data: the test sets it). */
__u8 in[256] __attribute__((aligned(8))) = { 1 };

__u64 out[32];
__u64 hits;

/* Hides where `p` points from the compiler, so a guarded load can't be
 * hoisted above its guard (the verifier still knows it's the map value). */
#define OPAQUE(p) asm volatile("" : "+r"(p))

#define ENTER()                                                         \
	do {                                                            \
		if ((bpf_get_current_pid_tgid() >> 32) != target_tgid)  \
			return 0;                                       \
	} while (0)

#define DONE()                                  \
	do {                                    \
		__sync_fetch_and_add(&hits, 1); \
		return 0;                       \
	} while (0)

/* out[i] = expr if field `fld` exists in the target, else MISSING. */
#define IF_FIELD(i, fld, expr)                          \
	do {                                            \
		if (bpf_core_field_exists(fld))         \
			out[i] = (__u64)(expr);         \
		else                                    \
			out[i] = MISSING;               \
	} while (0)

/* A struct pointer to the input. */
#define INPUT(type, name)           \
	type *name = (void *)in;    \
	OPAQUE(name)

#define PROG(name) SEC("?raw_tp/sys_enter") int name(void *ctx)

/* ======================================================================= flavors */
struct flv {
	int a;
	int b;
	int c;
} __pai;

/* The same type under another flavor, fields in another order. */
struct flv___rev {
	int c;
	int b;
	int a;
} __pai;

PROG(flavors)
{
	ENTER();
	INPUT(struct flv, p);
	INPUT(struct flv___rev, q);

	out[0] = bpf_core_field_exists(p->c);
	IF_FIELD(1, p->c, p->c);
	IF_FIELD(2, p->c, bpf_core_field_offset(p->c));
	out[3] = bpf_core_field_exists(q->a);
	IF_FIELD(4, q->a, q->a);
	out[5] = bpf_core_field_exists(q->b);
	IF_FIELD(6, q->b, BPF_CORE_READ(q, b));
	DONE();
}

/* b first: only candidates that have b stay for c (libbpf's pruning). */
PROG(flavors_prune)
{
	ENTER();
	INPUT(struct flv, p);

	out[0] = p->b;
	out[1] = p->c;
	DONE();
}

PROG(flavors_type)
{
	ENTER();
	out[0] = bpf_core_type_exists(struct flv);
	out[1] = bpf_core_type_id_kernel(struct flv);
	out[2] = bpf_core_type_size(struct flv);
	DONE();
}

PROG(flavors_unguarded)
{
	ENTER();
	INPUT(struct flv, p);

	out[0] = p->c;
	DONE();
}

/* ======================================================================= nesting */
struct nest {
	int x;
	struct {
		int a;
		union {
			int b;
			int c;
		};
	};
	struct {
		struct {
			int deep;
		} in;
	} outer;
} __pai;

PROG(nesting)
{
	ENTER();
	INPUT(struct nest, n);

	out[0] = bpf_core_field_exists(n->a);
	out[1] = bpf_core_field_exists(n->b);
	out[2] = bpf_core_field_exists(n->c);
	out[3] = bpf_core_field_exists(n->outer.in.deep);
	IF_FIELD(4, n->a, n->a);
	IF_FIELD(5, n->b, n->b);
	IF_FIELD(6, n->c, BPF_CORE_READ(n, c));
	IF_FIELD(7, n->outer.in.deep, n->outer.in.deep);
	IF_FIELD(8, n->a, bpf_core_field_offset(n->a));
	IF_FIELD(9, n->b, bpf_core_field_offset(n->b));
	IF_FIELD(10, n->c, bpf_core_field_offset(n->c));
	IF_FIELD(11, n->outer.in.deep, bpf_core_field_offset(n->outer.in.deep));
	IF_FIELD(12, n->x, n->x);
	DONE();
}

PROG(nesting_unguarded)
{
	ENTER();
	INPUT(struct nest, n);

	out[0] = n->a;
	out[1] = n->b;
	out[2] = n->c;
	out[3] = n->outer.in.deep;
	DONE();
}

/* ======================================================================= arrays */
struct arr_elem {
	int a;
	int b;
} __pai;

struct arrs {
	int pad;
	int a[5];
	unsigned char b[2][3];
	struct arr_elem c[3];
	int d[4];
} __pai;

struct arrs_flex {
	int n;
	int d[4];
} __pai;

PROG(arrays)
{
	ENTER();
	INPUT(struct arrs, p);
	INPUT(struct arrs_flex, q);
	unsigned char v = 0;

	out[0] = bpf_core_field_exists(p->a[2]);
	IF_FIELD(1, p->a[2], p->a[2]);
	out[2] = bpf_core_field_exists(p->b[1][2]);
	if (bpf_core_field_exists(p->b[1][2])) {
		bpf_core_read(&v, 1, &p->b[1][2]);
		out[3] = v;
	} else {
		out[3] = MISSING;
	}
	IF_FIELD(4, p->b[1][2], bpf_core_field_size(p->b[1][2]));
	out[5] = bpf_core_field_exists(p->c[2].b);
	IF_FIELD(6, p->c[2].b, p->c[2].b);
	IF_FIELD(7, p->c[1], bpf_core_field_size(p->c[1]));
	IF_FIELD(8, p->b[1], bpf_core_field_offset(p->b[1]));
	IF_FIELD(9, p->a, bpf_core_field_size(p->a));
	out[10] = bpf_core_field_exists(p->d[3]);
	IF_FIELD(11, p->d[3], p->d[3]);
	out[12] = bpf_core_field_exists(q->d[3]);
	IF_FIELD(13, q->d[3], q->d[3]);
	IF_FIELD(14, q->d[3], bpf_core_field_offset(q->d[3]));
	DONE();
}

PROG(arrays_unguarded)
{
	ENTER();
	INPUT(struct arrs, p);

	out[0] = p->a[2];
	DONE();
}

/* Signedness of an array element: libbpf refuses it outright. */
PROG(arrays_signed_elem)
{
	ENTER();
	INPUT(struct arrs, p);

	out[0] = __builtin_preserve_field_info(p->a[2], BPF_FIELD_SIGNED);
	DONE();
}

/* ======================================================================= loads of array fields */
/* Not __pai: c[0].x is read at the relocated offset of c itself. */
struct al_plain {
	int x;
	int y;
};

struct arrload {
	long pad;
	int a[5];
	unsigned short m[2][3];
	struct al_plain c[3];
	int s[4];
	unsigned int u[4];
	int g[4];
} __pai;

/* A pointer to a relocated array field: clang folds the field's offset into the load
 * of element 0, which then carries the byte_off relocation of the whole array; later
 * elements are read through the relocated address. Whether the load may stay as it is
 * depends on the sizes of the elements (libbpf >= 1.6), not of the arrays. */
#define ARR(p, f) __builtin_preserve_access_index(({ (p)->f; }))

PROG(arrload_a)
{
	ENTER();
	INPUT(struct arrload, p);
	int *a = ARR(p, a);

	out[0] = a[0];
	out[1] = a[2];
	DONE();
}

PROG(arrload_m)
{
	ENTER();
	INPUT(struct arrload, p);
	unsigned short (*m)[3] = ARR(p, m);

	out[0] = m[0][0];
	DONE();
}

/* The last accessor is an index whose element is an array (a row). */
PROG(arrload_m_row)
{
	ENTER();
	INPUT(struct arrload, p);
	unsigned short *row = ARR(p, m[1]);

	out[0] = row[0];
	DONE();
}

PROG(arrload_c)
{
	ENTER();
	INPUT(struct arrload, p);
	struct al_plain *c = ARR(p, c);

	out[0] = c[0].x;
	out[1] = c[1].y;
	DONE();
}

PROG(arrload_s)
{
	ENTER();
	INPUT(struct arrload, p);
	int *s = ARR(p, s);

	out[0] = s[0];
	DONE();
}

PROG(arrload_u)
{
	ENTER();
	INPUT(struct arrload, p);
	unsigned int *u = ARR(p, u);

	out[0] = u[0];
	DONE();
}

PROG(arrload_g)
{
	ENTER();
	INPUT(struct arrload, p);
	int *g = ARR(p, g);

	out[0] = g[0];
	DONE();
}

PROG(arrload_store)
{
	ENTER();
	INPUT(struct arrload, p);
	int *a = ARR(p, a);
	int *g = ARR(p, g);

	a[0] = 0x1234567;
	g[0] = -0x7654321;
	DONE();
}

/* ======================================================================= primitives */
enum prim_e { PRIM_A, PRIM_B };
typedef int (*prim_fn)(int);

struct prims {
	char a;
	int b;
	enum prim_e c;
	void *d;
	prim_fn f;
} __pai;

PROG(primitives)
{
	ENTER();
	INPUT(struct prims, p);

	out[0] = bpf_core_field_exists(p->a);
	out[1] = bpf_core_field_exists(p->b);
	out[2] = bpf_core_field_exists(p->c);
	out[3] = bpf_core_field_exists(p->d);
	out[4] = bpf_core_field_exists(p->f);
	IF_FIELD(5, p->a, p->a);
	IF_FIELD(6, p->b, p->b);
	IF_FIELD(7, p->c, p->c);
	IF_FIELD(8, p->d, p->d);
	IF_FIELD(9, p->f, p->f);
	DONE();
}

PROG(prims_c_unguarded)
{
	ENTER();
	INPUT(struct prims, p);

	out[0] = p->c;
	DONE();
}

PROG(prims_d_unguarded)
{
	ENTER();
	INPUT(struct prims, p);

	out[0] = (__u64)p->d;
	DONE();
}

PROG(prims_f_unguarded)
{
	ENTER();
	INPUT(struct prims, p);

	out[0] = (__u64)p->f;
	DONE();
}

/* ======================================================================= modifiers, typedefs */
typedef int int_t;
typedef const int_t cint_t;
typedef struct mods mods_t;

struct mods {
	int a;
	const volatile int b;
	cint_t c;
	int_t *d;
	volatile int_t arr[3];
} __pai;

PROG(mods)
{
	ENTER();
	INPUT(mods_t, p);
	INPUT(const volatile struct mods, q);

	out[0] = bpf_core_field_exists(p->a);
	IF_FIELD(1, p->a, p->a);
	IF_FIELD(2, p->b, p->b);
	IF_FIELD(3, p->c, p->c);
	IF_FIELD(4, p->d, p->d);
	IF_FIELD(5, p->arr[1], p->arr[1]);
	out[6] = bpf_core_field_exists(q->c);
	IF_FIELD(7, q->c, q->c);
	IF_FIELD(8, q->arr[2], q->arr[2]);
	DONE();
}

PROG(mods_unguarded)
{
	ENTER();
	INPUT(mods_t, p);

	out[0] = p->a;
	DONE();
}

/* ======================================================================= pointer as array */
struct pa {
	int a;
	int b;
} __pai;

PROG(ptr_as_array)
{
	ENTER();
	INPUT(struct pa, p);

	out[0] = bpf_core_field_exists(p[0].b);
	IF_FIELD(1, p[0].b, p[0].b);
	out[2] = bpf_core_field_exists(p[2].b);
	IF_FIELD(3, p[2].b, p[2].b);
	IF_FIELD(4, p[2].b, bpf_core_field_offset(p[2].b));
	out[5] = bpf_core_field_exists(p[1].a);
	IF_FIELD(6, p[1].a, p[1].a);
	IF_FIELD(7, p[1].a, bpf_core_field_offset(p[1].a));
	DONE();
}

PROG(pa_unguarded)
{
	ENTER();
	INPUT(struct pa, p);

	out[0] = p[2].b;
	DONE();
}

/* ======================================================================= int sizes, signedness */
struct ints {
	unsigned char u8f;
	signed char s8f;
	unsigned short u16f;
	short s16f;
	unsigned int u32f;
	int s32f;
	unsigned long long u64f;
	long long s64f;
} __pai;

/* Direct loads, resized by the loader when an unsigned field changed size. */
PROG(ints)
{
	ENTER();
	INPUT(struct ints, p);

	out[0] = p->u8f;
	out[1] = p->u16f;
	out[2] = p->s16f;
	out[3] = p->u32f;
	out[4] = p->s32f;
	out[5] = p->u64f;
	out[6] = p->s64f;
	out[7] = bpf_core_field_size(p->u8f);
	out[8] = bpf_core_field_size(p->u32f);
	out[9] = bpf_core_field_size(p->s64f);
	out[10] = __builtin_preserve_field_info(p->s16f, BPF_FIELD_SIGNED);
	out[11] = __builtin_preserve_field_info(p->s32f, BPF_FIELD_SIGNED);
	out[12] = __builtin_preserve_field_info(p->u32f, BPF_FIELD_SIGNED);
	out[13] = __builtin_preserve_field_info(p->s64f, BPF_FIELD_SIGNED);
	DONE();
}

/* A signed field that changed size: a resized load would lose the sign. */
PROG(ints_s8)
{
	ENTER();
	INPUT(struct ints, p);

	out[0] = p->s8f;
	DONE();
}

/* Stores are resized too. */
PROG(ints_store)
{
	ENTER();
	INPUT(struct ints, p);

	p->u8f = 0x7b;
	p->u32f = 0x11223344;
	p->u16f = 0xbeef;
	DONE();
}

/* ======================================================================= existence */
struct ex_sub {
	int x;
} __pai;

struct ex {
	int a;
	int b[4];
	struct ex_sub s;
	int *d;
	int gone;
	char e[2];
} __pai;

PROG(existence)
{
	ENTER();
	INPUT(struct ex, p);

	out[0] = bpf_core_field_exists(p->a);
	out[1] = bpf_core_field_exists(p->b);
	out[2] = bpf_core_field_exists(p->b[3]);
	out[3] = bpf_core_field_exists(p->b[1]);
	out[4] = bpf_core_field_exists(p->s);
	out[5] = bpf_core_field_exists(p->s.x);
	out[6] = bpf_core_field_exists(p->d);
	out[7] = bpf_core_field_exists(p->gone);
	out[8] = bpf_core_field_exists(p->e[1]);
	/* Probe reads copy the LOCAL size from the target offset. */
	IF_FIELD(9, p->a, BPF_CORE_READ(p, a));
	IF_FIELD(10, p->b[1], BPF_CORE_READ(p, b[1]));
	IF_FIELD(11, p->s.x, BPF_CORE_READ(p, s.x));
	IF_FIELD(12, p->d, BPF_CORE_READ(p, d));
	DONE();
}

PROG(existence_unguarded)
{
	ENTER();
	INPUT(struct ex, p);

	out[0] = BPF_CORE_READ(p, gone);
	DONE();
}

/* ======================================================================= bitfields */
struct bfs {
	unsigned int ub1: 1;
	unsigned int ub2: 2;
	unsigned int ub7: 7;
	int sb4: 4;
	int sb20: 20;
	unsigned int u32;
	int s32;
} __pai;

PROG(bitfields_probed)
{
	ENTER();
	INPUT(struct bfs, s);

	out[0] = BPF_CORE_READ_BITFIELD_PROBED(s, ub1);
	out[1] = BPF_CORE_READ_BITFIELD_PROBED(s, ub2);
	out[2] = BPF_CORE_READ_BITFIELD_PROBED(s, ub7);
	out[3] = BPF_CORE_READ_BITFIELD_PROBED(s, sb4);
	out[4] = BPF_CORE_READ_BITFIELD_PROBED(s, sb20);
	out[5] = BPF_CORE_READ_BITFIELD_PROBED(s, u32);
	out[6] = BPF_CORE_READ_BITFIELD_PROBED(s, s32);
	DONE();
}

PROG(bitfields_direct)
{
	ENTER();
	INPUT(struct bfs, s);

	out[0] = BPF_CORE_READ_BITFIELD(s, ub1);
	out[1] = BPF_CORE_READ_BITFIELD(s, ub2);
	out[2] = BPF_CORE_READ_BITFIELD(s, ub7);
	out[3] = BPF_CORE_READ_BITFIELD(s, sb4);
	out[4] = BPF_CORE_READ_BITFIELD(s, sb20);
	out[5] = BPF_CORE_READ_BITFIELD(s, u32);
	out[6] = BPF_CORE_READ_BITFIELD(s, s32);
	DONE();
}

/* ======================================================================= sizes */
struct sz_inner {
	int x;
	long y;
} __pai;

union sz_u {
	int a;
	char b[12];
} __pai;

enum sz_e { SZ_A };
typedef struct sz_inner sz_t;
typedef int (*sz_fn)(void);

struct sizes {
	int i;
	struct sz_inner s;
	union sz_u u;
	enum sz_e e;
	void *p;
	sz_fn f;
	char arr[7];
} __pai;

PROG(sizes)
{
	ENTER();
	INPUT(struct sizes, p);
	__u64 v = 0;

	IF_FIELD(0, p->i, bpf_core_field_size(p->i));
	IF_FIELD(1, p->s, bpf_core_field_size(p->s));
	IF_FIELD(2, p->u, bpf_core_field_size(p->u));
	IF_FIELD(3, p->e, bpf_core_field_size(p->e));
	IF_FIELD(4, p->p, bpf_core_field_size(p->p));
	IF_FIELD(5, p->f, bpf_core_field_size(p->f));
	IF_FIELD(6, p->arr, bpf_core_field_size(p->arr));
	out[7] = bpf_core_type_size(struct sizes);
	out[8] = bpf_core_type_size(sz_t);
	out[9] = bpf_core_type_size(union sz_u);
	out[10] = bpf_core_type_size(enum sz_e);
	out[11] = bpf_core_type_size(sz_fn);
	/* The target's size of e decides how much a read copies. */
	if (bpf_core_field_exists(p->e) && bpf_core_field_size(p->e) <= sizeof(v)) {
		bpf_probe_read_kernel(&v, bpf_core_field_size(p->e),
				      (void *)p + bpf_core_field_offset(p->e));
		out[12] = v;
	} else {
		out[12] = MISSING;
	}
	DONE();
}

PROG(sizes_unguarded)
{
	ENTER();
	INPUT(struct sizes, p);

	out[0] = bpf_core_field_size(p->i);
	DONE();
}

/* ======================================================================= type-based */
struct tb_s {
	int a;
	struct tb_s *next;
};
union tb_u {
	int a;
	long b;
};
enum tb_e { TB_ONE, TB_TWO };
typedef int tb_int;
typedef struct tb_s tb_s_t;
typedef int (*tb_fn)(int, struct tb_s *);
typedef unsigned int tb_uint;

PROG(type_based)
{
	ENTER();
	out[0] = bpf_core_type_exists(struct tb_s);
	out[1] = bpf_core_type_exists(union tb_u);
	out[2] = bpf_core_type_exists(enum tb_e);
	out[3] = bpf_core_type_exists(tb_int);
	out[4] = bpf_core_type_exists(tb_s_t);
	out[5] = bpf_core_type_exists(tb_fn);
	out[6] = bpf_core_type_exists(tb_uint);
	out[7] = bpf_core_type_matches(struct tb_s);
	out[8] = bpf_core_type_matches(union tb_u);
	out[9] = bpf_core_type_matches(enum tb_e);
	out[10] = bpf_core_type_matches(tb_int);
	out[11] = bpf_core_type_matches(tb_s_t);
	out[12] = bpf_core_type_matches(tb_fn);
	out[13] = bpf_core_type_matches(tb_uint);
	out[14] = bpf_core_type_size(struct tb_s);
	out[15] = bpf_core_type_size(tb_int);
	DONE();
}

PROG(type_id)
{
	ENTER();
	out[0] = bpf_core_type_id_local(struct tb_s);
	out[1] = bpf_core_type_id_kernel(struct tb_s);
	out[2] = bpf_core_type_id_local(tb_int);
	out[3] = bpf_core_type_id_kernel(tb_int);
	out[4] = bpf_core_type_id_local(tb_fn);
	out[5] = bpf_core_type_id_kernel(tb_fn);
	DONE();
}

/* ======================================================================= enumerators */
enum ev { EV_A = 1, EV_B = 2, EV_C = 3, EV_BIG = 0xffffffff };
enum ev___old { EV_GONE___old = 7, EV_C___old = 30 };
enum ev64 { EV64_A = 0x100000000ULL, EV64_B = 5 };

#define IF_ENUMVAL(i, type, name)                                       \
	do {                                                            \
		if (bpf_core_enum_value_exists(type, name))             \
			out[i] = bpf_core_enum_value(type, name);       \
		else                                                    \
			out[i] = MISSING;                               \
	} while (0)

PROG(enumval)
{
	ENTER();
	out[0] = bpf_core_enum_value_exists(enum ev, EV_A);
	out[1] = bpf_core_enum_value_exists(enum ev, EV_B);
	out[2] = bpf_core_enum_value_exists(enum ev, EV_C);
	out[3] = bpf_core_enum_value_exists(enum ev, EV_BIG);
	out[4] = bpf_core_enum_value_exists(enum ev___old, EV_GONE___old);
	out[5] = bpf_core_enum_value_exists(enum ev___old, EV_C___old);
	out[6] = bpf_core_enum_value_exists(enum ev64, EV64_A);
	out[7] = bpf_core_enum_value_exists(enum ev64, EV64_B);
	IF_ENUMVAL(8, enum ev, EV_A);
	IF_ENUMVAL(9, enum ev, EV_B);
	IF_ENUMVAL(10, enum ev, EV_C);
	IF_ENUMVAL(11, enum ev, EV_BIG);
	IF_ENUMVAL(12, enum ev___old, EV_GONE___old);
	IF_ENUMVAL(13, enum ev___old, EV_C___old);
	IF_ENUMVAL(14, enum ev64, EV64_A);
	IF_ENUMVAL(15, enum ev64, EV64_B);
	DONE();
}

PROG(enumval_unguarded)
{
	ENTER();
	out[0] = bpf_core_enum_value(enum ev, EV_B);
	DONE();
}

char LICENSE[] SEC("license") = "GPL";
