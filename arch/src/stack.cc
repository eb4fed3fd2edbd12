// stack.cc — mapping guarded stacks, and the per-thread pool of dedicated stacks.
#include "stasis/arch/stack.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <new>
#include <stdexcept>
#include <string>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define STASIS_UNPOISON(p, n) __asan_unpoison_memory_region((p), (n))
#else
#define STASIS_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace stasis::arch {

std::size_t page_size() noexcept {
  static const std::size_t size = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  return size;
}

std::size_t round_to_pages(std::size_t bytes) noexcept {
  std::size_t p = page_size();
  return (bytes + p - 1) / p * p;
}

StackMemory map_stack(std::size_t size, std::uintptr_t fixed_low, bool fallback) {
  const std::size_t guard = page_size();
  size = round_to_pages(size ? size : page_size());
  const std::size_t total = size + guard;
  void* hint = fixed_low ? reinterpret_cast<void*>(fixed_low - guard) : nullptr;
  int flags = MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK;
  void* p = MAP_FAILED;
  if (hint) p = mmap(hint, total, PROT_READ | PROT_WRITE, flags | MAP_FIXED_NOREPLACE, -1, 0);
  if (p != MAP_FAILED && hint && p != hint) {  // old kernels ignore MAP_FIXED_NOREPLACE
    munmap(p, total);
    p = MAP_FAILED;
    errno = EEXIST;
  }
  if (p == MAP_FAILED && hint && !fallback) {
    char where[64];
    std::snprintf(where, sizeof where, "%#llx..%#llx", static_cast<unsigned long long>(fixed_low - guard),
                  static_cast<unsigned long long>(fixed_low + size));
    throw std::runtime_error(std::string("cannot map a stack at the fixed address range ") + where + ": " +
                             std::strerror(errno) + " (choose another base address)");
  }
  if (p == MAP_FAILED) p = mmap(nullptr, total, PROT_READ | PROT_WRITE, flags, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  if (mprotect(p, guard, PROT_NONE) != 0) {
    munmap(p, total);
    throw std::bad_alloc();
  }
  // Fresh pages, but the address range may have been a stack before (a thread's):
  // AddressSanitizer's shadow must not keep that stack's redzones.
  STASIS_UNPOISON(static_cast<char*>(p) + guard, size);
  return StackMemory{static_cast<char*>(p) + guard, size, guard};
}

void unmap_stack(const StackMemory& s) noexcept {
  if (s.low) munmap(s.low - s.guard, s.size + s.guard);
}

StackPool::~StackPool() {
  for (const StackMemory& s : free_) unmap_stack(s);
}

StackMemory StackPool::take(std::size_t size) {
  size = round_to_pages(size);
  for (std::size_t i = free_.size(); i-- > 0;) {
    if (free_[i].size == size) {
      StackMemory s = free_[i];
      free_[i] = free_.back();
      free_.pop_back();
      STASIS_UNPOISON(s.low, s.size);  // the last tasklet's frames ended without returning
      return s;
    }
  }
  return map_stack(size);
}

void StackPool::give_back(const StackMemory& s) noexcept {
  if (free_.size() >= max_cached_) {
    unmap_stack(s);
    return;
  }
  try {
    free_.push_back(s);
  } catch (...) {
    unmap_stack(s);
  }
}

}  // namespace stasis::arch
