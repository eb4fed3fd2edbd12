// slice.cc — copying live stack bytes between the shared region and heap slices.
#include "stasis/arch/slice.h"

#include <algorithm>
#include <cstdint>
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

// The lead that puts n live bytes, which end at `high` in the region, at the
// same offset in a cache line in the buffer at `base` (both are 16-aligned).
inline std::size_t lead_for(const char* base, const char* high, std::size_t n) noexcept {
  return (reinterpret_cast<std::uintptr_t>(high) - n - reinterpret_cast<std::uintptr_t>(base)) & 48;
}

// From this many live bytes on a buffer is co-aligned (48 spare bytes): below
// it, the misaligned copies cost no measurable time, and the parked cost of
// small stacks stays the live bytes.
constexpr std::size_t kCoalignFrom = 1024;

// Makes s.bytes point at room for the n live bytes that end at `high` in the
// region (co-aligned with them from kCoalignFrom on), reusing the buffer when
// they fit and it is not much too big (std::bad_alloc; s unchanged then).
void reserve(Slice& s, std::size_t n, const char* high) {
  const std::size_t spare = n >= kCoalignFrom ? 48 : 0;  // room for any lead
  if (s.bytes) {
    char* base = s.bytes - s.lead();
    const std::size_t lead = spare ? lead_for(base, high, n) : 0, room = s.room();
    if (lead + n <= room && room - n <= n / 4 + 64 + spare) {
      s.bytes = base + lead;
      s.layout = static_cast<std::uint32_t>(room | (lead / 16));
      return;
    }
  }
  const std::size_t room = std::max<std::size_t>((n + spare + 15) & ~std::size_t{15}, 16);
  char* base = static_cast<char*>(std::malloc(room));
  if (!base) throw std::bad_alloc();
  if (s.bytes) std::free(s.bytes - s.lead());
  const std::size_t lead = spare ? lead_for(base, high, n) : 0;
  s.bytes = base + lead;
  s.layout = static_cast<std::uint32_t>(room | (lead / 16));
}

}  // namespace

Slice::~Slice() { release(); }

void Slice::release() noexcept {
  if (bytes) std::free(bytes - lead());
  bytes = nullptr;
  size = layout = 0;
}

void save_slice(Slice& slice, const char* sp, const char* high) {
  std::size_t n = static_cast<std::size_t>(high - sp);
  reserve(slice, n, high);
  unpoison(sp, n);
  std::memcpy(slice.bytes, sp, n);
  slice.size = static_cast<std::uint32_t>(n);
}

void restore_slice(const Slice& slice, char* high) noexcept {
  char* sp = high - slice.size;
  unpoison(sp, slice.size);
  std::memcpy(sp, slice.bytes, slice.size);
}

void copy_into_slice(Slice& slice, const char* from, std::size_t n, const char* high) {
  reserve(slice, n, high);
  std::memcpy(slice.bytes, from, n);
  slice.size = static_cast<std::uint32_t>(n);
}

}  // namespace stasis::arch
