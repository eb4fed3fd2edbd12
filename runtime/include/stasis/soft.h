// stasis/soft.h — the macros soft frames are written with.
//
// A frame's run() is a resumable function in the style of protothreads: the body
// sits inside a switch over the frame's resume point, and every macro that can
// suspend stores its own point before returning to the scheduler and has a case
// label to continue from. Resume point k is the k-th suspension point of run()
// (numbered with __COUNTER__ relative to STASIS_BEGIN), so it is stable across
// builds as long as the function's suspension points stay the same.
//
//   Step run(Ctx& cx) {
//     STASIS_BEGIN(cx);
//     for (i = 0; i < n; ++i) STASIS_SEND(cx, *out, i);
//     STASIS_END(cx);
//   }
//
// Rules: state that must survive a suspension lives in fields (listed in
// STASIS_FIELDS); block-scoped locals are fine only between two suspension points.
// Blocking ops raise pending exceptions (kill, throw, send_exception) by unwinding
// the frame; only calls can catch (STASIS_CALL_CATCH).
#ifndef STASIS_SOFT_H_
#define STASIS_SOFT_H_

#include "stasis/ctx.h"

#define STASIS_RP_(K) ((K) - stasis_base_)

// Opens the body of run().
#define STASIS_BEGIN(cx)                                    \
  enum : int { stasis_base_ = __COUNTER__ };                \
  (void)(cx); /* frames without suspension points */       \
  switch (this->stasis_rp_) {                               \
    default:                                                \
      ::stasis::detail::throw_bad_resume_point(*this);      \
    case 0:

// Closes the body of run(): the frame returns no value (a value delivered to it
// and never taken is dropped, not mistaken for a result).
#define STASIS_END(cx)        \
  }                           \
  (cx).take_void_result();    \
  return ::stasis::Step::kReturn

// Returns `v` to the caller (or as the tasklet's result from a root frame).
#define STASIS_RETURN(cx, v) return (cx).return_value(v)

// Shared shape of every suspension point: store the point, try the operation,
// return to the scheduler if it did not complete, continue here when resumed.
#define STASIS_SUSPEND_IF_(K, must_suspend, after) \
  do {                                             \
    this->stasis_rp_ = STASIS_RP_(K);              \
    if (must_suspend) return ::stasis::Step::kSuspend; \
    [[fallthrough]];                               \
    case STASIS_RP_(K):;                           \
    after;                                         \
  } while (0)

// Sends v on channel ch; blocks until a receiver takes it (or buffer space).
#define STASIS_SEND(cx, ch, v) STASIS_SEND_AT_(cx, ch, v, __COUNTER__)
#define STASIS_SEND_AT_(cx, ch, v, K) \
  STASIS_SUSPEND_IF_(K, (ch).send_op(&(cx).tasklet(), v) != ::stasis::OpResult::kDone, (void)0)

// Receives from ch into var; ChannelClosed if the channel is closed.
#define STASIS_RECEIVE(cx, ch, var) STASIS_RECEIVE_AT_(cx, ch, var, __COUNTER__)
#define STASIS_RECEIVE_AT_(cx, ch, var, K)                                                         \
  STASIS_SUSPEND_IF_(K, (ch).receive_op(&(cx).tasklet(), var, nullptr) != ::stasis::OpResult::kDone, \
                     (cx).take_received(var))

// Receives from ch into var and sets ok; ok == false (no error) once the channel is
// closing with no sender waiting: the loop condition of channel iteration.
#define STASIS_RECEIVE_OK(cx, ch, var, ok) STASIS_RECEIVE_OK_AT_(cx, ch, var, ok, __COUNTER__)
#define STASIS_RECEIVE_OK_AT_(cx, ch, var, ok, K)                                              \
  STASIS_SUSPEND_IF_(K, (ch).receive_op(&(cx).tasklet(), var, &(ok)) != ::stasis::OpResult::kDone, \
                     (cx).take_received(var))

// Sends an exception (std::exception_ptr) that the receiver raises.
#define STASIS_SEND_EXCEPTION(cx, ch, e) STASIS_SEND_EXCEPTION_AT_(cx, ch, e, __COUNTER__)
#define STASIS_SEND_EXCEPTION_AT_(cx, ch, e, K) \
  STASIS_SUSPEND_IF_(K, (ch).send_exception_op(&(cx).tasklet(), e) != ::stasis::OpResult::kDone, (void)0)

// Sends every element of seq in order; `index` is a size_t field (it survives
// suspension) and equals seq.size() afterwards: the count sent.
#define STASIS_SEND_SEQUENCE(cx, ch, seq, index) \
  for ((index) = 0; (index) < (seq).size(); ++(index)) STASIS_SEND(cx, ch, (seq)[(index)])

// Waits on a stasis::Select; `chosen` gets the case index (or Select::kDefault).
#define STASIS_SELECT(cx, sel, chosen) STASIS_SELECT_AT_(cx, sel, chosen, __COUNTER__)
#define STASIS_SELECT_AT_(cx, sel, chosen, K) \
  STASIS_SUSPEND_IF_(K, (sel).select_op(&(cx).tasklet()) != ::stasis::OpResult::kDone, (chosen) = (sel).chosen())

// Yields to other runnable tasklets (Stackless' schedule()).
#define STASIS_SCHEDULE(cx) STASIS_SCHEDULE_AT_(cx, __COUNTER__)
#define STASIS_SCHEDULE_AT_(cx, K) STASIS_SUSPEND_IF_(K, (cx).schedule(), (void)0)

// A preemption point for long loops: suspends only if run(budget) ran out.
#define STASIS_POLL(cx) STASIS_POLL_AT_(cx, __COUNTER__)
#define STASIS_POLL_AT_(cx, K) STASIS_SUSPEND_IF_(K, (cx).poll(), (void)0)

// Sleeps for a std::chrono duration; other tasklets run meanwhile.
#define STASIS_SLEEP(cx, d) STASIS_SLEEP_AT_(cx, d, __COUNTER__)
#define STASIS_SLEEP_AT_(cx, d, K) STASIS_SUSPEND_IF_(K, (cx).sleep_for(d), (void)0)

// Sleeps until a Scheduler::Clock (steady_clock) time point; a yield if it has passed.
#define STASIS_SLEEP_UNTIL(cx, when) STASIS_SLEEP_UNTIL_AT_(cx, when, __COUNTER__)
#define STASIS_SLEEP_UNTIL_AT_(cx, when, K) STASIS_SUSPEND_IF_(K, (cx).sleep_until(when), (void)0)

// Greenlet switch: hands `value` to tasklet `target`, runs it, and waits until
// something switches back; the value switched back lands in dest.
#define STASIS_SWITCH(cx, target, value, dest) STASIS_SWITCH_AT_(cx, target, value, dest, __COUNTER__)
#define STASIS_SWITCH_AT_(cx, target, value, dest, K) \
  STASIS_SUSPEND_IF_(K, (cx).switch_to(target, std::any(value)), (cx).take_received(dest))

// Calls a child frame (a frame value, e.g. Fib{.n = n - 1}) and stores its
// STASIS_RETURN value in dest. An exception in the child unwinds this frame too.
#define STASIS_CALL(cx, dest, ...) STASIS_CALL_AT_(cx, __COUNTER__, dest, __VA_ARGS__)
#define STASIS_CALL_AT_(cx, K, dest, ...)                     \
  do {                                                        \
    this->stasis_rp_ = STASIS_RP_(K);                         \
    return (cx).call(this, new auto(__VA_ARGS__), false);     \
    case STASIS_RP_(K):;                                      \
    (cx).take_result(dest);                                   \
  } while (0)

// Calls a child frame and discards its result.
#define STASIS_CALL_VOID(cx, ...) STASIS_CALL_VOID_AT_(cx, __COUNTER__, __VA_ARGS__)
#define STASIS_CALL_VOID_AT_(cx, K, ...)                      \
  do {                                                        \
    this->stasis_rp_ = STASIS_RP_(K);                         \
    return (cx).call(this, new auto(__VA_ARGS__), false);     \
    case STASIS_RP_(K):;                                      \
    (cx).take_void_result();                                  \
  } while (0)

// Calls a child frame; if it (or anything it calls) throws, err (a
// std::exception_ptr field) gets the exception and dest is left unchanged;
// otherwise err is null and dest has the result. TaskletExit is never caught.
#define STASIS_CALL_CATCH(cx, dest, err, ...) STASIS_CALL_CATCH_AT_(cx, __COUNTER__, dest, err, __VA_ARGS__)
#define STASIS_CALL_CATCH_AT_(cx, K, dest, err, ...)          \
  do {                                                        \
    this->stasis_rp_ = STASIS_RP_(K);                         \
    return (cx).call(this, new auto(__VA_ARGS__), true);      \
    case STASIS_RP_(K):;                                      \
    (cx).take_result_or_caught(this, dest, err);              \
  } while (0)

// Calls a child frame for its effect, catching its exception into err.
#define STASIS_TRY_CALL(cx, err, ...) STASIS_TRY_CALL_AT_(cx, __COUNTER__, err, __VA_ARGS__)
#define STASIS_TRY_CALL_AT_(cx, K, err, ...)                  \
  do {                                                        \
    this->stasis_rp_ = STASIS_RP_(K);                         \
    return (cx).call(this, new auto(__VA_ARGS__), true);      \
    case STASIS_RP_(K):;                                      \
    (cx).take_caught(this, err);                              \
  } while (0)

#endif  // STASIS_SOFT_H_
