// stasis/arch/overflow.h — reporting a tasklet's stack overflow instead of silent
// corruption.
//
// A stack overflow runs into the guard page below a tasklet stack and raises
// SIGSEGV. The handler, running on an alternate signal stack (the faulting stack
// has no room left), checks whether the fault hit the guard of the stack the
// thread is running on; if so it prints
//   stasis: stack overflow in tasklet #7 'parser' (dedicated stack, 262144 bytes, ...)
// and ends the process with SIGSEGV (no recovery: the tasklet's frames are gone).
// Any other fault goes to the handler installed before ours, or the default.
//
// Invariant: the running guard is set (set_running_guard) exactly while a
// native tasklet runs on this thread.
#ifndef STASIS_ARCH_OVERFLOW_H_
#define STASIS_ARCH_OVERFLOW_H_

#include <cstddef>

#include "stasis/arch/stack.h"

namespace stasis::arch {

// What the handler needs about the running tasklet's stack. `describe` writes a
// NUL-terminated description of the tasklet ("tasklet #7 'parser'") into buf; it
// runs in the signal handler, on a dying process.
struct GuardInfo {
  StackMemory stack;
  const char* kind = "";  // "dedicated stack", "sliced stack region"
  void (*describe)(const void* arg, char* buf, std::size_t size) = nullptr;
  const void* arg = nullptr;
};

// Installs the process-wide SIGSEGV/SIGBUS handler (once) and this thread's
// alternate signal stack (once per thread). Call before running native tasklets.
void install_overflow_handler();

// The guard of the stack now running on this thread (null: a thread's own stack).
// Inline: set at every switch.
namespace detail {
inline thread_local const GuardInfo* tls_guard = nullptr;
}  // namespace detail
inline void set_running_guard(const GuardInfo* guard) noexcept { detail::tls_guard = guard; }
inline const GuardInfo* running_guard() noexcept { return detail::tls_guard; }

}  // namespace stasis::arch

#endif  // STASIS_ARCH_OVERFLOW_H_
