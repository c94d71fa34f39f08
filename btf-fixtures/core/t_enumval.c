/* TARGET types for the enumerator family. */
#include "common.h"

#if defined(V_base)
enum ev { EV_C = 10, EV_A = 11, EV_BIG = 7 };                  /* EV_B gone */
enum ev64 { EV64_B = 0x200000000ULL, EV64_A = 6 };
#elif defined(V_kind)
enum ev { EV_A = 0x500000000ULL, EV_B = 1, EV_C = 2, EV_BIG = 3 };  /* now enum64 */
enum ev64 { EV64_A = 6, EV64_B = 7 };                               /* now 32-bit */
#elif defined(V_signed)
enum ev { EV_A = -1, EV_B = -2, EV_C = 3, EV_BIG = -5 };
enum ev64 { EV64_A = -6LL, EV64_B = 0x7fffffffffffffffLL };
#endif
#if defined(V_base) || defined(V_kind) || defined(V_signed)
enum ev keep_ev;
enum ev64 keep_ev64;
#elif defined(V_missing)
enum other { OTHER_X } keep;
#endif
