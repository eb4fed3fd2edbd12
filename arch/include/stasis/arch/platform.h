// stasis/arch/platform.h — the facts about this CPU and ABI that the portable
// stack code needs. One implementation file per platform: x86_64_sysv.cc,
// aarch64_aapcs.cc (selected by CMake). Everything else in arch/ is portable.
#ifndef STASIS_ARCH_PLATFORM_H_
#define STASIS_ARCH_PLATFORM_H_

#include <cstddef>
#include <cstdint>

namespace stasis::arch {

// "x86_64 System V", "aarch64 AAPCS64".
const char* platform_name() noexcept;

// Stacks grow down on every supported platform; this is the alignment a stack
// top handed to make_context must have.
inline constexpr std::size_t kStackAlignment = 16;

// Bytes below the stack pointer a leaf function may use without moving it (the
// x86_64 red zone; 0 on aarch64). Such bytes are dead at every switch, because a
// switch is a call.
std::size_t red_zone_bytes() noexcept;

// The stack pointer of the interrupted code, from a signal handler's ucontext.
std::uintptr_t interrupted_stack_pointer(const void* ucontext) noexcept;

// The running code's stack pointer (approximately: the caller's frame).
std::uintptr_t current_stack_pointer() noexcept;

// The calling thread's thread pointer (x86_64: the fs base; aarch64: TPIDR_EL0),
// from which compiled code addresses thread-local variables. Compilers keep it in
// a callee-saved register across calls (aarch64 reads it once per function), so
// a parked native stack may hold it; native persistence re-aims such a word at
// the restoring thread's thread pointer.
std::uintptr_t thread_pointer() noexcept;

}  // namespace stasis::arch

#endif  // STASIS_ARCH_PLATFORM_H_
