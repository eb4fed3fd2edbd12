// stasis/tasklet.h — a tasklet: one cooperatively scheduled microthread.
//
// A soft tasklet is its chain of heap frames plus this small header; switching is a
// return to the scheduler loop. Tasklets are reference counted: the scheduler holds
// a reference while the tasklet is alive, users hold TaskletRef handles for as long
// as they want to look at it (state, result, exception).
//
// Invariants:
//   - an alive tasklet is in exactly one place: the run queue (runnable/new), a
//     channel's wait queue or the scheduler's blocked list (blocked), the paused
//     list (paused), or running;
//   - a blocked tasklet's embedded waiter is queued on `waiting_on()` iff it waits
//     on a single channel; a select keeps its waiters in the Select object;
//   - a tasklet belongs to the scheduler of the thread that spawned it and must
//     only be touched from that thread.
#ifndef STASIS_TASKLET_H_
#define STASIS_TASKLET_H_

#include <any>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "stasis/error.h"
#include "stasis/frame.h"
#include "stasis/waiter.h"

namespace stasis {

class Scheduler;
class Ctx;
namespace detail {
// Switches the running native tasklet out after it parked or requeued itself;
// returns when it runs again, raising there a pending exception (a throw, a
// kill, a destroyed channel). Defined in native.cc.
void native_suspend(Tasklet& self);
}  // namespace detail

enum class TaskletState : std::uint8_t {
  kNew,       // spawned, has not run yet
  kRunnable,  // in the run queue
  kRunning,   // the scheduler is executing it
  kBlocked,   // waiting on a channel, a select, a timer or a switch
  kPaused,    // alive but neither runnable nor blocked (removed, or preempted by run(budget))
  kFinished,  // ran to the end, with a result or an exception
  kKilled,    // ended by kill() / TaskletExit
};
const char* to_string(TaskletState s) noexcept;

// kIo: a native tasklet parked by this_tasklet::park() until an I/O completion
// wakes it (stasis/native.h).
enum class WaitKind : std::uint8_t { kNone, kSend, kReceive, kSelect, kSleep, kSwitch, kIo };

inline constexpr int kMinPriority = -16;
inline constexpr int kMaxPriority = 15;

class Tasklet {
 public:
  Tasklet(const Tasklet&) = delete;
  Tasklet& operator=(const Tasklet&) = delete;

  std::uint64_t id() const noexcept { return id_; }
  std::string_view name() const noexcept;
  void set_name(std::string name);
  // "tasklet #7 'worker'" — how errors name this tasklet.
  std::string label() const;

  TaskletState state() const noexcept;
  bool alive() const noexcept { return state_ != TaskletState::kFinished && state_ != TaskletState::kKilled; }
  bool blocked() const noexcept { return state_ == TaskletState::kBlocked; }
  // A native tasklet (stasis/native.h): runs C++ on a C stack.
  bool native() const noexcept { return flags_ & kNative; }
  WaitKind wait_kind() const noexcept { return wait_; }
  // The channel a tasklet blocked in send/receive waits on, else null.
  const ChannelBase* waiting_on() const noexcept;
  // "receive on channel #3 'jobs'", "sleep", ... (empty when not blocked).
  std::string describe_wait() const;

  // Priority in [kMinPriority, kMaxPriority]; higher runs first, FIFO within one.
  int priority() const noexcept { return priority_; }
  void set_priority(int priority);

  // Atomic tasklets are never preempted by Scheduler::run(budget). Returns the old
  // value (Stackless' set_atomic).
  bool set_atomic(bool atomic) noexcept;
  bool atomic() const noexcept { return flags_ & kAtomic; }
  // With block_trap set, any attempt to block raises BlockTrap. Returns the old value.
  bool set_block_trap(bool trap) noexcept;
  bool block_trap() const noexcept { return flags_ & kBlockTrap; }

  // Frames, innermost first. Null for finished tasklets.
  const FrameBase* top_frame() const noexcept { return top_; }
  std::size_t frame_depth() const noexcept;

  // Ends the tasklet: its frames are unwound innermost first (destructors are the
  // cleanup), it leaves any channel it waits on (balance updated) and becomes
  // kKilled. Killing a finished tasklet does nothing. Killing the running tasklet
  // raises TaskletExit in it.
  void kill();

  // Raises `e` in the tasklet at its suspension point the next time it runs; a
  // blocked tasklet leaves its channel and becomes runnable at the front of its
  // priority. A new tasklet ends with `e` without running. Throws
  // TaskletStateError for a finished tasklet (Stackless: "cannot throw to a dead
  // tasklet"), except that TaskletExit to a dead tasklet is a no-op.
  void throw_exception(std::exception_ptr e);
  template <class E>
  void raise(E e) { throw_exception(std::make_exception_ptr(std::move(e))); }

  // Pauses a runnable tasklet (takes it out of the run queue) / makes a paused one
  // runnable again. TaskletStateError for blocked, running or dead tasklets.
  void remove();
  void insert();

  // After the tasklet finished: its result, or its exception rethrown.
  // TaskletStateError if it is still alive, was killed, or the type is wrong.
  template <class T>
  T result() const;
  void rethrow_if_failed() const;
  bool failed() const noexcept { return state_ == TaskletState::kFinished && exc_ != nullptr; }
  std::exception_ptr exception() const noexcept { return state_ == TaskletState::kFinished ? exc_ : nullptr; }

  // --- Reference counting (TaskletRef). ---
  void add_ref() noexcept { ++refs_; }
  void release() noexcept {
    if (--refs_ == 0) destroy();
  }
  std::uint32_t ref_count() const noexcept { return refs_; }

  static void* operator new(std::size_t size);
  static void operator delete(void* p, std::size_t size) noexcept;

 private:
  friend class Scheduler;
  friend class Ctx;
  friend class ChannelBase;
  friend class SelectBase;
  template <class T> friend class Channel;
  friend struct detail::PersistAccess;
  friend struct detail::NativeAccess;
  friend struct detail::NetAccess;

  static constexpr std::uint8_t kAtomic = 1;
  static constexpr std::uint8_t kBlockTrap = 2;
  static constexpr std::uint8_t kStarted = 4;
  static constexpr std::uint8_t kNamed = 8;  // name kept in the scheduler's side table
  static constexpr std::uint8_t kSlept = 16;  // has slept: timer-heap entries may reference it
  static constexpr std::uint8_t kNative = 32;  // its root frame is a native frame

  Tasklet(std::uint64_t id, FrameBase* root) noexcept : top_(root), id_(id) {}
  ~Tasklet();
  void destroy() noexcept;
  // Destroys all frames innermost first.
  void drop_frames() noexcept;
  // The tasklet whose embedded waiter_ is w (offsetof on a non-standard-layout
  // class: supported by GCC and Clang for classes without virtual bases).
  static Tasklet* from_waiter(Waiter* w) noexcept;
  [[noreturn]] void throw_result_error(const char* why) const;

  FrameBase* top_;
  Tasklet* link_prev_ = nullptr;  // run queue or blocked list
  Tasklet* link_next_ = nullptr;
  Waiter waiter_;                 // for single-channel waits; bits hold the timer seq while sleeping
  std::any slot_;                 // values in flight: received, switched in, returned
  std::exception_ptr exc_;        // pending exception, or the final one when finished
  std::uint64_t id_;
  SelectBase* select_ = nullptr;  // the select a kSelect wait is blocked in
  std::uint32_t refs_ = 0;
  TaskletState state_ = TaskletState::kRunnable;
  std::int8_t priority_ = 0;
  WaitKind wait_ = WaitKind::kNone;
  std::uint8_t flags_ = 0;
};

// Intrusive, reference-counting handle to a tasklet.
class TaskletRef {
 public:
  TaskletRef() noexcept = default;
  explicit TaskletRef(Tasklet* t) noexcept : t_(t) {
    if (t_) t_->add_ref();
  }
  TaskletRef(const TaskletRef& o) noexcept : TaskletRef(o.t_) {}
  TaskletRef(TaskletRef&& o) noexcept : t_(std::exchange(o.t_, nullptr)) {}
  TaskletRef& operator=(TaskletRef o) noexcept {
    std::swap(t_, o.t_);
    return *this;
  }
  ~TaskletRef() {
    if (t_) t_->release();
  }
  Tasklet* get() const noexcept { return t_; }
  Tasklet* operator->() const noexcept { return t_; }
  Tasklet& operator*() const noexcept { return *t_; }
  explicit operator bool() const noexcept { return t_ != nullptr; }
  bool operator==(const TaskletRef& o) const noexcept { return t_ == o.t_; }

 private:
  Tasklet* t_ = nullptr;
};

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winvalid-offsetof"
inline Tasklet* Tasklet::from_waiter(Waiter* w) noexcept {
  return reinterpret_cast<Tasklet*>(reinterpret_cast<char*>(w) - offsetof(Tasklet, waiter_));
}
#pragma GCC diagnostic pop

template <class T>
T Tasklet::result() const {
  if (state_ == TaskletState::kKilled) throw_result_error("was killed and has no result");
  if (state_ != TaskletState::kFinished) throw_result_error("has not finished yet; run the scheduler first");
  if (exc_) std::rethrow_exception(exc_);
  if constexpr (std::is_void_v<T>) {
    return;
  } else {
    const T* v = std::any_cast<T>(&slot_);
    if (!v) throw_result_error(slot_.has_value() ? "returned a value of another type" : "returned no value");
    return *v;
  }
}

}  // namespace stasis

#endif  // STASIS_TASKLET_H_
