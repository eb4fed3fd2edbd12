// x86_64_sysv.cc — stasis/arch/platform.h for x86_64 with the System V ABI (Linux).
// The register switch itself is Boost.Context's jump_x86_64_sysv_elf_gas.S.
#include <ucontext.h>

#include "stasis/arch/platform.h"
#include "stasis/arch/suspended.h"

namespace stasis::arch {

const char* platform_name() noexcept { return "x86_64 System V"; }

std::size_t red_zone_bytes() noexcept { return 128; }

std::uintptr_t interrupted_stack_pointer(const void* ucontext) noexcept {
  const auto* uc = static_cast<const ucontext_t*>(ucontext);
  return static_cast<std::uintptr_t>(uc->uc_mcontext.gregs[REG_RSP]);
}

std::uintptr_t current_stack_pointer() noexcept {
  std::uintptr_t sp;
  asm volatile("movq %%rsp, %0" : "=r"(sp));
  return sp;
}

std::uintptr_t thread_pointer() noexcept {
  std::uintptr_t tp;
  asm volatile("movq %%fs:0, %0" : "=r"(tp));  // the TCB's self pointer: the fs base
  return tp;
}

// The switch block of Boost 1.74 jump_fcontext / ontop_fcontext (x86_64 SysV ELF),
// as `objdump -d libboost_context.so.1.74.0` shows it: `lea -0x38(%rsp),%rsp` below
// the return address its caller's `call` pushed, then
//   +0x00 MXCSR (4 bytes), +0x04 x87 control word (4 bytes)
//   +0x08 r12  +0x10 r13  +0x18 r14  +0x20 r15  +0x28 rbx  +0x30 rbp
//   +0x38 the return address (resume pc); the switch returns with rsp = fctx + 0x40.
// make_fcontext builds the same block: rbx = the entry function, rbp = its `finish`
// stub (a fake return address pushed by its trampoline), pc = that trampoline.
namespace {
constexpr SavedRegister kSavedRegisters[] = {
    {12, "r12", 0x08}, {13, "r13", 0x10}, {14, "r14", 0x18},
    {15, "r15", 0x20}, {3, "rbx", 0x28},  {6, "rbp", 0x30},
};
constexpr SwitchBlock kSwitchBlock{kSavedRegisters, 0x38, 0x40, 7, 16, ~std::uint64_t{0},
                                   "+0x00: MXCSR (32 bits) and x87 control word (16 bits)"};
}  // namespace

const SwitchBlock& switch_block() noexcept { return kSwitchBlock; }

}  // namespace stasis::arch
