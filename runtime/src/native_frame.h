// native_frame.h — the root frame of a native tasklet and the per-thread state
// of native execution (internal to runtime/).
//
// A native tasklet is a tasklet whose only frame is a NativeFrameBase: running
// that frame switches to the tasklet's C stack until the native code blocks,
// yields or ends, so the scheduler loop treats native and soft tasklets alike.
//
// Invariants (per thread):
//   - the running context is the thread's own stack or exactly one native frame
//     (NativeThread::running);
//   - the shared region holds the live stack of at most one sliced frame (owner);
//     every other suspended sliced frame has its live bytes in its slice;
//   - a sliced frame is only ever resumed from a context off the region (the
//     thread stack or a dedicated stack), so the copies never overwrite the code
//     doing them: a sliced frame that resumes another sliced frame asks its own
//     resumer to do it (NativeThread::request: at most one is pending, because
//     the asking frame switches to its resumer at once);
//   - whoever switches to a sliced frame first makes it the region's owner.
#ifndef STASIS_RUNTIME_NATIVE_FRAME_H_
#define STASIS_RUNTIME_NATIVE_FRAME_H_

#include <cstddef>
#include <cstdint>

#include "stasis/arch/context.h"
#include "stasis/arch/overflow.h"
#include "stasis/arch/slice.h"
#include "stasis/arch/stack.h"
#include "stasis/frame.h"
#include "stasis/native.h"

namespace stasis::detail {

// A dedicated stack; the record lives at the top of the stack memory itself.
struct DedicatedStack {
  arch::GuardInfo guard;  // guard.stack: the mapping
};

class NativeFrameBase : public FrameBase {
 public:
  NativeFrameBase(std::uint32_t total_size, bool sliced, const CallableOps* ops) noexcept;

  bool sliced() const noexcept { return sliced_; }
  void* callable() noexcept;

  arch::Context ctx;
  arch::Slice slice;                   // sliced: live bytes while out of the region
  Tasklet* tasklet = nullptr;
  NativeFrameBase* resumer = nullptr;  // who resumed it (null: the thread stack)
  const CallableOps* callable_ops;
  std::uint32_t total_size;
  bool sliced_;
  bool started = false;
  bool finished = false;
  bool dying = false;  // being killed: may not block again
};

// A dedicated frame's stack record: at the top of its stack, right above the
// part make_context was given.
inline DedicatedStack* stack_of(const NativeFrameBase* f) noexcept {
  return reinterpret_cast<DedicatedStack*>(f->ctx.stack_low + f->ctx.stack_size);
}

// The callable is stored right after the frame, in the same allocation.
inline constexpr std::size_t kCallableOffset = (sizeof(NativeFrameBase) + 15) & ~std::size_t{15};
inline void* NativeFrameBase::callable() noexcept { return reinterpret_cast<char*>(this) + kCallableOffset; }

struct NativeThread;
// The calling thread's native state (created on first use).
NativeThread& native_thread();

// Frees the calling thread's native state if no native frame is left (called when
// its scheduler goes away).
void release_native_thread() noexcept;

// The scheduler loop's resume of native tasklet t, from the thread's own stack.
// Returns the tasklet whose context switched back to the loop (t, or another
// native tasklet t switched to directly).
Tasklet* resume_from_loop(Tasklet& t);

// Runs `f` until it suspends or finishes. Any context may call it.
void resume_native(NativeThread& nt, NativeFrameBase* f);
// After f switched back asking its resumer (the running context, off the region)
// to run another sliced frame (nt.request): runs that one, then f again, until f
// asks no more.
void serve_requests(NativeThread& nt, NativeFrameBase* f);

}  // namespace stasis::detail

#endif  // STASIS_RUNTIME_NATIVE_FRAME_H_
