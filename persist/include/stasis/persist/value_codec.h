// stasis/persist/value_codec.h — how values of one C++ type travel in snapshots.
//
// Channel<T> buffers and tasklet slots (a value received, or waiting to be sent)
// hold values whose type only templates know. A ValueCodec captures, per T, how to
// write, read, render and hold such values, and how to make a Channel<T>. Codecs are
// registered under a stable name:
//   - built-in names for arithmetic types ("i64", "f64", "bool", ...), "string",
//     and "vector<NAME>" / "pair<A,B>" of registered types;
//   - STASIS_PERSISTENT_VALUE(Type, "lib.Name") for a type of yours;
//   - otherwise the demangled C++ name (stable across GCC/Clang on one ABI, but
//     give types that travel between programs an explicit name).
// The element type of every Channel<T>* field of a persistent frame is registered
// automatically when the frame type is (STASIS_PERSISTENT_FRAME).
//
// Types with STASIS_FIELDS are serializable by their field list (below), so a
// message struct needs no serialize() of its own.
//
// Invariants: one name maps to one type and one type to one name; a codec, once
// registered, lives for the whole process.
#ifndef STASIS_PERSIST_VALUE_CODEC_H_
#define STASIS_PERSIST_VALUE_CODEC_H_

#include <any>
#include <array>
#include <cstdint>
#include <iterator>
#include <string>
#include <type_traits>
#include <typeindex>
#include <typeinfo>
#include <utility>
#include <vector>

#include <boost/serialization/array.hpp>
#include <boost/serialization/deque.hpp>
#include <boost/serialization/map.hpp>
#include <boost/serialization/optional.hpp>
#include <boost/serialization/set.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/utility.hpp>
#include <boost/serialization/vector.hpp>

#include "stasis/channel.h"
#include "stasis/fields.h"
#include "stasis/persist/access.h"
#include "stasis/persist/archive.h"

// Types declaring STASIS_FIELDS serialize as their fields, in list order.
namespace boost::serialization {
template <class Archive, class T>
  requires stasis::HasFields<T>
void serialize(Archive& ar, T& value, const unsigned int /*version*/) {
  value.stasis_visit_fields([&](std::string_view, auto& field) { ar & field; });
}
}  // namespace boost::serialization

namespace stasis::persist {

struct ValueCodec {
  std::string name;
  const std::type_info* type = nullptr;
  void (*save)(OArchive&, const std::any&) = nullptr;
  void (*load)(IArchive&, std::any&) = nullptr;
  std::string (*text)(const std::any&) = nullptr;
  ChannelBase* (*make_channel)(ChannelOptions) = nullptr;
  // The i-th buffered value of a Channel<T>: write it / render it.
  void (*save_buffered)(OArchive&, const ChannelBase&, std::size_t i) = nullptr;
  std::string (*text_buffered)(const ChannelBase&, std::size_t i) = nullptr;
  // Reads one value and appends it to a Channel<T>'s buffer.
  void (*load_buffered)(IArchive&, ChannelBase&) = nullptr;
};

class ValueCodecs {
 public:
  static ValueCodecs& instance();

  // Registers `codec`; returns the registered one for its type (the first wins:
  // a later registration with another name is recorded as a conflict).
  const ValueCodec& add(ValueCodec codec);
  // Renames the codec of `type` (STASIS_PERSISTENT_VALUE); false on a conflict.
  bool rename(const std::type_info& type, const std::string& name);
  const ValueCodec* find(const std::type_info& type) const noexcept;
  const ValueCodec* find(const std::string& name) const noexcept;
  // Throws RegistryError describing recorded conflicts, if any.
  void check() const;

 private:
  ValueCodecs();
  struct Impl;
  Impl* impl_;
};

std::string demangle(const char* mangled);

// The stable name of T (see the file comment).
template <class T>
std::string value_type_name();

namespace detail {
template <class T> struct BuiltinName { static const char* get() { return nullptr; } };
#define STASIS_BUILTIN_VALUE_NAME_(T, n) \
  template <> struct BuiltinName<T> { static const char* get() { return n; } };
STASIS_BUILTIN_VALUE_NAME_(bool, "bool")
STASIS_BUILTIN_VALUE_NAME_(char, "char")
STASIS_BUILTIN_VALUE_NAME_(std::int8_t, "i8")
STASIS_BUILTIN_VALUE_NAME_(std::uint8_t, "u8")
STASIS_BUILTIN_VALUE_NAME_(std::int16_t, "i16")
STASIS_BUILTIN_VALUE_NAME_(std::uint16_t, "u16")
STASIS_BUILTIN_VALUE_NAME_(std::int32_t, "i32")
STASIS_BUILTIN_VALUE_NAME_(std::uint32_t, "u32")
STASIS_BUILTIN_VALUE_NAME_(std::int64_t, "i64")
STASIS_BUILTIN_VALUE_NAME_(std::uint64_t, "u64")
STASIS_BUILTIN_VALUE_NAME_(float, "f32")
STASIS_BUILTIN_VALUE_NAME_(double, "f64")
STASIS_BUILTIN_VALUE_NAME_(std::string, "string")
#undef STASIS_BUILTIN_VALUE_NAME_

template <class T> struct CompositeName { static std::string get() { return {}; } };
template <class T> struct CompositeName<std::vector<T>> {
  static std::string get() { return "vector<" + value_type_name<T>() + ">"; }
};
template <class A, class B> struct CompositeName<std::pair<A, B>> {
  static std::string get() { return "pair<" + value_type_name<A>() + "," + value_type_name<B>() + ">"; }
};
template <class T, std::size_t N> struct CompositeName<std::array<T, N>> {
  static std::string get() { return "array<" + value_type_name<T>() + "," + std::to_string(N) + ">"; }
};

template <class T>
concept TextRange = requires(const T& r) {
  r.begin();
  r.end();
} && !std::is_same_v<T, std::string>;

inline constexpr std::size_t kTextRangeItems = 16;  // longer ranges end in "... (N items)"

// Renders a value for readers without the program: numbers in decimal, strings
// quoted, ranges as [a, b, ...], STASIS_FIELDS structs as {name: value, ...}, other
// streamable types through operator<<, anything else as its C++ type name.
template <class T>
std::string value_text(const T& v) {
  if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool> && !std::is_same_v<T, char>) {
    return std::to_string(v);
  } else if constexpr (TextRange<T>) {
    std::string out = "[";
    std::size_t n = 0;
    for (const auto& item : v) {
      if (n == kTextRangeItems) {
        out += ", ...";
        break;
      }
      if (n++) out += ", ";
      out += value_text(item);
    }
    std::size_t total = static_cast<std::size_t>(std::distance(v.begin(), v.end()));
    return out + "]" + (total > kTextRangeItems ? " (" + std::to_string(total) + " items)" : "");
  } else if constexpr (HasFields<T> && !Printable<T>) {
    std::string out = "{";
    v.stasis_visit_fields([&](std::string_view name, const auto& field) {
      if (out.size() > 1) out += ", ";
      out += std::string(name) + ": " + value_text(field);
    });
    return out + "}";
  } else if constexpr (Printable<T> || std::is_pointer_v<T> || std::is_same_v<T, bool> || std::is_same_v<T, std::string>) {
    return field_text(v);
  } else {
    return "<" + demangle(typeid(T).name()) + ">";
  }
}

template <class T>
struct CodecFor {
  static void save(OArchive& ar, const std::any& v) { ar << *std::any_cast<T>(&v); }
  static void load(IArchive& ar, std::any& v) {
    T value{};
    ar >> value;
    v.emplace<T>(std::move(value));
  }
  static std::string text(const std::any& v) { return value_text(*std::any_cast<T>(&v)); }
  static ChannelBase* make_channel(ChannelOptions options) { return new Channel<T>(std::move(options)); }
  static const std::deque<T>& buffer(const ChannelBase& ch) { return static_cast<const Channel<T>&>(ch).buffer(); }
  static void save_buffered(OArchive& ar, const ChannelBase& ch, std::size_t i) { ar << buffer(ch)[i]; }
  static std::string text_buffered(const ChannelBase& ch, std::size_t i) { return value_text(buffer(ch)[i]); }
  static void load_buffered(IArchive& ar, ChannelBase& ch);
};

template <class T>
void CodecFor<T>::load_buffered(IArchive& ar, ChannelBase& ch) {
  T value{};
  ar >> value;
  ::stasis::detail::PersistAccess::buffer(static_cast<Channel<T>&>(ch)).push_back(std::move(value));
}

}  // namespace detail

template <class T>
std::string value_type_name() {
  if (const char* n = detail::BuiltinName<T>::get()) return n;
  std::string composite = detail::CompositeName<T>::get();
  if (!composite.empty()) return composite;
  if (const ValueCodec* c = ValueCodecs::instance().find(typeid(T))) return c->name;
  return demangle(typeid(T).name());
}

// The codec of T, registered on first use.
template <class T>
const ValueCodec& value_codec() {
  static const ValueCodec& codec = ValueCodecs::instance().add(ValueCodec{
      value_type_name<T>(), &typeid(T), &detail::CodecFor<T>::save, &detail::CodecFor<T>::load,
      &detail::CodecFor<T>::text, &detail::CodecFor<T>::make_channel, &detail::CodecFor<T>::save_buffered,
      &detail::CodecFor<T>::text_buffered, &detail::CodecFor<T>::load_buffered});
  return codec;
}

template <class T>
bool register_value_type(const char* name) {
  value_codec<T>();
  return ValueCodecs::instance().rename(typeid(T), name);
}

}  // namespace stasis::persist

// Registers T as a value type that travels in snapshots under a stable name.
#define STASIS_PERSISTENT_VALUE(Type, name)                                                \
  [[maybe_unused]] static const bool STASIS_PP_CAT(stasis_persistent_value_, __COUNTER__) = \
      ::stasis::persist::register_value_type<Type>(name)

#endif  // STASIS_PERSIST_VALUE_CODEC_H_
