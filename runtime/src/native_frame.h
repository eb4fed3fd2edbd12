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
#include "stasis/scheduler.h"

namespace stasis::detail {

// Runtime internals the native implementation reads and writes.
struct NativeAccess {
  static std::exception_ptr& exc(Tasklet& t) noexcept { return t.exc_; }
  static std::any& slot(Tasklet& t) noexcept { return t.slot_; }
  static TaskletState& state(Tasklet& t) noexcept { return t.state_; }
  static void mark_native(Tasklet& t) noexcept { t.flags_ |= Tasklet::kNative; }
  static Waiter& waiter(Tasklet& t) noexcept { return t.waiter_; }
  static WaitKind wait(const Tasklet& t) noexcept { return t.wait_; }
  static Tasklet*& current(Scheduler& s) noexcept { return s.current_; }
  static bool budget_spent(Scheduler& s, const Tasklet& t) noexcept {
    ++s.steps_;
    return s.steps_ >= s.budget_end_ && !t.atomic();
  }
  static std::uint32_t& park_seq(Scheduler& s) noexcept { return s.park_seq_; }
  static FrameBase* top(Tasklet& t) noexcept { return t.top_; }

  // True when the loop, were `self` to return to it now, would only pick the next
  // tasklet: direct switches are on (no hooks, no done()), self is the running
  // tasklet, no failure is unhandled, no timer or I/O check is due and budget is
  // left for one more step.
  static bool loop_has_nothing_to_do(const Scheduler& s, const Tasklet& self) noexcept {
    if (!s.direct_switches_ || s.current_ != &self || !s.unhandled_.empty()) return false;
    if ((!s.timers_.empty() || s.io_waiting_) && s.switches_since_timer_check_ + 1 >= 64) return false;
    return s.steps_ + 1 < s.budget_end_;
  }

  // The direct switch: when the running native tasklet `self` (run by the loop)
  // suspends, and the loop would do nothing but pick the next tasklet — no hooks,
  // no done(), no timer or I/O check due, budget left, no unhandled failure — it
  // takes the next runnable tasklet itself if that one is native, doing the loop's
  // bookkeeping for it. Returns null when the loop has to decide (then self goes
  // back to the loop), or `self` when self is the next to run.
  static Tasklet* take_direct_successor(Scheduler& s, Tasklet& self) noexcept {
    if (!loop_has_nothing_to_do(s, self) || !s.nonempty_) return nullptr;
    const int level = 31 - __builtin_clz(s.nonempty_);
    Tasklet* n = s.levels_[level].head;
    if (!n->native()) return nullptr;
    ++s.switches_since_timer_check_;
    s.pop_runnable();
    ++s.steps_;
    s.current_ = n;
    n->state_ = TaskletState::kRunning;
    n->flags_ |= Tasklet::kStarted;
    return n;
  }

  // The direct targeted switch: when the running native tasklet `self` (run by
  // the loop) switches to `target`, a native tasklet waiting in a switch with no
  // value pending, and the loop would run target next anyway (nothing of a higher
  // priority is runnable; the same conditions as take_direct_successor), this
  // does the bookkeeping of wake_for_switch + block_current + the loop's pick in
  // one step — self blocked in kSwitch, target running — and returns true. False:
  // nothing changed, the general path decides (and raises the errors).
  static bool take_switch_target(Scheduler& s, Tasklet& self, Tasklet& target) noexcept {
    if (!loop_has_nothing_to_do(s, self)) return false;
    if (target.state_ != TaskletState::kBlocked || target.wait_ != WaitKind::kSwitch || !target.native() ||
        target.slot_.has_value() || self.block_trap()) {
      return false;
    }
    const int level = target.priority_ - kMinPriority;
    if (s.nonempty_ >> level >> 1) return false;  // a higher priority runs first
    s.blocked_.remove(&target);
    target.wait_ = WaitKind::kNone;
    self.state_ = TaskletState::kBlocked;
    self.wait_ = WaitKind::kSwitch;
    s.blocked_.push_back(&self);
    ++s.switches_since_timer_check_;
    ++s.steps_;
    s.current_ = &target;
    target.state_ = TaskletState::kRunning;
    return true;
  }
};

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
  void* share = nullptr;               // its arena share (tasklet-scoped allocation), or null
  std::uint32_t total_size;
  bool sliced_;
  bool started = false;
  bool finished = false;
  bool dying = false;  // being killed: may not block again
  bool abandoned = false;  // moved elsewhere (migration): ends without running any of its code
};

// A dedicated frame's stack record: at the top of its stack, right above the
// part make_context was given.
inline DedicatedStack* stack_of(const NativeFrameBase* f) noexcept {
  return reinterpret_cast<DedicatedStack*>(f->ctx.stack_low + f->ctx.stack_size);
}

// The callable is stored right after the frame, in the same allocation.
inline constexpr std::size_t kCallableOffset = (sizeof(NativeFrameBase) + 15) & ~std::size_t{15};
inline void* NativeFrameBase::callable() noexcept { return reinterpret_cast<char*>(this) + kCallableOffset; }

// A thread's native state: the running context, the shared region of sliced
// frames, the switcher and the pool of dedicated stacks.
struct NativeThread {
  arch::Context thread_ctx;              // the thread's own stack
  NativeFrameBase* running = nullptr;    // null: the thread's own stack runs
  std::size_t live_frames = 0;
  // The shared region of sliced frames, mapped at the first sliced spawn.
  SliceRegionOptions region_options;
  arch::StackMemory region;
  arch::GuardInfo region_guard;
  arch::Slice stub;                      // a new sliced frame's initial stack
  void* stub_fctx = nullptr;
  NativeFrameBase* owner = nullptr;      // whose live stack is in the region
  NativeFrameBase* request = nullptr;    // a sliced frame a sliced frame asked its resumer to run
  // The switcher: a small context off the region that moves the running sliced
  // frame out of the region and `switch_in` into it, then runs that one (a direct
  // switch between two sliced frames, which neither can do on its own stack).
  arch::Context switcher;
  arch::StackMemory switcher_stack;
  NativeFrameBase* switch_in = nullptr;
  arch::StackPool pool;

  ~NativeThread() {
    arch::unmap_stack(region);
    arch::unmap_stack(switcher_stack);
  }
};

// The calling thread's native state (created on first use).
NativeThread& native_thread();
// The thread-local variable that holds it (for native_image's list of them).
NativeThread*& native_thread_slot() noexcept;
// Maps nt's region (at its configured or default address) and makes the stub, if
// not done yet.
void ensure_region(NativeThread& nt);

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
