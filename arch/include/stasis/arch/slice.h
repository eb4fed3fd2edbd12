// stasis/arch/slice.h — stack slices: the heap copy of a sliced tasklet's stack.
//
// Sliced tasklets share one stack region (a StackMemory at a fixed address). A
// tasklet switched out at stack pointer `sp` owns the bytes [sp, region high);
// save() copies them to its Slice, restore() copies them back to the same
// addresses, so pointers into the stack (frame pointers, addresses of locals)
// stay valid. Under AddressSanitizer the region's shadow is cleared first: the
// redzones of one tasklet's frames must not be checked against another's bytes.
//
// Invariant: a Slice's `size` is the number of live bytes it holds (region high
// minus its saved stack pointer); its buffer is exactly that big (parked cost =
// live bytes).
#ifndef STASIS_ARCH_SLICE_H_
#define STASIS_ARCH_SLICE_H_

#include <cstddef>
#include <cstdint>

namespace stasis::arch {

struct Slice {
  char* bytes = nullptr;
  std::uint32_t size = 0;      // live bytes held
  std::uint32_t capacity = 0;  // allocated bytes

  Slice() = default;
  Slice(const Slice&) = delete;
  Slice& operator=(const Slice&) = delete;
  ~Slice();
  void release() noexcept;
};

// Copies [sp, high) into `slice`, growing its buffer if needed (std::bad_alloc).
void save_slice(Slice& slice, const char* sp, const char* high);
// Copies `slice` back to [high - slice.size, high).
void restore_slice(const Slice& slice, char* high) noexcept;
// Sets `slice` to a copy of [low, low + n) (creation clones the initial stub).
void copy_into_slice(Slice& slice, const char* low, std::size_t n);

}  // namespace stasis::arch

#endif  // STASIS_ARCH_SLICE_H_
