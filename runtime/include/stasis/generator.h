// stasis/generator.h — generators built on tasklet switching.
//
// A Generator<T> runs a body frame in its own tasklet. The body hands values out
// with STASIS_YIELD_VALUE(cx, v); a consumer frame takes them with
// STASIS_NEXT(cx, gen, opt) (opt is a std::optional<T> field, nullopt at the end),
// and plain code outside tasklets with gen.next(). Each hand-over is a switch
// (Ctx::switch_to): the consumer waits while the producer runs and vice versa.
// An exception escaping the body ends the generator and is raised in its consumer
// (at STASIS_NEXT, or from next()); later requests see the end (nullopt).
//
// Invariants: the producer runs only between a next() and the following yield or
// its end; the Generator owns the producer and kills it when destroyed early.
#ifndef STASIS_GENERATOR_H_
#define STASIS_GENERATOR_H_

#include <exception>
#include <memory>
#include <optional>
#include <utility>

#include "stasis/soft.h"

namespace stasis {

namespace detail {

template <class T>
struct GeneratorState {
  Tasklet* consumer = nullptr;  // null: the consumer is code outside tasklets
  bool done = false;
  std::optional<T> handed_out;  // for the outside consumer
  std::exception_ptr error;     // the body's exception, until a request raises it
};

// Root frame of a generator's tasklet: runs the body, then reports the end.
template <class T>
struct GeneratorRoot : Frame<GeneratorRoot<T>> {
  std::shared_ptr<GeneratorState<T>> state;
  FrameBase* body = nullptr;  // owned until pushed
  STASIS_FIELDS(state, body)

  GeneratorRoot() = default;
  GeneratorRoot(GeneratorRoot&& o) noexcept : state(std::move(o.state)), body(std::exchange(o.body, nullptr)) {}
  ~GeneratorRoot() {
    if (body) destroy_frame(body);
  }

  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    this->stasis_rp_ = 1;
    return cx.call(this, std::exchange(body, nullptr), /*catches=*/true);
    case 1: {
      std::exception_ptr error;
      cx.take_caught(this, error);
      state->done = true;
      Tasklet* c = state->consumer;
      if (c && c->blocked() && c->wait_kind() == WaitKind::kSwitch) {  // waits at its STASIS_NEXT
        if (error) {
          c->throw_exception(std::move(error));
        } else {
          cx.switch_to(*c, std::any(), /*suspend=*/false);
        }
      } else {
        state->error = std::move(error);  // raised by the next request
      }
    }
    STASIS_END(cx);
  }
};

// Walks from the running frame to the root of a generator of T.
template <class T>
GeneratorState<T>& generator_state_of(Ctx& cx) {
  const FrameBase* f = cx.tasklet().top_frame();
  while (f && f->caller()) f = f->caller();
  if (!f || &f->ops() != &FrameOpsFor<GeneratorRoot<T>>::ops)
    throw TaskletStateError(cx.tasklet().label() +
                            ": STASIS_YIELD_VALUE outside a generator of this value type");
  return *static_cast<const GeneratorRoot<T>*>(f)->state;
}

// Hands v to the consumer and suspends the producer. Always suspends.
// Between two requests the producer is paused, not blocked: an idle generator (a
// consumer that stopped early, a value taken with next()) is not a deadlock; only
// its Generator resumes it.
template <class T>
bool generator_yield(Ctx& cx, T v) {
  GeneratorState<T>& st = generator_state_of<T>(cx);
  if (st.consumer) {
    cx.switch_to(*st.consumer, std::any(std::move(v)), /*suspend=*/false);
  } else {
    st.handed_out = std::move(v);
  }
  cx.scheduler().pause(&cx.tasklet());
  return true;
}

}  // namespace detail

template <class T>
class Generator {
 public:
  // Spawns the producer tasklet (paused) with `body` as the generator's body frame.
  template <class Body>
  explicit Generator(Body&& body, SpawnOptions options = {})
      : state_(std::make_shared<detail::GeneratorState<T>>()) {
    detail::GeneratorRoot<T> root;
    root.state = state_;
    root.body = new std::remove_cvref_t<Body>(std::forward<Body>(body));
    producer_ = Scheduler::current().spawn(std::move(root), std::move(options));
    producer_->remove();
  }
  Generator(const Generator&) = delete;
  Generator& operator=(const Generator&) = delete;
  // Kills the producer if it has not finished.
  ~Generator() {
    if (producer_ && producer_->alive()) producer_->kill();
  }

  bool done() const noexcept { return state_->done; }
  Tasklet& producer() const noexcept { return *producer_; }

  // Outside tasklets: runs the scheduler until the producer yields or ends.
  std::optional<T> next() {
    if (!state_->done) {
      Scheduler& s = Scheduler::current();
      if (s.running()) throw SchedulerError("Generator::next() runs the scheduler; inside a tasklet use STASIS_NEXT");
      state_->consumer = nullptr;
      state_->handed_out.reset();
      s.wake_for_switch(producer_.get());
      s.run_until([this] { return state_->done || state_->handed_out.has_value(); });
      if (state_->handed_out) return std::exchange(state_->handed_out, std::nullopt);
      if (!state_->done) throw TaskletStateError(producer_->label() + ": generator neither yielded nor finished");
    }
    if (state_->error) std::rethrow_exception(std::exchange(state_->error, nullptr));
    return std::nullopt;
  }

  // --- Behind STASIS_NEXT. ---
  bool next_op(Ctx& cx) {
    if (state_->done) {
      if (state_->error) std::rethrow_exception(std::exchange(state_->error, nullptr));
      return false;
    }
    state_->consumer = &cx.tasklet();
    return cx.switch_to(*producer_, std::any());
  }
  void take(Ctx& cx, std::optional<T>& out) {
    if (cx.has_received()) {
      T v{};
      cx.take_received(v);
      out = std::move(v);
    } else {
      out.reset();
    }
  }

 private:
  std::shared_ptr<detail::GeneratorState<T>> state_;
  TaskletRef producer_;
};

}  // namespace stasis

// In a generator body: hands v to the consumer and waits for the next request.
#define STASIS_YIELD_VALUE(cx, v) STASIS_YIELD_VALUE_AT_(cx, v, __COUNTER__)
#define STASIS_YIELD_VALUE_AT_(cx, v, K) \
  STASIS_SUSPEND_IF_(K, ::stasis::detail::generator_yield(cx, v), (void)0)

// In a consumer frame: the generator's next value into opt (std::optional<T>),
// nullopt once the generator has ended.
#define STASIS_NEXT(cx, gen, opt) STASIS_NEXT_AT_(cx, gen, opt, __COUNTER__)
#define STASIS_NEXT_AT_(cx, gen, opt, K) STASIS_SUSPEND_IF_(K, (gen).next_op(cx), (gen).take(cx, opt))

#endif  // STASIS_GENERATOR_H_
