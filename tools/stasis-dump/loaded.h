// tools/stasis-dump/loaded.h — a snapshot file opened for the dumper: the decoded
// message, its top-level lists (fetched once: every list fetch is charged to the
// Cap'n Proto traversal limit) and an id -> index map of the tasklets.
//
// Names that renderers look up again and again (frame type and field names, value
// type names, channel labels) are copied once into plain strings: re-reading them
// from the message would charge the traversal limit on every lookup.
//
// Invariant: unless opened with check == false, the message passed
// validate_snapshot() and check_native_records() (native.h), so every index in it
// is in range and every native record is structurally sound. The render helpers check
// ranges anyway, so --no-check output of a broken file is still safe.
#ifndef STASIS_TOOLS_DUMP_LOADED_H_
#define STASIS_TOOLS_DUMP_LOADED_H_

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "stasis/persist/container.h"
#include "stasis/schema/snapshot.capnp.h"

namespace stasis::dump {

struct Loaded {
  explicit Loaded(persist::MessageView v);

  persist::MessageView view;
  schema::Snapshot::Reader root;
  capnp::List<schema::FrameType>::Reader frame_types;
  capnp::List<schema::ValueType>::Reader value_types;
  capnp::List<schema::Tasklet>::Reader tasklets;
  capnp::List<schema::Channel>::Reader channels;
  capnp::List<schema::Module>::Reader modules;  // native snapshots: the writer's loaded objects
  std::unordered_map<std::uint64_t, std::uint32_t> tasklet_index;  // id -> first index

  struct TypeInfo {
    std::string name;  // raw, as in the file
    std::uint32_t version = 0;
    std::vector<std::string> field_names, field_types;
  };
  std::vector<TypeInfo> types;             // per frame type
  std::vector<std::string> value_names;    // per value type, raw
  std::vector<std::string> channel_labels; // per channel, rendered: "channel #12 'edge'"
  std::uint32_t native_tasklets = 0;       // how many tasklets carry a native record

  // How the producer's archive stores integers (fields.h decodes frame fields).
  bool little_endian = true;
  unsigned size_bytes = 8;  // std::size_t: pointerBits / 8
  bool archive_readable() const noexcept { return archive_problem_.empty(); }
  const std::string& archive_unreadable_reason() const noexcept { return archive_problem_; }

  const std::string& source() const noexcept { return view.source_name(); }
  std::optional<std::uint32_t> find_tasklet(std::uint64_t id) const;

  // Where the archive bytes of frame `frame` of tasklet `tasklet` start (the
  // archive order of docs/snapshot-format.md). The per-tasklet offsets are summed
  // once, on first use: one pass over the tasklets.
  std::uint64_t frame_archive_offset(std::uint32_t tasklet, std::uint32_t frame) const;

 private:
  std::string archive_problem_;  // empty: the archive's integers can be decoded
  mutable std::vector<std::uint64_t> tasklet_archive_offsets_;
};

// Reads, decodes and (with check) validates `path`. Throws the persist errors:
// CheckpointError for I/O, SnapshotError subclasses for bad content. A validation
// failure's message ends with a hint about `verify` and --no-check.
Loaded load_snapshot(const std::string& path, bool check);

}  // namespace stasis::dump

#endif  // STASIS_TOOLS_DUMP_LOADED_H_
