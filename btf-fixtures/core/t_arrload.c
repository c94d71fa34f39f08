/* TARGET types for loads and stores of whole array fields (local: struct arrload in
 * local.bpf.c). Only the field offsets are relocated; the element sizes decide whether
 * the load or store may stay as it is. */
#include "common.h"

struct al_plain { int x; int y; };

#if defined(V_same)
struct arrload {
	long pad;                                /* 0 */
	int a[5];                                /* 8 */
	unsigned short m[2][3];                  /* 28 */
	struct al_plain c[3];                    /* 40 */
	int s[4];                                /* 64 */
	unsigned int u[4];                       /* 80 */
	int g[4];                                /* 96 */
} keep;
#elif defined(V_longer)
/* Every array longer, multi-dimensional ones in both dimensions; fields moved. */
struct arrload {
	long pad;                                /* 0 */
	unsigned short m[3][4];                  /* 8 */
	int a[7];                                /* 32 */
	struct al_plain c[5];                    /* 60 */
	int s[6];                                /* 100 */
	unsigned int u[6];                       /* 124 */
	int g[6];                                /* 148 */
} keep;
#elif defined(V_shorter)
/* Every array shorter; m has a single row of two. */
struct arrload {
	int a[3];                                /* 0 */
	struct al_plain c[2];                    /* 12 */
	unsigned short m[1][2];                  /* 28 */
	int pad;                                 /* 32 */
	int s[2];                                /* 36 */
	unsigned int u[2];                       /* 44 */
	int g[2];                                /* 52 */
} keep;
#elif defined(V_elems)
/* Same lengths, other element types. */
struct al_wide { int x; int y; int z; };
struct arrload {
	int pad;                                 /* 0 */
	long a[5];                               /* 8: int -> long */
	unsigned char m[2][3];                   /* 48: u16 -> u8 */
	struct al_wide c[3];                     /* 56: 8 -> 12 bytes */
	short s[4];                              /* 92: int -> short */
	unsigned short u[4];                     /* 100: u32 -> u16 */
	unsigned int g[4];                       /* 108: int -> unsigned int */
} keep;
#endif
