// channel_test.cc — Channel<T>: Stackless' test_channel.py ported to soft frames,
// plus balance, FIFO, preference, close/open, send_exception, buffering, misuse.
//
// Run order is checked exactly by recording events in a Log. Tasklets that are
// expected to stay blocked make run() throw Deadlock, which is the Stasis
// counterpart of Stackless' "run() returns to main while t is blocked".
#include <gtest/gtest.h>

#include <deque>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "stasis/stasis.h"
#include "test_frames.h"
#include "test_support.h"

namespace {

using stasis::Channel;
using stasis::ChannelOptions;
using stasis::Ctx;
using stasis::Frame;
using stasis::Scheduler;
using stasis::Step;
using stasis::TaskletRef;
using stasis::TaskletState;
using stasis::WaitKind;
using stasis_test::contains;
using stasis_test::holds;
using stasis_test::Log;
using stasis_test::Note;
using stasis_test::Producer;
using stasis_test::RecvOne;
using stasis_test::RunExpectingDeadlock;
using stasis_test::SendExc;
using stasis_test::SendOne;
using stasis_test::what_of;

// An exception carrying Python-style args, like ValueError(1, 2, 3).
struct ArgsError : std::runtime_error {
  std::vector<int> args;
  ArgsError(const std::string& what, std::vector<int> a) : std::runtime_error(what), args(std::move(a)) {}
};

// --- Frames (SendOne, RecvOne, Note, Producer, SendExc: test_frames.h). ---

// Receives n ints and returns them.
struct Collect : Frame<Collect> {
  Channel<int>* in = nullptr;
  int n = 0;
  int i = 0, v = 0;
  std::vector<int> got;
  STASIS_FIELDS(in, n, i, v, got)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (i = 0; i < n; ++i) {
      STASIS_RECEIVE(cx, *in, v);
      got.push_back(v);
    }
    STASIS_RETURN(cx, got);
    STASIS_END(cx);
  }
};

// Iterates the channel until it is closed (STASIS_RECEIVE_OK) and returns what it got.
struct Drain : Frame<Drain> {
  Channel<int>* in = nullptr;
  int v = 0;
  bool ok = true;
  std::vector<int> got;
  STASIS_FIELDS(in, v, ok, got)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (;;) {
      STASIS_RECEIVE_OK(cx, *in, v, ok);
      if (!ok) break;
      got.push_back(v);
    }
    STASIS_RETURN(cx, got);
    STASIS_END(cx);
  }
};

// Runs a child frame, catching what it throws into *err (and counting catches). The
// child is moved into the call: it runs once, and frames with a Tracker do not copy.
template <class Child>
struct Catch : Frame<Catch<Child>> {
  Child child;
  std::exception_ptr* err = nullptr;
  int* caught = nullptr;
  STASIS_FIELDS(child, err, caught)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_TRY_CALL(cx, *err, std::move(child));
    if (*err && caught) ++*caught;
    STASIS_END(cx);
  }
};

// Sets its own block_trap, then sends or receives on an empty channel.
struct TrappedOp : Frame<TrappedOp> {
  Channel<int>* ch = nullptr;
  bool sending = true;
  int v = 0;
  STASIS_FIELDS(ch, sending, v)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    cx.tasklet().set_block_trap(true);
    if (sending) {
      STASIS_SEND(cx, *ch, v);
    } else {
      STASIS_RECEIVE(cx, *ch, v);
    }
    STASIS_END(cx);
  }
};

// A plain (non-macro) send inside a soft frame; logs around it.
struct PlainSend : Frame<PlainSend> {
  Channel<int>* ch = nullptr;
  int v = 0;
  Log* log = nullptr;
  STASIS_FIELDS(ch, v, log)
  Step run(Ctx&) {
    if (log) log->push_back("P sending");
    ch->send(v);
    if (log) log->push_back("P sent");
    return Step::kReturn;
  }
};

// A plain (non-macro) receive inside a soft frame.
struct PlainReceive : Frame<PlainReceive> {
  Channel<int>* ch = nullptr;
  STASIS_FIELDS(ch)
  Step run(Ctx& cx) { return cx.return_value(ch->receive()); }
};

// The shared pipeline check (test_frames.h) plus this suite's own: the pipeline
// channel ends balanced.
void ExpectPipelineWorks(Scheduler& s) { EXPECT_EQ(stasis_test::ExpectPipelineWorks(s), 0); }

// ======================================================================
// Stackless test_channel.py (TestChannels)
// ======================================================================

// 1. testBlockingSend
TEST(ChannelStackless, BlockingSend) {
  Scheduler s;
  Channel<int> ch(ChannelOptions{.name = "c"});
  TaskletRef t = s.spawn(SendOne{.ch = &ch, .v = 1});
  auto blocked = RunExpectingDeadlock(s);
  ASSERT_EQ(blocked.size(), 1u);
  EXPECT_EQ(blocked[0].id, t->id());
  EXPECT_EQ(blocked[0].waits_on, "send on " + ch.label());
  EXPECT_TRUE(t->blocked());
  EXPECT_EQ(t->state(), TaskletState::kBlocked);
  EXPECT_EQ(t->wait_kind(), WaitKind::kSend);
  EXPECT_EQ(t->waiting_on(), &ch);
  EXPECT_EQ(ch.balance(), 1);
  // Take the value from outside: the sender completes.
  EXPECT_EQ(ch.receive(), 1);
  EXPECT_EQ(ch.balance(), 0);
  EXPECT_EQ(t->state(), TaskletState::kRunnable);
  s.run();
  EXPECT_EQ(t->state(), TaskletState::kFinished);
}

// 2. testBlockingReceive
TEST(ChannelStackless, BlockingReceive) {
  Scheduler s;
  Channel<int> ch(ChannelOptions{.name = "c"});
  TaskletRef t = s.spawn(RecvOne{.ch = &ch});
  auto blocked = RunExpectingDeadlock(s);
  ASSERT_EQ(blocked.size(), 1u);
  EXPECT_EQ(blocked[0].waits_on, "receive on " + ch.label());
  EXPECT_TRUE(t->blocked());
  EXPECT_EQ(t->wait_kind(), WaitKind::kReceive);
  EXPECT_EQ(t->waiting_on(), &ch);
  EXPECT_EQ(ch.balance(), -1);
  ch.send(42);
  EXPECT_EQ(ch.balance(), 0);
  s.run();
  EXPECT_EQ(t->result<int>(), 42);
}

// 3. testNonBlockingSend: a receiver waits; a block-trapped sender does not block and
// (default preference -1) the receiver has the value before the sender continues.
TEST(ChannelStackless, NonBlockingSend) {
  Scheduler s;
  Channel<int> ch;
  Log log;
  TaskletRef r = s.spawn(RecvOne{.ch = &ch, .log = &log});
  TaskletRef snd = s.spawn(SendOne{.ch = &ch, .v = 1, .log = &log});
  snd->set_block_trap(true);
  s.run();
  EXPECT_EQ(log, (Log{"R receiving", "S sending", "R got 1", "S sent"}));
  EXPECT_FALSE(snd->failed());
  EXPECT_EQ(r->result<int>(), 1);
  EXPECT_EQ(ch.balance(), 0);
}

// 3b. The same from outside any tasklet: a send that finds a receiver never blocks;
// the receiver is queued and gets the value when the scheduler runs.
TEST(ChannelStackless, NonBlockingSendFromOutside) {
  Scheduler s;
  Channel<int> ch;
  TaskletRef r = s.spawn(RecvOne{.ch = &ch});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  ASSERT_EQ(ch.balance(), -1);
  EXPECT_NO_THROW(ch.send(1));
  EXPECT_EQ(ch.balance(), 0);
  EXPECT_EQ(r->state(), TaskletState::kRunnable);
  s.run();
  EXPECT_EQ(r->result<int>(), 1);
}

// Receives one value, then kills `victim` (the sender it just took the value from).
struct ReceiveThenKill : Frame<ReceiveThenKill> {
  Channel<int>* ch = nullptr;
  TaskletRef victim;
  Log* log = nullptr;
  int got = -1;
  STASIS_FIELDS(ch, victim, log, got)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_RECEIVE(cx, *ch, got);
    log->push_back("R got " + std::to_string(got) + ", sender " + stasis::to_string(victim->state()));
    victim->kill();
    STASIS_RETURN(cx, got);
    STASIS_END(cx);
  }
};

// 4. testNonBlockingReceive: a sender waits; a block-trapped receive takes its value
// without blocking (default preference: the receiver continues); then it kills the
// now-runnable sender before that one resumes.
TEST(ChannelStackless, NonBlockingReceive) {
  Scheduler s;
  Channel<int> ch;
  Log log;
  TaskletRef snd = s.spawn(SendOne{.ch = &ch, .v = 1, .log = &log});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  ASSERT_TRUE(snd->blocked());
  EXPECT_EQ(ch.balance(), 1);
  TaskletRef r = s.spawn(ReceiveThenKill{.ch = &ch, .victim = snd, .log = &log});
  r->set_block_trap(true);
  s.run();
  EXPECT_FALSE(r->failed());
  EXPECT_EQ(r->result<int>(), 1);
  EXPECT_EQ(snd->state(), TaskletState::kKilled);
  EXPECT_EQ(log, (Log{"S sending", "R got 1, sender runnable"}));  // "S sent" never happens
  EXPECT_EQ(ch.balance(), 0);
}

// 4b. From outside any tasklet: a receive that finds a sender never blocks.
TEST(ChannelStackless, NonBlockingReceiveFromOutside) {
  Scheduler s;
  Channel<int> ch;
  TaskletRef snd = s.spawn(SendOne{.ch = &ch, .v = 1});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  EXPECT_EQ(ch.receive(), 1);
  EXPECT_EQ(snd->state(), TaskletState::kRunnable);
  snd->kill();
  EXPECT_EQ(snd->state(), TaskletState::kKilled);
  EXPECT_EQ(ch.balance(), 0);
  s.run();
  EXPECT_EQ(s.alive_count(), 0u);
}

// 5. testMainTaskletBlockingWithoutASender: nobody can ever send.
TEST(ChannelStackless, BlockingWithoutASender) {
  Scheduler s;
  Channel<int> ch(ChannelOptions{.name = "lonely"});
  // Outside any tasklet, a receive that would block is refused at once.
  try {
    ch.receive();
    ADD_FAILURE() << "receive() outside a tasklet did not throw";
  } catch (const stasis::CannotBlock& e) {
    EXPECT_TRUE(contains(e.what(), ch.label())) << e.what();
  }
  EXPECT_EQ(ch.balance(), 0);
  // The last tasklet blocking: run() reports a deadlock naming what it waits on and
  // leaves it blocked (balance kept) so it can still be fed.
  TaskletRef t = s.spawn(RecvOne{.ch = &ch}, {.name = "waiter"});
  try {
    s.run();
    ADD_FAILURE() << "no deadlock";
  } catch (const stasis::Deadlock& d) {
    EXPECT_TRUE(contains(d.what(), "receive on " + ch.label())) << d.what();
    EXPECT_TRUE(contains(d.what(), "'waiter'")) << d.what();
    ASSERT_EQ(d.blocked().size(), 1u);
    EXPECT_EQ(d.blocked()[0].name, "waiter");
  }
  EXPECT_EQ(ch.balance(), -1);
  ch.send(3);
  s.run();
  EXPECT_EQ(t->result<int>(), 3);
}

// 6. testInterthreadCommunication, single-threaded: an echo server and a client.
struct EchoServer : Frame<EchoServer> {
  Channel<std::string>* requests = nullptr;
  Channel<std::string>* replies = nullptr;
  std::string cmd;
  int served = 0;
  STASIS_FIELDS(requests, replies, cmd, served)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (;;) {
      STASIS_RECEIVE(cx, *requests, cmd);
      if (cmd == "QUIT") break;
      ++served;
      STASIS_SEND(cx, *replies, "ECHO " + cmd);
    }
    STASIS_RETURN(cx, served);
    STASIS_END(cx);
  }
};

struct EchoClient : Frame<EchoClient> {
  Channel<std::string>* requests = nullptr;
  Channel<std::string>* replies = nullptr;
  int i = 0;
  std::string reply;
  std::vector<std::string> got;
  STASIS_FIELDS(requests, replies, i, reply, got)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (i = 1; i <= 3; ++i) {
      STASIS_SEND(cx, *requests, std::to_string(i));
      STASIS_RECEIVE(cx, *replies, reply);
      got.push_back(reply);
    }
    STASIS_SEND(cx, *requests, std::string("QUIT"));
    STASIS_RETURN(cx, got);
    STASIS_END(cx);
  }
};

TEST(ChannelStackless, EchoCommunication) {
  Scheduler s;
  Channel<std::string> requests, replies;
  TaskletRef server = s.spawn(EchoServer{.requests = &requests, .replies = &replies});
  TaskletRef client = s.spawn(EchoClient{.requests = &requests, .replies = &replies});
  s.run();
  EXPECT_EQ(server->result<int>(), 3);
  EXPECT_EQ(client->result<std::vector<std::string>>(), (std::vector<std::string>{"ECHO 1", "ECHO 2", "ECHO 3"}));
  EXPECT_EQ(requests.balance(), 0);
  EXPECT_EQ(replies.balance(), 0);
}

// 7. testSendException: the receiver raises what the sender sent, type and payload.
TEST(ChannelStackless, SendException) {
  Scheduler s;
  Channel<int> ch(ChannelOptions{.name = "exc"});
  Log log;
  s.spawn(SendExc{.ch = &ch, .e = std::make_exception_ptr(std::invalid_argument("bad value")), .log = &log});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  EXPECT_EQ(ch.balance(), 1);
  try {
    ch.receive();
    ADD_FAILURE() << "receive() did not raise the sent exception";
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "bad value");
  }
  EXPECT_EQ(ch.balance(), 0);

  // Second round: args travel with the exception (Stackless e.args == (1, 2, 3)).
  s.spawn(SendExc{.ch = &ch, .e = std::make_exception_ptr(ArgsError("ValueError", {1, 2, 3})), .log = &log});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  try {
    ch.receive();
    ADD_FAILURE() << "receive() did not raise the sent exception";
  } catch (const ArgsError& e) {
    EXPECT_EQ(e.args, (std::vector<int>{1, 2, 3}));
    EXPECT_STREQ(e.what(), "ValueError");
  }
  s.run();  // send_exception returns normally in the sender
  EXPECT_EQ(log, (Log{"sending exception", "sent exception", "sending exception", "sent exception"}));
}

// 7b. send_exception to a soft receiver already waiting: the receive raises in the
// receiver's frame; an enclosing STASIS_TRY_CALL sees the exception.
TEST(ChannelStackless, SendExceptionToWaitingSoftReceiver) {
  Scheduler s;
  Channel<int> ch;
  std::exception_ptr err;
  int caught = 0;
  Log log;
  TaskletRef r = s.spawn(Catch<RecvOne>{.child = RecvOne{.ch = &ch, .log = &log}, .err = &err, .caught = &caught});
  TaskletRef snd = s.spawn(SendExc{.ch = &ch, .e = std::make_exception_ptr(std::out_of_range("index 7")), .log = &log});
  s.run();
  EXPECT_EQ(caught, 1);
  ASSERT_TRUE(holds<std::out_of_range>(err));
  EXPECT_EQ(what_of(err), "index 7");
  // The receiver raised at its receive: it never logged "got".
  EXPECT_EQ(log, (Log{"R receiving", "sending exception", "sent exception"}));
  EXPECT_EQ(r->state(), TaskletState::kFinished);
  EXPECT_FALSE(r->failed());  // caught
  EXPECT_EQ(ch.balance(), 0);
}

// 7c. An uncaught sent exception ends the receiving tasklet with it.
TEST(ChannelStackless, SendExceptionEndsUncaughtReceiver) {
  Scheduler s;
  Channel<int> ch;
  TaskletRef r = s.spawn(RecvOne{.ch = &ch});
  s.spawn(SendExc{.ch = &ch, .e = std::make_exception_ptr(std::length_error("too long"))});
  s.run();
  EXPECT_TRUE(r->failed());
  EXPECT_TRUE(holds<std::length_error>(r->exception()));
  EXPECT_EQ(what_of(r->exception()), "too long");
  EXPECT_THROW(r->result<int>(), std::length_error);
}

// 8. testSendThrow: an exception caught where it was raised, sent as is; the receiver
// gets the very same exception object.
std::exception_ptr ThrowFromBar() {
  try {
    throw ArgsError("raised in bar", {1, 2, 3});
  } catch (...) {
    return std::current_exception();
  }
}

TEST(ChannelStackless, SendThrowKeepsTheExceptionObject) {
  Scheduler s;
  Channel<int> ch;
  std::exception_ptr sent = ThrowFromBar();
  std::exception_ptr err;
  s.spawn(SendExc{.ch = &ch, .e = sent});
  TaskletRef r = s.spawn(Catch<RecvOne>{.child = RecvOne{.ch = &ch}, .err = &err});
  s.run();
  ASSERT_TRUE(err);
  EXPECT_EQ(err, sent);  // same exception object, not a copy
  try {
    std::rethrow_exception(err);
  } catch (const ArgsError& e) {
    EXPECT_EQ(e.args, (std::vector<int>{1, 2, 3}));
    EXPECT_STREQ(e.what(), "raised in bar");
  }
}

// 9. testBlockTrapSend: block_trap turns a blocking send into BlockTrap; balance stays 0.
TEST(ChannelStackless, BlockTrapSend) {
  Scheduler s;
  Channel<int> ch(ChannelOptions{.name = "trap"});
  int count = 0;
  std::exception_ptr e1, e2;
  // One tasklet sets its own trap, the other gets it set from outside.
  s.spawn(Catch<TrappedOp>{.child = TrappedOp{.ch = &ch, .sending = true}, .err = &e1, .caught = &count});
  TaskletRef t2 = s.spawn(Catch<SendOne>{.child = SendOne{.ch = &ch, .v = 5}, .err = &e2, .caught = &count});
  t2->set_block_trap(true);
  s.run();
  EXPECT_EQ(count, 2);
  EXPECT_TRUE(holds<stasis::BlockTrap>(e1));
  EXPECT_TRUE(holds<stasis::BlockTrap>(e2));
  EXPECT_TRUE(contains(what_of(e2), ch.label())) << what_of(e2);
  EXPECT_TRUE(contains(what_of(e2), t2->label())) << what_of(e2);
  EXPECT_EQ(ch.balance(), 0);
  EXPECT_TRUE(ch.waiting().empty());
  ExpectPipelineWorks(s);
}

// 10. testBlockTrapRecv
TEST(ChannelStackless, BlockTrapRecv) {
  Scheduler s;
  Channel<int> ch(ChannelOptions{.name = "trap"});
  int count = 0;
  std::exception_ptr e1, e2;
  s.spawn(Catch<TrappedOp>{.child = TrappedOp{.ch = &ch, .sending = false}, .err = &e1, .caught = &count});
  TaskletRef t2 = s.spawn(Catch<RecvOne>{.child = RecvOne{.ch = &ch}, .err = &e2, .caught = &count});
  t2->set_block_trap(true);
  s.run();
  EXPECT_EQ(count, 2);
  EXPECT_TRUE(holds<stasis::BlockTrap>(e1));
  EXPECT_TRUE(holds<stasis::BlockTrap>(e2));
  EXPECT_TRUE(contains(what_of(e1), "receive")) << what_of(e1);
  EXPECT_EQ(ch.balance(), 0);
  EXPECT_TRUE(ch.waiting().empty());
  ExpectPipelineWorks(s);
}

// block_trap is reported as BlockTrap and takes effect only when the op would block.
TEST(ChannelMisuse, BlockTrapFailsTheTaskletWithBlockTrap) {
  Scheduler s;
  Channel<int> ch(ChannelOptions{.name = "bt"});
  TaskletRef t = s.spawn(TrappedOp{.ch = &ch, .sending = true, .v = 1});
  s.run();
  EXPECT_TRUE(t->failed());
  EXPECT_TRUE(holds<stasis::BlockTrap>(t->exception()));
  EXPECT_TRUE(contains(what_of(t->exception()), ch.label()));
  EXPECT_EQ(ch.balance(), 0);
  EXPECT_EQ(s.blocked_count(), 0u);
  ExpectPipelineWorks(s);
}

// ======================================================================
// Stackless TestClose
// ======================================================================

// Sends 0..9 with STASIS_SEND_SEQUENCE, closes, then pumps a sentinel while the
// channel is closing but not closed (the receiver is still blocked).
struct SequenceSender : Frame<SequenceSender> {
  Channel<int>* ch = nullptr;
  std::vector<int> seq;
  std::size_t index = 0;
  int pumped = 0;
  STASIS_FIELDS(ch, seq, index, pumped)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_SEND_SEQUENCE(cx, *ch, seq, index);
    ch->close();
    while (ch->closing() && !ch->closed()) {
      ++pumped;
      STASIS_SEND(cx, *ch, -1);  // Python's None
    }
    STASIS_RETURN(cx, index);
    STASIS_END(cx);
  }
};

// 11. TestClose.testSequence
TEST(ChannelClose, Sequence) {
  Scheduler s;
  Channel<int> ch;
  TaskletRef snd = s.spawn(SequenceSender{.ch = &ch, .seq = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}});
  TaskletRef rcv = s.spawn(Drain{.in = &ch});
  s.run();
  std::vector<int> got = rcv->result<std::vector<int>>();
  while (!got.empty() && got.back() == -1) got.pop_back();
  got.push_back(10);
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10}));
  EXPECT_EQ(snd->result<std::size_t>(), 10u);
  EXPECT_TRUE(ch.closing());
  EXPECT_TRUE(ch.closed());
  EXPECT_EQ(ch.balance(), 0);
}

// Sends a sequence, then an end-of-iteration marker (Stackless sends StopIteration),
// then closes.
struct SequenceThenClose : Frame<SequenceThenClose> {
  Channel<int>* ch = nullptr;
  std::vector<int> seq;
  std::size_t index = 0;
  STASIS_FIELDS(ch, seq, index)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_SEND_SEQUENCE(cx, *ch, seq, index);
    ch->close();
    STASIS_RETURN(cx, index);
    STASIS_END(cx);
  }
};

// 12. TestClose.testSequence2. Stackless ends the receiver's loop by sending
// StopIteration; here the channel prefers the sender, so after each hand-over the
// sender runs on and the close() happens while the receiver is runnable, not
// blocked: it sees the end of iteration without any pumping.
TEST(ChannelClose, Sequence2) {
  Scheduler s;
  Channel<int> ch(ChannelOptions{.capacity = 0, .preference = 1});  // prefer sender: it runs on
  TaskletRef snd = s.spawn(SequenceThenClose{.ch = &ch, .seq = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}});
  TaskletRef rcv = s.spawn(Drain{.in = &ch});
  s.run();
  EXPECT_EQ(snd->result<std::size_t>(), 10u);
  EXPECT_EQ(rcv->result<std::vector<int>>(), (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_TRUE(ch.closed());
}

// STASIS_SEND_SEQUENCE returns the count sent, for an empty sequence too.
TEST(ChannelClose, SendSequenceCount) {
  Scheduler s;
  Channel<int> ch(ChannelOptions{.preference = 1});  // see Sequence2
  Channel<int> unused;
  std::vector<int> seq;
  for (int i = 0; i < 25; ++i) seq.push_back(i * i);
  TaskletRef snd = s.spawn(SequenceThenClose{.ch = &ch, .seq = seq});
  TaskletRef rcv = s.spawn(Drain{.in = &ch});
  TaskletRef empty = s.spawn(SequenceThenClose{.ch = &unused, .seq = {}});
  s.run();
  EXPECT_EQ(snd->result<std::size_t>(), 25u);
  EXPECT_EQ(empty->result<std::size_t>(), 0u);
  EXPECT_EQ(rcv->result<std::vector<int>>(), seq);
  EXPECT_TRUE(unused.closed());
}

// 13. TestClose.testSender: send on a closed channel with no receiver raises.
TEST(ChannelClose, SendOnClosedRaises) {
  Scheduler s;
  Channel<int> ch(ChannelOptions{.name = "shut"});
  ch.close();
  EXPECT_TRUE(ch.closing());
  EXPECT_TRUE(ch.closed());
  try {
    ch.send(1);
    ADD_FAILURE() << "send on a closed channel did not throw";
  } catch (const stasis::ChannelClosed& e) {
    EXPECT_TRUE(contains(e.what(), ch.label())) << e.what();
  }
  // Inside a tasklet, with the macro.
  TaskletRef t = s.spawn(SendOne{.ch = &ch, .v = 1});
  s.run();
  EXPECT_TRUE(holds<stasis::ChannelClosed>(t->exception()));
  EXPECT_EQ(ch.balance(), 0);
  EXPECT_FALSE(ch.try_send(1));  // try_ variant: false, no exception
  ExpectPipelineWorks(s);
}

// 14. TestClose.testReceiver: receive on a closed channel raises ChannelClosed.
TEST(ChannelClose, ReceiveOnClosedRaises) {
  Scheduler s;
  Channel<int> ch(ChannelOptions{.name = "shut"});
  ch.close();
  try {
    ch.receive();
    ADD_FAILURE() << "receive on a closed channel did not throw";
  } catch (const stasis::ChannelClosed& e) {
    EXPECT_TRUE(contains(e.what(), ch.label())) << e.what();
    EXPECT_TRUE(contains(e.what(), "which is closed")) << e.what();
  }
  TaskletRef t = s.spawn(RecvOne{.ch = &ch});
  s.run();
  EXPECT_TRUE(holds<stasis::ChannelClosed>(t->exception()));
  EXPECT_EQ(s.blocked_count(), 0u);
  EXPECT_EQ(ch.try_receive(), std::nullopt);
  ExpectPipelineWorks(s);
}

// 15. TestClose.testIterator: iteration over a closed channel ends at once.
TEST(ChannelClose, IteratorEndsImmediately) {
  Scheduler s;
  Channel<int> ch;
  ch.close();
  TaskletRef t = s.spawn(Drain{.in = &ch});
  s.run();
  EXPECT_TRUE(t->result<std::vector<int>>().empty());
  EXPECT_EQ(s.blocked_count(), 0u);
}

// closing vs closed: two senders wait; close(); both values still arrive; the third
// receive raises; closed() becomes true only when the balance reaches 0; open()
// clears it all.
TEST(ChannelClose, ClosingVersusClosed) {
  Scheduler s;
  Channel<int> ch(ChannelOptions{.name = "cc"});
  s.spawn(SendOne{.ch = &ch, .v = 10});
  s.spawn(SendOne{.ch = &ch, .v = 20});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  ASSERT_EQ(ch.balance(), 2);
  ch.close();
  EXPECT_TRUE(ch.closing());
  EXPECT_FALSE(ch.closed());
  EXPECT_EQ(ch.balance(), 2);  // close() wakes nobody
  EXPECT_EQ(ch.receive(), 10);
  EXPECT_FALSE(ch.closed());
  EXPECT_EQ(ch.receive(), 20);
  EXPECT_TRUE(ch.closed());
  EXPECT_THROW(ch.receive(), stasis::ChannelClosed);
  s.run();  // the woken senders finish
  EXPECT_EQ(s.alive_count(), 0u);

  ch.open();
  EXPECT_FALSE(ch.closing());
  EXPECT_FALSE(ch.closed());
  // Open again: a would-block receive outside a tasklet is CannotBlock, not ChannelClosed.
  EXPECT_THROW(ch.receive(), stasis::CannotBlock);
  TaskletRef r = s.spawn(RecvOne{.ch = &ch});
  s.spawn(SendOne{.ch = &ch, .v = 30});
  s.run();
  EXPECT_EQ(r->result<int>(), 30);
}

// close() leaves blocked receivers blocked (Stackless); a later send still finds them.
TEST(ChannelClose, CloseDoesNotWakeBlockedReceivers) {
  Scheduler s;
  Channel<int> ch;
  TaskletRef r = s.spawn(RecvOne{.ch = &ch});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  ch.close();
  EXPECT_TRUE(r->blocked());
  EXPECT_EQ(ch.balance(), -1);
  EXPECT_TRUE(ch.closing());
  EXPECT_FALSE(ch.closed());  // a receiver still waits
  EXPECT_THROW(s.run(), stasis::Deadlock);
  ch.send(5);  // finds the receiver: succeeds although closing
  EXPECT_TRUE(ch.closed());
  s.run();
  EXPECT_EQ(r->result<int>(), 5);
  EXPECT_THROW(ch.send(6), stasis::ChannelClosed);
}

// Iteration on a closing channel whose waiters are receivers also ends (Stackless
// asymmetry: closing && balance <= 0).
TEST(ChannelClose, IterationEndsWhenOnlyReceiversWait) {
  Scheduler s;
  Channel<int> ch;
  TaskletRef blocked_receiver = s.spawn(RecvOne{.ch = &ch});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  ch.close();
  TaskletRef it = s.spawn(Drain{.in = &ch});
  EXPECT_THROW(s.run(), stasis::Deadlock);  // the first receiver still waits
  EXPECT_EQ(it->state(), TaskletState::kFinished);
  EXPECT_TRUE(it->result<std::vector<int>>().empty());
  EXPECT_EQ(ch.balance(), -1);
  blocked_receiver->kill();
  EXPECT_EQ(ch.balance(), 0);
  EXPECT_TRUE(ch.closed());
}

// A closing channel refuses sends with no receiver even inside a tasklet; the message
// says it is closing, not closed, while senders still wait.
TEST(ChannelClose, SendOnClosingChannelWithoutReceiverRaises) {
  Scheduler s;
  Channel<int> ch(ChannelOptions{.name = "cl"});
  TaskletRef first = s.spawn(SendOne{.ch = &ch, .v = 1});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  ch.close();
  TaskletRef second = s.spawn(SendOne{.ch = &ch, .v = 2});
  EXPECT_THROW(s.run(), stasis::Deadlock);  // `first` still waits
  ASSERT_TRUE(second->failed());
  EXPECT_TRUE(holds<stasis::ChannelClosed>(second->exception()));
  EXPECT_TRUE(contains(what_of(second->exception()), "which is closing")) << what_of(second->exception());
  EXPECT_EQ(ch.balance(), 1);
  EXPECT_EQ(ch.receive(), 1);
  s.run();
  EXPECT_EQ(first->state(), TaskletState::kFinished);
}

// ======================================================================
// Balance, FIFO, inspection, kill/throw of waiters
// ======================================================================

TEST(ChannelQueue, FifoAmongBlockedSendersAndInspection) {
  Scheduler s;
  Channel<int> ch;
  TaskletRef a = s.spawn(SendOne{.ch = &ch, .v = 1});
  TaskletRef b = s.spawn(SendOne{.ch = &ch, .v = 2});
  TaskletRef c = s.spawn(SendOne{.ch = &ch, .v = 3});
  EXPECT_EQ(ch.queue_head(), nullptr);
  EXPECT_THROW(s.run(), stasis::Deadlock);
  EXPECT_EQ(ch.balance(), 3);
  EXPECT_EQ(ch.waiting(), (std::vector<stasis::Tasklet*>{a.get(), b.get(), c.get()}));
  EXPECT_EQ(ch.queue_head(), a.get());
  EXPECT_EQ(ch.receive(), 1);
  EXPECT_EQ(ch.queue_head(), b.get());
  EXPECT_EQ(ch.receive(), 2);
  EXPECT_EQ(ch.receive(), 3);
  EXPECT_EQ(ch.queue_head(), nullptr);
  EXPECT_TRUE(ch.waiting().empty());
  EXPECT_EQ(ch.balance(), 0);
  s.run();
}

TEST(ChannelQueue, FifoAmongBlockedReceivers) {
  Scheduler s;
  Channel<int> ch;
  Log log;
  TaskletRef a = s.spawn(RecvOne{.ch = &ch, .log = &log, .tag = "A"});
  TaskletRef b = s.spawn(RecvOne{.ch = &ch, .log = &log, .tag = "B"});
  TaskletRef c = s.spawn(RecvOne{.ch = &ch, .log = &log, .tag = "C"});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  EXPECT_EQ(ch.balance(), -3);
  EXPECT_EQ(ch.waiting(), (std::vector<stasis::Tasklet*>{a.get(), b.get(), c.get()}));
  s.spawn(Producer{.out = &ch, .n = 3});
  s.run();
  EXPECT_EQ(a->result<int>(), 0);
  EXPECT_EQ(b->result<int>(), 1);
  EXPECT_EQ(c->result<int>(), 2);
  EXPECT_EQ(log, (Log{"A receiving", "B receiving", "C receiving", "A got 0", "B got 1", "C got 2"}));
}

// Killing a blocked sender moves the balance one step toward 0; its value is
// discarded and the next waiter is served.
TEST(ChannelQueue, KillBlockedSenderRestoresBalance) {
  Scheduler s;
  Channel<int> ch;
  Log log;
  TaskletRef a = s.spawn(SendOne{.ch = &ch, .v = 1, .log = &log, .tag = "A"});
  TaskletRef b = s.spawn(SendOne{.ch = &ch, .v = 2, .log = &log, .tag = "B"});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  ASSERT_EQ(ch.balance(), 2);
  a->kill();
  EXPECT_EQ(a->state(), TaskletState::kKilled);
  EXPECT_FALSE(a->blocked());
  EXPECT_EQ(a->waiting_on(), nullptr);
  EXPECT_EQ(ch.balance(), 1);
  EXPECT_EQ(ch.waiting(), (std::vector<stasis::Tasklet*>{b.get()}));
  EXPECT_EQ(ch.receive(), 2);
  EXPECT_EQ(ch.balance(), 0);
  s.run();
  EXPECT_EQ(log, (Log{"A sending", "B sending", "B sent"}));
  EXPECT_EQ(s.alive_count(), 0u);
}

TEST(ChannelQueue, KillBlockedReceiverRestoresBalance) {
  Scheduler s;
  Channel<int> ch;
  TaskletRef a = s.spawn(RecvOne{.ch = &ch});
  TaskletRef b = s.spawn(RecvOne{.ch = &ch});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  ASSERT_EQ(ch.balance(), -2);
  b->kill();
  EXPECT_EQ(ch.balance(), -1);
  EXPECT_EQ(ch.waiting(), (std::vector<stasis::Tasklet*>{a.get()}));
  ch.send(9);
  s.run();
  EXPECT_EQ(a->result<int>(), 9);
  EXPECT_EQ(b->state(), TaskletState::kKilled);
}

// Throwing into a blocked waiter dequeues it (balance restored) and raises at its
// suspension point; a blocked sender's value is delivered to nobody.
TEST(ChannelQueue, ThrowIntoBlockedWaiters) {
  Scheduler s;
  Channel<int> ch;
  Log log;
  TaskletRef snd = s.spawn(SendOne{.ch = &ch, .v = 1, .log = &log});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  ASSERT_EQ(ch.balance(), 1);
  snd->raise(std::runtime_error("stop sending"));
  EXPECT_EQ(ch.balance(), 0);
  EXPECT_FALSE(snd->blocked());
  EXPECT_EQ(snd->state(), TaskletState::kRunnable);
  s.run();
  EXPECT_TRUE(holds<std::runtime_error>(snd->exception()));
  EXPECT_EQ(what_of(snd->exception()), "stop sending");
  EXPECT_EQ(log, (Log{"S sending"}));  // raised inside the send

  TaskletRef r1 = s.spawn(RecvOne{.ch = &ch, .tag = "R1"});
  TaskletRef r2 = s.spawn(RecvOne{.ch = &ch, .tag = "R2"});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  ASSERT_EQ(ch.balance(), -2);
  r1->raise(std::logic_error("stop receiving"));
  EXPECT_EQ(ch.balance(), -1);
  EXPECT_EQ(ch.queue_head(), r2.get());
  ch.send(77);  // goes to r2, not to the thrown-into r1
  s.run();
  EXPECT_TRUE(holds<std::logic_error>(r1->exception()));
  EXPECT_EQ(r2->result<int>(), 77);
  EXPECT_EQ(ch.balance(), 0);
}

// Kill and throw from inside a tasklet behave the same.
struct KillAll : Frame<KillAll> {
  std::vector<TaskletRef>* victims = nullptr;
  STASIS_FIELDS(victims)
  Step run(Ctx&) {
    for (auto& t : *victims) t->kill();
    return Step::kReturn;
  }
};

TEST(ChannelQueue, KillWaitersFromATasklet) {
  Scheduler s;
  Channel<int> ch;
  std::vector<TaskletRef> victims;
  for (int i = 0; i < 4; ++i) victims.push_back(s.spawn(SendOne{.ch = &ch, .v = i}));
  TaskletRef survivor = s.spawn(SendOne{.ch = &ch, .v = 99});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  ASSERT_EQ(ch.balance(), 5);
  s.spawn(KillAll{.victims = &victims});
  EXPECT_THROW(s.run(), stasis::Deadlock);  // the survivor still waits
  EXPECT_EQ(ch.balance(), 1);
  EXPECT_EQ(ch.queue_head(), survivor.get());
  for (auto& v : victims) EXPECT_EQ(v->state(), TaskletState::kKilled);
  EXPECT_EQ(ch.receive(), 99);
  s.run();
  EXPECT_EQ(s.alive_count(), 0u);
}

// ======================================================================
// Preference and schedule_all: exact run order
// ======================================================================

// R blocks in receive, then S sends, O is queued behind S.
Log SendToWaitingReceiver(int preference, bool schedule_all) {
  Scheduler s;
  Channel<int> ch(ChannelOptions{.preference = preference, .schedule_all = schedule_all});
  Log log;
  s.spawn(RecvOne{.ch = &ch, .log = &log});
  s.spawn(SendOne{.ch = &ch, .v = 7, .log = &log});
  s.spawn(Note{.log = &log});
  s.run();
  EXPECT_EQ(ch.balance(), 0);
  return log;
}

// S blocks in send, then R receives, O is queued behind R.
Log ReceiveFromWaitingSender(int preference, bool schedule_all) {
  Scheduler s;
  Channel<int> ch(ChannelOptions{.preference = preference, .schedule_all = schedule_all});
  Log log;
  s.spawn(SendOne{.ch = &ch, .v = 7, .log = &log});
  s.spawn(RecvOne{.ch = &ch, .log = &log});
  s.spawn(Note{.log = &log});
  s.run();
  EXPECT_EQ(ch.balance(), 0);
  return log;
}

TEST(ChannelPreference, DefaultIsMinusOne) {
  Channel<int> ch;
  EXPECT_EQ(ch.preference(), -1);
  EXPECT_FALSE(ch.schedule_all());
}

TEST(ChannelPreference, SetterAndOptionsClampToSign) {
  Channel<int> ch(ChannelOptions{.preference = 17});
  EXPECT_EQ(ch.preference(), 1);
  ch.set_preference(-5);
  EXPECT_EQ(ch.preference(), -1);
  ch.set_preference(0);
  EXPECT_EQ(ch.preference(), 0);
  ch.set_preference(42);
  EXPECT_EQ(ch.preference(), 1);
  Channel<int> neg(ChannelOptions{.preference = -99});
  EXPECT_EQ(neg.preference(), -1);
  ch.set_schedule_all(true);
  EXPECT_TRUE(ch.schedule_all());
}

// preference -1 (prefer receiver): the receiver runs now, the sender goes to the back.
TEST(ChannelPreference, MinusOneSendSwitchesToReceiver) {
  EXPECT_EQ(SendToWaitingReceiver(-1, false), (Log{"R receiving", "S sending", "R got 7", "O", "S sent"}));
}
TEST(ChannelPreference, MinusOneReceiveContinues) {
  EXPECT_EQ(ReceiveFromWaitingSender(-1, false), (Log{"S sending", "R receiving", "R got 7", "O", "S sent"}));
}
// preference 0: the actor continues, the partner goes to the back.
TEST(ChannelPreference, ZeroSendContinues) {
  EXPECT_EQ(SendToWaitingReceiver(0, false), (Log{"R receiving", "S sending", "S sent", "O", "R got 7"}));
}
TEST(ChannelPreference, ZeroReceiveContinues) {
  EXPECT_EQ(ReceiveFromWaitingSender(0, false), (Log{"S sending", "R receiving", "R got 7", "O", "S sent"}));
}
// preference +1 (prefer sender).
TEST(ChannelPreference, PlusOneSendContinues) {
  EXPECT_EQ(SendToWaitingReceiver(1, false), (Log{"R receiving", "S sending", "S sent", "O", "R got 7"}));
}
TEST(ChannelPreference, PlusOneReceiveSwitchesToSender) {
  EXPECT_EQ(ReceiveFromWaitingSender(1, false), (Log{"S sending", "R receiving", "S sent", "O", "R got 7"}));
}
// schedule_all overrides preference: both go to the back, the next runnable runs.
TEST(ChannelPreference, ScheduleAllSend) {
  for (int pref : {-1, 0, 1}) {
    EXPECT_EQ(SendToWaitingReceiver(pref, true), (Log{"R receiving", "S sending", "O", "R got 7", "S sent"}))
        << "preference " << pref;
  }
}
TEST(ChannelPreference, ScheduleAllReceive) {
  for (int pref : {-1, 0, 1}) {
    EXPECT_EQ(ReceiveFromWaitingSender(pref, true), (Log{"S sending", "R receiving", "O", "S sent", "R got 7"}))
        << "preference " << pref;
  }
}

// Changing the preference between operations takes effect at once.
TEST(ChannelPreference, ChangedAtRuntime) {
  Scheduler s;
  Channel<int> ch;
  Log log;
  s.spawn(RecvOne{.ch = &ch, .log = &log});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  ch.set_preference(0);
  s.spawn(SendOne{.ch = &ch, .v = 1, .log = &log});
  s.spawn(Note{.log = &log});
  s.run();
  EXPECT_EQ(log, (Log{"R receiving", "S sending", "S sent", "O", "R got 1"}));
}

// A plain call inside a soft frame never switches: with preference -1 the woken
// receiver still waits its turn at the back.
TEST(ChannelPreference, PlainCallInFrameNeverSwitches) {
  Scheduler s;
  Channel<int> ch;
  Log log;
  TaskletRef r = s.spawn(RecvOne{.ch = &ch, .log = &log});
  s.spawn(PlainSend{.ch = &ch, .v = 4, .log = &log});
  s.spawn(Note{.log = &log});
  s.run();
  EXPECT_EQ(log, (Log{"R receiving", "P sending", "P sent", "O", "R got 4"}));
  EXPECT_EQ(r->result<int>(), 4);
}

// The preferred partner runs at the front of its own priority level.
TEST(ChannelPreference, PreferredPartnerRunsFirstAmongEqualPriority) {
  Scheduler s;
  Channel<int> ch;
  Log log;
  s.spawn(RecvOne{.ch = &ch, .log = &log});
  s.spawn(SendOne{.ch = &ch, .v = 1, .log = &log});
  s.spawn(Note{.log = &log, .tag = "O1"});
  s.spawn(Note{.log = &log, .tag = "O2"});
  s.run();
  EXPECT_EQ(log, (Log{"R receiving", "S sending", "R got 1", "O1", "O2", "S sent"}));
}

// ======================================================================
// Buffered channels
// ======================================================================

TEST(ChannelBuffered, SendsDoNotBlockUntilFull) {
  Scheduler s;
  Channel<int> ch(ChannelOptions{.name = "buf", .capacity = 3});
  EXPECT_EQ(ch.capacity(), 3u);
  Log log;
  TaskletRef p = s.spawn(Producer{.out = &ch, .n = 5, .log = &log});
  auto blocked = RunExpectingDeadlock(s);
  ASSERT_EQ(blocked.size(), 1u);
  EXPECT_EQ(blocked[0].waits_on, "send on " + ch.label());
  EXPECT_EQ(log, (Log{"sent 0", "sent 1", "sent 2"}));  // the 4th send blocks
  EXPECT_EQ(ch.buffered(), 3u);
  EXPECT_EQ(ch.buffer(), (std::deque<int>{0, 1, 2}));
  EXPECT_EQ(ch.balance(), 1);
  EXPECT_FALSE(ch.closed());
  // A receive takes the oldest and refills from the blocked sender.
  EXPECT_EQ(ch.receive(), 0);
  EXPECT_EQ(ch.buffer(), (std::deque<int>{1, 2, 3}));
  EXPECT_EQ(ch.balance(), 0);
  EXPECT_EQ(p->state(), TaskletState::kRunnable);
  TaskletRef c = s.spawn(Collect{.in = &ch, .n = 4});
  s.run();
  EXPECT_EQ(c->result<std::vector<int>>(), (std::vector<int>{1, 2, 3, 4}));
  EXPECT_EQ(ch.buffered(), 0u);
  EXPECT_EQ(ch.balance(), 0);
}

TEST(ChannelBuffered, FifoOrderThroughBufferAndWaitingSenders) {
  Scheduler s;
  Channel<int> ch(ChannelOptions{.capacity = 2});
  TaskletRef p1 = s.spawn(Producer{.out = &ch, .n = 4});  // 0..3
  EXPECT_THROW(s.run(), stasis::Deadlock);
  TaskletRef p2 = s.spawn(SendOne{.ch = &ch, .v = 100});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  EXPECT_EQ(ch.balance(), 2);  // p1 (value 2) and p2 (value 100) wait, buffer {0, 1}
  EXPECT_EQ(ch.waiting(), (std::vector<stasis::Tasklet*>{p1.get(), p2.get()}));
  TaskletRef c = s.spawn(Collect{.in = &ch, .n = 5});
  s.run();
  EXPECT_EQ(c->result<std::vector<int>>(), (std::vector<int>{0, 1, 2, 100, 3}));
  EXPECT_EQ(ch.balance(), 0);
  EXPECT_EQ(ch.buffered(), 0u);
}

TEST(ChannelBuffered, WaitingReceiverGetsValueDirectly) {
  Scheduler s;
  Channel<int> ch(ChannelOptions{.capacity = 4});
  TaskletRef r = s.spawn(RecvOne{.ch = &ch});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  EXPECT_EQ(ch.balance(), -1);
  ch.send(8);
  EXPECT_EQ(ch.buffered(), 0u);  // handed over, not buffered
  EXPECT_EQ(ch.balance(), 0);
  s.run();
  EXPECT_EQ(r->result<int>(), 8);
}

TEST(ChannelBuffered, TryVariantsAndOutsideUse) {
  Scheduler s;
  Channel<std::string> ch(ChannelOptions{.capacity = 2});
  EXPECT_EQ(ch.try_receive(), std::nullopt);
  EXPECT_TRUE(ch.try_send("a"));
  ch.send("b");  // room: plain send outside a tasklet does not block
  EXPECT_FALSE(ch.try_send("c"));
  EXPECT_THROW(ch.send("c"), stasis::CannotBlock);
  EXPECT_EQ(ch.buffered(), 2u);
  EXPECT_EQ(ch.try_receive(), std::optional<std::string>("a"));
  EXPECT_EQ(ch.receive(), "b");
  EXPECT_THROW(ch.receive(), stasis::CannotBlock);
  EXPECT_EQ(ch.balance(), 0);
}

TEST(ChannelBuffered, CloseDrainsBufferThenRaises) {
  Scheduler s;
  Channel<int> ch(ChannelOptions{.capacity = 3});
  ch.send(1);
  ch.send(2);
  ch.close();
  EXPECT_TRUE(ch.closing());
  EXPECT_FALSE(ch.closed());  // values still buffered
  EXPECT_THROW(ch.send(3), stasis::ChannelClosed);
  EXPECT_FALSE(ch.try_send(3));
  TaskletRef d = s.spawn(Drain{.in = &ch});
  s.run();
  EXPECT_EQ(d->result<std::vector<int>>(), (std::vector<int>{1, 2}));
  EXPECT_TRUE(ch.closed());
  EXPECT_THROW(ch.receive(), stasis::ChannelClosed);
}

TEST(ChannelBuffered, BalanceCountsOnlyBlockedTasklets) {
  Scheduler s;
  Channel<int> ch(ChannelOptions{.capacity = 1});
  ch.send(1);
  EXPECT_EQ(ch.balance(), 0);  // buffered values are not waiters
  s.spawn(SendOne{.ch = &ch, .v = 2});
  s.spawn(SendOne{.ch = &ch, .v = 3});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  EXPECT_EQ(ch.balance(), 2);
  EXPECT_EQ(ch.receive(), 1);
  EXPECT_EQ(ch.balance(), 1);
  EXPECT_EQ(ch.receive(), 2);
  EXPECT_EQ(ch.receive(), 3);
  EXPECT_EQ(ch.balance(), 0);
  EXPECT_EQ(ch.buffered(), 0u);
  s.run();
}

// Sends 1, an exception, then 2, on a buffered channel.
struct MixedSender : Frame<MixedSender> {
  Channel<int>* ch = nullptr;
  Log* log = nullptr;
  STASIS_FIELDS(ch, log)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_SEND(cx, *ch, 1);
    log->push_back("sent 1");
    STASIS_SEND_EXCEPTION(cx, *ch, std::make_exception_ptr(std::runtime_error("in the middle")));
    log->push_back("sent exception");
    STASIS_SEND(cx, *ch, 2);
    log->push_back("sent 2");
    STASIS_END(cx);
  }
};

// An exception sent on a buffered channel arrives in send order: after the values
// sent before it, before the values sent after it.
TEST(ChannelBuffered, SendExceptionKeepsOrder) {
  Scheduler s;
  Channel<int> ch(ChannelOptions{.capacity = 2});
  Log log;
  s.spawn(MixedSender{.ch = &ch, .log = &log});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  EXPECT_EQ(ch.buffer(), (std::deque<int>{1}));
  EXPECT_EQ(ch.balance(), 1);  // the exception waits for a receiver
  // A later plain sender must not overtake the exception.
  EXPECT_FALSE(ch.try_send(50));
  EXPECT_EQ(ch.receive(), 1);
  try {
    ch.receive();
    ADD_FAILURE() << "the exception was not delivered second";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "in the middle");
  }
  EXPECT_EQ(ch.balance(), 0);
  s.run();
  EXPECT_EQ(ch.receive(), 2);
  EXPECT_EQ(log, (Log{"sent 1", "sent exception", "sent 2"}));
  EXPECT_EQ(ch.buffered(), 0u);
}

// Values and an exception queued as blocked senders behind a full buffer.
TEST(ChannelBuffered, SendExceptionBehindFullBuffer) {
  Scheduler s;
  Channel<int> ch(ChannelOptions{.capacity = 1});
  s.spawn(SendOne{.ch = &ch, .v = 1});  // buffered
  s.spawn(SendOne{.ch = &ch, .v = 2});  // waits
  TaskletRef e = s.spawn(SendExc{.ch = &ch, .e = std::make_exception_ptr(std::domain_error("third"))});
  s.spawn(SendOne{.ch = &ch, .v = 4});  // waits
  EXPECT_THROW(s.run(), stasis::Deadlock);
  EXPECT_EQ(ch.buffer(), (std::deque<int>{1}));
  EXPECT_EQ(ch.balance(), 3);
  EXPECT_EQ(ch.receive(), 1);
  EXPECT_EQ(ch.receive(), 2);
  EXPECT_THROW(ch.receive(), std::domain_error);
  EXPECT_EQ(ch.receive(), 4);
  EXPECT_EQ(ch.balance(), 0);
  EXPECT_EQ(ch.buffered(), 0u);
  s.run();
  EXPECT_EQ(e->state(), TaskletState::kFinished);
  EXPECT_EQ(s.alive_count(), 0u);
}

// ======================================================================
// Misuse: blocking where nobody can block, destroyed channels
// ======================================================================

TEST(ChannelMisuse, BlockingOutsideAnyTaskletThrowsCannotBlock) {
  Scheduler s;
  Channel<int> ch(ChannelOptions{.name = "jobs"});
  for (int op = 0; op < 3; ++op) {
    try {
      if (op == 0) ch.send(1);
      if (op == 1) ch.receive();
      if (op == 2) ch.send_exception(std::make_exception_ptr(std::runtime_error("x")));
      ADD_FAILURE() << "op " << op << " did not throw";
    } catch (const stasis::CannotBlock& e) {
      EXPECT_TRUE(contains(e.what(), ch.label())) << e.what();
      EXPECT_TRUE(contains(e.what(), "'jobs'")) << e.what();
      EXPECT_TRUE(contains(e.what(), "not a tasklet")) << e.what();
    }
  }
  EXPECT_EQ(ch.balance(), 0);
  EXPECT_TRUE(ch.waiting().empty());
  ExpectPipelineWorks(s);
}

TEST(ChannelMisuse, PlainSendInsideSoftFrameThatWouldBlock) {
  Scheduler s;
  Channel<int> ch(ChannelOptions{.name = "plain"});
  Log log;
  TaskletRef t = s.spawn(PlainSend{.ch = &ch, .v = 1, .log = &log}, {.name = "impatient"});
  s.run();
  ASSERT_TRUE(t->failed());
  EXPECT_TRUE(holds<stasis::CannotBlock>(t->exception()));
  std::string msg = what_of(t->exception());
  EXPECT_TRUE(contains(msg, ch.label())) << msg;
  EXPECT_TRUE(contains(msg, "'impatient'")) << msg;
  EXPECT_TRUE(contains(msg, "STASIS_")) << msg;  // says how to block properly
  EXPECT_EQ(log, (Log{"P sending"}));
  EXPECT_EQ(ch.balance(), 0);
  EXPECT_EQ(s.blocked_count(), 0u);
  ExpectPipelineWorks(s);
}

TEST(ChannelMisuse, PlainReceiveInsideSoftFrameThatWouldBlock) {
  Scheduler s;
  Channel<int> ch(ChannelOptions{.name = "plainr"});
  TaskletRef t = s.spawn(PlainReceive{.ch = &ch});
  s.run();
  EXPECT_TRUE(holds<stasis::CannotBlock>(t->exception()));
  EXPECT_TRUE(contains(what_of(t->exception()), ch.label()));
  EXPECT_EQ(ch.balance(), 0);
  // With a sender waiting, the plain receive works (it does not block).
  s.spawn(SendOne{.ch = &ch, .v = 6});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  TaskletRef ok = s.spawn(PlainReceive{.ch = &ch});
  s.run();
  EXPECT_EQ(ok->result<int>(), 6);
  ExpectPipelineWorks(s);
}

// An unobserved tasklet's failure is reported by run() (not dropped); the
// scheduler keeps working afterwards.
TEST(ChannelMisuse, UnobservedMisuseIsReportedByRun) {
  Scheduler s;
  Channel<int> ch(ChannelOptions{.name = "unobserved"});
  s.spawn(PlainSend{.ch = &ch, .v = 1});
  try {
    s.run();
    ADD_FAILURE() << "run() swallowed the failure";
  } catch (const stasis::UnhandledTaskletError& e) {
    EXPECT_TRUE(contains(e.what(), ch.label())) << e.what();
  }
  ExpectPipelineWorks(s);
}

struct DestroyChannel : Frame<DestroyChannel> {
  std::unique_ptr<Channel<int>>* ch = nullptr;
  STASIS_FIELDS(ch)
  Step run(Ctx&) {
    ch->reset();
    return Step::kReturn;
  }
};

TEST(ChannelMisuse, DestroyedWhileWaitingWakesWithChannelDestroyed) {
  Scheduler s;
  auto ch = std::make_unique<Channel<int>>(ChannelOptions{.name = "doomed"});
  const std::string label = ch->label();
  TaskletRef r = s.spawn(RecvOne{.ch = ch.get()});
  TaskletRef r2 = s.spawn(RecvOne{.ch = ch.get()});
  s.spawn(DestroyChannel{.ch = &ch});
  s.run();
  EXPECT_EQ(ch, nullptr);
  for (TaskletRef* t : {&r, &r2}) {
    ASSERT_TRUE((*t)->failed());
    EXPECT_TRUE(holds<stasis::ChannelDestroyed>((*t)->exception()));
    std::string msg = what_of((*t)->exception());
    EXPECT_TRUE(contains(msg, label)) << msg;
    EXPECT_TRUE(contains(msg, (*t)->label())) << msg;
  }
  EXPECT_EQ(s.blocked_count(), 0u);
  ExpectPipelineWorks(s);
}

struct StrSend : Frame<StrSend> {
  Channel<std::string>* ch = nullptr;
  STASIS_FIELDS(ch)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_SEND(cx, *ch, std::string("payload that nobody takes"));
    STASIS_END(cx);
  }
};

TEST(ChannelMisuse, DestroyedFromOutsideWhileSenderWaits) {
  Scheduler s;
  auto ch = std::make_unique<Channel<std::string>>(ChannelOptions{.name = "gone"});
  TaskletRef t = s.spawn(StrSend{.ch = ch.get()});
  EXPECT_THROW(s.run(), stasis::Deadlock);
  EXPECT_EQ(s.blocked_count(), 1u);
  ch.reset();
  EXPECT_EQ(s.blocked_count(), 0u);
  EXPECT_EQ(t->state(), TaskletState::kRunnable);
  s.run();
  EXPECT_TRUE(holds<stasis::ChannelDestroyed>(t->exception()));
  ExpectPipelineWorks(s);
}

// ======================================================================
// The concurrent prime sieve: a chain of filter tasklets.
// ======================================================================

struct Counter : Frame<Counter> {
  Channel<int>* out = nullptr;
  int i = 2;
  STASIS_FIELDS(out, i)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (;; ++i) STASIS_SEND(cx, *out, i);
    STASIS_END(cx);
  }
};

struct Filter : Frame<Filter> {
  Channel<int>* in = nullptr;
  Channel<int>* out = nullptr;
  int prime = 0;
  int v = 0;
  STASIS_FIELDS(in, out, prime, v)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (;;) {
      STASIS_RECEIVE(cx, *in, v);
      if (v % prime != 0) STASIS_SEND(cx, *out, v);
    }
    STASIS_END(cx);
  }
};

struct PrimeSieve : Frame<PrimeSieve> {
  std::deque<Channel<int>>* channels = nullptr;
  std::vector<TaskletRef>* stages = nullptr;
  std::vector<int>* primes = nullptr;
  std::size_t n = 0;
  std::size_t capacity = 0;
  Channel<int>* cur = nullptr;
  int p = 0;
  STASIS_FIELDS(channels, stages, primes, n, capacity, cur, p)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    cur = &channels->emplace_back(ChannelOptions{.capacity = capacity});
    stages->push_back(cx.scheduler().spawn(Counter{.out = cur}));
    while (primes->size() < n) {
      STASIS_RECEIVE(cx, *cur, p);
      primes->push_back(p);
      {
        Channel<int>* next = &channels->emplace_back(ChannelOptions{.capacity = capacity});
        stages->push_back(cx.scheduler().spawn(Filter{.in = cur, .out = next, .prime = p}));
        cur = next;
      }
    }
    for (TaskletRef& t : *stages) t->kill();  // the pipeline is infinite: stop it
    STASIS_END(cx);
  }
};

std::vector<int> SimpleSieve(int limit) {
  std::vector<bool> composite(limit + 1, false);
  std::vector<int> primes;
  for (int i = 2; i <= limit; ++i) {
    if (composite[i]) continue;
    primes.push_back(i);
    for (long j = static_cast<long>(i) * i; j <= limit; j += i) composite[j] = true;
  }
  return primes;
}

TEST(Sieve, FirstThousandPrimes) {
  Scheduler s;
  std::deque<Channel<int>> channels;
  std::vector<TaskletRef> stages;
  std::vector<int> primes;
  TaskletRef sieve = s.spawn(PrimeSieve{.channels = &channels, .stages = &stages, .primes = &primes, .n = 1000});
  s.run();
  EXPECT_EQ(sieve->state(), TaskletState::kFinished);
  EXPECT_FALSE(sieve->failed());
  ASSERT_EQ(primes.size(), 1000u);
  EXPECT_EQ(primes.back(), 7919);
  std::vector<int> expected = SimpleSieve(8000);
  expected.resize(1000);
  EXPECT_EQ(primes, expected);
  // Every stage was killed where it stood; no channel keeps a waiter.
  EXPECT_EQ(stages.size(), 1001u);  // the counter and one filter per prime
  for (const TaskletRef& t : stages) EXPECT_EQ(t->state(), TaskletState::kKilled);
  for (const Channel<int>& ch : channels) EXPECT_EQ(ch.balance(), 0);
  EXPECT_EQ(s.alive_count(), 0u);
  EXPECT_EQ(s.blocked_count(), 0u);
}

// Same sieve through buffered channels: the result does not depend on buffering.
TEST(Sieve, BufferedChannelsGiveTheSamePrimes) {
  Scheduler s;
  std::deque<Channel<int>> channels;
  std::vector<TaskletRef> stages;
  std::vector<int> primes;
  s.spawn(PrimeSieve{.channels = &channels, .stages = &stages, .primes = &primes, .n = 200, .capacity = 8});
  s.run();
  std::vector<int> expected = SimpleSieve(2000);
  expected.resize(200);
  EXPECT_EQ(primes, expected);
  for (const Channel<int>& ch : channels) EXPECT_EQ(ch.balance(), 0);
  EXPECT_EQ(s.alive_count(), 0u);
}

}  // namespace
