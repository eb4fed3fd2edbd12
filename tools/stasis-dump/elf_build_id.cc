// tools/stasis-dump/elf_build_id.cc — see elf_build_id.h.
#include "elf_build_id.h"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <vector>

#include "stasis/error.h"

namespace stasis::dump {
namespace {

// Longest note area read from one segment or section: build-id notes sit in small
// areas; a larger claim is a damaged header, not a reason to allocate.
constexpr std::uint64_t kMaxNoteArea = 1 << 20;
// At most this many program or section headers are looked at.
constexpr unsigned kMaxHeaders = 4096;

class File {
 public:
  explicit File(const std::string& path) : path_(path), fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    if (fd_ < 0) fail(std::strerror(errno));
    struct stat st {};
    if (::fstat(fd_, &st) != 0) fail(std::strerror(errno));
    if (!S_ISREG(st.st_mode)) fail("not a regular file");
    size_ = static_cast<std::uint64_t>(st.st_size);
  }
  ~File() {
    if (fd_ >= 0) ::close(fd_);
  }
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  std::uint64_t size() const noexcept { return size_; }

  // Reads [offset, offset + n) into out; false if that range is not in the file.
  bool read(std::uint64_t offset, std::size_t n, void* out) const {
    if (offset > size_ || n > size_ - offset) return false;
    auto* p = static_cast<char*>(out);
    while (n > 0) {
      ssize_t got = ::pread(fd_, p, n, static_cast<off_t>(offset));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0) fail(std::strerror(errno));
      if (got == 0) return false;
      p += got;
      n -= static_cast<std::size_t>(got);
      offset += static_cast<std::uint64_t>(got);
    }
    return true;
  }

  [[noreturn]] void fail(const std::string& why) const { throw InvalidArgument(path_ + ": cannot read it: " + why); }
  [[noreturn]] void not_elf(const std::string& why) const { throw InvalidArgument(path_ + ": not an ELF file (" + why + ")"); }

 private:
  std::string path_;
  int fd_;
  std::uint64_t size_ = 0;
};

// Integers of the file's byte order.
struct Decoder {
  bool little = true;
  std::uint64_t get(const unsigned char* p, unsigned bytes) const {
    std::uint64_t v = 0;
    for (unsigned i = 0; i < bytes; ++i) v |= std::uint64_t{p[little ? i : bytes - 1 - i]} << (8 * i);
    return v;
  }
};

std::string hex(const unsigned char* p, std::size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (std::size_t i = 0; i < n; ++i) {
    out += digits[p[i] >> 4];
    out += digits[p[i] & 15];
  }
  return out;
}

// Searches one note area [offset, offset + size) for the GNU build-id note.
std::optional<std::string> build_id_in(const File& f, const Decoder& d, std::uint64_t offset, std::uint64_t size,
                                       std::uint64_t align) {
  if (size == 0 || size > kMaxNoteArea) return std::nullopt;
  std::vector<unsigned char> area(static_cast<std::size_t>(size));
  if (!f.read(offset, area.size(), area.data())) return std::nullopt;
  // Notes are 4-byte aligned (8 in some 64-bit objects, e.g. .note.gnu.property).
  const std::uint64_t pad = align == 8 ? 8 : 4;
  auto round = [pad](std::uint64_t v) { return (v + pad - 1) / pad * pad; };
  std::uint64_t p = 0;
  while (p + 12 <= area.size()) {
    std::uint64_t namesz = d.get(&area[p], 4), descsz = d.get(&area[p + 4], 4), type = d.get(&area[p + 8], 4);
    std::uint64_t name = p + 12, desc = name + round(namesz), next = desc + round(descsz);
    if (desc > area.size() || desc + descsz > area.size()) return std::nullopt;
    if (type == NT_GNU_BUILD_ID && namesz == 4 && std::memcmp(&area[name], "GNU", 4) == 0) {
      return hex(&area[desc], static_cast<std::size_t>(descsz));
    }
    if (next <= p) return std::nullopt;
    p = next;
  }
  return std::nullopt;
}

std::string build_id_of(const File& f) {
  unsigned char ident[EI_NIDENT];
  if (!f.read(0, sizeof ident, ident)) f.not_elf("shorter than an ELF header");
  if (std::memcmp(ident, ELFMAG, SELFMAG) != 0) f.not_elf("no ELF magic");
  const bool is64 = ident[EI_CLASS] == ELFCLASS64;
  if (!is64 && ident[EI_CLASS] != ELFCLASS32) f.not_elf("unknown ELF class " + std::to_string(ident[EI_CLASS]));
  if (ident[EI_DATA] != ELFDATA2LSB && ident[EI_DATA] != ELFDATA2MSB) {
    f.not_elf("unknown byte order " + std::to_string(ident[EI_DATA]));
  }
  const Decoder d{ident[EI_DATA] == ELFDATA2LSB};
  unsigned char eh[sizeof(Elf64_Ehdr)];
  const std::size_t eh_size = is64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
  if (!f.read(0, eh_size, eh)) f.not_elf("truncated ELF header");
  // Field offsets of Elf32_Ehdr / Elf64_Ehdr.
  const unsigned word = is64 ? 8 : 4;
  const std::uint64_t phoff = d.get(eh + (is64 ? 32 : 28), word);
  const std::uint64_t shoff = d.get(eh + (is64 ? 40 : 32), word);
  const unsigned phentsize = static_cast<unsigned>(d.get(eh + (is64 ? 54 : 42), 2));
  const unsigned phnum = static_cast<unsigned>(d.get(eh + (is64 ? 56 : 44), 2));
  const unsigned shentsize = static_cast<unsigned>(d.get(eh + (is64 ? 58 : 46), 2));
  const unsigned shnum = static_cast<unsigned>(d.get(eh + (is64 ? 60 : 48), 2));

  // PT_NOTE segments: p_type @0; 64-bit p_offset @8, p_filesz @32, p_align @48;
  // 32-bit p_offset @4, p_filesz @16, p_align @28.
  const std::size_t ph_size = is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
  if (phoff != 0 && phentsize >= ph_size) {
    for (unsigned i = 0; i < phnum && i < kMaxHeaders; ++i) {
      unsigned char ph[sizeof(Elf64_Phdr)];
      if (!f.read(phoff + std::uint64_t{i} * phentsize, ph_size, ph)) break;
      if (d.get(ph, 4) != PT_NOTE) continue;
      auto id = is64 ? build_id_in(f, d, d.get(ph + 8, 8), d.get(ph + 32, 8), d.get(ph + 48, 8))
                     : build_id_in(f, d, d.get(ph + 4, 4), d.get(ph + 16, 4), d.get(ph + 28, 4));
      if (id) return *id;
    }
  }
  // SHT_NOTE sections: sh_type @4; 64-bit sh_offset @24, sh_size @32, sh_addralign @48;
  // 32-bit sh_offset @16, sh_size @20, sh_addralign @32.
  const std::size_t sh_size = is64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr);
  if (shoff != 0 && shentsize >= sh_size) {
    for (unsigned i = 0; i < shnum && i < kMaxHeaders; ++i) {
      unsigned char sh[sizeof(Elf64_Shdr)];
      if (!f.read(shoff + std::uint64_t{i} * shentsize, sh_size, sh)) break;
      if (d.get(sh + 4, 4) != SHT_NOTE) continue;
      auto id = is64 ? build_id_in(f, d, d.get(sh + 24, 8), d.get(sh + 32, 8), d.get(sh + 48, 8))
                     : build_id_in(f, d, d.get(sh + 16, 4), d.get(sh + 20, 4), d.get(sh + 32, 4));
      if (id) return *id;
    }
  }
  return "";
}

}  // namespace

std::string elf_build_id(const std::string& path) {
  File f(path);
  return build_id_of(f);
}

std::optional<std::string> try_elf_build_id(const std::string& path) noexcept {
  try {
    return elf_build_id(path);
  } catch (...) {
    return std::nullopt;
  }
}

}  // namespace stasis::dump
