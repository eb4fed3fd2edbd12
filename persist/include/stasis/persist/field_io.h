// stasis/persist/field_io.h — writing, reading and describing one frame field.
//
// A frame's fields go to the snapshot twice: into the Boost.Serialization archive
// (what thaw reads back) and into a description a reader without the program can
// show (numbers, strings, channel references; other types as text). Channel
// references are written as indices into the snapshot's channel list, so two frames
// sharing a channel still share it after thaw, and cycles need no special care.
//
// Field kinds:
//   - Channel<T>* (and std::array / std::vector of them): a channel reference;
//   - any other raw pointer: refused at compile time (it cannot be persisted);
//   - everything else: `ar & field` — Boost.Serialization, so standard containers,
//     types with serialize(), and types with STASIS_FIELDS all work.
// In a hand-written serialize(ar, version), write channel references with
// stasis::persist_channel(ar, ptr).
#ifndef STASIS_PERSIST_FIELD_IO_H_
#define STASIS_PERSIST_FIELD_IO_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "stasis/channel.h"
#include "stasis/persist/archive.h"
#include "stasis/persist/value_codec.h"

namespace stasis::persist {

inline constexpr std::uint32_t kNullChannel = 0xFFFFFFFFu;

// The freezer's side of one frame being written. Implemented by the freezer.
class FrameWriter {
 public:
  virtual OArchive& archive() noexcept = 0;
  // The snapshot index of `ch` (kNullChannel for null), adding the channel to the
  // snapshot on first sight. FreezeError if its element type disagrees with codec.
  virtual std::uint32_t channel_ref(const ChannelBase* ch, const ValueCodec& codec) = 0;
  // The description of the next field.
  virtual void describe_int(std::int64_t v) = 0;
  virtual void describe_uint(std::uint64_t v) = 0;
  virtual void describe_float(double v) = 0;
  virtual void describe_bool(bool v) = 0;
  virtual void describe_text(std::string_view v) = 0;
  virtual void describe_channel(std::uint32_t index) = 0;  // kNullChannel: null
  virtual void describe_other(std::string_view text) = 0;
  // Text naming a channel reference in descriptions: "#12".
  virtual std::string channel_label(std::uint32_t index) const = 0;

 protected:
  ~FrameWriter() = default;
};

// The thawer's side of one frame being read. Implemented by the thawer.
class FrameReader {
 public:
  virtual IArchive& archive() noexcept = 0;
  // The restored channel with snapshot index `index` (null for kNullChannel).
  // SnapshotIncompatible if its element type is not the codec's.
  virtual ChannelBase* channel(std::uint32_t index, const ValueCodec& codec) = 0;

 protected:
  ~FrameReader() = default;
};

namespace detail {
// The writer/reader of the frame being saved/loaded on this thread (for
// persist_channel inside hand-written serialize functions).
inline thread_local FrameWriter* tls_frame_writer = nullptr;
inline thread_local FrameReader* tls_frame_reader = nullptr;

template <class T> struct IsChannelPtr : std::false_type {};
template <class T> struct IsChannelPtr<Channel<T>*> : std::true_type { using Value = T; };

template <class T> struct ChannelContainer : std::false_type {};
template <class T, std::size_t N> struct ChannelContainer<std::array<Channel<T>*, N>> : std::true_type {
  using Value = T;
};
template <class T> struct ChannelContainer<std::vector<Channel<T>*>> : std::true_type { using Value = T; };
template <class T> inline constexpr bool kIsStdArray = false;
template <class T, std::size_t N> inline constexpr bool kIsStdArray<std::array<T, N>> = true;

[[noreturn]] void throw_no_frame_context(const char* what);

template <class T> inline constexpr bool kIsStdVector = false;
template <class T> inline constexpr bool kIsStdVector<std::vector<T>> = true;

// Arithmetic types with a built-in value type name whose Boost binary encoding is
// the value's bytes (char, whose signedness differs between platforms, is left out).
template <class T>
inline constexpr bool kArchiveScalar =
    std::is_same_v<T, bool> || std::is_same_v<T, std::int8_t> || std::is_same_v<T, std::uint8_t> ||
    std::is_same_v<T, std::int16_t> || std::is_same_v<T, std::uint16_t> || std::is_same_v<T, std::int32_t> ||
    std::is_same_v<T, std::uint32_t> || std::is_same_v<T, std::int64_t> || std::is_same_v<T, std::uint64_t> ||
    std::is_same_v<T, float> || std::is_same_v<T, double>;

template <class F>
constexpr bool archive_decodable() {
  if constexpr (kArchiveScalar<F> || std::is_same_v<F, std::string> || IsChannelPtr<F>::value ||
                ChannelContainer<F>::value) {
    return true;
  } else if constexpr (kIsStdVector<F>) {
    // Boost writes a vector of arithmetic elements as a count and the elements'
    // bytes; vector<bool> and vectors of class types carry more (class information
    // the first time a type appears in an archive), which depends on the archive's
    // history: those are not decodable field by field.
    using E = typename F::value_type;
    return kArchiveScalar<E> && !std::is_same_v<E, bool>;
  } else {
    return false;
  }
}
}  // namespace detail

// Whether a reader without the program (stasis-dump) can decode a field of type F
// from its archive bytes alone, knowing only its recorded type name
// (field_type_name<F>()): the built-in scalars (bool, i8 ... u64, f32, f64),
// std::string, channel references and std::vector / std::array of them, and
// std::vector of the built-in scalars other than bool. Frames whose fields are
// all decodable carry no field values in the snapshot; the dumper decodes them.
template <class F>
inline constexpr bool kArchiveDecodable = detail::archive_decodable<F>();

// The stable type name of a field type, as frame type descriptions record it.
template <class F>
std::string field_type_name() {
  if constexpr (detail::IsChannelPtr<F>::value) {
    return "channel<" + value_type_name<typename detail::IsChannelPtr<F>::Value>() + ">";
  } else if constexpr (detail::ChannelContainer<F>::value) {
    std::string inner = "channel<" + value_type_name<typename detail::ChannelContainer<F>::Value>() + ">";
    if constexpr (detail::kIsStdArray<F>) {
      return "array<" + inner + "," + std::to_string(std::tuple_size_v<F>) + ">";
    } else {
      return "vector<" + inner + ">";
    }
  } else {
    return value_type_name<F>();
  }
}

// Writes / reads a channel reference (for hand-written serialize functions).
template <class Archive, class T>
void persist_channel(Archive& ar, Channel<T>*& ch) {
  if constexpr (Archive::is_saving::value) {
    FrameWriter* w = detail::tls_frame_writer;
    if (!w) detail::throw_no_frame_context("persist_channel (save)");
    std::uint32_t index = w->channel_ref(ch, value_codec<T>());
    ar << index;
  } else {
    FrameReader* r = detail::tls_frame_reader;
    if (!r) detail::throw_no_frame_context("persist_channel (load)");
    std::uint32_t index = 0;
    ar >> index;
    ch = static_cast<Channel<T>*>(r->channel(index, value_codec<T>()));
  }
}

template <class F>
void describe_field(FrameWriter& w, const F& field);

// Writes one field to the archive and, with Describe, describes it; without, the
// field must be kArchiveDecodable (the dumper reads it from the archive).
template <bool Describe, class F>
void write_field(FrameWriter& w, const F& field) {
  static_assert(!std::is_pointer_v<F> || detail::IsChannelPtr<F>::value,
                "a frame field is a raw pointer: only Channel<T>* fields can be persisted; "
                "keep other pointers out of STASIS_FIELDS or store an index/value instead");
  static_assert(Describe || kArchiveDecodable<F>);
  if constexpr (detail::IsChannelPtr<F>::value) {
    std::uint32_t index = w.channel_ref(field, value_codec<typename detail::IsChannelPtr<F>::Value>());
    w.archive() << index;
    if constexpr (Describe) w.describe_channel(index);
  } else if constexpr (detail::ChannelContainer<F>::value) {
    using T = typename detail::ChannelContainer<F>::Value;
    std::string text = "[";
    if constexpr (!detail::kIsStdArray<F>) {
      boost::serialization::collection_size_type n(field.size());
      w.archive() << n;
    }
    for (Channel<T>* ch : field) {
      std::uint32_t index = w.channel_ref(ch, value_codec<T>());
      w.archive() << index;
      if constexpr (Describe) {
        if (text.size() > 1) text += ", ";
        text += w.channel_label(index);
      }
    }
    if constexpr (Describe) w.describe_other(text + "]");
  } else {
    w.archive() << field;
    if constexpr (Describe) describe_field(w, field);
  }
}

// Writes one field to the archive and describes it.
template <class F>
void save_field(FrameWriter& w, const F& field) {
  write_field<true>(w, field);
}

// Writes one field to the archive without describing it (frames whose fields are
// all kArchiveDecodable: the dumper reads them from the archive).
template <class F>
void save_field_only(FrameWriter& w, const F& field) {
  write_field<false>(w, field);
}

// Describes one field without writing it (frames with their own serialize()).
template <class F>
void describe_field(FrameWriter& w, const F& field) {
  if constexpr (std::is_same_v<F, bool>) {
    w.describe_bool(field);
  } else if constexpr (std::is_integral_v<F> && std::is_signed_v<F>) {
    w.describe_int(field);
  } else if constexpr (std::is_integral_v<F>) {
    w.describe_uint(field);
  } else if constexpr (std::is_enum_v<F>) {
    w.describe_int(static_cast<std::int64_t>(field));
  } else if constexpr (std::is_floating_point_v<F>) {
    w.describe_float(static_cast<double>(field));
  } else if constexpr (std::is_same_v<F, std::string>) {
    w.describe_text(field);
  } else if constexpr (detail::IsChannelPtr<F>::value) {
    w.describe_channel(w.channel_ref(field, value_codec<typename detail::IsChannelPtr<F>::Value>()));
  } else if constexpr (detail::ChannelContainer<F>::value) {
    std::string text = "[";
    for (auto* ch : field) {
      if (text.size() > 1) text += ", ";
      text += w.channel_label(w.channel_ref(ch, value_codec<typename detail::ChannelContainer<F>::Value>()));
    }
    w.describe_other(text + "]");
  } else {
    w.describe_other(detail::value_text(field));
  }
}

// Reads one field written by save_field from `ar` (r.archive()).
template <class F>
void load_field(FrameReader& r, IArchive& ar, F& field) {
  if constexpr (detail::IsChannelPtr<F>::value) {
    using T = typename detail::IsChannelPtr<F>::Value;
    std::uint32_t index = 0;
    ar >> index;
    field = static_cast<Channel<T>*>(r.channel(index, value_codec<T>()));
  } else if constexpr (detail::ChannelContainer<F>::value) {
    using T = typename detail::ChannelContainer<F>::Value;
    if constexpr (!detail::kIsStdArray<F>) {
      boost::serialization::collection_size_type n;
      ar >> n;
      field.resize(n);
    }
    for (Channel<T>*& ch : field) {
      std::uint32_t index = 0;
      ar >> index;
      ch = static_cast<Channel<T>*>(r.channel(index, value_codec<T>()));
    }
  } else {
    ar >> field;
  }
}

// Reads one field written by save_field.
template <class F>
void load_field(FrameReader& r, F& field) {
  load_field(r, r.archive(), field);
}

}  // namespace stasis::persist

#endif  // STASIS_PERSIST_FIELD_IO_H_
