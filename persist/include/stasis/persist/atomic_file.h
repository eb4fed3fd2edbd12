// stasis/persist/atomic_file.h — crash-safe file replacement.
//
// write_file_atomically(path, bytes) leaves `path` holding either its previous
// content or all of `bytes`, whenever the process dies (kill -9, power loss on a
// file system that honours fsync): it writes a temporary file in the same
// directory, fsyncs it, renames it over `path`, and fsyncs the directory so the
// rename itself is durable.
#ifndef STASIS_PERSIST_ATOMIC_FILE_H_
#define STASIS_PERSIST_ATOMIC_FILE_H_

#include <cstddef>
#include <filesystem>
#include <functional>
#include <string_view>

namespace stasis::persist {

// The steps of an atomic write, for observers (progress, fault injection in tests).
enum class WritePhase {
  kTempCreated,  // the temporary file exists, empty
  kWriting,      // a chunk was written (bytes_done says how much so far)
  kSynced,       // all bytes written and fsynced
  kRenamed,      // the temporary file replaced `path`
  kDone,         // the directory was fsynced
};
const char* to_string(WritePhase p) noexcept;

using WriteObserver = std::function<void(WritePhase phase, std::size_t bytes_done)>;

// Throws CheckpointError naming the path, the step and the errno text on failure;
// the temporary file is removed then and `path` is untouched.
void write_file_atomically(const std::filesystem::path& path, std::string_view bytes,
                           const WriteObserver& observer = {});

// The temporary name write_file_atomically uses for `path` (".NAME.tmp").
std::filesystem::path temp_path_for(const std::filesystem::path& path);

}  // namespace stasis::persist

#endif  // STASIS_PERSIST_ATOMIC_FILE_H_
