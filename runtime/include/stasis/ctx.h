// stasis/ctx.h — what a soft frame's run() sees of its tasklet and scheduler.
//
// The scheduler passes one Ctx to every frame step. The STASIS_* macros of
// stasis/soft.h are written in terms of its members; frames may also use
// tasklet(), scheduler() and take_received() directly.
//
// Invariant: a Ctx is valid only during the step it was passed to; frames never
// store it.
#ifndef STASIS_CTX_H_
#define STASIS_CTX_H_

#include <any>
#include <chrono>
#include <exception>
#include <string>
#include <typeinfo>

#include "stasis/scheduler.h"

namespace stasis {

namespace detail {
// An exception a catching call site receives instead of a value.
struct CaughtException {
  std::exception_ptr error;
};
[[noreturn]] void throw_type_mismatch(const Tasklet& t, const char* what, const std::any& got,
                                      const std::type_info& want);
[[noreturn]] void throw_bad_resume_point(const FrameBase& f);
}  // namespace detail

class Ctx {
 public:
  Ctx(Scheduler& s, Tasklet& t) noexcept : s_(s), t_(t) {}
  Ctx(const Ctx&) = delete;
  Ctx& operator=(const Ctx&) = delete;

  Scheduler& scheduler() const noexcept { return s_; }
  Tasklet& tasklet() const noexcept { return t_; }

  // Moves the value delivered to this tasklet while it was suspended (by a channel
  // receive, a switch, or the switch that started it) into dest. No-op if none.
  // TypeMismatch if the value has another type.
  template <class T>
  void take_received(T& dest) {
    if (!t_.slot_.has_value()) return;
    T* v = std::any_cast<T>(&t_.slot_);
    if (!v) detail::throw_type_mismatch(t_, "received value", t_.slot_, typeid(T));
    dest = std::move(*v);
    t_.slot_.reset();
  }
  bool has_received() const noexcept { return t_.slot_.has_value(); }

  // --- Used by the macros in stasis/soft.h. ---

  template <class F>
  Step call(FrameBase* self, F* child, bool catches) noexcept {
    static_assert(std::is_base_of_v<FrameBase, F>, "STASIS_CALL: the callee must be a soft frame");
    if (catches) self->stasis_flags_ |= FrameBase::kCatchesChild;
    child->stasis_caller_ = self;
    t_.top_ = child;
    return Step::kCall;
  }

  template <class T>
  Step return_value(T&& v) {
    t_.slot_.emplace<std::decay_t<T>>(std::forward<T>(v));
    return Step::kReturn;
  }

  template <class T>
  void take_result(T& dest) {
    T* v = std::any_cast<T>(&t_.slot_);
    if (!v) detail::throw_type_mismatch(t_, "call result", t_.slot_, typeid(T));
    dest = std::move(*v);
    t_.slot_.reset();
  }
  void take_void_result() noexcept { t_.slot_.reset(); }

  template <class T>
  void take_result_or_caught(FrameBase* self, T& dest, std::exception_ptr& err) {
    self->stasis_flags_ &= ~FrameBase::kCatchesChild;
    if (auto* c = std::any_cast<detail::CaughtException>(&t_.slot_)) {
      err = c->error;
      t_.slot_.reset();
      return;
    }
    err = nullptr;
    take_result(dest);
  }
  void take_caught(FrameBase* self, std::exception_ptr& err) noexcept {
    self->stasis_flags_ &= ~FrameBase::kCatchesChild;
    auto* c = std::any_cast<detail::CaughtException>(&t_.slot_);
    err = c ? c->error : nullptr;
    t_.slot_.reset();
  }

  // Yields: the tasklet goes to the back of its priority level. Always suspends.
  bool schedule() {
    s_.make_runnable(&t_, false);
    return true;
  }

  // A preemption point: counts a step; true if run(budget) asks to stop here.
  bool poll() noexcept {
    ++s_.steps_;
    return s_.steps_ >= s_.budget_end_ && !t_.atomic();
  }

  // Blocks until `d` has passed (a yield for d <= 0). Always suspends.
  template <class Rep, class Period>
  bool sleep_for(std::chrono::duration<Rep, Period> d) {
    if (d <= d.zero()) return schedule();
    s_.sleep_current_until(Scheduler::Clock::now() + std::chrono::duration_cast<Scheduler::Clock::duration>(d));
    return true;
  }
  bool sleep_until(Scheduler::Clock::time_point when) {
    if (when <= Scheduler::Clock::now()) return schedule();
    s_.sleep_current_until(when);
    return true;
  }

  // Greenlet-style transfer: delivers `value` to `target` (new, paused, or
  // suspended in a switch) and runs it next. With suspend, this tasklet waits until
  // something switches back to it; returns whether it suspended.
  bool switch_to(Tasklet& target, std::any value, bool suspend = true);

 private:
  Scheduler& s_;
  Tasklet& t_;
};

}  // namespace stasis

#endif  // STASIS_CTX_H_
