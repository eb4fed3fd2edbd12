// native.cc — native tasklets: resuming and suspending C stacks, the shared
// slicing region, and the blocking calls native code makes (see native_frame.h
// for the invariants).
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <memory>
#include <new>
#include <string>

#include "native_frame.h"
#include "stasis/arch/platform.h"
#include "stasis/arena.h"
#include "stasis/ctx.h"
#include "stasis/native.h"
#include "stasis/scheduler.h"

namespace stasis {
namespace detail {



namespace {

// Not a thread_local object with a destructor: the thread's scheduler (which
// kills native tasklets) may be destroyed after such an object. The scheduler
// frees it instead (release_native_thread), once no native frame is left.
thread_local NativeThread* tls_native = nullptr;

std::atomic<std::uintptr_t> next_region_slot{0};
// Default region addresses: 256 GiB and up, 4 GiB apart per thread, below 2^39.
constexpr std::uintptr_t kRegionBase = std::uintptr_t{1} << 38;
constexpr std::uintptr_t kRegionSpacing = std::uintptr_t{1} << 32;

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Winvalid-offsetof"
NativeFrameBase* frame_of(arch::Context* ctx) noexcept {
  return reinterpret_cast<NativeFrameBase*>(reinterpret_cast<char*>(ctx) - offsetof(NativeFrameBase, ctx));
}
#pragma GCC diagnostic pop

void describe_tasklet(const void* arg, char* buf, std::size_t size) {
  const NativeThread* nt = static_cast<const NativeThread*>(arg);
  const NativeFrameBase* f = nt->running;
  if (!f || !f->tasklet) return;
  std::string label = f->tasklet->label();  // on a dying process: best effort
  std::snprintf(buf, size, "%s", label.c_str());
}

void arrive(NativeThread& nt, NativeFrameBase* self) noexcept {
  nt.running = self;
  if (!self) {
    arena::set_current_share(nullptr);
    arch::set_running_guard(nullptr);
  } else if (self->sliced()) {
    arena::set_current_share(static_cast<arena::Share*>(self->share));
    arch::set_running_guard(&nt.region_guard);
  } else {
    arena::set_current_share(static_cast<arena::Share*>(self->share));
    arch::set_running_guard(&stack_of(self)->guard);
  }
}

arch::Context& context_of(NativeThread& nt, NativeFrameBase* f) noexcept { return f ? f->ctx : nt.thread_ctx; }

// Puts f's live stack into the region, saving the current owner's. Called only
// off the region.
void make_owner(NativeThread& nt, NativeFrameBase* f) {
  if (nt.owner == f) return;
  if (NativeFrameBase* o = nt.owner) arch::save_slice(o->slice, static_cast<char*>(o->ctx.fctx), nt.region.high());
  arch::restore_slice(f->slice, nt.region.high());
  nt.owner = f;
}

// Switches from the running frame f to whoever resumed it; returns when f runs again.
[[gnu::always_inline]] inline void switch_to_resumer(NativeThread& nt, NativeFrameBase* f) {
  NativeFrameBase* r = f->resumer;
  if (r && r->sliced()) [[unlikely]] make_owner(nt, r);  // f is dedicated: sliced frames have resumers off the region
  arch::switch_context(f->ctx, context_of(nt, r));
  arrive(nt, f);
}

// One resume of f by the running context `me`, which is off the region if f is
// sliced. Returns the context that switched back: f, or (for the loop) a frame f
// switched to directly.
[[gnu::always_inline]] inline arch::Context* resume_once(NativeThread& nt, NativeFrameBase* me,
                                                         NativeFrameBase* f) {
  if (f->sliced()) make_owner(nt, f);
  f->started = true;
  arch::Context* from = arch::switch_context(context_of(nt, me), f->ctx);
  arrive(nt, me);
  return from;
}

// After the callable returned or threw: marks f finished and leaves its stack for
// good (a frame of its own, so that native_entry's frame stays small: it lies
// under every parked tasklet's stack).
[[noreturn, gnu::noinline]] void finish_native(NativeFrameBase* f) {
  NativeThread& nt = *tls_native;
  f->finished = true;
  if (nt.owner == f) nt.owner = nullptr;
  NativeFrameBase* r = f->resumer;
  if (r && r->sliced()) make_owner(nt, r);
  arch::exit_context(f->ctx, context_of(nt, r));
}

// The switcher's life: each time a sliced frame switches to it, it saves that
// frame's stack (the region's owner), restores `switch_in`'s and runs it.
// Noinline and cold: native_entry starts every context, and inlined here this
// loop's locals and saved registers would sit in native_entry's frame, under
// every parked tasklet's stack.
[[noreturn, gnu::noinline, gnu::cold]] void run_switcher(NativeThread& nt) {
  for (;;) {
    NativeFrameBase* in = std::exchange(nt.switch_in, nullptr);
    make_owner(nt, in);
    arch::switch_context(nt.switcher, in->ctx);
  }
}

// Keeps the exception that escaped f's callable as the tasklet's failure.
// Noinline and cold, so that the exception_ptr temporary lives in this frame,
// not in native_entry's (which lies under every parked tasklet's stack).
[[gnu::noinline, gnu::cold]] void keep_escaped_exception(NativeFrameBase* f) noexcept {
  NativeAccess::exc(*f->tasklet) = std::current_exception();
}

// The bottom frame of every native tasklet's stack, and so part of every parked
// sliced tasklet's slice: it keeps nothing across the callable (16 bytes on
// x86_64: the return address and alignment). Whatever needs more (the switcher,
// a caught exception, the end) is in a function of its own, and the frame is
// found again as the running one (the callable returns, or throws, on f).
void native_entry(arch::Context* self, arch::Context* /*from*/) {
  if (self == &tls_native->switcher) [[unlikely]] run_switcher(*tls_native);
  NativeFrameBase* f = frame_of(self);
  arrive(*tls_native, f);
  try {
    f->callable_ops->invoke(f, *f->tasklet);
  } catch (...) {
    keep_escaped_exception(tls_native->running);
  }
  f = tls_native->running;
  // Before the call: AddressSanitizer checks the stack at every call of a
  // [[noreturn]] function, and the frames the callable left must not fail it.
  arch::forget_stack_poison(f->ctx);
  finish_native(f);
}

}  // namespace

void ensure_region(NativeThread& nt) {
  if (nt.region.low) return;
  const SliceRegionOptions& o = nt.region_options;
  std::uintptr_t base = o.base;
  if (!base) base = kRegionBase + next_region_slot.fetch_add(1, std::memory_order_relaxed) * kRegionSpacing;
  nt.region = arch::map_stack(o.size, base, /*fallback=*/o.base == 0);
  nt.region_guard.stack = nt.region;
  nt.region_guard.kind = "sliced stack region";
  nt.region_guard.describe = &describe_tasklet;
  nt.region_guard.arg = &nt;
  // The stub: what make_context leaves at the top of a fresh stack, cloned into
  // every new sliced frame (Stackless' slp_cstack_clone).
  arch::Context stub;
  arch::make_context(stub, nt.region.low, nt.region.size, &native_entry);
  nt.stub_fctx = stub.fctx;
  arch::copy_into_slice(nt.stub, static_cast<char*>(stub.fctx),
                        static_cast<std::size_t>(nt.region.high() - static_cast<char*>(stub.fctx)), nt.region.high());
  nt.switcher_stack = arch::map_stack(16 * 1024);
  arch::make_context(nt.switcher, nt.switcher_stack.low, nt.switcher_stack.size, &native_entry);
}

namespace {

// Unwinds a started, unfinished native frame by raising TaskletExit at its
// suspension point and running it to its end.
void unwind_native(NativeThread& nt, NativeFrameBase* f) {
  Tasklet& t = *f->tasklet;
  Scheduler& s = Scheduler::current();
  f->dying = true;
  NativeAccess::exc(t) = std::make_exception_ptr(TaskletExit());
  Tasklet* outer = std::exchange(NativeAccess::current(s), &t);
  TaskletState state = std::exchange(NativeAccess::state(t), TaskletState::kRunning);
  resume_native(nt, f);
  NativeAccess::current(s) = outer;
  NativeAccess::state(t) = state;
}

// Frees an abandoned frame (its state lives on in another process): no unwinding,
// no destructor of the callable, and its arena share goes with it whole.
void discard_abandoned(NativeThread& nt, NativeFrameBase* f) noexcept {
  if (nt.owner == f) nt.owner = nullptr;
  if (!f->sliced()) {
    DedicatedStack* st = stack_of(f);
    arch::StackMemory mem = st->guard.stack;
    st->~DedicatedStack();
    nt.pool.give_back(mem);
  }
  arena::destroy_share(static_cast<arena::Share*>(f->share));
  std::uint32_t size = f->total_size;
  f->~NativeFrameBase();
  FrameBase::operator delete(f, size);
  --nt.live_frames;
}

// --- FrameOps of native frames. ---

// The scheduler loop runs native frames through Scheduler::run_native, never
// through FrameOps::run; this entry only guards the table.
Step native_run(FrameBase* fb, Ctx&) {
  throw SchedulerError(std::string("internal error: native frame of ") +
                       static_cast<NativeFrameBase*>(fb)->tasklet->label() + " run as a soft frame");
}

void native_destroy(FrameBase* fb) noexcept {
  auto* f = static_cast<NativeFrameBase*>(fb);
  NativeThread& nt = native_thread();
  if (f->abandoned) return discard_abandoned(nt, f);
  if (f->started && !f->finished) unwind_native(nt, f);
  if (nt.owner == f) nt.owner = nullptr;
  if (!f->sliced()) {
    DedicatedStack* st = stack_of(f);
    arch::StackMemory mem = st->guard.stack;
    st->~DedicatedStack();
    nt.pool.give_back(mem);
  }
  f->callable_ops->destroy(f);
  if (auto* share = static_cast<arena::Share*>(f->share); share && arena::bytes_in_use(share) == 0) {
    arena::destroy_share(share);
  }
  std::uint32_t size = f->total_size;
  f->~NativeFrameBase();
  FrameBase::operator delete(f, size);
  --nt.live_frames;
}

void native_describe(const FrameBase* fb, std::vector<FieldValue>& out) {
  auto* f = static_cast<const NativeFrameBase*>(fb);
  if (f->sliced()) {
    out.push_back({"stack", "sliced, " + std::to_string(f->slice.size) + " live bytes saved"});
  } else {
    out.push_back({"stack", "dedicated, " + std::to_string(stack_of(f)->guard.stack.size) + " bytes"});
  }
  out.push_back({"state", f->finished ? "finished" : (f->started ? "started" : "not started")});
}

const char* native_cxx_name() noexcept { return "stasis::native tasklet"; }

constinit FrameOps native_ops{&native_run, &native_destroy, &native_describe, &native_cxx_name,
                              sizeof(NativeFrameBase)};

Tasklet& native_self(const char* what) {
  Scheduler* s = Scheduler::current_or_null();
  Tasklet* t = s ? s->current_tasklet() : nullptr;
  if (!t || !t->native()) {
    throw CannotBlock(std::string(what) + " needs a native tasklet (stasis/native.h); " +
                      (t ? "soft frames use the STASIS_* macros" : "outside tasklets nothing can block"));
  }
  return *t;
}

}  // namespace

NativeFrameBase::NativeFrameBase(std::uint32_t total, bool is_sliced, const CallableOps* ops) noexcept
    : FrameBase(&native_ops), callable_ops(ops), total_size(total), sliced_(is_sliced) {}

NativeThread*& native_thread_slot() noexcept { return tls_native; }

NativeThread& native_thread() {
  if (!tls_native) [[unlikely]] tls_native = new NativeThread();
  return *tls_native;
}

void release_native_thread() noexcept {
  if (tls_native && tls_native->live_frames == 0 && !tls_native->running) {
    delete tls_native;
    tls_native = nullptr;
  }
}

Tasklet* resume_from_loop(Tasklet& t) {
  NativeThread& nt = *tls_native;  // exists: t's frame was made on this thread
  auto* f = static_cast<NativeFrameBase*>(NativeAccess::top(t));
  f->resumer = nullptr;
  for (;;) {
    f = frame_of(resume_once(nt, nullptr, f));  // who came back: t, or one t switched to directly
    NativeFrameBase* r = std::exchange(nt.request, nullptr);
    if (!r) return f->tasklet;
    resume_native(nt, r);  // we are off the region, so we can run r directly
  }
}

void serve_requests(NativeThread& nt, NativeFrameBase* f) {
  NativeFrameBase* me = nt.running;
  while (NativeFrameBase* r = std::exchange(nt.request, nullptr)) {
    resume_native(nt, r);  // we are off the region, so we can run r directly
    resume_once(nt, me, f);
  }
}

void resume_native(NativeThread& nt, NativeFrameBase* f) {
  NativeFrameBase* me = nt.running;
  if (me && me->sliced() && f->sliced()) {
    nt.request = f;  // the region holds our own stack: our resumer runs f for us
    switch_to_resumer(nt, me);
    return;
  }
  f->resumer = me;
  resume_once(nt, me, f);
  if (nt.request) serve_requests(nt, f);
}

NativeFrameBase* make_native_frame(std::size_t size, const NativeOptions& options, const CallableOps* ops) {
  NativeThread& nt = native_thread();
  arch::install_overflow_handler();
  const bool sliced = options.stack == StackKind::kSliced;
  if (sliced) ensure_region(nt);
  std::size_t total = kCallableOffset + ((size + 7) & ~std::size_t{7});
  void* mem = FrameBase::operator new(total);
  auto* f = ::new (mem) NativeFrameBase(static_cast<std::uint32_t>(total), sliced, ops);
  try {
    if (sliced) {
      arch::copy_into_slice(f->slice, nt.stub.bytes, nt.stub.size, nt.region.high());
      f->ctx.fctx = nt.stub_fctx;
      f->ctx.stack_low = nt.region.low;
      f->ctx.stack_size = static_cast<std::uint32_t>(nt.region.size);
    } else {
      std::size_t want = options.stack_size ? options.stack_size : kDefaultDedicatedStackSize;
      if (want > arch::kMaxStackSize / 2) {
        throw InvalidArgument("spawn_native: stack_size " + std::to_string(want) + " is more than the " +
                              std::to_string(arch::kMaxStackSize / 2) + " a dedicated stack may have");
      }
      arch::StackMemory st = nt.pool.take(want + sizeof(DedicatedStack) + 64);
      // The stack's own record sits at its top; the usable stack is below it.
      char* record = st.high() - ((sizeof(DedicatedStack) + 63) & ~std::size_t{63});
      DedicatedStack* ds = ::new (record) DedicatedStack{};
      ds->guard.stack = st;
      ds->guard.kind = "dedicated stack";
      ds->guard.describe = &describe_tasklet;
      ds->guard.arg = &nt;
      arch::make_context(f->ctx, st.low, static_cast<std::size_t>(record - st.low), &native_entry);
    }
    if (options.arena) f->share = arena::create_share();
  } catch (...) {
    if (!sliced && f->ctx.stack_low) nt.pool.give_back(stack_of(f)->guard.stack);
    f->~NativeFrameBase();
    FrameBase::operator delete(mem, total);
    throw;
  }
  ++nt.live_frames;
  return f;
}

void* native_callable_storage(NativeFrameBase* f) noexcept { return f->callable(); }

void discard_native_frame(NativeFrameBase* f) noexcept {
  static constexpr CallableOps kNothingToDestroy{nullptr, [](NativeFrameBase*) noexcept {}};
  f->callable_ops = &kNothingToDestroy;
  native_destroy(f);
}

TaskletRef spawn_native_frame(Scheduler& s, NativeFrameBase* f, NativeOptions options) {
  TaskletRef t = s.spawn_frame(f, SpawnOptions{std::move(options.name), options.priority});
  f->tasklet = t.get();
  NativeAccess::mark_native(*t);
  return t;
}

void set_native_result(Tasklet& t, std::any value) { NativeAccess::slot(t) = std::move(value); }

namespace {

// Raises t's pending exception. Noinline and cold: the exception_ptr passed to
// std::rethrow_exception is a temporary in memory, which inlined would sit in
// switch_out's frame, under every parked sliced tasklet's stack.
[[noreturn, gnu::noinline, gnu::cold]] void rethrow_pending(Tasklet& t) {
  std::rethrow_exception(std::exchange(NativeAccess::exc(t), nullptr));
}

}  // namespace

void take_pending_exception(Tasklet& t) {
  if (NativeAccess::exc(t)) [[unlikely]] rethrow_pending(t);
}

namespace {

// The last step of native_suspend, in a frame of its own so that native_suspend
// can tail-call it: a parked sliced tasklet's slice then holds this small frame
// instead of native_suspend's (the slice is what a parked tasklet costs). Its
// frame is the return address, `f` in one saved register and the switch's Hop
// (32 bytes on x86_64): the thread state is read again after the switch, the
// rare paths are calls to cold functions, and a native frame was entered by a
// switch, so the switch needs no call before the jump (SelfKind::kEntered).
[[gnu::always_inline]] inline void switch_out_inline(NativeFrameBase* f, arch::Context& to) {
  arch::switch_context(f->ctx, to, arch::SelfKind::kEntered);
  arrive(*tls_native, f);
  take_pending_exception(*f->tasklet);
}
[[gnu::noinline]] void switch_out(NativeFrameBase* f, arch::Context& to) { switch_out_inline(f, to); }

// Takes the value a switch brought to t (empty if none), emptying its slot.
std::any take_switched_value(Tasklet& t) noexcept {
  std::any& slot = NativeAccess::slot(t);
  if (!slot.has_value()) return {};
  return std::exchange(slot, std::any());
}

// switch_out for switch_to: also takes the value whoever switched back brought.
// Returns it (not by a caller after the switch) so that switch_to tail-calls it:
// one return fewer after the stack changed under the return predictor, and no
// switch_to frame under the parked stack.
[[gnu::noinline]] std::any switch_out_for_value(NativeFrameBase* f, arch::Context& to) {
  switch_out_inline(f, to);
  return take_switched_value(*f->tasklet);
}

// Switches from the running frame f (run by the loop) straight to g, which the
// loop's bookkeeping already made the running tasklet, through `out` (a
// switch_out). Returns what `out` returns when something switches back to f.
template <auto out>
[[gnu::always_inline]] inline auto switch_directly(NativeThread& nt, NativeFrameBase* f, NativeFrameBase* g) {
  g->resumer = nullptr;
  g->started = true;
  if (f->sliced() && g->sliced()) {  // only a context off the region can do the copies
    nt.switch_in = g;
    return out(f, nt.switcher);
  }
  if (g->sliced()) make_owner(nt, g);
  return out(f, g->ctx);
}

}  // namespace

void native_suspend(Tasklet& t) {
  NativeThread& nt = *tls_native;
  NativeFrameBase* f = nt.running;
  if (f->dying) {  // killed: it may not block again; undo the park and keep unwinding
    Scheduler::current().detach(&t);
    NativeAccess::state(t) = TaskletState::kRunning;
    throw TaskletExit();
  }
  if (!f->resumer) {  // run by the loop: maybe switch straight to the next tasklet
    Scheduler& s = *tls_scheduler;
    if (Tasklet* n = NativeAccess::take_direct_successor(s, t)) {
      if (n == &t) return take_pending_exception(t);  // it yielded and is next again
      return switch_directly<switch_out>(nt, f, static_cast<NativeFrameBase*>(NativeAccess::top(*n)));
    }
  }
  NativeFrameBase* r = f->resumer;
  if (r && r->sliced()) [[unlikely]] make_owner(nt, r);  // f is dedicated: sliced frames have resumers off the region
  return switch_out(f, context_of(nt, r));
}

}  // namespace detail

void configure_slice_region(const SliceRegionOptions& options) {
  detail::NativeThread& nt = detail::native_thread();
  if (nt.region.low) {
    throw SchedulerError("configure_slice_region: this thread's slice region is already in use; configure it "
                         "before the thread's first sliced tasklet");
  }
  if (options.size < 4096) throw InvalidArgument("configure_slice_region: a region needs at least 4096 bytes");
  if (options.size > arch::kMaxStackSize) {
    throw InvalidArgument("configure_slice_region: " + std::to_string(options.size) + " bytes is more than the " +
                          std::to_string(arch::kMaxStackSize) + " a stack may have");
  }
  nt.region_options = options;
}

std::pair<std::uintptr_t, std::uintptr_t> slice_region_bounds() noexcept {
  detail::NativeThread* nt = detail::tls_native;
  if (!nt || !nt->region.low) return {0, 0};
  return {reinterpret_cast<std::uintptr_t>(nt->region.low), reinterpret_cast<std::uintptr_t>(nt->region.high())};
}

namespace this_tasklet {

Tasklet* get() noexcept {
  Scheduler* s = Scheduler::current_or_null();
  return s ? s->current_tasklet() : nullptr;
}

bool is_native() noexcept {
  Tasklet* t = get();
  return t && t->native();
}

void yield() {
  Scheduler* s = detail::tls_scheduler;
  Tasklet* t = s ? s->current_tasklet() : nullptr;
  if (!t || !t->native()) [[unlikely]] detail::native_self("this_tasklet::yield()");
  s->make_runnable(t, false);
  detail::native_suspend(*t);
}

void sleep_until(Scheduler::Clock::time_point when) {
  Tasklet& t = detail::native_self("this_tasklet::sleep");
  if (when <= Scheduler::Clock::now()) return yield();
  Scheduler::current().sleep_current_until(when);
  detail::native_suspend(t);
}

void preemption_point() {
  Tasklet& t = detail::native_self("this_tasklet::preemption_point()");
  if (detail::NativeAccess::budget_spent(Scheduler::current(), t)) detail::native_suspend(t);
}

namespace {

// The general switch_to: any target, hooks, budgets; raises the errors.
[[gnu::noinline]] std::any switch_to_via_loop(Tasklet& target, std::any value) {
  Tasklet& t = detail::native_self("this_tasklet::switch_to()");
  Scheduler& s = Scheduler::current();
  if (t.block_trap()) {
    throw BlockTrap(t.label() + ": switching to " + target.label() + " would block, and its block_trap is set");
  }
  s.wake_for_switch(&target, value.has_value());
  if (value.has_value()) detail::NativeAccess::slot(target) = std::move(value);
  s.block_current(WaitKind::kSwitch);
  detail::native_suspend(t);
  return detail::take_switched_value(t);
}

// The direct switch_to (see NativeAccess::take_switch_target) when it applies:
// hands `value` (if not null) to target, switches to it and returns the value
// that comes back. Else changes nothing and goes the general way.
[[gnu::always_inline]] inline std::any switch_to_impl(Tasklet& target, std::any* value) {
  Scheduler* s = detail::tls_scheduler;
  Tasklet* t = s ? s->current_tasklet() : nullptr;
  if (t && t->native()) [[likely]] {
    detail::NativeThread& nt = *detail::tls_native;
    detail::NativeFrameBase* f = nt.running;
    if (!f->resumer && !f->dying && detail::NativeAccess::take_switch_target(*s, *t, target)) [[likely]] {
      if (value) detail::NativeAccess::slot(target) = std::move(*value);
      return detail::switch_directly<detail::switch_out_for_value>(
          nt, f, static_cast<detail::NativeFrameBase*>(detail::NativeAccess::top(target)));
    }
  }
  return switch_to_via_loop(target, value ? std::move(*value) : std::any());
}

}  // namespace

std::any switch_to(Tasklet& target, std::any value) { return switch_to_impl(target, &value); }

std::any switch_to(Tasklet& target) { return switch_to_impl(target, nullptr); }

std::any take_value() { return detail::take_switched_value(detail::native_self("this_tasklet::take_value()")); }

std::uint32_t park_ticket() noexcept {
  Scheduler* s = Scheduler::current_or_null();
  return s ? detail::NativeAccess::park_seq(*s) + 1 : 0;
}

void park(WaitKind kind) {
  Tasklet& t = detail::native_self("this_tasklet::park()");
  if (kind != WaitKind::kIo) throw InvalidArgument("this_tasklet::park: only WaitKind::kIo can be parked in");
  Scheduler& s = Scheduler::current();
  s.blocking_actor("park", "an I/O operation");
  detail::NativeAccess::waiter(t).bits = ++detail::NativeAccess::park_seq(s);
  s.block_current(kind);
  detail::native_suspend(t);
}

}  // namespace this_tasklet

bool wake(Tasklet& t, std::uint32_t ticket) {
  if (t.state() != TaskletState::kBlocked) return false;
  WaitKind k = detail::NativeAccess::wait(t);
  if (k != WaitKind::kIo || detail::NativeAccess::waiter(t).bits != ticket) return false;
  Scheduler& s = Scheduler::current();
  s.unblock(&t);
  s.make_runnable(&t, false);
  return true;
}

}  // namespace stasis
