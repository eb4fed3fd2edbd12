// stasis/arch/suspended.h — where a suspended context keeps its registers, and
// the register set an unwinder starts from.
//
// A context suspended by Boost.Context's jump_fcontext (or ontop_fcontext) has
// stored its callee-saved registers and its resume pc in a small block on its
// own stack, and its fctx points at that block:
//
//   fctx ──► [ switch block: callee-saved registers, resume pc ]  size bytes
//   fctx + size ──► the caller's frames (the stack pointer when the switch returns)
//
// The layout is per platform (x86_64_sysv.cc, aarch64_aapcs.cc), read from the
// compiled Boost 1.74 jump_fcontext; switch_block() describes it as data, and
// suspended_registers() turns a block into the registers of the suspended code.
//
// Invariants: every SavedRegister lies inside [0, size) and is 8 bytes wide;
// pc_offset + 8 <= size; RegisterSet::gpr[n] is meaningful only if bit n of
// RegisterSet::known is set.
#ifndef STASIS_ARCH_SUSPENDED_H_
#define STASIS_ARCH_SUSPENDED_H_

#include <array>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>

namespace stasis::arch {

// One register jump_fcontext stored in the switch block.
struct SavedRegister {
  int dwarf;             // DWARF register number (x86_64: rbx = 3; aarch64: x19 = 19, d8 = 72)
  const char* name;      // "rbx", "x19", "d8"
  std::uint32_t offset;  // byte offset from fctx of the 8-byte slot
};

// The switch block of this platform, and the DWARF facts an unwinder needs.
struct SwitchBlock {
  std::span<const SavedRegister> registers;  // every 8-byte register slot, by offset
  std::uint32_t pc_offset;                   // slot of the resume pc (a return address)
  std::uint32_t size;                        // the stack pointer after the switch returns is fctx + size
  int dwarf_sp;                              // DWARF number of the stack pointer (x86_64 7, aarch64 31)
  int dwarf_return_address;                  // the CFI return-address column (x86_64 16 = rip, aarch64 30 = lr)
  std::uint64_t code_address_mask;           // bits of a code address (aarch64: strips pointer authentication)
  const char* notes;                         // what else lives in the block (x86_64: MXCSR and x87 control word)
};

// The block layout on this platform (data in the platform file).
const SwitchBlock& switch_block() noexcept;

// Registers of suspended code: enough for a CFI unwinder to start.
struct RegisterSet {
  // DWARF numbers 0..31 cover the general registers on both platforms (x86_64 0..16,
  // aarch64 x0..x30 and sp).
  static constexpr int kSlots = 32;
  std::uint64_t pc = 0;  // where execution resumes
  std::uint64_t sp = 0;  // the stack pointer (also gpr[switch_block().dwarf_sp], which walkers ignore)
  std::array<std::uint64_t, kSlots> gpr{};  // by DWARF number
  std::uint32_t known = 0;                  // bit n set: gpr[n] holds the register's value
  // True when pc is a return address (a context suspended in a call, as every
  // fcontext switch is): the code that runs next is after a call, so an unwinder
  // looks up pc - 1. False for an exact pc (a signal's interrupted instruction).
  bool pc_after_call = true;

  void set(int dwarf, std::uint64_t value) noexcept {
    if (dwarf < 0 || dwarf >= kSlots) return;
    gpr[static_cast<std::size_t>(dwarf)] = value;
    known |= std::uint32_t{1} << dwarf;
  }
  bool has(int dwarf) const noexcept { return dwarf >= 0 && dwarf < kSlots && ((known >> dwarf) & 1u); }
};

// Reads the 8-byte word at `address` into *word; false if that memory cannot be
// read (outside the stack copy, unmapped, misaligned). Never throws.
using ReadWord = std::function<bool(std::uint64_t address, std::uint64_t* word)>;

// The registers of the context suspended at `fctx`, read through `read` (live
// memory or a copy of the stack). nullopt if a slot of the block is unreadable.
// Floating-point slots (aarch64 d8..d15) are not in the set: unwinding needs only
// the general registers.
inline std::optional<RegisterSet> suspended_registers(std::uintptr_t fctx, const ReadWord& read) {
  const SwitchBlock& block = switch_block();
  RegisterSet regs;
  std::uint64_t word = 0;
  for (const SavedRegister& r : block.registers) {
    if (r.dwarf >= RegisterSet::kSlots) continue;
    if (!read(fctx + r.offset, &word)) return std::nullopt;
    regs.set(r.dwarf, word);
  }
  if (!read(fctx + block.pc_offset, &word)) return std::nullopt;
  regs.pc = word & block.code_address_mask;
  regs.sp = fctx + block.size;
  regs.set(block.dwarf_sp, regs.sp);
  return regs;
}

}  // namespace stasis::arch

#endif  // STASIS_ARCH_SUSPENDED_H_
