// tools/stasis-dump/elf_build_id.h — the GNU build-id of an ELF file on disk, for
// `verify --binary` and for checking module files before an offline re-walk.
//
// The file is untrusted input: it is read with bounded reads at checked offsets
// (never mapped, never read whole), both ELF classes and byte orders are accepted,
// and a malformed header or note ends the search instead of failing. The notes are
// looked for in PT_NOTE segments first, then in SHT_NOTE sections (a file with
// neither, e.g. a stripped object file, has no build-id).
#ifndef STASIS_TOOLS_DUMP_ELF_BUILD_ID_H_
#define STASIS_TOOLS_DUMP_ELF_BUILD_ID_H_

#include <optional>
#include <string>

namespace stasis::dump {

// The GNU build-id of the ELF file `path` as lowercase hex (the form the snapshot's
// module table uses); "" if the file is ELF but carries no build-id note. Throws
// InvalidArgument when the file cannot be opened or read, or is not an ELF file;
// the message names the path and the reason.
std::string elf_build_id(const std::string& path);

// As elf_build_id(), but nullopt instead of throwing (for optional checks).
std::optional<std::string> try_elf_build_id(const std::string& path) noexcept;

}  // namespace stasis::dump

#endif  // STASIS_TOOLS_DUMP_ELF_BUILD_ID_H_
