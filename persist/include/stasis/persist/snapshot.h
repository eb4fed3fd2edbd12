// stasis/persist/snapshot.h — freezing tasklets into snapshots and thawing them.
//
// freeze() turns tasklets (a whole scheduler, a set, or one) into a Snapshot: the
// bytes of a snapshot file (docs/snapshot-format.md). It only reads: the tasklets
// keep running exactly as before, whether freezing succeeds or fails. What a
// snapshot holds: each tasklet's header and frame chain, the channels its frames
// reference or it waits on (with buffered values and, for the chosen tasklets, the
// wait queues in order), values in flight, sleep timers (time left), and for a
// whole scheduler the scheduler's step count and select generator.
//
// thaw() recreates them in a scheduler of this or another process, on this or
// another architecture with the same endianness and integer sizes. It is
// all-or-nothing: on any error (SnapshotError and subclasses) the scheduler is
// untouched. The restored channels are owned by the returned Thawed object; keep it
// alive while the tasklets use them.
//
// Both are called from outside Scheduler::run() on the scheduler's thread.
// Limits (v1): tasklets blocked in a select or a greenlet-style switch, and
// tasklets holding a pending exception, cannot be frozen (FreezeError).
#ifndef STASIS_PERSIST_SNAPSHOT_H_
#define STASIS_PERSIST_SNAPSHOT_H_

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "stasis/persist/access.h"
#include "stasis/persist/container.h"
#include "stasis/persist/errors.h"
#include "stasis/persist/value_codec.h"
#include "stasis/scheduler.h"

namespace stasis::persist {

struct FreezeOptions {
  ContainerOptions container;    // compression of the file payload
  std::string note;              // free text stored in the snapshot
  // The tasklet a budgeted Scheduler::run(budget) just interrupted (paused); it is
  // recorded as interrupted so that the restorer can insert() it again.
  Tasklet* interrupted = nullptr;
  // If set, receives the snapshot's channels in record order (what a migration
  // needs to tell the target where each channel lives). Cleared first.
  std::vector<const ChannelBase*>* channels_out = nullptr;
};

struct FreezeStats {
  std::size_t tasklets = 0;
  std::size_t frames = 0;
  std::size_t channels = 0;
  std::size_t buffered_values = 0;
  std::size_t archive_bytes = 0;
  std::size_t message_bytes = 0;  // the Cap'n Proto message, uncompressed
  std::size_t file_bytes = 0;     // header + payload
  bool compressed = false;
};

// The bytes of one snapshot file.
class Snapshot {
 public:
  Snapshot() = default;
  explicit Snapshot(std::string bytes, FreezeStats stats = {});
  // Adopts `size` bytes at `data`, owned by `owner` (freeze builds the file in place).
  Snapshot(std::shared_ptr<const void> owner, const char* data, std::size_t size, FreezeStats stats = {}) noexcept
      : owner_(std::move(owner)), bytes_(data, size), stats_(stats) {}
  // Copies share the (immutable) bytes.
  Snapshot(const Snapshot&) = default;
  Snapshot& operator=(const Snapshot&) = default;
  Snapshot(Snapshot&& other) noexcept
      : owner_(std::move(other.owner_)), bytes_(std::exchange(other.bytes_, {})), stats_(other.stats_) {}
  Snapshot& operator=(Snapshot&& other) noexcept {
    owner_ = std::move(other.owner_);
    bytes_ = std::exchange(other.bytes_, {});
    stats_ = other.stats_;
    return *this;
  }

  // The snapshot file's bytes, valid while this snapshot (or a copy) lives.
  std::string_view bytes() const noexcept { return bytes_; }
  // Counts and sizes when this snapshot was made by freeze() (zero otherwise).
  const FreezeStats& stats() const noexcept { return stats_; }

  // Writes the file crash-safely (temporary file, fsync, rename, fsync of the
  // directory): afterwards `path` holds either its old content or this snapshot.
  // CheckpointError on I/O failure.
  void write(const std::filesystem::path& path) const;
  // Reads a snapshot file (its content is checked by thaw / inspect).
  static Snapshot read(const std::filesystem::path& path, const ReadLimits& limits = {});

 private:
  std::shared_ptr<const void> owner_;  // keeps bytes_ alive
  std::string_view bytes_;
  FreezeStats stats_;
};

// Every alive tasklet of `scheduler`.
Snapshot freeze(Scheduler& scheduler, const FreezeOptions& options = {});
// The given tasklets (alive, of the calling thread's scheduler).
Snapshot freeze(std::span<const TaskletRef> tasklets, const FreezeOptions& options = {});
// One tasklet (alive, of the calling thread's scheduler).
inline Snapshot freeze(const TaskletRef& tasklet, const FreezeOptions& options = {}) {
  return freeze(std::span<const TaskletRef>(&tasklet, 1), options);
}

struct ThawOptions {
  // Keep the snapshot's tasklet and channel ids when the scheduler has no alive
  // tasklets (a fresh process); otherwise new ids are given.
  bool keep_ids = true;
  // For whole-scheduler snapshots: restore the step count and select generator.
  bool restore_scheduler_state = true;
  // Native tasklets (stasis/persist/native.h) are restored only when this is set:
  // their stacks are machine state that runs as code, so a snapshot holding them
  // must come from a trusted writer of this very build. Without it such a
  // snapshot is refused (SnapshotIncompatible).
  bool allow_native = false;
  ReadLimits limits;
  std::string source_name = "snapshot";  // how errors name the input
  // Channels that already exist in this process (a migration target: channels at
  // home here, proxies of remote ones). Called once per channel record, in record
  // order, with the record's id, value codec and options (name, capacity,
  // preference, schedule_all); returns the channel to use (not
  // owned, of the codec's type) or null to create one from the record as usual. A
  // resolved channel keeps its own state: the record's buffered values are read
  // and dropped, its waiters are appended to the channel's queue. A snapshot whose
  // waiters would meet waiting partners of the other direction there is refused
  // (SnapshotIncompatible). May throw; thaw then fails with nothing changed (what
  // the resolver itself created is its business).
  std::function<ChannelBase*(std::uint64_t snapshot_id, const ValueCodec& codec, const ChannelOptions& record)>
      resolve_channel;
};

// What thaw() restored.
class Thawed {
 public:
  Thawed() = default;
  Thawed(Thawed&&) noexcept = default;
  Thawed& operator=(Thawed&&) noexcept = default;
  ~Thawed();

  // The restored tasklets, in snapshot order.
  const std::vector<TaskletRef>& tasklets() const noexcept { return tasklets_; }
  // The first restored tasklet named `name`, or a null ref.
  TaskletRef find(std::string_view name) const;
  // The tasklet that had id `id` in the snapshot, or a null ref.
  TaskletRef by_snapshot_id(std::uint64_t id) const;
  // The tasklet recorded as interrupted by a budgeted run (paused), or a null ref.
  const TaskletRef& interrupted() const noexcept { return interrupted_; }
  // The restored channels, in snapshot order (without the ones
  // ThawOptions::resolve_channel supplied). Owned by this object.
  const std::vector<std::unique_ptr<ChannelBase>>& channels() const noexcept { return channels_; }
  // Gives up ownership of the channels (the caller then keeps them alive).
  std::vector<std::unique_ptr<ChannelBase>> release_channels() noexcept { return std::move(channels_); }

 private:
  friend class ::stasis::detail::PersistAccess::Thawer;
  std::vector<TaskletRef> tasklets_;
  std::vector<std::uint64_t> snapshot_ids_;  // empty when the ids were kept
  bool ids_kept_ = false;                     // each tasklet has its snapshot id
  std::vector<std::unique_ptr<ChannelBase>> channels_;
  TaskletRef interrupted_;
};

Thawed thaw(const Snapshot& snapshot, Scheduler& scheduler, const ThawOptions& options = {});

}  // namespace stasis::persist

#endif  // STASIS_PERSIST_SNAPSHOT_H_
