// archive.cc — the bounded input archive and the instantiation of Boost's archive
// templates for it (an archive type of our own needs them, as Boost's own do).
#include "stasis/persist/archive.h"

#include <boost/archive/impl/archive_serializer_map.ipp>
#include <boost/archive/impl/basic_binary_iarchive.ipp>
#include <boost/archive/impl/basic_binary_iprimitive.ipp>

#include "stasis/persist/errors.h"

namespace boost::archive {
template class detail::archive_serializer_map<stasis::persist::IArchive>;
template class basic_binary_iprimitive<stasis::persist::IArchive, char, std::char_traits<char>>;
template class basic_binary_iarchive<stasis::persist::IArchive>;
template class binary_iarchive_impl<stasis::persist::IArchive, char, std::char_traits<char>>;
}  // namespace boost::archive

namespace stasis::persist {

void IArchive::too_many(const char* what, unsigned long long n) const {
  throw SnapshotCorrupt(std::string(kArchiveErrorPrefix) + "a " + std::string(what) + " of " + std::to_string(n) +
                        " claims more than the " + std::to_string(remaining()) +
                        " bytes left in the archive");
}

void IArchive::ended_early() {
  boost::serialization::throw_exception(
      boost::archive::archive_exception(boost::archive::archive_exception::input_stream_error));
}

void IArchive::load_override(boost::serialization::collection_size_type& t) {
  Base::load_override(t);
  if (static_cast<std::size_t>(t) > remaining()) too_many("collection count", static_cast<std::size_t>(t));
}

void IArchive::load(std::string& s) {
  std::size_t n = 0;
  load(n);
  if (n > remaining()) too_many("string length", n);
  s.resize(n);
  read(s.data(), n);
}

void IArchive::load(std::wstring& s) {
  std::size_t n = 0;
  load(n);
  if (n > remaining() / sizeof(wchar_t)) too_many("wide string length", n);
  s.resize(n);
  read(s.data(), n * sizeof(wchar_t));
}

void IArchive::load(bool& b) {
  static_assert(sizeof(bool) == 1, "the archive stores a bool in one byte");
  unsigned char byte = 0;
  read(&byte, 1);
  if (byte > 1) {
    throw SnapshotCorrupt(std::string(kArchiveErrorPrefix) + "a bool holds the byte " + std::to_string(byte) +
                          " (only 0 and 1 are bools)");
  }
  b = byte == 1;
}

}  // namespace stasis::persist
