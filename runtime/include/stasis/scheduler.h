// stasis/scheduler.h — one cooperative scheduler per thread.
//
// The scheduler owns the run queue (32 priority levels, FIFO within a level), the
// list of blocked tasklets, the timer heap and the switch hooks. Soft tasklets run
// inside run(): the loop calls the top frame's run() until it suspends, then picks
// the next tasklet. A native tasklet's only frame switches to its C stack when run
// (stasis/native.h), so the loop treats both kinds alike.
//
// Invariants:
//   - every alive tasklet is in exactly one of: a run-queue level, a channel's wait
//     queue (blocked in send/receive: counted in channel_blocked_, found through the
//     thread's channel registry), the blocked list (select, sleep, switch), the
//     paused list, or `current_`; the scheduler holds one reference to each;
//   - bit i of nonempty_ is set iff level i has a tasklet;
//   - run() is not re-entrant: calling it while running raises SchedulerError;
//   - when run() throws (Deadlock, an unhandled tasklet error) every tasklet stays
//     where it was and run() may be called again.
#ifndef STASIS_SCHEDULER_H_
#define STASIS_SCHEDULER_H_

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "stasis/tasklet.h"

namespace stasis {

struct SpawnOptions {
  std::string name;
  int priority = 0;
};

// Called between two tasklets: prev stopped running (null when run() starts), next
// is about to run (null when run() returns). Hooks must not block or run the
// scheduler; they may read tasklet state.
using SwitchHook = std::function<void(Tasklet* prev, Tasklet* next)>;
using HookId = std::uint64_t;

// The scheduler's view of an event loop. stasis::io installs one over Boost.Asio;
// the run loop polls it between tasklets and, when nothing is runnable while
// tasklets are parked in WaitKind::kIo, waits on it instead of sleeping.
class IoDriver {
 public:
  virtual ~IoDriver() = default;
  // Runs the completion handlers that are ready, without blocking.
  virtual void poll() = 0;
  // Blocks until at least one handler ran or `deadline` passed.
  virtual void wait_until(std::chrono::steady_clock::time_point deadline) = 0;
};

class Scheduler;
namespace detail {
// The calling thread's scheduler (null if none).
inline thread_local Scheduler* tls_scheduler = nullptr;
}  // namespace detail

class Scheduler {
 public:
  using Clock = std::chrono::steady_clock;

  // Installs this scheduler as the calling thread's scheduler. Throws
  // SchedulerError if the thread already has one.
  Scheduler();
  // Kills every tasklet still alive (frames unwound) and uninstalls itself.
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // The calling thread's scheduler; creates a thread-owned one if none exists.
  static Scheduler& current() {
    if (Scheduler* s = detail::tls_scheduler) [[likely]] return *s;
    return create_current();
  }
  static Scheduler* current_or_null() noexcept { return detail::tls_scheduler; }

  // Creates a runnable tasklet whose root frame is `frame` (a soft frame value,
  // e.g. `Producer{.out = &ch}`), at the back of its priority level.
  template <class F>
  TaskletRef spawn(F&& frame, SpawnOptions options = {}) {
    using Frame = std::remove_cvref_t<F>;
    static_assert(std::is_base_of_v<FrameBase, Frame>, "spawn() takes a soft frame (derived from stasis::Frame<T>)");
    return spawn_frame(new Frame(std::forward<F>(frame)), std::move(options));
  }
  // Same, taking ownership of a heap frame.
  TaskletRef spawn_frame(FrameBase* root, SpawnOptions options = {});

  // Runs tasklets until none is runnable and no timer is pending. Throws Deadlock
  // if tasklets are still blocked then, UnhandledTaskletError if a tasklet nobody
  // holds a reference to ended with an exception, SchedulerError if re-entered.
  void run();

  // Watchdog run (Stackless' run(timeout)): runs at most `step_budget` frame steps.
  // If the budget runs out, the running tasklet is interrupted at its next step
  // boundary (a call, STASIS_POLL), paused, and returned; if it runs out between
  // tasklets, the next runnable one is paused before its first step and returned.
  // insert() it to resume it where it stopped. Atomic tasklets are not interrupted.
  // Returns null when the scheduler went idle first (and throws like run()).
  TaskletRef run(std::uint64_t step_budget);

  // Runs until `done()` is true (checked whenever a tasklet suspends) or the
  // scheduler is idle. Used by Generator::next() outside tasklets.
  void run_until(const std::function<bool()>& done);

  // The running tasklet, or null outside run().
  Tasklet* current_tasklet() const noexcept { return current_; }
  bool running() const noexcept { return running_; }

  std::size_t runnable_count() const noexcept { return runnable_count_; }
  std::size_t blocked_count() const noexcept { return blocked_.count + channel_blocked_; }
  std::size_t alive_count() const noexcept { return alive_count_; }
  std::size_t pending_timers() const noexcept { return timers_.size(); }
  // Frame steps executed so far (each frame resume, each STASIS_POLL).
  std::uint64_t steps() const noexcept { return steps_; }
  // The blocked tasklets and what each waits on (what a Deadlock reports).
  std::vector<BlockedTasklet> blocked_tasklets() const;

  // Switch hooks ("quick monitors which run between tasklets"). With none
  // registered, the loop pays one predictable branch per switch.
  HookId add_switch_hook(SwitchHook hook);
  void remove_switch_hook(HookId id);

  // Installs the event loop the run loop drives (not owned; null removes it).
  // The driver must outlive its installation.
  void set_io_driver(IoDriver* driver) noexcept { io_driver_ = driver; }
  IoDriver* io_driver() const noexcept { return io_driver_; }
  // Tasklets parked in WaitKind::kIo.
  std::size_t io_waiting() const noexcept { return io_waiting_; }

  // Seeds the generator behind select's fair choice (deterministic by default).
  void seed(std::uint64_t seed) noexcept { rng_ = seed ? seed : 0x9E3779B97F4A7C15ull; }
  std::uint64_t next_random() noexcept;

  // --- Internal interface for channels, select, Ctx and Tasklet. ---
  // Puts an alive, not-running tasklet in the run queue (front or back of its level).
  void make_runnable(Tasklet* t, bool front);
  // Parks the running tasklet: state kBlocked waiting for `kind`.
  void block_current(WaitKind kind);
  // Takes a blocked tasklet off the blocked list (its waiters already removed);
  // the caller then calls make_runnable.
  void unblock(Tasklet* t) noexcept;
  // Makes `t` run next for a switch: it must be suspended in a switch, paused, or
  // new; TaskletStateError otherwise (finished, running, blocked on a channel,
  // or, when the switch brings a value, holding one it has not taken yet).
  void wake_for_switch(Tasklet* t, bool brings_value = true);
  // Blocks the running tasklet until `deadline`.
  void sleep_current_until(Clock::time_point deadline);
  // Detaches an alive, not-running tasklet from wherever it is (run queue, blocked
  // list with its channel waiters and timers, paused list).
  void detach(Tasklet* t) noexcept;
  // Moves a dead-to-be tasklet to its final state and drops the scheduler's ref.
  void end(Tasklet* t, TaskletState final_state) noexcept;
  // Throws CannotBlock/BlockTrap unless the running tasklet (if any) may block.
  Tasklet* blocking_actor(const char* what, const std::string& object) const;
  std::string_view name_of(const Tasklet* t) const noexcept;
  void set_name_of(Tasklet* t, std::string name);
  void pause(Tasklet* t);

 private:
  struct List {
    Tasklet* head = nullptr;
    Tasklet* tail = nullptr;
    std::size_t count = 0;
    void push_back(Tasklet* t) noexcept;
    void push_front(Tasklet* t) noexcept;
    void remove(Tasklet* t) noexcept;
    Tasklet* pop_front() noexcept;
  };
  struct Timer {
    Clock::time_point when;
    std::uint64_t seq;
    Tasklet* tasklet;  // referenced (add_ref) while in the heap
    bool operator>(const Timer& o) const noexcept { return when != o.when ? when > o.when : seq > o.seq; }
  };
  static constexpr int kLevels = kMaxPriority - kMinPriority + 1;

  static Scheduler& create_current();
  TaskletRef run_loop(std::uint64_t step_budget, const std::function<bool()>* done);
  // Runs t's frames until it suspends (true) or is preempted (false).
  bool run_soft(Tasklet* t);
  // Switches to native tasklet t until control comes back to the loop; t becomes
  // the tasklet that came back (native tasklets may switch directly to one
  // another meanwhile, see native.cc). Same result as run_soft.
  bool run_native(Tasklet*& t);
  // Unwinds t's frames after `e`; true if a catching frame takes it.
  bool unwind(Tasklet* t, std::exception_ptr e);
  Tasklet* pop_runnable() noexcept;
  void fire_due_timers(Clock::time_point now);
  void call_hooks(Tasklet* prev, Tasklet* next);
  void throw_pending_unhandled();
  void kill_all() noexcept;

  List levels_[kLevels];
  std::uint32_t nonempty_ = 0;
  std::size_t runnable_count_ = 0;
  List blocked_;                // blocked in select, sleep or switch
  std::size_t channel_blocked_ = 0;  // blocked in send/receive: found through the channels
  List paused_;
  std::size_t alive_count_ = 0;
  Tasklet* current_ = nullptr;
  bool running_ = false;
  std::uint64_t steps_ = 0;
  std::uint64_t budget_end_ = UINT64_MAX;
  std::uint64_t next_id_ = 1;
  std::uint64_t rng_ = 0x9E3779B97F4A7C15ull;
  std::vector<Timer> timers_;  // min-heap by (when, seq)
  std::uint64_t timer_seq_ = 0;
  std::uint32_t switches_since_timer_check_ = 0;
  IoDriver* io_driver_ = nullptr;
  std::size_t io_waiting_ = 0;
  std::uint32_t park_seq_ = 0;  // tickets of this_tasklet::park()
  // Native tasklets may switch directly to the next native tasklet instead of
  // through the loop: set while run() runs without switch hooks or a done().
  bool direct_switches_ = false;
  std::vector<std::pair<HookId, SwitchHook>> hooks_;
  HookId next_hook_id_ = 1;
  // Keyed by address, not id: ids restart with each scheduler, and a handle may
  // outlive its scheduler while a later one on the thread names its own tasklets.
  std::unordered_map<const Tasklet*, std::string> names_;
  std::deque<std::pair<std::uint64_t, std::exception_ptr>> unhandled_;
  TaskletRef hook_prev_;  // the last tasklet switched in, while switch hooks run

  friend class Ctx;
  friend struct detail::PersistAccess;
  friend struct detail::NativeAccess;
};

// --- Hot paths, inline: every switch goes through them. ---

inline void Scheduler::List::push_back(Tasklet* t) noexcept {
  t->link_next_ = nullptr;
  t->link_prev_ = tail;
  if (tail) tail->link_next_ = t; else head = t;
  tail = t;
  ++count;
}

inline void Scheduler::List::push_front(Tasklet* t) noexcept {
  t->link_prev_ = nullptr;
  t->link_next_ = head;
  if (head) head->link_prev_ = t; else tail = t;
  head = t;
  ++count;
}

inline void Scheduler::List::remove(Tasklet* t) noexcept {
  if (t->link_prev_) t->link_prev_->link_next_ = t->link_next_; else head = t->link_next_;
  if (t->link_next_) t->link_next_->link_prev_ = t->link_prev_; else tail = t->link_prev_;
  t->link_prev_ = t->link_next_ = nullptr;
  --count;
}

inline Tasklet* Scheduler::List::pop_front() noexcept {
  Tasklet* t = head;
  if (!t) return nullptr;
  head = t->link_next_;  // the head's link_prev_ is already null
  if (head) head->link_prev_ = nullptr; else tail = nullptr;
  t->link_next_ = nullptr;
  --count;
  return t;
}

inline void Scheduler::make_runnable(Tasklet* t, bool front) {
  int level = t->priority_ - kMinPriority;
  t->state_ = TaskletState::kRunnable;
  if (front) levels_[level].push_front(t); else levels_[level].push_back(t);
  nonempty_ |= 1u << level;
  ++runnable_count_;
}

inline Tasklet* Scheduler::pop_runnable() noexcept {
  if (!nonempty_) return nullptr;
  int level = 31 - __builtin_clz(nonempty_);
  Tasklet* t = levels_[level].pop_front();
  if (Tasklet* next = levels_[level].head) {
    // Long queues outgrow the caches: start loading the next tasklet's header
    // while this one runs.
    __builtin_prefetch(next);
    __builtin_prefetch(reinterpret_cast<char*>(next) + 64);
  } else {
    nonempty_ &= ~(1u << level);
  }
  --runnable_count_;
  return t;
}

inline void Scheduler::block_current(WaitKind kind) {
  Tasklet* t = current_;
  t->state_ = TaskletState::kBlocked;
  t->wait_ = kind;
  // A tasklet blocked in send/receive is already queued on its channel; the
  // channel registry finds it for reports, so the hot path skips the list.
  if (kind == WaitKind::kSend || kind == WaitKind::kReceive) {
    ++channel_blocked_;
  } else {
    blocked_.push_back(t);
    if (kind == WaitKind::kIo) ++io_waiting_;
  }
}

inline void Scheduler::unblock(Tasklet* t) noexcept {
  if (t->wait_ == WaitKind::kSend || t->wait_ == WaitKind::kReceive) {
    --channel_blocked_;
  } else {
    blocked_.remove(t);
    if (t->wait_ == WaitKind::kIo) --io_waiting_;
  }
  t->wait_ = WaitKind::kNone;
  t->state_ = TaskletState::kPaused;
}

}  // namespace stasis

#endif  // STASIS_SCHEDULER_H_
