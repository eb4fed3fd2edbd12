// producer.cc — filling and checking the Producer record (see producer.h).
#include "producer.h"

#include <unistd.h>

#include <boost/archive/basic_archive.hpp>
#include <climits>
#include <cstdint>
#include <string>

#include "stasis/persist/errors.h"
#include "stasis/version.h"

namespace stasis::persist {

const char* this_architecture() noexcept {
#if defined(__x86_64__)
  return "x86_64";
#elif defined(__aarch64__)
  return "aarch64";
#elif defined(__i386__)
  return "i386";
#elif defined(__arm__)
  return "arm";
#elif defined(__riscv) && __riscv_xlen == 64
  return "riscv64";
#else
  return "unknown";
#endif
}

namespace {
constexpr bool kLittleEndian = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;
}  // namespace

void fill_producer(schema::Producer::Builder p) {
  p.setArch(this_architecture());
  p.setPointerBits(sizeof(void*) * CHAR_BIT);
  p.setLittleEndian(kLittleEndian);
  p.setLongBits(sizeof(long) * CHAR_BIT);
  p.setLibraryVersion(STASIS_VERSION_STRING);
#if defined(__clang__)
  p.setCompiler("clang " __clang_version__);
#elif defined(__GNUC__)
  p.setCompiler("gcc " __VERSION__);
#endif
  p.setBoostArchiveVersion(boost::archive::BOOST_ARCHIVE_VERSION());
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) == 0) p.setHostname(host);
  p.setPid(static_cast<std::uint32_t>(getpid()));
  p.setProgram(program_invocation_short_name);
}

void check_producer(schema::Producer::Reader p, std::string_view source_name) {
  std::string src(source_name);
  std::string who = std::string(p.getArch().cStr()) + " (" + std::to_string(p.getPointerBits()) + "-bit, " +
                    (p.getLittleEndian() ? "little" : "big") + "-endian, " + std::to_string(p.getLongBits()) +
                    "-bit long)";
  std::string me = std::string(this_architecture()) + " (" + std::to_string(sizeof(void*) * CHAR_BIT) + "-bit, " +
                   (kLittleEndian ? "little" : "big") + "-endian, " + std::to_string(sizeof(long) * CHAR_BIT) +
                   "-bit long)";
  if (p.getLittleEndian() != kLittleEndian || p.getPointerBits() != sizeof(void*) * CHAR_BIT ||
      p.getLongBits() != sizeof(long) * CHAR_BIT) {
    throw SnapshotIncompatible(src + ": written on " + who + ", this process is " + me +
                               "; the field archive stores integers natively, so restore it on a machine with the "
                               "same endianness and integer sizes");
  }
  if (p.getBoostArchiveVersion() > boost::archive::BOOST_ARCHIVE_VERSION()) {
    throw SnapshotIncompatible(src + ": its field archive was written by a newer Boost.Serialization (archive version " +
                               std::to_string(p.getBoostArchiveVersion()) + ", this build reads up to " +
                               std::to_string(boost::archive::BOOST_ARCHIVE_VERSION()) +
                               "); restore it with a build using that Boost or newer");
  }
}

}  // namespace stasis::persist
