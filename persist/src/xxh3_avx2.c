/* persist/src/xxh3_avx2.c — XXH3-64 built for AVX2 (see xxh3_x86.h). This file is
 * compiled with the AVX2 flags; it holds C only, and every xxhash function in it
 * is static (XXH_INLINE_ALL), so no code built for AVX2 can be picked by the
 * linker for a caller elsewhere. */
#define XXH_INLINE_ALL
#define XXH_VECTOR XXH_AVX2
#include <xxhash.h>

#include "xxh3_x86.h"

uint64_t stasis_xxh3_64_avx2(const void* const* data, const size_t* sizes, size_t n) {
  XXH3_state_t state;
  XXH3_INITSTATE(&state);
  XXH3_64bits_reset(&state);
  for (size_t i = 0; i < n; ++i) XXH3_64bits_update(&state, data[i], sizes[i]);
  return XXH3_64bits_digest(&state);
}
