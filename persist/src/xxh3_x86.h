/* persist/src/xxh3_x86.h — XXH3-64 over a sequence of byte ranges, compiled for
 * one x86-64 vector extension each (xxh3_avx2.c, xxh3_avx512.c; internal to
 * stasis::persist). The result is XXH3-64 of the ranges' concatenation, bit for
 * bit what libxxhash computes: only the instructions differ. Call a variant only
 * on a CPU that has its extension (checksum.cc chooses). */
#ifndef STASIS_PERSIST_SRC_XXH3_X86_H_
#define STASIS_PERSIST_SRC_XXH3_X86_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

uint64_t stasis_xxh3_64_avx2(const void* const* data, const size_t* sizes, size_t n);
uint64_t stasis_xxh3_64_avx512(const void* const* data, const size_t* sizes, size_t n);

#ifdef __cplusplus
}
#endif

#endif /* STASIS_PERSIST_SRC_XXH3_X86_H_ */
