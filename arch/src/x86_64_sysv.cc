// x86_64_sysv.cc — stasis/arch/platform.h for x86_64 with the System V ABI (Linux).
// The register switch itself is Boost.Context's jump_x86_64_sysv_elf_gas.S.
#include <ucontext.h>

#include "stasis/arch/platform.h"

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

}  // namespace stasis::arch
