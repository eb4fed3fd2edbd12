// snapshot_file.cc — Snapshot's file I/O.
#include "stasis/persist/atomic_file.h"
#include "stasis/persist/snapshot.h"

namespace stasis::persist {

Snapshot::Snapshot(std::string bytes, FreezeStats stats) : stats_(stats) {
  auto owned = std::make_shared<const std::string>(std::move(bytes));
  bytes_ = *owned;
  owner_ = std::move(owned);
}

void Snapshot::write(const std::filesystem::path& path) const { write_file_atomically(path, bytes_); }

Snapshot Snapshot::read(const std::filesystem::path& path, const ReadLimits& limits) {
  return Snapshot(read_snapshot_file(path.string(), limits));
}

}  // namespace stasis::persist
