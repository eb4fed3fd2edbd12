// stasis/arch/slice.h — stack slices: the heap copy of a sliced tasklet's stack.
//
// Sliced tasklets share one stack region (a StackMemory at a fixed address). A
// tasklet switched out at stack pointer `sp` owns the bytes [sp, region high);
// save() copies them to its Slice, restore() copies them back to the same
// addresses, so pointers into the stack (frame pointers, addresses of locals)
// stay valid. Under AddressSanitizer the region's shadow is cleared first: the
// redzones of one tasklet's frames must not be checked against another's bytes.
//
// From 1 KiB of live bytes on, they sit in the heap buffer at the same offset
// modulo 64 (a cache line) as in the region: copies between addresses that are
// misaligned to each other run much slower (glibc's memcpy, 8 KiB: ~190 ns for a
// save + restore pair co-aligned, ~380 ns not), so such a buffer has 48 spare
// bytes and starts up to 48 bytes before its live bytes (a stack pointer is
// 16-aligned). Smaller stacks copy as fast either way and keep exact buffers.
//
// Invariants: a Slice's `size` is the number of live bytes it holds (region high
// minus its saved stack pointer); `bytes` points at them, lead() bytes into an
// allocation of room() bytes, which is at most about a quarter (plus the spare
// bytes) bigger than the live bytes (parked cost = live bytes + a little).
#ifndef STASIS_ARCH_SLICE_H_
#define STASIS_ARCH_SLICE_H_

#include <cstddef>
#include <cstdint>

namespace stasis::arch {

struct Slice {
  char* bytes = nullptr;     // the live bytes (inside the allocation)
  std::uint32_t size = 0;    // live bytes held
  std::uint32_t layout = 0;  // allocated bytes (a multiple of 16) | lead / 16

  // Bytes of the allocation before `bytes` (0, 16, 32 or 48), and its size.
  std::size_t lead() const noexcept { return (layout & 15u) * 16; }
  std::size_t room() const noexcept { return layout & ~std::uint32_t{15}; }

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
// Sets `slice` to a copy of [from, from + n), bytes that restore_slice will put
// at [high - n, high) (creation clones the initial stub; thaw loads a stack).
void copy_into_slice(Slice& slice, const char* from, std::size_t n, const char* high);

}  // namespace stasis::arch

#endif  // STASIS_ARCH_SLICE_H_
