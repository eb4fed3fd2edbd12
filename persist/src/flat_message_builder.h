// flat_message_builder.h — a Cap'n Proto message builder whose finished message is
// already in flat-array form when it fits its first segment (freeze sizes that
// segment from an estimate), saving the copy of the whole snapshot.
#ifndef STASIS_PERSIST_SRC_FLAT_MESSAGE_BUILDER_H_
#define STASIS_PERSIST_SRC_FLAT_MESSAGE_BUILDER_H_

#include <capnp/message.h>

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <vector>

#include <kj/array.h>

namespace stasis::persist {

// A message builder whose first segment has one spare word in front of it. When
// the whole message fits in that segment (freeze sizes it from an estimate), the
// spare word takes the segment table and the message's flat-array form is the
// buffer itself: no messageToFlatArray copy of the whole snapshot. Otherwise
// further segments are allocated as MallocMessageBuilder would (each at least as
// large as all before it) and flat() makes the copy. Segments come from calloc:
// large ones are fresh, already-zero pages that cost nothing until written.
class FlatMessageBuilder final : public capnp::MessageBuilder {
 public:
  explicit FlatMessageBuilder(std::size_t first_segment_words)
      : first_words_(std::clamp<std::size_t>(first_segment_words, kMinSegmentWords, kMaxSegmentWords)) {}
  ~FlatMessageBuilder() noexcept(false) override {
    for (void* p : segments_) std::free(p);
  }

  kj::ArrayPtr<capnp::word> allocateSegment(unsigned minimum_words) override {
    if (segments_.empty() && minimum_words <= first_words_) {
      // If the system refuses that much address space, grow as usual instead.
      if (capnp::word* p = allocate(first_words_ + 1)) {
        first_ = p + 1;
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

  // The message as a flat array (segment table, then the segments), valid while
  // this builder lives.
  kj::ArrayPtr<const capnp::word> flat() {
    kj::ArrayPtr<const kj::ArrayPtr<const capnp::word>> segments = getSegmentsForOutput();
    if (segments.size() == 1 && segments[0].begin() == first_) {
      // Segment table of a one-segment message: u32 (count - 1) = 0, u32 size; little-endian.
      const std::uint64_t size = segments[0].size();
      unsigned char* table = reinterpret_cast<unsigned char*>(first_ - 1);
      for (int i = 0; i < 4; ++i) table[i] = 0;
      for (int i = 0; i < 4; ++i) table[4 + i] = static_cast<unsigned char>(size >> (8 * i));
      return kj::arrayPtr(static_cast<const capnp::word*>(first_ - 1), size + 1);
    }
    copy_ = capnp::messageToFlatArray(segments);
    return copy_.asPtr();
  }

 private:
  static constexpr std::size_t kMinSegmentWords = 1024;
  static constexpr std::size_t kMaxSegmentWords = (std::size_t{1} << 29) - 1;  // Cap'n Proto's limit

  // Zeroed words, owned by this builder; null if the system has not that much.
  capnp::word* allocate(std::size_t words) {
    segments_.reserve(segments_.size() + 1);
    void* p = std::calloc(words, sizeof(capnp::word));
    if (p) segments_.push_back(p);
    return static_cast<capnp::word*>(p);
  }

  std::size_t first_words_;
  std::size_t allocated_words_ = 0;
  capnp::word* first_ = nullptr;
  std::vector<void*> segments_;
  kj::Array<capnp::word> copy_;
};

}  // namespace stasis::persist

#endif  // STASIS_PERSIST_SRC_FLAT_MESSAGE_BUILDER_H_
