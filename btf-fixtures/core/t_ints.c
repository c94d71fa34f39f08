/* TARGET types for the int size/signedness family. */
#include "common.h"

#if defined(V_base)
struct ints {
	unsigned long long u64f;                 /* 0 */
	unsigned int u8f;                        /* 8: u8 -> u32 */
	unsigned char u32f;                      /* 12: u32 -> u8 */
	unsigned short u16f;                     /* 14 */
	int s8f;                                 /* 16: s8 -> s32 */
	short s16f;                              /* 20 */
	unsigned int s32f;                       /* 24: now unsigned */
	long long s64f;                          /* 32 */
} keep;
#elif defined(V_i128)
/* u32f becomes 16 bytes: no load can read it. */
struct ints {
	unsigned char u8f;                       /* 0 */
	signed char s8f;                         /* 1 */
	unsigned short u16f;                     /* 2 */
	short s16f;                              /* 4 */
	unsigned __int128 u32f;                  /* 16 */
	int s32f;                                /* 32 */
	unsigned long long u64f;                 /* 40 */
	long long s64f;                          /* 48 */
} keep;
#elif defined(V_far)
/* Fields beyond a load's 16-bit signed offset. */
struct ints {
	char pad[40000];
	unsigned char u8f;                       /* 40000 */
	signed char s8f;
	unsigned short u16f;
	short s16f;
	unsigned int u32f;
	int s32f;
	unsigned long long u64f;
	long long s64f;
} keep;
#endif
