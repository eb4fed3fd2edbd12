// wakeup_test.cc — STASIS_SLEEP_UNTIL and switches into tasklets holding a value.
// Timers are checked by wake-up ORDER only, never by duration.
#include <gtest/gtest.h>

#include <chrono>
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
  auto now = stasis::Scheduler::Clock::now();
  s.spawn(SleepUntil{.when = now + 60ms, .log = &log, .tag = "60"});
  s.spawn(SleepUntil{.when = now + 20ms, .log = &log, .tag = "20"});
  s.spawn(SleepUntil{.when = now + 40ms, .log = &log, .tag = "40"});
  s.spawn(SleepUntil{.when = now - 1s, .log = &log, .tag = "past"});  // a yield, not a sleep
  s.run();
  EXPECT_EQ(log, (std::vector<std::string>{"past", "20", "40", "60"}));
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
