// persist_frames.cc — registrations of the test frame types (see persist_frames.h).
#include "persist_frames.h"

#include "stasis/registry.h"

namespace stasis::test {
STASIS_PERSISTENT_VALUE(Point, "test.persist.Point");
STASIS_PERSISTENT_FRAME(Squares, "test.persist.Squares", 1);
STASIS_PERSISTENT_FRAME(WeightedSum, "test.persist.WeightedSum", 1);
STASIS_PERSISTENT_FRAME(Fib, "test.persist.Fib", 1);
STASIS_PERSISTENT_FRAME(PointRelay, "test.persist.PointRelay", 1);
STASIS_PERSISTENT_FRAME(Words, "test.persist.Words", 1);
STASIS_PERSISTENT_FRAME(Join, "test.persist.Join", 1);
STASIS_PERSISTENT_FRAME(Napper, "test.persist.Napper", 1);
STASIS_REGISTER_FRAME(Unpersistable, "test.persist.Unpersistable", 1);
}  // namespace stasis::test
