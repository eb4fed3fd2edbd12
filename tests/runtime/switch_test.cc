// switch_test.cc — greenlet-style switches between tasklets, and Generator<T>.
#include <gtest/gtest.h>

#include <any>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "stasis/stasis.h"
#include "test_frames.h"
#include "test_support.h"

using namespace stasis;
using stasis_test::holds;
using stasis_test::RecvOne;
using stasis_test::Tracker;
using stasis_test::what_of;
using stasis_test::Worker;

namespace {

// One side of a ping-pong: receives a count, logs it, switches count + 1 to the
// other side, until the count reaches `limit`. The side that sees the limit first
// hands it on without waiting, so both end.
struct Player : Frame<Player> {
  Tasklet** other = nullptr;
  int limit = 0;
  int v = 0;
  std::vector<std::pair<char, int>>* log = nullptr;
  char who = '?';
  STASIS_FIELDS(limit, v, who)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    cx.take_received(v);  // the value of the switch that started us, if any
    while (v < limit) {
      log->emplace_back(who, v);
      STASIS_SWITCH(cx, **other, v + 1, v);
    }
    if ((*other)->alive()) cx.switch_to(**other, std::any(v), /*suspend=*/false);
    STASIS_RETURN(cx, v);
    STASIS_END(cx);
  }
};

// Switches to `target` once, expecting a value back.
struct SwitchOnce : Frame<SwitchOnce> {
  Tasklet* target = nullptr;
  int back = -1;
  STASIS_FIELDS(back)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_SWITCH(cx, *target, 1, back);
    STASIS_RETURN(cx, back);
    STASIS_END(cx);
  }
};

// Waits in a switch for a string, returns it.
struct AwaitString : Frame<AwaitString> {
  std::string got;
  STASIS_FIELDS(got)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    cx.take_received(got);
    STASIS_RETURN(cx, got);
    STASIS_END(cx);
  }
};

// Switches `value` into `target` (a paused tasklet, so only the switch starts it)
// and goes on without waiting.
struct Starter : Frame<Starter> {
  Tasklet* target = nullptr;
  std::any value;
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    cx.switch_to(*target, value, /*suspend=*/false);
    STASIS_END(cx);
  }
};

// Switches to itself.
struct SwitchToSelf : Frame<SwitchToSelf> {
  int back = 0;
  STASIS_FIELDS(back)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_SWITCH(cx, cx.tasklet(), 1, back);
    STASIS_END(cx);
  }
};

// --- Generators. ---

// The first n Fibonacci numbers.
struct FibBody : Frame<FibBody> {
  int n = 0;
  int i = 0;
  long long a = 0, b = 1, next = 0;
  Tracker tracker;
  STASIS_FIELDS(n, i, a, b, next)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (i = 0; i < n; ++i) {
      STASIS_YIELD_VALUE(cx, a);
      next = a + b;
      a = b;
      b = next;
    }
    STASIS_END(cx);
  }
};

// A generator body that yields through a nested call.
struct YieldTwice : Frame<YieldTwice> {
  int base = 0;
  STASIS_FIELDS(base)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_YIELD_VALUE(cx, base);
    STASIS_YIELD_VALUE(cx, base + 1);
    STASIS_END(cx);
  }
};
struct NestedBody : Frame<NestedBody> {
  int unused = 0;
  STASIS_FIELDS(unused)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_CALL_VOID(cx, YieldTwice{.base = 10});
    STASIS_CALL_VOID(cx, YieldTwice{.base = 20});
    STASIS_END(cx);
  }
};

// Yields 0..n-1, then fails.
struct FailingBody : Frame<FailingBody> {
  int n = 0;
  int i = 0;
  STASIS_FIELDS(n, i)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (i = 0; i < n; ++i) STASIS_YIELD_VALUE(cx, i);
    throw std::runtime_error("generator broke");
    STASIS_END(cx);
  }
};

// Drains a generator with STASIS_NEXT.
struct Consumer : Frame<Consumer> {
  Generator<long long>* gen = nullptr;
  std::optional<long long> v;
  std::vector<long long>* out = nullptr;
  int after_end = 0;  // how many nullopts it saw after the end
  STASIS_FIELDS(v, after_end)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (;;) {
      STASIS_NEXT(cx, *gen, v);
      if (!v) break;
      out->push_back(*v);
    }
    // Asking again after the end: still nullopt, without switching.
    STASIS_NEXT(cx, *gen, v);
    if (!v) ++after_end;
    STASIS_RETURN(cx, static_cast<int>(out->size()));
    STASIS_END(cx);
  }
};

struct IntConsumer : Frame<IntConsumer> {
  Generator<int>* gen = nullptr;
  std::optional<int> v;
  std::vector<int>* out = nullptr;
  STASIS_FIELDS(v)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (;;) {
      STASIS_NEXT(cx, *gen, v);
      if (!v) break;
      out->push_back(*v);
    }
    STASIS_END(cx);
  }
};

// Takes `take` values and stops (leaving the generator unfinished).
struct PartialConsumer : Frame<PartialConsumer> {
  Generator<long long>* gen = nullptr;
  int take = 0;
  int i = 0;
  std::optional<long long> v;
  long long sum = 0;
  STASIS_FIELDS(take, i, v, sum)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (i = 0; i < take; ++i) {
      STASIS_NEXT(cx, *gen, v);
      sum += *v;
    }
    STASIS_RETURN(cx, sum);
    STASIS_END(cx);
  }
};

// Drains a generator in a child frame and catches what it raises.
struct CatchingDrain : Frame<CatchingDrain> {
  Generator<int>* gen = nullptr;
  std::vector<int>* out = nullptr;
  std::exception_ptr err;
  STASIS_FIELDS(err)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_TRY_CALL(cx, err, IntConsumer{.gen = gen, .out = out});
    STASIS_RETURN(cx, stasis_test::what_of(err));
    STASIS_END(cx);
  }
};

std::vector<long long> fib(int n) {
  std::vector<long long> out;
  long long a = 0, b = 1;
  for (int i = 0; i < n; ++i) {
    out.push_back(a);
    long long c = a + b;
    a = b;
    b = c;
  }
  return out;
}

}  // namespace

// --- Switches. ---

TEST(Switch, PingPongPassesValuesBothWays) {
  Scheduler s;
  std::vector<std::pair<char, int>> log;
  Tasklet* pa = nullptr;
  Tasklet* pb = nullptr;
  auto a = s.spawn(Player{.other = &pb, .limit = 10, .log = &log, .who = 'A'});
  auto b = s.spawn(Player{.other = &pa, .limit = 10, .log = &log, .who = 'B'});
  pa = a.get();
  pb = b.get();
  s.run();
  std::vector<std::pair<char, int>> expected;
  for (int i = 0; i < 10; ++i) expected.emplace_back(i % 2 == 0 ? 'A' : 'B', i);
  EXPECT_EQ(log, expected);
  EXPECT_EQ(a->result<int>(), 10);
  EXPECT_EQ(b->result<int>(), 10);
  EXPECT_EQ(s.blocked_count(), 0u);
}

TEST(Switch, SwitchedToTaskletRunsNextAndWaiterIsBlockedInSwitch) {
  struct Watch : Frame<Watch> {
    Tasklet** waiter = nullptr;
    TaskletState* waiter_state = nullptr;
    WaitKind* waiter_wait = nullptr;
    int* got = nullptr;
    Step run(Ctx& cx) {
      STASIS_BEGIN(cx);
      cx.take_received(*got);  // the value the waiter switched in
      *waiter_state = (*waiter)->state();
      *waiter_wait = (*waiter)->wait_kind();
      // Answer the waiter without waiting ourselves.
      cx.switch_to(**waiter, std::any(99), /*suspend=*/false);
      STASIS_END(cx);
    }
  };
  Scheduler s;
  TaskletState st = TaskletState::kNew;
  WaitKind wk = WaitKind::kNone;
  int got = 0;
  Tasklet* waiter_ptr = nullptr;
  auto target = s.spawn(Watch{.waiter = &waiter_ptr, .waiter_state = &st, .waiter_wait = &wk, .got = &got});
  target->remove();  // paused: only a switch starts it
  auto waiter = s.spawn(SwitchOnce{.target = target.get()});
  waiter_ptr = waiter.get();
  s.run();
  EXPECT_EQ(got, 1);
  EXPECT_EQ(st, TaskletState::kBlocked);
  EXPECT_EQ(wk, WaitKind::kSwitch);
  EXPECT_EQ(waiter->result<int>(), 99);
  EXPECT_EQ(target->state(), TaskletState::kFinished);
}

TEST(Switch, ValueStartsANewTasklet) {
  Scheduler s;
  auto t = s.spawn(AwaitString{});
  t->remove();
  s.spawn(Starter{.target = t.get(), .value = std::string("hello")});
  s.run();
  EXPECT_EQ(t->result<std::string>(), "hello");
}

TEST(Switch, UntakenSwitchValueIsNotAResult) {
  // A tasklet started by a switch that never takes the value and returns nothing
  // has no result: the value is not mistaken for one.
  struct Ignores : Frame<Ignores> {
    int unused = 0;
    Step run(Ctx& cx) {
      STASIS_BEGIN(cx);
      STASIS_END(cx);
    }
  };
  Scheduler s;
  auto t = s.spawn(Ignores{});
  t->remove();
  s.spawn(Starter{.target = t.get(), .value = 5});
  s.run();
  EXPECT_EQ(t->state(), TaskletState::kFinished);
  EXPECT_NO_THROW(t->result<void>());
  EXPECT_THROW(t->result<int>(), TaskletStateError);
}

TEST(Switch, PartnerThatNeverSwitchesBackLeavesADeadlock) {
  Scheduler s;
  auto partner = s.spawn(Worker{.yields = 0});  // ends without switching back
  partner->remove();
  auto waiter = s.spawn(SwitchOnce{.target = partner.get()}, {.name = "waiter"});
  try {
    s.run();
    FAIL() << "a tasklet waiting in a switch forever was not reported";
  } catch (const Deadlock& d) {
    ASSERT_EQ(d.blocked().size(), 1u);
    EXPECT_EQ(d.blocked()[0].id, waiter->id());
    EXPECT_EQ(d.blocked()[0].name, "waiter");
    EXPECT_EQ(d.blocked()[0].waits_on.rfind("switch", 0), 0u) << d.blocked()[0].waits_on;
  }
  EXPECT_EQ(partner->state(), TaskletState::kFinished);
  EXPECT_EQ(waiter->wait_kind(), WaitKind::kSwitch);
  waiter->kill();  // a tasklet waiting in a switch can be killed
  EXPECT_EQ(waiter->state(), TaskletState::kKilled);
  EXPECT_NO_THROW(s.run());
}

TEST(Switch, ToAFinishedTaskletIsAStateError) {
  Scheduler s;
  auto done = s.spawn(Worker{.yields = 0});
  s.run();
  ASSERT_EQ(done->state(), TaskletState::kFinished);
  auto sw = s.spawn(SwitchOnce{.target = done.get()});
  s.run();
  EXPECT_TRUE(holds<TaskletStateError>(sw->exception()));
  EXPECT_NE(what_of(sw->exception()).find(done->label()), std::string::npos) << what_of(sw->exception());
  EXPECT_EQ(s.blocked_count(), 0u);

  auto killed = s.spawn(Worker{.yields = 0});
  killed->kill();
  auto sw2 = s.spawn(SwitchOnce{.target = killed.get()});
  s.run();
  EXPECT_TRUE(holds<TaskletStateError>(sw2->exception()));
}

TEST(Switch, ToATaskletBlockedOnAChannelIsAStateError) {
  Scheduler s;
  Channel<int> ch({.name = "busy"});
  auto blocked = s.spawn(RecvOne{.ch = &ch});
  auto sw = s.spawn(SwitchOnce{.target = blocked.get()});
  EXPECT_THROW(s.run(), Deadlock);  // the receiver still waits
  EXPECT_TRUE(holds<TaskletStateError>(sw->exception()));
  std::string m = what_of(sw->exception());
  EXPECT_NE(m.find(blocked->label()), std::string::npos) << m;
  EXPECT_NE(m.find("blocked"), std::string::npos) << m;
  // The blocked tasklet was left alone: still on its channel, and it receives.
  EXPECT_TRUE(blocked->blocked());
  EXPECT_EQ(blocked->waiting_on(), &ch);
  EXPECT_EQ(ch.balance(), -1);
  ch.send(5);
  s.run();
  EXPECT_EQ(blocked->result<int>(), 5);
}

TEST(Switch, ToItselfOrToARunnableTaskletIsAStateError) {
  Scheduler s;
  auto self = s.spawn(SwitchToSelf{});
  auto runnable = s.spawn(Worker{.yields = 3});
  auto sw = s.spawn(SwitchOnce{.target = runnable.get()});  // runs after runnable yielded
  s.run();
  EXPECT_TRUE(holds<TaskletStateError>(self->exception()));
  EXPECT_TRUE(holds<TaskletStateError>(sw->exception()));
  EXPECT_EQ(runnable->state(), TaskletState::kFinished);
  EXPECT_FALSE(runnable->failed());
}

// --- Generators. ---

TEST(Generator, ConsumerFrameDrainsFibonacci) {
  Scheduler s;
  int destroyed = 0;
  Generator<long long> gen(FibBody{.n = 20, .tracker = Tracker(&destroyed)});
  std::vector<long long> out;
  auto c = s.spawn(Consumer{.gen = &gen, .out = &out});
  s.run();
  EXPECT_EQ(out, fib(20));
  EXPECT_EQ(out.back(), 4181);
  EXPECT_EQ(c->result<int>(), 20);
  EXPECT_TRUE(gen.done());
  EXPECT_EQ(gen.producer().state(), TaskletState::kFinished);
  EXPECT_EQ(destroyed, 1);
  EXPECT_EQ(s.blocked_count(), 0u);
  EXPECT_EQ(gen.next(), std::nullopt);
}

TEST(Generator, NextFromOutsideTasklets) {
  Scheduler s;
  Generator<long long> gen(FibBody{.n = 20});
  EXPECT_FALSE(gen.done());
  EXPECT_EQ(gen.producer().state(), TaskletState::kPaused);  // nothing runs before next()
  std::vector<long long> out;
  while (std::optional<long long> v = gen.next()) out.push_back(*v);
  EXPECT_EQ(out, fib(20));
  EXPECT_TRUE(gen.done());
  // The end is sticky.
  EXPECT_EQ(gen.next(), std::nullopt);
  EXPECT_EQ(gen.next(), std::nullopt);
  EXPECT_EQ(gen.producer().state(), TaskletState::kFinished);
}

TEST(Generator, ProducerWaitsBetweenValues) {
  Scheduler s;
  Generator<long long> gen(FibBody{.n = 5});
  EXPECT_EQ(gen.next(), 0);
  // Idle between requests: paused, not blocked (an idle generator is no deadlock).
  EXPECT_EQ(gen.producer().state(), TaskletState::kPaused);
  EXPECT_FALSE(gen.producer().blocked());
  const auto* body = static_cast<const FibBody*>(gen.producer().top_frame());
  EXPECT_EQ(body->i, 0);  // stopped at the yield of the first value
  EXPECT_EQ(gen.next(), 1);
  EXPECT_EQ(body->i, 1);
  // Unrelated work runs without advancing the generator or reporting a deadlock.
  Generator<long long> unused(FibBody{.n = 3});
  s.spawn(PartialConsumer{.gen = &unused, .take = 2});
  EXPECT_NO_THROW(s.run());
  EXPECT_EQ(body->i, 1);
  EXPECT_EQ(s.blocked_count(), 0u);
  EXPECT_EQ(gen.next(), 1);
  EXPECT_EQ(gen.next(), 2);
  EXPECT_EQ(gen.next(), 3);
  EXPECT_EQ(gen.next(), std::nullopt);
  EXPECT_TRUE(gen.done());
}

TEST(Generator, EmptyGeneratorEndsAtOnce) {
  Scheduler s;
  Generator<long long> gen(FibBody{.n = 0});
  EXPECT_EQ(gen.next(), std::nullopt);
  EXPECT_TRUE(gen.done());
  std::vector<long long> out;
  Generator<long long> gen2(FibBody{.n = 0});
  auto c = s.spawn(Consumer{.gen = &gen2, .out = &out});
  s.run();
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(c->result<int>(), 0);
  EXPECT_EQ(c->top_frame(), nullptr);
}

TEST(Generator, YieldFromANestedCall) {
  Scheduler s;
  Generator<int> gen(NestedBody{});
  std::vector<int> out;
  s.spawn(IntConsumer{.gen = &gen, .out = &out});
  s.run();
  EXPECT_EQ(out, (std::vector<int>{10, 11, 20, 21}));
  Generator<int> gen2(NestedBody{});
  std::vector<int> out2;
  while (auto v = gen2.next()) out2.push_back(*v);
  EXPECT_EQ(out2, out);
}

TEST(Generator, EarlyDestructionKillsTheProducer) {
  Scheduler s;
  int destroyed = 0;
  TaskletRef producer;
  {
    Generator<long long> gen(FibBody{.n = 20, .tracker = Tracker(&destroyed)});
    producer = TaskletRef(&gen.producer());
    EXPECT_EQ(gen.next(), 0);
    EXPECT_EQ(gen.next(), 1);
    EXPECT_EQ(destroyed, 0);
    EXPECT_TRUE(producer->alive());
  }
  EXPECT_EQ(destroyed, 1);
  EXPECT_EQ(producer->state(), TaskletState::kKilled);
  EXPECT_EQ(s.alive_count(), 0u);
  EXPECT_NO_THROW(s.run());  // nothing left blocked
}

TEST(Generator, EarlyDestructionBeforeAnyValue) {
  Scheduler s;
  int destroyed = 0;
  TaskletRef producer;
  {
    Generator<long long> gen(FibBody{.n = 20, .tracker = Tracker(&destroyed)});
    producer = TaskletRef(&gen.producer());
  }
  EXPECT_EQ(destroyed, 1);  // the body frame, never pushed, is destroyed too
  EXPECT_EQ(producer->state(), TaskletState::kKilled);
  EXPECT_NO_THROW(s.run());
}

TEST(Generator, EarlyDestructionAfterAConsumerFrameStopped) {
  Scheduler s;
  int destroyed = 0;
  TaskletRef producer;
  TaskletRef c;
  {
    Generator<long long> gen(FibBody{.n = 20, .tracker = Tracker(&destroyed)});
    producer = TaskletRef(&gen.producer());
    c = s.spawn(PartialConsumer{.gen = &gen, .take = 6});
    s.run();  // the producer waits for a next request that never comes
  }
  EXPECT_EQ(c->result<long long>(), 0 + 1 + 1 + 2 + 3 + 5);
  EXPECT_EQ(destroyed, 1);
  EXPECT_EQ(producer->state(), TaskletState::kKilled);
  EXPECT_EQ(s.blocked_count(), 0u);
}

TEST(Generator, BodyExceptionIsRaisedFromNext) {
  Scheduler s;
  Generator<int> gen(FailingBody{.n = 2});
  EXPECT_EQ(gen.next(), 0);
  EXPECT_EQ(gen.next(), 1);
  try {
    gen.next();
    FAIL() << "next() did not raise the body's exception";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "generator broke");
  }
  EXPECT_TRUE(gen.done());
  EXPECT_EQ(gen.next(), std::nullopt);  // the end, after the error
  EXPECT_NO_THROW(s.run());
}

TEST(Generator, BodyExceptionIsRaisedInTheConsumerFrame) {
  Scheduler s;
  Generator<int> gen(FailingBody{.n = 3});
  std::vector<int> out;
  auto c = s.spawn(CatchingDrain{.gen = &gen, .out = &out});
  EXPECT_NO_THROW(s.run());  // the consumer is not left waiting: no deadlock
  EXPECT_EQ(out, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(c->result<std::string>(), "generator broke");
  EXPECT_TRUE(gen.done());

  Generator<int> gen2(FailingBody{.n = 1});
  std::vector<int> out2;
  auto c2 = s.spawn(IntConsumer{.gen = &gen2, .out = &out2});
  EXPECT_NO_THROW(s.run());
  EXPECT_EQ(out2, (std::vector<int>{0}));
  EXPECT_EQ(stasis_test::what_of(c2->exception()), "generator broke");
}
