// tools/stasis-dump/native.h — native tasklet records (schema NativeTasklet) as the
// dumper shows them: sizes, relocation counts, the word classification, the module
// table, the stack walk (as recorded by freeze, or re-walked offline from the
// module files on this machine), and the structural checks `verify` adds.
//
// Like render.h, every function is total over untrusted records: sizes are summed
// without overflow, names are escaped, and an offline re-walk reads only the
// record's own stack bytes (StackWalker's invariants), so a hostile snapshot gives
// a short walk or a note, never a crash.
#ifndef STASIS_TOOLS_DUMP_NATIVE_H_
#define STASIS_TOOLS_DUMP_NATIVE_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "loaded.h"

namespace stasis::dump {

// One frame of a native tasklet's stack walk, innermost first.
struct NativeFrameInfo {
  std::uint64_t pc = 0;
  std::uint64_t sp = 0;
  std::string function;  // raw (unescaped); "" if unknown
  std::string file;      // "" without debug info
  std::uint32_t line = 0;
  std::string module;    // path of the loaded object; "" if in none
};

// When show re-walks a native stack offline instead of printing the recorded walk.
enum class Rewalk : std::uint8_t {
  kAuto,    // when the recorded frames have no function names
  kAlways,  // --resymbolize
};

// The frames to show for `n`, and where they came from.
struct NativeFrames {
  std::vector<NativeFrameInfo> frames;
  bool rewalked = false;  // frames come from an offline walk over the module files
  std::string note;       // why an asked-for re-walk did not happen ("" if none was needed)
};

// The frames freeze recorded.
// `symbols`: the snapshot's symbol table, which the frames index.
std::vector<NativeFrameInfo> recorded_frames(schema::NativeTasklet::Reader n,
                                             capnp::List<schema::Symbol>::Reader symbols);

// The recorded frames, or (per `mode`) an offline re-walk: the switch block at
// `context` gives the registers (arch::suspended_registers over the stack bytes),
// and StackWalker::for_modules(the snapshot's module table) unwinds and symbolizes.
// A re-walk needs the producer's architecture to be this one and the module files
// present with their recorded build-ids (modules that are missing or differ are
// left out, and the note says which); otherwise the recorded frames are returned
// with a note saying why.
NativeFrames native_frames(const Loaded& s, schema::NativeTasklet::Reader n, Rewalk mode);

// "#0 fixture_inner(int) (/src/a.cc:12) [prog] pc=0x4011d6 sp=0x7ffff7f0ff40":
// function "??" when unknown, no "(file:line)" without a file, module by basename.
std::string native_frame_text(std::size_t k, const NativeFrameInfo& f);

// Relocations by target kind, in schema order (tasklet, frame, channel, scheduler,
// nativeThread, external, threadPointer), then unknown kinds.
inline constexpr std::array<const char*, 8> kRelocationKinds = {"tasklet", "frame", "channel", "scheduler",
                                                                 "native thread", "external", "thread pointer",
                                                                 "unknown"};
std::array<std::uint64_t, 8> relocation_counts(schema::NativeTasklet::Reader n);
// "4 (1 tasklet, 1 frame, 2 channel)" or "0".
std::string relocation_counts_text(schema::NativeTasklet::Reader n);

// Used bytes of the arena runs (saturating sum).
std::uint64_t arena_bytes(schema::NativeTasklet::Reader n);
// Mapped bytes of the arena runs (saturating sum).
std::uint64_t arena_mapped(schema::NativeTasklet::Reader n);

// "812 words: own stack 40, arena 12, module 31, relocated 4, plain 720, dead stack 5".
std::string summary_text(schema::WordSummary::Reader w);

// "0x7ffff7a00000" (no leading zeros).
std::string address_text(std::uint64_t v);

// The last component of a path ("libc.so.6"); the path itself if it has no '/'.
std::string base_name(std::string_view path);

// "/lib/x/libc.so.6 build-id 1a2b.. base 0x7ffff7a00000 (main program, referenced)".
std::string module_text(schema::Module::Reader m);

// Prints the native part of `show` for tasklet `t` (which has a native record),
// after its common lines: sizes, region, callable, arena, relocations, summary,
// then the frames.
void print_native(const Loaded& s, schema::Tasklet::Reader t, Rewalk mode, std::ostream& out);

// Structural checks of the native records that do not depend on the checking
// process (the native thawer makes them too, before anything is restored): a module
// table when native tasklets exist; context aligned inside the region; the stack
// spanning [context, regionHigh); the callable inside its frame object; the share
// starting its first arena run, runs not longer than mapped; relocated words inside
// the stack, callable or a run, naming tasklets and native tasklets of the snapshot;
// recorded frames with growing stack pointers inside [context, regionHigh]. Up to max_problems
// lines, paths as check_snapshot writes them ("tasklets[0].native: ...").
// `root` keeps its tasklets in list form: pass MessageView::listed_root().
std::vector<std::string> check_native_records(schema::Snapshot::Reader root, std::size_t max_problems);

}  // namespace stasis::dump

#endif  // STASIS_TOOLS_DUMP_NATIVE_H_
