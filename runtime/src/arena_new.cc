// arena_new.cc — the replaceable global operator new and delete (every form:
// plain, array, nothrow, aligned, sized) for programs that opt in to
// tasklet-scoped allocation by linking stasis::arena_new.
//
// new: from arena::current_share() when one is set on the calling thread, else
// from malloc (posix_memalign for the aligned forms), with the standard
// new_handler loop on failure. delete: a pointer inside the arena goes back to its
// share (whichever share is current, if any), any other to free(). So blocks may
// be freed outside the scope that made them, on the share's thread.
//
// malloc, free and the rest of the C allocator are deliberately not redirected:
// see docs/arena.md.
#include <cstddef>
#include <cstdlib>
#include <new>

#include "stasis/arena.h"

namespace {

namespace arena = stasis::arena;

// After a failed allocation: calls the new_handler and returns true (try again),
// or returns false when there is none (the caller throws std::bad_alloc).
bool handle_failure() {
  std::new_handler h = std::get_new_handler();
  if (!h) return false;
  h();
  return true;
}

void* new_impl(std::size_t n, std::size_t align) {
  if (n == 0) n = 1;
  for (;;) {
    if (arena::Share* s = arena::current_share()) {
      try {
        return arena::allocate(s, n, align);
      } catch (const std::bad_alloc&) {
        if (!std::get_new_handler()) throw;
      }
    } else {
      void* p = nullptr;
      if (align <= alignof(std::max_align_t)) {
        p = std::malloc(n);
      } else if (posix_memalign(&p, align, n) != 0) {
        p = nullptr;
      }
      if (p) return p;
    }
    if (!handle_failure()) throw std::bad_alloc();
  }
}

void* new_nothrow(std::size_t n, std::size_t align) noexcept {
  try {
    return new_impl(n, align);
  } catch (...) {
    return nullptr;
  }
}

inline void delete_impl(void* p) noexcept {
  if (arena::contains(p)) {
    arena::deallocate(p);
  } else {
    std::free(p);
  }
}

constexpr std::size_t kPlain = alignof(std::max_align_t);

}  // namespace

void* operator new(std::size_t n) { return new_impl(n, kPlain); }
void* operator new[](std::size_t n) { return new_impl(n, kPlain); }
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return new_nothrow(n, kPlain); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return new_nothrow(n, kPlain); }
void* operator new(std::size_t n, std::align_val_t a) { return new_impl(n, static_cast<std::size_t>(a)); }
void* operator new[](std::size_t n, std::align_val_t a) { return new_impl(n, static_cast<std::size_t>(a)); }
void* operator new(std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return new_nothrow(n, static_cast<std::size_t>(a));
}
void* operator new[](std::size_t n, std::align_val_t a, const std::nothrow_t&) noexcept {
  return new_nothrow(n, static_cast<std::size_t>(a));
}

void operator delete(void* p) noexcept { delete_impl(p); }
void operator delete[](void* p) noexcept { delete_impl(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { delete_impl(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { delete_impl(p); }
void operator delete(void* p, std::size_t) noexcept { delete_impl(p); }
void operator delete[](void* p, std::size_t) noexcept { delete_impl(p); }
void operator delete(void* p, std::align_val_t) noexcept { delete_impl(p); }
void operator delete[](void* p, std::align_val_t) noexcept { delete_impl(p); }
void operator delete(void* p, std::align_val_t, const std::nothrow_t&) noexcept { delete_impl(p); }
void operator delete[](void* p, std::align_val_t, const std::nothrow_t&) noexcept { delete_impl(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { delete_impl(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { delete_impl(p); }
