// stasis/persist/stack_walk.h — the stack-walk analysis of native persistence:
// the frames of a suspended native tasklet, from its saved registers and stack
// bytes, unwound with the DWARF call-frame information (CFI) of the loaded objects.
//
// Two uses: freeze attributes every word of a parked stack to a frame (hot path:
// unwind(), no strings, no allocation once warm), and stasis-dump shows a
// snapshot's frames symbolized, offline, from the module list the snapshot
// records (walk(), symbolize()).
//
// How: libdw (elfutils) finds each module's CFI (.eh_frame, else .debug_frame).
// The rule that unwinds one pc (CFA = register + offset, where each register was
// saved) is compiled once and cached by pc, so a walk is a few cached lookups and
// stack reads per frame. Rules outside that form (DWARF expressions, signal
// frames) hand the rest of the walk to libdw's own unwinder (dwfl_getthread_frames).
//
// Invariants of every walk result, whatever the input (a snapshot is untrusted):
//   - frames[i].sp < frames[i + 1].sp: frame i occupies [sp_i, sp_{i+1}), the last
//     one [sp, cfa) when its cfa is known; so a walk ends, within max_frames;
//   - every stack word is read through the caller's ReadMemory, nothing else;
//     garbage registers or bytes give a short or empty list, never a crash.
// A walk stops at: no CFI for the pc (e.g. Boost's make_fcontext stub, the bottom
// of every context), an undefined return address (the outermost frame), a zero
// return address, an unreadable word, or a stack pointer that does not grow.
#ifndef STASIS_PERSIST_STACK_WALK_H_
#define STASIS_PERSIST_STACK_WALK_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "stasis/arch/suspended.h"

namespace stasis::persist {

// Registers to start from: arch::suspended_registers(fctx, read) for a parked
// context. pc_after_call = true (the default) for a return address.
using RegisterSet = arch::RegisterSet;
// Reads one aligned 8-byte stack word; false: unreadable (ends the walk there).
using ReadMemory = arch::ReadWord;

// One frame's place on the stack (the hot-path record).
struct UnwoundFrame {
  std::uint64_t pc = 0;   // frame 0: the resume pc; callers: the return address into them
  std::uint64_t sp = 0;   // the frame's stack pointer, its lowest address
  std::uint64_t cfa = 0;  // canonical frame address = the caller's sp; 0 if unknown (last frame)
  // The stack address holding the return address into the caller (frames[i+1].pc);
  // 0 if it was in a register (an aarch64 leaf), unknown, or there is no caller.
  std::uint64_t return_address_slot = 0;
};

// What a code address is.
struct Symbol {
  std::string function;              // demangled ("compute(int)"); "" if unknown
  std::uint64_t function_offset = 0; // pc - start of `function` (valid if function is set)
  std::string module;                // path of the loaded object; "" if in none
  std::string file;                  // source file of the call/resume point; "" without debug info
  int line = 0;                      // its line; 0 without debug info
};

// A frame with its symbol: symbolize(pc - 1) for return addresses (the call
// instruction's line), function_offset relative to pc itself.
struct WalkedFrame : UnwoundFrame, Symbol {};

// As dl_iterate_phdr reports a loaded object: its file and load bias (dlpi_addr;
// 0 for a non-PIE executable). dl_iterate_phdr names the main program "": give
// its real path (for_this_process resolves it through /proc/self/exe itself).
struct WalkModule {
  std::string path;
  std::uint64_t load_bias = 0;
};

// A ReadMemory over `bytes`, a copy (or live view) of the stack memory starting
// at address `base`. Reads outside it or misaligned give false. `bytes` must stay
// live while the reader is used. Reads are not sanitizer-checked, so a live
// stack with AddressSanitizer redzones can be read.
ReadMemory read_from_bytes(std::uint64_t base, std::span<const std::byte> bytes);

// Statistics of one walker (for benchmarks and diagnostics).
struct WalkStats {
  std::uint64_t walks = 0;           // unwind() and walk() calls
  std::uint64_t frames = 0;          // frames produced
  std::uint64_t rules_compiled = 0;  // cache misses (CFI looked up with libdw)
  std::uint64_t libdw_fallbacks = 0; // walks finished by libdw's generic unwinder
};

// Unwinds and symbolizes against one set of modules. Not thread-safe (libdw is
// not): one per thread. Creating one reads each module's ELF headers; CFI, symbol
// tables and debug info are read lazily, at the first pc in a module.
class StackWalker {
 public:
  static constexpr std::size_t kDefaultMaxFrames = 4096;

  // The calling process's loaded objects (dl_iterate_phdr; the vDSO is left out).
  // Objects loaded later (dlopen) are added at the first pc found in none.
  static std::unique_ptr<StackWalker> for_this_process();
  // Offline: each module's file read from disk, placed at its bias (a snapshot's
  // module table). Modules with an empty path, that cannot be opened, or that
  // overlap one already given are left out.
  static std::unique_ptr<StackWalker> for_modules(std::span<const WalkModule> modules);

  ~StackWalker();
  StackWalker(const StackWalker&) = delete;
  StackWalker& operator=(const StackWalker&) = delete;

  // Hot path: replaces *out with the frames unwound from `regs`, reading stack
  // words through `read`, at most max_frames of them. Returns out->size().
  // Reuses out's capacity: no allocation once the walker and out are warm.
  std::size_t unwind(const RegisterSet& regs, const ReadMemory& read, std::vector<UnwoundFrame>* out,
                     std::size_t max_frames = kDefaultMaxFrames);

  // unwind() plus symbolize() of every frame.
  std::vector<WalkedFrame> walk(const RegisterSet& regs, const ReadMemory& read,
                                std::size_t max_frames = kDefaultMaxFrames);

  // The function, module and source line of the code byte at `address`. For a
  // return address pass pc - 1: the call instruction. With inlining, file and line
  // are those of the outermost function (the one `function` names): the line of
  // the call that was inlined. Cached: the first lookup of an address reads
  // symbol tables and DWARF, later ones are a hash lookup. The reference is valid
  // until the next symbolize() or walk() on this walker (in practice as long as
  // the walker, unless 65,536 distinct addresses have been cached).
  const Symbol& symbolize(std::uint64_t address);

  // libdw's own unwinder (dwfl_attach_state + dwfl_getthread_frames) from `regs`:
  // every CFI rule and libdw's frame-pointer fallback, slower, and without return
  // address slots (0) or a cfa for the last frame. The reference the fast path is
  // tested against; the fast path continues with it past rules it does not compile.
  std::vector<UnwoundFrame> unwind_with_libdw(const RegisterSet& regs, const ReadMemory& read,
                                              std::size_t max_frames = kDefaultMaxFrames);

  const WalkStats& stats() const noexcept;

  struct Impl;

 private:
  explicit StackWalker(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace stasis::persist

#endif  // STASIS_PERSIST_STACK_WALK_H_
