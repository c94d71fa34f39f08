/* TARGET types for the modifiers/typedefs family. */
#include "common.h"

typedef int myint_t;
typedef volatile myint_t vint_t;
typedef const vint_t cvint_t;
struct mods {
	char *d;                                 /* 0 */
	cvint_t arr[4];                          /* 8..24 */
	const volatile myint_t c;                /* 24 */
	vint_t b;                                /* 28 */
	cvint_t a;                               /* 32 */
};
#if defined(V_base)
typedef struct mods mods_t;
const mods_t keep;
#elif defined(V_no_typedef)
/* No typedef mods_t: relocations rooted at the typedef find no candidate. */
struct mods keep;
#endif
