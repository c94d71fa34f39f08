/* TARGET types for the nesting family (anonymous structs/unions, depth). */
#include "common.h"

#if defined(V_base)
struct nest {
	long pad;                                /* 0 */
	union {                                  /* 8 */
		int c;                           /* 8 */
		struct {
			int b;                   /* 8 */
			int a;                   /* 12 */
		};
	};
	struct {                                 /* 16 */
		long z;                          /* 16 */
		struct {                         /* 24 */
			long q;                  /* 24 */
			int deep;                /* 32 */
		} in;
	} outer;
	int x;                                   /* 40 */
} keep;
#elif defined(V_missing)
/* No b, no c. */
struct nest {
	int x;                                   /* 0 */
	struct { int a; };                       /* 4 */
	struct { struct { int deep; } in; } outer; /* 8 */
} keep;
#elif defined(V_shallow)
/* Everything at the top level; outer is an int, so outer.in.deep can't be found. */
struct nest { int x; int a; int b; int c; int outer; } keep;
#elif defined(V_incompat)
/* a became a pointer. */
struct nest {
	int x;
	struct { int *a; union { int b; int c; }; };
	struct { struct { int deep; } in; } outer;
} keep;
#endif
