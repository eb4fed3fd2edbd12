// evolve_common.h — what the two builds of "test.persist.Evolving" share: the Feed
// frame, and the driver program around the Evolving frame each build defines.
//
// The driver (one per build, see evolve_v1.cc / evolve_v2.cc):
//   PROGRAM run N                 runs Feed+Evolving over N values; prints "result R"
//   PROGRAM freeze N STEPS PATH   runs STEPS steps, freezes mid-run to PATH; "frozen"
//   PROGRAM thaw PATH             thaws PATH, runs to the end; prints "result R", or
//                                 "<ErrorType>: <message>" and exits with 3
// R is the Evolving tasklet's result: the same for both builds, as version 2's new
// field defaults to what version 1 did.
#ifndef STASIS_TESTS_PERSIST_EVOLVE_COMMON_H_
#define STASIS_TESTS_PERSIST_EVOLVE_COMMON_H_

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <typeinfo>

#include "stasis/persist/persistent_frame.h"
#include "stasis/persist/snapshot.h"
#include "stasis/stasis.h"

namespace stasis::evolve {

// Sends i * 7 + 3 for i in [i, n).
struct Feed : Frame<Feed> {
  Channel<std::uint64_t>* out = nullptr;
  std::uint64_t i = 0;
  std::uint64_t n = 0;
  STASIS_FIELDS(out, i, n)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (; i < n; ++i) STASIS_SEND(cx, *out, i * 7 + 3);
    STASIS_END(cx);
  }
};
STASIS_PERSISTENT_FRAME(Feed, "test.persist.EvolveFeed", 1);

// Evolving is the build's own frame type: spawn it over `in` for n values.
template <class Evolving>
int evolve_main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  try {
    if ((mode == "run" && argc == 3) || (mode == "freeze" && argc == 5)) {
      const std::uint64_t n = std::strtoull(argv[2], nullptr, 10);
      Channel<std::uint64_t> ch({.name = "feed", .capacity = 2});
      Scheduler s;
      TaskletRef ev = s.spawn(Evolving{.in = &ch, .n = n}, {.name = "evolving"});
      s.spawn(Feed{.out = &ch, .n = n}, {.name = "feed"});
      if (mode == "run") {
        s.run();
        std::printf("result %llu\n", static_cast<unsigned long long>(ev->template result<std::uint64_t>()));
        return 0;
      }
      TaskletRef t = s.run(std::strtoull(argv[3], nullptr, 10));
      if (!t || !ev->alive()) {
        std::printf("finished before the budget ran out\n");
        return 2;
      }
      persist::freeze(s, {.interrupted = t.get()}).write(argv[4]);
      std::printf("frozen\n");
      return 0;
    }
    if (mode == "thaw" && argc == 3) {
      Scheduler s;
      persist::Thawed thawed = persist::thaw(persist::Snapshot::read(argv[2]), s, {.source_name = argv[2]});
      if (thawed.interrupted()) thawed.interrupted()->insert();
      TaskletRef ev = thawed.find("evolving");
      s.run();
      std::printf("result %llu\n", static_cast<unsigned long long>(ev->template result<std::uint64_t>()));
      return 0;
    }
  } catch (const Error& e) {
    std::printf("%s: %s\n", persist::demangle(typeid(e).name()).c_str(), e.what());
    return 3;
  }
  std::fprintf(stderr, "usage: %s run N | freeze N STEPS PATH | thaw PATH\n", argv[0]);
  return 1;
}

}  // namespace stasis::evolve

#endif  // STASIS_TESTS_PERSIST_EVOLVE_COMMON_H_
