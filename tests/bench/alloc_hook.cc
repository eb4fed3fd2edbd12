// alloc_hook.cc — the global operator new/delete replacement behind AllocScope
// (see bench_util.h), plus RSS helpers.
#include <malloc.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <new>

#include "bench_util.h"

namespace bench {
namespace {

thread_local AllocCounts* tls_counts = nullptr;

inline void* counted_malloc(std::size_t size) {
  if (AllocCounts* c = tls_counts) {
    c->bytes += size;
    ++c->allocs;
  }
  return std::malloc(size ? size : 1);
}

inline void* counted_aligned(std::size_t size, std::size_t align) {
  if (AllocCounts* c = tls_counts) {
    c->bytes += size;
    ++c->allocs;
  }
  if (align < sizeof(void*)) align = sizeof(void*);
  void* p = nullptr;
  if (posix_memalign(&p, align, size ? size : 1) != 0) return nullptr;
  return p;
}

inline void counted_free(void* p) noexcept {
  if (!p) return;
  if (AllocCounts* c = tls_counts) ++c->frees;
  std::free(p);
}

}  // namespace

AllocScope::AllocScope(AllocCounts* out) noexcept { tls_counts = out; }
AllocScope::~AllocScope() { tls_counts = nullptr; }

void count_external_allocation(std::size_t bytes) noexcept {
  if (AllocCounts* c = tls_counts) {
    c->bytes += bytes;
    ++c->allocs;
  }
}

std::uint64_t rss_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long size = 0, resident = 0;
  int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  return n == 2 ? static_cast<std::uint64_t>(resident) * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

std::uint64_t malloc_in_use_bytes() {
  struct mallinfo2 mi = mallinfo2();
  return mi.uordblks + mi.hblkhd;
}

void trim_heap() { malloc_trim(0); }

}  // namespace bench

// --- Replacements of the global allocation functions. ---

void* operator new(std::size_t size) {
  void* p = bench::counted_malloc(size);
  if (!p) throw std::bad_alloc();
  return p;
}
void* operator new[](std::size_t size) { return ::operator new(size); }
void* operator new(std::size_t size, const std::nothrow_t&) noexcept { return bench::counted_malloc(size); }
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept { return bench::counted_malloc(size); }
void* operator new(std::size_t size, std::align_val_t a) {
  void* p = bench::counted_aligned(size, static_cast<std::size_t>(a));
  if (!p) throw std::bad_alloc();
  return p;
}
void* operator new[](std::size_t size, std::align_val_t a) { return ::operator new(size, a); }
void* operator new(std::size_t size, std::align_val_t a, const std::nothrow_t&) noexcept {
  return bench::counted_aligned(size, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t size, std::align_val_t a, const std::nothrow_t&) noexcept {
  return bench::counted_aligned(size, static_cast<std::size_t>(a));
}

void operator delete(void* p) noexcept { bench::counted_free(p); }
void operator delete[](void* p) noexcept { bench::counted_free(p); }
void operator delete(void* p, std::size_t) noexcept { bench::counted_free(p); }
void operator delete[](void* p, std::size_t) noexcept { bench::counted_free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { bench::counted_free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { bench::counted_free(p); }
void operator delete(void* p, std::align_val_t) noexcept { bench::counted_free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { bench::counted_free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { bench::counted_free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { bench::counted_free(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { bench::counted_free(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { bench::counted_free(p); }
