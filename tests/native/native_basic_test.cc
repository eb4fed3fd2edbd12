// native_basic_test.cc — spawning native tasklets, results, yielding, priorities,
// sleeping, switch hooks, the run budget, greenlet-style switch_to.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "native_test_support.h"

namespace stasis::test {
namespace {

// A soft frame that records itself and yields, three times.
struct YieldingSoft : Frame<YieldingSoft> {
  std::vector<char>* order = nullptr;
  int i = 0;
  STASIS_FIELDS(i)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (i = 0; i < 3; ++i) {
      order->push_back('s');
      STASIS_SCHEDULE(cx);
    }
    STASIS_END(cx);
  }
};

using Basic = NativeKinds;
STASIS_INSTANTIATE_NATIVE_KINDS(Basic);

TEST_P(Basic, RunsToCompletionWithResult) {
  Scheduler s;
  auto t = spawn_native(s, [] { return std::string("done"); }, opts("worker"));
  EXPECT_TRUE(t->native());
  EXPECT_EQ(t->state(), TaskletState::kNew);
  EXPECT_EQ(t->name(), "worker");
  s.run();
  EXPECT_EQ(t->state(), TaskletState::kFinished);
  EXPECT_EQ(t->result<std::string>(), "done");
}

TEST_P(Basic, VoidCallableAndCapturedState) {
  Scheduler s;
  int counter = 0;
  auto t = spawn_native(s, [&counter] { counter += 41; ++counter; }, opts());
  s.run();
  EXPECT_EQ(counter, 42);
  EXPECT_NO_THROW(t->result<void>());
}

TEST_P(Basic, YieldInterleavesRoundRobin) {
  Scheduler s;
  std::vector<std::string> log;
  for (const char* name : {"a", "b", "c"}) {
    spawn_native(s, [&log, name] {
      for (int i = 0; i < 3; ++i) {
        log.push_back(std::string(name) + std::to_string(i));
        this_tasklet::yield();
      }
    }, opts(name));
  }
  s.run();
  EXPECT_EQ(log, (std::vector<std::string>{"a0", "b0", "c0", "a1", "b1", "c1", "a2", "b2", "c2"}));
}

TEST_P(Basic, LocalsSurviveSwitchesAmongManyTasklets) {
  // Each tasklet keeps a stack array and pointers into it across yields; with
  // slicing the array lives in the shared region and is swapped in and out.
  Scheduler s;
  constexpr int kTasklets = 50;
  std::vector<long> sums(kTasklets);
  for (int k = 0; k < kTasklets; ++k) {
    spawn_native(s, [k, &sums] {
      int local[64];
      int* p = &local[10];
      for (int i = 0; i < 64; ++i) local[i] = k * 1000 + i;
      long sum = 0;
      for (int round = 0; round < 20; ++round) {
        this_tasklet::yield();
        for (int i = 0; i < 64; ++i) sum += local[i];
        *p += 1;
      }
      sums[k] = sum + *p;
    }, opts());
  }
  s.run();
  for (int k = 0; k < kTasklets; ++k) {
    long expected = 0;
    for (int round = 0; round < 20; ++round) {
      for (int i = 0; i < 64; ++i) expected += k * 1000 + i + (i == 10 ? round : 0);
    }
    expected += k * 1000 + 10 + 20;
    EXPECT_EQ(sums[k], expected) << "tasklet " << k;
  }
}

TEST_P(Basic, PrioritiesRunHigherFirst) {
  Scheduler s;
  std::vector<int> order;
  spawn_native(s, [&] { order.push_back(0); }, opts("low", 0));
  spawn_native(s, [&] { order.push_back(5); }, opts("high", 5));
  spawn_native(s, [&] { order.push_back(-3); }, opts("lowest", -3));
  s.run();
  EXPECT_EQ(order, (std::vector<int>{5, 0, -3}));
}

TEST_P(Basic, SleepWakesInDeadlineOrder) {
  // Deadlines from one base time: the order under test does not depend on how
  // long the machine takes to start each tasklet.
  Scheduler s;
  std::vector<int> order;
  const auto base = Scheduler::Clock::now();
  spawn_native(s, [&] {
    this_tasklet::sleep_until(base + std::chrono::milliseconds(20));
    order.push_back(2);
  }, opts());
  spawn_native(s, [&] {
    this_tasklet::sleep_until(base + std::chrono::milliseconds(5));
    order.push_back(1);
  }, opts());
  spawn_native(s, [&] { order.push_back(0); }, opts());
  s.run();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2}));
}

TEST_P(Basic, SleeperWakesWhileOthersOnlyYield) {
  // Yielding native tasklets switch to one another directly, past the loop; the
  // timers must still be checked, or the sleeper would never run.
  Scheduler s;
  bool stop = false;
  long spins = 0;
  for (int k = 0; k < 2; ++k) {
    spawn_native(s, [&] {
      while (!stop) {
        ++spins;
        this_tasklet::yield();
      }
    }, opts());
  }
  spawn_native(s, [&] {
    this_tasklet::sleep_for(std::chrono::milliseconds(5));
    stop = true;
  }, opts("sleeper"));
  s.run();
  EXPECT_TRUE(stop);
  EXPECT_GT(spins, 0);
}

TEST_P(Basic, SoftAndNativeTaskletsAlternateFairly) {
  // Direct switches between native tasklets must not starve a soft one.
  Scheduler s;
  std::vector<char> order;
  for (char c : {'a', 'b'}) {
    spawn_native(s, [&order, c] {
      for (int i = 0; i < 3; ++i) {
        order.push_back(c);
        this_tasklet::yield();
      }
    }, opts());
  }
  s.spawn(YieldingSoft{.order = &order});
  s.run();
  EXPECT_EQ(std::string(order.begin(), order.end()), "absabsabs");
}

TEST_P(Basic, SwitchHooksSeeNativeTasklets) {
  Scheduler s;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> seen;
  s.add_switch_hook([&](Tasklet* prev, Tasklet* next) { seen.emplace_back(prev ? prev->id() : 0, next ? next->id() : 0); });
  auto a = spawn_native(s, [] { this_tasklet::yield(); }, opts());
  auto b = spawn_native(s, [] {}, opts());
  s.run();
  std::vector<std::pair<std::uint64_t, std::uint64_t>> want{
      {0, a->id()}, {a->id(), b->id()}, {b->id(), a->id()}, {a->id(), 0}};
  EXPECT_EQ(seen, want);
}

TEST_P(Basic, RunBudgetPausesAtPreemptionPoint) {
  Scheduler s;
  int progress = 0;
  auto t = spawn_native(s, [&] {
    for (int i = 0; i < 100; ++i) {
      ++progress;
      this_tasklet::preemption_point();
    }
    return progress;
  }, opts());
  TaskletRef interrupted = s.run(10);
  ASSERT_TRUE(interrupted);
  EXPECT_EQ(interrupted.get(), t.get());
  EXPECT_EQ(t->state(), TaskletState::kPaused);
  EXPECT_LT(progress, 100);
  EXPECT_GT(progress, 0);
  t->insert();
  s.run();
  EXPECT_EQ(t->result<int>(), 100);
}

TEST_P(Basic, SwitchToTransfersValues) {
  Scheduler s;
  TaskletRef b;
  std::vector<std::string> log;
  auto a = spawn_native(s, [&] {
    std::any back = this_tasklet::switch_to(*b, std::string("ping"));
    log.push_back("a got " + std::any_cast<std::string>(back));
  }, opts("a"));
  b = spawn_native(s, [&] {
    // b was new: the value a switched to it waits in take_value().
    log.push_back("b started with " + std::any_cast<std::string>(this_tasklet::take_value()));
    this_tasklet::switch_to(*a, std::string("pong"));
  }, opts("b"));
  b->remove();  // paused: only a switch starts it
  // b waits in its switch forever once a has finished: the scheduler says so.
  EXPECT_THROW(s.run(), Deadlock);
  EXPECT_EQ(log, (std::vector<std::string>{"b started with ping", "a got pong"}));
  EXPECT_EQ(a->state(), TaskletState::kFinished);
  EXPECT_EQ(b->state(), TaskletState::kBlocked);
  EXPECT_EQ(b->wait_kind(), WaitKind::kSwitch);
}

TEST(NativeBasic, BlockingCallsOutsideNativeTaskletsRaiseCannotBlock) {
  Scheduler s;
  EXPECT_THROW(this_tasklet::yield(), CannotBlock);
  EXPECT_THROW(this_tasklet::sleep_for(std::chrono::milliseconds(1)), CannotBlock);
  Channel<int> ch;
  EXPECT_THROW(ch.receive(), CannotBlock);
  EXPECT_FALSE(this_tasklet::is_native());
  bool inside = false;
  spawn_native(s, [&] { inside = this_tasklet::is_native(); });
  s.run();
  EXPECT_TRUE(inside);
}

TEST(NativeBasic, ThousandsOfSlicedAndDedicatedTaskletsTogether) {
  Scheduler s;
  Channel<int> results;
  long total = 0;
  constexpr int kEach = 2000;
  for (int i = 0; i < kEach; ++i) {
    spawn_native(s, [i, &results] { this_tasklet::yield(); results.send(i); }, {.stack = StackKind::kSliced});
    spawn_native(s, [i, &results] { this_tasklet::yield(); results.send(i); },
                 {.stack = StackKind::kDedicated, .stack_size = 16 * 1024});
  }
  spawn_native(s, [&] {
    for (int i = 0; i < 2 * kEach; ++i) total += results.receive();
  });
  s.run();
  EXPECT_EQ(total, 2L * kEach * (kEach - 1) / 2);
}

}  // namespace
}  // namespace stasis::test
