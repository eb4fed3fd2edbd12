// native_test_support.h — shared by the native tasklet suites: the two stack kinds
// as a test parameter.
#ifndef STASIS_TESTS_NATIVE_SUPPORT_H_
#define STASIS_TESTS_NATIVE_SUPPORT_H_

#include <gtest/gtest.h>

#include <string>

#include "stasis/stasis.h"

namespace stasis::test {

// Fixture for tests that run once per stack kind.
class NativeKinds : public ::testing::TestWithParam<StackKind> {
 protected:
  NativeOptions opts(std::string name = {}, int priority = 0) const {
    return NativeOptions{.name = std::move(name), .priority = priority, .stack = GetParam()};
  }
};

inline std::string kind_name(const ::testing::TestParamInfo<StackKind>& info) {
  return info.param == StackKind::kSliced ? "Sliced" : "Dedicated";
}

#define STASIS_INSTANTIATE_NATIVE_KINDS(Suite) \
  INSTANTIATE_TEST_SUITE_P(Kinds, Suite, ::testing::Values(StackKind::kSliced, StackKind::kDedicated), kind_name)

}  // namespace stasis::test

#endif  // STASIS_TESTS_NATIVE_SUPPORT_H_
