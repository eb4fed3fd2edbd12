// tests/tools/native_fixture.cc — writes a real native snapshot for the stasis-dump
// tests (stasis_native_fixture FILE).
//
// One sliced native tasklet 'native-fixture' with an arena share runs
// main's lambda -> fixture_outer -> fixture_inner and blocks in ch.receive() on the
// channel 'fixture-in'; the scheduler then deadlocks, the whole scheduler is frozen
// to FILE, and the tasklet is finished (a value sent) so the program ends cleanly.
// The layout is fixed first (ensure_fixed_layout), as every native program does.
// Prints "frozen N bytes" and "result=R"; exit 0 on success, 2 on bad arguments.
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "stasis/native.h"
#include "stasis/persist/native.h"
#include "stasis/persist/snapshot.h"
#include "stasis/stasis.h"

namespace {

// Blocks on `ch`: the innermost named frame of the snapshot.
[[gnu::noinline]] int fixture_inner(stasis::Channel<int>& ch, const std::vector<int>& seen) {
  int v = ch.receive();
  return v + static_cast<int>(seen.size());
}

// Keeps an arena-allocated vector live across the block (the share's bytes).
[[gnu::noinline]] int fixture_outer(stasis::Channel<int>& ch) {
  std::vector<int> seen(64);
  std::iota(seen.begin(), seen.end(), 1);
  int r = fixture_inner(ch, seen);
  return r + std::accumulate(seen.begin(), seen.end(), 0);
}

}  // namespace

int main(int argc, char** argv) {
  stasis::persist::ensure_fixed_layout(argc, argv);
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s FILE\n", argc > 0 ? argv[0] : "stasis_native_fixture");
    return 2;
  }
  stasis::Scheduler s;
  stasis::Channel<int> ch({.name = "fixture-in"});
  stasis::TaskletRef t =
      stasis::spawn_native(s, [&ch] { return fixture_outer(ch); }, {.name = "native-fixture", .arena = true});
  try {
    s.run();
  } catch (const stasis::Deadlock&) {
  }
  stasis::persist::Snapshot snap = stasis::persist::freeze(s);
  snap.write(argv[1]);
  std::printf("frozen %zu bytes\n", snap.bytes().size());
  stasis::spawn_native(s, [&ch] { ch.send(7); }, {.name = "sender"});
  s.run();
  std::printf("result=%d\n", t->result<int>());
  return 0;
}
