// tests/persist/container_test.cc — the snapshot container: round trips, kAuto's
// choice, and every kind of bad input mapping to its typed error without crashing
// or allocating more than the bytes present justify.
#include <gtest/gtest.h>
#include <xxhash.h>
#include <zstd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#include <random>
#include <typeinfo>

#include "snapshot_fixture.h"
#include "stasis/persist/container.h"
#include "stasis/persist/tasklet_table.h"
#include "stasis/persist/validate.h"

// --- Allocation probe: the largest single operator-new request while armed. ---
// (Not under ASan, which has its own operator new and reports huge allocations.)
#if defined(__SANITIZE_ADDRESS__)
#define STASIS_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define STASIS_UNDER_ASAN 1
#endif
#endif
#if !defined(STASIS_UNDER_ASAN)
#define STASIS_ALLOCATION_PROBE 1
namespace {
std::atomic<bool> g_probe_armed{false};
std::atomic<std::size_t> g_probe_largest{0};
void* probed_alloc(std::size_t n) {
  if (g_probe_armed.load(std::memory_order_relaxed)) {
    std::size_t prev = g_probe_largest.load(std::memory_order_relaxed);
    while (n > prev && !g_probe_largest.compare_exchange_weak(prev, n)) {
    }
  }
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
}  // namespace
void* operator new(std::size_t n) { return probed_alloc(n); }
void* operator new[](std::size_t n) { return probed_alloc(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
#endif

namespace stasis::persist {
namespace {

using testing::encode;
using testing::fixture_root;
using testing::make_fixture_message;

// Largest allocation made by f() (0 when the probe is unavailable).
template <typename F>
std::size_t largest_allocation(F&& f) {
#ifdef STASIS_ALLOCATION_PROBE
  g_probe_largest = 0;
  g_probe_armed = true;
  try {
    f();
  } catch (...) {
    g_probe_armed = false;
    throw;
  }
  g_probe_armed = false;
  return g_probe_largest;
#else
  f();
  return 0;
#endif
}

// Runs f, expects exactly error type E (not a subclass), returns its message.
template <typename E, typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const std::exception& e) {
    EXPECT_EQ(typeid(e), typeid(E)) << "got " << typeid(e).name() << ": " << e.what();
    return e.what();
  }
  ADD_FAILURE() << "no exception, expected " << typeid(E).name();
  return {};
}

std::uint64_t get_le(const std::string& b, std::size_t off, std::size_t width) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < width; ++i) v |= std::uint64_t{static_cast<unsigned char>(b[off + i])} << (8 * i);
  return v;
}
void put_le(std::string& b, std::size_t off, std::uint64_t v, std::size_t width) {
  for (std::size_t i = 0; i < width; ++i) b[off + i] = static_cast<char>(v >> (8 * i));
}

// Recomputes the checksum as docs/snapshot-format.md defines it (XXH3-64 of header
// [0,32), header [40,header size), payload) — so hostile files pass the checksum.
void fix_checksum(std::string& file) {
  std::string covered = file.substr(0, 32) + file.substr(40);
  put_le(file, 32, XXH3_64bits(covered.data(), covered.size()), 8);
}

// A file with the given payload and header fields, checksum fixed up.
std::string forge(std::string payload, std::uint32_t flags, std::uint64_t message_bytes) {
  std::string file(kHeaderBytes, '\0');
  std::memcpy(file.data(), "STASISNP", 8);
  put_le(file, 8, 1, 2);
  put_le(file, 10, kHeaderBytes, 2);
  put_le(file, 12, flags, 4);
  put_le(file, 16, payload.size(), 8);
  put_le(file, 24, message_bytes, 8);
  file += payload;
  fix_checksum(file);
  return file;
}

std::string zstd_bytes(const std::string& raw) {
  std::string out(ZSTD_compressBound(raw.size()), '\0');
  out.resize(ZSTD_compress(out.data(), out.size(), raw.data(), raw.size(), 3));
  return out;
}

std::string flat_bytes(capnp::MallocMessageBuilder& m) {
  auto words = capnp::messageToFlatArray(m);
  return std::string(reinterpret_cast<const char*>(words.begin()), words.size() * sizeof(capnp::word));
}

TEST(Container, RoundTripUncompressed) {
  auto m = make_fixture_message();
  std::string raw = flat_bytes(*m);
  std::string file = encode(*m, Compression::kNone);
  ASSERT_EQ(file.size(), kHeaderBytes + raw.size());
  EXPECT_EQ(file.substr(0, 8), "STASISNP");

  DecodedContainer d = decode_container(file);
  EXPECT_EQ(d.info.version, 3);
  EXPECT_EQ(d.info.header_bytes, 48);
  EXPECT_EQ(d.info.flags, 0u);
  EXPECT_FALSE(d.info.compressed);
  EXPECT_EQ(d.info.file_bytes, file.size());
  EXPECT_EQ(d.info.payload_bytes, raw.size());
  EXPECT_EQ(d.info.message_bytes, raw.size());
  EXPECT_EQ(d.info.checksum, get_le(file, 32, 8));
  ASSERT_EQ(d.words.size() * 8, raw.size());
  EXPECT_EQ(std::memcmp(d.words.begin(), raw.data(), raw.size()), 0);

  MessageView v(std::move(d));
  EXPECT_EQ(std::string(v.root().getNote().cStr()), "checkpoint 12");
  EXPECT_EQ(v.root().getTasklets().size(), 4u);
  EXPECT_NO_THROW(validate_snapshot(v.root(), "fixture"));
}

TEST(Container, BorrowingReadsAnAlignedUncompressedPayloadInPlace) {
  auto m = make_fixture_message();
  std::string raw = flat_bytes(*m);
  std::string file = encode(*m, Compression::kNone);
  ASSERT_EQ(reinterpret_cast<std::uintptr_t>(file.data() + kHeaderBytes) % 8, 0u);  // heap strings are 16-aligned
  MessageView v = MessageView::borrowing(file, {}, "borrowed");
  EXPECT_EQ(reinterpret_cast<const char*>(v.words().begin()), file.data() + kHeaderBytes);  // no copy
  EXPECT_EQ(v.root().getTasklets().size(), 4u);
  EXPECT_NO_THROW(validate_snapshot(v.root(), "borrowed"));

  // A misaligned payload is copied, and reads the same.
  std::string shifted = " " + file;
  MessageView c = MessageView::borrowing(std::string_view(shifted).substr(1), {}, "shifted");
  EXPECT_NE(reinterpret_cast<const char*>(c.words().begin()), shifted.data() + 1 + kHeaderBytes);
  ASSERT_EQ(c.words().size() * 8, raw.size());
  EXPECT_EQ(std::memcmp(c.words().begin(), raw.data(), raw.size()), 0);

  // Compressed payloads are always decompressed into memory of the view's own.
  std::string z = encode(*m, Compression::kZstd);
  MessageView d = MessageView::borrowing(z, {}, "zstd");
  EXPECT_EQ(std::memcmp(d.words().begin(), raw.data(), raw.size()), 0);
}

TEST(Container, RoundTripZstd) {
  auto m = make_fixture_message();
  std::string raw = flat_bytes(*m);
  std::string file = encode(*m, Compression::kZstd);
  ContainerInfo info = peek_header(file);
  EXPECT_TRUE(info.compressed);
  EXPECT_EQ(info.flags, kFlagZstd);
  EXPECT_EQ(info.message_bytes, raw.size());
  EXPECT_EQ(info.payload_bytes, file.size() - kHeaderBytes);

  MessageView v = MessageView::from_bytes(file, {}, "zstd fixture");
  ASSERT_EQ(v.words().size() * 8, raw.size());
  EXPECT_EQ(std::memcmp(v.words().begin(), raw.data(), raw.size()), 0);
  EXPECT_EQ(v.info().compressed, true);
  EXPECT_EQ(v.source_name(), "zstd fixture");
  EXPECT_EQ(v.root().getChannels()[1].getBuffer()[1].getText(), "\"second\"");
}

TEST(Container, ZstdRoundTripOfALargeMessageGrowsTheBufferToTheExactSize) {
  auto m = make_fixture_message();
  std::string note(3 << 20, 'x');  // 3 MiB: several doublings of the output buffer
  for (std::size_t i = 0; i < note.size(); i += 97) note[i] = static_cast<char>('a' + i % 26);
  m->getRoot<schema::Snapshot>().setNote(note);
  std::string file = encode(*m, Compression::kZstd);
  EXPECT_LT(file.size(), note.size() / 4);
  MessageView v = MessageView::from_bytes(file);
  EXPECT_EQ(v.root().getNote().size(), note.size());
  EXPECT_EQ(v.words().size() * 8, v.info().message_bytes);
}

TEST(Container, AutoKeepsSmallMessagesUncompressed) {
  auto m = make_fixture_message();
  ASSERT_LT(flat_bytes(*m).size(), kAutoMinMessageBytes);
  EXPECT_FALSE(peek_header(encode(*m, Compression::kAuto)).compressed);
}

TEST(Container, AutoCompressesLargeCompressibleMessages) {
  auto m = make_fixture_message();
  m->getRoot<schema::Snapshot>().setNote(std::string(64 << 10, 'a'));
  ContainerInfo info = peek_header(encode(*m, Compression::kAuto));
  EXPECT_TRUE(info.compressed);
  EXPECT_LE(info.payload_bytes * 100, info.message_bytes * kAutoMaxRatioPercent);
}

TEST(Container, AutoStoresIncompressibleMessagesRaw) {
  auto m = make_fixture_message();
  std::string noise(64 << 10, '\0');
  std::mt19937_64 rng(7);
  for (char& c : noise) c = static_cast<char>(rng());
  m->getRoot<schema::Snapshot>().setArchive(
      capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(noise.data()), noise.size()));
  std::string file = encode(*m, Compression::kAuto);
  EXPECT_FALSE(peek_header(file).compressed);
  EXPECT_TRUE(peek_header(encode(*m, Compression::kZstd)).compressed);  // kZstd compresses regardless
}

TEST(Container, RejectsZstdLevelOutOfRange) {
  auto m = make_fixture_message();
  ContainerOptions o;
  o.compression = Compression::kZstd;
  o.zstd_level = ZSTD_maxCLevel() + 1;
  EXPECT_THROW(encode_container(*m, o), InvalidArgument);
}

TEST(Container, HighLevelsStayWithinTheReadersWindow) {
  auto m = make_fixture_message();
  m->getRoot<schema::Snapshot>().setNote(std::string(1 << 20, 'q'));
  ContainerOptions o;
  o.compression = Compression::kZstd;
  o.zstd_level = ZSTD_maxCLevel();
  EXPECT_NO_THROW(MessageView::from_bytes(encode_container(*m, o)));
}

TEST(Container, TruncationAtEveryHeaderOffsetAndSampledPayloadOffsets) {
  auto m = make_fixture_message();
  for (Compression c : {Compression::kNone, Compression::kZstd}) {
    std::string file = encode(*m, c);
    std::vector<std::size_t> cuts;
    for (std::size_t n = 0; n <= kHeaderBytes; ++n) cuts.push_back(n);
    for (std::size_t n = kHeaderBytes + 1; n < file.size(); n += 13) cuts.push_back(n);
    cuts.push_back(file.size() - 1);
    for (std::size_t n : cuts) {
      SCOPED_TRACE("cut at " + std::to_string(n) + " of " + std::to_string(file.size()));
      std::string msg = error_of<SnapshotTruncated>([&] { decode_container(std::string_view(file).substr(0, n), {}, "cut.snap"); });
      EXPECT_NE(msg.find("cut.snap: truncated"), std::string::npos) << msg;
      EXPECT_NE(msg.find("the file has " + std::to_string(n) + " byte"), std::string::npos) << msg;
    }
  }
  std::string file = encode(*m, Compression::kNone);
  std::string msg = error_of<SnapshotTruncated>([&] { decode_container(std::string_view(file).substr(0, 100)); });
  EXPECT_NE(msg.find("expected " + std::to_string(file.size()) + " bytes (48 header + " +
                     std::to_string(file.size() - 48) + " payload), the file has 100 bytes"),
            std::string::npos)
      << msg;
}

TEST(Container, TrailingBytesAreAFormatError) {
  auto m = make_fixture_message();
  std::string file = encode(*m) + "junk";
  std::string msg = error_of<SnapshotFormatError>([&] { decode_container(file); });
  EXPECT_NE(msg.find("4 bytes of trailing data"), std::string::npos) << msg;
}

TEST(Container, WrongMagic) {
  auto m = make_fixture_message();
  std::string file = encode(*m);
  file[0] = '\x7f';
  std::string msg = error_of<SnapshotFormatError>([&] { decode_container(file, {}, "elf.bin"); });
  EXPECT_NE(msg.find("elf.bin: not a Stasis snapshot (magic \"\\x7fTASISNP\""), std::string::npos) << msg;
  error_of<SnapshotFormatError>([&] { decode_container("PK\x03\x04"); });  // shorter than the magic
}

TEST(Container, FutureVersionNamesBothVersions) {
  auto m = make_fixture_message();
  std::string file = encode(*m);
  put_le(file, 8, 7, 2);
  std::string msg = error_of<SnapshotVersionError>([&] { decode_container(file); });
  EXPECT_NE(msg.find("version 7"), std::string::npos) << msg;
  EXPECT_NE(msg.find("reads versions 1 to 3"), std::string::npos) << msg;
  put_le(file, 8, 4, 2);  // the first version after this library's
  msg = error_of<SnapshotVersionError>([&] { decode_container(file); });
  EXPECT_NE(msg.find("version 4"), std::string::npos) << msg;
  put_le(file, 8, 0, 2);
  error_of<SnapshotFormatError>([&] { decode_container(file); });
}

// Format 1 files (every frame record carries its field values, as the fixture's
// do) still load.
TEST(Container, Version1FilesStillLoad) {
  auto m = make_fixture_message();
  std::string file = encode(*m);
  put_le(file, 8, 1, 2);
  fix_checksum(file);
  DecodedContainer d = decode_container(file);
  EXPECT_EQ(d.info.version, 1);
  MessageView view = MessageView::from_bytes(file);
  EXPECT_NO_THROW(validate_snapshot(view.root()));
}

TEST(Container, UnknownFlagBitsAreAVersionError) {
  auto m = make_fixture_message();
  for (std::uint32_t bit : {1u << 1, 1u << 7, 1u << 31}) {
    std::string file = encode(*m);
    put_le(file, 12, bit, 4);
    fix_checksum(file);
    std::string msg = error_of<SnapshotVersionError>([&] { decode_container(file); });
    EXPECT_NE(msg.find("unknown header flags"), std::string::npos) << msg;
  }
}

TEST(Container, BadHeaderSize) {
  auto m = make_fixture_message();
  std::string file = encode(*m);
  put_le(file, 10, 40, 2);
  error_of<SnapshotFormatError>([&] { decode_container(file); });
  put_le(file, 10, 5000, 2);
  error_of<SnapshotFormatError>([&] { decode_container(file); });
}

TEST(Container, LargerHeaderFromAFutureMinorWriterIsAccepted) {
  auto m = make_fixture_message();
  std::string file = encode(*m);
  file.insert(kHeaderBytes, 16, '\x5a');  // 16 extra header bytes
  put_le(file, 10, kHeaderBytes + 16, 2);
  fix_checksum(file);
  DecodedContainer d = decode_container(file);
  EXPECT_EQ(d.info.header_bytes, kHeaderBytes + 16);
  EXPECT_NO_THROW(MessageView(std::move(d)).root().getNote());
}

TEST(Container, AnyBitFlipIsDetected) {
  auto m = make_fixture_message();
  for (Compression c : {Compression::kNone, Compression::kZstd}) {
    std::string file = encode(*m, c);
    for (std::size_t off = 0; off < file.size(); off += (off < kHeaderBytes ? 1 : 7)) {
      if (off >= 40 && off < kHeaderBytes) continue;  // reserved: covered, flip below
      std::string bad = file;
      bad[off] ^= 0x10;
      SCOPED_TRACE("flip at " + std::to_string(off));
      EXPECT_THROW(decode_container(bad), SnapshotFormatError);
    }
    std::string bad = file;
    bad[44] ^= 1;  // reserved bytes are covered by the checksum
    std::string msg = error_of<SnapshotChecksumMismatch>([&] { decode_container(bad); });
    std::string stored = msg.substr(msg.find("says ") + 5, 16);
    EXPECT_EQ(std::stoull(stored, nullptr, 16), get_le(file, 32, 8)) << msg;
  }
}

TEST(Container, PayloadFlipIsAChecksumMismatchWithBothValues) {
  auto m = make_fixture_message();
  std::string file = encode(*m);
  file[200] ^= 1;
  std::string msg = error_of<SnapshotChecksumMismatch>([&] { decode_container(file, {}, "x.snap"); });
  EXPECT_NE(msg.find("x.snap: checksum mismatch: the header says "), std::string::npos) << msg;
  EXPECT_NE(msg.find(", the content hashes to "), std::string::npos) << msg;
}

TEST(Container, MessageSizeLies) {
  auto m = make_fixture_message();
  std::string raw = flat_bytes(*m);
  // Uncompressed: the payload must be the whole message.
  error_of<SnapshotCorrupt>([&] { decode_container(forge(raw, 0, raw.size() + 8)); });
  error_of<SnapshotCorrupt>([&] { decode_container(forge(raw, 0, raw.size() - 8)); });
  // Not a multiple of 8, or empty.
  error_of<SnapshotCorrupt>([&] { decode_container(forge(raw, 0, raw.size() - 3)); });
  error_of<SnapshotCorrupt>([&] { decode_container(forge(raw.substr(0, 5), 0, 5)); });
  error_of<SnapshotCorrupt>([&] { decode_container(forge("", 0, 0)); });
  // Compressed: the stream must decompress to exactly the stated size.
  std::string z = zstd_bytes(raw);
  std::string msg = error_of<SnapshotCorrupt>([&] { decode_container(forge(z, kFlagZstd, raw.size() - 8)); });
  EXPECT_NE(msg.find("more than the " + std::to_string(raw.size() - 8)), std::string::npos) << msg;
  msg = error_of<SnapshotCorrupt>([&] { decode_container(forge(z, kFlagZstd, raw.size() + 64)); });
  EXPECT_NE(msg.find("decompresses to " + std::to_string(raw.size()) + " bytes"), std::string::npos) << msg;
  EXPECT_NO_THROW(decode_container(forge(z, kFlagZstd, raw.size())));
}

TEST(Container, ZstdGarbageIsAFormatErrorNamingZstdsReason) {
  std::string garbage(300, '\0');
  for (std::size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>(i * 31 + 5);
  std::string msg = error_of<SnapshotFormatError>([&] { decode_container(forge(garbage, kFlagZstd, 4096), {}, "g.snap"); });
  EXPECT_NE(msg.find("g.snap: bad zstd payload: "), std::string::npos) << msg;
  EXPECT_NE(msg.find("Unknown frame descriptor"), std::string::npos) << msg;
}

TEST(Container, CutZstdStreamWithFixedHeaderIsAFormatError) {
  auto m = make_fixture_message();
  std::string raw = flat_bytes(*m);
  std::string z = zstd_bytes(raw);
  std::string msg = error_of<SnapshotFormatError>([&] { decode_container(forge(z.substr(0, z.size() / 2), kFlagZstd, raw.size())); });
  EXPECT_NE(msg.find("ends inside a frame"), std::string::npos) << msg;
  error_of<SnapshotFormatError>([&] { decode_container(forge("", kFlagZstd, raw.size())); });
}

TEST(Container, ZstdFrameDemandingAHugeWindowIsRefused) {
  // A frame header declaring a 2 GiB window (windowLog 31) and no content size.
  std::string frame = {'\x28', '\xb5', '\x2f', '\xfd', '\x00', static_cast<char>((31 - 10) << 3)};
  frame += std::string(16, '\0');
  std::string msg = error_of<SnapshotFormatError>([&] { decode_container(forge(frame, kFlagZstd, 1 << 20)); });
  EXPECT_NE(msg.find("bad zstd payload"), std::string::npos) << msg;
}

TEST(Container, HostileHeaderClaimingHugeSizesCostsNothing) {
  std::string tiny_zstd = zstd_bytes(std::string(64, 'a'));
  std::size_t largest = largest_allocation([&] {
    // Over the default limits: SnapshotTooLarge, before looking at any payload.
    error_of<SnapshotTooLarge>([&] { decode_container(forge("abcdefgh", 0, 1ull << 60)); });
    std::string f = forge("abcdefgh", 0, 8);
    put_le(f, 16, 1ull << 60, 8);
    fix_checksum(f);
    std::string msg = error_of<SnapshotTooLarge>([&] { decode_container(f); });
    EXPECT_NE(msg.find("max_file_bytes"), std::string::npos) << msg;
    // With the limits lifted: the bytes are simply not there.
    ReadLimits open;
    open.max_file_bytes = open.max_message_bytes = ~std::uint64_t{0};
    msg = error_of<SnapshotTruncated>([&] { decode_container(f, open); });
    EXPECT_NE(msg.find(std::to_string(1ull << 60)), std::string::npos) << msg;
    // A small zstd stream claiming a 2^60-byte message: decompresses what is there, then stops.
    error_of<SnapshotCorrupt>([&] { decode_container(forge(tiny_zstd, kFlagZstd, 1ull << 60), open); });
  });
#ifdef STASIS_ALLOCATION_PROBE
  EXPECT_LT(largest, std::size_t{1} << 20) << "a hostile header made the reader allocate " << largest << " bytes";
#else
  (void)largest;
#endif
}

TEST(Container, DecompressionAllocatesInProportionToRealOutput) {
#ifndef STASIS_ALLOCATION_PROBE
  GTEST_SKIP() << "allocation probe unavailable under AddressSanitizer";
#else
  auto m = make_fixture_message();
  std::string raw = flat_bytes(*m);
  std::string z = zstd_bytes(raw);
  ReadLimits open;
  open.max_message_bytes = ~std::uint64_t{0};
  // The header claims 1 GiB: the buffer starts at 64 KiB and never needs to grow.
  std::size_t largest = largest_allocation([&] {
    EXPECT_THROW(decode_container(forge(z, kFlagZstd, 1ull << 30), open), SnapshotCorrupt);
  });
  EXPECT_LE(largest, std::size_t{64} << 10);
  // Sanity of the probe: a real decode allocates at least the message.
  largest = largest_allocation([&] { decode_container(forge(z, kFlagZstd, raw.size())); });
  EXPECT_GE(largest, raw.size());
#endif
}

TEST(Container, LimitsRefuseLargeFilesAndMessages) {
  auto m = make_fixture_message();
  std::string file = encode(*m);
  ReadLimits small;
  small.max_file_bytes = 100;
  error_of<SnapshotTooLarge>([&] { decode_container(file, small); });
  small = {};
  small.max_message_bytes = 64;
  error_of<SnapshotTooLarge>([&] { decode_container(file, small); });
}

// The word index of the Snapshot root's pointer slot `slot` in a single-segment flat array.
std::size_t root_pointer_word(const kj::Array<capnp::word>& words, unsigned slot) {
  std::uint64_t root;
  std::memcpy(&root, &words[1], 8);  // words[0] is the segment table
  std::int64_t offset = static_cast<std::int32_t>(root & 0xffffffffu) >> 2;
  std::uint64_t data_words = (root >> 32) & 0xffff;
  return static_cast<std::size_t>(2 + offset + static_cast<std::int64_t>(data_words) + slot);
}

std::uint64_t word_at(const kj::Array<capnp::word>& words, std::size_t i) {
  std::uint64_t w;
  std::memcpy(&w, &words[i], 8);
  return w;
}
void set_word(kj::Array<capnp::word>& words, std::size_t i, std::uint64_t w) {
  std::memcpy(static_cast<void*>(&words[i]), &w, 8);
}

std::string as_file(const kj::Array<capnp::word>& words) {
  return encode_container(words.asPtr(), {Compression::kNone});  // a valid checksum over the hostile message
}

TEST(Container, ListClaimingHugeElementCountOfEmptyStructsIsCorrupt) {
  auto m = make_fixture_message();
  auto words = capnp::messageToFlatArray(*m);
  ASSERT_EQ(word_at(words, 0) & 0xffffffffu, 0u) << "single segment expected";
  constexpr unsigned kTaskletsSlot = 4;  // producer, scheduler, frameTypes, valueTypes, tasklets
  std::size_t ptr = root_pointer_word(words, kTaskletsSlot);
  std::uint64_t list = word_at(words, ptr);
  ASSERT_EQ(list & 3, 1u) << "a list pointer";
  ASSERT_EQ((list >> 32) & 7, 7u) << "an inline-composite list";
  std::size_t tag = ptr + 1 + static_cast<std::size_t>(static_cast<std::int32_t>(list & 0xffffffffu) >> 2);
  // Tag: 2^29 - 1 elements of zero data words and zero pointers.
  set_word(words, tag, (std::uint64_t{(1u << 29) - 1} << 2));
  std::string file = as_file(words);

  MessageView v = MessageView::from_bytes(file, {}, "bomb.snap");
  std::size_t largest = largest_allocation([&] {
    std::string msg = error_of<SnapshotCorrupt>([&] { validate_snapshot(v.root(), "bomb.snap"); });
    EXPECT_NE(msg.find("bomb.snap: malformed Cap'n Proto message"), std::string::npos) << msg;
  });
  EXPECT_LT(largest, std::size_t{1} << 20);
  auto problems = check_snapshot(v.root());
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_NE(problems[0].find("malformed Cap'n Proto message"), std::string::npos) << problems[0];
  // Raw access through the view converts too.
  error_of<SnapshotCorrupt>([&] { with_capnp_errors("bomb.snap", [&] { return v.root().getTasklets().size(); }); });
}

// Format 3: a taskletTable column claiming 2^29-1 empty structs (extras) costs
// listed_root() its traversal limit, not an allocation.
TEST(Container, TableColumnClaimingHugeElementCountIsCorruptWhenExpanded) {
  auto m = make_fixture_message();
  capnp::MallocMessageBuilder table;
  pack_tasklet_table(fixture_root(*m), table.initRoot<schema::Snapshot>());
  auto words = capnp::messageToFlatArray(table);
  ASSERT_EQ(word_at(words, 0) & 0xffffffffu, 0u) << "single segment expected";
  constexpr unsigned kTaskletTableSlot = 10;  // the Snapshot's 11th pointer field
  std::size_t ptr = root_pointer_word(words, kTaskletTableSlot);
  std::uint64_t p = word_at(words, ptr);
  ASSERT_EQ(p & 3, 0u) << "a struct pointer";
  std::size_t table_data = ptr + 1 + static_cast<std::size_t>(static_cast<std::int32_t>(p & 0xffffffffu) >> 2);
  constexpr unsigned kExtrasSlot = 11;  // TaskletTable.extras
  std::size_t extras = table_data + ((p >> 32) & 0xffff) + kExtrasSlot;
  std::uint64_t list = word_at(words, extras);
  ASSERT_EQ((list >> 32) & 7, 7u) << "an inline-composite list";
  std::size_t tag = extras + 1 + static_cast<std::size_t>(static_cast<std::int32_t>(list & 0xffffffffu) >> 2);
  set_word(words, tag, (std::uint64_t{(1u << 29) - 1} << 2));

  MessageView v = MessageView::from_bytes(as_file(words), {}, "bomb3.snap");
  std::size_t largest = largest_allocation([&] {
    std::string msg = error_of<SnapshotCorrupt>([&] { v.listed_root(); });
    EXPECT_NE(msg.find("bomb3.snap: malformed Cap'n Proto message"), std::string::npos) << msg;
  });
  EXPECT_LT(largest, std::size_t{1} << 20);
}

TEST(Container, DataListClaimingMoreBytesThanTheMessageIsCorrupt) {
  auto m = make_fixture_message();
  auto words = capnp::messageToFlatArray(*m);
  constexpr unsigned kArchiveSlot = 6;
  std::size_t ptr = root_pointer_word(words, kArchiveSlot);
  std::uint64_t list = word_at(words, ptr);
  ASSERT_EQ((list >> 32) & 7, 2u) << "a byte list";
  set_word(words, ptr, (list & 0xffffffffu) | (std::uint64_t{((1u << 29) - 1) << 3 | 2} << 32));
  MessageView v = MessageView::from_bytes(as_file(words), {}, "data.snap");
  std::string msg = error_of<SnapshotCorrupt>([&] { validate_snapshot(v.root(), "data.snap"); });
  EXPECT_NE(msg.find("data.snap: malformed Cap'n Proto message"), std::string::npos) << msg;
}

TEST(Container, BadSegmentTableOrLeftoverWordsAreCorrupt) {
  auto m = make_fixture_message();
  auto words = capnp::messageToFlatArray(*m);
  auto bad = kj::heapArray<capnp::word>(words.size());
  std::memcpy(bad.begin(), words.begin(), words.size() * 8);
  set_word(bad, 0, word_at(bad, 0) | 0x7fu);  // 128 segments
  error_of<SnapshotCorrupt>([&] { MessageView::from_bytes(as_file(bad)); });

  auto longer = kj::heapArray<capnp::word>(words.size() + 2);
  std::memset(longer.begin(), 0, longer.size() * 8);
  std::memcpy(longer.begin(), words.begin(), words.size() * 8);
  std::string msg = error_of<SnapshotCorrupt>([&] { MessageView::from_bytes(as_file(longer)); });
  EXPECT_NE(msg.find("2 words after the end"), std::string::npos) << msg;
}

TEST(Container, TraversalLimitFollowsTheMessageSize) {
  auto m = make_fixture_message();
  std::string file = encode(*m);
  ReadLimits tight;
  tight.traversal_limit_words = 4;  // far less than one read of the message
  MessageView v = MessageView::from_bytes(file, tight, "tight");
  error_of<SnapshotCorrupt>([&] { validate_snapshot(v.root(), "tight"); });
}

TEST(Container, ReadSnapshotFile) {
  auto m = make_fixture_message();
  std::string file = encode(*m, Compression::kZstd);
  std::string path = testing::write_temp_file("read.snap", file);
  EXPECT_EQ(read_snapshot_file(path), file);
  MessageView v = MessageView::from_file(path);
  EXPECT_EQ(v.source_name(), path);
  EXPECT_EQ(v.root().getTasklets().size(), 4u);

  ReadLimits small;
  small.max_file_bytes = file.size() - 1;
  std::string msg = error_of<SnapshotTooLarge>([&] { read_snapshot_file(path, small); });
  EXPECT_NE(msg.find(path), std::string::npos) << msg;

  msg = error_of<CheckpointError>([&] { read_snapshot_file(path + ".missing"); });
  EXPECT_NE(msg.find(path + ".missing: cannot open: No such file or directory"), std::string::npos) << msg;
  msg = error_of<CheckpointError>([&] { read_snapshot_file(testing::temp_dir().string()); });
  EXPECT_NE(msg.find("Is a directory"), std::string::npos) << msg;
}

}  // namespace
}  // namespace stasis::persist
