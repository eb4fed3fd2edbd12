// thaw_fuzz.cc — libFuzzer target for the snapshot loader (docs/fuzzing.md).
//
// The first input byte picks the mode:
//   even: the rest is a whole snapshot file, thawed as it is (container first:
//         header, sizes, zstd, checksum);
//   odd:  the rest is a raw flat-array Cap'n Proto message, wrapped by
//         encode_container in a valid header and checksum, so mutations reach the
//         validator, type resolution, the field archive and the frames.
// A snapshot that loads is run under a step budget and everything is destroyed
// (hostile::thaw_and_run, with the robust frame types of hostile_frames.h, which
// the seeds use). Typed errors are the expected outcome; an untyped exception, a
// refusal that leaves tasklets behind, a sanitizer report, a leak, a crash, a hang
// (-timeout) or a huge allocation (-malloc_limit_mb) is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string_view>

#include "hostile_frames.h"
#include "snapshot_mutation.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  stasis::persist::Snapshot snap = (data[0] & 1) ? stasis::test::encode_message(rest)
                                                 : stasis::persist::Snapshot(std::string(rest));
  stasis::test::hostile::RunReport r = stasis::test::hostile::thaw_and_run(snap, /*budget=*/200, /*rounds=*/3);
  if (!r.failure.empty()) {
    std::fprintf(stderr, "thaw_fuzz: %s\n", r.failure.c_str());
    __builtin_trap();
  }
  return 0;
}
