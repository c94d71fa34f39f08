/* TARGET types for the flavors family; build.sh compiles one BTF per variant. */
#include "common.h"

#if defined(V_base)
/* Plain name, layout changed: a 0, b 8, c 16. */
struct flv { int a; long b; int c; } keep_flv;
#elif defined(V_tflavor)
/* Only a flavored target type: c 0, a 4, no b. */
struct flv___v2 { int c; int a; } keep_flv;
#elif defined(V_dup)
/* Two candidates that disagree on c: 8 vs 0. */
struct flv { int a; int b; int c; } keep_flv;
struct flv___v2 { int c; int a; } keep_flv2;
#elif defined(V_dup_same)
/* Two candidates that agree. */
struct flv { int a; int b; int c; } keep_flv;
struct flv___v2 { int a; int b; int c; } keep_flv2;
#elif defined(V_none)
struct flx { int c; } keep_flx;
#endif
