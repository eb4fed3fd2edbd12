// aarch64_aapcs.cc — stasis/arch/platform.h for aarch64 with the AAPCS64 ABI (Linux).
// The register switch itself is Boost.Context's jump_arm64_aapcs_elf_gas.S.
#include <ucontext.h>

#include "stasis/arch/platform.h"
#include "stasis/arch/suspended.h"

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

std::uintptr_t thread_pointer() noexcept {
  std::uintptr_t tp;
  asm volatile("mrs %0, tpidr_el0" : "=r"(tp));
  return tp;
}

// The switch block of Boost 1.74 jump_fcontext / ontop_fcontext (arm64 AAPCS ELF),
// as `aarch64-linux-gnu-objdump -d libboost_context.so.1.74.0` shows it:
// `sub sp, sp, #0xb0`, then
//   +0x00..+0x38 d8..d15   +0x40..+0x88 x19..x28   +0x90 x29 (fp)  +0x98 x30 (lr)
//   +0xa0 the resume pc (lr again, stored "as PC"); the switch returns with sp = fctx + 0xb0.
// make_fcontext builds the same block: pc = the entry function, lr = its `finish`
// stub (so the entry's frame returns there).
namespace {
constexpr SavedRegister kSavedRegisters[] = {
    {72, "d8", 0x00},   {73, "d9", 0x08},   {74, "d10", 0x10},  {75, "d11", 0x18},
    {76, "d12", 0x20},  {77, "d13", 0x28},  {78, "d14", 0x30},  {79, "d15", 0x38},
    {19, "x19", 0x40},  {20, "x20", 0x48},  {21, "x21", 0x50},  {22, "x22", 0x58},
    {23, "x23", 0x60},  {24, "x24", 0x68},  {25, "x25", 0x70},  {26, "x26", 0x78},
    {27, "x27", 0x80},  {28, "x28", 0x88},  {29, "x29", 0x90},  {30, "x30", 0x98},
};
// Linux user space uses 48-bit virtual addresses; the bits above carry a pointer
// authentication code when return addresses are signed.
constexpr SwitchBlock kSwitchBlock{kSavedRegisters, 0xa0, 0xb0, 31, 30, (std::uint64_t{1} << 48) - 1,
                                   "no other state"};
}  // namespace

const SwitchBlock& switch_block() noexcept { return kSwitchBlock; }

}  // namespace stasis::arch
