/* TARGET types for the bitfield family. */
#include "common.h"

#if defined(V_base)
struct bfs {
	unsigned long long pad: 5;
	unsigned long long ub1: 1;               /* bit 5 */
	unsigned long long ub2: 8;               /* bits 6..14: wider */
	unsigned char ub7;                       /* plain byte now */
	int sb4: 12;                             /* wider */
	long long sb20: 40;                      /* wider, 64-bit unit */
	unsigned int u32: 20;                    /* a bitfield now */
	int s32;
} keep;
#elif defined(V_widen)
/* Packed: bitfields straddle their declared units, so loads must widen. */
struct bfs {
	unsigned char pad: 6;
	unsigned char ub2: 6;                    /* bits 6..12: a u8 unit won't do */
	unsigned char ub1: 1;                    /* bit 12 */
	unsigned short ub7: 7;                   /* bits 13..20 */
	int sb4: 4;                              /* bits 20..24 */
	int sb20: 20;                            /* bits 24..44 */
	unsigned int u32;
	int s32;
} __attribute__((packed)) keep;
#elif defined(V_too_big)
/* ub2 straddles a 64-bit boundary: no single load reads it. */
struct bfs {
	unsigned long long pad: 60;
	unsigned long long ub2: 10;              /* bits 60..70 */
	unsigned int ub1: 1;
	unsigned int ub7: 7;
	int sb4: 4;
	int sb20: 20;
	unsigned int u32;
	int s32;
} __attribute__((packed)) keep;
#endif
