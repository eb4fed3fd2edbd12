// model.cc — the epidemic frames' stable names and their out-of-line members.
//
// The frame types are registered here (with persistence: checkpoints freeze them), in one translation unit, rather than in
// model.h: a snapshot names them by these strings, so they must never change
// (register a new version instead when a frame's fields or suspension points do).
#include "model.h"

#include <cinttypes>
#include <cstdio>

#include "stasis/persist.h"

namespace epidemic {

void Aggregator::print_progress() const {
  std::fprintf(stderr, "step %6" PRId64 "/%" PRId64 "  S=%" PRId64 " I=%" PRId64 " R=%" PRId64 "\n", next_step, steps,
               susceptible, infected, recovered);
}

std::string Aggregator::result() const {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "size=%" PRId64 "x%" PRId64 " seed=%" PRIu64 " steps=%" PRId64 " S=%" PRId64 " I=%" PRId64
                " R=%" PRId64 " peak_I=%" PRId64 "@%" PRId64 " hash=%016" PRIx64,
                width, height, seed, steps, susceptible, infected, recovered, peak_infected, peak_step, hash);
  return buf;
}

}  // namespace epidemic

STASIS_PERSISTENT_VALUE(epidemic::Report, "samples.epidemic.Report");
STASIS_PERSISTENT_FRAME(epidemic::Halo, "samples.epidemic.Halo", 1);
STASIS_PERSISTENT_FRAME(epidemic::Region, "samples.epidemic.Region", 1);
STASIS_PERSISTENT_FRAME(epidemic::Aggregator, "samples.epidemic.Aggregator", 1);
