/* TARGET types for type existence, matches and ids. */
#include "common.h"

#if defined(V_match)
struct tb_s { int a; struct tb_s *next; };
union tb_u { int a; long b; };
enum tb_e { TB_ONE, TB_TWO };
typedef int tb_int;
typedef struct tb_s tb_s_t;
typedef int (*tb_fn)(int, struct tb_s *);
typedef unsigned int tb_uint;
#elif defined(V_differ)
struct tb_s { long a; struct tb_s *next; };      /* a wider: compatible, no match */
union tb_u { int a; };                           /* b missing */
enum tb_e { TB_ONE };                            /* TB_TWO missing */
typedef long tb_int;                             /* int of another size */
typedef struct tb_s tb_s_t;
typedef int (*tb_fn)(int);                       /* one parameter fewer */
typedef int tb_uint;                             /* signedness changed */
#endif
#if defined(V_match) || defined(V_differ)
struct tb_s keep_s;
union tb_u keep_u;
enum tb_e keep_e;
tb_int keep_int;
tb_s_t keep_s_t;
tb_fn keep_fn;
tb_uint keep_uint;
#elif defined(V_missing)
struct other { int x; } keep;
#endif
