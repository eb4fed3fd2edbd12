// native_overflow_test.cc — a stack overflow in a native tasklet hits the guard
// page and is reported with the tasklet's name and id (death tests: the process
// must die, loudly, instead of corrupting memory).
#include <gtest/gtest.h>

#include "native_test_support.h"

namespace stasis::test {
namespace {

[[gnu::noinline]] int runaway(int n) {
  volatile char pad[512];
  pad[0] = static_cast<char>(n);
  return runaway(n + 1) + pad[0];  // not a tail call: every level keeps its frame
}

using Overflow = NativeKinds;
STASIS_INSTANTIATE_NATIVE_KINDS(Overflow);

TEST_P(Overflow, ReportedWithTaskletNameAndId) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  StackKind kind = GetParam();
  EXPECT_DEATH(
      {
        Scheduler s;
        spawn_native(s, [] { this_tasklet::yield(); }, {.name = "bystander", .stack = kind});
        spawn_native(s, [] { return runaway(0); }, {.name = "recursive-descent", .stack = kind,
                                                      .stack_size = 64 * 1024});
        s.run();
      },
      "stack overflow in tasklet #2 'recursive-descent' \\((dedicated stack|sliced stack region)");
}

TEST(NativeOverflow, OrdinarySegfaultsAreNotReportedAsOverflows) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        Scheduler s;
        spawn_native(s, [] {
          volatile int* p = nullptr;
          *p = 1;
        }, {.name = "null-writer"});
        s.run();
      },
      ::testing::KilledBySignal(SIGSEGV), "^$");
}

}  // namespace
}  // namespace stasis::test
