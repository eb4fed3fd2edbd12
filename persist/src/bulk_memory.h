// persist/src/bulk_memory.h — memory for the large per-tasklet arrays thaw builds
// (internal to stasis::persist).
//
// Thawing a million tasklets fills several arrays of 4 to 16 MB (the validated
// records, the frames, the waits) once, front to back. Taken from malloc, each
// 4 KiB page of them costs a page fault on first touch. BulkAllocator maps arrays
// of at least kBulkMinBytes directly, aligned to 2 MiB, and asks the kernel for
// transparent huge pages there (madvise MADV_HUGEPAGE): one fault per 2 MiB where
// the kernel agrees. Where it does not (THP off, another OS), the mapping is
// ordinary memory and everything works the same. Smaller arrays come from
// ::operator new.
//
// Under AddressSanitizer every array comes from operator new, so that overruns
// are still caught.
//
// Contract: memory from allocate(n) is returned with deallocate(p, n), the same
// n (std::allocator's rule): the size says which of the two sources it came from.
#ifndef STASIS_PERSIST_SRC_BULK_MEMORY_H_
#define STASIS_PERSIST_SRC_BULK_MEMORY_H_

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define STASIS_BULK_MAP 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STASIS_BULK_MAP 0
#endif
#endif
#if !defined(STASIS_BULK_MAP)
#if defined(__linux__)
#define STASIS_BULK_MAP 1
#else
#define STASIS_BULK_MAP 0
#endif
#endif

#if STASIS_BULK_MAP
#include <sys/mman.h>
#endif

namespace stasis::persist::detail {

inline constexpr std::size_t kBulkMinBytes = std::size_t{1} << 20;  // 1 MiB
inline constexpr std::size_t kHugePageBytes = std::size_t{2} << 20;  // 2 MiB (x86-64, aarch64 with 4 KiB pages)

#if STASIS_BULK_MAP
// Zero-filled memory for `bytes` (>= kBulkMinBytes), 2 MiB aligned; bad_alloc if
// the system has none.
inline void* bulk_map(std::size_t bytes) {
  const std::size_t size = (bytes + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
  void* raw = mmap(nullptr, size + kHugePageBytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (raw == MAP_FAILED) throw std::bad_alloc();
  // Trim to a 2 MiB aligned range: only aligned ranges can become huge pages.
  const auto start = reinterpret_cast<std::uintptr_t>(raw);
  const std::uintptr_t aligned = (start + kHugePageBytes - 1) & ~(std::uintptr_t{kHugePageBytes} - 1);
  if (aligned > start) munmap(raw, aligned - start);
  const std::uintptr_t tail = start + size + kHugePageBytes - (aligned + size);
  if (tail > 0) munmap(reinterpret_cast<void*>(aligned + size), tail);
  void* p = reinterpret_cast<void*>(aligned);
#if defined(MADV_HUGEPAGE)
  madvise(p, size, MADV_HUGEPAGE);  // advice only: a refusal leaves ordinary pages
#endif
  return p;
}

inline void bulk_unmap(void* p, std::size_t bytes) noexcept {
  const std::size_t size = (bytes + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
  munmap(p, size);
}
#endif

// Zero-filled memory for `bytes`, mapped as above when large, else from calloc;
// null if there is none. Free it with bulk_free_zeroed(p, bytes), the same bytes.
inline void* bulk_zeroed(std::size_t bytes) noexcept {
#if STASIS_BULK_MAP
  if (bytes >= kBulkMinBytes) {
    try {
      return bulk_map(bytes);
    } catch (const std::bad_alloc&) {
      return nullptr;
    }
  }
#endif
  return std::calloc(bytes, 1);
}

inline void bulk_free_zeroed(void* p, std::size_t bytes) noexcept {
  if (!p) return;
#if STASIS_BULK_MAP
  if (bytes >= kBulkMinBytes) return bulk_unmap(p, bytes);
#endif
  std::free(p);
}

// A std::allocator for arrays that may be large (see the top of this file).
template <class T>
struct BulkAllocator {
  using value_type = T;
  BulkAllocator() noexcept = default;
  template <class U>
  BulkAllocator(const BulkAllocator<U>&) noexcept {}

  T* allocate(std::size_t n) {
#if STASIS_BULK_MAP
    if (n <= ~std::size_t{0} / sizeof(T) && n * sizeof(T) >= kBulkMinBytes) {
      return static_cast<T*>(bulk_map(n * sizeof(T)));
    }
#endif
    return std::allocator<T>().allocate(n);
  }
  void deallocate(T* p, std::size_t n) noexcept {
#if STASIS_BULK_MAP
    if (n * sizeof(T) >= kBulkMinBytes) return bulk_unmap(p, n * sizeof(T));
#endif
    std::allocator<T>().deallocate(p, n);
  }
  template <class U>
  bool operator==(const BulkAllocator<U>&) const noexcept {
    return true;
  }
};

// A std::vector for large per-tasklet arrays.
template <class T>
using BulkVector = std::vector<T, BulkAllocator<T>>;

}  // namespace stasis::persist::detail

#endif  // STASIS_PERSIST_SRC_BULK_MEMORY_H_
