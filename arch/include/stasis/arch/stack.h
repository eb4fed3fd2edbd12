// stasis/arch/stack.h — guarded stack memory: dedicated tasklet stacks (pooled)
// and the shared region of sliced tasklets.
//
// Layout of every stack: [guard | usable], the guard (PROT_NONE, at least one
// page) below the usable part, because stacks grow down: running off the end
// faults in the guard instead of corrupting the neighbour.
//
// Invariants: `low` is page aligned; `size` and `guard` are multiples of the page
// size; a StackPool only hands out stacks of exactly the size asked for.
#ifndef STASIS_ARCH_STACK_H_
#define STASIS_ARCH_STACK_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace stasis::arch {

std::size_t page_size() noexcept;
// Rounds up to whole pages.
std::size_t round_to_pages(std::size_t bytes) noexcept;

struct StackMemory {
  char* low = nullptr;      // lowest usable byte
  std::size_t size = 0;     // usable bytes
  std::size_t guard = 0;    // guard bytes just below `low`
  char* high() const noexcept { return low + size; }
  bool contains(const void* p) const noexcept {
    auto a = reinterpret_cast<std::uintptr_t>(p);
    return a >= reinterpret_cast<std::uintptr_t>(low) && a < reinterpret_cast<std::uintptr_t>(high());
  }
  bool in_guard(const void* p) const noexcept {
    auto a = reinterpret_cast<std::uintptr_t>(p);
    return a >= reinterpret_cast<std::uintptr_t>(low) - guard && a < reinterpret_cast<std::uintptr_t>(low);
  }
};

// Maps a guarded stack of `size` usable bytes (rounded up to pages). With a
// nonzero `fixed_low` the usable part starts exactly there (MAP_FIXED_NOREPLACE);
// if that range is taken and `fallback` is set, anywhere. Throws std::bad_alloc
// when the kernel refuses, std::runtime_error when a fixed address is in use and
// there is no fallback.
StackMemory map_stack(std::size_t size, std::uintptr_t fixed_low = 0, bool fallback = true);
void unmap_stack(const StackMemory& s) noexcept;

// A per-thread cache of dedicated stacks: at most `max_cached` freed stacks are
// kept (with their touched pages) for reuse; the rest are unmapped.
class StackPool {
 public:
  explicit StackPool(std::size_t max_cached = 64) : max_cached_(max_cached) {}
  ~StackPool();
  StackPool(const StackPool&) = delete;
  StackPool& operator=(const StackPool&) = delete;

  // A stack of `size` usable bytes (rounded up to pages).
  StackMemory take(std::size_t size);
  // Returns a stack taken from this pool.
  void give_back(const StackMemory& s) noexcept;
  std::size_t cached() const noexcept { return free_.size(); }

 private:
  std::size_t max_cached_;
  std::vector<StackMemory> free_;
};

}  // namespace stasis::arch

#endif  // STASIS_ARCH_STACK_H_
