// share_guard.h — test helper: an arena share that lives for one scope.
#ifndef STASIS_TESTS_ARENA_SHARE_GUARD_H_
#define STASIS_TESTS_ARENA_SHARE_GUARD_H_

#include "stasis/arena.h"

namespace arena_test {

// A share for the length of a test (destroyed with everything in it).
struct ShareGuard {
  stasis::arena::Share* s = stasis::arena::create_share();
  ShareGuard() = default;
  ShareGuard(const ShareGuard&) = delete;
  ShareGuard& operator=(const ShareGuard&) = delete;
  ~ShareGuard() { stasis::arena::destroy_share(s); }
};

}  // namespace arena_test

#endif  // STASIS_TESTS_ARENA_SHARE_GUARD_H_
