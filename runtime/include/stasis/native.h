// stasis/native.h — native tasklets: ordinary C++ on a C stack.
//
// A native tasklet runs a callable (a lambda, a function) that may block inside
// plain calls — `int v = ch.receive();`, `ch.send(x)`, `sel.wait()`,
// `this_tasklet::sleep_for(d)` — on the same scheduler and channels as soft
// tasklets. Two ways to give it a stack:
//
//   - StackKind::kSliced (default): every sliced tasklet of a thread runs on one
//     shared stack region at a fixed virtual address (the thread's SliceRegion).
//     Switching a sliced tasklet out leaves its used stack in the region until
//     another sliced tasklet needs it; then the used part (stack pointer to region
//     top) is copied to a heap slice, and copied back before it runs again
//     (Stackless' slp_switch, greenlet). A parked sliced tasklet costs its live
//     stack bytes plus a small header.
//   - StackKind::kDedicated: the tasklet owns a guarded stack from a per-thread
//     pool; a switch is a bare register switch (Boost.Context fcontext).
//
// Both kinds overflow into a guard page, which is reported as a fatal error naming
// the tasklet (never silent corruption).
//
// The one rule of sliced stacks: while a sliced tasklet is switched out its stack
// is somewhere else, so nothing may point into it — no other tasklet, no I/O
// operation, no channel — except through the tasklet itself. Values travel
// through channels by value (they land in the tasklet's header, not its stack);
// Select::wait() and the I/O helpers keep their state on the heap. Pass pointers
// to locals only to code that finishes before the tasklet blocks. Dedicated
// stacks have no such rule.
//
// Kill unwinds a native tasklet's C++ stack: TaskletExit is raised at its
// suspension point and destructors run; catching TaskletExit must end in a
// rethrow (a killed tasklet that tries to block again gets TaskletExit again).
// throw_exception() raises the exception at the suspension point, where the
// native code may catch it. Soft frames and native tasklets share channels,
// select, priorities, timers, switch hooks and deadlock reports.
//
// Native tasklets belong to the thread that spawned them, like all tasklets.
// Persistence of native tasklets is the subject of stasis::persist's native
// support; freezing one without it raises FreezeError.
#ifndef STASIS_NATIVE_H_
#define STASIS_NATIVE_H_

#include <any>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <string>
#include <type_traits>
#include <utility>

#include "stasis/scheduler.h"

namespace stasis {

enum class StackKind : std::uint8_t { kSliced, kDedicated };

inline constexpr std::size_t kDefaultDedicatedStackSize = 256 * 1024;
inline constexpr std::size_t kDefaultSliceRegionSize = 1024 * 1024;

struct NativeOptions {
  std::string name;
  int priority = 0;
  StackKind stack = StackKind::kSliced;
  // Dedicated stacks: usable bytes, rounded up to whole pages (0: the default,
  // kDefaultDedicatedStackSize). Sliced tasklets use the thread's region size.
  std::size_t stack_size = 0;
  // Tasklet-scoped allocation (stasis/arena.h): the tasklet gets an arena share,
  // and while it runs, operator new on its thread allocates from that share (link
  // stasis::arena_new to redirect operator new). Its std::vector, std::string and
  // std::map locals then live at fixed addresses and persist with it
  // (docs/native-persistence.md). The share is freed with the tasklet if empty;
  // blocks that outlive the tasklet keep it until they are freed.
  bool arena = false;
};

// The calling thread's shared stack region for sliced tasklets.
struct SliceRegionOptions {
  // Usable bytes (rounded up to pages): the deepest stack a sliced tasklet may use.
  std::size_t size = kDefaultSliceRegionSize;
  // Fixed address of the region's lowest byte (its guard page sits just below).
  // 0: a default per-thread address below 2^39 (aarch64 kernels with 39-bit
  // address spaces), or any free address if that one is taken.
  std::uintptr_t base = 0;
};

// Sets the calling thread's region options. Must be called before the thread's
// first sliced tasklet is spawned; SchedulerError after that.
void configure_slice_region(const SliceRegionOptions& options);

// The region's bounds [low, high) on this thread (0, 0 before the first sliced spawn).
std::pair<std::uintptr_t, std::uintptr_t> slice_region_bounds() noexcept;

namespace detail {

// The root frame of a native tasklet: its stack and the callable. Type-erased part.
class NativeFrameBase;
// How to run and destroy the callable stored in a native frame (one per type).
struct CallableOps {
  void (*invoke)(NativeFrameBase*, Tasklet&);
  void (*destroy)(NativeFrameBase*) noexcept;
};
NativeFrameBase* make_native_frame(std::size_t size, const NativeOptions& options, const CallableOps* ops);
void* native_callable_storage(NativeFrameBase* f) noexcept;
// Frees a frame whose callable was never constructed.
void discard_native_frame(NativeFrameBase* f) noexcept;

// Switches the running native tasklet out after it parked or requeued itself;
// returns when it runs again, raising a pending exception (throw, kill, a
// destroyed channel) there.
void native_suspend(Tasklet& self);

template <class F>
struct NativeCallable {
  static void invoke(NativeFrameBase* f, Tasklet& t);
  static void destroy(NativeFrameBase* f) noexcept {
    static_cast<F*>(native_callable_storage(f))->~F();
  }
  static constexpr CallableOps ops{&invoke, &destroy};
};

// Stores fn's result in the tasklet (the value result<T>() returns).
void set_native_result(Tasklet& t, std::any value);

template <class F>
void NativeCallable<F>::invoke(NativeFrameBase* f, Tasklet& t) {
  F& fn = *static_cast<F*>(native_callable_storage(f));
  using R = std::invoke_result_t<F&>;
  if constexpr (std::is_void_v<R>) {
    fn();
  } else {
    set_native_result(t, std::any(fn()));
  }
}

TaskletRef spawn_native_frame(Scheduler& s, NativeFrameBase* f, NativeOptions options);

}  // namespace detail

// Creates a runnable native tasklet running fn() (moved into the tasklet), at the
// back of its priority level. fn's return value becomes the tasklet's result; an
// exception escaping fn ends the tasklet with it, as for soft tasklets.
template <class F>
TaskletRef spawn_native(Scheduler& s, F&& fn, NativeOptions options = {}) {
  using Fn = std::decay_t<F>;
  static_assert(std::is_invocable_v<Fn&>, "spawn_native takes a callable with no arguments");
  static_assert(alignof(Fn) <= 16, "spawn_native: the callable's alignment must be at most 16");
  detail::NativeFrameBase* f = detail::make_native_frame(sizeof(Fn), options, &detail::NativeCallable<Fn>::ops);
  try {
    ::new (detail::native_callable_storage(f)) Fn(std::forward<F>(fn));
  } catch (...) {
    detail::discard_native_frame(f);
    throw;
  }
  return detail::spawn_native_frame(s, f, std::move(options));
}
template <class F>
TaskletRef spawn_native(F&& fn, NativeOptions options = {}) {
  return spawn_native(Scheduler::current(), std::forward<F>(fn), std::move(options));
}

// What a native tasklet calls to give up the processor. Each raises
// CannotBlock outside native tasklets (soft frames use the STASIS_* macros).
namespace this_tasklet {

// The running tasklet (soft or native), or null outside tasklets.
Tasklet* get() noexcept;
// True inside a native tasklet.
bool is_native() noexcept;

// Goes to the back of its priority level and lets the others run.
void yield();
// Blocks until `when` (a yield if it has passed).
void sleep_until(Scheduler::Clock::time_point when);
template <class Rep, class Period>
void sleep_for(std::chrono::duration<Rep, Period> d) {
  if (d <= d.zero()) return yield();
  sleep_until(Scheduler::Clock::now() + std::chrono::duration_cast<Scheduler::Clock::duration>(d));
}
// A preemption point: counts one step; if Scheduler::run(budget) ran out, the
// tasklet is paused here and this returns when it is inserted and runs again.
void preemption_point();
// Greenlet-style transfer: delivers `value` to `target` (new, paused, or waiting
// in a switch) and runs it next; this tasklet waits until something switches back
// to it and returns the value it brings (empty if none). When both are native,
// target waits in a switch with no value pending, nothing of a higher priority is
// runnable and no switch hook, done() predicate, due timer or spent budget needs
// the loop, the switch goes straight from stack to stack.
std::any switch_to(Tasklet& target, std::any value);
// The same, bringing no value.
std::any switch_to(Tasklet& target);
// The value a switch_to brought to this tasklet when that switch started it (a
// new tasklet has no switch_to of its own to return it), or empty; taking it
// empties the slot. A value left there is what the tasklet's next switch_to
// returns; until then a switch that brings another value to the tasklet raises
// TaskletStateError (it would be overwritten), one that brings none goes ahead.
std::any take_value();

// Parks the running native tasklet as blocked in `kind` (only WaitKind::kIo, for
// I/O, so far) until wake() is called for it with this park's ticket; then returns (or raises
// a pending exception: a throw, a kill). While tasklets are parked in kIo the
// scheduler waits on its IoDriver instead of reporting a deadlock.
void park(WaitKind kind);
// The ticket the calling tasklet's next park() will carry. Take it, start the
// operation whose completion calls wake(), then park() without switching between.
std::uint32_t park_ticket() noexcept;

}  // namespace this_tasklet

// Makes a tasklet parked with this_tasklet::park() runnable again (at the back of
// its level). Returns false (and does nothing) if that park is over — the tasklet
// was killed or thrown into meanwhile, or parks again for something else.
bool wake(Tasklet& t, std::uint32_t ticket);

}  // namespace stasis

#endif  // STASIS_NATIVE_H_
