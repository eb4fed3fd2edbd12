// native_kill_test.cc — kill and throw unwind a native tasklet's C++ stack:
// destructors run, exceptions land at the suspension point, other tasklets go on.
#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "native_test_support.h"

namespace stasis::test {
namespace {

using Unwinding = NativeKinds;
STASIS_INSTANTIATE_NATIVE_KINDS(Unwinding);

// Records its destruction.
struct Guard {
  std::vector<std::string>* log;
  std::string name;
  ~Guard() { log->push_back("~" + name); }
};

void nest(int depth, std::vector<std::string>& log, Channel<int>& ch) {
  Guard g{&log, "level" + std::to_string(depth)};
  if (depth == 0) {
    ch.receive();
    log.push_back("not reached");
    return;
  }
  nest(depth - 1, log, ch);
}

TEST_P(Unwinding, KillRunsDestructorsInnermostFirst) {
  Scheduler s;
  Channel<int> ch;
  std::vector<std::string> log;
  auto t = spawn_native(s, [&] {
    Guard outer{&log, "outer"};
    nest(3, log, ch);
  }, opts("victim"));
  s.run_until([&] { return t->blocked(); });
  ASSERT_TRUE(t->blocked());
  EXPECT_EQ(ch.balance(), -1);
  t->kill();
  EXPECT_EQ(t->state(), TaskletState::kKilled);
  EXPECT_EQ(ch.balance(), 0);
  EXPECT_EQ(log, (std::vector<std::string>{"~level0", "~level1", "~level2", "~level3", "~outer"}));
}

TEST_P(Unwinding, KillFromAnotherNativeTasklet) {
  Scheduler s;
  Channel<int> ch;
  std::vector<std::string> log;
  auto victim = spawn_native(s, [&] {
    Guard g{&log, "victim"};
    ch.receive();
  }, opts("victim"));
  // The killer has the other stack kind, so with both parameters every mixed
  // pairing is covered (SlicedKillerOfSlicedVictim covers the same-kind one).
  spawn_native(s, [&] {
    Guard g{&log, "killer"};
    victim->kill();
    log.push_back("killed");
  }, {.stack = GetParam() == StackKind::kSliced ? StackKind::kDedicated : StackKind::kSliced});
  spawn_native(s, [&] {
    Guard g{&log, "same-kind killer"};
    this_tasklet::yield();
  }, opts());
  s.run();
  EXPECT_EQ(victim->state(), TaskletState::kKilled);
  ASSERT_GE(log.size(), 3u);
  EXPECT_EQ(log[0], "~victim");
  EXPECT_EQ(log[1], "killed");
}

TEST_P(Unwinding, SlicedKillerOfSlicedVictim) {
  // Both on the shared region: the killer asks its resumer to run the victim.
  Scheduler s;
  Channel<int> ch;
  std::vector<std::string> log;
  auto victim = spawn_native(s, [&] {
    Guard g{&log, "victim"};
    char pad[512] = {1};
    ch.receive();
    log.push_back(std::to_string(pad[0]));
  }, {.stack = StackKind::kSliced});
  auto killer = spawn_native(s, [&] {
    int marker = 12345;
    char pad[2048] = {2};
    victim->kill();
    log.push_back("killer intact: " + std::to_string(marker) + " " + std::to_string(pad[0]));
  }, opts());
  s.run();
  EXPECT_EQ(log, (std::vector<std::string>{"~victim", "killer intact: 12345 2"}));
  EXPECT_EQ(killer->state(), TaskletState::kFinished);
}

TEST_P(Unwinding, ThrowLandsAtSuspensionPointAndCanBeCaught) {
  Scheduler s;
  Channel<int> ch;
  std::vector<std::string> log;
  auto t = spawn_native(s, [&] {
    try {
      ch.receive();
    } catch (const std::runtime_error& e) {
      log.push_back(std::string("caught ") + e.what());
    }
    return ch.receive();  // blocks again; a value comes later
  }, opts());
  s.run_until([&] { return t->blocked(); });
  t->raise(std::runtime_error("wake up"));
  EXPECT_EQ(ch.balance(), 0);  // it left the channel
  spawn_native(s, [&] { ch.send(9); }, opts());
  s.run();
  EXPECT_EQ(log, (std::vector<std::string>{"caught wake up"}));
  EXPECT_EQ(t->result<int>(), 9);
}

TEST_P(Unwinding, UncaughtExceptionEndsTaskletWithIt) {
  Scheduler s;
  std::vector<std::string> log;
  auto t = spawn_native(s, [&]() -> int {
    Guard g{&log, "frame"};
    this_tasklet::yield();
    throw std::logic_error("broken invariant");
  }, opts());
  auto other = spawn_native(s, [] { return 1; }, opts());
  s.run();
  EXPECT_TRUE(t->failed());
  EXPECT_THROW(t->rethrow_if_failed(), std::logic_error);
  EXPECT_EQ(log, (std::vector<std::string>{"~frame"}));
  EXPECT_EQ(other->result<int>(), 1);
}

TEST_P(Unwinding, SwitchingInsideCatchBlockKeepsEachTaskletsException) {
  // Each tasklet blocks while handling its own exception; `throw;` afterwards must
  // rethrow its own, not the other's (the C++ runtime's per-thread state).
  Scheduler s;
  std::vector<std::string> got;
  for (const char* name : {"first", "second"}) {
    spawn_native(s, [&got, name] {
      try {
        try {
          throw std::runtime_error(name);
        } catch (...) {
          this_tasklet::yield();
          this_tasklet::yield();
          throw;
        }
      } catch (const std::runtime_error& e) {
        got.push_back(e.what());
      }
    }, opts());
  }
  s.run();
  EXPECT_EQ(got, (std::vector<std::string>{"first", "second"}));
  EXPECT_EQ(std::uncaught_exceptions(), 0);
}

TEST_P(Unwinding, SwallowedTaskletExitCannotBlockAgain) {
  Scheduler s;
  Channel<int> ch;
  std::vector<std::string> log;
  auto t = spawn_native(s, [&] {
    try {
      ch.receive();
    } catch (const TaskletExit&) {
      log.push_back("exit caught");
    }
    try {
      ch.receive();  // a killed tasklet may not block again
    } catch (const TaskletExit&) {
      log.push_back("exit again");
      throw;
    }
  }, opts());
  s.run_until([&] { return t->blocked(); });
  t->kill();
  EXPECT_EQ(t->state(), TaskletState::kKilled);
  EXPECT_EQ(ch.balance(), 0);
  EXPECT_EQ(log, (std::vector<std::string>{"exit caught", "exit again"}));
}

TEST_P(Unwinding, SchedulerDestructionUnwindsBlockedNativeTasklets) {
  std::vector<std::string> log;
  {
    Scheduler s;
    Channel<int> ch;
    for (int i = 0; i < 3; ++i) {
      spawn_native(s, [&log, &ch, i] {
        Guard g{&log, std::to_string(i)};
        ch.receive();
      }, opts());
    }
    EXPECT_THROW(s.run(), Deadlock);
    // The channel dies first (declared after s): its waiters get ChannelDestroyed
    // at their next run; the scheduler then kills them.
  }
  EXPECT_EQ(log.size(), 3u);
}

TEST_P(Unwinding, KillBeforeStartRunsNothing) {
  Scheduler s;
  bool ran = false;
  auto t = spawn_native(s, [&] { ran = true; }, opts());
  t->kill();
  s.run();
  EXPECT_FALSE(ran);
  EXPECT_EQ(t->state(), TaskletState::kKilled);
}

}  // namespace
}  // namespace stasis::test
