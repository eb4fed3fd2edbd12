// stasis/native_image.h — a suspended native tasklet as memory, for stasis::persist.
//
// Native persistence (docs/native-persistence.md) writes a native tasklet as the
// bytes of its live stack, the bytes of its callable, and where both lived; it
// restores it by putting the same bytes back at the same stack addresses (the
// thread's sliced-stack region sits at a fixed address) and making a new frame
// object around a copy of the callable. Words that pointed at runtime objects (the
// frame, its tasklet, channels, the scheduler) are patched by the caller through
// the pointers restore_native_frame returns.
//
// Only sliced tasklets have stacks that can be put back at their addresses;
// dedicated stacks are refused by the caller (native_image says which kind).
// Everything here runs outside Scheduler::run(), on the tasklet's thread.
#ifndef STASIS_NATIVE_IMAGE_H_
#define STASIS_NATIVE_IMAGE_H_

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "stasis/frame.h"
#include "stasis/tasklet.h"

namespace stasis::detail {

// A native tasklet's state, read in place. Valid until the scheduler runs again.
struct NativeImage {
  bool sliced = false;
  bool started = false;            // false: it has no stack yet (it runs its callable from the start)
  bool exception_in_flight = false;  // suspended inside a catch handler or while unwinding
  std::uintptr_t context = 0;      // the saved context pointer: its lowest live stack byte (started only)
  std::uintptr_t stack_high = 0;   // one past its highest stack byte
  std::span<const std::byte> stack;  // [context, stack_high) as it is now (in the region or its slice)
  std::uintptr_t frame = 0;        // the frame object [frame, frame + frame_size), callable included
  std::size_t frame_size = 0;
  std::uintptr_t callable = 0;     // the callable's bytes, inside the frame
  std::span<const std::byte> callable_bytes;
  const void* callable_ops = nullptr;  // how to run/destroy the callable (static data of the program)
  void* share = nullptr;           // its arena share (tasklet-scoped allocation), or null
};

// The image of native tasklet `t` (t->native(), not running).
NativeImage native_image(const Tasklet& t);

// The calling thread's native state object [address, address + size) (words on a
// native stack may point into it) and its sliced-stack region [low, high) (0, 0
// before the thread's first sliced tasklet).
struct NativeThreadImage {
  std::uintptr_t address = 0;
  std::size_t size = 0;
  std::uintptr_t region_low = 0;
  std::uintptr_t region_high = 0;
};
NativeThreadImage native_thread_image();

// The runtime's own thread-local variables on the calling thread, [address,
// address + size) each: the scheduler, channel list, native state, current arena
// share, running stack guard and saved exception state. Compiled code may keep
// the address of one in a callee-saved register across a switch (aarch64 does);
// such a word means "this thread's instance", and is re-aimed at the restoring
// thread's instance.
struct ThreadLocalRange {
  std::uintptr_t address = 0;
  std::size_t size = 0;
};
std::vector<ThreadLocalRange> runtime_thread_locals();

// What restore_native_frame rebuilds a sliced tasklet from.
struct NativeRestore {
  bool started = false;
  std::uintptr_t context = 0;      // as NativeImage (started only)
  std::uintptr_t region_low = 0;   // the writer's region; this thread's must be the same
  std::uintptr_t region_high = 0;
  std::span<const std::byte> stack;  // [context, region_high)
  std::span<const std::byte> callable_bytes;
  const void* callable_ops = nullptr;
  void* share = nullptr;
};

// A restored frame: the caller patches pointer words in `stack` (which holds the
// stack's bytes until the tasklet first runs; word k sits at context + k*8) and in
// `callable`, then gives the frame to a new Tasklet and calls attach_native().
struct RestoredNative {
  FrameBase* frame = nullptr;
  std::byte* stack = nullptr;
  std::byte* callable = nullptr;
  std::uintptr_t frame_address = 0;
};

// Checks that this thread can host the stack (maps its region at the writer's
// address if it has none yet): SchedulerError naming both regions otherwise.
void prepare_native_region(std::uintptr_t region_low, std::uintptr_t region_high);

// Makes the frame of a restored sliced tasklet (prepare_native_region first).
// The callable is taken over as raw bytes: only for a snapshot of this very build.
RestoredNative restore_native_frame(const NativeRestore& r);

// Binds a restored native frame to its new tasklet (whose only frame it is).
void attach_native(Tasklet& t, FrameBase* frame) noexcept;

// Marks native tasklet t as moved elsewhere (a migration committed at its
// target): when it is killed next, none of its code runs — no unwinding, no
// destructors, not even the callable's — and its arena share is released whole,
// since its objects now live in the other process. Native tasklets only.
void abandon_native(Tasklet& t) noexcept;

// Frees a restored frame that was never given to a tasklet (a failed thaw). Its
// callable is not destroyed: it was never constructed in this process.
void discard_restored_native(FrameBase* frame) noexcept;

}  // namespace stasis::detail

#endif  // STASIS_NATIVE_IMAGE_H_
