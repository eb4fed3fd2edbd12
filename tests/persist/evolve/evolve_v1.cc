// evolve_v1.cc — version 1 of "test.persist.Evolving": fields through STASIS_FIELDS
// only (see evolve_common.h for the program's commands).
#include "evolve_common.h"

namespace stasis::evolve {

// Receives n values and folds them into an order-sensitive result.
struct Evolving : Frame<Evolving> {
  Channel<std::uint64_t>* in = nullptr;
  std::uint64_t n = 0;
  std::uint64_t k = 0;
  std::uint64_t v = 0;
  std::uint64_t acc = 0;
  STASIS_FIELDS(in, n, k, v, acc)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (k = 0; k < n; ++k) {
      STASIS_RECEIVE(cx, *in, v);
      acc = acc * 1000003 + v;
    }
    STASIS_RETURN(cx, acc);
    STASIS_END(cx);
  }
};
STASIS_PERSISTENT_FRAME(Evolving, "test.persist.Evolving", 1);

}  // namespace stasis::evolve

int main(int argc, char** argv) { return stasis::evolve::evolve_main<stasis::evolve::Evolving>(argc, argv); }
