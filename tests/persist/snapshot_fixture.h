// tests/persist/snapshot_fixture.h — a small, consistent snapshot message built
// directly through the schema (no freezer needed), and helpers to encode it and put
// it in a temporary file.
//
// The fixture (every invariant of schema/snapshot.capnp holds):
//   frame types  0 demo.Main v1 (jobs, count, extras)   1 demo.Producer v1 (out, i, label)
//                2 demo.Consumer v2 (in, sum, ratio, done)   3 demo.Sleeper v1 (ms)
//   value types  0 i64, 1 string
//   tasklets     [0] id 1 'main'      runnable, 1 frame (Main)
//                [1] id 2 'producer'  blocked: send on channels[0], slot i64 3, 1 frame
//                [2] id 3 'consumer'  blocked: receive on channels[2], 2 frames (Consumer, Main)
//                [3] id 4 'sleeper'   blocked: sleep 1.5 s, priority -2, 1 frame
//   channels     [0] #12 'edge 3->4'  i64, synchronous, balance 1, waiter tasklet 2 sending
//                [1] #13 'jobs'       string, capacity 4, closing, buffer "first", "second"
//                [2] #14 'results'    i64, synchronous, balance -1, waiter tasklet 3 receiving
//   archive      140 bytes
#ifndef STASIS_TESTS_PERSIST_SNAPSHOT_FIXTURE_H_
#define STASIS_TESTS_PERSIST_SNAPSHOT_FIXTURE_H_

#include <capnp/message.h>

#include <filesystem>
#include <memory>
#include <string>

#include "stasis/persist/container.h"
#include "stasis/schema/snapshot.capnp.h"

namespace stasis::testing {

inline constexpr std::int64_t kFixtureCreatedNs = 1714564800123456789;  // 2024-05-01T12:00:00.123456789Z
inline constexpr std::size_t kFixtureArchiveBytes = 140;

// A fresh fixture message; mutate it through getRoot<schema::Snapshot>().
std::unique_ptr<capnp::MallocMessageBuilder> make_fixture_message();

// The root of `m` as a reader.
schema::Snapshot::Reader fixture_root(capnp::MallocMessageBuilder& m);

// The message as a snapshot file.
std::string encode(capnp::MallocMessageBuilder& m,
                   persist::Compression compression = persist::Compression::kNone);

// A per-process temporary directory (removed at exit) and a file written into it.
const std::filesystem::path& temp_dir();
std::string write_temp_file(const std::string& name, const std::string& bytes);

}  // namespace stasis::testing

#endif  // STASIS_TESTS_PERSIST_SNAPSHOT_FIXTURE_H_
