/* TARGET types for the field existence family. */
#include "common.h"

#if defined(V_base)
struct ex_sub { long x; };
struct ex {
	int *d;
	long a;
	int b[2];                                /* b[3] is out of bounds */
	struct ex_sub s;
	char *e;                                 /* was char[2]: e[1] doesn't exist */
	/* no "gone" */
} keep;
#elif defined(V_none)
struct exx { int a; } keep;
#endif
