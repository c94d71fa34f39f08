/* TARGET types for the arrays family. */
#include "common.h"

#if defined(V_base)
struct arr_elem { long x; int b; int a; };       /* 16 */
struct arrs {
	long pad;                                /* 0 */
	int a[6];                                /* 8..32 */
	unsigned short b[3][4];                  /* 32..56 */
	struct arr_elem c[4];                    /* 56..120 */
	int d[4];                                /* 120..136 */
} keep;
struct arrs_flex { long n; int d[]; } *keep_flex;  /* d at 8, flexible */
#elif defined(V_small)
struct arr_elem { int a; int b; };
struct arrs {
	int pad;                                 /* 0 */
	int a[2];                                /* 4..12 */
	unsigned char b[2][3];                   /* 12..18 */
	struct arr_elem c[3];                    /* 20..44 */
	int d[3];                                /* 44..56 */
} keep;
/* Zero-length but not the last member: not a flexible array. */
struct arrs_flex { int n; int d[0]; long after; } keep_flex;
#elif defined(V_wrong)
struct arrs {
	int pad;                                 /* 0 */
	int a;                                   /* 4: not an array */
	unsigned char *b[2][3];                  /* 8: elements are pointers */
	int c[3];                                /* 56: elements are ints */
	int d[4];                                /* 68 */
} keep;
struct arrs_flex { int n; int d[4]; } keep_flex;
#endif
