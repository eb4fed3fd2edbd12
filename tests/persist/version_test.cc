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

namespace stasis::test {
namespace {

#ifndef STASIS_EVOLVE_EMULATOR
#define STASIS_EVOLVE_EMULATOR ""
#endif

struct Outcome {
  int exit_code = -1;  // -1: did not exit normally
  std::string out;     // stdout, then stderr
};

// Runs `program args...` (through the cross-testing emulator, if any) and collects
// its output.
Outcome run_program(const std::string& program, const std::vector<std::string>& args) {
  std::vector<std::string> argv;
  std::string emulator = STASIS_EVOLVE_EMULATOR;
  for (std::size_t start = 0; !emulator.empty() && start <= emulator.size();) {
    std::size_t bar = emulator.find('|', start);
    if (bar == std::string::npos) bar = emulator.size();
    if (bar > start) argv.push_back(emulator.substr(start, bar - start));
    start = bar + 1;
  }
  argv.push_back(program);
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  for (std::string& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);

  int fds[2];
  if (pipe(fds) != 0) return {-1, "pipe failed"};
  pid_t pid = fork();
  if (pid < 0) return {-1, "fork failed"};
  if (pid == 0) {
    close(fds[0]);
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    close(fds[1]);
    execvp(cargv[0], cargv.data());
    std::string msg = std::string("exec ") + cargv[0] + " failed: " + std::strerror(errno) + "\n";
    (void)!write(STDOUT_FILENO, msg.data(), msg.size());
    _exit(127);
  }
  close(fds[1]);
  Outcome o;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) o.out.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status)) o.exit_code = WEXITSTATUS(status);
  return o;
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
  ASSERT_EQ(v1.exit_code, 0) << v1.out;
  ASSERT_EQ(v2.exit_code, 0) << v2.out;
  EXPECT_EQ(v1.out.rfind("result ", 0), 0u) << v1.out;
  EXPECT_EQ(v2.out, v1.out);
}

TEST_F(FrameVersions, Version1SnapshotFinishesInTheVersion2Program) {
  Outcome expected = run_program(kV1, {"run", kValues});
  ASSERT_EQ(expected.exit_code, 0) << expected.out;

  Outcome frozen = run_program(kV1, {"freeze", kValues, kSteps, path("v1.snap")});
  ASSERT_EQ(frozen.exit_code, 0) << frozen.out;
  ASSERT_EQ(frozen.out, "frozen\n");

  Outcome thawed = run_program(kV2, {"thaw", path("v1.snap")});
  EXPECT_EQ(thawed.exit_code, 0) << thawed.out;
  EXPECT_EQ(thawed.out, expected.out);

  // The same program reads its own snapshots back too (no version change).
  Outcome again = run_program(kV1, {"thaw", path("v1.snap")});
  EXPECT_EQ(again.out, expected.out);
}

TEST_F(FrameVersions, Version2SnapshotFinishesInTheVersion2Program) {
  Outcome expected = run_program(kV1, {"run", kValues});
  Outcome frozen = run_program(kV2, {"freeze", kValues, kSteps, path("v2.snap")});
  ASSERT_EQ(frozen.exit_code, 0) << frozen.out;
  Outcome thawed = run_program(kV2, {"thaw", path("v2.snap")});
  EXPECT_EQ(thawed.exit_code, 0) << thawed.out;
  EXPECT_EQ(thawed.out, expected.out);
}

TEST_F(FrameVersions, Version2SnapshotIsRefusedByTheVersion1Program) {
  Outcome frozen = run_program(kV2, {"freeze", kValues, kSteps, path("v2.snap")});
  ASSERT_EQ(frozen.exit_code, 0) << frozen.out;
  Outcome refused = run_program(kV1, {"thaw", path("v2.snap")});
  EXPECT_EQ(refused.exit_code, 3) << refused.out;
  const std::string& msg = refused.out;
  EXPECT_EQ(msg.rfind("stasis::FrameVersionError: ", 0), 0u) << msg;
  EXPECT_NE(msg.find(path("v2.snap") + ": "), std::string::npos) << msg;          // the file
  EXPECT_NE(msg.find("frame type 'test.persist.Evolving'"), std::string::npos) << msg;  // the type
  EXPECT_NE(msg.find("written with version 2"), std::string::npos) << msg;       // its version
  EXPECT_NE(msg.find("newer than version 1 registered here"), std::string::npos) << msg;  // ours
  EXPECT_NE(msg.find("restore it with the newer program"), std::string::npos) << msg;     // what to do
}

}  // namespace
}  // namespace stasis::test
