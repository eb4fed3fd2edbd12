// checkpointer_test.cc — periodic crash-safe checkpoints and resume, across
// processes, including a process killed with SIGKILL in the middle of a write.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "child_process.h"
#include "persist_frames.h"
#include "stasis/persist/checkpointer.h"
#include "stasis/stasis.h"

namespace stasis::test {
namespace {

namespace fs = std::filesystem;
using persist::CheckpointOptions;
using persist::Checkpointer;

constexpr std::int64_t kValues = 20'000;

// A fresh, empty directory under the test temp dir.
fs::path fresh_dir(const std::string& name) {
  fs::path dir = fs::path(::testing::TempDir()) / ("stasis_ckpt_" + name + "_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::int64_t expected_sum() {
  std::uint64_t sum = 0;  // wraps, as WeightedSum's does
  for (std::int64_t k = 0; k < kValues; ++k) sum = sum * 31 + static_cast<std::uint64_t>(k * k);
  return static_cast<std::int64_t>(sum);
}

// Decimal text of v.
std::string decimal(std::int64_t v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
  return buf;
}

CheckpointOptions quiet(CheckpointOptions o, std::vector<std::string>* warnings = nullptr) {
  o.on_warning = [warnings](const std::string& m) {
    if (warnings) warnings->push_back(m);
  };
  return o;
}

// Spawns the pipeline whose result is expected_sum().
TaskletRef spawn_pipeline(Scheduler& s, Channel<std::int64_t>& ch) {
  s.spawn(Squares{.out = &ch, .n = kValues}, {.name = "producer"});
  return s.spawn(WeightedSum{.in = &ch, .n = kValues}, {.name = "sum"});
}

// In a child process: resumes from dir, finishes with checkpointing on, returns
// "<sum> from <file name>" (or what went wrong).
std::string resume_in_child(const fs::path& dir, CheckpointOptions o) {
  return run_in_child([&] {
    Scheduler s;
    std::vector<std::string> warnings;
    auto resumed = Checkpointer::resume(s, dir, quiet(o, &warnings));
    if (!resumed) return std::string("nothing to resume");
    TaskletRef sum = resumed->thawed.find("sum");
    Checkpointer ck(s, dir, quiet(o));
    ck.run();
    std::string out = decimal(sum->result<std::int64_t>()) + " from " + resumed->info.path.filename().string();
    for (const std::string& w : warnings) out += "\nwarning: " + w;
    return out;
  });
}

TEST(Checkpointer, WritesEveryNStepsAndKeepsTheNewestK) {
  fs::path dir = fresh_dir("every");
  Channel<std::int64_t> ch;
  Scheduler s;
  TaskletRef sum = spawn_pipeline(s, ch);
  std::vector<std::uint64_t> steps;
  Checkpointer ck(s, dir, quiet({.every_steps = 5000, .slice_steps = 1000, .keep = 2,
                                 .on_checkpoint = [&](const persist::CheckpointInfo& i) { steps.push_back(i.steps); }}));
  ck.run();
  EXPECT_EQ(sum->result<std::int64_t>(), expected_sum());
  ASSERT_GE(steps.size(), 4u);
  for (std::size_t i = 1; i < steps.size(); ++i) EXPECT_GE(steps[i] - steps[i - 1], 5000u);
  std::vector<fs::path> files = Checkpointer::list(dir);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].filename().string(), "checkpoint-" + std::string(8 - std::to_string(steps.size()).size(), '0') +
                                              std::to_string(steps.size()) + ".stasis");
  EXPECT_EQ(ck.checkpoints_written(), steps.size());
}

TEST(Checkpointer, ResumesFromTheNewestInAnotherProcessWithTheSameResult) {
  fs::path dir = fresh_dir("resume");
  CheckpointOptions o{.every_steps = 4000, .slice_steps = 700, .keep = 3};
  {
    // Run partway: stop after the third checkpoint, as if the process died.
    Channel<std::int64_t> ch;
    Scheduler s;
    spawn_pipeline(s, ch);
    Checkpointer ck(s, dir, quiet(o));
    while (ck.checkpoints_written() < 3) {
      TaskletRef t = s.run(o.slice_steps);
      ASSERT_TRUE(t);
      ck.checkpoint(t.get());
      t->insert();
    }
  }
  EXPECT_EQ(resume_in_child(dir, o), decimal(expected_sum()) + " from checkpoint-00000003.stasis");
}

TEST(Checkpointer, SkipsADamagedNewestCheckpointWithAWarning) {
  fs::path dir = fresh_dir("damaged");
  CheckpointOptions o{.every_steps = 3000, .slice_steps = 500, .keep = 5};
  {
    Channel<std::int64_t> ch;
    Scheduler s;
    spawn_pipeline(s, ch);
    Checkpointer ck(s, dir, quiet(o));
    for (int i = 0; i < 2; ++i) {
      TaskletRef t = s.run(o.slice_steps);
      ck.checkpoint(t.get());
      t->insert();
    }
  }
  // Truncate the newest file to half its size.
  fs::path newest = Checkpointer::list(dir).front();
  fs::resize_file(newest, fs::file_size(newest) / 2);
  std::string out = resume_in_child(dir, o);
  EXPECT_EQ(out.substr(0, out.find('\n')), decimal(expected_sum()) + " from checkpoint-00000001.stasis");
  EXPECT_NE(out.find("warning: skipping checkpoint " + newest.string()), std::string::npos) << out;
  EXPECT_NE(out.find("truncated"), std::string::npos) << out;
}

TEST(Checkpointer, NoLoadableCheckpointIsAnErrorListingEveryFile) {
  fs::path dir = fresh_dir("none");
  std::ofstream(dir / "checkpoint-00000001.stasis") << "not a snapshot";
  std::ofstream(dir / "checkpoint-00000002.stasis") << "STASISNP";
  Scheduler s;
  try {
    Checkpointer::resume(s, dir, quiet({}));
    FAIL() << "expected CheckpointError";
  } catch (const CheckpointError& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("checkpoint-00000001.stasis"), std::string::npos) << what;
    EXPECT_NE(what.find("checkpoint-00000002.stasis"), std::string::npos) << what;
  }
  EXPECT_EQ(s.alive_count(), 0u);
  EXPECT_FALSE(Checkpointer::resume(s, fresh_dir("empty"), quiet({})));
}

TEST(Checkpointer, RequestCheckpointsAtTheNextSlice) {
  fs::path dir = fresh_dir("request");
  Channel<std::int64_t> ch;
  Scheduler s;
  spawn_pipeline(s, ch);
  std::uint64_t slices = 0;
  Checkpointer* self = nullptr;
  Checkpointer ck(s, dir, quiet({.slice_steps = 1000, .between_slices = [&](Scheduler&) {
                                   if (++slices == 5) self->request();
                                 }}));
  self = &ck;
  ck.run();
  EXPECT_EQ(ck.checkpoints_written(), 1u);  // no periodic policy: only the request
  ASSERT_TRUE(ck.last());
  EXPECT_EQ(ck.last()->steps, 6000u);
}

TEST(Checkpointer, KillDuringAWriteLeavesThePreviousCheckpointLoadable) {
  fs::path dir = fresh_dir("kill");
  CheckpointOptions o{.every_steps = 2000, .slice_steps = 500, .keep = 3};
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::thread([&] {
      Channel<std::int64_t> ch;
      Scheduler s;
      spawn_pipeline(s, ch);
      CheckpointOptions k = quiet(o);
      int writes = 0;
      k.write_observer = [&](persist::WritePhase p, std::size_t) {
        // Die with SIGKILL while the third checkpoint's bytes are being written.
        if (p == persist::WritePhase::kTempCreated) ++writes;
        if (p == persist::WritePhase::kWriting && writes == 3) raise(SIGKILL);
      };
      Checkpointer ck(s, dir, k);
      ck.run();
    }).join();
    _exit(0);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  EXPECT_TRUE(fs::exists(dir / ".checkpoint-00000003.stasis.tmp"));
  EXPECT_EQ(Checkpointer::list(dir).size(), 2u);
  std::string out = resume_in_child(dir, o);
  EXPECT_EQ(out.substr(0, out.find('\n')), decimal(expected_sum()) + " from checkpoint-00000002.stasis");
  EXPECT_NE(out.find("unfinished checkpoint left by a crash"), std::string::npos) << out;
}

}  // namespace
}  // namespace stasis::test
