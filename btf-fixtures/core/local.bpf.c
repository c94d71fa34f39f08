// SPDX-License-Identifier: GPL-2.0
/* The LOCAL side of the CO-RE fixtures: types as a BPF program sees them, and one
 * program (ELF section) per case, so each section's CO-RE records can be relocated
 * on their own. Offsets in comments are this file's layout (what clang compiles in);
 * the Rust tests (src/reloc/core/tests.rs) state the target values and why. */
#include "common.h"

__u64 out[32];
#define OUT(i, v) (out[i] = (__u64)(v))

/* ---------------------------------------------------------------- flavors */
struct flv { int a; int b; int c; } __pai;             /* a 0, b 4, c 8 */
struct flv___rev { int c; int b; int a; } __pai;       /* c 0, b 4, a 8 */

SEC("core/flavors")
int flavors(void *ctx)
{
	struct flv *p = ctx;
	struct flv___rev *q = ctx;

	OUT(0, p->c);                        /* byte_off 0:2 = 8 */
	OUT(1, q->a);                        /* byte_off 0:2 = 8 */
	OUT(2, bpf_core_field_exists(q->b)); /* field_exists 0:1 */
	return 0;
}

SEC("core/flavors_c")
int flavors_c(void *ctx)
{
	struct flv *p = ctx;

	OUT(0, p->c);
	return 0;
}

SEC("core/flavors_b")
int flavors_b(void *ctx)
{
	struct flv *p = ctx;

	OUT(0, p->b);                        /* byte_off 0:1 = 4 */
	return 0;
}

SEC("core/flavors_type")
int flavors_type(void *ctx)
{
	OUT(0, bpf_core_type_exists(struct flv));
	OUT(1, bpf_core_type_id_kernel(struct flv));
	return 0;
}

/* ---------------------------------------------------------------- nesting */
struct nest {
	int x;                                       /* 0 */
	struct {
		int a;                               /* 4 */
		union {
			int b;                       /* 8 */
			int c;                       /* 8 */
		};
	};
	struct {
		struct {
			int deep;                    /* 12 */
		} in;
	} outer;
} __pai;

SEC("core/nesting")
int nesting(void *ctx)
{
	struct nest *n = ctx;

	OUT(0, n->a);                        /* 0:1:0 */
	OUT(1, n->b);                        /* 0:1:1:0 */
	OUT(2, n->c);                        /* 0:1:1:1 */
	OUT(3, n->outer.in.deep);            /* 0:2:0:0 */
	OUT(4, bpf_core_field_exists(n->c));
	return 0;
}

/* ---------------------------------------------------------------- arrays */
struct arr_elem { int a; int b; } __pai;                /* size 8 */
struct arrs {
	int pad;                             /* 0 */
	int a[5];                            /* 4..24 */
	unsigned char b[2][3];               /* 24..30 */
	struct arr_elem c[3];                /* 32..56 */
	int d[4];                            /* 56..72 */
} __pai;
struct arrs_flex { int n; int d[4]; } __pai;            /* d at 4 */

SEC("core/arrays")
int arrays(void *ctx)
{
	struct arrs *p = ctx;
	unsigned char v;

	OUT(0, p->a[2]);                        /* 0:1:2   = 12 */
	/* A direct p->b[1][2] would relocate only &p->b[1] (clang adds the last index as
	 * a constant): read through bpf_core_read to relocate the whole access. */
	bpf_core_read(&v, 1, &p->b[1][2]);      /* 0:2:1:2 = 29 */
	OUT(1, v);
	OUT(2, p->c[2].b);                      /* 0:3:2:1 = 52 */
	return 0;
}

/* Field information in a section of its own: clang would otherwise reuse the offset of
 * b[1] for the load of b[1][2]. */
SEC("core/arrays_info")
int arrays_info(void *ctx)
{
	struct arrs *p = ctx;

	OUT(3, bpf_core_field_size(p->c[1]));   /* 0:3:1   = 8 */
	OUT(4, bpf_core_field_offset(p->b[1])); /* 0:2:1   = 27 */
	OUT(5, bpf_core_field_size(p->a));      /* 0:1     = 20 */
	OUT(6, bpf_core_field_exists(p->d[3])); /* 0:4:3 */
	return 0;
}

SEC("core/arrays_flex")
int arrays_flex(void *ctx)
{
	struct arrs_flex *q = ctx;

	OUT(0, q->d[3]);                        /* 0:1:3 = 16 */
	return 0;
}

SEC("core/arrays_signed_elem")
int arrays_signed_elem(void *ctx)
{
	struct arrs *p = ctx;

	OUT(0, __builtin_preserve_field_info(p->a[2], BPF_FIELD_SIGNED));
	return 0;
}

/* ---------------------------------------------------------------- loads of array fields */
/* Not __pai: c[0].x is read at the relocated offset of c itself. */
struct al_plain { int x; int y; };                      /* size 8 */
struct arrload {
	long pad;                            /* 0 */
	int a[5];                            /* 8..28 */
	unsigned short m[2][3];              /* 28..40 */
	struct al_plain c[3];                /* 40..64 */
	int s[4];                            /* 64..80 */
	unsigned int u[4];                   /* 80..96 */
	int g[4];                            /* 96..112 */
} __pai;

/* A pointer to a relocated array field: clang folds the field's offset into the load
 * of element 0, so the load itself carries the byte_off relocation of the whole array
 * (as in libbpf's selftest for the 1.6 fix). Element i > 0 is read through the
 * relocated address (an ALU relocation of the same access). */
#define ARR(p, f) __builtin_preserve_access_index(({ (p)->f; }))

SEC("core/arrload_a")
int arrload_a(void *ctx)
{
	struct arrload *p = ctx;
	int *a = ARR(p, a);

	OUT(0, a[0]);                           /* 0:1 = 8, a 4-byte load */
	OUT(1, a[2]);
	return 0;
}

SEC("core/arrload_m")
int arrload_m(void *ctx)
{
	struct arrload *p = ctx;
	unsigned short (*m)[3] = ARR(p, m);

	OUT(0, m[0][0]);                        /* 0:2 = 28, a 2-byte load */
	return 0;
}

/* A row of a two-dimensional array: the last accessor is an index whose element is
 * itself an array. */
SEC("core/arrload_m_row")
int arrload_m_row(void *ctx)
{
	struct arrload *p = ctx;
	unsigned short *row = ARR(p, m[1]);

	OUT(0, row[0]);                         /* 0:2:1 = 34, a 2-byte load */
	return 0;
}

SEC("core/arrload_c")
int arrload_c(void *ctx)
{
	struct arrload *p = ctx;
	struct al_plain *c = ARR(p, c);

	OUT(0, c[0].x);                         /* 0:3 = 40, a 4-byte load */
	OUT(1, c[1].y);
	return 0;
}

SEC("core/arrload_s")
int arrload_s(void *ctx)
{
	struct arrload *p = ctx;
	int *s = ARR(p, s);

	OUT(0, s[0]);                           /* 0:4 = 64 */
	return 0;
}

SEC("core/arrload_u")
int arrload_u(void *ctx)
{
	struct arrload *p = ctx;
	unsigned int *u = ARR(p, u);

	OUT(0, u[0]);                           /* 0:5 = 80 */
	return 0;
}

SEC("core/arrload_g")
int arrload_g(void *ctx)
{
	struct arrload *p = ctx;
	int *g = ARR(p, g);

	OUT(0, g[0]);                           /* 0:6 = 96 */
	return 0;
}

/* Stores: an immediate (ST at -mcpu=v4, STX before) and a register. */
SEC("core/arrload_store")
int arrload_store(void *ctx)
{
	struct arrload *p = ctx;
	int *a = ARR(p, a);
	int *g = ARR(p, g);

	a[0] = 0x1234567;                       /* 0:1 = 8 */
	g[0] = (int)out[3];                     /* 0:6 = 96 */
	return 0;
}

/* ---------------------------------------------------------------- primitives */
enum prim_e { PRIM_A, PRIM_B };
typedef int (*prim_fn)(int);
struct prims {
	char a;                              /* 0 */
	int b;                               /* 4 */
	enum prim_e c;                       /* 8 */
	void *d;                             /* 16 */
	prim_fn f;                           /* 24 */
} __pai;

SEC("core/primitives")
int primitives(void *ctx)
{
	struct prims *p = ctx;

	OUT(0, p->a);
	OUT(1, p->b);
	OUT(2, p->c);
	OUT(3, p->d);
	OUT(4, p->f);
	return 0;
}

/* ---------------------------------------------------------------- modifiers, typedefs */
typedef int int_t;
typedef const int_t cint_t;
typedef struct mods mods_t;
struct mods {
	int a;                               /* 0 */
	const volatile int b;                /* 4 */
	cint_t c;                            /* 8 */
	int_t *d;                            /* 16 */
	volatile int_t arr[3];               /* 24..36 */
} __pai;

SEC("core/mods")
int mods(void *ctx)
{
	mods_t *p = ctx;
	const volatile struct mods *q = ctx;

	OUT(0, p->a);
	OUT(1, p->b);
	OUT(2, p->c);
	OUT(3, p->d);
	OUT(4, p->arr[1]);                   /* 28 */
	OUT(5, q->c);
	return 0;
}

/* ---------------------------------------------------------------- pointer as array */
struct pa { int a; int b; } __pai;                       /* size 8 */

SEC("core/ptr_as_array")
int ptr_as_array(void *ctx)
{
	struct pa *p = ctx;

	OUT(0, p[0].b);                          /* 0:1 = 4 */
	OUT(1, p[2].b);                          /* 2:1 = 20 */
	OUT(2, bpf_core_field_offset(p[1].a));   /* 1:0 = 8 */
	return 0;
}

/* ---------------------------------------------------------------- int sizes and signedness */
struct ints {
	unsigned char u8f;                   /* 0 */
	signed char s8f;                     /* 1 */
	unsigned short u16f;                 /* 2 */
	short s16f;                          /* 4 */
	unsigned int u32f;                   /* 8 */
	int s32f;                            /* 12 */
	unsigned long long u64f;             /* 16 */
	long long s64f;                      /* 24 */
} __pai;

SEC("core/ints")
int ints(void *ctx)
{
	struct ints *p = ctx;

	OUT(0, p->u8f);
	OUT(1, p->s8f);
	OUT(2, p->u16f);
	OUT(3, p->s16f);
	OUT(4, p->u32f);
	OUT(5, p->s32f);
	OUT(6, p->u64f);
	OUT(7, p->s64f);
	OUT(8, bpf_core_field_size(p->u32f));
	OUT(9, __builtin_preserve_field_info(p->s32f, BPF_FIELD_SIGNED));
	OUT(10, __builtin_preserve_field_info(p->u32f, BPF_FIELD_SIGNED));
	return 0;
}

SEC("core/ints_store")
int ints_store(void *ctx)
{
	struct ints *p = ctx;

	p->u8f = 7;
	p->u32f = out[20];
	return 0;
}

/* ---------------------------------------------------------------- existence */
struct ex_sub { int x; } __pai;
struct ex {
	int a;
	int b[4];
	struct ex_sub s;
	int *d;
	int gone;
	char e[2];
} __pai;

SEC("core/existence")
int existence(void *ctx)
{
	struct ex *p = ctx;

	OUT(0, bpf_core_field_exists(p->a));
	OUT(1, bpf_core_field_exists(p->b));
	OUT(2, bpf_core_field_exists(p->b[3]));
	OUT(3, bpf_core_field_exists(p->s));
	OUT(4, bpf_core_field_exists(p->s.x));
	OUT(5, bpf_core_field_exists(p->d));
	OUT(6, bpf_core_field_exists(p->gone));
	OUT(7, bpf_core_field_exists(p->e[1]));
	return 0;
}

/* ---------------------------------------------------------------- bitfields */
struct bfs {
	unsigned int ub1: 1;                 /* bit 0 */
	unsigned int ub2: 2;                 /* bits 1..3 */
	unsigned int ub7: 7;                 /* bits 3..10 */
	int sb4: 4;                          /* bits 10..14 */
	int sb20: 20;                        /* bits 32..52 (doesn't fit the first word) */
	unsigned int u32;                    /* 8 */
	int s32;                             /* 12 */
} __pai;

SEC("core/bitfields")
int bitfields(void *ctx)
{
	struct bfs *s = ctx;

	OUT(0, BPF_CORE_READ_BITFIELD(s, ub1));
	OUT(1, BPF_CORE_READ_BITFIELD(s, ub2));
	OUT(2, BPF_CORE_READ_BITFIELD(s, ub7));
	OUT(3, BPF_CORE_READ_BITFIELD(s, sb4));
	OUT(4, BPF_CORE_READ_BITFIELD(s, sb20));
	OUT(5, BPF_CORE_READ_BITFIELD(s, u32));
	OUT(6, BPF_CORE_READ_BITFIELD(s, s32));
	return 0;
}

/* ---------------------------------------------------------------- sizes */
struct sz_inner { int x; long y; } __pai;               /* 16 */
union sz_u { int a; char b[12]; } __pai;                /* 12 */
enum sz_e { SZ_A };                                     /* 4 */
typedef struct sz_inner sz_t;
typedef int (*sz_fn)(void);
struct sizes {
	int i;                               /* 0 */
	struct sz_inner s;                   /* 8 */
	union sz_u u;                        /* 24 */
	enum sz_e e;                         /* 36 */
	void *p;                             /* 40 */
	sz_fn f;                             /* 48 */
	char arr[7];                         /* 56; sizeof 64 */
} __pai;

SEC("core/sizes")
int sizes(void *ctx)
{
	struct sizes *p = ctx;

	OUT(0, bpf_core_field_size(p->i));
	OUT(1, bpf_core_field_size(p->s));
	OUT(2, bpf_core_field_size(p->u));
	OUT(3, bpf_core_field_size(p->e));
	OUT(4, bpf_core_field_size(p->p));
	OUT(5, bpf_core_field_size(p->f));
	OUT(6, bpf_core_field_size(p->arr));
	OUT(7, bpf_core_type_size(struct sizes));
	OUT(8, bpf_core_type_size(sz_t));
	OUT(9, bpf_core_type_size(union sz_u));
	OUT(10, bpf_core_type_size(enum sz_e));
	OUT(11, bpf_core_type_size(sz_fn));
	return 0;
}

/* ---------------------------------------------------------------- type existence and matches */
struct tb_s { int a; struct tb_s *next; };
union tb_u { int a; long b; };
enum tb_e { TB_ONE, TB_TWO };
typedef int tb_int;
typedef struct tb_s tb_s_t;
typedef int (*tb_fn)(int, struct tb_s *);
typedef unsigned int tb_uint;

SEC("core/type_based")
int type_based(void *ctx)
{
	OUT(0, bpf_core_type_exists(struct tb_s));
	OUT(1, bpf_core_type_exists(union tb_u));
	OUT(2, bpf_core_type_exists(enum tb_e));
	OUT(3, bpf_core_type_exists(tb_int));
	OUT(4, bpf_core_type_exists(tb_s_t));
	OUT(5, bpf_core_type_exists(tb_fn));
	OUT(6, bpf_core_type_matches(struct tb_s));
	OUT(7, bpf_core_type_matches(union tb_u));
	OUT(8, bpf_core_type_matches(enum tb_e));
	OUT(9, bpf_core_type_matches(tb_int));
	OUT(10, bpf_core_type_matches(tb_s_t));
	OUT(11, bpf_core_type_matches(tb_fn));
	OUT(12, bpf_core_type_exists(tb_uint));
	OUT(13, bpf_core_type_matches(tb_uint));
	return 0;
}

SEC("core/type_id")
int type_id(void *ctx)
{
	OUT(0, bpf_core_type_id_local(struct tb_s));
	OUT(1, bpf_core_type_id_kernel(struct tb_s));
	OUT(2, bpf_core_type_id_kernel(tb_int));
	OUT(3, bpf_core_type_id_local(tb_fn));
	return 0;
}

/* ---------------------------------------------------------------- enumerators */
enum ev { EV_A = 1, EV_B = 2, EV_C = 3, EV_BIG = 0xffffffff };
enum ev___old { EV_GONE___old = 7, EV_C___old = 30 };
enum ev64 { EV64_A = 0x100000000ULL, EV64_B = 5 };

SEC("core/enumval")
int enumval(void *ctx)
{
	OUT(0, bpf_core_enum_value(enum ev, EV_A));
	OUT(1, bpf_core_enum_value(enum ev, EV_C));
	OUT(2, bpf_core_enum_value_exists(enum ev, EV_B));
	OUT(3, bpf_core_enum_value(enum ev, EV_BIG));
	OUT(4, bpf_core_enum_value(enum ev___old, EV_C___old));
	OUT(5, bpf_core_enum_value_exists(enum ev___old, EV_GONE___old));
	OUT(6, bpf_core_enum_value(enum ev64, EV64_A));
	OUT(7, bpf_core_enum_value(enum ev64, EV64_B));
	OUT(8, bpf_core_enum_value_exists(enum ev64, EV64_B));
	return 0;
}

/* ---------------------------------------------------------------- anonymous root */
SEC("core/anon")
int anon(void *ctx)
{
	struct { int x; int y; } __pai *p = ctx;

	OUT(0, p->y);
	return 0;
}

/* ---------------------------------------------------------------- the running kernel */
struct task_struct {
	unsigned int __state;
	int pid;
} __pai;
struct task_struct___old {
	long state;
} __pai;

SEC("core/task")
int task(void *ctx)
{
	struct task_struct *t = ctx;
	struct task_struct___old *o = ctx;

	OUT(0, t->__state);
	OUT(1, o->state);
	OUT(2, t->pid);
	OUT(3, bpf_core_field_exists(o->state));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
