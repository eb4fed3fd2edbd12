// flat_message_builder.h — a Cap'n Proto message builder whose finished message is
// already in flat-array form, with room for the snapshot container's header in
// front, when it fits its first segment (freeze sizes that segment from an
// estimate): saving the copies of the whole snapshot.
#ifndef STASIS_PERSIST_SRC_FLAT_MESSAGE_BUILDER_H_
#define STASIS_PERSIST_SRC_FLAT_MESSAGE_BUILDER_H_

#include <capnp/message.h>
#include <capnp/serialize.h>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <streambuf>
#include <string>
#include <vector>

#include <kj/array.h>

namespace stasis::persist {

// A message builder whose first buffer holds, in this order: `room_bytes` (a
// multiple of 8) of room, two spare words, the first segment (`first_segment_words`
// handed to Cap'n Proto), and a tail of `tail_bytes` that Cap'n Proto never sees.
//
// The tail is for a blob written while the message is built (freeze's field
// archive): tail() gives it out, and adopt_tail() makes its first n bytes the
// message's second segment, referenced as external data. When the message then
// consists of the first segment and the tail, flat() moves the tail's bytes right
// behind the first segment's used words, writes the segment table into the spare
// words, and returns the buffer itself as the flat-array message: neither the blob
// nor the message is copied, and the room in front can take the container header
// (release() hands the buffer over). A message with one segment works the same with
// a one-word table. Otherwise (the estimate was short: Cap'n Proto asked for more
// segments) further segments are allocated as MallocMessageBuilder would (each at
// least as large as all before it) and flat() makes the copy. Buffers come from
// calloc: large ones are fresh, already-zero pages that cost nothing until written.
class FlatMessageBuilder final : public capnp::MessageBuilder {
 public:
  FlatMessageBuilder(std::size_t first_segment_words, std::size_t tail_bytes, std::size_t room_bytes)
      : first_words_(std::clamp<std::size_t>(first_segment_words, kMinSegmentWords, kMaxSegmentWords)),
        tail_words_(words_for(tail_bytes)),
        room_words_(words_for(room_bytes)) {}
  ~FlatMessageBuilder() noexcept(false) override {
    for (void* p : segments_) std::free(p);
  }

  kj::ArrayPtr<capnp::word> allocateSegment(unsigned minimum_words) override {
    if (segments_.empty() && minimum_words <= first_words_) {
      // If the system refuses that much address space, grow as usual instead.
      if (capnp::word* p = allocate(room_words_ + kTableWords + first_words_ + tail_words_)) {
        first_ = p + room_words_ + kTableWords;
        tail_ = first_ + first_words_;
        allocated_words_ = first_words_;
        return kj::arrayPtr(first_, first_words_);
      }
    }
    const std::size_t words = std::max<std::size_t>(
        {minimum_words, kMinSegmentWords, std::min<std::size_t>(allocated_words_, kMaxSegmentWords)});
    capnp::word* p = allocate(words);
    if (!p) throw std::bad_alloc();
    allocated_words_ += words;
    return kj::arrayPtr(p, words);
  }

  // The tail region (null before the first segment exists or if it could not be
  // allocated) and its size in bytes.
  char* tail() const noexcept { return reinterpret_cast<char*>(tail_); }
  std::size_t tail_bytes() const noexcept { return tail_ ? tail_words_ * sizeof(capnp::word) : 0; }

  // The first n bytes at `data` (the tail, or memory that outlives this builder) as
  // a Data blob outside the first segment, to be adopted into the message.
  capnp::Orphan<capnp::Data> external(const char* data, std::size_t n) {
    if (n == 0) return getOrphanage().newOrphan<capnp::Data>(0);
    return getOrphanage().referenceExternalData(capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(data), n));
  }

  // The message as a flat array (segment table, then the segments), valid while
  // this builder lives. Call once, after the message is complete.
  kj::ArrayPtr<const capnp::word> flat() {
    kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments = getSegmentsForOutput();
    if (segments.size() == 1 && segments[0].begin() == first_) return write_table(segments[0].size(), 0);
    if (segments.size() == 2 && segments[0].begin() == first_ && segments[1].begin() == tail_) {
      // The tail follows the first segment's used words (zero words beyond, never
      // written: Cap'n Proto allocates front to back). Its padding to a word
      // boundary must be zero too (the moved bytes may leave old ones there).
      const std::size_t used = segments[0].size(), tail_words = segments[1].size();
      const std::size_t bytes = tail_bytes_used_;
      char* to = reinterpret_cast<char*>(first_ + used);
      if (to != tail()) std::memmove(to, tail(), bytes);
      std::memset(to + bytes, 0, tail_words * sizeof(capnp::word) - bytes);
      return write_table(used, tail_words);
    }
    copy_ = capnp::messageToFlatArray(segments);
    return copy_.asPtr();
  }
  // Records how many tail bytes the message references (external(tail(), n)).
  void set_tail_used(std::size_t n) noexcept { tail_bytes_used_ = n; }

  // Whether flat()'s result lies in the first buffer, with the room in front of it.
  bool in_place() const noexcept { return in_place_; }
  // Gives up the first buffer (room, table, segments), to be released with
  // std::free; only flat()'s result may be used afterwards, as long as the buffer.
  void* release() noexcept {
    void* p = first_ ? static_cast<void*>(first_ - kTableWords - room_words_) : nullptr;
    if (p) segments_.erase(std::find(segments_.begin(), segments_.end(), p));
    first_ = tail_ = nullptr;
    return p;
  }

 private:
  static constexpr std::size_t kMinSegmentWords = 1024;
  static constexpr std::size_t kMaxSegmentWords = (std::size_t{1} << 29) - 1;  // Cap'n Proto's limit
  static constexpr std::size_t kTableWords = 2;  // a table of up to three segments

  static std::size_t words_for(std::size_t bytes) { return (bytes + sizeof(capnp::word) - 1) / sizeof(capnp::word); }

  // Writes the segment table of [first segment: `first` words][tail: `second`
  // words, if nonzero] right before the first segment; returns the flat array.
  kj::ArrayPtr<const capnp::word> write_table(std::size_t first, std::size_t second) {
    const std::size_t table_words = second ? 2 : 1;
    unsigned char* table = reinterpret_cast<unsigned char*>(first_ - table_words);
    auto put32 = [&](std::size_t at, std::uint64_t v) {
      for (int i = 0; i < 4; ++i) table[at + i] = static_cast<unsigned char>(v >> (8 * i));
    };
    // u32 (segment count - 1), then u32 sizes, padded to a word; little-endian.
    put32(0, second ? 1 : 0);
    put32(4, first);
    if (second) {
      put32(8, second);
      put32(12, 0);
    }
    in_place_ = true;
    return kj::arrayPtr(static_cast<const capnp::word*>(first_ - table_words), table_words + first + second);
  }

  // Zeroed words, owned by this builder; null if the system has not that much.
  capnp::word* allocate(std::size_t words) {
    segments_.reserve(segments_.size() + 1);
    void* p = std::calloc(words, sizeof(capnp::word));
    if (p) segments_.push_back(p);
    return static_cast<capnp::word*>(p);
  }

  std::size_t first_words_;
  std::size_t tail_words_;
  std::size_t room_words_;
  std::size_t allocated_words_ = 0;
  std::size_t tail_bytes_used_ = 0;
  capnp::word* first_ = nullptr;
  capnp::word* tail_ = nullptr;
  bool in_place_ = false;
  std::vector<void*> segments_;
  kj::Array<capnp::word> copy_;
};

// The streambuf freeze's field archive writes to: a fixed region (the message
// builder's tail) while it lasts, then a std::string holding everything written.
class RegionSink final : public std::streambuf {
 public:
  void reset(char* begin, std::size_t bytes) noexcept {
    begin_ = cur_ = begin;
    end_ = begin + bytes;
  }
  std::size_t size() const noexcept { return spilled_ ? spill_.size() : static_cast<std::size_t>(cur_ - begin_); }
  bool spilled() const noexcept { return spilled_; }
  const char* data() const noexcept { return spilled_ ? spill_.data() : begin_; }

 protected:
  // Boost's binary archive writes each primitive with its own sputn: most writes
  // are 1, 2, 4 or 8 bytes, copied here with fixed-size moves instead of a call
  // to memcpy (about a quarter of the field archive's cost in freeze).
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    const auto len = static_cast<std::size_t>(n);
    if (!spilled_ && len <= static_cast<std::size_t>(end_ - cur_)) [[likely]] {
      switch (len) {
        case 8: std::memcpy(cur_, s, 8); break;
        case 4: std::memcpy(cur_, s, 4); break;
        case 2: std::memcpy(cur_, s, 2); break;
        case 1: *cur_ = *s; break;
        case 0: break;
        default: std::memcpy(cur_, s, len); break;
      }
      cur_ += len;
      return n;
    }
    return spill_write(s, n);
  }
  int_type overflow(int_type c) override {
    if (c != traits_type::eof()) {
      const char ch = static_cast<char>(c);
      xsputn(&ch, 1);
    }
    return traits_type::not_eof(c);
  }

 private:
  // The rare path, out of line so that the common one saves no registers.
  [[gnu::noinline]] std::streamsize spill_write(const char* s, std::streamsize n) {
    spill();
    spill_.append(s, static_cast<std::size_t>(n));
    return n;
  }
  void spill() {
    if (spilled_) return;
    spill_.reserve(2 * static_cast<std::size_t>(end_ - begin_) + 4096);
    spill_.assign(begin_, cur_);
    spilled_ = true;
  }

  char* begin_ = nullptr;
  char* cur_ = nullptr;
  char* end_ = nullptr;
  bool spilled_ = false;
  std::string spill_;
};

}  // namespace stasis::persist

#endif  // STASIS_PERSIST_SRC_FLAT_MESSAGE_BUILDER_H_
