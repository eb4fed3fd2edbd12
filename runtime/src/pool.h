// pool.h — per-thread free lists for the small objects tasklets are made of.
//
// Frames and tasklet headers are allocated and freed millions of times; a
// per-thread free list per 8-byte size class turns each into a few instructions.
// Blocks come from ::operator new of the class size, so a block freed on another
// thread simply joins that thread's list. Each list keeps at most kMaxCached
// blocks; the rest go back to the system. Under AddressSanitizer the pool is off
// so that use-after-free is still caught.
#ifndef STASIS_RUNTIME_POOL_H_
#define STASIS_RUNTIME_POOL_H_

#include <cstddef>

namespace stasis::detail {

void* pool_allocate(std::size_t size);
void pool_free(void* p, std::size_t size) noexcept;

}  // namespace stasis::detail

#endif  // STASIS_RUNTIME_POOL_H_
