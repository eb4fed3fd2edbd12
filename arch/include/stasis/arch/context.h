// stasis/arch/context.h — execution contexts and the register switch between them.
//
// A Context is a place execution can be suspended and resumed: a thread's own
// stack, a tasklet's dedicated stack, or a sliced tasklet's stack in the shared
// region. Switching saves the callee-saved registers on the running stack and
// loads the target's, through Boost.Context's fcontext (make_fcontext /
// jump_fcontext; assembly per platform, shipped by Boost). Around each switch this
// layer keeps what fcontext does not:
//   - AddressSanitizer's view of the current stack (__sanitizer_start_switch_fiber
//     before, __sanitizer_finish_switch_fiber after), so ASan builds stay clean;
//   - the C++ runtime's per-thread exception state (__cxa_eh_globals: the chain of
//     exceptions being handled), so a tasklet that switches inside a catch block
//     finds its own exception when it resumes.
//
// Invariants: `fctx` is valid exactly while the context is suspended; whoever
// resumes a context learns where the switcher stopped (switch_context records the
// other side's fctx), so a context's fctx is written only by the context that
// execution arrives in.
#ifndef STASIS_ARCH_CONTEXT_H_
#define STASIS_ARCH_CONTEXT_H_

#include <boost/context/detail/fcontext.hpp>

#include <cstddef>
#include <cstdint>

#if defined(__SANITIZE_ADDRESS__)
#define STASIS_ARCH_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STASIS_ARCH_ASAN 1
#endif
#endif
#if STASIS_ARCH_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif

namespace stasis::arch {

struct Context;
// How a new context starts: `self` is the context now running, `from` the one that
// switched to it. It must never return; it ends with exit_context().
using EntryFn = void (*)(Context* self, Context* from);

// Kept small: one is embedded in every native tasklet.
struct Context {
  void* fctx = nullptr;            // saved registers (on its own stack) while suspended
  char* stack_low = nullptr;       // stack bounds (sanitizer annotations, the entry
  void* asan_fake_stack = nullptr; //   slot); a thread's own stack learns them at
  void* eh_caught = nullptr;       //   its first switch; eh_*: the saved
  std::uint32_t stack_size = 0;    //   __cxa_eh_globals while suspended
  std::uint32_t eh_uncaught = 0;
};

// The largest stack a Context describes.
inline constexpr std::size_t kMaxStackSize = std::size_t{1} << 31;

// Prepares `ctx` to run entry on the stack [low, low + size) at its first switch
// (size <= kMaxStackSize). One entry function per process (the runtime has one):
// it is kept once, not in every context, and another one is a std::logic_error.
void make_context(Context& ctx, char* low, std::size_t size, EntryFn entry);

// What a switch may assume of the context it suspends. kEntered: `self` was
// itself entered by a switch (a made context, never a thread's own stack), so the
// thread's exception state is known already (every arrival loads it) and the
// switch makes no call before the jump. Its caller's frame stays under a parked
// stack (a sliced tasklet's slice holds it), and that call would need one more
// spilled register there.
enum class SelfKind : bool { kAny, kEntered };

// Suspends `self` (the running context) and runs `to`. Returns when another
// context switches back to `self`; returns that context (its fctx recorded).
// Inline: every tasklet switch runs it, and each call level it adds is one more
// mispredicted return after the stack changed under the return predictor.
inline Context* switch_context(Context& self, Context& to, SelfKind kind = SelfKind::kAny);

// Under AddressSanitizer: clears the poison of every frame on ctx's stack. A
// context about to exit calls it, because the frames it leaves behind never
// return to unpoison themselves, and the next context on the same memory (a
// pooled stack, the shared region) must not inherit their redzones. No-op
// otherwise (inline, so that it costs its caller no call: the caller is a
// tasklet's bottom frame, whose saved registers sit under every parked stack).
inline void forget_stack_poison(const Context& ctx) noexcept;

// Leaves `self` for good (its stack may be freed by whoever runs next) and runs `to`.
[[noreturn]] void exit_context(Context& self, Context& to);

// --- Implementation of the inline switch. ---
namespace detail {

// What a switch hands to the context it arrives in.
struct Hop {
  Context* from;
  Context* to;
};

// The Itanium C++ ABI's per-thread exception state (libstdc++ and libc++abi both
// lay it out so): the exceptions being handled, innermost first, and the count of
// exceptions thrown but not yet caught.
struct EhGlobals {
  void* caught;
  unsigned uncaught;
};
EhGlobals* load_eh_globals() noexcept;
inline thread_local EhGlobals* tls_eh = nullptr;
inline EhGlobals* eh_globals() noexcept {
  EhGlobals* g = tls_eh;
  if (!g) [[unlikely]] g = load_eh_globals();
  return g;
}
// After any arrival in a context (trampoline or switch_context) tls_eh is set.
inline EhGlobals* eh_globals_loaded() noexcept {
  EhGlobals* g = tls_eh;
  if (!g) __builtin_unreachable();
  return g;
}

inline void start_switch(void** fake_stack_save, const Context& to) noexcept {
#if STASIS_ARCH_ASAN
  __sanitizer_start_switch_fiber(fake_stack_save, to.stack_low, to.stack_size);
#else
  (void)fake_stack_save;
  (void)to;
#endif
}

// Called first thing after arriving in a context; `from` is where we came from.
inline void finish_switch(void* fake_stack, Context* from) noexcept {
#if STASIS_ARCH_ASAN
  const void* low = nullptr;
  std::size_t size = 0;
  __sanitizer_finish_switch_fiber(fake_stack, &low, &size);
  if (from && !from->stack_low) {  // a thread's own stack: learned on its first switch away
    from->stack_low = static_cast<char*>(const_cast<void*>(low));
    from->stack_size = static_cast<std::uint32_t>(size < kMaxStackSize ? size : kMaxStackSize);
  }
#else
  (void)fake_stack;
  (void)from;
#endif
}

}  // namespace detail

inline void forget_stack_poison(const Context& ctx) noexcept {
#if STASIS_ARCH_ASAN
  if (ctx.stack_low) __asan_unpoison_memory_region(ctx.stack_low, ctx.stack_size);
#else
  (void)ctx;
#endif
}

// Not split into helpers: the stack walk names a suspended frame by the call the
// outermost inlined function replaced, which a nested inline call here hides.
inline Context* switch_context(Context& self, Context& to, SelfKind kind) {
  detail::EhGlobals* g = kind == SelfKind::kEntered ? detail::eh_globals_loaded() : detail::eh_globals();
  self.eh_caught = g->caught;
  self.eh_uncaught = g->uncaught;
  g = nullptr;  // (unoptimized builds:) a parked stack keeps no pointer into thread-local storage
  detail::Hop hop{&self, &to};
  detail::start_switch(&self.asan_fake_stack, to);
  boost::context::detail::transfer_t t = boost::context::detail::jump_fcontext(to.fctx, &hop);
  // The sender's Hop is on its (now parked) stack: clear it once read, so that a
  // parked stack holds no pointer to the context it switched to (native
  // persistence refuses pointers into other tasklets).
  auto* sent = static_cast<detail::Hop*>(t.data);
  Context* from = sent->from;
  sent->from = nullptr;
  sent->to = nullptr;
  from->fctx = t.fctx;
  detail::finish_switch(self.asan_fake_stack, from);
  g = detail::eh_globals_loaded();  // set by whoever ran here last; read again rather than kept
  g->caught = self.eh_caught;       // in a callee-saved register: a parked sliced tasklet's slice
  g->uncaught = self.eh_uncaught;   // holds every saved register
  return from;
}

}  // namespace stasis::arch

#endif  // STASIS_ARCH_CONTEXT_H_
