/* persist/src/xxh3_variant.h — the body of one XXH3-64 variant (see xxh3_x86.h),
 * included once by each per-instruction-set file (xxh3_avx2.c, xxh3_avx512.c)
 * after it defines XXH_VECTOR and STASIS_XXH3_NAME, the function to define.
 * Every xxhash function is static (XXH_INLINE_ALL), so no code built for one
 * instruction set can be picked by the linker for a caller elsewhere. */
#define XXH_INLINE_ALL
#include <xxhash.h>

#include "xxh3_x86.h"

uint64_t STASIS_XXH3_NAME(const void* const* data, const size_t* sizes, size_t n) {
  XXH3_state_t state;
  XXH3_INITSTATE(&state);
  XXH3_64bits_reset(&state);
  for (size_t i = 0; i < n; ++i) XXH3_64bits_update(&state, data[i], sizes[i]);
  return XXH3_64bits_digest(&state);
}
