// slice.cc — copying live stack bytes between the shared region and heap slices.
#include "stasis/arch/slice.h"

#include <cstdlib>
#include <cstring>
#include <new>

#if defined(__SANITIZE_ADDRESS__)
#define STASIS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STASIS_ASAN 1
#endif
#endif
#if STASIS_ASAN
#include <sanitizer/asan_interface.h>
#endif

namespace stasis::arch {
namespace {

inline void unpoison(const char* p, std::size_t n) noexcept {
#if STASIS_ASAN
  __asan_unpoison_memory_region(p, n);
#else
  (void)p;
  (void)n;
#endif
}

void reserve(Slice& s, std::size_t n) {
  if (n <= s.capacity && s.capacity - n <= n / 4 + 64) return;  // keep the parked cost close to the live bytes
  char* b = static_cast<char*>(std::malloc(n ? n : 1));
  if (!b) throw std::bad_alloc();
  std::free(s.bytes);
  s.bytes = b;
  s.capacity = static_cast<std::uint32_t>(n);
}

}  // namespace

Slice::~Slice() { release(); }

void Slice::release() noexcept {
  std::free(bytes);
  bytes = nullptr;
  size = capacity = 0;
}

void save_slice(Slice& slice, const char* sp, const char* high) {
  std::size_t n = static_cast<std::size_t>(high - sp);
  reserve(slice, n);
  unpoison(sp, n);
  std::memcpy(slice.bytes, sp, n);
  slice.size = static_cast<std::uint32_t>(n);
}

void restore_slice(const Slice& slice, char* high) noexcept {
  char* sp = high - slice.size;
  unpoison(sp, slice.size);
  std::memcpy(sp, slice.bytes, slice.size);
}

void copy_into_slice(Slice& slice, const char* low, std::size_t n) {
  reserve(slice, n);
  std::memcpy(slice.bytes, low, n);
  slice.size = static_cast<std::uint32_t>(n);
}

}  // namespace stasis::arch
