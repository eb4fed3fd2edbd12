// native_switch_to_test.cc — this_tasklet::switch_to between native tasklets:
// the direct stack-to-stack switch (NativeAccess::take_switch_target) and the
// cases where it must leave the decision to the scheduler loop (a higher
// priority runnable, switch hooks, a soft target, a budget, a pending value).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "native_test_support.h"

namespace stasis::test {
namespace {

using SwitchTo = NativeKinds;
STASIS_INSTANTIATE_NATIVE_KINDS(SwitchTo);

// A and B switch back and forth kRounds times, each bringing a value and
// checking the one it got; B is started by A's first switch. A kills B at the
// end (B waits in its switch); B's cleanup records that it was unwound.
TEST_P(SwitchTo, ManyRoundTripsCarryValuesBothWays) {
  constexpr int kRounds = 5000;
  Scheduler s;
  TaskletRef a, b;
  int a_seen = 0, b_seen = 0;
  bool b_unwound = false;
  bool order_ok = true;
  a = spawn_native(s, [&] {
    for (int i = 0; i < kRounds; ++i) {
      std::any back = this_tasklet::switch_to(*b, i);
      if (std::any_cast<int>(back) != -i) order_ok = false;
      ++a_seen;
    }
    b->kill();
  }, opts("a"));
  b = spawn_native(s, [&] {
    struct Unwound {
      bool& flag;
      ~Unwound() { flag = true; }
    } guard{b_unwound};
    // b was new at a's first switch: the value it brought waits in take_value().
    if (std::any_cast<int>(this_tasklet::take_value()) != 0) order_ok = false;
    if (this_tasklet::take_value().has_value()) order_ok = false;  // taken once
    for (int k = 0;; ++k) {
      ++b_seen;
      std::any back = this_tasklet::switch_to(*a, -k);
      if (std::any_cast<int>(back) != k + 1) order_ok = false;
    }
  }, opts("b"));
  b->remove();  // paused: only a switch starts it
  s.run();
  EXPECT_EQ(a_seen, kRounds);
  EXPECT_EQ(b_seen, kRounds);
  EXPECT_TRUE(order_ok);
  EXPECT_TRUE(b_unwound);
  EXPECT_EQ(a->state(), TaskletState::kFinished);
  EXPECT_EQ(b->state(), TaskletState::kKilled);
}

// A switch does not jump the queue past a higher priority: with H runnable at a
// higher priority, H runs before the switched-to tasklet.
TEST_P(SwitchTo, HigherPriorityRunnableRunsFirst) {
  Scheduler s;
  std::vector<std::string> log;
  TaskletRef a, b, h;
  a = spawn_native(s, [&] {
    this_tasklet::switch_to(*b);  // starts b (new)
    log.push_back("a back");
    h->insert();                  // h (priority 1) is now runnable
    this_tasklet::switch_to(*b);  // b waits in a switch: the loop must pick h first
    log.push_back("a end");
  }, opts("a"));
  b = spawn_native(s, [&] {
    log.push_back("b1");
    this_tasklet::switch_to(*a);
    log.push_back("b2");
    this_tasklet::switch_to(*a);
  }, opts("b"));
  h = spawn_native(s, [&] { log.push_back("h"); }, opts("h", 1));
  b->remove();
  h->remove();
  EXPECT_THROW(s.run(), Deadlock);  // b waits in its last switch forever
  EXPECT_EQ(log, (std::vector<std::string>{"b1", "a back", "h", "b2", "a end"}));
}

// With a switch hook installed every switch goes through the loop, which calls
// the hook for each tasklet it switches in.
TEST_P(SwitchTo, SwitchHooksSeeEverySwitch) {
  Scheduler s;
  std::vector<std::string> seen;
  s.add_switch_hook([&](Tasklet*, Tasklet* next) {
    if (next) seen.push_back(std::string(next->name()));
  });
  TaskletRef a, b;
  a = spawn_native(s, [&] {
    for (int i = 0; i < 3; ++i) this_tasklet::switch_to(*b);
    b->kill();
  }, opts("a"));
  b = spawn_native(s, [&] {
    for (;;) this_tasklet::switch_to(*a);
  }, opts("b"));
  b->remove();
  s.run();
  EXPECT_EQ(seen, (std::vector<std::string>{"a", "b", "a", "b", "a", "b", "a"}));
}

// A native tasklet switching to a soft tasklet that waits in a switch: the
// general path (the soft frame runs in the loop), values both ways.
struct SoftPartner : Frame<SoftPartner> {
  Tasklet* native = nullptr;
  std::vector<int>* got = nullptr;
  int i = 0;
  int v = 0;
  STASIS_FIELDS(i, v)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (i = 0; i < 3; ++i) {
      STASIS_SWITCH(cx, *native, i * 10, v);
      got->push_back(v);
    }
    STASIS_END(cx);
  }
};

TEST_P(SwitchTo, NativeAndSoftSwitchToEachOther) {
  Scheduler s;
  std::vector<int> soft_got, native_got;
  TaskletRef soft;
  TaskletRef native = spawn_native(s, [&] {
    native_got.push_back(std::any_cast<int>(this_tasklet::switch_to(*soft)));  // starts it
    for (int k = 1; k <= 2; ++k) native_got.push_back(std::any_cast<int>(this_tasklet::switch_to(*soft, 100 + k)));
    soft->kill();  // it waits in its last switch
  }, opts("native"));
  SoftPartner partner;
  partner.native = native.get();
  partner.got = &soft_got;
  soft = s.spawn(std::move(partner));
  soft->remove();
  s.run();
  EXPECT_EQ(native_got, (std::vector<int>{0, 10, 20}));
  EXPECT_EQ(soft_got, (std::vector<int>{101, 102}));
  EXPECT_EQ(soft->state(), TaskletState::kKilled);
}

// A value brought to a new tasklet and never taken blocks the next switch that
// brings one, with an error naming the tasklet (it is not overwritten); a switch
// that brings none goes ahead, and the tasklet's own switch_to returns it then.
TEST_P(SwitchTo, UntakenStartValueIsReportedNotOverwritten) {
  Scheduler s;
  TaskletRef a, b;
  std::string error;
  std::any first, second;
  a = spawn_native(s, [&] {
    this_tasklet::switch_to(*b, 1);  // starts b with 1, which b leaves
    try {
      this_tasklet::switch_to(*b, 2);
    } catch (const TaskletStateError& e) {
      error = e.what();
    }
    this_tasklet::switch_to(*b);     // no value: allowed
    this_tasklet::switch_to(*b, 3);  // b's slot is free again: this one reaches it
    b->kill();                       // b waits in its last switch
  }, opts("a"));
  b = spawn_native(s, [&] {
    first = this_tasklet::switch_to(*a);
    second = this_tasklet::switch_to(*a);
    this_tasklet::switch_to(*a);
  }, opts("b"));
  b->remove();
  s.run();
  EXPECT_NE(error.find("'b'"), std::string::npos) << error;
  EXPECT_NE(error.find("has not taken"), std::string::npos) << error;
  EXPECT_EQ(std::any_cast<int>(first), 1);
  EXPECT_EQ(std::any_cast<int>(second), 3);
}

// A budgeted run stops a chain of direct switches when the budget is spent,
// and the chain goes on where it stopped after the next run.
TEST_P(SwitchTo, BudgetPausesAChainOfDirectSwitches) {
  Scheduler s;
  int rounds = 0;
  TaskletRef a, b;
  a = spawn_native(s, [&] {
    for (int i = 0; i < 1000; ++i) {
      ++rounds;
      this_tasklet::switch_to(*b);
    }
    b->kill();
  }, opts("a"));
  b = spawn_native(s, [&] {
    for (;;) this_tasklet::switch_to(*a);
  }, opts("b"));
  b->remove();
  s.run(100);
  EXPECT_GT(rounds, 0);
  EXPECT_LT(rounds, 1000);
  while (a->alive()) {
    if (a->state() == TaskletState::kPaused) a->insert();
    if (b->state() == TaskletState::kPaused) b->insert();
    s.run(100);
  }
  EXPECT_EQ(rounds, 1000);
  EXPECT_EQ(b->state(), TaskletState::kKilled);
}

// An exception thrown into a tasklet waiting in a direct switch is raised at
// its switch_to; the other side goes on.
TEST_P(SwitchTo, ThrowIntoATaskletWaitingInASwitch) {
  Scheduler s;
  TaskletRef a, b;
  std::string caught;
  a = spawn_native(s, [&] {
    this_tasklet::switch_to(*b);
    b->throw_exception(std::make_exception_ptr(std::runtime_error("stop")));
  }, opts("a"));
  b = spawn_native(s, [&] {
    try {
      this_tasklet::switch_to(*a);
    } catch (const std::runtime_error& e) {
      caught = e.what();
    }
  }, opts("b"));
  b->remove();
  s.run();
  EXPECT_EQ(caught, "stop");
  EXPECT_EQ(a->state(), TaskletState::kFinished);
  EXPECT_EQ(b->state(), TaskletState::kFinished);
}

}  // namespace
}  // namespace stasis::test
