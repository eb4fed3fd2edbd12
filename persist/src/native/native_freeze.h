// native_freeze.h — capturing native tasklets for a snapshot (internal to
// stasis::persist; the Freezer in freeze.cc drives it).
//
// capture() reads a suspended sliced tasklet as memory (stasis/native_image.h),
// classifies every word of its stack, callable and arena share
// (word_classifier.h) and either returns what the snapshot needs — the bytes, the
// relocations, the classification summary, the stack walk — or throws
// NativeFreezeError naming each unpersistable word by frame, function and offset.
// It only reads: a refused tasklet goes on running untouched.
#ifndef STASIS_PERSIST_SRC_NATIVE_NATIVE_FREEZE_H_
#define STASIS_PERSIST_SRC_NATIVE_NATIVE_FREEZE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "externals.h"
#include "stasis/channel.h"
#include "stasis/native_image.h"
#include "stasis/schema/snapshot.capnp.h"
#include "word_classifier.h"

namespace stasis::persist::native {

struct ArenaRunImage {
  std::uint64_t address = 0;
  std::uint64_t mapped = 0;
  std::span<const std::byte> bytes;  // the used bytes, read in place
};

struct FrameRecord {
  std::uint64_t pc = 0, sp = 0;
  std::uint32_t symbol = 0;  // 1 + index into the freezer's symbols (0: none)
};

struct SymbolRecord {
  std::string function, file, module;
  int line = 0;
};

struct CapturedNative {
  detail::NativeImage image;
  std::uint64_t region_low = 0, region_high = 0;
  std::vector<ArenaRunImage> runs;
  std::vector<WordRelocation> relocations;
  WordSummary summary;
  ModulesUsed modules;  // the loaded objects its words point into
  std::vector<FrameRecord> frames;
};

class NativeFreezer {
 public:
  // in_snapshot: the tasklets being frozen; others: the scheduler's other alive
  // tasklets (pointers to them are refused).
  NativeFreezer(Scheduler& s, std::span<Tasklet* const> in_snapshot, std::span<Tasklet* const> others);
  ~NativeFreezer();

  // Captures native tasklet t (in_snapshot). NativeFreezeError if it cannot be frozen.
  CapturedNative capture(const Tasklet& t);

  // Writes c; channel_index turns a channel object into its snapshot index.
  void write(const CapturedNative& c, schema::NativeTasklet::Builder b,
             const std::function<std::uint32_t(const ChannelBase*)>& channel_index) const;

  // The symbols the captured frames name (FrameRecord::symbol - 1 indexes them).
  const std::vector<SymbolRecord>& symbols() const noexcept;
  static void write_symbols(const std::vector<SymbolRecord>& symbols, capnp::List<schema::Symbol>::Builder list);

  // The module table, for the snapshot's `modules`; `used`: what the captured
  // tasklets point into (those must be loaded where the snapshot is restored).
  static void write_modules(capnp::List<schema::Module>::Builder list, const std::vector<const CapturedNative*>& used);
  static std::size_t module_count();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace stasis::persist::native

#endif  // STASIS_PERSIST_SRC_NATIVE_NATIVE_FREEZE_H_
