// recursion_test.cc — soft recursion: depth bounded by memory only, exceptions
// unwinding frame by frame, and running out of memory as an ordinary error.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "stasis/stasis.h"
#include "test_support.h"

using namespace stasis;
using stasis_test::holds;
using stasis_test::Probe;
using stasis_test::Tracker;
using stasis_test::what_of;

namespace {

// sum(1..n) by n nested calls: SumDown(n) = n + SumDown(n - 1).
struct SumDown : Frame<SumDown> {
  long long n = 0;
  long long sub = 0;
  std::size_t* deepest_depth = nullptr;
  STASIS_FIELDS(n, sub)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    if (n == 0) {
      if (deepest_depth) *deepest_depth = cx.tasklet().frame_depth();
      STASIS_RETURN(cx, 0LL);
    }
    STASIS_CALL(cx, sub, SumDown{.n = n - 1, .deepest_depth = deepest_depth});
    STASIS_RETURN(cx, n + sub);
    STASIS_END(cx);
  }
};

// Calls itself `level` times, then the innermost throws. Every frame carries a
// Tracker (destruction count) and a Probe (destruction order, tagged with level).
struct Thrower : Frame<Thrower> {
  int level = 0;
  int r = 0;
  int* destroyed = nullptr;
  std::vector<int>* order = nullptr;
  bool kill_instead = false;  // the innermost kills its own tasklet instead of throwing
  Tracker tracker;
  Probe probe;
  STASIS_FIELDS(level, r)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    if (level == 0) {
      if (kill_instead) cx.tasklet().kill();
      throw std::runtime_error("boom at the bottom");
    }
    STASIS_CALL(cx, r,
                Thrower{.level = level - 1, .destroyed = destroyed, .order = order, .kill_instead = kill_instead,
                        .tracker = Tracker(destroyed), .probe = Probe(order, level - 1)});
    STASIS_RETURN(cx, r + 1);
    STASIS_END(cx);
  }
};

Thrower make_thrower(int level, int* destroyed, std::vector<int>* order, bool kill_instead = false) {
  return Thrower{.level = level, .destroyed = destroyed, .order = order, .kill_instead = kill_instead,
                 .tracker = Tracker(destroyed), .probe = Probe(order, level)};
}

// Catches a 3-level-deep exception, records what it saw, then goes on.
struct Catcher : Frame<Catcher> {
  int r = -1;
  std::exception_ptr err;
  int* destroyed = nullptr;
  std::vector<int>* order = nullptr;
  int destroyed_at_catch = -1;
  long long after = 0;
  STASIS_FIELDS(r, destroyed_at_catch, after)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    // Thrower(2) -> Thrower(1) -> Thrower(0) throws: three frames below this one.
    STASIS_CALL_CATCH(cx, r, err, make_thrower(2, destroyed, order));
    destroyed_at_catch = *destroyed;
    // The frame goes on normally after catching: a plain call works.
    STASIS_CALL(cx, after, SumDown{.n = 10});
    STASIS_RETURN(cx, after);
    STASIS_END(cx);
  }
};

// Catches in the middle: Root -> Middle (catches) -> Thrower(1) -> Thrower(0).
struct Middle : Frame<Middle> {
  int r = -1;
  std::exception_ptr err;
  int* destroyed = nullptr;
  Tracker tracker;
  STASIS_FIELDS(r)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_CALL_CATCH(cx, r, err, make_thrower(1, destroyed, nullptr));
    STASIS_RETURN(cx, err ? 1000 + *destroyed : r);
    STASIS_END(cx);
  }
};
struct MiddleRoot : Frame<MiddleRoot> {
  int r = 0;
  int* destroyed = nullptr;
  STASIS_FIELDS(r)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_CALL(cx, r, Middle{.destroyed = destroyed, .tracker = Tracker(destroyed)});
    STASIS_RETURN(cx, r);
    STASIS_END(cx);
  }
};

// No frame catches: the exception ends the tasklet.
struct Uncaught : Frame<Uncaught> {
  int r = 0;
  int* destroyed = nullptr;
  std::vector<int>* order = nullptr;
  bool kill_instead = false;
  Probe probe;
  STASIS_FIELDS(r)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_CALL(cx, r, make_thrower(2, destroyed, order, kill_instead));
    STASIS_RETURN(cx, r);
    STASIS_END(cx);
  }
};

// Catches with STASIS_CALL_CATCH around a child that kills its own tasklet.
struct KillCatcher : Frame<KillCatcher> {
  int r = -1;
  std::exception_ptr err;
  int* destroyed = nullptr;
  bool* went_on = nullptr;
  Tracker tracker;
  STASIS_FIELDS(r)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_CALL_CATCH(cx, r, err, make_thrower(2, destroyed, nullptr, /*kill_instead=*/true));
    *went_on = true;  // must not happen: TaskletExit is never caught
    STASIS_END(cx);
  }
};

// A catching call site catches only once: the next plain call's exception passes.
struct CatchOnceThenFail : Frame<CatchOnceThenFail> {
  int r = -1;
  std::exception_ptr err;
  int* destroyed = nullptr;
  bool* caught_first = nullptr;
  bool* reached_end = nullptr;
  STASIS_FIELDS(r)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_TRY_CALL(cx, err, make_thrower(0, destroyed, nullptr));
    *caught_first = err != nullptr;
    STASIS_CALL(cx, r, make_thrower(1, destroyed, nullptr));
    *reached_end = true;
    STASIS_END(cx);
  }
};

// Throws a non-std exception in its own body.
struct ThrowsInt : Frame<ThrowsInt> {
  int unused = 0;
  STASIS_FIELDS(unused)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    throw 42;
    STASIS_END(cx);
  }
};
struct TryCallCatchesAnything : Frame<TryCallCatchesAnything> {
  std::exception_ptr err;
  int value = 0;
  STASIS_FIELDS(value)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_TRY_CALL(cx, err, ThrowsInt{});
    try {
      std::rethrow_exception(err);
    } catch (int v) {
      value = v;
    }
    STASIS_RETURN(cx, value);
    STASIS_END(cx);
  }
};

// Records what it saw right after catching.
struct Inspect : Frame<Inspect> {
  int r = -1;
  std::exception_ptr err;
  int* destroyed = nullptr;
  std::string* message = nullptr;
  int* r_after = nullptr;
  int* destroyed_at_catch = nullptr;
  STASIS_FIELDS(r)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_CALL_CATCH(cx, r, err, make_thrower(2, destroyed, nullptr));
    *message = what_of(err);
    *r_after = r;
    *destroyed_at_catch = *destroyed;
    STASIS_END(cx);
  }
};
// Recurses until memory runs out.
struct Bottomless : Frame<Bottomless> {
  long long n = 0;
  long long sub = 0;
  long long* deepest = nullptr;
  STASIS_FIELDS(n, sub)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    *deepest = n;
    STASIS_CALL(cx, sub, Bottomless{.n = n + 1, .deepest = deepest});
    STASIS_RETURN(cx, sub);
    STASIS_END(cx);
  }
};

}  // namespace

TEST(Recursion, MillionFramesDeepSumsCorrectly) {
  constexpr long long kDepth = 1'000'000;
  Scheduler s;
  std::size_t deepest = 0;
  auto t = s.spawn(SumDown{.n = kDepth, .deepest_depth = &deepest});
  const std::uint64_t steps_before = s.steps();
  s.run();
  EXPECT_EQ(t->result<long long>(), kDepth * (kDepth + 1) / 2);
  // SumDown(1'000'000) .. SumDown(0) were all on the frame chain at the bottom.
  EXPECT_EQ(deepest, static_cast<std::size_t>(kDepth + 1));
  // Each of the kDepth calling frames ran twice (call, resume), the leaf once.
  EXPECT_EQ(s.steps() - steps_before, static_cast<std::uint64_t>(2 * kDepth + 1));
  EXPECT_EQ(t->frame_depth(), 0u);
  EXPECT_EQ(t->top_frame(), nullptr);
}

TEST(Recursion, FrameDepthSeenFromOutsideWhileSuspendedDeep) {
  // Depth observed by the run(budget) watchdog: the chain stays on the heap while
  // the tasklet is paused.
  Scheduler s;
  auto t = s.spawn(SumDown{.n = 1000});
  // 1 + k steps: the root and k-1 calls have pushed frames, preempted at a call.
  TaskletRef stopped = s.run(500);
  ASSERT_TRUE(stopped);
  EXPECT_EQ(stopped, t);
  EXPECT_EQ(t->state(), TaskletState::kPaused);
  EXPECT_EQ(t->frame_depth(), 501u);
  EXPECT_STREQ(t->top_frame()->type_name(), typeid(SumDown).name());
  t->insert();
  EXPECT_FALSE(s.run(UINT64_MAX));
  EXPECT_EQ(t->result<long long>(), 1000LL * 1001 / 2);
}

TEST(Recursion, CallCatchCatchesExceptionThreeLevelsDown) {
  Scheduler s;
  int destroyed = 0;
  std::vector<int> order;
  auto t = s.spawn(Catcher{.destroyed = &destroyed, .order = &order});
  s.run();
  ASSERT_EQ(t->state(), TaskletState::kFinished) << what_of(t->exception());
  EXPECT_EQ(t->result<long long>(), 55);  // went on after catching: SumDown(10)
  // All three frames below the catcher were destroyed before it resumed,
  // innermost first.
  EXPECT_EQ(destroyed, 3);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
}

TEST(Recursion, CaughtExceptionAndUnchangedDestination) {
  Scheduler s;
  int destroyed = 0, r_after = 0, at_catch = 0;
  std::string message;
  auto t = s.spawn(Inspect{.destroyed = &destroyed, .message = &message, .r_after = &r_after,
                           .destroyed_at_catch = &at_catch});
  s.run();
  EXPECT_EQ(t->state(), TaskletState::kFinished);
  EXPECT_FALSE(t->failed());
  EXPECT_EQ(message, "boom at the bottom");
  EXPECT_EQ(r_after, -1);  // dest untouched
  EXPECT_EQ(at_catch, 3);
}

TEST(Recursion, CatchInTheMiddleReturnsNormallyToItsCaller) {
  Scheduler s;
  int destroyed = 0;
  auto t = s.spawn(MiddleRoot{.destroyed = &destroyed});
  s.run();
  // Middle caught after Thrower(1) and Thrower(0) were destroyed (2), then
  // returned 1000 + 2; Middle itself was destroyed on return.
  EXPECT_EQ(t->result<int>(), 1002);
  EXPECT_EQ(destroyed, 3);
}

TEST(Recursion, UncaughtExceptionEndsTaskletAndResultRethrows) {
  Scheduler s;
  int destroyed = 0;
  std::vector<int> order;
  auto t = s.spawn(Uncaught{.destroyed = &destroyed, .order = &order, .probe = Probe(&order, 99)});
  s.run();  // observed (we hold the ref): run() does not throw
  EXPECT_EQ(t->state(), TaskletState::kFinished);
  EXPECT_FALSE(t->alive());
  EXPECT_TRUE(t->failed());
  ASSERT_TRUE(t->exception());
  EXPECT_TRUE(holds<std::runtime_error>(t->exception()));
  EXPECT_EQ(what_of(t->exception()), "boom at the bottom");
  try {
    t->result<int>();
    FAIL() << "result() did not rethrow";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "boom at the bottom");
  }
  EXPECT_THROW(t->rethrow_if_failed(), std::runtime_error);
  // Every frame unwound, innermost first, the root last.
  EXPECT_EQ(destroyed, 3);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 99}));
  EXPECT_EQ(t->top_frame(), nullptr);
}

TEST(Recursion, TaskletExitIsNeverCaughtByCallCatch) {
  Scheduler s;
  int destroyed = 0;
  bool went_on = false;
  auto t = s.spawn(KillCatcher{.destroyed = &destroyed, .went_on = &went_on, .tracker = Tracker(&destroyed)});
  s.run();
  EXPECT_FALSE(went_on);
  EXPECT_EQ(t->state(), TaskletState::kKilled);
  EXPECT_EQ(t->exception(), nullptr);
  EXPECT_EQ(destroyed, 4);  // three throwers + the catcher
  EXPECT_THROW(t->result<int>(), TaskletStateError);
}

TEST(Recursion, CatchingCallSiteCatchesOnlyItsOwnCall) {
  Scheduler s;
  int destroyed = 0;
  bool caught_first = false, reached_end = false;
  auto t = s.spawn(CatchOnceThenFail{.destroyed = &destroyed, .caught_first = &caught_first,
                                     .reached_end = &reached_end});
  s.run();
  EXPECT_TRUE(caught_first);
  EXPECT_FALSE(reached_end);
  EXPECT_TRUE(t->failed());
  EXPECT_THROW(t->result<void>(), std::runtime_error);
  EXPECT_EQ(destroyed, 3);  // the first Thrower(0), then Thrower(1) and Thrower(0)
}

TEST(Recursion, TryCallCatchesNonStdExceptions) {
  Scheduler s;
  auto t = s.spawn(TryCallCatchesAnything{});
  s.run();
  EXPECT_EQ(t->result<int>(), 42);
}

namespace {

// Caps the address space at what is mapped now plus `headroom` bytes.
bool limit_address_space(std::size_t headroom) {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return false;
  unsigned long pages = 0;
  int got = std::fscanf(f, "%lu", &pages);
  std::fclose(f);
  if (got != 1) return false;
  rlimit rl{};
  if (getrlimit(RLIMIT_AS, &rl) != 0) return false;
  rlim_t want = static_cast<rlim_t>(pages) * static_cast<rlim_t>(sysconf(_SC_PAGESIZE)) + headroom;
  if (rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max) want = rl.rlim_max;
  rl.rlim_cur = want;
  return setrlimit(RLIMIT_AS, &rl) == 0;
}

[[noreturn]] void out_of_memory_child() {
  CHILD_CHECK(limit_address_space(std::size_t{512} << 20));
  Scheduler s;
  long long deepest = 0;
  auto t = s.spawn(Bottomless{.deepest = &deepest});
  try {
    s.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "run() threw: %s\n", e.what());
    std::exit(2);
  }
  CHILD_CHECK(t->state() == TaskletState::kFinished);
  CHILD_CHECK(t->failed());
  CHILD_CHECK(holds<std::bad_alloc>(t->exception()));
  bool rethrown = false;
  try {
    t->result<long long>();
  } catch (const std::bad_alloc&) {
    rethrown = true;
  }
  CHILD_CHECK(rethrown);
  CHILD_CHECK(t->top_frame() == nullptr);  // every frame was unwound and freed
  CHILD_CHECK(deepest > 100'000);          // far deeper than any C stack would allow
  // The memory came back: the scheduler keeps working.
  auto again = s.spawn(SumDown{.n = 1000});
  s.run();
  CHILD_CHECK(again->result<long long>() == 500'500);
  std::exit(0);
}

}  // namespace

TEST(Recursion, OutOfMemoryEndsTaskletWithBadAlloc) {
#if defined(__SANITIZE_ADDRESS__)
  GTEST_SKIP() << "AddressSanitizer reserves terabytes of shadow memory; RLIMIT_AS cannot be applied";
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
  GTEST_SKIP() << "AddressSanitizer reserves terabytes of shadow memory; RLIMIT_AS cannot be applied";
#endif
#endif
  if (stasis_test::UnderQemu()) {
    GTEST_SKIP() << "qemu-user accepts setrlimit(RLIMIT_AS) but does not apply it (it would cap qemu itself); "
                    "the child would exhaust the host's memory instead of hitting bad_alloc";
  }
  stasis_test::UseCleanDeathTestChild();
  EXPECT_EXIT(out_of_memory_child(), ::testing::ExitedWithCode(0), "");
}
