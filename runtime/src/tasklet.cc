// tasklet.cc — tasklet life cycle: naming, kill, throw, pause, results.
#include "stasis/tasklet.h"

#include <cstddef>

#include "exception_kind.h"
#include "pool.h"
#include "stasis/channel.h"
#include "stasis/select.h"
#include "stasis/scheduler.h"

namespace stasis {

const char* to_string(TaskletState s) noexcept {
  switch (s) {
    case TaskletState::kNew: return "new";
    case TaskletState::kRunnable: return "runnable";
    case TaskletState::kRunning: return "running";
    case TaskletState::kBlocked: return "blocked";
    case TaskletState::kPaused: return "paused";
    case TaskletState::kFinished: return "finished";
    case TaskletState::kKilled: return "killed";
  }
  return "?";
}

Tasklet::~Tasklet() { drop_frames(); }

void* Tasklet::operator new(std::size_t size) { return detail::pool_allocate(size); }
void Tasklet::operator delete(void* p, std::size_t size) noexcept { detail::pool_free(p, size); }

void Tasklet::destroy() noexcept {
  if (flags_ & kNamed) {
    if (Scheduler* s = Scheduler::current_or_null()) s->set_name_of(this, {});
  }
  delete this;
}

void Tasklet::drop_frames() noexcept {
  while (FrameBase* f = top_) {
    top_ = f->stasis_caller_;
    destroy_frame(f);
  }
}

std::string_view Tasklet::name() const noexcept {
  if (!(flags_ & kNamed)) return {};
  Scheduler* s = Scheduler::current_or_null();
  return s ? s->name_of(this) : std::string_view();
}

void Tasklet::set_name(std::string name) { Scheduler::current().set_name_of(this, std::move(name)); }

std::string Tasklet::label() const {
  std::string l = "tasklet #" + std::to_string(id_);
  std::string_view n = name();
  if (!n.empty()) l += " '" + std::string(n) + "'";
  return l;
}

TaskletState Tasklet::state() const noexcept {
  if (!(flags_ & kStarted) && state_ == TaskletState::kRunnable) return TaskletState::kNew;
  return state_;
}

const ChannelBase* Tasklet::waiting_on() const noexcept {
  if (state_ != TaskletState::kBlocked) return nullptr;
  if (wait_ != WaitKind::kSend && wait_ != WaitKind::kReceive) return nullptr;
  return waiter_.channel;
}

std::string Tasklet::describe_wait() const {
  if (state_ != TaskletState::kBlocked) return {};
  switch (wait_) {
    case WaitKind::kSend: return "send on " + waiter_.channel->label();
    case WaitKind::kReceive: return "receive on " + waiter_.channel->label();
    case WaitKind::kSelect: return "select (" + describe_select(select_) + ")";
    case WaitKind::kSleep: return "sleep";
    case WaitKind::kSwitch: return "switch (waiting for another tasklet to switch to it)";
    case WaitKind::kIo: return "I/O";
    case WaitKind::kNone: break;
  }
  return "?";
}

void Tasklet::set_priority(int priority) {
  if (priority < kMinPriority || priority > kMaxPriority) {
    throw InvalidArgument(label() + ": priority " + std::to_string(priority) + " is outside [" +
                          std::to_string(kMinPriority) + ", " + std::to_string(kMaxPriority) + "]");
  }
  if (priority == priority_) return;
  if (state_ == TaskletState::kRunnable) {
    Scheduler& s = Scheduler::current();
    s.detach(this);
    priority_ = static_cast<std::int8_t>(priority);
    s.make_runnable(this, false);
  } else {
    priority_ = static_cast<std::int8_t>(priority);
  }
}

bool Tasklet::set_atomic(bool atomic) noexcept {
  bool old = flags_ & kAtomic;
  flags_ = atomic ? (flags_ | kAtomic) : (flags_ & ~kAtomic);
  return old;
}

bool Tasklet::set_block_trap(bool trap) noexcept {
  bool old = flags_ & kBlockTrap;
  flags_ = trap ? (flags_ | kBlockTrap) : (flags_ & ~kBlockTrap);
  return old;
}

std::size_t Tasklet::frame_depth() const noexcept {
  std::size_t n = 0;
  for (const FrameBase* f = top_; f; f = f->stasis_caller_) ++n;
  return n;
}

void Tasklet::kill() {
  if (!alive()) return;
  if (state_ == TaskletState::kRunning) throw TaskletExit();
  Scheduler& s = Scheduler::current();
  TaskletRef keep(this);
  s.detach(this);
  drop_frames();
  slot_.reset();
  exc_ = nullptr;
  s.end(this, TaskletState::kKilled);
}

void Tasklet::throw_exception(std::exception_ptr e) {
  if (!e) throw InvalidArgument(label() + ": throw_exception needs an exception");
  bool exit = detail::is_tasklet_exit(e);
  if (!alive()) {
    if (exit) return;
    throw TaskletStateError(label() + " has " + to_string(state_) +
                            "; an exception cannot be thrown into a dead tasklet");
  }
  if (state_ == TaskletState::kRunning) std::rethrow_exception(e);
  if (exit) {
    kill();
    return;
  }
  Scheduler& s = Scheduler::current();
  if (!(flags_ & kStarted)) {  // never ran: ends with e without running
    TaskletRef keep(this);
    s.detach(this);
    drop_frames();
    exc_ = std::move(e);
    s.end(this, TaskletState::kFinished);
    return;
  }
  exc_ = std::move(e);
  if (state_ == TaskletState::kRunnable) return;  // raised when it resumes
  s.detach(this);
  s.make_runnable(this, true);
}

void Tasklet::remove() {
  switch (state_) {
    case TaskletState::kPaused: return;
    case TaskletState::kRunnable: Scheduler::current().pause(this); return;
    default:
      throw TaskletStateError(label() + " is " + to_string(state_) + "; only a runnable tasklet can be removed");
  }
}

void Tasklet::insert() {
  switch (state_) {
    case TaskletState::kRunnable: return;
    case TaskletState::kPaused: {
      Scheduler& s = Scheduler::current();
      s.detach(this);
      s.make_runnable(this, false);
      return;
    }
    default:
      throw TaskletStateError(label() + " is " + to_string(state_) +
                              (alive() ? "; only a paused tasklet can be inserted"
                                       : "; a finished tasklet cannot be resumed"));
  }
}

void Tasklet::rethrow_if_failed() const {
  if (state_ == TaskletState::kFinished && exc_) std::rethrow_exception(exc_);
}

void Tasklet::throw_result_error(const char* why) const { throw TaskletStateError(label() + " " + why); }

}  // namespace stasis
