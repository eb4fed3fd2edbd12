// alloc_hook.cc — the allocation counting behind AllocScope (see bench_util.h),
// plus RSS and heap helpers.
//
// The hook sits at the C level: this executable defines malloc, free, calloc,
// realloc and the aligned allocators, which the dynamic linker binds in front of
// glibc's for the whole process (libstdc++'s operator new, Boost.Context's
// fixedsize_stack, Stasis' frame pool and stack slices all end up here), and
// forwards each call to glibc's own entry points (__libc_malloc and friends).
// Counting therefore sees every heap allocation of the scoped thread, whatever
// API asked for it. Invariants: the hook never allocates; outside a scope it
// costs one thread-local load per call. Under AddressSanitizer (which owns
// malloc) nothing is replaced and every count stays zero.
#include <malloc.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <new>

#include "bench_util.h"

namespace bench {
namespace {

thread_local AllocCounts* tls_counts = nullptr;

}  // namespace

AllocScope::AllocScope(AllocCounts* out) noexcept { tls_counts = out; }
AllocScope::~AllocScope() { tls_counts = nullptr; }

// Adds one allocation of `bytes` to the current scope.
inline void count_allocation(std::size_t bytes) noexcept {
  if (AllocCounts* c = tls_counts) {
    c->bytes += bytes;
    ++c->allocs;
  }
}

inline void count_free(void* p) noexcept {
  if (!p) return;
  if (AllocCounts* c = tls_counts) ++c->frees;
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

#if !defined(__SANITIZE_ADDRESS__)
// --- Replacements of the C allocation functions (glibc's stay reachable). ---
extern "C" {
void* __libc_malloc(std::size_t size);
void __libc_free(void* p);
void* __libc_calloc(std::size_t n, std::size_t size);
void* __libc_realloc(void* p, std::size_t size);
void* __libc_memalign(std::size_t align, std::size_t size);
void* __libc_valloc(std::size_t size);
void* __libc_pvalloc(std::size_t size);

void* malloc(std::size_t size) noexcept {
  bench::count_allocation(size);
  return __libc_malloc(size);
}
void free(void* p) noexcept {
  bench::count_free(p);
  __libc_free(p);
}
void* calloc(std::size_t n, std::size_t size) noexcept {
  bench::count_allocation(n * size);
  return __libc_calloc(n, size);
}
// A realloc counts as one allocation of the new size (and the free of the old
// block when it moves or shrinks to nothing).
void* realloc(void* p, std::size_t size) noexcept {
  if (size) bench::count_allocation(size);
  void* q = __libc_realloc(p, size);
  if (p && q != p) bench::count_free(p);
  return q;
}
void* memalign(std::size_t align, std::size_t size) noexcept {
  bench::count_allocation(size);
  return __libc_memalign(align, size);
}
void* aligned_alloc(std::size_t align, std::size_t size) noexcept {
  bench::count_allocation(size);
  return __libc_memalign(align, size);
}
int posix_memalign(void** out, std::size_t align, std::size_t size) noexcept {
  if (align < sizeof(void*) || (align & (align - 1)) != 0) return EINVAL;
  bench::count_allocation(size);
  void* p = __libc_memalign(align, size);
  if (!p) return ENOMEM;
  *out = p;
  return 0;
}
void* valloc(std::size_t size) noexcept {
  bench::count_allocation(size);
  return __libc_valloc(size);
}
void* pvalloc(std::size_t size) noexcept {
  bench::count_allocation(size);
  return __libc_pvalloc(size);
}
}  // extern "C"
#endif
