/* TARGET types for the primitives family (enum/int/pointer compatibility). */
#include "common.h"

#if defined(V_base)
typedef long (*prim_fn)(long, long);
struct prims {
	void *d;                                 /* 0 */
	int b;                                   /* 8 */
	enum { PRIM_X, PRIM_A2, PRIM_B2 } c;     /* 12: anonymous enum */
	char a;                                  /* 16 */
	prim_fn f;                               /* 24 */
} keep;
#elif defined(V_err1)
/* c: enum -> int; d: pointer -> long; f still a pointer. */
struct prims { char a; int b; int c; long d; int *f; } keep;
#elif defined(V_err2)
/* c: a differently named enum; f: pointer -> int. */
enum other_e { OTHER_A };
struct prims { char a; int b; enum other_e c; void *d; int f; } keep;
#endif
