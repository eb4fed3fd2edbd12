// evolve_v2.cc — version 2 of "test.persist.Evolving": an added field `scale` and a
// versioned serialize() that still reads version 1 (see evolve_common.h for the
// program's commands).
#include "evolve_common.h"

namespace stasis::evolve {

struct Evolving : Frame<Evolving> {
  Channel<std::uint64_t>* in = nullptr;
  std::uint64_t n = 0;
  std::uint64_t k = 0;
  std::uint64_t v = 0;
  std::uint64_t acc = 0;
  std::uint64_t scale = 1;  // added in version 2; version 1 behaved as scale == 1
  STASIS_FIELDS(in, n, k, v, acc, scale)

  // Version 1 wrote in, n, k, v, acc through STASIS_FIELDS (a channel reference is
  // a snapshot index: persist_channel); version 2 appends scale.
  template <class Ar>
  void serialize(Ar& ar, unsigned version) {
    persist::persist_channel(ar, in);
    ar & n & k & v & acc;
    if (version >= 2) ar & scale;
  }

  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (k = 0; k < n; ++k) {
      STASIS_RECEIVE(cx, *in, v);
      acc = acc * 1000003 + v * scale;
    }
    STASIS_RETURN(cx, acc);
    STASIS_END(cx);
  }
};
STASIS_PERSISTENT_FRAME(Evolving, "test.persist.Evolving", 2);

}  // namespace stasis::evolve

int main(int argc, char** argv) { return stasis::evolve::evolve_main<stasis::evolve::Evolving>(argc, argv); }
