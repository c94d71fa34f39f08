/* TARGET types for the sizes family. */
#include "common.h"

#if defined(V_base)
struct sz_inner { int x; long y; long z; };                  /* 24 */
union sz_u { int a; char b[20]; };                           /* 20 */
enum sz_e { SZ_A = 0, SZ_BIG = 0x10000000000ULL };           /* enum64, 8 */
typedef struct sz_inner sz_t;
typedef long (*sz_fn)(void);
struct sizes {
	long i;                                  /* 0 */
	struct sz_inner s;                       /* 8 */
	union sz_u u;                            /* 32 */
	enum sz_e e;                             /* 56 */
	void *p;                                 /* 64 */
	sz_fn f;                                 /* 72 */
	char arr[9];                             /* 80; sizeof 96 */
} keep;
sz_t keep_t;
sz_fn keep_fn;
#elif defined(V_missing)
struct other { int x; } keep;
#endif
