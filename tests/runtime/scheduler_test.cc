// scheduler_test.cc — the run loop: scale, priorities, round robin, the step
// budget watchdog, timers, deadlock reports, re-entrancy, switch hooks and the
// Accounting monitor.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "stasis/stasis.h"
#include "test_frames.h"
#include "test_support.h"

using namespace stasis;
using namespace std::chrono_literals;
using stasis_test::holds;
using stasis_test::Killer;
using stasis_test::PollLoop;
using stasis_test::RecvOne;
using stasis_test::SendOne;
using stasis_test::Tracker;
using stasis_test::what_of;
using stasis_test::Worker;

namespace {

// Adds `value` to *sum.
struct Adder : Frame<Adder> {
  long long* sum = nullptr;
  long long value = 0;
  STASIS_FIELDS(value)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    *sum += value;
    STASIS_END(cx);
  }
};

// Appends `tag` to a log `rounds` times, yielding after each.
struct RoundRobin : Frame<RoundRobin> {
  std::vector<std::string>* log = nullptr;
  std::string tag;
  int rounds = 1;
  int i = 0;
  STASIS_FIELDS(tag, rounds, i)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (i = 0; i < rounds; ++i) {
      log->push_back(tag + std::to_string(i));
      STASIS_SCHEDULE(cx);
    }
    STASIS_END(cx);
  }
};

// Sleeps for `d`, then logs its tag.
struct SleepThenLog : Frame<SleepThenLog> {
  std::chrono::milliseconds d{0};
  std::vector<std::string>* log = nullptr;
  std::string tag;
  STASIS_FIELDS(tag)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_SLEEP(cx, d);
    log->push_back(tag);
    STASIS_END(cx);
  }
};

// Sleeps, then sends a value.
struct SleepThenSend : Frame<SleepThenSend> {
  std::chrono::milliseconds d{0};
  Channel<int>* ch = nullptr;
  int v = 0;
  STASIS_FIELDS(v)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_SLEEP(cx, d);
    STASIS_SEND(cx, *ch, v);
    STASIS_END(cx);
  }
};

// Calls the scheduler's run() from inside a tasklet.
struct ReEnter : Frame<ReEnter> {
  int mode = 0;  // 0: run(), 1: run(budget), 2: run_until
  STASIS_FIELDS(mode)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    if (mode == 0) cx.scheduler().run();
    if (mode == 1) cx.scheduler().run(100);
    if (mode == 2) cx.scheduler().run_until([] { return true; });
    STASIS_END(cx);
  }
};

// Calls a polling child `calls` times.
struct PollChild : Frame<PollChild> {
  int polls = 0;
  int i = 0;
  STASIS_FIELDS(polls, i)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (i = 0; i < polls; ++i) STASIS_POLL(cx);
    STASIS_RETURN(cx, polls);
    STASIS_END(cx);
  }
};
struct CallsChildren : Frame<CallsChildren> {
  int calls = 0;
  int child_polls = 0;
  int i = 0;
  int r = 0;
  int total = 0;
  STASIS_FIELDS(calls, child_polls, i, r, total)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (i = 0; i < calls; ++i) {
      STASIS_CALL(cx, r, PollChild{.polls = child_polls});
      total += r;
    }
    STASIS_RETURN(cx, total);
    STASIS_END(cx);
  }
};

// Polls, then fails.
struct PollThenFail : Frame<PollThenFail> {
  int polls = 0;
  int i = 0;
  STASIS_FIELDS(polls, i)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (i = 0; i < polls; ++i) STASIS_POLL(cx);
    throw std::runtime_error("failed after polling");
    STASIS_END(cx);
  }
};

using Pair = std::pair<std::uint64_t, std::uint64_t>;  // (prev id, next id), 0 for null

}  // namespace

// --- Scale. ---

TEST(Scheduler, MillionTaskletsCreatedAndCompleted) {
  constexpr long long kCount = 1'000'000;
  Scheduler s;
  long long sum = 0;
  for (long long i = 1; i <= kCount; ++i) s.spawn(Adder{.sum = &sum, .value = i});
  EXPECT_EQ(s.alive_count(), static_cast<std::size_t>(kCount));
  EXPECT_EQ(s.runnable_count(), static_cast<std::size_t>(kCount));
  s.run();
  EXPECT_EQ(sum, kCount * (kCount + 1) / 2);
  EXPECT_EQ(s.alive_count(), 0u);
  EXPECT_EQ(s.runnable_count(), 0u);
  EXPECT_EQ(s.steps(), static_cast<std::uint64_t>(kCount));
}

// --- Priorities and order. ---

TEST(Scheduler, HigherPriorityFirstFifoWithinAPriority) {
  Scheduler s;
  std::vector<std::string> log;
  const std::pair<const char*, int> spawns[] = {{"a0", 0},  {"b5", 5},   {"c-3", -3}, {"d5", 5},
                                                {"e0", 0},  {"f15", 15}, {"g-16", -16}, {"h0", 0},
                                                {"i-3", -3}, {"j15", 15}};
  for (auto [tag, prio] : spawns) {
    s.spawn(RoundRobin{.log = &log, .tag = tag, .rounds = 1}, {.priority = prio});
  }
  s.run();
  EXPECT_EQ(log, (std::vector<std::string>{"f150", "j150", "b50", "d50", "a00", "e00", "h00", "c-30", "i-30",
                                           "g-160"}));
}

TEST(Scheduler, YieldingHighPriorityTaskletsStayAheadOfLowerOnes) {
  Scheduler s;
  std::vector<std::string> log;
  s.spawn(RoundRobin{.log = &log, .tag = "low", .rounds = 2}, {.priority = -1});
  s.spawn(RoundRobin{.log = &log, .tag = "hiA", .rounds = 3}, {.priority = 2});
  s.spawn(RoundRobin{.log = &log, .tag = "hiB", .rounds = 2}, {.priority = 2});
  s.run();
  EXPECT_EQ(log, (std::vector<std::string>{"hiA0", "hiB0", "hiA1", "hiB1", "hiA2", "low0", "low1"}));
}

TEST(Scheduler, SetPriorityRequeuesARunnableTasklet) {
  Scheduler s;
  std::vector<std::string> log;
  auto a = s.spawn(RoundRobin{.log = &log, .tag = "a", .rounds = 1});
  s.spawn(RoundRobin{.log = &log, .tag = "b", .rounds = 1});
  auto c = s.spawn(RoundRobin{.log = &log, .tag = "c", .rounds = 1});
  c->set_priority(1);   // jumps ahead
  a->set_priority(-1);  // falls behind
  s.run();
  EXPECT_EQ(log, (std::vector<std::string>{"c0", "b0", "a0"}));
}

TEST(Scheduler, ScheduleIsRoundRobin) {
  Scheduler s;
  std::vector<std::string> log;
  s.spawn(RoundRobin{.log = &log, .tag = "A", .rounds = 3});
  s.spawn(RoundRobin{.log = &log, .tag = "B", .rounds = 3});
  s.spawn(RoundRobin{.log = &log, .tag = "C", .rounds = 2});
  s.run();
  EXPECT_EQ(log, (std::vector<std::string>{"A0", "B0", "C0", "A1", "B1", "C1", "A2", "B2"}));
}

// --- The step budget watchdog. ---

TEST(Scheduler, RunBudgetReturnsTheInterruptedTaskletWhichResumesWhereItStopped) {
  Scheduler s;
  auto t = s.spawn(PollLoop{.n = 100});
  TaskletRef stopped = s.run(10);
  ASSERT_TRUE(stopped);
  EXPECT_EQ(stopped, t);
  EXPECT_EQ(t->state(), TaskletState::kPaused);
  EXPECT_EQ(s.steps(), 10u);
  // Step 1 entered run(), steps 2..10 were the polls after i = 0..8.
  const auto* f = static_cast<const PollLoop*>(t->top_frame());
  EXPECT_EQ(f->i, 8);
  EXPECT_EQ(f->sum, 36);
  EXPECT_EQ(f->resume_point(), 1);
  // Paused, not runnable: run() alone does not resume it.
  EXPECT_FALSE(s.run(10));
  EXPECT_EQ(f->i, 8);
  t->insert();
  stopped = s.run(10);
  EXPECT_EQ(stopped, t);
  EXPECT_EQ(f->i, 17);  // one resume step + 9 polls
}

TEST(Scheduler, RunBudgetLoopFinishesWithTheRightResult) {
  Scheduler s;
  auto t = s.spawn(PollLoop{.n = 100});
  int interruptions = 0;
  while (TaskletRef stopped = s.run(10)) {
    ASSERT_EQ(stopped, t);
    ++interruptions;
    stopped->insert();
  }
  EXPECT_EQ(t->result<long long>(), 99LL * 100 / 2);
  // Each run(10) consumed exactly 10 steps (a resume plus 9 polls) until the last;
  // every step rule: 1 entry + 100 polls + 1 per resume.
  EXPECT_EQ(interruptions, 11);
  EXPECT_EQ(s.steps(), static_cast<std::uint64_t>(1 + 100 + interruptions));
}

TEST(Scheduler, RunBudgetInterruptsAtACallBoundary) {
  Scheduler s;
  auto t = s.spawn(CallsChildren{.calls = 5, .child_polls = 0});
  // Steps: parent (1, calls), child (2, returns), parent (3, calls) -> stop.
  TaskletRef stopped = s.run(3);
  ASSERT_EQ(stopped, t);
  EXPECT_EQ(t->frame_depth(), 2u);
  EXPECT_EQ(t->top_frame()->resume_point(), 0);  // the child has not started
  t->insert();
  s.run();
  EXPECT_EQ(t->result<int>(), 0);
}

TEST(Scheduler, RunBudgetReturnsNullWhenIdleFirst) {
  Scheduler s;
  auto t = s.spawn(PollLoop{.n = 5});
  EXPECT_FALSE(s.run(1000));
  EXPECT_EQ(t->result<long long>(), 10);
  EXPECT_FALSE(s.run(1000));
}

TEST(Scheduler, RunBudgetBoundsTaskletsThatOnlyYield) {
  // Tasklets without polls or calls still count one step per resume; the budget
  // runs out between two of them, and the next one is returned before its step.
  Scheduler s;
  std::vector<std::string> log;
  auto a = s.spawn(RoundRobin{.log = &log, .tag = "a", .rounds = 1000});
  auto b = s.spawn(RoundRobin{.log = &log, .tag = "b", .rounds = 1000});
  int interruptions = 0;
  std::uint64_t before = s.steps();
  while (TaskletRef stopped = s.run(50)) {
    EXPECT_EQ(s.steps() - before, 50u) << "run(50) ran " << s.steps() - before << " steps";
    EXPECT_TRUE(stopped == a || stopped == b);
    EXPECT_EQ(stopped->state(), TaskletState::kPaused);
    stopped->insert();
    ++interruptions;
    before = s.steps();
  }
  EXPECT_LE(s.steps() - before, 50u);
  // 2 x (1 entry + 1000 resumes) = 2002 steps, 50 per run: 41 runs.
  EXPECT_EQ(s.steps(), 2002u);
  EXPECT_EQ(interruptions, 40);
  EXPECT_EQ(log.size(), 2000u);
  EXPECT_EQ(a->state(), TaskletState::kFinished);
  EXPECT_EQ(b->state(), TaskletState::kFinished);
}

TEST(Scheduler, RunBudgetInterruptsBeforeANewTaskletStarts) {
  Scheduler s;
  std::vector<std::string> log;
  auto first = s.spawn(RoundRobin{.log = &log, .tag = "first", .rounds = 0});  // 1 step
  auto second = s.spawn(RoundRobin{.log = &log, .tag = "second", .rounds = 1});
  TaskletRef stopped = s.run(1);
  ASSERT_EQ(stopped, second);
  EXPECT_TRUE(log.empty());
  EXPECT_EQ(first->state(), TaskletState::kFinished);
  EXPECT_EQ(second->state(), TaskletState::kPaused);
  EXPECT_EQ(second->top_frame()->resume_point(), 0);
  second->insert();
  EXPECT_EQ(second->state(), TaskletState::kNew);  // it never ran
  s.run();
  EXPECT_EQ(log, (std::vector<std::string>{"second0"}));
}

namespace {

// Yields forever.
struct Forever : Frame<Forever> {
  long long n = 0;
  STASIS_FIELDS(n)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (;;) {
      ++n;
      STASIS_SCHEDULE(cx);
    }
    STASIS_END(cx);
  }
};

[[noreturn]] void endless_yielders_child() {
  alarm(60);  // without a bound, run(budget) would never return
  Scheduler s;
  auto a = s.spawn(Forever{});
  auto b = s.spawn(Forever{});
  for (int i = 0; i < 3; ++i) {
    TaskletRef stopped = s.run(1000);
    CHILD_CHECK(stopped == a || stopped == b);
    stopped->insert();
  }
  CHILD_CHECK(s.steps() == 3000);
  a->kill();
  b->kill();
  alarm(0);
  std::exit(0);
}

}  // namespace

TEST(Scheduler, RunBudgetReturnsFromEndlessYielders) {
  stasis_test::UseCleanDeathTestChild();
  EXPECT_EXIT(endless_yielders_child(), ::testing::ExitedWithCode(0), "");
}

// --- Timers. ---

TEST(Scheduler, SleepersWakeInDeadlineOrder) {
  Scheduler s;
  std::vector<std::string> log;
  // Each sleeper takes its deadline when it first runs; 40 ms gaps keep the order
  // even if the (sanitized, loaded) machine stalls between their first steps.
  s.spawn(SleepThenLog{.d = 120ms, .log = &log, .tag = "120"});
  s.spawn(SleepThenLog{.d = 40ms, .log = &log, .tag = "40"});
  s.spawn(SleepThenLog{.d = 80ms, .log = &log, .tag = "80"});
  s.spawn(SleepThenLog{.d = 0ms, .log = &log, .tag = "0"});  // a plain yield
  s.run();  // sleepers are not a deadlock
  EXPECT_EQ(log, (std::vector<std::string>{"0", "40", "80", "120"}));
  EXPECT_EQ(s.blocked_count(), 0u);
  EXPECT_EQ(s.alive_count(), 0u);
}

TEST(Scheduler, SleepingTaskletIsBlockedOnSleep) {
  struct SleepProbe : Frame<SleepProbe> {
    Tasklet* sleeper = nullptr;
    TaskletState* state = nullptr;
    std::string* wait = nullptr;
    int unused = 0;
    Step run(Ctx& cx) {
      STASIS_BEGIN(cx);
      *state = sleeper->state();
      *wait = sleeper->describe_wait();
      STASIS_END(cx);
    }
  };
  Scheduler s;
  std::vector<std::string> log;
  TaskletState state = TaskletState::kNew;
  std::string wait;
  auto sl = s.spawn(SleepThenLog{.d = 5ms, .log = &log, .tag = "woke"});
  s.spawn(SleepProbe{.sleeper = sl.get(), .state = &state, .wait = &wait});
  s.run();
  EXPECT_EQ(state, TaskletState::kBlocked);
  EXPECT_EQ(wait, "sleep");
  EXPECT_EQ(log, (std::vector<std::string>{"woke"}));
}

TEST(Scheduler, SleepingSenderIsNotADeadlock) {
  Scheduler s;
  Channel<int> ch;
  auto r = s.spawn(RecvOne{.ch = &ch});
  s.spawn(SleepThenSend{.d = 15ms, .ch = &ch, .v = 123});
  EXPECT_NO_THROW(s.run());
  EXPECT_EQ(r->result<int>(), 123);
}

namespace {

[[noreturn]] void killed_sleepers_child() {
  alarm(60);  // a run() that waited for a dead tasklet's timer would hang for hours
  Scheduler s;
  std::vector<std::string> log;
  auto sleeper = s.spawn(SleepThenLog{.d = std::chrono::hours(24), .log = &log, .tag = "killed sleeper woke"});
  s.spawn(Killer{.target = sleeper.get()});
  s.run();
  CHILD_CHECK(sleeper->state() == TaskletState::kKilled);

  // Thrown into: it wakes at once and ends with the exception.
  auto sleeper2 = s.spawn(SleepThenLog{.d = std::chrono::hours(24), .log = &log, .tag = "thrown sleeper went on"});
  s.spawn(Killer{.target = sleeper2.get(),
                 .to_throw = std::make_exception_ptr(std::runtime_error("woken from sleep"))});
  s.run();
  CHILD_CHECK(what_of(sleeper2->exception()) == "woken from sleep");

  // A killed sleeper does not hide a deadlock either.
  Channel<int> ch({.name = "never fed"});
  auto stuck = s.spawn(RecvOne{.ch = &ch});
  auto sleeper3 = s.spawn(SleepThenLog{.d = std::chrono::hours(24), .log = &log, .tag = "third"});
  s.spawn(Killer{.target = sleeper3.get()});
  bool deadlock = false;
  try {
    s.run();
  } catch (const Deadlock& d) {
    deadlock = d.blocked().size() == 1 && d.blocked()[0].id == stuck->id();
  }
  CHILD_CHECK(deadlock);
  CHILD_CHECK(log.empty());
  stuck->kill();
  alarm(0);
  std::exit(0);
}

}  // namespace

TEST(Scheduler, KilledSleeperDoesNotKeepRunWaiting) {
  stasis_test::UseCleanDeathTestChild();
  EXPECT_EXIT(killed_sleepers_child(), ::testing::ExitedWithCode(0), "");
}

TEST(Scheduler, UnobservedSleeperThrownIntoIsReported) {
  // Its timer is stale once the exception woke it; the failure must still be
  // reported as unobserved, and run() must not wait for the stale timer.
  Scheduler s;
  std::vector<std::string> log;
  Tasklet* sleeper = s.spawn(SleepThenLog{.d = std::chrono::hours(24), .log = &log, .tag = "woke"}).get();
  const std::uint64_t id = sleeper->id();
  s.spawn(Killer{.target = sleeper, .to_throw = std::make_exception_ptr(std::runtime_error("woken from sleep"))});
  try {
    s.run();
    FAIL() << "the unobserved failure was not reported";
  } catch (const UnhandledTaskletError& e) {
    EXPECT_EQ(e.tasklet_id(), id);
    EXPECT_NE(std::string(e.what()).find("woken from sleep"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(s.run());
  EXPECT_TRUE(log.empty());
  EXPECT_EQ(s.alive_count(), 0u);
}

// --- Deadlock detection. ---

TEST(Scheduler, DeadlockListsEachBlockedTaskletAndSchedulerStaysUsable) {
  Scheduler s;
  Channel<int> jobs({.name = "jobs"});
  Channel<int> out({.name = "out"});
  int destroyed = 0;
  auto reader = s.spawn(RecvOne{.ch = &jobs}, {.name = "reader"});
  auto writer = s.spawn(SendOne{.ch = &out, .v = 1, .tracker = Tracker(&destroyed)}, {.name = "writer"});
  auto anon = s.spawn(RecvOne{.ch = &jobs});
  try {
    s.run();
    FAIL() << "run() did not report the deadlock";
  } catch (const Deadlock& d) {
    // One entry per blocked tasklet (the order is not part of the contract).
    ASSERT_EQ(d.blocked().size(), 3u);
    std::map<std::uint64_t, BlockedTasklet> by_id;
    for (const BlockedTasklet& b : d.blocked()) by_id.emplace(b.id, b);
    ASSERT_EQ(by_id.size(), 3u);
    ASSERT_TRUE(by_id.count(reader->id()));
    ASSERT_TRUE(by_id.count(writer->id()));
    ASSERT_TRUE(by_id.count(anon->id()));
    EXPECT_EQ(by_id.at(reader->id()).name, "reader");
    EXPECT_EQ(by_id.at(reader->id()).waits_on, "receive on channel #" + std::to_string(jobs.id()) + " 'jobs'");
    EXPECT_EQ(by_id.at(writer->id()).name, "writer");
    EXPECT_EQ(by_id.at(writer->id()).waits_on, "send on channel #" + std::to_string(out.id()) + " 'out'");
    EXPECT_EQ(by_id.at(anon->id()).name, "");
    EXPECT_EQ(by_id.at(anon->id()).waits_on, "receive on channel #" + std::to_string(jobs.id()) + " 'jobs'");
    std::string m = d.what();
    EXPECT_NE(m.find("tasklet #" + std::to_string(reader->id()) + " 'reader'"), std::string::npos) << m;
    EXPECT_NE(m.find("receive on channel #" + std::to_string(jobs.id()) + " 'jobs'"), std::string::npos) << m;
    EXPECT_NE(m.find("tasklet #" + std::to_string(writer->id()) + " 'writer'"), std::string::npos) << m;
    EXPECT_NE(m.find("send on channel #" + std::to_string(out.id()) + " 'out'"), std::string::npos) << m;
    EXPECT_NE(m.find("tasklet #" + std::to_string(anon->id())), std::string::npos) << m;
  }
  // Everything stayed where it was.
  EXPECT_FALSE(s.running());
  EXPECT_EQ(s.blocked_count(), 3u);
  EXPECT_EQ(s.blocked_tasklets().size(), 3u);
  EXPECT_EQ(jobs.balance(), -2);
  EXPECT_EQ(out.balance(), 1);
  EXPECT_TRUE(reader->blocked());

  // Feed one from outside, kill another: still one deadlocked.
  jobs.send(41);
  writer->kill();
  EXPECT_EQ(destroyed, 1);
  EXPECT_EQ(out.balance(), 0);
  try {
    s.run();
    FAIL() << "run() did not report the remaining deadlock";
  } catch (const Deadlock& d) {
    ASSERT_EQ(d.blocked().size(), 1u);
    EXPECT_EQ(d.blocked()[0].id, anon->id());
  }
  EXPECT_EQ(reader->result<int>(), 41);

  jobs.send(42);
  EXPECT_NO_THROW(s.run());
  EXPECT_EQ(anon->result<int>(), 42);
  EXPECT_EQ(s.blocked_count(), 0u);
  EXPECT_EQ(s.alive_count(), 0u);
}

// --- Re-entrancy and one scheduler per thread. ---

TEST(Scheduler, ReentrantRunFromATaskletIsAnError) {
  Scheduler s;
  auto a = s.spawn(ReEnter{.mode = 0});
  auto b = s.spawn(ReEnter{.mode = 1});
  auto c = s.spawn(ReEnter{.mode = 2});
  long long sum = 0;
  s.spawn(Adder{.sum = &sum, .value = 5});
  EXPECT_NO_THROW(s.run());
  for (const TaskletRef& t : {a, b, c}) {
    EXPECT_TRUE(holds<SchedulerError>(t->exception())) << t->label();
    EXPECT_NE(what_of(t->exception()).find("already running"), std::string::npos) << what_of(t->exception());
    EXPECT_NE(what_of(t->exception()).find(t->label()), std::string::npos) << what_of(t->exception());
  }
  EXPECT_EQ(sum, 5);  // the outer run() went on
  EXPECT_FALSE(s.running());
}

TEST(Scheduler, OneSchedulerPerThread) {
  {
    Scheduler s;
    EXPECT_EQ(Scheduler::current_or_null(), &s);
    EXPECT_EQ(&Scheduler::current(), &s);
    EXPECT_THROW(Scheduler second, SchedulerError);
    EXPECT_EQ(Scheduler::current_or_null(), &s);  // the first one is still installed
    // Other threads have their own.
    bool other_ok = false;
    std::thread th([&] {
      Scheduler mine;
      long long sum = 0;
      mine.spawn(Adder{.sum = &sum, .value = 3});
      mine.run();
      other_ok = Scheduler::current_or_null() == &mine && sum == 3;
    });
    th.join();
    EXPECT_TRUE(other_ok);
    EXPECT_EQ(Scheduler::current_or_null(), &s);
  }
  EXPECT_EQ(Scheduler::current_or_null(), nullptr);
  Scheduler again;  // after the first is gone, a new one is fine
  EXPECT_EQ(Scheduler::current_or_null(), &again);
}

TEST(Scheduler, ThreadOwnedSchedulerAlsoCounts) {
  bool threw = false;
  std::thread th([&] {
    Scheduler& owned = Scheduler::current();  // created on demand
    try {
      Scheduler explicit_one;
    } catch (const SchedulerError&) {
      threw = true;
    }
    threw = threw && Scheduler::current_or_null() == &owned;
  });
  th.join();
  EXPECT_TRUE(threw);
}

TEST(Scheduler, DestructorKillsEveryAliveTasklet) {
  int destroyed = 0;
  Channel<int> ch;
  TaskletRef blocked, runnable, paused;
  {
    Scheduler s;
    blocked = s.spawn(RecvOne{.ch = &ch, .tracker = Tracker(&destroyed)});
    EXPECT_THROW(s.run(), Deadlock);
    runnable = s.spawn(RecvOne{.ch = &ch, .tracker = Tracker(&destroyed)});
    paused = s.spawn(RecvOne{.ch = &ch, .tracker = Tracker(&destroyed)});
    paused->remove();
  }
  EXPECT_EQ(destroyed, 3);
  EXPECT_EQ(blocked->state(), TaskletState::kKilled);
  EXPECT_EQ(runnable->state(), TaskletState::kKilled);
  EXPECT_EQ(paused->state(), TaskletState::kKilled);
  EXPECT_EQ(ch.balance(), 0);
}

// --- Switch hooks. ---

TEST(Scheduler, SwitchHooksSeePrevNextPairs) {
  Scheduler s;
  std::vector<Pair> pairs;
  auto id_of = [](Tasklet* t) { return t ? t->id() : 0; };
  HookId h = s.add_switch_hook([&](Tasklet* prev, Tasklet* next) { pairs.emplace_back(id_of(prev), id_of(next)); });
  std::vector<std::string> log;
  auto a = s.spawn(RoundRobin{.log = &log, .tag = "A", .rounds = 1});
  auto b = s.spawn(RoundRobin{.log = &log, .tag = "B", .rounds = 1});
  s.run();
  const std::uint64_t A = a->id(), B = b->id();
  EXPECT_EQ(pairs, (std::vector<Pair>{{0, A}, {A, B}, {B, A}, {A, B}, {B, 0}}));

  // Removed: no more calls; a second hook keeps working.
  std::vector<Pair> second;
  s.add_switch_hook([&](Tasklet* prev, Tasklet* next) { second.emplace_back(id_of(prev), id_of(next)); });
  s.remove_switch_hook(h);
  s.remove_switch_hook(h);        // twice: no-op
  s.remove_switch_hook(999'999);  // unknown: no-op
  pairs.clear();
  auto c = s.spawn(RoundRobin{.log = &log, .tag = "C", .rounds = 0});
  s.run();
  EXPECT_TRUE(pairs.empty());
  EXPECT_EQ(second, (std::vector<Pair>{{0, c->id()}, {c->id(), 0}}));
}

TEST(Scheduler, SwitchHooksAtPreemptionAndDeadlock) {
  Scheduler s;
  std::vector<Pair> pairs;
  auto id_of = [](Tasklet* t) { return t ? t->id() : 0; };
  s.add_switch_hook([&](Tasklet* prev, Tasklet* next) { pairs.emplace_back(id_of(prev), id_of(next)); });
  auto p = s.spawn(PollLoop{.n = 100});
  ASSERT_EQ(s.run(5), p);
  EXPECT_EQ(pairs, (std::vector<Pair>{{0, p->id()}, {p->id(), 0}}));
  p->kill();

  pairs.clear();
  Channel<int> ch;
  auto r = s.spawn(RecvOne{.ch = &ch});
  EXPECT_THROW(s.run(), Deadlock);
  EXPECT_EQ(pairs, (std::vector<Pair>{{0, r->id()}, {r->id(), 0}}));
  r->kill();

  // An idle run(): only "run() returns".
  pairs.clear();
  s.run();
  EXPECT_EQ(pairs, (std::vector<Pair>{{0, 0}}));
}

TEST(Scheduler, UnobservedFailureIsReportedWithHooksInstalled) {
  // The hook's memory of the last tasklet is not an outside observer: an
  // unobserved failure is still reported with hooks installed.
  Scheduler s;
  s.add_switch_hook([](Tasklet*, Tasklet*) {});
  s.spawn(PollThenFail{.polls = 2});
  EXPECT_THROW(s.run(), UnhandledTaskletError);
  EXPECT_NO_THROW(s.run());
}

// --- Accounting. ---

TEST(Accounting, StepsAndSlicesPerTaskletAreExact) {
  Scheduler s;
  Accounting acc(s);
  auto w1 = s.spawn(Worker{.polls = 5, .yields = 0});
  auto w2 = s.spawn(Worker{.polls = 0, .yields = 3});
  auto w3 = s.spawn(Worker{.polls = 4, .yields = 2});
  auto cc = s.spawn(CallsChildren{.calls = 2, .child_polls = 3});
  s.run();
  // Rule: each frame run() call is one step, each STASIS_POLL one more.
  // Worker: one call to enter + one per resume after a yield, plus its polls.
  EXPECT_EQ(acc.usage(w1->id()).steps, 1u + 5);
  EXPECT_EQ(acc.usage(w1->id()).slices, 1u);
  EXPECT_EQ(acc.usage(w2->id()).steps, 1u + 3);
  EXPECT_EQ(acc.usage(w2->id()).slices, 1u + 3);
  EXPECT_EQ(acc.usage(w3->id()).steps, 1u + 4 + 2);
  EXPECT_EQ(acc.usage(w3->id()).slices, 1u + 2);
  // Parent: entry + one resume per call; each child: entry + polls.
  EXPECT_EQ(acc.usage(cc->id()).steps, (1u + 2) + 2 * (1u + 3));
  EXPECT_EQ(acc.usage(cc->id()).slices, 1u);
  EXPECT_EQ(cc->result<int>(), 6);

  std::uint64_t total = 0;
  for (const auto& [id, u] : acc.all()) total += u.steps;
  EXPECT_EQ(total, s.steps());
  EXPECT_EQ(acc.all().size(), 4u);
  EXPECT_EQ(acc.usage(987'654).steps, 0u);
  EXPECT_EQ(acc.usage(987'654).slices, 0u);
}

TEST(Accounting, PreemptedSlicesAreCharged) {
  Scheduler s;
  Accounting acc(s);
  auto t = s.spawn(PollLoop{.n = 100});
  int runs = 0;
  while (TaskletRef stopped = s.run(10)) {
    stopped->insert();
    ++runs;
  }
  EXPECT_EQ(runs, 11);
  EXPECT_EQ(acc.usage(t->id()).slices, 12u);
  EXPECT_EQ(acc.usage(t->id()).steps, 1u + 100 + 11);
  EXPECT_EQ(acc.usage(t->id()).steps, s.steps());
}

TEST(Accounting, TaskletEndingInAnUnobservedFailureIsCharged) {
  Scheduler s;
  Accounting acc(s);
  std::uint64_t id = s.spawn(PollThenFail{.polls = 4})->id();
  auto w = s.spawn(Worker{.polls = 2});
  EXPECT_THROW(s.run(), UnhandledTaskletError);
  EXPECT_EQ(acc.usage(id).steps, 1u + 4);
  EXPECT_EQ(acc.usage(id).slices, 1u);
  s.run();
  EXPECT_EQ(acc.usage(w->id()).steps, 1u + 2);
  EXPECT_EQ(acc.usage(w->id()).slices, 1u);
  std::uint64_t total = 0;
  for (const auto& [tid, u] : acc.all()) total += u.steps;
  EXPECT_EQ(total, s.steps());
}

TEST(Accounting, ChargesOnlyWhileInstalled) {
  Scheduler s;
  auto before = s.spawn(Worker{.polls = 3});
  std::uint64_t during_id = 0;
  {
    Accounting acc(s);
    s.run();
    EXPECT_EQ(acc.usage(before->id()).steps, 4u);
    auto during = s.spawn(Worker{.polls = 1});
    during_id = during->id();
    s.run();
    EXPECT_EQ(acc.usage(during_id).steps, 2u);
  }
  // Uninstalled: running more is fine and a new monitor starts from zero.
  auto after = s.spawn(Worker{.polls = 7});
  s.run();
  Accounting fresh(s);
  EXPECT_TRUE(fresh.all().empty());
  auto last = s.spawn(Worker{.yields = 1});
  s.run();
  EXPECT_EQ(fresh.usage(last->id()).steps, 2u);
  EXPECT_EQ(fresh.usage(last->id()).slices, 2u);
  EXPECT_EQ(fresh.usage(after->id()).steps, 0u);
}

// Sleeps `times` times for a microsecond, then sends its tag.
struct SleepsThenSends : Frame<SleepsThenSends> {
  Channel<int>* out = nullptr;
  int times = 0;
  int k = 0;
  STASIS_FIELDS(times, k)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (k = 0; k < times; ++k) STASIS_SLEEP(cx, std::chrono::microseconds(1));
    STASIS_SEND(cx, *out, times);
    STASIS_END(cx);
  }
};

// Regression: a sleep's timer sequence stayed in the embedded waiter's bits, and a
// later channel wait kept them (kSelect among them): the receiver then took the
// blocked sender for a select waiter. Sequences 2, 3, 6, 7, ... set that bit.
TEST(Scheduler, ChannelWaitAfterSleepsStartsWithCleanWaiterBits) {
  Scheduler s;
  Channel<int> ch;
  for (int i = 1; i <= 8; ++i) s.spawn(SleepsThenSends{.out = &ch, .times = i});
  EXPECT_THROW(s.run(), Deadlock);  // every sender is now blocked on ch, after 1..8 sleeps
  EXPECT_EQ(ch.balance(), 8);
  int sum = 0;
  for (int i = 0; i < 8; ++i) sum += ch.receive();
  EXPECT_EQ(sum, 36);
}
