/* TARGET types for the pointer-as-array family. */
#include "common.h"

#if defined(V_base)
struct pa { long x; int a; int b; } keep;        /* size 16: a 8, b 12 */
#elif defined(V_err)
struct pa { int a; } keep;                       /* size 4, no b */
#endif
