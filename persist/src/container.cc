// persist/src/container.cc — encoding and checking the snapshot container (header,
// zstd payload, XXH3-64 checksum) and reading snapshot files.
//
// Hostile input rules kept here: every size from the header is compared with the
// bytes actually present and with ReadLimits before anything is allocated for it;
// decompression grows its buffer only as output arrives (at most doubling, capped by
// the header's message size), and zstd's own window is capped at 2^kZstdMaxWindowLog.
#include "stasis/persist/container.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <utility>

#include "checksum.h"
#include "stasis/error.h"
#include "stasis/persist/tasklet_table.h"

namespace stasis::persist {
namespace {

// Header field offsets; see container.h for the layout.
constexpr std::size_t kOffVersion = 8;
constexpr std::size_t kOffHeaderSize = 10;
constexpr std::size_t kOffFlags = 12;
constexpr std::size_t kOffPayloadSize = 16;
constexpr std::size_t kOffMessageSize = 24;
constexpr std::size_t kOffChecksum = 32;
constexpr std::size_t kOffAfterChecksum = 40;

std::uint64_t load_le(std::string_view bytes, std::size_t offset, std::size_t width) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < width; ++i) v |= std::uint64_t{static_cast<unsigned char>(bytes[offset + i])} << (8 * i);
  return v;
}

void store_le(std::string& out, std::size_t offset, std::uint64_t v, std::size_t width) {
  for (std::size_t i = 0; i < width; ++i) out[offset + i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

std::string hex64(std::uint64_t v) {
  static const char digits[] = "0123456789abcdef";
  std::string s(16, '0');
  for (int i = 15; i >= 0; --i, v >>= 4) s[i] = digits[v & 15];
  return s;
}

std::string prefix(std::string_view source_name) { return std::string(source_name) + ": "; }

// Printable rendering of up to 8 magic bytes: "STASISNP", "\x7fELF...".
std::string render_magic(std::string_view bytes) {
  std::string out = "\"";
  for (unsigned char c : bytes.substr(0, 8)) {
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      static const char digits[] = "0123456789abcdef";
      out += "\\x";
      out += digits[c >> 4];
      out += digits[c & 15];
    }
  }
  return out + "\"";
}

// XXH3-64 of header bytes [0, 32), [40, header_bytes), then the payload.
std::uint64_t container_checksum(std::string_view header, std::string_view payload) {
  return detail::xxh3_64({header.substr(0, kOffChecksum), header.substr(kOffAfterChecksum), payload});
}

struct CCtxDeleter {
  void operator()(ZSTD_CCtx* c) const noexcept { ZSTD_freeCCtx(c); }
};
struct DCtxDeleter {
  void operator()(ZSTD_DCtx* d) const noexcept { ZSTD_freeDCtx(d); }
};

std::string zstd_compress(std::string_view message, int level) {
  std::unique_ptr<ZSTD_CCtx, CCtxDeleter> cctx(ZSTD_createCCtx());
  if (!cctx) throw std::bad_alloc();
  auto check = [](std::size_t r) {
    if (ZSTD_isError(r)) throw SnapshotFormatError(std::string("zstd compression failed: ") + ZSTD_getErrorName(r));
  };
  check(ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_compressionLevel, level));
  // Levels up to 19 never use a window above 2^23; the higher ones must be capped so
  // readers (which refuse larger windows) can decode the result.
  if (level > 19) check(ZSTD_CCtx_setParameter(cctx.get(), ZSTD_c_windowLog, kZstdMaxWindowLog));
  std::string out(ZSTD_compressBound(message.size()), '\0');
  std::size_t n = ZSTD_compress2(cctx.get(), out.data(), out.size(), message.data(), message.size());
  check(n);
  out.resize(n);
  return out;
}

// Decompresses `payload`, which the header says holds `message_bytes` (a checked,
// nonzero multiple of 8 within the limits). The output buffer starts small and
// doubles as output arrives, never past message_bytes.
kj::Array<capnp::word> zstd_decompress(std::string_view payload, std::uint64_t message_bytes,
                                       std::string_view source_name) {
  std::unique_ptr<ZSTD_DCtx, DCtxDeleter> dctx(ZSTD_createDCtx());
  if (!dctx) throw std::bad_alloc();
  auto fail = [&](std::size_t r) -> void {
    throw SnapshotFormatError(prefix(source_name) + "bad zstd payload: " + ZSTD_getErrorName(r));
  };
  std::size_t r = ZSTD_DCtx_setParameter(dctx.get(), ZSTD_d_windowLogMax, kZstdMaxWindowLog);
  if (ZSTD_isError(r)) fail(r);

  const std::uint64_t total_words = message_bytes / sizeof(capnp::word);
  const std::uint64_t initial_bytes = std::clamp<std::uint64_t>(payload.size() * 4, 64 << 10, 64 << 20);
  std::uint64_t capacity = std::min<std::uint64_t>(total_words, initial_bytes / sizeof(capnp::word));
  kj::Array<capnp::word> words = kj::heapArray<capnp::word>(capacity);
  std::uint64_t produced = 0;  // bytes
  char overflow_probe[64];     // where output goes once the claimed size is reached

  ZSTD_inBuffer in{payload.data(), payload.size(), 0};
  for (;;) {
    if (produced == capacity * sizeof(capnp::word) && capacity < total_words) {
      std::uint64_t grown = std::min<std::uint64_t>(total_words, capacity * 2);
      kj::Array<capnp::word> bigger = kj::heapArray<capnp::word>(grown);
      if (produced != 0) std::memcpy(bigger.begin(), words.begin(), produced);
      words = std::move(bigger);
      capacity = grown;
    }
    const bool full = produced == message_bytes;
    ZSTD_outBuffer out = full ? ZSTD_outBuffer{overflow_probe, sizeof overflow_probe, 0}
                              : ZSTD_outBuffer{reinterpret_cast<char*>(words.begin()),
                                               static_cast<std::size_t>(capacity * sizeof(capnp::word)),
                                               static_cast<std::size_t>(produced)};
    r = ZSTD_decompressStream(dctx.get(), &out, &in);
    if (ZSTD_isError(r)) fail(r);
    if (full && out.pos > 0) {
      throw SnapshotCorrupt(prefix(source_name) + "the zstd payload decompresses to more than the " +
                            std::to_string(message_bytes) + " message bytes the header states");
    }
    if (!full) produced = out.pos;
    if (r == 0 && in.pos == in.size) break;                       // last frame complete
    if (in.pos == in.size && out.pos < out.size) {                // zstd wants input we do not have
      throw SnapshotFormatError(prefix(source_name) + "bad zstd payload: the stream ends inside a frame (after " +
                                std::to_string(produced) + " decompressed bytes)");
    }
  }
  if (produced != message_bytes) {
    throw SnapshotCorrupt(prefix(source_name) + "the zstd payload decompresses to " + std::to_string(produced) +
                          " bytes, the header states " + std::to_string(message_bytes));
  }
  return words;
}

kj::Array<capnp::word> copy_words(std::string_view payload) {
  kj::Array<capnp::word> words = kj::heapArray<capnp::word>(payload.size() / sizeof(capnp::word));
  if (!payload.empty()) std::memcpy(words.begin(), payload.data(), payload.size());
  return words;
}

std::string size_text(std::uint64_t n) { return std::to_string(n) + (n == 1 ? " byte" : " bytes"); }

}  // namespace

namespace {

// The payload encode_container stores for `raw`: the compressed form, or nothing
// when the message is stored as is.
bool compressed_payload(std::string_view raw, const ContainerOptions& options, std::string& compressed) {
  if (options.zstd_level < ZSTD_minCLevel() || options.zstd_level > ZSTD_maxCLevel()) {
    throw InvalidArgument("encode_container: zstd level " + std::to_string(options.zstd_level) + " is outside " +
                          std::to_string(ZSTD_minCLevel()) + ".." + std::to_string(ZSTD_maxCLevel()));
  }
  switch (options.compression) {
    case Compression::kNone:
      return false;
    case Compression::kZstd:
      compressed = zstd_compress(raw, options.zstd_level);
      return true;
    case Compression::kAuto:
      if (raw.size() < kAutoMinMessageBytes) return false;
      compressed = zstd_compress(raw, options.zstd_level);
      return compressed.size() * 100 <= raw.size() * kAutoMaxRatioPercent;
  }
  return false;
}

// Writes the header of a container holding `payload` for a message of
// `message_bytes` into header[0, kHeaderBytes).
void write_header(char* header, std::string_view payload, std::uint64_t message_bytes, bool zstd) {
  std::string out(kHeaderBytes, '\0');
  std::memcpy(out.data(), kSnapshotMagic, sizeof kSnapshotMagic);
  store_le(out, kOffVersion, kFormatVersion, 2);
  store_le(out, kOffHeaderSize, kHeaderBytes, 2);
  store_le(out, kOffFlags, zstd ? kFlagZstd : 0, 4);
  store_le(out, kOffPayloadSize, payload.size(), 8);
  store_le(out, kOffMessageSize, message_bytes, 8);
  store_le(out, kOffChecksum, container_checksum(out, payload), 8);
  std::memcpy(header, out.data(), kHeaderBytes);
}

}  // namespace

std::string encode_container_in_place(kj::ArrayPtr<const capnp::word> message, const ContainerOptions& options) {
  std::string_view raw(reinterpret_cast<const char*>(message.begin()), message.size() * sizeof(capnp::word));
  std::string compressed;
  const bool use_zstd = compressed_payload(raw, options, compressed);
  if (!use_zstd) {
    write_header(const_cast<char*>(raw.data()) - kHeaderBytes, raw, raw.size(), false);
    return {};
  }
  std::string out(kHeaderBytes, '\0');
  write_header(out.data(), compressed, raw.size(), true);
  out.append(compressed);
  return out;
}

std::string encode_container(kj::ArrayPtr<const capnp::word> message, const ContainerOptions& options) {
  std::string_view raw(reinterpret_cast<const char*>(message.begin()), message.size() * sizeof(capnp::word));
  std::string compressed;
  const bool use_zstd = compressed_payload(raw, options, compressed);
  std::string_view payload = use_zstd ? std::string_view(compressed) : raw;
  std::string out(kHeaderBytes + payload.size(), '\0');
  write_header(out.data(), payload, raw.size(), use_zstd);
  if (!payload.empty()) std::memcpy(out.data() + kHeaderBytes, payload.data(), payload.size());
  return out;
}

std::string encode_container(capnp::MessageBuilder& message, const ContainerOptions& options) {
  kj::Array<capnp::word> words = capnp::messageToFlatArray(message);
  return encode_container(words.asPtr(), options);
}

ContainerInfo peek_header(std::string_view bytes, std::string_view source_name) {
  auto truncated = [&](std::size_t needed) {
    throw SnapshotTruncated(prefix(source_name) + "truncated: the snapshot header needs " + size_text(needed) +
                            ", the file has " + size_text(bytes.size()));
  };
  std::size_t magic_present = std::min(bytes.size(), sizeof kSnapshotMagic);
  if (magic_present > 0 && std::memcmp(bytes.data(), kSnapshotMagic, magic_present) != 0) {
    throw SnapshotFormatError(prefix(source_name) + "not a Stasis snapshot (magic " + render_magic(bytes) +
                              ", expected \"STASISNP\")");
  }
  if (bytes.size() < kOffHeaderSize) truncated(kHeaderBytes);
  ContainerInfo info;
  info.version = static_cast<std::uint16_t>(load_le(bytes, kOffVersion, 2));
  if (info.version > kFormatVersion) {
    throw SnapshotVersionError(prefix(source_name) + "written in snapshot format version " +
                               std::to_string(info.version) + "; this library reads versions " +
                               std::to_string(kOldestFormatVersion) + " to " + std::to_string(kFormatVersion) +
                               " (upgrade Stasis to load it)");
  }
  if (info.version == 0) throw SnapshotFormatError(prefix(source_name) + "format version 0 does not exist");
  if (bytes.size() < kHeaderBytes) truncated(kHeaderBytes);
  info.header_bytes = static_cast<std::uint16_t>(load_le(bytes, kOffHeaderSize, 2));
  if (info.header_bytes < kHeaderBytes || info.header_bytes > kMaxHeaderBytes) {
    throw SnapshotFormatError(prefix(source_name) + "header size " + std::to_string(info.header_bytes) +
                              " is outside " + std::to_string(kHeaderBytes) + ".." + std::to_string(kMaxHeaderBytes));
  }
  info.flags = static_cast<std::uint32_t>(load_le(bytes, kOffFlags, 4));
  if (info.flags & ~kKnownFlags) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%x", static_cast<unsigned>(info.flags & ~kKnownFlags));
    throw SnapshotVersionError(prefix(source_name) + "unknown header flags " + buf +
                               " (written by a newer Stasis; this library knows format version " +
                               std::to_string(kFormatVersion) + " flags 0x1)");
  }
  info.compressed = (info.flags & kFlagZstd) != 0;
  info.file_bytes = bytes.size();
  info.payload_bytes = load_le(bytes, kOffPayloadSize, 8);
  info.message_bytes = load_le(bytes, kOffMessageSize, 8);
  info.checksum = load_le(bytes, kOffChecksum, 8);
  return info;
}

DecodedContainer decode_container(std::string_view bytes, const ReadLimits& limits, std::string_view source_name,
                                  Payload payload_mode) {
  ContainerInfo info = peek_header(bytes, source_name);
  auto too_large = [&](const char* what, std::uint64_t n, std::uint64_t limit, const char* limit_name) {
    throw SnapshotTooLarge(prefix(source_name) + what + " " + size_text(n) + " exceeds the read limit of " +
                           size_text(limit) + " (ReadLimits::" + limit_name + ")");
  };
  if (info.file_bytes > limits.max_file_bytes) too_large("file size", info.file_bytes, limits.max_file_bytes, "max_file_bytes");
  if (info.payload_bytes > limits.max_file_bytes) {
    too_large("the header's payload size", info.payload_bytes, limits.max_file_bytes, "max_file_bytes");
  }
  if (info.message_bytes > limits.max_message_bytes) {
    too_large("the header's message size", info.message_bytes, limits.max_message_bytes, "max_message_bytes");
  }
  if (bytes.size() < info.header_bytes) {
    throw SnapshotTruncated(prefix(source_name) + "truncated: the header says it has " + size_text(info.header_bytes) +
                            ", the file has " + size_text(bytes.size()));
  }
  if (bytes.size() - info.header_bytes < info.payload_bytes) {  // no overflow: payload_bytes may be ~2^64
    const std::uint64_t max = std::numeric_limits<std::uint64_t>::max();
    std::string expected = info.payload_bytes > max - info.header_bytes
                               ? "more than 2^64 bytes"
                               : size_text(info.header_bytes + info.payload_bytes);
    throw SnapshotTruncated(prefix(source_name) + "truncated: expected " + expected + " (" +
                            std::to_string(info.header_bytes) + " header + " + std::to_string(info.payload_bytes) +
                            " payload), the file has " + size_text(bytes.size()));
  }
  const std::uint64_t expected = info.header_bytes + info.payload_bytes;
  if (bytes.size() > expected) {
    throw SnapshotFormatError(prefix(source_name) + size_text(bytes.size() - expected) +
                              " of trailing data after the payload (expected a file of " + size_text(expected) + ")");
  }
  std::string_view header = bytes.substr(0, info.header_bytes);
  std::string_view payload = bytes.substr(info.header_bytes);
  const std::uint64_t actual = container_checksum(header, payload);
  if (actual != info.checksum) {
    throw SnapshotChecksumMismatch(prefix(source_name) + "checksum mismatch: the header says " + hex64(info.checksum) +
                                   ", the content hashes to " + hex64(actual) + " (the file is damaged)");
  }
  if (info.message_bytes == 0 || info.message_bytes % sizeof(capnp::word) != 0) {
    throw SnapshotCorrupt(prefix(source_name) + "message size " + std::to_string(info.message_bytes) +
                          " is not a positive multiple of 8");
  }
  DecodedContainer decoded;
  if (info.compressed) {
    decoded.words = zstd_decompress(payload, info.message_bytes, source_name);
  } else {
    if (info.payload_bytes != info.message_bytes) {
      throw SnapshotCorrupt(prefix(source_name) + "uncompressed payload of " + size_text(info.payload_bytes) +
                            " but the header states a message of " + size_text(info.message_bytes));
    }
    if (payload_mode == Payload::kBorrow && reinterpret_cast<std::uintptr_t>(payload.data()) % alignof(capnp::word) == 0) {
      auto* first = reinterpret_cast<capnp::word*>(const_cast<char*>(payload.data()));
      decoded.words = kj::Array<capnp::word>(first, payload.size() / sizeof(capnp::word), kj::NullArrayDisposer::instance);
    } else {
      decoded.words = copy_words(payload);
    }
  }
  decoded.info = info;
  return decoded;
}

std::string read_snapshot_file(const std::string& path, const ReadLimits& limits) {
  auto io_error = [&](const char* what) {
    throw CheckpointError(path + ": cannot " + what + ": " + std::strerror(errno));
  };
  int fd;
  do fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0) io_error("open");
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  struct stat st {};
  if (::fstat(fd, &st) != 0) io_error("stat");
  std::string bytes;
  if (S_ISREG(st.st_mode)) {
    auto size = static_cast<std::uint64_t>(st.st_size);
    if (size > limits.max_file_bytes) {
      throw SnapshotTooLarge(path + ": the file has " + size_text(size) + ", more than the read limit of " +
                             size_text(limits.max_file_bytes) + " (ReadLimits::max_file_bytes)");
    }
    bytes.reserve(size);
  }
  char chunk[1 << 16];
  bool header_checked = false;
  for (;;) {
    ssize_t n = ::read(fd, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) io_error("read");
    if (n == 0) break;
    if (bytes.size() + static_cast<std::uint64_t>(n) > limits.max_file_bytes) {
      throw SnapshotTooLarge(path + ": more than the read limit of " + size_text(limits.max_file_bytes) +
                             " (ReadLimits::max_file_bytes)");
    }
    bytes.append(chunk, static_cast<std::size_t>(n));
    if (!header_checked && bytes.size() >= kHeaderBytes) {
      // Not a snapshot header (e.g. /dev/zero, a huge unrelated file): stop reading;
      // decode_container reports the problem from the bytes read so far.
      header_checked = true;
      try {
        peek_header(bytes, path);
      } catch (const SnapshotError&) {
        break;
      }
    }
  }
  return bytes;
}

void throw_snapshot_corrupt(const kj::Exception& e, std::string_view source_name) {
  throw SnapshotCorrupt(prefix(source_name) + "malformed Cap'n Proto message: " + e.getDescription().cStr());
}

MessageView::MessageView(DecodedContainer decoded, const ReadLimits& limits, std::string source_name)
    : decoded_(std::move(decoded)), source_name_(std::move(source_name)) {
  const std::uint64_t words = decoded_.words.size();
  const std::uint64_t per_word = limits.traversal_words_per_message_word;
  std::uint64_t derived = std::numeric_limits<std::uint64_t>::max();
  if (per_word == 0 || words <= (derived - 1024) / per_word) derived = words * per_word + 1024;
  capnp::ReaderOptions options;
  options.traversalLimitInWords = std::min(limits.traversal_limit_words, derived);
  options.nestingLimit = limits.nesting_limit;
  with_capnp_errors(source_name_, [&] {
    reader_ = std::make_unique<capnp::FlatArrayMessageReader>(decoded_.words.asPtr(), options);
  });
  const capnp::word* end = decoded_.words.end();
  if (reader_->getEnd() != end) {
    throw SnapshotCorrupt(prefix(source_name_) + std::to_string(end - reader_->getEnd()) +
                          " words after the end of the Cap'n Proto message");
  }
}

MessageView MessageView::from_bytes(std::string_view bytes, const ReadLimits& limits, std::string source_name) {
  DecodedContainer decoded = decode_container(bytes, limits, source_name);
  return MessageView(std::move(decoded), limits, std::move(source_name));
}

MessageView MessageView::borrowing(std::string_view bytes, const ReadLimits& limits, std::string source_name) {
  DecodedContainer decoded = decode_container(bytes, limits, source_name, Payload::kBorrow);
  return MessageView(std::move(decoded), limits, std::move(source_name));
}

MessageView MessageView::from_file(const std::string& path, const ReadLimits& limits) {
  std::string bytes = read_snapshot_file(path, limits);
  return from_bytes(bytes, limits, path);
}

MessageView::MessageView(MessageView&&) noexcept = default;
MessageView& MessageView::operator=(MessageView&&) noexcept = default;
MessageView::~MessageView() = default;

schema::Snapshot::Reader MessageView::root() const {
  return with_capnp_errors(source_name_, [&] { return reader_->getRoot<schema::Snapshot>(); });
}

schema::Snapshot::Reader MessageView::listed_root() const {
  const schema::Snapshot::Reader stored = root();
  if (!listed_) {
    if (!with_capnp_errors(source_name_, [&] { return has_tasklet_table(stored); })) return stored;
    // Room for the copy in one segment, as long as that stays a modest allocation.
    const auto first_words = static_cast<unsigned>(std::min<std::uint64_t>(decoded_.words.size() + 1024, 1u << 24));
    auto listed = std::make_unique<capnp::MallocMessageBuilder>(first_words);
    with_capnp_errors(source_name_,
                      [&] { expand_tasklet_table(stored, listed->initRoot<schema::Snapshot>(), source_name_); });
    listed_ = std::move(listed);
  }
  return listed_->getRoot<schema::Snapshot>().asReader();
}

}  // namespace stasis::persist
