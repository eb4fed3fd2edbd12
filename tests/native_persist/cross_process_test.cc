// cross_process_test.cc — native tasklets frozen in one process and restored in
// another process of the same binary (fork/exec, through the cross emulator when
// there is one), and the mismatches that must be refused.
#include <gtest/gtest.h>

#include <sys/personality.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "../support/subprocess.h"
#include "workloads.h"

namespace stasis::test {
namespace {

namespace fs = std::filesystem;
using test_support::Outcome;

std::string self_path() { return fs::read_symlink("/proc/self/exe").string(); }

// Runs this binary in a role; `env` entries are set in the child only.
Outcome run_role(const std::vector<std::string>& args, const std::vector<std::string>& env = {},
                 const std::string& program = self_path(), void (*before_exec)() = nullptr) {
  std::vector<std::string> argv = test_support::emulator_words(STASIS_NATIVE_PERSIST_EMULATOR);
  if (!env.empty()) {
    std::vector<std::string> with_env{"env"};
    with_env.insert(with_env.end(), env.begin(), env.end());
    with_env.insert(with_env.end(), argv.begin(), argv.end());
    argv = with_env;
  }
  argv.push_back(program);
  argv.push_back("--role");
  argv.insert(argv.end(), args.begin(), args.end());
  return test_support::finish(test_support::start_captured(argv, before_exec));
}

std::string result_of(const Outcome& o) {
  auto at = o.output.find("result=");
  if (at == std::string::npos) return "";
  return o.output.substr(at + 7, o.output.find('\n', at) - at - 7);
}

class NativeCrossProcess : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("stasis-native-persist-" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const char* name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

TEST_F(NativeCrossProcess, DeepRecursionWithContainerLocalsResumesInAnotherProcess) {
  const std::string snap = path("deep.stasis");
  Outcome a = run_role({"freeze-deep", snap, "1000"});
  ASSERT_EQ(a.exit_code(), 0) << a.output;
  EXPECT_EQ(result_of(a), std::to_string(deep_expected(1000, 42))) << a.output;

  Outcome b = run_role({"thaw-deep", snap, "42"});
  ASSERT_EQ(b.exit_code(), 0) << b.output;
  EXPECT_EQ(result_of(b), std::to_string(deep_expected(1000, 42))) << b.output;

  // Another value: the restored tasklet really computes with what it receives.
  Outcome c = run_role({"thaw-deep", snap, "7"});
  ASSERT_EQ(c.exit_code(), 0) << c.output;
  EXPECT_EQ(result_of(c), std::to_string(deep_expected(1000, 7))) << c.output;
}

TEST_F(NativeCrossProcess, HostileNativeRecordsAreRefusedBeforeAnythingIsRestored) {
  const std::string snap = path("deep.stasis");
  ASSERT_EQ(run_role({"freeze-deep", snap, "50"}).exit_code(), 0);
  Outcome b = run_role({"thaw-hostile", snap});
  ASSERT_EQ(b.exit_code(), 0) << b.output;
  EXPECT_NE(b.output.find("refused 7 of 7"), std::string::npos) << b.output;
  EXPECT_EQ(b.output.find("ACCEPTED"), std::string::npos) << b.output;
  EXPECT_EQ(b.output.find("LEFT TASKLETS"), std::string::npos) << b.output;
  // After all that, the intact snapshot restores (no arena run was left mapped).
  EXPECT_EQ(result_of(b), std::to_string(deep_expected(50, 42))) << b.output;
}

TEST_F(NativeCrossProcess, KillingARestoredTaskletUnwindsItsRestoredStack) {
  const std::string snap = path("deep.stasis");
  ASSERT_EQ(run_role({"freeze-deep", snap, "300"}).exit_code(), 0);
  Outcome b = run_role({"thaw-kill", snap});
  ASSERT_EQ(b.exit_code(), 0) << b.output;
  EXPECT_NE(b.output.find("killed state=killed"), std::string::npos) << b.output;
}

TEST_F(NativeCrossProcess, SleepingAndRunnableNativeTaskletsResume) {
  const std::string snap = path("states.stasis");
  Outcome a = run_role({"freeze-states", snap});
  ASSERT_EQ(a.exit_code(), 0) << a.output;
  ASSERT_NE(a.output.find("frozen sleeper=blocked yielder=runnable"), std::string::npos) << a.output;
  Outcome b = run_role({"thaw-states", snap});
  ASSERT_EQ(b.exit_code(), 0) << b.output;
  // The sleeper's timer came back with it; the yielder goes on from its second round.
  EXPECT_NE(b.output.find("restored sleeping=1 result=6,504"), std::string::npos) << b.output;
}

TEST_F(NativeCrossProcess, MixedSoftAndNativeSnapshotRoundTrips) {
  const std::string snap = path("mixed.stasis");
  Outcome a = run_role({"freeze-mixed", snap});
  ASSERT_EQ(a.exit_code(), 0) << a.output;
  ASSERT_FALSE(result_of(a).empty()) << a.output;
  Outcome b = run_role({"thaw-mixed", snap});
  ASSERT_EQ(b.exit_code(), 0) << b.output;
  EXPECT_EQ(result_of(b), result_of(a)) << b.output;
}

TEST_F(NativeCrossProcess, NamedExternalsAreReboundByNameAndUnstartedTaskletsStartFresh) {
  const std::string snap = path("external.stasis");
  Outcome a = run_role({"freeze-external", snap});
  ASSERT_EQ(a.exit_code(), 0) << a.output;
  // The restored logger writes into the restoring process's "log", not into the
  // object at the writer's address; the unstarted sender runs from its start.
  Outcome b = run_role({"thaw-external", snap});
  ASSERT_EQ(b.exit_code(), 0) << b.output;
  EXPECT_NE(b.output.find("sink total=31 entries=1 writer_sink entries=0"), std::string::npos) << b.output;
}

TEST_F(NativeCrossProcess, AnUnregisteredExternalIsRefusedByName) {
  const std::string snap = path("external.stasis");
  ASSERT_EQ(run_role({"freeze-external", snap}).exit_code(), 0);
  Outcome b = run_role({"thaw-external-unregistered", snap});
  EXPECT_EQ(b.exit_code(), 3) << b.output;
  EXPECT_NE(b.output.find("external 'log'"), std::string::npos) << b.output;
  EXPECT_NE(b.output.find("register_external(\"log\""), std::string::npos) << b.output;
}

TEST_F(NativeCrossProcess, RestoreWithAslrOnIsRefusedNamingTheLayout) {
  if (!std::string(STASIS_NATIVE_PERSIST_EMULATOR).empty()) {
    GTEST_SKIP() << "under qemu-user the guest layout is fixed whatever the host's ASLR";
  }
  const std::string snap = path("deep.stasis");
  ASSERT_EQ(run_role({"freeze-deep", snap, "10"}).exit_code(), 0);
  // This process runs without ASLR (main() relaunched it so), and children inherit
  // that: turn it back on for the child, and keep it from relaunching itself.
  Outcome b = run_role({"thaw-deep", snap, "42"}, {"STASIS_KEEP_ASLR=1"}, self_path(), [] {
    const int p = personality(0xffffffff);
    personality(static_cast<unsigned long>(p & ~ADDR_NO_RANDOMIZE));
  });
  EXPECT_EQ(b.exit_code(), 3) << b.output;
  EXPECT_NE(b.output.find("address-space randomization on"), std::string::npos) << b.output;
  EXPECT_NE(b.output.find("ensure_fixed_layout"), std::string::npos) << b.output;
}

TEST_F(NativeCrossProcess, RestoreByAnotherBuildIsRefusedNamingTheBuildId) {
  const std::string snap = path("deep.stasis");
  ASSERT_EQ(run_role({"freeze-deep", snap, "10"}).exit_code(), 0);
  // The same program built with one more byte of code: another build-id.
  Outcome b = run_role({"thaw-deep", snap, "42"}, {}, STASIS_NATIVE_PERSIST_OTHER_BUILD);
  EXPECT_EQ(b.exit_code(), 3) << b.output;
  EXPECT_NE(b.output.find("build-id"), std::string::npos) << b.output;
  EXPECT_NE(b.output.find("a different build"), std::string::npos) << b.output;
}

}  // namespace
}  // namespace stasis::test
