// stasis/persist/archive.h — the Boost.Serialization archives frame fields travel in.
//
// OArchive is Boost's binary_oarchive, appending to a std::string. IArchive is a
// binary input archive over a byte range that treats its input as hostile: every
// collection count and string length it reads is checked against the bytes left
// before anything is allocated, so a count claiming 2^40 elements fails with
// SnapshotCorrupt instead of allocating. Both run without headers and without
// object tracking: frames never share objects through the archive (channels are
// written as snapshot indices, not through Boost pointers).
//
// Binary archives store integers natively: a snapshot loads only where endianness
// and integer sizes match its producer (checked from the snapshot's Producer).
#ifndef STASIS_PERSIST_ARCHIVE_H_
#define STASIS_PERSIST_ARCHIVE_H_

#include <cstddef>
#include <cstring>
#include <streambuf>
#include <string>
#include <string_view>
#include <type_traits>

#include <boost/archive/binary_iarchive_impl.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <boost/archive/detail/register_archive.hpp>
#include <boost/serialization/array_wrapper.hpp>
#include <boost/serialization/collection_size_type.hpp>
#include <boost/serialization/item_version_type.hpp>

namespace stasis::persist {

// A streambuf that appends everything written to a std::string.
class StringSink : public std::streambuf {
 public:
  explicit StringSink(std::string& out) : out_(out) {}

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    out_.append(s, static_cast<std::size_t>(n));
    return n;
  }
  int_type overflow(int_type c) override {
    if (c != traits_type::eof()) out_.push_back(static_cast<char>(c));
    return traits_type::not_eof(c);
  }

 private:
  std::string& out_;
};

// A read-only streambuf over a byte range that the caller keeps alive.
class SpanSource : public std::streambuf {
 public:
  explicit SpanSource(std::string_view bytes) {
    char* p = const_cast<char*>(bytes.data());
    setg(p, p, p + bytes.size());
  }
  // Bytes consumed so far / left.
  std::size_t consumed() const noexcept { return static_cast<std::size_t>(gptr() - eback()); }
  std::size_t remaining() const noexcept { return static_cast<std::size_t>(egptr() - gptr()); }
  // Copies the next n bytes to dst and consumes them; false (nothing consumed) if
  // fewer than n are left. The input archive's fast path: no virtual call.
  bool take(void* dst, std::size_t n) noexcept {
    if (n > remaining()) return false;
    if (n > 0) std::memcpy(dst, gptr(), n);
    setg(eback(), gptr() + n, egptr());
    return true;
  }
};

// Every SnapshotCorrupt the input archive throws starts with this; the thawer adds
// the source name and the record being read.
inline constexpr std::string_view kArchiveErrorPrefix = "field archive: ";

inline constexpr unsigned kArchiveFlags =
    boost::archive::no_header | boost::archive::no_codecvt | boost::archive::no_tracking;

class OArchive : public boost::archive::binary_oarchive {
 public:
  explicit OArchive(std::streambuf& sink) : boost::archive::binary_oarchive(sink, kArchiveFlags) {}
};

class IArchive : public boost::archive::binary_iarchive_impl<IArchive, char, std::char_traits<char>> {
  using Base = boost::archive::binary_iarchive_impl<IArchive, char, std::char_traits<char>>;

 public:
  // `source` must outlive the archive.
  explicit IArchive(SpanSource& source) : Base(source, kArchiveFlags), source_(source) {}

  std::size_t remaining() const noexcept { return source_.remaining(); }
  std::size_t consumed() const noexcept { return source_.consumed(); }

  // Boost's dispatch calls these on the most derived archive.
  template <class T>
  void load_override(T& t) {
    Base::load_override(t);
  }
  // A collection of n elements needs at least n bytes (empty element types aside,
  // which Boost writes as nothing: their count is bounded by the same rule to keep
  // the work linear in the input).
  void load_override(boost::serialization::collection_size_type& t);
  // Arithmetic values and arrays of them are read straight from the source
  // (SpanSource::take) instead of through std::streambuf::sgetn: the same bytes,
  // the same archive_exception when the input ends early.
  template <class T>
  void load(T& t) {
    if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
      read(&t, sizeof(T));
    } else {
      Base::load(t);
    }
  }
  template <class T>
  void load_array(boost::serialization::array_wrapper<T>& a, unsigned int version) {
    if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
      read(a.address(), a.count() * sizeof(T));
    } else {
      Base::load_array(a, version);
    }
  }
  void load(std::string& s);
  void load(std::wstring& s);
  // A bool is one byte holding 0 or 1; any other byte is SnapshotCorrupt (Boost's
  // own load would assert, or hand out an invalid bool).
  void load(bool& b);

 private:
  friend class boost::archive::detail::interface_iarchive<IArchive>;
  friend class boost::archive::basic_binary_iarchive<IArchive>;
  friend class boost::archive::basic_binary_iprimitive<IArchive, char, std::char_traits<char>>;
  friend class boost::archive::load_access;

  [[noreturn]] void too_many(const char* what, unsigned long long n) const;
  // Reads exactly n bytes or throws archive_exception(input_stream_error), as
  // Boost's load_binary does.
  void read(void* dst, std::size_t n) {
    if (!source_.take(dst, n)) ended_early();
  }
  [[noreturn]] static void ended_early();

  SpanSource& source_;
};

}  // namespace stasis::persist

BOOST_SERIALIZATION_REGISTER_ARCHIVE(stasis::persist::IArchive)
BOOST_SERIALIZATION_USE_ARRAY_OPTIMIZATION(stasis::persist::IArchive)

#endif  // STASIS_PERSIST_ARCHIVE_H_
