// aarch64_aapcs.cc — stasis/arch/platform.h for aarch64 with the AAPCS64 ABI (Linux).
// The register switch itself is Boost.Context's jump_arm64_aapcs_elf_gas.S.
#include <ucontext.h>

#include "stasis/arch/platform.h"

namespace stasis::arch {

const char* platform_name() noexcept { return "aarch64 AAPCS64"; }

std::size_t red_zone_bytes() noexcept { return 0; }

std::uintptr_t interrupted_stack_pointer(const void* ucontext) noexcept {
  const auto* uc = static_cast<const ucontext_t*>(ucontext);
  return static_cast<std::uintptr_t>(uc->uc_mcontext.sp);
}

std::uintptr_t current_stack_pointer() noexcept {
  std::uintptr_t sp;
  asm volatile("mov %0, sp" : "=r"(sp));
  return sp;
}

}  // namespace stasis::arch
