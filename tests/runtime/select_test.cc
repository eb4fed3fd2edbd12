// select_test.cc — Select (Limbo alt, Go select): ready cases, default, blocking
// and waking, sibling waiters, fairness, closed channels, misuse.
#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "stasis/stasis.h"
#include "test_frames.h"
#include "test_support.h"

namespace {

using stasis::Channel;
using stasis::ChannelOptions;
using stasis::Ctx;
using stasis::Frame;
using stasis::OpResult;
using stasis::Scheduler;
using stasis::Select;
using stasis::Step;
using stasis::TaskletRef;
using stasis::TaskletState;
using stasis::WaitKind;
using stasis_test::Closer;
using stasis_test::contains;
using stasis_test::ExpectPipelineWorks;
using stasis_test::holds;
using stasis_test::Log;
using stasis_test::Producer;
using stasis_test::RecvOne;
using stasis_test::RunExpectingDeadlock;
using stasis_test::SendExc;
using stasis_test::SendOne;
using stasis_test::what_of;

// --- Frames (SendOne, RecvOne, Closer, Producer, SendExc: test_frames.h). ---

// Runs *sel once with STASIS_SELECT; logs before and after; returns the choice.
struct SelectOnce : Frame<SelectOnce> {
  Select* sel = nullptr;
  Log* log = nullptr;
  std::string tag = "X";
  int chosen = Select::kNone;
  STASIS_FIELDS(sel, log, tag, chosen)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    if (log) log->push_back(tag + " selecting");
    STASIS_SELECT(cx, *sel, chosen);
    if (log) log->push_back(tag + " chose " + std::to_string(chosen));
    STASIS_RETURN(cx, chosen);
    STASIS_END(cx);
  }
};

// ======================================================================
// Ready cases
// ======================================================================

TEST(SelectReady, ReceiveFromWaitingSender) {
  Scheduler s;
  Channel<int> a, b;
  s.spawn(SendOne{.ch = &b, .v = 5});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  Select sel;
  sel.receive(a).receive(b);
  EXPECT_EQ(sel.size(), 2u);
  EXPECT_EQ(sel.chosen(), Select::kNone);
  TaskletRef t = s.spawn(SelectOnce{.sel = &sel});
  s.run();
  EXPECT_EQ(t->result<int>(), 1);
  EXPECT_EQ(sel.chosen(), 1);
  EXPECT_FALSE(sel.closed());
  EXPECT_EQ(sel.value<int>(), 5);
  EXPECT_EQ(a.balance(), 0);
  EXPECT_EQ(b.balance(), 0);
}

TEST(SelectReady, SendToWaitingReceiver) {
  Scheduler s;
  Channel<int> a, b;
  TaskletRef r = s.spawn(RecvOne{.ch = &b});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  Select sel;
  sel.receive(a).send(b, 9);
  TaskletRef t = s.spawn(SelectOnce{.sel = &sel});
  s.run();
  EXPECT_EQ(t->result<int>(), 1);
  EXPECT_EQ(r->result<int>(), 9);
  EXPECT_EQ(a.balance(), 0);
  EXPECT_EQ(b.balance(), 0);
}

// A select's send case follows the channel's preference: with -1 the woken receiver
// runs before the selecting tasklet continues.
TEST(SelectReady, SendCaseFollowsPreference) {
  for (int pref : {-1, 0}) {
    Scheduler s;
    Channel<int> ch(ChannelOptions{.preference = pref});
    Log log;
    s.spawn(RecvOne{.ch = &ch, .log = &log});
    Select sel;
    sel.send(ch, 3);
    s.spawn(SelectOnce{.sel = &sel, .log = &log});
    s.run();
    if (pref == -1) {
      EXPECT_EQ(log, (Log{"R receiving", "X selecting", "R got 3", "X chose 0"}));
    } else {
      EXPECT_EQ(log, (Log{"R receiving", "X selecting", "X chose 0", "R got 3"}));
    }
  }
}

// Mixed ready send and receive cases: whichever is chosen completes correctly and the
// other stays untouched.
TEST(SelectReady, MixedReadyCasesCompleteExactlyOne) {
  Scheduler s;
  s.seed(7);
  int chose_send = 0, chose_receive = 0;
  for (int round = 0; round < 40; ++round) {
    Channel<int> in, out;
    TaskletRef snd = s.spawn(SendOne{.ch = &in, .v = round});
    TaskletRef rcv = s.spawn(RecvOne{.ch = &out});
    EXPECT_THROW(s.run(), stasis::Deadlock);
    Select sel;
    sel.receive(in).send(out, 1000 + round);
    int c = sel.try_select();
    if (c == 0) {
      ++chose_receive;
      EXPECT_EQ(sel.value<int>(), round);
      EXPECT_EQ(in.balance(), 0);
      EXPECT_EQ(out.balance(), -1);  // the receiver still waits
      out.send(-1);
      s.run();
      EXPECT_EQ(rcv->result<int>(), -1);
    } else {
      ASSERT_EQ(c, 1);
      ++chose_send;
      EXPECT_EQ(out.balance(), 0);
      EXPECT_EQ(in.balance(), 1);  // the sender still waits
      EXPECT_EQ(in.receive(), round);
      s.run();
      EXPECT_EQ(rcv->result<int>(), 1000 + round);
    }
    EXPECT_EQ(s.alive_count(), 0u);
  }
  EXPECT_GT(chose_send, 0);
  EXPECT_GT(chose_receive, 0);
}

TEST(SelectReady, BufferedChannels) {
  Scheduler s;
  Channel<int> full(ChannelOptions{.capacity = 1});
  Channel<int> empty(ChannelOptions{.capacity = 2});
  full.send(11);
  // A full buffer is not ready for a send, an empty one not for a receive.
  Select none;
  none.send(full, 2).receive(empty);
  EXPECT_EQ(none.try_select(), Select::kDefault);
  EXPECT_EQ(full.buffer(), (std::deque<int>{11}));
  // The ready directions.
  Select r;
  r.receive(full);
  EXPECT_EQ(r.try_select(), 0);
  EXPECT_EQ(r.value<int>(), 11);
  EXPECT_EQ(full.buffered(), 0u);
  Select w;
  w.send(empty, 22);
  EXPECT_EQ(w.try_select(), 0);
  EXPECT_EQ(empty.buffer(), (std::deque<int>{22}));
  EXPECT_EQ(full.balance(), 0);
  EXPECT_EQ(empty.balance(), 0);
}

// ======================================================================
// Default case and try_select
// ======================================================================

TEST(SelectDefault, TakenWhenNothingIsReadyWithoutBlocking) {
  Scheduler s;
  Channel<int> a, b;
  Select sel;
  sel.receive(a).send(b, 1).otherwise();
  EXPECT_TRUE(sel.has_default());
  Log log;
  TaskletRef t = s.spawn(SelectOnce{.sel = &sel, .log = &log});
  s.run();  // no deadlock: the select did not block
  EXPECT_EQ(t->result<int>(), Select::kDefault);
  EXPECT_EQ(sel.chosen(), Select::kDefault);
  EXPECT_EQ(log, (Log{"X selecting", "X chose -1"}));
  EXPECT_EQ(a.balance(), 0);
  EXPECT_EQ(b.balance(), 0);
  EXPECT_THROW(sel.value<int>(), stasis::TaskletStateError);
}

TEST(SelectDefault, OutsideTaskletsWithSelectOp) {
  Scheduler s;
  Channel<int> a;
  Select sel;
  sel.receive(a).otherwise();
  EXPECT_EQ(sel.select_op(nullptr), OpResult::kDone);
  EXPECT_EQ(sel.chosen(), Select::kDefault);
  EXPECT_EQ(a.balance(), 0);
}

TEST(SelectDefault, NotTakenWhenACaseIsReady) {
  Scheduler s;
  s.seed(99);
  Channel<int> a, b;
  s.spawn(SendOne{.ch = &b, .v = 4});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  Select sel;
  sel.receive(a).receive(b).otherwise();
  TaskletRef t = s.spawn(SelectOnce{.sel = &sel});
  s.run();
  EXPECT_EQ(t->result<int>(), 1);
  EXPECT_EQ(sel.value<int>(), 4);
}

TEST(SelectDefault, OnlyADefault) {
  Scheduler s;
  Select sel;
  sel.otherwise();
  EXPECT_EQ(sel.try_select(), Select::kDefault);
  Select empty;
  EXPECT_THROW(empty.select_op(nullptr), stasis::InvalidArgument);
  // try_select never blocks, so even an empty select just reports the default.
  EXPECT_EQ(empty.try_select(), Select::kDefault);
}

TEST(SelectTry, NeverBlocksAndKeepsTheCasesDefaultless) {
  Scheduler s;
  Channel<int> a, b;
  Select sel;
  sel.receive(a).send(b, 8);
  EXPECT_EQ(sel.try_select(), Select::kDefault);
  EXPECT_FALSE(sel.has_default());  // try_select does not add a default
  EXPECT_EQ(a.balance(), 0);
  EXPECT_EQ(b.balance(), 0);
  // Without a default and outside a tasklet the blocking form refuses.
  EXPECT_THROW(sel.select_op(nullptr), stasis::CannotBlock);
  // Once something is ready, try_select takes it.
  TaskletRef r = s.spawn(RecvOne{.ch = &b});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  EXPECT_EQ(sel.try_select(), 1);
  s.run();
  EXPECT_EQ(r->result<int>(), 8);
}

struct TrySelectFrame : Frame<TrySelectFrame> {
  Select* sel = nullptr;
  STASIS_FIELDS(sel)
  Step run(Ctx& cx) { return cx.return_value(sel->try_select()); }
};

TEST(SelectTry, InsideATasklet) {
  Scheduler s;
  Channel<int> a;
  Select sel;
  sel.receive(a);
  TaskletRef t = s.spawn(TrySelectFrame{.sel = &sel});
  s.run();
  EXPECT_EQ(t->result<int>(), Select::kDefault);
  EXPECT_EQ(a.balance(), 0);
  s.spawn(SendOne{.ch = &a, .v = 12});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  TaskletRef t2 = s.spawn(TrySelectFrame{.sel = &sel});
  s.run();
  EXPECT_EQ(t2->result<int>(), 0);
  EXPECT_EQ(sel.value<int>(), 12);
  EXPECT_EQ(s.alive_count(), 0u);
}

// ======================================================================
// Blocking selects: parking, waking, sibling waiters
// ======================================================================

TEST(SelectBlocking, WokenByALaterSender) {
  Scheduler s;
  Channel<int> a(ChannelOptions{.name = "a"}), b(ChannelOptions{.name = "b"});
  Select sel;
  sel.receive(a).receive(b);
  Log log;
  TaskletRef t = s.spawn(SelectOnce{.sel = &sel, .log = &log});
  auto blocked = RunExpectingDeadlock(s);
  ASSERT_EQ(blocked.size(), 1u);
  EXPECT_TRUE(contains(blocked[0].waits_on, "select")) << blocked[0].waits_on;
  EXPECT_TRUE(contains(blocked[0].waits_on, "receive on " + a.label())) << blocked[0].waits_on;
  EXPECT_TRUE(contains(blocked[0].waits_on, "receive on " + b.label())) << blocked[0].waits_on;
  EXPECT_EQ(t->state(), TaskletState::kBlocked);
  EXPECT_EQ(t->wait_kind(), WaitKind::kSelect);
  EXPECT_EQ(t->waiting_on(), nullptr);  // several channels
  EXPECT_EQ(a.balance(), -1);
  EXPECT_EQ(b.balance(), -1);
  EXPECT_EQ(a.queue_head(), t.get());
  EXPECT_EQ(b.queue_head(), t.get());
  // Modifying a parked select is refused.
  Channel<int> c;
  EXPECT_THROW(sel.receive(c), stasis::TaskletStateError);
  EXPECT_THROW(sel.clear(), stasis::TaskletStateError);

  s.spawn(SendOne{.ch = &b, .v = 5, .log = &log});
  s.run();
  EXPECT_EQ(t->result<int>(), 1);
  EXPECT_EQ(sel.value<int>(), 5);
  EXPECT_FALSE(sel.closed());
  EXPECT_EQ(a.balance(), 0);
  EXPECT_EQ(b.balance(), 0);
  EXPECT_TRUE(a.waiting().empty());
  // Default preference -1: the woken select runs before the sender continues.
  EXPECT_EQ(log, (Log{"X selecting", "S sending", "X chose 1", "S sent"}));
}

TEST(SelectBlocking, WokenByALaterReceiver) {
  Scheduler s;
  Channel<int> a, b;
  Select sel;
  sel.send(a, 10).send(b, 20);
  TaskletRef t = s.spawn(SelectOnce{.sel = &sel});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  EXPECT_EQ(a.balance(), 1);
  EXPECT_EQ(b.balance(), 1);
  TaskletRef r = s.spawn(RecvOne{.ch = &b});
  s.run();
  EXPECT_EQ(r->result<int>(), 20);
  EXPECT_EQ(t->result<int>(), 1);
  EXPECT_EQ(a.balance(), 0);
  EXPECT_EQ(b.balance(), 0);
  EXPECT_EQ(a.try_receive(), std::nullopt);  // the offer on `a` was withdrawn
  EXPECT_THROW(sel.value<int>(), stasis::TaskletStateError);  // a send case has no value
}

TEST(SelectBlocking, WokenByAReceiverOutsideTasklets) {
  Scheduler s;
  Channel<std::string> words;
  Channel<int> nums;
  Select sel;
  sel.receive(nums).send(words, std::string("hello"));
  TaskletRef t = s.spawn(SelectOnce{.sel = &sel});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  EXPECT_EQ(words.receive(), "hello");
  EXPECT_EQ(nums.balance(), 0);
  s.run();
  EXPECT_EQ(t->result<int>(), 1);
}

TEST(SelectBlocking, SiblingWaitersAreRemovedWhenOneFires) {
  Scheduler s;
  Channel<int> a, b, c;
  Select sel;
  sel.receive(a).receive(b).receive(c);
  TaskletRef t = s.spawn(SelectOnce{.sel = &sel});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  EXPECT_EQ(a.balance(), -1);
  EXPECT_EQ(b.balance(), -1);
  EXPECT_EQ(c.balance(), -1);
  c.send(3);
  EXPECT_EQ(a.balance(), 0);
  EXPECT_EQ(b.balance(), 0);
  EXPECT_EQ(c.balance(), 0);
  EXPECT_EQ(t->state(), TaskletState::kRunnable);
  EXPECT_EQ(s.blocked_count(), 0u);
  s.run();
  EXPECT_EQ(t->result<int>(), 2);
  EXPECT_EQ(sel.value<int>(), 3);
  // Nobody receives on `a` any more: a sender there blocks and is reported.
  TaskletRef late = s.spawn(SendOne{.ch = &a, .v = 1});
  auto blocked = RunExpectingDeadlock(s);
  ASSERT_EQ(blocked.size(), 1u);
  EXPECT_EQ(blocked[0].id, late->id());
  EXPECT_EQ(a.balance(), 1);
  EXPECT_EQ(a.waiting(), (std::vector<stasis::Tasklet*>{late.get()}));
  late->kill();
  EXPECT_EQ(a.balance(), 0);
}

// Two selects wait on one channel: FIFO among them, each fires once.
TEST(SelectBlocking, FifoAmongSelectsOnOneChannel) {
  Scheduler s;
  Channel<int> shared, other1, other2;
  Select s1, s2;
  s1.receive(shared).receive(other1);
  s2.receive(other2).receive(shared);
  Log log;
  TaskletRef t1 = s.spawn(SelectOnce{.sel = &s1, .log = &log, .tag = "A"});
  TaskletRef t2 = s.spawn(SelectOnce{.sel = &s2, .log = &log, .tag = "B"});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  EXPECT_EQ(shared.balance(), -2);
  EXPECT_EQ(shared.waiting(), (std::vector<stasis::Tasklet*>{t1.get(), t2.get()}));
  shared.send(1);
  EXPECT_EQ(shared.balance(), -1);
  EXPECT_EQ(other1.balance(), 0);
  EXPECT_EQ(other2.balance(), -1);
  shared.send(2);
  s.run();
  EXPECT_EQ(t1->result<int>(), 0);
  EXPECT_EQ(s1.value<int>(), 1);
  EXPECT_EQ(t2->result<int>(), 1);
  EXPECT_EQ(s2.value<int>(), 2);
  EXPECT_EQ(other2.balance(), 0);
}

// Two receive cases on the same channel: the first queued case fires, both leave.
TEST(SelectBlocking, DuplicateReceiveCasesOnOneChannel) {
  Scheduler s;
  Channel<int> a;
  Select sel;
  sel.receive(a).receive(a);
  TaskletRef t = s.spawn(SelectOnce{.sel = &sel});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  EXPECT_EQ(a.balance(), -2);
  a.send(6);
  EXPECT_EQ(a.balance(), 0);
  s.run();
  EXPECT_EQ(t->result<int>(), 0);
  EXPECT_EQ(sel.value<int>(), 6);
}

// A Select with receive cases is reusable: a frame field selected in a loop merges
// two producers, keeping each producer's order.
struct Merger : Frame<Merger> {
  Channel<int>* a = nullptr;
  Channel<int>* b = nullptr;
  int n = 0;
  Select sel;
  int i = 0, chosen = 0;
  std::vector<int> from_a, from_b;
  STASIS_FIELDS(a, b, n, sel, i, chosen, from_a, from_b)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    sel.receive(*a).receive(*b);
    for (i = 0; i < n; ++i) {
      STASIS_SELECT(cx, sel, chosen);
      (chosen == 0 ? from_a : from_b).push_back(sel.value<int>());
    }
    STASIS_RETURN(cx, (std::vector<std::vector<int>>{from_a, from_b}));
    STASIS_END(cx);
  }
};

TEST(SelectBlocking, ReusedInALoopMergesProducers) {
  Scheduler s;
  Channel<int> a, b;
  s.spawn(Producer{.out = &a, .first = 0, .n = 50});
  s.spawn(Producer{.out = &b, .first = 1000, .n = 70});
  TaskletRef m = s.spawn(Merger{.a = &a, .b = &b, .n = 120});
  s.run();
  auto got = m->result<std::vector<std::vector<int>>>();
  ASSERT_EQ(got.size(), 2u);
  std::vector<int> want_a, want_b;
  for (int i = 0; i < 50; ++i) want_a.push_back(i);
  for (int i = 0; i < 70; ++i) want_b.push_back(1000 + i);
  EXPECT_EQ(got[0], want_a);
  EXPECT_EQ(got[1], want_b);
  EXPECT_EQ(a.balance(), 0);
  EXPECT_EQ(b.balance(), 0);
  EXPECT_EQ(s.alive_count(), 0u);
}

struct StrRecv : Frame<StrRecv> {
  Channel<std::string>* ch = nullptr;
  std::string got;
  STASIS_FIELDS(ch, got)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_RECEIVE(cx, *ch, got);
    STASIS_RETURN(cx, got);
    STASIS_END(cx);
  }
};

// A send case delivers its value once. Reusing a Select whose send case fired is
// refused (TaskletStateError) instead of sending a moved-from or missing value; the
// case must be added again (clear() and rebuild) to send another value.
TEST(SelectBlocking, SendCaseValueIsDeliveredOnce) {
  Scheduler s;
  Channel<std::string> out(ChannelOptions{.name = "out"});
  Select sel;
  sel.send(out, std::string("only once"));
  s.spawn(SelectOnce{.sel = &sel});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  EXPECT_EQ(out.receive(), "only once");  // taken from the parked select
  s.run();
  try {
    sel.try_select();
    ADD_FAILURE() << "a spent send case was selected again";
  } catch (const stasis::TaskletStateError& e) {
    EXPECT_TRUE(contains(e.what(), out.label())) << e.what();
  }
  EXPECT_EQ(out.balance(), 0);
  EXPECT_EQ(out.buffered(), 0u);

  // The immediate path (a receiver already waits) consumes the value the same way.
  sel.clear();
  EXPECT_EQ(sel.size(), 0u);
  sel.send(out, std::string("again"));
  TaskletRef r = s.spawn(StrRecv{.ch = &out});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  EXPECT_EQ(sel.try_select(), 0);
  s.run();
  EXPECT_EQ(r->result<std::string>(), "again");
  TaskletRef r2 = s.spawn(StrRecv{.ch = &out});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  EXPECT_THROW(sel.try_select(), stasis::TaskletStateError);  // not "" to r2
  EXPECT_EQ(out.balance(), -1);
  r2->kill();
}

// A send case that was not chosen keeps its value for the next round.
TEST(SelectBlocking, UnchosenSendCaseKeepsItsValue) {
  Scheduler s;
  Channel<int> in(ChannelOptions{.capacity = 1}), out;
  Select sel;
  sel.receive(in).send(out, 77);
  in.send(1);
  EXPECT_EQ(sel.try_select(), 0);  // only the receive is ready
  EXPECT_EQ(sel.value<int>(), 1);
  TaskletRef r = s.spawn(RecvOne{.ch = &out});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  EXPECT_EQ(sel.try_select(), 1);
  s.run();
  EXPECT_EQ(r->result<int>(), 77);
}

// ======================================================================
// Fairness
// ======================================================================

// Selects n times over two channels that are always ready (refilled before each
// select) and counts the choices.
struct FairSelector : Frame<FairSelector> {
  Channel<int>* a = nullptr;
  Channel<int>* b = nullptr;
  int n = 0;
  std::vector<int>* choices = nullptr;
  Select sel;
  int i = 0, chosen = 0, wrong_values = 0;
  STASIS_FIELDS(a, b, n, choices, sel, i, chosen, wrong_values)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    sel.receive(*a).receive(*b);
    for (i = 0; i < n; ++i) {
      a->try_send(100);
      b->try_send(200);
      STASIS_SELECT(cx, sel, chosen);
      choices->push_back(chosen);
      if (sel.value<int>() != (chosen == 0 ? 100 : 200)) ++wrong_values;
    }
    STASIS_RETURN(cx, wrong_values);
    STASIS_END(cx);
  }
};

std::vector<int> RunFairSelector(std::uint64_t seed, int n) {
  Scheduler s;
  s.seed(seed);
  Channel<int> a(ChannelOptions{.capacity = 1}), b(ChannelOptions{.capacity = 1});
  std::vector<int> choices;
  TaskletRef t = s.spawn(FairSelector{.a = &a, .b = &b, .n = n, .choices = &choices});
  s.run();
  EXPECT_EQ(t->result<int>(), 0);  // every chosen case delivered its own channel's value
  EXPECT_EQ(s.blocked_count(), 0u);  // both always ready: never blocked
  return choices;
}

TEST(SelectFairness, TwoAlwaysReadyChannelsSplitEvenly) {
  constexpr int kSelects = 10000;
  std::vector<int> choices = RunFairSelector(12345, kSelects);
  ASSERT_EQ(choices.size(), static_cast<std::size_t>(kSelects));
  int first = 0, second = 0;
  for (int c : choices) (c == 0 ? first : second)++;
  EXPECT_EQ(first + second, kSelects);
  EXPECT_GE(first, kSelects * 45 / 100);
  EXPECT_LE(first, kSelects * 55 / 100);
  EXPECT_GE(second, kSelects * 45 / 100);
  EXPECT_LE(second, kSelects * 55 / 100);
  // Not a trivial alternation either: both cases win twice in a row sometimes.
  int repeats = 0;
  for (std::size_t i = 1; i < choices.size(); ++i) repeats += choices[i] == choices[i - 1];
  EXPECT_GT(repeats, kSelects / 4);
  EXPECT_LT(repeats, kSelects * 3 / 4);
}

TEST(SelectFairness, ReproducibleFromTheSeed) {
  std::vector<int> x = RunFairSelector(42, 500);
  std::vector<int> y = RunFairSelector(42, 500);
  std::vector<int> z = RunFairSelector(43, 500);
  EXPECT_EQ(x, y);
  EXPECT_NE(x, z);
}

// Fairness holds among three cases and for try_select outside tasklets too.
TEST(SelectFairness, ThreeCasesWithTrySelect) {
  Scheduler s;
  s.seed(2024);
  Channel<int> c0(ChannelOptions{.capacity = 1}), c1(ChannelOptions{.capacity = 1}),
      c2(ChannelOptions{.capacity = 1});
  Select sel;
  sel.receive(c0).receive(c1).receive(c2);
  int counts[3] = {0, 0, 0};
  for (int i = 0; i < 9000; ++i) {
    c0.try_send(0);
    c1.try_send(1);
    c2.try_send(2);
    int c = sel.try_select();
    ASSERT_GE(c, 0);
    ASSERT_LT(c, 3);
    ASSERT_EQ(sel.value<int>(), c);
    ++counts[c];
  }
  for (int c : counts) {
    EXPECT_GE(c, 2700);  // 30% .. 36.7% of 9000
    EXPECT_LE(c, 3300);
  }
}

// ======================================================================
// Closed channels
// ======================================================================

TEST(SelectClosed, ReceiveCaseOnClosedChannelIsReady) {
  Scheduler s;
  Channel<int> closed_ch(ChannelOptions{.name = "done"}), idle;
  closed_ch.close();
  Select sel;
  sel.receive(idle).receive(closed_ch).otherwise();
  EXPECT_EQ(sel.try_select(), 1);  // ready, so not the default
  EXPECT_TRUE(sel.closed());
  // No value was received: value() refuses (select.h: TaskletStateError).
  EXPECT_THROW(sel.value<int>(), stasis::TaskletStateError);
  // In a tasklet without a default it does not block either.
  Select blocking;
  blocking.receive(idle).receive(closed_ch);
  TaskletRef t = s.spawn(SelectOnce{.sel = &blocking});
  s.run();
  EXPECT_EQ(t->result<int>(), 1);
  EXPECT_TRUE(blocking.closed());
  EXPECT_EQ(idle.balance(), 0);
}

// A closing channel with senders still waiting delivers their values first.
TEST(SelectClosed, ClosingChannelDrainsBeforeReportingClosed) {
  Scheduler s;
  Channel<int> ch;
  s.spawn(SendOne{.ch = &ch, .v = 1});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  ch.close();
  Select sel;
  sel.receive(ch);
  EXPECT_EQ(sel.try_select(), 0);
  EXPECT_FALSE(sel.closed());
  EXPECT_EQ(sel.value<int>(), 1);
  EXPECT_EQ(sel.try_select(), 0);
  EXPECT_TRUE(sel.closed());
  s.run();
}

TEST(SelectClosed, CloseWakesABlockedSelect) {
  Scheduler s;
  Channel<int> a(ChannelOptions{.name = "a"}), b(ChannelOptions{.name = "b"});
  Select sel;
  sel.receive(a).receive(b);
  Log log;
  TaskletRef t = s.spawn(SelectOnce{.sel = &sel, .log = &log});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  s.spawn(Closer{.ch = &a, .log = &log});
  s.run();
  EXPECT_EQ(log, (Log{"X selecting", "close", "X chose 0"}));
  EXPECT_EQ(t->result<int>(), 0);
  EXPECT_TRUE(sel.closed());
  EXPECT_EQ(a.balance(), 0);
  EXPECT_EQ(b.balance(), 0);
  EXPECT_TRUE(a.closed());
}

TEST(SelectClosed, CloseFromOutsideWakesABlockedSelect) {
  Scheduler s;
  Channel<int> a, b;
  Select sel;
  sel.receive(a).receive(b);
  TaskletRef t = s.spawn(SelectOnce{.sel = &sel});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  b.close();
  EXPECT_EQ(t->state(), TaskletState::kRunnable);
  EXPECT_EQ(s.blocked_count(), 0u);
  EXPECT_EQ(a.balance(), 0);
  s.run();
  EXPECT_EQ(t->result<int>(), 1);
  EXPECT_TRUE(sel.closed());
}

// Both receive cases on the channel being closed: the select wakes exactly once.
TEST(SelectClosed, CloseWakesSelectWithDuplicateCasesOnce) {
  Scheduler s;
  Channel<int> a, other;
  Select sel;
  sel.receive(a).receive(other).receive(a);
  TaskletRef t = s.spawn(SelectOnce{.sel = &sel});
  TaskletRef plain = s.spawn(RecvOne{.ch = &a});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  EXPECT_EQ(a.balance(), -3);
  a.close();
  EXPECT_EQ(t->state(), TaskletState::kRunnable);
  EXPECT_EQ(s.runnable_count(), 1u);
  EXPECT_EQ(s.blocked_count(), 1u);  // the plain receiver stays blocked (Stackless)
  EXPECT_EQ(a.balance(), -1);
  EXPECT_EQ(other.balance(), 0);
  EXPECT_THROW(s.run(), stasis::Deadlock);
  EXPECT_EQ(t->result<int>(), 0);  // the first queued case fired
  EXPECT_TRUE(sel.closed());
  plain->kill();
  EXPECT_EQ(s.alive_count(), 0u);
  EXPECT_TRUE(a.closed());
  ExpectPipelineWorks(s);
}

// close() wakes select receive cases only: a select offering to send stays parked
// (Stackless semantics for waiters) and still completes with a receiver.
TEST(SelectClosed, CloseDoesNotWakeSendCases) {
  Scheduler s;
  Channel<int> a;
  Select sel;
  sel.send(a, 31);
  TaskletRef t = s.spawn(SelectOnce{.sel = &sel});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  a.close();
  EXPECT_TRUE(t->blocked());
  EXPECT_EQ(a.balance(), 1);
  EXPECT_EQ(a.receive(), 31);
  EXPECT_TRUE(a.closed());
  s.run();
  EXPECT_EQ(t->result<int>(), 0);
}

TEST(SelectClosed, SendCaseOnClosingChannelRaises) {
  Scheduler s;
  Channel<int> ch(ChannelOptions{.name = "shut"}), idle;
  ch.close();
  Select sel;
  sel.receive(idle).send(ch, 1).otherwise();
  try {
    sel.try_select();
    ADD_FAILURE() << "send case on a closing channel did not raise";
  } catch (const stasis::ChannelClosed& e) {
    EXPECT_TRUE(contains(e.what(), ch.label())) << e.what();
  }
  EXPECT_EQ(idle.balance(), 0);
  Select blocking;
  blocking.send(ch, 2);
  TaskletRef t = s.spawn(SelectOnce{.sel = &blocking});
  s.run();
  EXPECT_TRUE(holds<stasis::ChannelClosed>(t->exception()));
  EXPECT_EQ(ch.balance(), 0);
  ExpectPipelineWorks(s);
}

TEST(SelectClosed, SendCaseOnClosingChannelWithReceiverSucceeds) {
  Scheduler s;
  Channel<int> ch;
  TaskletRef r = s.spawn(RecvOne{.ch = &ch});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  ch.close();
  Select sel;
  sel.send(ch, 5);
  EXPECT_EQ(sel.try_select(), 0);
  EXPECT_TRUE(ch.closed());
  s.run();
  EXPECT_EQ(r->result<int>(), 5);
}

// ======================================================================
// Misuse and exceptional wake-ups
// ======================================================================

TEST(SelectMisuse, SameChannelInSendAndReceiveCases) {
  Scheduler s;
  Channel<int> ch(ChannelOptions{.name = "both"}), other;
  Select sel;
  sel.receive(ch).receive(other);
  try {
    sel.send(ch, 1);
    ADD_FAILURE() << "no InvalidArgument";
  } catch (const stasis::InvalidArgument& e) {
    EXPECT_TRUE(contains(e.what(), ch.label())) << e.what();
  }
  EXPECT_EQ(sel.size(), 2u);  // the bad case was not added
  Select other_order;
  other_order.send(ch, 1);
  EXPECT_THROW(other_order.receive(ch), stasis::InvalidArgument);
  EXPECT_EQ(other_order.size(), 1u);
  // Two cases of one direction on one channel are fine.
  Select twice;
  EXPECT_NO_THROW(twice.send(ch, 1).send(ch, 2));
}

TEST(SelectMisuse, BlockingSelectOutsideATasklet) {
  Scheduler s;
  Channel<int> a(ChannelOptions{.name = "nobody"});
  Select sel;
  sel.receive(a);
  try {
    sel.select_op(nullptr);
    ADD_FAILURE() << "no CannotBlock";
  } catch (const stasis::CannotBlock& e) {
    EXPECT_TRUE(contains(e.what(), a.label())) << e.what();
  }
  EXPECT_EQ(a.balance(), 0);
  EXPECT_EQ(sel.chosen(), Select::kNone);
  ExpectPipelineWorks(s);
  // The select itself is still usable.
  a.close();
  EXPECT_EQ(sel.try_select(), 0);
  EXPECT_TRUE(sel.closed());
}

struct TrappedSelect : Frame<TrappedSelect> {
  Select* sel = nullptr;
  int chosen = 0;
  STASIS_FIELDS(sel, chosen)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    cx.tasklet().set_block_trap(true);
    STASIS_SELECT(cx, *sel, chosen);
    STASIS_END(cx);
  }
};

TEST(SelectMisuse, BlockTrapInsideATasklet) {
  Scheduler s;
  Channel<int> a(ChannelOptions{.name = "trap"});
  Select sel;
  sel.receive(a);
  TaskletRef t = s.spawn(TrappedSelect{.sel = &sel});
  s.run();
  EXPECT_TRUE(holds<stasis::BlockTrap>(t->exception()));
  EXPECT_TRUE(contains(what_of(t->exception()), a.label()));
  EXPECT_EQ(a.balance(), 0);
  ExpectPipelineWorks(s);
}

TEST(SelectMisuse, ValueErrors) {
  Scheduler s;
  Channel<int> ints(ChannelOptions{.capacity = 1});
  Channel<std::string> strings(ChannelOptions{.capacity = 1});
  Select sel;
  sel.receive(ints);
  EXPECT_THROW(sel.value<int>(), stasis::TaskletStateError);  // nothing chosen yet
  ints.send(5);
  ASSERT_EQ(sel.try_select(), 0);
  EXPECT_THROW(sel.value<std::string>(), stasis::TypeMismatch);
  EXPECT_THROW(sel.value<long>(), stasis::TypeMismatch);
  EXPECT_EQ(sel.value<int>(), 5);  // still there after the failed attempts
  EXPECT_EQ(sel.try_select(), Select::kDefault);
  EXPECT_THROW(sel.value<int>(), stasis::TaskletStateError);  // the default has no value

  Select str;
  str.receive(strings);
  strings.send("text");
  ASSERT_EQ(str.try_select(), 0);
  try {
    str.value<int>();
    ADD_FAILURE() << "no TypeMismatch";
  } catch (const stasis::TypeMismatch& e) {
    EXPECT_TRUE(contains(e.what(), "select")) << e.what();
  }
  EXPECT_EQ(str.value<std::string>(), "text");
}

TEST(SelectMisuse, KillATaskletBlockedInASelect) {
  Scheduler s;
  Channel<int> a, b;
  Select sel;
  sel.receive(a).send(b, 1);
  TaskletRef t = s.spawn(SelectOnce{.sel = &sel});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  EXPECT_EQ(a.balance(), -1);
  EXPECT_EQ(b.balance(), 1);
  t->kill();
  EXPECT_EQ(t->state(), TaskletState::kKilled);
  EXPECT_EQ(a.balance(), 0);
  EXPECT_EQ(b.balance(), 0);
  EXPECT_TRUE(a.waiting().empty());
  EXPECT_TRUE(b.waiting().empty());
  EXPECT_EQ(b.try_receive(), std::nullopt);
  EXPECT_FALSE(a.try_send(1));
  // The select can be cleared and reused after its tasklet died.
  EXPECT_NO_THROW(sel.clear());
  ExpectPipelineWorks(s);
}

TEST(SelectMisuse, ThrowIntoATaskletBlockedInASelect) {
  Scheduler s;
  Channel<int> a, b;
  Select sel;
  sel.receive(a).receive(b);
  Log log;
  TaskletRef t = s.spawn(SelectOnce{.sel = &sel, .log = &log});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  t->raise(std::runtime_error("wake up"));
  EXPECT_EQ(a.balance(), 0);
  EXPECT_EQ(b.balance(), 0);
  EXPECT_EQ(t->state(), TaskletState::kRunnable);
  s.run();
  EXPECT_TRUE(holds<std::runtime_error>(t->exception()));
  EXPECT_EQ(what_of(t->exception()), "wake up");
  EXPECT_EQ(log, (Log{"X selecting"}));
}

TEST(SelectMisuse, ChannelDestroyedWhileASelectWaits) {
  Scheduler s;
  auto a = std::make_unique<Channel<int>>(ChannelOptions{.name = "temp"});
  Channel<int> b;
  const std::string label = a->label();
  Select sel;
  sel.receive(*a).receive(b);
  TaskletRef t = s.spawn(SelectOnce{.sel = &sel});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  a.reset();
  EXPECT_EQ(b.balance(), 0);  // the sibling waiter left too
  EXPECT_EQ(t->state(), TaskletState::kRunnable);
  s.run();
  EXPECT_TRUE(holds<stasis::ChannelDestroyed>(t->exception()));
  EXPECT_TRUE(contains(what_of(t->exception()), label)) << what_of(t->exception());
  sel.clear();
  ExpectPipelineWorks(s);
}

// send_exception reaches a select's receive case: the select raises it.
TEST(SelectMisuse, SendExceptionToAParkedSelect) {
  Scheduler s;
  Channel<int> a, b;
  Select sel;
  sel.receive(a).receive(b);
  TaskletRef t = s.spawn(SelectOnce{.sel = &sel});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  TaskletRef snd = s.spawn(SendExc{.ch = &b, .e = std::make_exception_ptr(std::invalid_argument("via select"))});
  s.run();
  EXPECT_TRUE(holds<std::invalid_argument>(t->exception()));
  EXPECT_EQ(what_of(t->exception()), "via select");
  EXPECT_EQ(snd->state(), TaskletState::kFinished);
  EXPECT_FALSE(snd->failed());
  EXPECT_EQ(a.balance(), 0);
  EXPECT_EQ(b.balance(), 0);
}

TEST(SelectMisuse, SendExceptionWaitingForASelect) {
  Scheduler s;
  Channel<int> a;
  TaskletRef snd = s.spawn(SendExc{.ch = &a, .e = std::make_exception_ptr(std::overflow_error("queued"))});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  Select sel;
  sel.receive(a);
  try {
    sel.try_select();
    ADD_FAILURE() << "the queued exception was not raised";
  } catch (const std::overflow_error& e) {
    EXPECT_STREQ(e.what(), "queued");
  }
  EXPECT_EQ(a.balance(), 0);
  s.run();
  EXPECT_EQ(snd->state(), TaskletState::kFinished);
}

// select.h forbids destroying a Select while a tasklet waits in it; if it happens
// anyway, its waiters leave the channels (no dangling waiter) and the stranded
// tasklet stays killable: nothing crashes.
TEST(SelectMisuse, SelectDestroyedWhileParkedLeavesAKillableTasklet) {
  Scheduler s;
  Channel<int> a, b;
  auto sel = std::make_unique<Select>();
  sel->receive(a).send(b, 1);
  TaskletRef t = s.spawn(SelectOnce{.sel = sel.get()});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  sel.reset();
  EXPECT_EQ(a.balance(), 0);
  EXPECT_EQ(b.balance(), 0);
  EXPECT_TRUE(a.waiting().empty());
  auto blocked = RunExpectingDeadlock(s);
  ASSERT_EQ(blocked.size(), 1u);
  EXPECT_EQ(blocked[0].id, t->id());
  t->kill();
  EXPECT_EQ(t->state(), TaskletState::kKilled);
  EXPECT_EQ(s.alive_count(), 0u);
  ExpectPipelineWorks(s);
}

}  // namespace
