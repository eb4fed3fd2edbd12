// version_test.cc — frame versions across real programs.
//
// Two programs register the same stable frame name "test.persist.Evolving":
// stasis_evolve_v1 (version 1, fields through STASIS_FIELDS only) and
// stasis_evolve_v2 (version 2: an added field and a serialize(ar, version) that
// reads version 1). A tasklet frozen mid-run by v1 finishes in v2 with the result
// of v1's uninterrupted run; a snapshot written by v2 is refused by v1 with
// FrameVersionError naming the type and both versions. The programs are exec'd
// (paths from CMake: STASIS_EVOLVE_V1/V2; under cross testing, through the
// emulator in STASIS_EVOLVE_EMULATOR, '|'-separated).
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "../support/subprocess.h"

namespace stasis::test {
namespace {

#ifndef STASIS_EVOLVE_EMULATOR
#define STASIS_EVOLVE_EMULATOR ""
#endif

using test_support::Outcome;

// Runs `program args...` through the cross-testing emulator, if any.
Outcome run_program(const std::string& program, const std::vector<std::string>& args) {
  std::vector<std::string> argv = test_support::emulator_words(STASIS_EVOLVE_EMULATOR);
  argv.push_back(program);
  argv.insert(argv.end(), args.begin(), args.end());
  return test_support::run_captured(argv);
}

const std::string kV1 = STASIS_EVOLVE_V1;
const std::string kV2 = STASIS_EVOLVE_V2;
constexpr const char* kValues = "600";
constexpr const char* kSteps = "337";

class FrameVersions : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/stasis-evolve-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string path(const char* name) const { return (dir_ / name).string(); }

  std::filesystem::path dir_;
};

TEST_F(FrameVersions, BothProgramsComputeTheSameResultUninterrupted) {
  Outcome v1 = run_program(kV1, {"run", kValues});
  Outcome v2 = run_program(kV2, {"run", kValues});
  ASSERT_EQ(v1.exit_code(), 0) << v1.output;
  ASSERT_EQ(v2.exit_code(), 0) << v2.output;
  EXPECT_EQ(v1.output.rfind("result ", 0), 0u) << v1.output;
  EXPECT_EQ(v2.output, v1.output);
}

TEST_F(FrameVersions, Version1SnapshotFinishesInTheVersion2Program) {
  Outcome expected = run_program(kV1, {"run", kValues});
  ASSERT_EQ(expected.exit_code(), 0) << expected.output;

  Outcome frozen = run_program(kV1, {"freeze", kValues, kSteps, path("v1.snap")});
  ASSERT_EQ(frozen.exit_code(), 0) << frozen.output;
  ASSERT_EQ(frozen.output, "frozen\n");

  Outcome thawed = run_program(kV2, {"thaw", path("v1.snap")});
  EXPECT_EQ(thawed.exit_code(), 0) << thawed.output;
  EXPECT_EQ(thawed.output, expected.output);

  // The same program reads its own snapshots back too (no version change).
  Outcome again = run_program(kV1, {"thaw", path("v1.snap")});
  EXPECT_EQ(again.output, expected.output);
}

TEST_F(FrameVersions, Version2SnapshotFinishesInTheVersion2Program) {
  Outcome expected = run_program(kV1, {"run", kValues});
  Outcome frozen = run_program(kV2, {"freeze", kValues, kSteps, path("v2.snap")});
  ASSERT_EQ(frozen.exit_code(), 0) << frozen.output;
  Outcome thawed = run_program(kV2, {"thaw", path("v2.snap")});
  EXPECT_EQ(thawed.exit_code(), 0) << thawed.output;
  EXPECT_EQ(thawed.output, expected.output);
}

TEST_F(FrameVersions, Version2SnapshotIsRefusedByTheVersion1Program) {
  Outcome frozen = run_program(kV2, {"freeze", kValues, kSteps, path("v2.snap")});
  ASSERT_EQ(frozen.exit_code(), 0) << frozen.output;
  Outcome refused = run_program(kV1, {"thaw", path("v2.snap")});
  EXPECT_EQ(refused.exit_code(), 3) << refused.output;
  const std::string& msg = refused.output;
  EXPECT_EQ(msg.rfind("stasis::FrameVersionError: ", 0), 0u) << msg;
  EXPECT_NE(msg.find(path("v2.snap") + ": "), std::string::npos) << msg;          // the file
  EXPECT_NE(msg.find("frame type 'test.persist.Evolving'"), std::string::npos) << msg;  // the type
  EXPECT_NE(msg.find("written with version 2"), std::string::npos) << msg;       // its version
  EXPECT_NE(msg.find("newer than version 1 registered here"), std::string::npos) << msg;  // ours
  EXPECT_NE(msg.find("restore it with the newer program"), std::string::npos) << msg;     // what to do
}

}  // namespace
}  // namespace stasis::test
