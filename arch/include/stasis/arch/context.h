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

#include <cstddef>

namespace stasis::arch {

struct Context;
// How a new context starts: `self` is the context now running, `from` the one that
// switched to it. It must never return; it ends with exit_context().
using EntryFn = void (*)(Context* self, Context* from);

struct Context {
  EntryFn entry = nullptr;       // run at the first switch to a made context
  void* fctx = nullptr;          // saved registers (on its own stack) while suspended
  char* stack_low = nullptr;     // stack bounds for sanitizer annotations; a thread's
  std::size_t stack_size = 0;    //   own stack learns them at its first switch
  void* asan_fake_stack = nullptr;
  void* eh_caught = nullptr;     // saved __cxa_eh_globals while suspended
  unsigned eh_uncaught = 0;
};

// Prepares `ctx` to run entry on the stack [low, low + size) at its first switch.
void make_context(Context& ctx, char* low, std::size_t size, EntryFn entry);

// Suspends `self` (the running context) and runs `to`. Returns when another
// context switches back to `self`; returns that context (its fctx recorded).
Context* switch_context(Context& self, Context& to);

// Under AddressSanitizer: clears the poison of every frame on ctx's stack. A
// context about to exit calls it, because the frames it leaves behind never
// return to unpoison themselves, and the next context on the same memory (a
// pooled stack, the shared region) must not inherit their redzones. No-op
// otherwise.
void forget_stack_poison(const Context& ctx) noexcept;

// Leaves `self` for good (its stack may be freed by whoever runs next) and runs `to`.
[[noreturn]] void exit_context(Context& self, Context& to);

}  // namespace stasis::arch

#endif  // STASIS_ARCH_CONTEXT_H_
