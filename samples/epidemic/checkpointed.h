// checkpointed.h — the checkpointed run and the kill-and-resume demo.
//
//   epidemic checkpointed --dir D ...  runs with periodic crash-safe checkpoints in D,
//                                      resuming from the newest one if D has any;
//   epidemic demo ...                  runs `checkpointed` in a child process, kills it
//                                      with SIGKILL halfway, resumes it in a new child,
//                                      and compares the result with an uninterrupted
//                                      run (`run`) of the same configuration.
#ifndef STASIS_SAMPLES_EPIDEMIC_CHECKPOINTED_H_
#define STASIS_SAMPLES_EPIDEMIC_CHECKPOINTED_H_

#include <cstdint>
#include <string>
#include <vector>

#include "world.h"

namespace epidemic {

// Options of every subcommand that runs the simulation.
struct RunOptions {
  Config config;
  std::uint64_t slice = 0;          // frame steps per Scheduler::run slice (0: one run())
  std::uint64_t spawn_shuffle = 0;  // 0: spawn regions in index order
  // checkpointed / demo:
  std::string dir;                  // checkpoint directory
  std::uint64_t every_steps = 2'000'000;
  std::int64_t every_ms = 0;
  std::int64_t keep = 3;
  bool zstd = true;
  // Test hook: die with SIGKILL when this process's checkpoint number `die_checkpoint`
  // reaches write phase `die_phase` (temp-created, writing, synced, renamed, done).
  std::int64_t die_checkpoint = 0;
  std::string die_phase;
  // demo: kill the first child once the simulation reached this fraction (percent).
  std::int64_t kill_at_percent = 50;
};

int cmd_checkpointed(const RunOptions& opts);
// argv: the command line (argv[0] is this program, which runs itself as the
// children, argv[2..] the options, forwarded to them).
int cmd_demo(const RunOptions& opts, int argc, char** argv);

}  // namespace epidemic

#endif  // STASIS_SAMPLES_EPIDEMIC_CHECKPOINTED_H_
