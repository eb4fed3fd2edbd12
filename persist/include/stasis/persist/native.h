// stasis/persist/native.h — what native persistence needs from the program: a
// fixed address-space layout, the module table that proves it, and named
// externals. (freeze() and thaw() in snapshot.h take native tasklets; see
// docs/native-persistence.md for what can be frozen and why.)
//
// A native tasklet is frozen as the bytes of its C stack, its callable and its
// arena share, and restored by putting those bytes back at the same addresses in
// a process of the same build. That only works when code, data and the arena sit
// at the same addresses in both processes:
//   - ensure_fixed_layout(), called first thing in main, re-executes the program
//     once with address-space randomization off (personality ADDR_NO_RANDOMIZE);
//   - the module table (every loaded object's path, GNU build-id and load
//     address) is written into the snapshot; thaw refuses a snapshot whose table
//     differs from the restoring process's, listing every difference.
// Under an emulator that cannot re-execute (qemu-user) the layout is already fixed
// from run to run; the module table check decides.
#ifndef STASIS_PERSIST_NATIVE_H_
#define STASIS_PERSIST_NATIVE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "stasis/persist/errors.h"

namespace stasis::persist {

// Re-executes the program (/proc/self/exe with the same argv and environment) with
// address-space layout randomization disabled, unless it is already disabled, the
// environment says STASIS_KEEP_ASLR=1, or a relaunch was already tried. Returns
// normally when no relaunch happens (including when exec fails, e.g. under
// qemu-user: the process then runs with the layout it has). Call it before any
// thread starts and before anything whose state must not run twice.
void ensure_fixed_layout(int argc, char** argv);

// True when this process runs with address-space layout randomization on.
bool layout_randomized() noexcept;

// One loaded object of the process.
struct Module {
  std::string path;       // as the dynamic loader names it; the main program: /proc/self/exe's target
  std::string build_id;   // GNU build-id, lowercase hex ("" if the object has none)
  std::uint64_t base = 0; // load bias (dl_iterate_phdr's dlpi_addr)
  bool main_program = false;
  bool referenced = true;  // in a snapshot's table: its tasklets point into this object
};

// The modules loaded in this process, in load order (the main program first).
std::vector<Module> module_table();

// The differences between a recorded module table and `here`, one line each
// ("libfoo.so: build-id 12ab.. in the snapshot, 34cd.. here (a different build)");
// empty when every recorded module that is referenced, and every one that is
// loaded here too, has the same build-id at the same address. Modules loaded only
// here, and unreferenced ones loaded only there, are not differences.
std::vector<std::string> module_differences(const std::vector<Module>& recorded, const std::vector<Module>& here);

// Named externals (Eris' permanents): objects of the program that a native tasklet
// may point at but that are not part of its state — a log sink, a socket factory,
// a configuration. A word pointing into [address, address + size) of a registered
// external is written as (name, offset) and re-bound on restore to the object the
// restoring process registered under that name. Names are unique per process;
// registering a taken name replaces it. Thread-safe.
void register_external(std::string name, const void* address, std::size_t size);
template <class T>
void register_external(std::string name, const T& object) {
  register_external(std::move(name), &object, sizeof(T));
}
void unregister_external(std::string_view name);

// A native tasklet that cannot be frozen as it is: a word of its stack, callable or
// arena memory points at memory that would not exist in another process. The
// message names the tasklet, the frame (number and function), the offset in the
// frame, the value and the target region; `problems` lists every such word (up to
// a limit). Nothing was changed: the tasklet goes on running.
class NativeFreezeError : public FreezeError {
 public:
  struct Problem {
    std::uint64_t tasklet_id = 0;
    std::string where;     // "frame #3 compute(int) +24", "callable +8", "arena 0x2000001040"
    std::string function;  // the frame's function ("" outside frames)
    int frame = -1;        // frame number, innermost 0 (-1 outside frames)
    std::uint64_t offset = 0;   // offset in the frame (or in the callable / arena block)
    std::uint64_t address = 0;  // where the word is
    std::uint64_t value = 0;    // the word
    std::string target;    // "the malloc heap (outside the arena)", "the main thread's stack", ...
  };
  NativeFreezeError(std::string message, std::vector<Problem> problems)
      : FreezeError(std::move(message)), problems_(std::move(problems)) {}
  const std::vector<Problem>& problems() const noexcept { return problems_; }

 private:
  std::vector<Problem> problems_;
};

// A native snapshot this process cannot restore: other architecture, another
// build, other load addresses (ASLR), a different sliced-stack region.
class NativeLayoutMismatch : public SnapshotIncompatible {
 public:
  using SnapshotIncompatible::SnapshotIncompatible;
};

// A native snapshot points at an external name nothing registered here.
class ExternalNotFound : public SnapshotIncompatible {
 public:
  using SnapshotIncompatible::SnapshotIncompatible;
};

}  // namespace stasis::persist

#endif  // STASIS_PERSIST_NATIVE_H_
