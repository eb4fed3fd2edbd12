/* persist/src/xxh3_avx2.c — XXH3-64 built for AVX2 (see xxh3_x86.h). This file is
 * compiled with the AVX2 flags and holds C only; the body is xxh3_variant.h. */
#define XXH_VECTOR XXH_AVX2
#define STASIS_XXH3_NAME stasis_xxh3_64_avx2
#include "xxh3_variant.h"
