// raw_column.h — reading a primitive Cap'n Proto list as a plain array.
//
// A List(UInt32) element read through Cap'n Proto's accessor computes its address
// from the list's bit stride and goes through the wire-value wrapper: about ten
// instructions that a validator walking a million-entry column (format 3's tasklet
// table) pays per value. RawColumn checks once that the list is laid out as plain
// little-endian values of T (not, say, a struct list that Cap'n Proto would also
// let a reader see as a List(UInt32)) and then reads element i with one load.
// Invariant: a RawColumn exists only for a list whose bytes hold exactly size()
// values of sizeof(T) (of 1 bit for bool); operator[] requires i < size().
#ifndef STASIS_PERSIST_SRC_RAW_COLUMN_H_
#define STASIS_PERSIST_SRC_RAW_COLUMN_H_

#include <capnp/any.h>
#include <capnp/list.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <optional>
#include <type_traits>

namespace stasis::persist {

// T: an integer type, or a Cap'n Proto enum (read as its 16-bit value), or bool.
template <class T>
class RawColumn {
  using Stored = std::conditional_t<std::is_enum_v<T>, std::uint16_t, T>;

 public:
  // The column, or nullopt if `list` is not a plain list of T.
  template <class ListReader>
  static std::optional<RawColumn> of(ListReader list) {
    capnp::AnyList::Reader any(list);
    const kj::ArrayPtr<const capnp::byte> bytes = any.getRawBytes();
    const std::uint32_t n = any.size();
    if constexpr (std::is_same_v<T, bool>) {
      if (any.getElementSize() != capnp::ElementSize::BIT || bytes.size() != (std::uint64_t{n} + 7) / 8) return std::nullopt;
    } else {
      if (any.getElementSize() != element_size() || bytes.size() != std::uint64_t{n} * sizeof(Stored)) return std::nullopt;
    }
    return RawColumn(bytes.begin(), n);
  }

  std::uint32_t size() const noexcept { return size_; }

  [[gnu::always_inline]] T operator[](std::uint32_t i) const noexcept {
    if constexpr (std::is_same_v<T, bool>) {
      return (data_[i >> 3] >> (i & 7)) & 1;
    } else {
      Stored v;
      std::memcpy(&v, data_ + std::size_t{i} * sizeof(Stored), sizeof(Stored));
      if constexpr (std::endian::native == std::endian::big && sizeof(Stored) > 1) v = byteswap(v);
      return static_cast<T>(v);
    }
  }

 private:
  RawColumn(const capnp::byte* data, std::uint32_t size) : data_(data), size_(size) {}

  static constexpr capnp::ElementSize element_size() {
    switch (sizeof(Stored)) {
      case 1: return capnp::ElementSize::BYTE;
      case 2: return capnp::ElementSize::TWO_BYTES;
      case 4: return capnp::ElementSize::FOUR_BYTES;
      default: return capnp::ElementSize::EIGHT_BYTES;
    }
  }

  static Stored byteswap(Stored v) {
    using U = std::make_unsigned_t<Stored>;
    U u = static_cast<U>(v);
    if constexpr (sizeof(U) == 2) u = __builtin_bswap16(u);
    if constexpr (sizeof(U) == 4) u = __builtin_bswap32(u);
    if constexpr (sizeof(U) == 8) u = __builtin_bswap64(u);
    return static_cast<Stored>(u);
  }

  const capnp::byte* data_;
  std::uint32_t size_;
};

}  // namespace stasis::persist

#endif  // STASIS_PERSIST_SRC_RAW_COLUMN_H_
