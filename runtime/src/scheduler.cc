// scheduler.cc — the run loop, the run queue, timers and tasklet bookkeeping.
#include "stasis/scheduler.h"

#include <algorithm>
#include <memory>
#include <thread>

#include "exception_kind.h"
#include "native_frame.h"
#include "stasis/channel.h"
#include "stasis/ctx.h"
#include "stasis/select.h"

namespace stasis {
namespace {

thread_local std::unique_ptr<Scheduler> tls_owned_scheduler;

}  // namespace

// --- Construction. ---

Scheduler::Scheduler() {
  if (detail::tls_scheduler) {
    throw SchedulerError("this thread already has a scheduler; use Scheduler::current() (one scheduler per thread)");
  }
  detail::tls_scheduler = this;
}

Scheduler::~Scheduler() {
  kill_all();
  detail::release_native_thread();
  if (detail::tls_scheduler == this) detail::tls_scheduler = nullptr;
}

Scheduler& Scheduler::create_current() {
  tls_owned_scheduler = std::make_unique<Scheduler>();
  return *detail::tls_scheduler;
}

void Scheduler::kill_all() noexcept {
  for (Timer& tm : timers_) tm.tasklet->release();
  timers_.clear();
  // Killing runs frame destructors, and those may destroy channels (waking their
  // waiters into the run queue) or tasklets. So each pass first takes references
  // to everything alive, then kills; passes repeat until nothing is left.
  for (;;) {
    std::vector<TaskletRef> victims;
    auto take = [&](const List& l) {
      for (Tasklet* t = l.head; t; t = t->link_next_) victims.emplace_back(t);
    };
    for (const List& l : levels_) take(l);
    take(blocked_);
    take(paused_);
    if (channel_blocked_ > 0) {
      for (ChannelBase* c = ChannelBase::first_on_thread(); c; c = c->next_on_thread()) {
        for (Tasklet* t : c->plain_waiters()) victims.emplace_back(t);
      }
    }
    if (victims.empty()) break;
    for (TaskletRef& t : victims) t->kill();
  }
}

// --- Spawning and queues. ---

TaskletRef Scheduler::spawn_frame(FrameBase* root, SpawnOptions options) {
  if (!root) throw InvalidArgument("spawn: null root frame");
  if (options.priority < kMinPriority || options.priority > kMaxPriority) {
    destroy_frame(root);
    throw InvalidArgument("spawn: priority " + std::to_string(options.priority) + " is outside [" +
                          std::to_string(kMinPriority) + ", " + std::to_string(kMaxPriority) + "]");
  }
  Tasklet* t = new Tasklet(next_id_++, root);
  t->priority_ = static_cast<std::int8_t>(options.priority);
  t->add_ref();  // the scheduler's reference, dropped by end()
  ++alive_count_;
  if (!options.name.empty()) set_name_of(t, std::move(options.name));
  make_runnable(t, false);
  return TaskletRef(t);
}

void Scheduler::pause(Tasklet* t) {
  detach(t);
  t->state_ = TaskletState::kPaused;
  paused_.push_back(t);
}

void Scheduler::detach(Tasklet* t) noexcept {
  switch (t->state_) {
    case TaskletState::kRunnable: {
      int level = t->priority_ - kMinPriority;
      levels_[level].remove(t);
      if (!levels_[level].head) nonempty_ &= ~(1u << level);
      --runnable_count_;
      break;
    }
    case TaskletState::kBlocked:
      if (t->wait_ == WaitKind::kSend || t->wait_ == WaitKind::kReceive) {
        t->waiter_.channel->unpark(&t->waiter_);
        t->slot_.reset();
      } else if (t->wait_ == WaitKind::kSelect) {
        if (t->select_) t->select_->cancel();  // null: the Select was destroyed (and cancelled)
        t->select_ = nullptr;
      }
      unblock(t);  // timers of a sleeping tasklet are dropped lazily
      break;
    case TaskletState::kPaused:
      if (t->link_prev_ || t->link_next_ || paused_.head == t) paused_.remove(t);
      break;
    default:
      break;
  }
  t->state_ = TaskletState::kPaused;
}

void Scheduler::wake_for_switch(Tasklet* t, bool brings_value) {
  if (t == current_) throw TaskletStateError(t->label() + " cannot switch to itself");
  if (!t->alive()) {
    throw TaskletStateError(t->label() + " has " + to_string(t->state_) + "; a finished tasklet cannot be resumed");
  }
  if (t->state_ == TaskletState::kBlocked && t->wait_ != WaitKind::kSwitch) {
    throw TaskletStateError(t->label() + " is blocked (" + t->describe_wait() +
                            "), not waiting in a switch; it cannot be switched to");
  }
  if (t->state_ == TaskletState::kRunnable && (t->flags_ & Tasklet::kStarted)) {
    throw TaskletStateError(t->label() + " is runnable, not waiting in a switch; it cannot be switched to");
  }
  if (brings_value && t->slot_.has_value()) {  // e.g. woken by a channel, then paused before it ran
    throw TaskletStateError(t->label() +
                            " holds a value it has not taken yet; a switch would overwrite it (insert() it instead)");
  }
  detach(t);
  make_runnable(t, true);
}

void Scheduler::end(Tasklet* t, TaskletState final_state) noexcept {
  t->state_ = final_state;
  t->wait_ = WaitKind::kNone;
  --alive_count_;
  // Unobserved: no reference but the scheduler's (and the switch hooks' memory, and
  // timers it no longer sleeps on: they are dropped lazily, and only a tasklet that
  // slept can have them; this is the failure path, so counting them is affordable).
  std::uint32_t internal_refs = 1 + (hook_prev_.get() == t ? 1 : 0);
  if (final_state == TaskletState::kFinished && t->exc_ && t->refs_ > internal_refs &&
      (t->flags_ & Tasklet::kSlept)) {
    for (const Timer& tm : timers_) internal_refs += tm.tasklet == t ? 1 : 0;
  }
  if (final_state == TaskletState::kFinished && t->exc_ && t->refs_ == internal_refs) {
    unhandled_.emplace_back(t->id_, t->exc_);
  }
  if (t != current_) t->release();
}

// --- Names (kept out of the tasklet header: most tasklets have none). ---

std::string_view Scheduler::name_of(const Tasklet* t) const noexcept {
  auto it = names_.find(t);
  return it == names_.end() ? std::string_view() : std::string_view(it->second);
}

void Scheduler::set_name_of(Tasklet* t, std::string name) {
  if (name.empty()) {
    names_.erase(t);
    t->flags_ &= ~Tasklet::kNamed;
  } else {
    names_[t] = std::move(name);
    t->flags_ |= Tasklet::kNamed;
  }
}

// --- Blocking checks. ---

Tasklet* Scheduler::blocking_actor(const char* what, const std::string& object) const {
  if (!current_) {
    throw CannotBlock(std::string(what) + " on " + object +
                      " would block, but the caller is not a tasklet; block only inside tasklets "
                      "(spawn one), or use the try_ variants");
  }
  if (current_->block_trap()) {
    throw BlockTrap(current_->label() + ": " + what + " on " + object + " would block, and its block_trap is set");
  }
  return current_;
}

// --- Timers. ---

void Scheduler::sleep_current_until(Clock::time_point deadline) {
  Tasklet* t = blocking_actor("sleep", "the timer");
  std::uint64_t seq = ++timer_seq_;
  t->add_ref();
  t->flags_ |= Tasklet::kSlept;
  timers_.push_back(Timer{deadline, seq, t});
  std::push_heap(timers_.begin(), timers_.end(), std::greater<>());
  t->waiter_.bits = static_cast<std::uint32_t>(seq);
  block_current(WaitKind::kSleep);
}

void Scheduler::fire_due_timers(Clock::time_point now) {
  // A timer is stale once its tasklet stopped sleeping on it (killed, thrown into).
  // Stale timers at the front are dropped before they are due, so that run() never
  // sleeps for a tasklet that no longer waits.
  auto live = [](const Timer& tm) {
    const Tasklet* t = tm.tasklet;
    return t->state_ == TaskletState::kBlocked && t->wait_ == WaitKind::kSleep &&
           t->waiter_.bits == static_cast<std::uint32_t>(tm.seq);
  };
  while (!timers_.empty() && (timers_.front().when <= now || !live(timers_.front()))) {
    std::pop_heap(timers_.begin(), timers_.end(), std::greater<>());
    Timer tm = timers_.back();
    timers_.pop_back();
    Tasklet* t = tm.tasklet;
    if (live(tm)) {
      unblock(t);
      make_runnable(t, false);
    }
    t->release();
  }
}

// --- Hooks and randomness. ---

HookId Scheduler::add_switch_hook(SwitchHook hook) {
  HookId id = next_hook_id_++;
  hooks_.emplace_back(id, std::move(hook));
  return id;
}

void Scheduler::remove_switch_hook(HookId id) {
  std::erase_if(hooks_, [id](const auto& h) { return h.first == id; });
}

void Scheduler::call_hooks(Tasklet* prev, Tasklet* next) {
  for (auto& [id, hook] : hooks_) hook(prev, next);
}

std::uint64_t Scheduler::next_random() noexcept {
  // xorshift64*: small, fast, and reproducible from the seed.
  rng_ ^= rng_ >> 12;
  rng_ ^= rng_ << 25;
  rng_ ^= rng_ >> 27;
  return rng_ * 0x2545F4914F6CDD1Dull;
}

// --- Reports. ---

std::vector<BlockedTasklet> Scheduler::blocked_tasklets() const {
  std::vector<BlockedTasklet> out;
  auto add = [&](const Tasklet* t) { out.push_back({t->id_, std::string(name_of(t)), t->describe_wait()}); };
  for (Tasklet* t = blocked_.head; t; t = t->link_next_) add(t);
  std::size_t found = 0;
  for (ChannelBase* c = ChannelBase::first_on_thread(); c && found < channel_blocked_; c = c->next_on_thread()) {
    for (Tasklet* t : c->plain_waiters()) {
      add(t);
      ++found;
    }
  }
  if (found < channel_blocked_) {
    out.push_back({0, "", std::to_string(channel_blocked_ - found) +
                              " more tasklets wait on channels created by another thread "
                              "(channels belong to the thread that created them)"});
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return out;
}

void Scheduler::throw_pending_unhandled() {
  auto [id, e] = unhandled_.front();
  unhandled_.pop_front();
  std::string what = "tasklet #" + std::to_string(id) + " ended with an exception nobody observed: " +
                     detail::describe_exception(e) + " (hold its TaskletRef to inspect failures yourself)";
  try {
    std::rethrow_exception(e);
  } catch (...) {
    std::throw_with_nested(UnhandledTaskletError(id, what));
  }
}

// --- The run loop. ---

// Inlined into the loop: it runs once per switch.
inline bool Scheduler::run_soft(Tasklet* t) {
  Ctx cx(*this, *t);
  // A native tasklet takes a pending exception at its suspension point instead.
  if (t->exc_ && !t->native()) [[unlikely]] {
    if (!unwind(t, std::exchange(t->exc_, nullptr))) return true;
  }
  for (;;) {
    FrameBase* f = t->top_;
    Step step;
    ++steps_;
    try {
      step = f->stasis_ops_->run(f, cx);
    } catch (...) {
      if (t->state_ != TaskletState::kRunning) {  // the op requeued or parked it, then threw
        detach(t);
        t->state_ = TaskletState::kRunning;
      }
      if (!unwind(t, std::current_exception())) return true;
      continue;
    }
    switch (step) {
      case Step::kCall:
        if (steps_ >= budget_end_ && !t->atomic()) return false;
        break;
      case Step::kReturn:
        t->top_ = f->stasis_caller_;
        destroy_frame(f);
        if (!t->top_) {
          end(t, TaskletState::kFinished);
          return true;
        }
        break;
      case Step::kSuspend:
        return t->state_ != TaskletState::kRunning;  // still running: STASIS_POLL preempted it
    }
  }
}

bool Scheduler::run_native(Tasklet*& t) {
  ++steps_;
  t = detail::resume_from_loop(*t);  // the one that came back is current_
  auto* f = static_cast<detail::NativeFrameBase*>(t->top_);
  if (!f->finished) return t->state_ != TaskletState::kRunning;
  if (t->exc_) {  // it ended with an exception (TaskletExit: killed)
    unwind(t, std::exchange(t->exc_, nullptr));
    return true;
  }
  t->top_ = nullptr;
  destroy_frame(f);
  end(t, TaskletState::kFinished);
  return true;
}

void Scheduler::run() { run_loop(UINT64_MAX, nullptr); }

TaskletRef Scheduler::run(std::uint64_t step_budget) { return run_loop(step_budget, nullptr); }

void Scheduler::run_until(const std::function<bool()>& done) { run_loop(UINT64_MAX, &done); }

TaskletRef Scheduler::run_loop(std::uint64_t step_budget, const std::function<bool()>* done) {
  if (running_) {
    throw SchedulerError("the scheduler is already running" +
                         (current_ ? " (called from " + current_->label() + ")" : std::string()) +
                         "; run() is not re-entrant");
  }
  if (!unhandled_.empty()) throw_pending_unhandled();
  struct RunningGuard {
    Scheduler& s;
    ~RunningGuard() {
      s.running_ = false;
      s.current_ = nullptr;
      s.budget_end_ = UINT64_MAX;
      s.direct_switches_ = false;
    }
  } guard{*this};
  running_ = true;
  budget_end_ = step_budget > UINT64_MAX - steps_ ? UINT64_MAX : steps_ + step_budget;
  const bool hooks = !hooks_.empty();
  direct_switches_ = !hooks && !done;
  hook_prev_ = TaskletRef();
  for (;;) {
    if ((!timers_.empty() || io_waiting_) && (++switches_since_timer_check_ >= 64 || !nonempty_)) {
      switches_since_timer_check_ = 0;
      if (io_waiting_ && io_driver_) io_driver_->poll();
      if (!timers_.empty()) fire_due_timers(Clock::now());
    }
    Tasklet* t = pop_runnable();
    if (!t) {
      if (io_waiting_ && io_driver_ && !(done && (*done)())) {
        io_driver_->wait_until(timers_.empty() ? Clock::time_point::max() : timers_.front().when);
        continue;
      }
      if (!timers_.empty() && !(done && (*done)())) {
        std::this_thread::sleep_until(timers_.front().when);
        continue;
      }
      if (hooks) call_hooks(std::exchange(hook_prev_, {}).get(), nullptr);
      if (done) return {};
      if (blocked_count() > 0) throw Deadlock(blocked_tasklets());
      return {};
    }
    if (steps_ >= budget_end_ && !t->atomic()) [[unlikely]] {
      // The budget ran out between two tasklets (the last one yielded, blocked or
      // ended): the next one is interrupted before its first step, so tasklets
      // that only yield cannot outrun the watchdog.
      t->state_ = TaskletState::kPaused;
      paused_.push_back(t);
      if (hooks) call_hooks(std::exchange(hook_prev_, {}).get(), nullptr);
      return TaskletRef(t);
    }
    if (hooks) [[unlikely]] {
      call_hooks(hook_prev_.get(), t);
      hook_prev_ = TaskletRef(t);
    }
    current_ = t;
    t->state_ = TaskletState::kRunning;
    t->flags_ |= Tasklet::kStarted;
    bool suspended = t->native() ? run_native(t) : run_soft(t);
    current_ = nullptr;
    if (!suspended) {  // preempted by the step budget
      t->state_ = TaskletState::kPaused;
      paused_.push_back(t);
      if (hooks) call_hooks(std::exchange(hook_prev_, {}).get(), nullptr);
      return TaskletRef(t);
    }
    if (!t->alive()) t->release();
    if (!unhandled_.empty()) {
      if (hooks) call_hooks(std::exchange(hook_prev_, {}).get(), nullptr);
      throw_pending_unhandled();
    }
    if (done && (*done)()) {
      if (hooks) call_hooks(std::exchange(hook_prev_, {}).get(), nullptr);
      return {};
    }
  }
}

bool Scheduler::unwind(Tasklet* t, std::exception_ptr e) {
  const bool exit = detail::is_tasklet_exit(e);
  FrameBase* f = t->top_;
  t->top_ = f->stasis_caller_;
  destroy_frame(f);
  while (FrameBase* p = t->top_) {
    if (!exit && (p->stasis_flags_ & FrameBase::kCatchesChild)) {
      t->slot_.emplace<detail::CaughtException>(detail::CaughtException{std::move(e)});
      return true;
    }
    t->top_ = p->stasis_caller_;
    destroy_frame(p);
  }
  t->slot_.reset();
  if (exit) {
    end(t, TaskletState::kKilled);
  } else {
    t->exc_ = std::move(e);
    end(t, TaskletState::kFinished);
  }
  return false;
}

}  // namespace stasis
