// stasis/persist/container.h — the snapshot file container: a fixed header, the
// Cap'n Proto message (flat-array form, optionally zstd-compressed) and a checksum.
//
// Byte layout (all integers little-endian; docs/snapshot-format.md has the table):
//   0  magic "STASISNP"          8 bytes
//   8  format version            u16 (kFormatVersion)
//  10  header size               u16 (>= kHeaderBytes; bytes past 48 are covered by
//                                     the checksum and ignored by this version)
//  12  flags                     u32 (bit 0: payload is one zstd stream; other bits
//                                     reserved: a reader refuses unknown bits)
//  16  stored payload size       u64 (bytes after the header)
//  24  message size              u64 (flat-array bytes, a multiple of 8)
//  32  checksum                  u64 XXH3-64 (seed 0) of header bytes [0,32), then
//                                     [40, header size), then the payload
//  40  reserved                  u64, written as zero, ignored by readers
//
// Invariants a decoded container keeps: file size == header size + payload size;
// the checksum matches; the message has exactly `message size` bytes; no buffer
// grows beyond what the bytes actually present produce (a header claiming 2^60 bytes
// costs nothing), and never beyond ReadLimits.
//
// Every failure is a typed stasis::SnapshotError (errors.h) naming the source.
#ifndef STASIS_PERSIST_CONTAINER_H_
#define STASIS_PERSIST_CONTAINER_H_

#include <capnp/common.h>
#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/array.h>
#include <kj/exception.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "stasis/persist/errors.h"
#include "stasis/schema/snapshot.capnp.h"

namespace stasis::persist {

inline constexpr char kSnapshotMagic[8] = {'S', 'T', 'A', 'S', 'I', 'S', 'N', 'P'};
// Version 3 (this writer): the tasklets are columns of a TaskletTable and channel
// waiters are table indexes. Version 2: frames whose fields are all decodable from
// the archive carry no field values (docs/snapshot-format.md, "Compatibility").
// Readers accept every version from kOldestFormatVersion to kFormatVersion, and
// either tasklet layout in any of them; older readers refuse newer versions with
// SnapshotVersionError.
inline constexpr std::uint16_t kFormatVersion = 3;
inline constexpr std::uint16_t kOldestFormatVersion = 1;
inline constexpr std::uint16_t kHeaderBytes = 48;
// A reader refuses header sizes above this (room for future header fields).
inline constexpr std::uint16_t kMaxHeaderBytes = 4096;
inline constexpr std::uint32_t kFlagZstd = 1u << 0;
inline constexpr std::uint32_t kKnownFlags = kFlagZstd;
// zstd frames use a window of at most 2^23 bytes (8 MiB); readers refuse larger ones,
// so a hostile frame header cannot make the decompressor allocate more.
inline constexpr int kZstdMaxWindowLog = 23;

enum class Compression {
  kNone,  // store the message as is
  kZstd,  // always compress
  kAuto,  // compress when it pays: see kAutoMinMessageBytes / kAutoMaxRatioPercent
};
// kAuto's rule: compress messages of at least 4 KiB, and keep the compressed form
// only when it is at most 90% of the message; otherwise store the message as is.
inline constexpr std::uint64_t kAutoMinMessageBytes = 4096;
inline constexpr std::uint64_t kAutoMaxRatioPercent = 90;

struct ContainerOptions {
  Compression compression = Compression::kAuto;
  int zstd_level = 3;  // ZSTD_minCLevel() .. ZSTD_maxCLevel(); else InvalidArgument
};

// Bounds a reader applies to untrusted files. Exceeding a size bound is
// SnapshotTooLarge; exceeding the traversal or nesting bound is SnapshotCorrupt.
struct ReadLimits {
  std::uint64_t max_file_bytes = 4ull << 30;
  std::uint64_t max_message_bytes = 4ull << 30;
  // Cap'n Proto's traversal limit (amplification guard): the reader may visit at most
  // min(traversal_limit_words, traversal_words_per_message_word * message words + 1024)
  // words in total. A full read of a well-formed message visits about one word per
  // message word; a list "claiming 2^40 entries" of empty elements is refused.
  std::uint64_t traversal_limit_words = ~std::uint64_t{0};
  std::uint64_t traversal_words_per_message_word = 8;
  int nesting_limit = 64;
};

// What the header says, plus the file's size.
struct ContainerInfo {
  std::uint16_t version = 0;
  std::uint16_t header_bytes = 0;
  std::uint32_t flags = 0;
  bool compressed = false;          // flags & kFlagZstd
  std::uint64_t file_bytes = 0;     // the bytes given to the reader
  std::uint64_t payload_bytes = 0;  // stored payload (compressed size if compressed)
  std::uint64_t message_bytes = 0;  // flat-array message size
  std::uint64_t checksum = 0;
};

struct DecodedContainer {
  ContainerInfo info;
  kj::Array<capnp::word> words;  // the flat-array message, exactly info.message_bytes
};

// Builds a snapshot file from a flat-array message (capnp::messageToFlatArray).
// Throws InvalidArgument for a zstd level out of range.
std::string encode_container(kj::ArrayPtr<const capnp::word> message, const ContainerOptions& options = {});
// Same, from a message builder.
std::string encode_container(capnp::MessageBuilder& message, const ContainerOptions& options = {});
// The same file as encode_container(message, options), for a caller that keeps
// kHeaderBytes of writable room right before message.begin() in the same buffer:
// when the message is stored uncompressed, the header is written into that room
// and the result is empty (the file is the kHeaderBytes + message bytes starting
// there: no copy of the message); when it is compressed, the result is the file.
std::string encode_container_in_place(kj::ArrayPtr<const capnp::word> message, const ContainerOptions& options);

// Reads and checks the header only (magic, version, header size, flags); needs the
// header's bytes, not the payload. Does not verify sizes against `bytes` or the
// checksum. Throws SnapshotTruncated, SnapshotFormatError, SnapshotVersionError.
ContainerInfo peek_header(std::string_view bytes, std::string_view source_name = "snapshot");

// Checks the whole container and returns the message words. `source_name` names
// the input in every error message (usually the file path).
// Throws SnapshotTruncated (bytes missing, with expected/present counts),
// SnapshotFormatError (wrong magic, trailing bytes, zstd failure), SnapshotVersionError
// (newer version, unknown flags), SnapshotChecksumMismatch, SnapshotTooLarge (limits),
// SnapshotCorrupt (message size not a multiple of 8 or not what the payload holds).
//
// With Payload::kBorrow an uncompressed payload that is 8-byte aligned is not
// copied: the words point into `bytes`, which must then outlive the result.
enum class Payload { kCopy, kBorrow };
DecodedContainer decode_container(std::string_view bytes, const ReadLimits& limits = {},
                                  std::string_view source_name = "snapshot", Payload payload = Payload::kCopy);

// Reads a whole file. Refuses (SnapshotTooLarge) a regular file larger than
// limits.max_file_bytes before reading it, and any other file (pipe, device) once it
// passes that size. Stops early, returning the bytes read so far, when they do not
// start with a snapshot header (decode_container then says why). I/O failures are
// CheckpointError with the path and the errno text.
std::string read_snapshot_file(const std::string& path, const ReadLimits& limits = {});

// Throws SnapshotCorrupt for a kj::Exception Cap'n Proto raised while reading the
// message of `source_name` (bad pointer, out of bounds, traversal limit...).
[[noreturn]] void throw_snapshot_corrupt(const kj::Exception& e, std::string_view source_name);

// Runs f() and turns any kj::Exception it throws into SnapshotCorrupt. Use it around
// any walk over a Snapshot::Reader: Cap'n Proto checks pointers lazily, on access.
template <typename F>
decltype(auto) with_capnp_errors(std::string_view source_name, F&& f) {
  try {
    return f();
  } catch (const kj::Exception& e) {
    throw_snapshot_corrupt(e, source_name);
  }
}

// A decoded snapshot message ready to read: owns the words and the Cap'n Proto
// reader over them, whose ReaderOptions come from the ReadLimits (traversal limit
// bounded by the message size). Movable; readers from root() stay valid while the
// view lives (moves included: the words never move).
class MessageView {
 public:
  // Throws SnapshotCorrupt if the words do not form a flat-array message that fills
  // them exactly (bad segment table, words left over).
  MessageView(DecodedContainer decoded, const ReadLimits& limits = {}, std::string source_name = "snapshot");
  // Decodes `bytes` (decode_container) and views the result.
  static MessageView from_bytes(std::string_view bytes, const ReadLimits& limits = {},
                                std::string source_name = "snapshot");
  // Same, but an uncompressed, aligned payload is read in place (Payload::kBorrow):
  // `bytes` must outlive the view. For callers that hold the file anyway (thaw).
  static MessageView borrowing(std::string_view bytes, const ReadLimits& limits = {},
                               std::string source_name = "snapshot");
  // Reads `path` (read_snapshot_file), decodes and views it; the path is the source name.
  static MessageView from_file(const std::string& path, const ReadLimits& limits = {});

  MessageView(MessageView&&) noexcept;
  MessageView& operator=(MessageView&&) noexcept;
  MessageView(const MessageView&) = delete;
  MessageView& operator=(const MessageView&) = delete;
  ~MessageView();

  // The root struct. Throws SnapshotCorrupt for a bad root pointer. Getters on the
  // returned reader may still throw kj::Exception for malformed parts: walk it inside
  // with_capnp_errors(), or run validate_snapshot() (validate.h) first.
  schema::Snapshot::Reader root() const;
  // The root with its tasklets in the `tasklets` list (the format-2 layout): root()
  // itself for a message in list form; for a format-3 message (taskletTable), the
  // message expanded once (expand_tasklet_table, tasklet_table.h) and kept in the view.
  // Readers that walk tasklets record by record (stasis-dump, tests) use it; thaw and
  // the validator read root(). Throws SnapshotCorrupt, naming the source, for a bad
  // root pointer or a table whose columns disagree; readers it returns stay valid
  // while the view lives (moves included). The first call on a format-3 view writes
  // the cache: do not make it from two threads at once.
  schema::Snapshot::Reader listed_root() const;
  const ContainerInfo& info() const noexcept { return decoded_.info; }
  const std::string& source_name() const noexcept { return source_name_; }
  kj::ArrayPtr<const capnp::word> words() const noexcept { return decoded_.words.asPtr(); }

 private:
  DecodedContainer decoded_;
  std::string source_name_;
  std::unique_ptr<capnp::FlatArrayMessageReader> reader_;
  mutable std::unique_ptr<capnp::MallocMessageBuilder> listed_;  // listed_root() of a format-3 message
};

}  // namespace stasis::persist

#endif  // STASIS_PERSIST_CONTAINER_H_
