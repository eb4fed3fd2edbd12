// dwfl_session.h — the libdw side of the stack walker (internal to stasis_persist):
// one Dwfl holding the walked program's modules, the unwind rule of a pc compiled
// from their CFI, symbols and source lines, and libdw's own unwinder.
//
// Invariants: a CompiledRule only references registers below RegisterSet::kSlots;
// kUnwind rules hold at most kMaxSaved register entries (others are kGeneric);
// the session is used by one thread at a time.
#ifndef STASIS_PERSIST_NATIVE_DWFL_SESSION_H_
#define STASIS_PERSIST_NATIVE_DWFL_SESSION_H_

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "stasis/persist/stack_walk.h"

struct Dwfl;

namespace stasis::persist::native {

// How to get from one frame's registers to its caller's, at one pc.
struct CompiledRule {
  enum class Kind : std::uint8_t {
    kUnwind,     // the fields below apply
    kNoCfi,      // no module or no CFI covers the pc: the walk ends here
    kOutermost,  // CFI says the return address is undefined: the outermost frame
    kGeneric,    // a rule this form cannot hold (expressions, signal frame): use libdw
  };
  enum class How : std::uint8_t {
    kAtCfa,     // caller's value = word at CFA + offset      (DW_CFA_offset)
    kCfaPlus,   // caller's value = CFA + offset               (DW_CFA_val_offset)
    kRegister,  // caller's value = this frame's register src  (DW_CFA_register)
  };
  struct Saved {
    std::uint8_t reg;
    How how;
    std::uint8_t src;
    std::int64_t offset;
  };
  static constexpr int kMaxSaved = 16;

  Kind kind = Kind::kNoCfi;
  std::uint8_t cfa_reg = 0;      // CFA = value of cfa_reg + cfa_offset
  std::uint8_t ra_column = 0;    // the caller's pc is this column's caller value
  std::uint8_t saved_count = 0;
  std::int64_t cfa_offset = 0;
  std::uint32_t undefined = 0;   // registers whose caller values are unknown (call-clobbered)
  Saved saved[kMaxSaved];
};

class DwflSession {
 public:
  // Reports `modules` (empty paths are the main program: /proc/self/exe). `live`:
  // the modules are this process's; refresh_live_modules() may add new ones.
  static std::unique_ptr<DwflSession> open(std::span<const WalkModule> modules, bool live);
  ~DwflSession();
  DwflSession(const DwflSession&) = delete;
  DwflSession& operator=(const DwflSession&) = delete;

  // The rule for the code byte at `address` (a pc, or a return address - 1).
  CompiledRule compile(std::uint64_t address);
  // Function, module, file:line of the code byte at `address` (uncached).
  Symbol symbolize(std::uint64_t address);
  // Live sessions: reports objects loaded since the last report. True if any were.
  bool refresh_live_modules();
  // libdw's own unwinder from `regs`; appends at most max_frames frames to *out,
  // each with sp above the previous one.
  void libdw_unwind(const RegisterSet& regs, const ReadMemory& read, std::vector<UnwoundFrame>* out,
                    std::size_t max_frames);

 private:
  DwflSession() = default;
  bool report(std::span<const WalkModule> modules, bool add);
  static std::vector<WalkModule> live_modules(unsigned long long* adds);

  Dwfl* dwfl_ = nullptr;
  bool live_ = false;
  bool attached_ = false;      // dwfl_attach_state done (at the first libdw_unwind)
  unsigned long long adds_ = 0;  // dl_iterate_phdr's load count at the last report
  std::vector<WalkModule> reported_;
};

}  // namespace stasis::persist::native

#endif  // STASIS_PERSIST_NATIVE_DWFL_SESSION_H_
