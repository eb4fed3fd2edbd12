// native_overflow_test.cc — a stack overflow in a native tasklet hits the guard
// page and is reported with the tasklet's name and id (death tests: the process
// must die, loudly, instead of corrupting memory). The death-test child is a
// fresh exec of the test binary natively, a plain fork under qemu-user (which
// cannot exec an aarch64 binary): UseCleanDeathTestChild.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mman.h>

#include "native_test_support.h"
#include "runtime/test_support.h"

namespace stasis::test {
namespace {

[[gnu::noinline]] int runaway(int n) {
  volatile char pad[512];
  pad[0] = static_cast<char>(n);
  if (n == -1) return 0;  // never: the stack runs out first
  return runaway(n + 1) + pad[0];  // not a tail call: every level keeps its frame
}

using Overflow = NativeKinds;
STASIS_INSTANTIATE_NATIVE_KINDS(Overflow);

TEST_P(Overflow, ReportedWithTaskletNameAndId) {
  stasis_test::UseCleanDeathTestChild();
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
  // A fault outside any guard goes to the previous handler (the default action, or
  // a sanitizer's report) and is not called an overflow.
  EXPECT_DEATH(
      {
        void* page = mmap(nullptr, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        Scheduler s;
        spawn_native(s, [page] { *static_cast<volatile int*>(page) = 1; }, {.name = "wild-writer"});
        s.run();
      },
      ::testing::Not(::testing::HasSubstr("stack overflow")));
}

}  // namespace
}  // namespace stasis::test
