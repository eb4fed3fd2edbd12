// stasis/persist/checkpointer.h — crash-safe periodic checkpoints of a scheduler.
//
// A Checkpointer runs a scheduler in budgeted slices (Scheduler::run(budget)) and,
// between slices, freezes the whole scheduler into a numbered file in a directory:
// every N steps, every T of wall time, and on request(). Files are written with
// write_file_atomically (temporary file, fsync, rename, fsync of the directory), so
// a process killed at any instant leaves every finished checkpoint loadable; the
// newest K are kept.
//
// resume() thaws the newest checkpoint that loads, skipping (with a warning) files
// that are damaged or truncated, and puts the interrupted tasklet back in the run
// queue. A checkpointed run resumed so continues with the same schedule as the run
// that wrote it: slices end at the same step counts, since the step count travels
// in the snapshot.
//
// Invariants: checkpoint files are named PREFIX-SEQUENCE.stasis with a zero-padded,
// strictly increasing sequence; a file with a sequence is complete once renamed;
// temporary files (".PREFIX-SEQUENCE.stasis.tmp") are leftovers of a crash and are
// removed by the next Checkpointer or resume() in that directory.
#ifndef STASIS_PERSIST_CHECKPOINTER_H_
#define STASIS_PERSIST_CHECKPOINTER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "stasis/persist/atomic_file.h"
#include "stasis/persist/snapshot.h"

namespace stasis::persist {

struct CheckpointInfo {
  std::filesystem::path path;
  std::uint64_t sequence = 0;
  std::uint64_t steps = 0;  // scheduler steps when frozen
  FreezeStats stats;
  std::chrono::microseconds freeze_time{0};
  std::chrono::microseconds write_time{0};
};

struct CheckpointOptions {
  std::uint64_t every_steps = 0;             // a checkpoint each time this many steps passed (0: off)
  std::chrono::milliseconds every_time{0};   // and/or each time this much wall time passed (0: off)
  std::uint64_t slice_steps = 10'000;        // steps per run(budget) slice: the checkpoint granularity
  std::size_t keep = 3;                      // the newest `keep` checkpoints stay on disk (>= 1)
  std::string prefix = "checkpoint";
  ContainerOptions container;
  // Called after each checkpoint is durable.
  std::function<void(const CheckpointInfo&)> on_checkpoint;
  // Called between slices (progress displays); must not run the scheduler.
  std::function<void(Scheduler&)> between_slices;
  // Warnings (a stale temporary file removed, a damaged checkpoint skipped). Default: stderr.
  std::function<void(const std::string&)> on_warning;
  // Observes every atomic write (tests use it to kill the process mid-write).
  WriteObserver write_observer;
};

// A checkpoint that resume() restored.
struct Resumed {
  Thawed thawed;
  CheckpointInfo info;                 // path, sequence, steps
  std::vector<std::string> skipped;    // "PATH: why" for each newer file that did not load
};

class Checkpointer {
 public:
  // Creates `dir` if needed and removes stale temporary files in it. Numbering
  // continues after the newest checkpoint already there. InvalidArgument for
  // keep == 0 or slice_steps == 0; CheckpointError if dir cannot be created.
  Checkpointer(Scheduler& scheduler, std::filesystem::path dir, CheckpointOptions options = {});
  Checkpointer(const Checkpointer&) = delete;
  Checkpointer& operator=(const Checkpointer&) = delete;

  // Runs the scheduler until it is idle, checkpointing by the policy. Throws what
  // Scheduler::run() throws (Deadlock, UnhandledTaskletError) and CheckpointError;
  // the scheduler stays usable and run() may be called again.
  void run();
  // Asks for a checkpoint at the next slice boundary. Safe from tasklets, other
  // threads and signal handlers.
  void request() noexcept { requested_.store(true, std::memory_order_relaxed); }
  // Writes a checkpoint now (from outside run()). `interrupted` is the tasklet a
  // budgeted run just paused, if any.
  CheckpointInfo checkpoint(Tasklet* interrupted = nullptr);

  // Checkpoints written by this object so far, and the newest one's info.
  std::uint64_t checkpoints_written() const noexcept { return written_; }
  const std::optional<CheckpointInfo>& last() const noexcept { return last_; }
  const std::filesystem::path& directory() const noexcept { return dir_; }

  // The checkpoint files in `dir`, newest first.
  static std::vector<std::filesystem::path> list(const std::filesystem::path& dir,
                                                 const std::string& prefix = "checkpoint");
  // Thaws the newest loadable checkpoint of `dir` into `scheduler` and re-inserts
  // its interrupted tasklet. Returns nullopt if `dir` holds no checkpoint at all;
  // throws CheckpointError listing every file and why it failed if none loads.
  static std::optional<Resumed> resume(Scheduler& scheduler, const std::filesystem::path& dir,
                                       const CheckpointOptions& options = {}, const ThawOptions& thaw_options = {});

 private:
  void warn(const std::string& message) const;
  bool due() const noexcept;

  Scheduler& scheduler_;
  std::filesystem::path dir_;
  CheckpointOptions options_;
  std::uint64_t next_sequence_ = 1;
  std::uint64_t written_ = 0;
  std::uint64_t next_step_mark_ = 0;
  std::chrono::steady_clock::time_point next_time_mark_;
  std::atomic<bool> requested_{false};
  std::optional<CheckpointInfo> last_;
};

}  // namespace stasis::persist

#endif  // STASIS_PERSIST_CHECKPOINTER_H_
