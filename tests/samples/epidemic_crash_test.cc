// epidemic_crash_test.cc — SIGKILL the checkpointed simulation at 20 seeded
// moments and check that every resume ends with exactly the uninterrupted result.
//
// Half of the moments are kills from outside after a seeded delay (wherever the
// process happens to be: computing, freezing, writing); the other half are
// self-inflicted SIGKILLs inside a seeded phase of a seeded checkpoint write
// (temporary file created, bytes half written, fsynced, renamed, directory
// fsynced), so the crash-during-write cases are certain to be covered.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "../support/subprocess.h"

#ifndef EPIDEMIC_BIN
#error "EPIDEMIC_BIN must name the epidemic sample binary"
#endif

namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kTwin = {"--size", "40", "--steps", "100", "--seed", "3",
                                        "--every-steps", "100000", "--slice", "2000"};

using stasis::test_support::Child;
using stasis::test_support::finish;
using stasis::test_support::Outcome;
using stasis::test_support::start_captured;

std::vector<std::string> command(const std::vector<std::string>& args) {
  std::vector<std::string> argv{EPIDEMIC_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

Outcome run(const std::vector<std::string>& args) { return stasis::test_support::run_captured(command(args)); }

std::string result_line(const std::string& output) {
  std::size_t at = output.find("result: ");
  if (at == std::string::npos) return "";
  return output.substr(at, output.find('\n', at) - at);
}

std::vector<std::string> with(std::vector<std::string> head, const std::vector<std::string>& tail) {
  head.insert(head.end(), tail.begin(), tail.end());
  return head;
}

TEST(EpidemicCrash, TwentySeededKillsEachResumeToTheUninterruptedResult) {
  Outcome reference = run(with({"run", "--quiet"}, kTwin));
  ASSERT_EQ(reference.status, 0) << reference.output;
  const std::string expected = result_line(reference.output);
  ASSERT_FALSE(expected.empty()) << reference.output;

  // How long an undisturbed checkpointed run takes here: the range of kill delays.
  fs::path base = fs::path(::testing::TempDir()) / ("stasis_crash_" + std::to_string(getpid()));
  fs::remove_all(base);
  auto t0 = std::chrono::steady_clock::now();
  Outcome full = run(with({"checkpointed", "--dir", (base / "calibrate").string()}, kTwin));
  auto full_time = std::chrono::steady_clock::now() - t0;
  ASSERT_EQ(result_line(full.output), expected) << full.output;

  const char* phases[] = {"temp-created", "writing", "synced", "renamed", "done"};
  int in_write = 0, resumed_from_checkpoint = 0;
  for (int i = 0; i < 20; ++i) {
    std::mt19937_64 rng(20261125 + i);
    fs::path dir = base / ("case" + std::to_string(i));
    std::vector<std::string> args = with({"checkpointed", "--dir", dir.string()}, kTwin);
    std::string what;
    if (i % 2 == 0) {
      auto delay = std::chrono::duration_cast<std::chrono::microseconds>(full_time) *
                   static_cast<long>(rng() % 900 + 50) / 1000;
      Child child = start_captured(command(args));
      std::this_thread::sleep_for(delay);
      kill(child.pid, SIGKILL);
      Outcome killed = finish(child);
      what = "kill after " + std::to_string(delay.count()) + " us";
      if (killed.exit_code() >= 0) what += " (had already finished)";
    } else {
      std::string n = std::to_string(rng() % 6 + 1);
      std::string phase = phases[rng() % 5];
      Outcome killed = run(with(args, {"--die-in-write", n + ":" + phase}));
      what = "SIGKILL in checkpoint " + n + " at " + phase;
      ASSERT_TRUE(killed.killed_by(SIGKILL)) << what << "\n" << killed.output;
      ++in_write;
    }
    Outcome resumed = run(args);
    ASSERT_EQ(resumed.status, 0) << what << "\n" << resumed.output;
    EXPECT_EQ(result_line(resumed.output), expected) << what << "\n" << resumed.output;
    if (resumed.output.find("resumed from") != std::string::npos) ++resumed_from_checkpoint;
    std::printf("case %2d: %-40s -> %s\n", i, what.c_str(),
                resumed.output.find("resumed from") != std::string::npos ? "resumed from a checkpoint" : "fresh start");
  }
  EXPECT_EQ(in_write, 10);
  // Kills inside writes always leave earlier checkpoints behind (N >= 2) or none (N == 1).
  EXPECT_GE(resumed_from_checkpoint, 8);
  fs::remove_all(base);
}

}  // namespace
