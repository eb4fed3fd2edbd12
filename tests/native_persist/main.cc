// main.cc — the native-persistence test binary: fixed layout first (the tests
// restore native stacks in other processes of this binary), then either a child
// role (workloads.h) or the test suite.
#include <gtest/gtest.h>

#include <cstring>

#include "stasis/persist/native.h"
#include "workloads.h"

int main(int argc, char** argv) {
  stasis::persist::ensure_fixed_layout(argc, argv);
  if (argc > 1 && std::strcmp(argv[1], "--role") == 0) return stasis::test::run_role(argc, argv);
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
