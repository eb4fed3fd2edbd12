// test_frames.h — soft frames shared by several runtime test suites, and the
// pipeline check built on them.
//
// Each frame does one small thing (send, receive, log, kill, spin, ...). Its
// optional members (an event Log, a Tracker, flags) default to "off", so a frame
// spawned with only its required fields does just that one thing.
//
// None of these frames is registered here: a type has one stable name, so a
// registration belongs in exactly one .cc. smoke_test.cc registers Producer as
// "test.Producer"; do not register it anywhere else.
#ifndef STASIS_TESTS_RUNTIME_TEST_FRAMES_H_
#define STASIS_TESTS_RUNTIME_TEST_FRAMES_H_

#include <gtest/gtest.h>

#include <exception>
#include <string>

#include "stasis/stasis.h"
#include "test_support.h"

namespace stasis_test {

// --- Channel operations. ---

// Logs "<tag> sending", sends v, sets *resumed, logs "<tag> sent".
struct SendOne : stasis::Frame<SendOne> {
  stasis::Channel<int>* ch = nullptr;
  int v = 0;
  Log* log = nullptr;
  std::string tag = "S";
  bool* resumed = nullptr;  // set once the send completed
  Tracker tracker;
  STASIS_FIELDS(ch, v, log, tag)
  stasis::Step run(stasis::Ctx& cx) {
    STASIS_BEGIN(cx);
    if (log) log->push_back(tag + " sending");
    STASIS_SEND(cx, *ch, v);
    if (resumed) *resumed = true;
    if (log) log->push_back(tag + " sent");
    STASIS_END(cx);
  }
};

// Logs "<tag> receiving", receives, logs "<tag> got <v>", returns v.
struct RecvOne : stasis::Frame<RecvOne> {
  stasis::Channel<int>* ch = nullptr;
  Log* log = nullptr;
  std::string tag = "R";
  int got = -1;
  Tracker tracker;
  STASIS_FIELDS(ch, log, tag, got)
  stasis::Step run(stasis::Ctx& cx) {
    STASIS_BEGIN(cx);
    if (log) log->push_back(tag + " receiving");
    STASIS_RECEIVE(cx, *ch, got);
    if (log) log->push_back(tag + " got " + std::to_string(got));
    STASIS_RETURN(cx, got);
    STASIS_END(cx);
  }
};

// Sends exception e (STASIS_SEND_EXCEPTION), logging before and after.
struct SendExc : stasis::Frame<SendExc> {
  stasis::Channel<int>* ch = nullptr;
  std::exception_ptr e;
  Log* log = nullptr;
  STASIS_FIELDS(ch, e, log)
  stasis::Step run(stasis::Ctx& cx) {
    STASIS_BEGIN(cx);
    if (log) log->push_back("sending exception");
    STASIS_SEND_EXCEPTION(cx, *ch, e);
    if (log) log->push_back("sent exception");
    STASIS_END(cx);
  }
};

// Closes a channel, logging "close".
struct Closer : stasis::Frame<Closer> {
  stasis::ChannelBase* ch = nullptr;
  Log* log = nullptr;
  STASIS_FIELDS(ch, log)
  stasis::Step run(stasis::Ctx&) {
    if (log) log->push_back("close");
    ch->close();
    return stasis::Step::kReturn;
  }
};

// Sends first, first + 1, ..., first + n - 1, logging "sent <value>" after each
// send completes.
struct Producer : stasis::Frame<Producer> {
  stasis::Channel<int>* out = nullptr;
  int first = 0;
  int n = 0;
  Log* log = nullptr;
  int i = 0;
  STASIS_FIELDS(out, first, n, log, i)
  stasis::Step run(stasis::Ctx& cx) {
    STASIS_BEGIN(cx);
    for (i = 0; i < n; ++i) {
      STASIS_SEND(cx, *out, first + i);
      if (log) log->push_back("sent " + std::to_string(first + i));
    }
    STASIS_END(cx);
  }
};

// Receives n ints and returns their sum.
struct Summer : stasis::Frame<Summer> {
  stasis::Channel<int>* in = nullptr;
  int n = 0;
  int i = 0, v = 0, sum = 0;
  STASIS_FIELDS(in, n, i, v, sum)
  stasis::Step run(stasis::Ctx& cx) {
    STASIS_BEGIN(cx);
    for (i = 0; i < n; ++i) {
      STASIS_RECEIVE(cx, *in, v);
      sum += v;
    }
    STASIS_RETURN(cx, sum);
    STASIS_END(cx);
  }
};

// Runs a five-value Producer -> Summer pipeline on a fresh channel and checks the
// sum and that no tasklet is left alive or blocked: proves `s` still works (after a
// misuse, say). Returns the pipeline channel's balance after the run, for callers
// that check it too.
inline int ExpectPipelineWorks(stasis::Scheduler& s) {
  stasis::Channel<int> ch(stasis::ChannelOptions{.name = "pipeline"});
  s.spawn(Producer{.out = &ch, .n = 5});
  stasis::TaskletRef sum = s.spawn(Summer{.in = &ch, .n = 5});
  s.run();
  EXPECT_EQ(sum->result<int>(), 0 + 1 + 2 + 3 + 4);
  EXPECT_EQ(s.alive_count(), 0u);
  EXPECT_EQ(s.blocked_count(), 0u);
  return ch.balance();
}

// --- Logging, killing, spinning. ---

// Logs its tag once.
struct Note : stasis::Frame<Note> {
  Log* log = nullptr;
  std::string tag = "O";
  STASIS_FIELDS(log, tag)
  stasis::Step run(stasis::Ctx&) {
    log->push_back(tag);
    return stasis::Step::kReturn;
  }
};

// Kills `target` when it runs, or throws `to_throw` into it; records the target's
// state just before and logs "killer" after.
struct Killer : stasis::Frame<Killer> {
  stasis::Tasklet* target = nullptr;
  stasis::TaskletState* target_state_before = nullptr;
  std::exception_ptr to_throw;  // null: kill
  Log* log = nullptr;
  int unused = 0;
  STASIS_FIELDS(unused)
  stasis::Step run(stasis::Ctx& cx) {
    STASIS_BEGIN(cx);
    if (target_state_before) *target_state_before = target->state();
    if (to_throw) {
      target->throw_exception(to_throw);
    } else {
      target->kill();
    }
    if (log) log->push_back("killer");
    STASIS_END(cx);
  }
};

// Sums 0..n-1 with a preemption point (STASIS_POLL, resume point 1) per iteration
// and returns the sum; atomic while i < atomic_until.
struct PollLoop : stasis::Frame<PollLoop> {
  int n = 0;
  int i = 0;
  long long sum = 0;
  int atomic_until = -1;
  Tracker tracker;
  STASIS_FIELDS(n, i, sum, atomic_until)
  stasis::Step run(stasis::Ctx& cx) {
    STASIS_BEGIN(cx);
    if (atomic_until > 0) cx.tasklet().set_atomic(true);
    for (i = 0; i < n; ++i) {
      if (i == atomic_until) cx.tasklet().set_atomic(false);
      sum += i;
      STASIS_POLL(cx);
    }
    STASIS_RETURN(cx, sum);
    STASIS_END(cx);
  }
};

// Polls `polls` times, then yields `yields` times.
struct Worker : stasis::Frame<Worker> {
  int polls = 0;
  int yields = 0;
  int i = 0;
  STASIS_FIELDS(polls, yields, i)
  stasis::Step run(stasis::Ctx& cx) {
    STASIS_BEGIN(cx);
    for (i = 0; i < polls; ++i) STASIS_POLL(cx);
    for (i = 0; i < yields; ++i) STASIS_SCHEDULE(cx);
    STASIS_END(cx);
  }
};

}  // namespace stasis_test

#endif  // STASIS_TESTS_RUNTIME_TEST_FRAMES_H_
