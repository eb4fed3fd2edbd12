// wakeup_test.cc — STASIS_SLEEP_UNTIL, switches into tasklets holding a value, and
// scheduler teardown while channels die with the tasklets that own them.
// Timers are checked by wake-up ORDER only, never by duration.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "stasis/stasis.h"
#include "test_frames.h"

namespace {

using namespace std::chrono_literals;
using stasis::Ctx;
using stasis::Step;
using stasis_test::RecvOne;

struct SleepUntil : stasis::Frame<SleepUntil> {
  stasis::Scheduler::Clock::time_point when{};
  std::vector<std::string>* log = nullptr;
  std::string tag;
  STASIS_FIELDS(tag)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_SLEEP_UNTIL(cx, when);
    log->push_back(tag);
    STASIS_END(cx);
  }
};

TEST(SchedulerWakeUp, SleepUntilWakesInDeadlineOrder) {
  stasis::Scheduler s;
  std::vector<std::string> log;
  // The order holds only if every sleeper reaches STASIS_SLEEP_UNTIL before its
  // deadline; one that starts late yields instead. Under qemu on a loaded machine a
  // first run can start 20 ms late, hence deadlines 200 ms apart.
  auto now = stasis::Scheduler::Clock::now();
  s.spawn(SleepUntil{.when = now + 600ms, .log = &log, .tag = "600"});
  s.spawn(SleepUntil{.when = now + 200ms, .log = &log, .tag = "200"});
  s.spawn(SleepUntil{.when = now + 400ms, .log = &log, .tag = "400"});
  s.spawn(SleepUntil{.when = now - 1s, .log = &log, .tag = "past"});  // a yield, not a sleep
  s.run();
  EXPECT_EQ(log, (std::vector<std::string>{"past", "200", "400", "600"}));
  EXPECT_EQ(s.pending_timers(), 0u);
  EXPECT_EQ(s.alive_count(), 0u);
}

struct SwitchInto : stasis::Frame<SwitchInto> {
  stasis::Tasklet* target = nullptr;
  int back = 0;
  STASIS_FIELDS(target, back)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_SWITCH(cx, *target, 99, back);
    STASIS_END(cx);
  }
};

TEST(SwitchPending, IntoAPausedTaskletHoldingAValueIsRefusedAndTheValueSurvives) {
  stasis::Scheduler s;
  stasis::Channel<int> ch({.name = "in"});
  auto receiver = s.spawn(RecvOne{.ch = &ch});
  EXPECT_THROW(s.run(), stasis::Deadlock);  // the receiver blocks on the channel
  ASSERT_TRUE(receiver->blocked());
  ch.send(5);                     // delivered into the waiting receiver
  receiver->remove();             // paused before it could take the value
  ASSERT_EQ(receiver->state(), stasis::TaskletState::kPaused);

  auto switcher = s.spawn(SwitchInto{.target = receiver.get()});
  s.run();
  ASSERT_TRUE(switcher->failed());
  try {
    switcher->rethrow_if_failed();
    FAIL() << "the switch should have been refused";
  } catch (const stasis::TaskletStateError& e) {
    EXPECT_NE(std::string(e.what()).find("has not taken yet"), std::string::npos) << e.what();
  }

  receiver->insert();
  s.run();
  EXPECT_EQ(receiver->result<int>(), 5);
}

}  // namespace

namespace {

// Owns a channel, spawns `waiters` receivers on it, then waits on it itself.
struct ChannelOwner : stasis::Frame<ChannelOwner> {
  int waiters = 0;
  int* receivers_destroyed = nullptr;
  stasis_test::Tracker tracker;
  std::unique_ptr<stasis::Channel<int>> ch = std::make_unique<stasis::Channel<int>>();
  int i = 0;
  int v = 0;
  STASIS_FIELDS(waiters, i, v)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (i = 0; i < waiters; ++i) {
      stasis_test::RecvOne r{.ch = ch.get()};
      r.tracker = stasis_test::Tracker(receivers_destroyed);
      cx.scheduler().spawn(std::move(r));
    }
    STASIS_RECEIVE(cx, *ch, v);
    STASIS_END(cx);
  }
};

TEST(SchedulerTeardown, KillsTaskletsWhoseChannelDiesWithAnotherTasklet) {
  int owners_destroyed = 0;
  int receivers_destroyed = 0;
  {
    stasis::Scheduler s;
    ChannelOwner owner{.waiters = 5, .receivers_destroyed = &receivers_destroyed};
    owner.tracker = stasis_test::Tracker(&owners_destroyed);
    s.spawn(std::move(owner));
    EXPECT_THROW(s.run(), stasis::Deadlock);  // the owner and its 5 receivers wait on its channel
    EXPECT_EQ(s.blocked_count(), 6u);
  }  // teardown kills the owner first (its channel dies, waking the receivers), then them
  EXPECT_EQ(owners_destroyed, 1);
  EXPECT_EQ(receivers_destroyed, 5);
}

}  // namespace
