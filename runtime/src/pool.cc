// pool.cc — see pool.h.
#include "pool.h"

#include <cstdint>
#include <cstdlib>
#include <new>

#if defined(__SANITIZE_ADDRESS__)
#define STASIS_POOL_DISABLED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STASIS_POOL_DISABLED 1
#endif
#endif

namespace stasis::detail {
namespace {

// Blocks come from malloc itself, not from operator new: a native tasklet with an
// arena share (stasis/arena.h) may spawn tasklets or make frames while it runs,
// and those runtime objects belong to the scheduler, not to the tasklet's share.
void* raw_allocate(std::size_t size) {
  if (void* p = std::malloc(size)) return p;
  throw std::bad_alloc();
}

// 8-byte classes: frame and tasklet sizes are multiples of 8, so a block asks
// malloc for exactly sizeof. (glibc's chunk for n bytes is n + 8 rounded up to
// 16: a 104-byte tasklet takes a 112-byte chunk, a 112-byte class a 128-byte one.)
constexpr std::size_t kGranule = 8;
constexpr std::size_t kClasses = 64;  // up to 512 bytes
constexpr std::uint32_t kMaxCached = 1u << 16;

struct FreeBlock {
  FreeBlock* next;
};

struct Pool {
  FreeBlock* heads[kClasses] = {};
  std::uint32_t counts[kClasses] = {};
  ~Pool() {
    for (std::size_t c = 0; c < kClasses; ++c) {
      while (FreeBlock* b = heads[c]) {
        heads[c] = b->next;
        std::free(b);
      }
    }
  }
};

thread_local Pool tls_pool;

inline std::size_t class_of(std::size_t size) { return (size + kGranule - 1) / kGranule - 1; }

}  // namespace

void* pool_allocate(std::size_t size) {
#ifndef STASIS_POOL_DISABLED
  std::size_t c = class_of(size);
  if (c < kClasses) {
    Pool& p = tls_pool;
    if (FreeBlock* b = p.heads[c]) {
      p.heads[c] = b->next;
      --p.counts[c];
      return b;
    }
    return raw_allocate((c + 1) * kGranule);
  }
#endif
  return raw_allocate(size);
}

void pool_free(void* ptr, std::size_t size) noexcept {
#ifndef STASIS_POOL_DISABLED
  std::size_t c = class_of(size);
  if (c < kClasses) {
    Pool& p = tls_pool;
    if (p.counts[c] < kMaxCached) {
      auto* b = static_cast<FreeBlock*>(ptr);
      b->next = p.heads[c];
      p.heads[c] = b;
      ++p.counts[c];
      return;
    }
    std::free(ptr);
    return;
  }
#endif
  (void)size;
  std::free(ptr);
}

}  // namespace stasis::detail
