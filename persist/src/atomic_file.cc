// atomic_file.cc — temp file, fsync, rename, fsync of the directory.
#include "stasis/persist/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "stasis/persist/errors.h"

namespace stasis::persist {

const char* to_string(WritePhase p) noexcept {
  switch (p) {
    case WritePhase::kTempCreated: return "temp-created";
    case WritePhase::kWriting: return "writing";
    case WritePhase::kSynced: return "synced";
    case WritePhase::kRenamed: return "renamed";
    case WritePhase::kDone: return "done";
  }
  return "?";
}

std::filesystem::path temp_path_for(const std::filesystem::path& path) {
  return path.parent_path() / ("." + path.filename().string() + ".tmp");
}

namespace {

[[noreturn]] void fail(const std::filesystem::path& path, const char* step, int err) {
  throw CheckpointError("cannot write " + path.string() + ": " + step + " failed: " + std::strerror(err));
}

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

constexpr std::size_t kChunk = 64 << 10;  // observers see progress within a file

}  // namespace

void write_file_atomically(const std::filesystem::path& path, std::string_view bytes, const WriteObserver& observer) {
  std::filesystem::path tmp = temp_path_for(path);
  auto notify = [&](WritePhase p, std::size_t done) {
    if (observer) observer(p, done);
  };
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
  if (fd.get() < 0) fail(tmp, "open", errno);
  auto fail_and_remove = [&](const char* step) {
    int err = errno;
    ::unlink(tmp.c_str());
    fail(tmp, step, err);
  };
  notify(WritePhase::kTempCreated, 0);
  std::size_t done = 0;
  while (done < bytes.size()) {
    std::size_t n = std::min(kChunk, bytes.size() - done);
    ssize_t w = ::write(fd.get(), bytes.data() + done, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      fail_and_remove("write");
    }
    done += static_cast<std::size_t>(w);
    notify(WritePhase::kWriting, done);
  }
  if (::fsync(fd.get()) != 0) fail_and_remove("fsync");
  if (::close(fd.release()) != 0) fail_and_remove("close");
  notify(WritePhase::kSynced, done);
  if (::rename(tmp.c_str(), path.c_str()) != 0) fail_and_remove("rename");
  notify(WritePhase::kRenamed, done);
  std::filesystem::path dir = path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
  Fd dfd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dfd.get() < 0) fail(dir, "open directory", errno);
  if (::fsync(dfd.get()) != 0) fail(dir, "fsync directory", errno);
  notify(WritePhase::kDone, done);
}

}  // namespace stasis::persist
