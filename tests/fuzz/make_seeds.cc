// make_seeds.cc — writes the seed corpus of thaw_fuzz (docs/fuzzing.md) into a
// directory: valid snapshots of a small and of a realistic scheduler, in both
// input modes of the fuzzer (0x00 + snapshot file, uncompressed and zstd; 0x01 +
// raw flat-array message), with the tasklets in format 3's table as freeze writes
// them, and the realistic one also in the list layout of formats 1 and 2.
//
//   thaw_fuzz_seeds DIR
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "hostile_frames.h"
#include "snapshot_mutation.h"

namespace {

using namespace stasis;
using namespace stasis::test::hostile;

// About a dozen tasklets of every frame type: a cheap seed that still covers them all.
persist::Snapshot small_snapshot(persist::Compression compression) {
  Channel<std::uint64_t> numbers({.name = "numbers", .capacity = 2, .preference = 0});
  Channel<std::uint64_t> fan_a({.name = "fan-a"}), fan_b({.name = "fan-b", .capacity = 1});
  Channel<std::uint64_t> guarded({.name = "guarded", .capacity = 2});
  Channel<Msg> r0({.name = "r0", .capacity = 1}), r1({.name = "r1"});
  Channel<std::string> words({.name = "words", .capacity = 2});
  Channel<Pair> pairs({.name = "pairs"});
  Scheduler s;
  s.spawn(Nap{.ms = kMaxNapMs, .rounds = 2, .tag = 1}, {.name = "nap", .priority = 3});
  s.spawn(Emit{.out = &numbers, .n = 9, .salt = 5}, {.name = "emit"});
  s.spawn(Fold{.in = &numbers, .n = 9}, {.name = "fold"});
  s.spawn(Fan{.outs = {&fan_a, &fan_b}, .n = 4}, {.name = "fan"});
  s.spawn(Fold{.in = &fan_a, .n = 2});
  s.spawn(Fold{.in = &fan_b, .n = 2});
  s.spawn(Relay{.in = &r0, .out = &r1, .count = 3, .hop = 1});
  s.spawn(Relay{.in = &r1, .out = &r0, .count = 3, .hop = 2});
  r0.send(Msg{.seq = 1, .tag = "m", .hops = {7}, .urgent = true});
  s.spawn(Walk{.depth = 5}, {.name = "walk"});
  s.spawn(Emit{.out = &guarded, .n = 4}, {.name = "emit-guarded"});
  s.spawn(Guard{.in = &guarded, .rounds = 4}, {.name = "guard"});
  s.spawn(Speak{.out = &words, .words = {"x", "yy", "zzz"}});
  s.spawn(Listen{.in = &words, .n = 3});
  s.spawn(EmitPair{.out = &pairs, .n = 3});
  s.spawn(Tally{.in = &pairs, .n = 3});
  TaskletRef t = s.run(25);
  return persist::freeze(s, {.container = {.compression = compression}, .interrupted = t.get()});
}

bool write(const std::filesystem::path& path, char mode, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary);
  out.put(mode);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: " << argv[0] << " DIR\n";
    return 1;
  }
  const std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir);
  struct Seed {
    const char* name;
    persist::Snapshot snap;
  };
  const Seed seeds[] = {
      {"small", small_snapshot(persist::Compression::kNone)},
      {"small-zstd", small_snapshot(persist::Compression::kZstd)},
      {"realistic", realistic_snapshot(persist::Compression::kNone)},
      {"realistic-zstd", realistic_snapshot(persist::Compression::kZstd)},
      {"realistic-list", stasis::test::mutate(realistic_snapshot(persist::Compression::kNone),
                                              [](schema::Snapshot::Builder) {}, persist::Compression::kNone,
                                              stasis::test::Layout::kList)},
  };
  bool ok = true;
  int written = 0;
  for (const Seed& seed : seeds) {
    ok &= write(dir / (std::string("file-") + seed.name), '\0', seed.snap.bytes());
    ++written;
    if (!persist::peek_header(seed.snap.bytes()).compressed) {
      ok &= write(dir / (std::string("message-") + seed.name), '\1', stasis::test::message_bytes(seed.snap));
      ++written;
    }
  }
  if (!ok) {
    std::cerr << argv[0] << ": cannot write the seeds into " << dir << "\n";
    return 1;
  }
  std::cout << "wrote " << written << " seeds into " << dir << "\n";
  return 0;
}
