// snapshot_mutation.h — making bad snapshots out of good ones, for the error and
// hostile-input tests.
//
// mutate() decodes a valid snapshot, copies its root into a message builder (one
// segment) with the tasklets in list form (MessageView::listed_root), lets the caller
// change any record, packs the tasklets back into the format-3 table if the snapshot
// had one (Layout::kAsFrozen; Layout::kList keeps the list, which readers still
// accept), and re-encodes it with a valid header and checksum:
// the result reaches every layer behind the container (validator, type resolution,
// archive, runtime). message_bytes()/encode_message() do the same at the level of
// the raw flat-array message, for byte flips that the schema cannot express.
#ifndef STASIS_TESTS_PERSIST_SNAPSHOT_MUTATION_H_
#define STASIS_TESTS_PERSIST_SNAPSHOT_MUTATION_H_

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/array.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "stasis/persist/container.h"
#include "stasis/persist/snapshot.h"
#include "stasis/persist/tasklet_table.h"
#include "stasis/schema/snapshot.capnp.h"

namespace stasis::test {

// The snapshot's flat-array message (decoded, decompressed, checked) as bytes.
inline std::string message_bytes(const persist::Snapshot& snap) {
  persist::MessageView view = persist::MessageView::from_bytes(snap.bytes());
  auto words = view.words();
  return std::string(reinterpret_cast<const char*>(words.begin()), words.size() * sizeof(capnp::word));
}

// A snapshot file holding `bytes` as its message (rounded down to whole words),
// with a valid header and checksum whatever the bytes are.
inline persist::Snapshot encode_message(std::string_view bytes,
                                        persist::Compression compression = persist::Compression::kNone) {
  kj::Array<capnp::word> words = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
  if (words.size() > 0) std::memcpy(words.begin(), bytes.data(), words.size() * sizeof(capnp::word));
  return persist::Snapshot(persist::encode_container(words.asPtr(), {.compression = compression}));
}

// The layout of the tasklets in a mutated snapshot.
enum class Layout {
  kAsFrozen,  // the layout of the snapshot mutated: format 3's table if it had one
  kList,      // the `tasklets` list (formats 1 and 2)
};

// Re-encodes `snap` after edit(schema::Snapshot::Builder) changed a list-form copy of
// its root. Edits that break the tasklets are packed as they are (a waiter naming an
// unknown id becomes an out-of-range index; see pack_tasklet_table).
template <class Edit>
persist::Snapshot mutate(const persist::Snapshot& snap, Edit&& edit,
                         persist::Compression compression = persist::Compression::kNone,
                         Layout layout = Layout::kAsFrozen) {
  persist::MessageView view = persist::MessageView::from_bytes(snap.bytes());
  // One segment, as freeze() writes it (room for the copy and for replaced parts):
  // raw word offsets then mean the same in mutated and frozen list-form messages.
  const auto words = static_cast<unsigned>(2 * view.words().size() + 1024);
  capnp::MallocMessageBuilder builder(words);
  builder.setRoot(view.listed_root());
  edit(builder.getRoot<schema::Snapshot>());
  if (layout == Layout::kList || !persist::has_tasklet_table(view.root())) {
    return persist::Snapshot(persist::encode_container(builder, {.compression = compression}));
  }
  capnp::MallocMessageBuilder table(words);
  persist::pack_tasklet_table(builder.getRoot<schema::Snapshot>().asReader(), table.initRoot<schema::Snapshot>());
  return persist::Snapshot(persist::encode_container(table, {.compression = compression}));
}

// The archive bytes of a snapshot, and a snapshot with the archive replaced (the
// records' archiveBytes are left as they are: fix them up in `edit` if needed).
inline std::string archive_of(const persist::Snapshot& snap) {
  persist::MessageView view = persist::MessageView::from_bytes(snap.bytes());
  auto a = view.root().getArchive();
  return std::string(reinterpret_cast<const char*>(a.begin()), a.size());
}

inline persist::Snapshot with_archive(const persist::Snapshot& snap, const std::string& archive,
                                      persist::Compression compression = persist::Compression::kNone) {
  return mutate(
      snap,
      [&](schema::Snapshot::Builder root) {
        root.setArchive(capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(archive.data()), archive.size()));
      },
      compression);
}

// Little-endian integers inside byte strings.
inline std::uint64_t load_le64(std::string_view bytes, std::size_t at) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < 8; ++i) v |= std::uint64_t{static_cast<unsigned char>(bytes[at + i])} << (8 * i);
  return v;
}
inline void store_le64(std::string& bytes, std::size_t at, std::uint64_t v) {
  for (std::size_t i = 0; i < 8; ++i) bytes[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}
inline std::string le64(std::uint64_t v) {
  std::string s(8, '\0');
  store_le64(s, 0, v);
  return s;
}

}  // namespace stasis::test

#endif  // STASIS_TESTS_PERSIST_SNAPSHOT_MUTATION_H_
