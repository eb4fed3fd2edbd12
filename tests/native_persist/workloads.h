// workloads.h — the native tasklets the native-persistence tests freeze, and the
// roles a test process plays when the tests run it as a child.
//
// A role is `<test binary> --role NAME ARGS...`: main() runs it instead of the
// test suite, prints what the parent checks, and exits (0: success).
#ifndef STASIS_TESTS_NATIVE_PERSIST_WORKLOADS_H_
#define STASIS_TESTS_NATIVE_PERSIST_WORKLOADS_H_

#include <cstdint>
#include <string>

#include "stasis/stasis.h"

namespace stasis::test {

// Recursion `depth` calls deep, each level holding a std::vector, a std::string
// and a std::map (in the tasklet's arena share); the innermost level receives one
// value from `in`; the result folds every level's locals with it.
std::int64_t deep_tasklet(int depth, Channel<std::int64_t>& in);

// What deep_tasklet returns for `depth` and the received `value`, computed plainly.
std::int64_t deep_expected(int depth, std::int64_t value);

// Runs the role named argv[2] (argv[1] == "--role"); returns the exit code.
int run_role(int argc, char** argv);

}  // namespace stasis::test

#endif  // STASIS_TESTS_NATIVE_PERSIST_WORKLOADS_H_
