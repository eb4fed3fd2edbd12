// tasklet_test.cc — tasklet identity, states, kill, throw, atomic sections,
// results, insert/remove, unobserved failures.
#include <gtest/gtest.h>

#include <chrono>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "stasis/stasis.h"
#include "test_frames.h"
#include "test_support.h"

using namespace stasis;
using namespace std::chrono_literals;
using stasis_test::holds;
using stasis_test::Killer;
using stasis_test::Note;
using stasis_test::PollLoop;
using stasis_test::Probe;
using stasis_test::SendOne;
using stasis_test::Tracker;
using stasis_test::what_of;

namespace {

// Returns `value`; counts how often its body ran.
struct Job : Frame<Job> {
  int value = 0;
  int* ran = nullptr;
  Tracker tracker;
  STASIS_FIELDS(value)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    if (ran) ++*ran;
    STASIS_RETURN(cx, value);
    STASIS_END(cx);
  }
};

// Finishes without a value.
struct VoidJob : Frame<VoidJob> {
  int unused = 0;
  STASIS_FIELDS(unused)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_END(cx);
  }
};

// Receives one value and returns it; records the states it saw itself in.
struct Receiver : Frame<Receiver> {
  Channel<int>* ch = nullptr;
  int v = -1;
  bool* resumed = nullptr;
  std::vector<TaskletState>* own_states = nullptr;
  Tracker tracker;
  STASIS_FIELDS(ch, v)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    if (own_states) own_states->push_back(cx.tasklet().state());
    STASIS_RECEIVE(cx, *ch, v);
    if (resumed) *resumed = true;
    if (own_states) own_states->push_back(cx.tasklet().state());
    STASIS_SCHEDULE(cx);
    STASIS_RETURN(cx, v);
    STASIS_END(cx);
  }
};

// Watches `subject` through its life: records its state at each step.
struct LifeWatcher : Frame<LifeWatcher> {
  Tasklet* subject = nullptr;
  Channel<int>* ch = nullptr;
  std::vector<TaskletState>* seen = nullptr;
  std::string* wait_text = nullptr;
  WaitKind* wait_kind = nullptr;
  const ChannelBase** waiting_on = nullptr;
  STASIS_FIELDS(subject, ch)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    seen->push_back(subject->state());  // blocked in receive
    *wait_text = subject->describe_wait();
    *wait_kind = subject->wait_kind();
    *waiting_on = subject->waiting_on();
    STASIS_SEND(cx, *ch, 5);  // the receiver runs at once, then yields
    seen->push_back(subject->state());  // runnable (yielded)
    subject->remove();
    seen->push_back(subject->state());  // paused
    STASIS_SCHEDULE(cx);
    seen->push_back(subject->state());  // still paused: it did not run
    subject->insert();
    seen->push_back(subject->state());  // runnable again
    STASIS_END(cx);
  }
};

// Yields once, then records that it ran on.
struct YieldThenMark : Frame<YieldThenMark> {
  bool* marked = nullptr;
  Tracker tracker;
  int unused = 0;
  STASIS_FIELDS(unused)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_SCHEDULE(cx);
    *marked = true;
    STASIS_RETURN(cx, 7);
    STASIS_END(cx);
  }
};

// Kills its own tasklet.
struct SelfKiller : Frame<SelfKiller> {
  bool* after_kill = nullptr;
  Tracker tracker;
  int unused = 0;
  STASIS_FIELDS(unused)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    cx.tasklet().kill();
    *after_kill = true;
    STASIS_END(cx);
  }
};

// Throws into its own tasklet.
struct SelfThrower : Frame<SelfThrower> {
  bool* after = nullptr;
  int unused = 0;
  STASIS_FIELDS(unused)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    cx.tasklet().raise(std::logic_error("raised in myself"));
    *after = true;
    STASIS_END(cx);
  }
};

// A chain of `depth` frames whose innermost blocks receiving on ch.
struct DeepReceiver : Frame<DeepReceiver> {
  Channel<int>* ch = nullptr;
  int depth = 0;
  int v = 0;
  std::vector<int>* order = nullptr;
  Probe probe;
  STASIS_FIELDS(ch, depth, v)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    if (depth == 1) {
      STASIS_RECEIVE(cx, *ch, v);
      STASIS_RETURN(cx, v);
    }
    STASIS_CALL(cx, v, DeepReceiver{.ch = ch, .depth = depth - 1, .order = order, .probe = Probe(order, depth - 1)});
    STASIS_RETURN(cx, v);
    STASIS_END(cx);
  }
};

// Catches whatever its DeepReceiver child raises and returns a marker.
struct CatchingReceiver : Frame<CatchingReceiver> {
  Channel<int>* ch = nullptr;
  int v = 0;
  std::exception_ptr err;
  std::string* caught = nullptr;
  std::vector<std::string>* log = nullptr;
  STASIS_FIELDS(ch, v)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_CALL_CATCH(cx, v, err, DeepReceiver{.ch = ch, .depth = 2});
    if (err) *caught = what_of(err);
    if (log) log->push_back("receiver");
    STASIS_RETURN(cx, err ? -1 : v);
    STASIS_END(cx);
  }
};

// Fails with a runtime_error.
struct Failer : Frame<Failer> {
  std::string message;
  STASIS_FIELDS(message)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    throw std::runtime_error(message);
    STASIS_END(cx);
  }
};

// Calls remove()/insert() on itself while running.
struct SelfRemover : Frame<SelfRemover> {
  bool* remove_threw = nullptr;
  bool* insert_threw = nullptr;
  int unused = 0;
  STASIS_FIELDS(unused)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    try {
      cx.tasklet().remove();
    } catch (const TaskletStateError&) {
      *remove_threw = true;
    }
    try {
      cx.tasklet().insert();
    } catch (const TaskletStateError&) {
      *insert_threw = true;
    }
    STASIS_END(cx);
  }
};

// Sleeps (to try blocking with block_trap set).
struct Sleeper : Frame<Sleeper> {
  int unused = 0;
  STASIS_FIELDS(unused)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    cx.tasklet().set_block_trap(true);
    STASIS_SLEEP(cx, 1ms);
    STASIS_END(cx);
  }
};

}  // namespace

// --- Identity. ---

TEST(Tasklet, IdsAreUniqueAndIncreasing) {
  Scheduler s;
  std::vector<TaskletRef> ts;
  for (int i = 0; i < 100; ++i) ts.push_back(s.spawn(Job{.value = i}));
  std::set<std::uint64_t> ids;
  for (std::size_t i = 0; i < ts.size(); ++i) {
    ids.insert(ts[i]->id());
    if (i > 0) {
      EXPECT_GT(ts[i]->id(), ts[i - 1]->id());
    }
  }
  EXPECT_EQ(ids.size(), ts.size());
  s.run();
  // Ids are never reused after tasklets end.
  auto later = s.spawn(Job{});
  EXPECT_GT(later->id(), ts.back()->id());
  s.run();
}

TEST(Tasklet, NamesAndLabels) {
  Scheduler s;
  auto named = s.spawn(Job{}, {.name = "worker"});
  auto plain = s.spawn(Job{});
  EXPECT_EQ(named->name(), "worker");
  EXPECT_EQ(named->label(), "tasklet #" + std::to_string(named->id()) + " 'worker'");
  EXPECT_EQ(plain->name(), "");
  EXPECT_EQ(plain->label(), "tasklet #" + std::to_string(plain->id()));

  plain->set_name("late name");
  EXPECT_EQ(plain->name(), "late name");
  EXPECT_EQ(plain->label(), "tasklet #" + std::to_string(plain->id()) + " 'late name'");
  named->set_name("renamed");
  EXPECT_EQ(named->label(), "tasklet #" + std::to_string(named->id()) + " 'renamed'");
  named->set_name("");
  EXPECT_EQ(named->name(), "");
  EXPECT_EQ(named->label(), "tasklet #" + std::to_string(named->id()));

  s.run();
  // Names outlive the run while someone holds the tasklet.
  EXPECT_EQ(plain->name(), "late name");
}

TEST(Tasklet, NameOfAFreedTaskletDoesNotLeakToANewOne) {
  Scheduler s;
  std::uint64_t old_id;
  {
    auto t = s.spawn(Job{}, {.name = "first"});
    old_id = t->id();
    s.run();
  }  // freed: its name goes with it
  auto u = s.spawn(Job{});
  EXPECT_NE(u->id(), old_id);
  EXPECT_EQ(u->name(), "");
  s.run();
}

TEST(Tasklet, NamesDoNotLeakAcrossSchedulers) {
  // A handle can outlive its scheduler; a later scheduler on the thread numbers its
  // tasklets afresh. Neither may see or erase the other's names.
  TaskletRef old;
  {
    Scheduler s1;
    old = s1.spawn(Job{}, {.name = "old"});
    s1.run();
  }
  Scheduler s2;
  auto fresh = s2.spawn(Job{}, {.name = "new"});
  auto unnamed = s2.spawn(Job{});
  EXPECT_NE(old->name(), "new");
  EXPECT_EQ(unnamed->name(), "");
  old = TaskletRef();  // frees the old tasklet
  EXPECT_EQ(fresh->name(), "new");
  EXPECT_EQ(fresh->label(), "tasklet #" + std::to_string(fresh->id()) + " 'new'");
  s2.run();
}

// --- States. ---

TEST(Tasklet, StatesThroughALifeCycle) {
  Scheduler s;
  Channel<int> ch({.name = "inbox"});
  std::vector<TaskletState> own, seen;
  std::string wait_text;
  WaitKind wait_kind = WaitKind::kNone;
  const ChannelBase* waiting_on = nullptr;
  auto r = s.spawn(Receiver{.ch = &ch, .own_states = &own});
  EXPECT_EQ(r->state(), TaskletState::kNew);
  EXPECT_TRUE(r->alive());
  EXPECT_FALSE(r->blocked());
  EXPECT_EQ(r->wait_kind(), WaitKind::kNone);
  EXPECT_EQ(r->waiting_on(), nullptr);
  EXPECT_EQ(r->describe_wait(), "");

  // Paused before it ever ran, then runnable again (still new).
  r->remove();
  EXPECT_EQ(r->state(), TaskletState::kPaused);
  r->insert();
  EXPECT_EQ(r->state(), TaskletState::kNew);

  s.spawn(LifeWatcher{.subject = r.get(), .ch = &ch, .seen = &seen, .wait_text = &wait_text,
                      .wait_kind = &wait_kind, .waiting_on = &waiting_on});
  s.run();
  EXPECT_EQ(own, (std::vector<TaskletState>{TaskletState::kRunning, TaskletState::kRunning}));
  EXPECT_EQ(seen, (std::vector<TaskletState>{TaskletState::kBlocked, TaskletState::kRunnable, TaskletState::kPaused,
                                             TaskletState::kPaused, TaskletState::kRunnable}));
  EXPECT_EQ(wait_kind, WaitKind::kReceive);
  EXPECT_EQ(waiting_on, &ch);
  EXPECT_EQ(wait_text, "receive on channel #" + std::to_string(ch.id()) + " 'inbox'");
  EXPECT_EQ(r->state(), TaskletState::kFinished);
  EXPECT_FALSE(r->alive());
  EXPECT_EQ(r->result<int>(), 5);
  EXPECT_EQ(r->top_frame(), nullptr);

  auto k = s.spawn(Job{});
  k->kill();
  EXPECT_EQ(k->state(), TaskletState::kKilled);
  EXPECT_FALSE(k->alive());
}

TEST(Tasklet, ToStringNamesEveryState) {
  EXPECT_STREQ(to_string(TaskletState::kNew), "new");
  EXPECT_STREQ(to_string(TaskletState::kRunnable), "runnable");
  EXPECT_STREQ(to_string(TaskletState::kRunning), "running");
  EXPECT_STREQ(to_string(TaskletState::kBlocked), "blocked");
  EXPECT_STREQ(to_string(TaskletState::kPaused), "paused");
  EXPECT_STREQ(to_string(TaskletState::kFinished), "finished");
  EXPECT_STREQ(to_string(TaskletState::kKilled), "killed");
}

// --- kill. ---

TEST(TaskletKill, NewTaskletNeverRuns) {
  Scheduler s;
  int ran = 0, destroyed = 0;
  auto t = s.spawn(Job{.value = 1, .ran = &ran, .tracker = Tracker(&destroyed)});
  EXPECT_EQ(s.alive_count(), 1u);
  t->kill();
  EXPECT_EQ(t->state(), TaskletState::kKilled);
  EXPECT_EQ(destroyed, 1);
  EXPECT_EQ(t->top_frame(), nullptr);
  EXPECT_EQ(s.alive_count(), 0u);
  EXPECT_EQ(s.runnable_count(), 0u);
  s.run();
  EXPECT_EQ(ran, 0);
  EXPECT_THROW(t->insert(), TaskletStateError);  // dead tasklets cannot be resumed
}

TEST(TaskletKill, BlockedReceiverLeavesItsChannel) {
  Scheduler s;
  Channel<int> ch;
  bool resumed = false;
  int destroyed = 0;
  auto r = s.spawn(Receiver{.ch = &ch, .resumed = &resumed, .tracker = Tracker(&destroyed)});
  EXPECT_THROW(s.run(), Deadlock);
  ASSERT_TRUE(r->blocked());
  EXPECT_EQ(ch.balance(), -1);
  EXPECT_EQ(s.blocked_count(), 1u);
  r->kill();
  EXPECT_EQ(r->state(), TaskletState::kKilled);
  EXPECT_EQ(ch.balance(), 0);
  EXPECT_TRUE(ch.waiting().empty());
  EXPECT_EQ(s.blocked_count(), 0u);
  EXPECT_EQ(destroyed, 1);
  EXPECT_FALSE(resumed);
  EXPECT_EQ(r->waiting_on(), nullptr);
  EXPECT_NO_THROW(s.run());  // nothing blocked any more
  // A sender now finds nobody waiting.
  EXPECT_FALSE(ch.try_send(1));
}

TEST(TaskletKill, BlockedSenderFromAnotherTaskletDiscardsItsValue) {
  Scheduler s;
  Channel<int> ch;
  bool resumed = false;
  TaskletState before = TaskletState::kNew;
  auto snd = s.spawn(SendOne{.ch = &ch, .v = 99, .resumed = &resumed});
  s.spawn(Killer{.target = snd.get(), .target_state_before = &before});
  s.run();
  EXPECT_EQ(before, TaskletState::kBlocked);
  EXPECT_EQ(snd->state(), TaskletState::kKilled);
  EXPECT_FALSE(resumed);
  EXPECT_EQ(ch.balance(), 0);
  EXPECT_EQ(ch.try_receive(), std::nullopt);
}

TEST(TaskletKill, RunnableStartedTasklet) {
  Scheduler s;
  bool marked = false;
  int destroyed = 0;
  TaskletState before = TaskletState::kNew;
  auto y = s.spawn(YieldThenMark{.marked = &marked, .tracker = Tracker(&destroyed)});
  s.spawn(Killer{.target = y.get(), .target_state_before = &before});
  s.run();
  EXPECT_EQ(before, TaskletState::kRunnable);  // yielded: started and runnable
  EXPECT_FALSE(marked);
  EXPECT_EQ(destroyed, 1);
  EXPECT_EQ(y->state(), TaskletState::kKilled);
}

TEST(TaskletKill, PausedTasklet) {
  Scheduler s;
  int destroyed = 0;
  auto t = s.spawn(PollLoop{.n = 1000, .tracker = Tracker(&destroyed)});
  TaskletRef stopped = s.run(20);
  ASSERT_EQ(stopped, t);
  EXPECT_EQ(t->state(), TaskletState::kPaused);
  EXPECT_EQ(s.alive_count(), 1u);
  t->kill();
  EXPECT_EQ(t->state(), TaskletState::kKilled);
  EXPECT_EQ(destroyed, 1);
  EXPECT_EQ(s.alive_count(), 0u);
  EXPECT_FALSE(s.run(20));  // nothing left to run or preempt

  // Removed (paused) before running.
  int destroyed2 = 0;
  auto u = s.spawn(PollLoop{.n = 10, .tracker = Tracker(&destroyed2)});
  u->remove();
  u->kill();
  EXPECT_EQ(u->state(), TaskletState::kKilled);
  EXPECT_EQ(destroyed2, 1);
  s.run();
}

TEST(TaskletKill, SelfKillRaisesTaskletExitInsideItsFrame) {
  Scheduler s;
  bool after = false;
  int destroyed = 0;
  auto t = s.spawn(SelfKiller{.after_kill = &after, .tracker = Tracker(&destroyed)});
  s.run();
  EXPECT_FALSE(after);  // kill() did not return
  EXPECT_EQ(t->state(), TaskletState::kKilled);
  EXPECT_EQ(t->exception(), nullptr);
  EXPECT_FALSE(t->failed());
  EXPECT_EQ(destroyed, 1);
}

TEST(TaskletKill, UnobservedSelfKillIsNotAnError) {
  Scheduler s;
  bool after = false;
  int destroyed = 0;
  s.spawn(SelfKiller{.after_kill = &after, .tracker = Tracker(&destroyed)});  // ref dropped
  EXPECT_NO_THROW(s.run());
  EXPECT_FALSE(after);
  EXPECT_EQ(destroyed, 1);
  EXPECT_EQ(s.alive_count(), 0u);
}

TEST(TaskletKill, RunsEveryFrameDestructorInnermostFirst) {
  Scheduler s;
  Channel<int> ch;
  std::vector<int> order;
  auto t = s.spawn(DeepReceiver{.ch = &ch, .depth = 4, .order = &order, .probe = Probe(&order, 4)});
  EXPECT_THROW(s.run(), Deadlock);
  EXPECT_EQ(t->frame_depth(), 4u);
  EXPECT_TRUE(order.empty());
  t->kill();
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3, 4}));
  EXPECT_EQ(t->frame_depth(), 0u);
  EXPECT_EQ(ch.balance(), 0);
}

TEST(TaskletKill, KillingADeadTaskletDoesNothing) {
  Scheduler s;
  auto t = s.spawn(Job{.value = 3});
  s.run();
  ASSERT_EQ(t->state(), TaskletState::kFinished);
  EXPECT_NO_THROW(t->kill());
  EXPECT_EQ(t->state(), TaskletState::kFinished);
  EXPECT_EQ(t->result<int>(), 3);  // the result survives

  auto k = s.spawn(Job{});
  k->kill();
  EXPECT_NO_THROW(k->kill());
  EXPECT_EQ(k->state(), TaskletState::kKilled);

  auto f = s.spawn(Failer{.message = "x"});
  s.run();
  EXPECT_NO_THROW(f->kill());
  EXPECT_EQ(f->state(), TaskletState::kFinished);
  EXPECT_TRUE(f->failed());
}

TEST(TaskletKill, ThrowingTaskletExitIsKill) {
  Scheduler s;
  Channel<int> ch;
  int destroyed = 0;
  auto r = s.spawn(Receiver{.ch = &ch, .tracker = Tracker(&destroyed)});
  EXPECT_THROW(s.run(), Deadlock);
  r->raise(TaskletExit{});
  EXPECT_EQ(r->state(), TaskletState::kKilled);
  EXPECT_EQ(destroyed, 1);
  EXPECT_EQ(ch.balance(), 0);
}

// --- throw_exception. ---

TEST(TaskletThrow, IntoBlockedTaskletEndsItWithThatException) {
  Scheduler s;
  Channel<int> ch;
  bool resumed = false;
  int destroyed = 0;
  auto r = s.spawn(Receiver{.ch = &ch, .resumed = &resumed, .tracker = Tracker(&destroyed)});
  EXPECT_THROW(s.run(), Deadlock);
  ASSERT_EQ(ch.balance(), -1);
  r->raise(std::out_of_range("thrown in"));
  // Left the channel at once and became runnable.
  EXPECT_EQ(ch.balance(), 0);
  EXPECT_EQ(r->state(), TaskletState::kRunnable);
  EXPECT_EQ(s.blocked_count(), 0u);
  EXPECT_TRUE(r->alive());
  s.run();
  EXPECT_FALSE(resumed);  // raised at the receive, not after it
  EXPECT_EQ(r->state(), TaskletState::kFinished);
  EXPECT_TRUE(holds<std::out_of_range>(r->exception()));
  EXPECT_THROW(r->result<int>(), std::out_of_range);
  EXPECT_EQ(destroyed, 1);
}

TEST(TaskletThrow, IntoBlockedSenderDeliversNothing) {
  Scheduler s;
  Channel<int> ch;
  bool resumed = false;
  auto snd = s.spawn(SendOne{.ch = &ch, .v = 7, .resumed = &resumed});
  EXPECT_THROW(s.run(), Deadlock);
  ASSERT_EQ(ch.balance(), 1);
  snd->raise(std::runtime_error("cancelled"));
  EXPECT_EQ(ch.balance(), 0);
  EXPECT_EQ(ch.try_receive(), std::nullopt);
  s.run();
  EXPECT_FALSE(resumed);
  EXPECT_EQ(what_of(snd->exception()), "cancelled");
}

TEST(TaskletThrow, RaisedAtTheSuspensionPointWhereACallerCanCatchIt) {
  // The receiver is two frames below a catching frame; the exception thrown in
  // unwinds the two frames and is caught. It runs first among its priority.
  Scheduler s;
  Channel<int> ch;
  std::string caught;
  std::vector<std::string> log;
  auto r = s.spawn(CatchingReceiver{.ch = &ch, .caught = &caught, .log = &log});
  s.spawn(Killer{.target = r.get(), .to_throw = std::make_exception_ptr(std::runtime_error("wake up")), .log = &log});
  s.spawn(Note{.log = &log, .tag = "x"});
  s.spawn(Note{.log = &log, .tag = "y"});
  s.run();
  EXPECT_EQ(caught, "wake up");
  EXPECT_EQ(r->result<int>(), -1);
  EXPECT_EQ(log, (std::vector<std::string>{"killer", "receiver", "x", "y"}));
  EXPECT_EQ(ch.balance(), 0);
}

TEST(TaskletThrow, IntoNewTaskletEndsItWithoutRunning) {
  Scheduler s;
  int ran = 0, destroyed = 0;
  auto t = s.spawn(Job{.value = 1, .ran = &ran, .tracker = Tracker(&destroyed)});
  t->raise(std::invalid_argument("never started"));
  EXPECT_EQ(t->state(), TaskletState::kFinished);
  EXPECT_TRUE(t->failed());
  EXPECT_EQ(destroyed, 1);
  EXPECT_EQ(s.alive_count(), 0u);
  EXPECT_NO_THROW(s.run());  // observed: not an unhandled error
  EXPECT_EQ(ran, 0);
  EXPECT_THROW(t->result<int>(), std::invalid_argument);
}

TEST(TaskletThrow, IntoRunnableTaskletRaisedWhenItResumes) {
  Scheduler s;
  bool marked = false;
  int destroyed = 0;
  auto y = s.spawn(YieldThenMark{.marked = &marked, .tracker = Tracker(&destroyed)});
  s.spawn(Killer{.target = y.get(), .to_throw = std::make_exception_ptr(std::runtime_error("at the yield"))});
  s.run();
  EXPECT_FALSE(marked);
  EXPECT_EQ(what_of(y->exception()), "at the yield");
  EXPECT_EQ(destroyed, 1);
}

TEST(TaskletThrow, IntoPausedTaskletRaisedAtItsPreemptionPoint) {
  Scheduler s;
  int destroyed = 0;
  auto t = s.spawn(PollLoop{.n = 1000, .tracker = Tracker(&destroyed)});
  ASSERT_EQ(s.run(10), t);
  t->raise(std::runtime_error("stop spinning"));
  EXPECT_EQ(t->state(), TaskletState::kRunnable);
  s.run();
  EXPECT_EQ(what_of(t->exception()), "stop spinning");
  EXPECT_EQ(destroyed, 1);
}

TEST(TaskletThrow, IntoItselfRaisesImmediately) {
  Scheduler s;
  bool after = false;
  auto t = s.spawn(SelfThrower{.after = &after});
  s.run();
  EXPECT_FALSE(after);
  EXPECT_TRUE(holds<std::logic_error>(t->exception()));
}

TEST(TaskletThrow, IntoDeadTaskletIsAnErrorExceptTaskletExit) {
  Scheduler s;
  auto done = s.spawn(Job{.value = 1});
  auto killed = s.spawn(Job{});
  killed->kill();
  s.run();
  try {
    done->raise(std::runtime_error("too late"));
    FAIL() << "throw into a finished tasklet did not throw";
  } catch (const TaskletStateError& e) {
    EXPECT_NE(std::string(e.what()).find(done->label()), std::string::npos) << e.what();
  }
  EXPECT_THROW(killed->raise(std::runtime_error("too late")), TaskletStateError);
  // TaskletExit into a dead tasklet: nothing happens.
  EXPECT_NO_THROW(done->raise(TaskletExit{}));
  EXPECT_NO_THROW(killed->raise(TaskletExit{}));
  EXPECT_EQ(done->state(), TaskletState::kFinished);
  EXPECT_EQ(done->result<int>(), 1);
  EXPECT_EQ(killed->state(), TaskletState::kKilled);
}

TEST(TaskletThrow, NullExceptionIsInvalid) {
  Scheduler s;
  auto t = s.spawn(Job{});
  EXPECT_THROW(t->throw_exception(nullptr), InvalidArgument);
  EXPECT_EQ(t->state(), TaskletState::kNew);
  s.run();
  EXPECT_EQ(t->result<int>(), 0);
}

// --- Atomic sections. ---

TEST(TaskletAtomic, SetAtomicReturnsTheOldValue) {
  Scheduler s;
  auto t = s.spawn(Job{});
  EXPECT_FALSE(t->atomic());
  EXPECT_FALSE(t->set_atomic(true));
  EXPECT_TRUE(t->atomic());
  EXPECT_TRUE(t->set_atomic(true));
  EXPECT_TRUE(t->set_atomic(false));
  EXPECT_FALSE(t->atomic());
  EXPECT_FALSE(t->block_trap());
  EXPECT_FALSE(t->set_block_trap(true));
  EXPECT_TRUE(t->set_block_trap(false));
  s.run();
}

TEST(TaskletAtomic, AtomicTaskletIsNotPreemptedByTheBudget) {
  Scheduler s;
  auto t = s.spawn(PollLoop{.n = 1000});
  t->set_atomic(true);
  EXPECT_FALSE(s.run(10));  // went idle: the atomic tasklet ran to its end
  EXPECT_EQ(t->result<long long>(), 999LL * 1000 / 2);
  EXPECT_EQ(s.steps(), 1001u);  // one run() call + 1000 polls, all in one slice
}

TEST(TaskletAtomic, PreemptedOnlyAfterLeavingTheAtomicSection) {
  Scheduler s;
  auto t = s.spawn(PollLoop{.n = 1000, .atomic_until = 500});
  TaskletRef stopped = s.run(10);
  ASSERT_EQ(stopped, t);
  const auto* f = static_cast<const PollLoop*>(t->top_frame());
  // Polls 0..499 were atomic; the first non-atomic poll (i == 500) stopped it.
  EXPECT_EQ(f->i, 500);
  EXPECT_FALSE(t->atomic());
  t->insert();
  s.run();
  EXPECT_EQ(t->result<long long>(), 999LL * 1000 / 2);
}

TEST(TaskletAtomic, NonAtomicTaskletIsPreempted) {
  Scheduler s;
  auto t = s.spawn(PollLoop{.n = 1000});
  TaskletRef stopped = s.run(10);
  ASSERT_EQ(stopped, t);
  EXPECT_EQ(t->state(), TaskletState::kPaused);
}

// --- Results. ---

TEST(TaskletResult, ResultAndException) {
  Scheduler s;
  auto ok = s.spawn(Job{.value = 17});
  auto bad = s.spawn(Failer{.message = "failed on purpose"});
  auto nothing = s.spawn(VoidJob{});
  EXPECT_THROW(ok->result<int>(), TaskletStateError);  // not run yet
  EXPECT_EQ(ok->exception(), nullptr);
  s.run();
  EXPECT_EQ(ok->result<int>(), 17);
  EXPECT_FALSE(ok->failed());
  EXPECT_EQ(ok->exception(), nullptr);
  EXPECT_NO_THROW(ok->rethrow_if_failed());
  EXPECT_THROW(ok->result<std::string>(), TaskletStateError);  // wrong type
  EXPECT_THROW(ok->result<long>(), TaskletStateError);

  EXPECT_TRUE(bad->failed());
  EXPECT_EQ(what_of(bad->exception()), "failed on purpose");
  EXPECT_THROW(bad->result<int>(), std::runtime_error);
  EXPECT_THROW(bad->result<void>(), std::runtime_error);

  EXPECT_NO_THROW(nothing->result<void>());
  EXPECT_THROW(nothing->result<int>(), TaskletStateError);  // returned no value
}

TEST(TaskletResult, UnfinishedTaskletHasNoResult) {
  Scheduler s;
  Channel<int> ch;
  auto r = s.spawn(Receiver{.ch = &ch});
  try {
    r->result<int>();
    FAIL() << "result() of a new tasklet did not throw";
  } catch (const TaskletStateError& e) {
    EXPECT_NE(std::string(e.what()).find(r->label()), std::string::npos) << e.what();
  }
  EXPECT_THROW(s.run(), Deadlock);
  EXPECT_THROW(r->result<int>(), TaskletStateError);  // blocked
  EXPECT_EQ(r->exception(), nullptr);
  EXPECT_FALSE(r->failed());
  r->kill();
}

TEST(TaskletResult, KilledTaskletHasNoResult) {
  Scheduler s;
  auto t = s.spawn(Job{.value = 4});
  t->kill();
  EXPECT_THROW(t->result<int>(), TaskletStateError);
  EXPECT_THROW(t->result<void>(), TaskletStateError);
  EXPECT_EQ(t->exception(), nullptr);
  EXPECT_FALSE(t->failed());
}

// --- insert / remove. ---

TEST(TaskletInsertRemove, RemovedTaskletDoesNotRunUntilInserted) {
  Scheduler s;
  int ran = 0;
  auto t = s.spawn(Job{.value = 2, .ran = &ran});
  auto other = s.spawn(Job{.value = 3});
  t->remove();
  EXPECT_EQ(t->state(), TaskletState::kPaused);
  EXPECT_NO_THROW(t->remove());  // already paused: no-op
  EXPECT_EQ(s.runnable_count(), 1u);
  EXPECT_NO_THROW(s.run());  // paused is not blocked: no deadlock
  EXPECT_EQ(ran, 0);
  EXPECT_EQ(other->result<int>(), 3);
  EXPECT_EQ(s.alive_count(), 1u);
  t->insert();
  EXPECT_NO_THROW(t->insert());  // already runnable: no-op
  EXPECT_EQ(s.runnable_count(), 1u);
  s.run();
  EXPECT_EQ(ran, 1);
  EXPECT_EQ(t->result<int>(), 2);
}

TEST(TaskletInsertRemove, InsertGoesToTheBackOfItsPriority) {
  Scheduler s;
  std::vector<std::string> log;
  auto a = s.spawn(Note{.log = &log, .tag = "a"});
  s.spawn(Note{.log = &log, .tag = "b"});
  a->remove();
  s.spawn(Note{.log = &log, .tag = "c"});
  a->insert();
  s.run();
  EXPECT_EQ(log, (std::vector<std::string>{"b", "c", "a"}));
}

TEST(TaskletInsertRemove, BlockedRunningAndDeadTaskletsRefuse) {
  Scheduler s;
  Channel<int> ch;
  auto r = s.spawn(Receiver{.ch = &ch});
  EXPECT_THROW(s.run(), Deadlock);
  EXPECT_THROW(r->remove(), TaskletStateError);
  EXPECT_THROW(r->insert(), TaskletStateError);
  EXPECT_TRUE(r->blocked());
  EXPECT_EQ(ch.balance(), -1);
  r->kill();
  EXPECT_THROW(r->remove(), TaskletStateError);
  EXPECT_THROW(r->insert(), TaskletStateError);

  bool remove_threw = false, insert_threw = false;
  auto self = s.spawn(SelfRemover{.remove_threw = &remove_threw, .insert_threw = &insert_threw});
  s.run();
  EXPECT_TRUE(remove_threw);
  EXPECT_TRUE(insert_threw);
  EXPECT_EQ(self->state(), TaskletState::kFinished);
  EXPECT_FALSE(self->failed());
}

// --- Priority and block_trap. ---

TEST(Tasklet, PriorityOutOfRangeIsInvalid) {
  Scheduler s;
  int destroyed = 0;
  EXPECT_THROW(s.spawn(Job{.tracker = Tracker(&destroyed)}, {.priority = kMaxPriority + 1}), InvalidArgument);
  EXPECT_EQ(destroyed, 1);  // the root frame was not leaked
  EXPECT_THROW(s.spawn(Job{}, {.priority = kMinPriority - 1}), InvalidArgument);
  EXPECT_EQ(s.alive_count(), 0u);
  auto t = s.spawn(Job{}, {.priority = 3});
  EXPECT_EQ(t->priority(), 3);
  EXPECT_THROW(t->set_priority(kMaxPriority + 1), InvalidArgument);
  EXPECT_THROW(t->set_priority(kMinPriority - 1), InvalidArgument);
  EXPECT_EQ(t->priority(), 3);
  t->set_priority(kMinPriority);
  EXPECT_EQ(t->priority(), kMinPriority);
  s.run();
  EXPECT_EQ(t->state(), TaskletState::kFinished);
}

TEST(Tasklet, BlockTrapRefusesToBlock) {
  Scheduler s;
  auto t = s.spawn(Sleeper{});
  s.run();
  EXPECT_TRUE(holds<BlockTrap>(t->exception()));
  EXPECT_NE(what_of(t->exception()).find(t->label()), std::string::npos);
  EXPECT_EQ(s.blocked_count(), 0u);
}

// --- Unobserved failures. ---

TEST(TaskletUnhandled, RunThrowsForUnobservedFailureThenContinues) {
  Scheduler s;
  std::vector<std::string> log;
  std::uint64_t failing_id = s.spawn(Failer{.message = "nobody is watching"})->id();  // ref dropped
  s.spawn(Note{.log = &log, .tag = "after"});
  try {
    s.run();
    FAIL() << "run() did not report the unobserved failure";
  } catch (const UnhandledTaskletError& e) {
    EXPECT_EQ(e.tasklet_id(), failing_id);
    std::string m = e.what();
    EXPECT_NE(m.find("nobody is watching"), std::string::npos) << m;
    EXPECT_NE(m.find("#" + std::to_string(failing_id)), std::string::npos) << m;
    ASSERT_TRUE(e.nested_ptr());
    try {
      e.rethrow_nested();
    } catch (const std::runtime_error& inner) {
      EXPECT_STREQ(inner.what(), "nobody is watching");
    }
  }
  EXPECT_TRUE(log.empty());  // the failure stopped run() before the next tasklet
  EXPECT_FALSE(s.running());
  EXPECT_EQ(s.current_tasklet(), nullptr);
  s.run();  // the rest continues
  EXPECT_EQ(log, (std::vector<std::string>{"after"}));
  EXPECT_EQ(s.alive_count(), 0u);
}

TEST(TaskletUnhandled, EachUnobservedFailureIsReportedOnce) {
  Scheduler s;
  s.spawn(Failer{.message = "first"});
  s.spawn(Failer{.message = "second"});
  std::vector<std::string> reported;
  for (int i = 0; i < 2; ++i) {
    try {
      s.run();
      FAIL() << "run() " << i << " did not throw";
    } catch (const UnhandledTaskletError& e) {
      try {
        e.rethrow_nested();
      } catch (const std::runtime_error& inner) {
        reported.emplace_back(inner.what());
      }
    }
  }
  EXPECT_EQ(reported, (std::vector<std::string>{"first", "second"}));
  EXPECT_NO_THROW(s.run());
}

TEST(TaskletUnhandled, ObservedFailureIsNotReported) {
  Scheduler s;
  auto t = s.spawn(Failer{.message = "watched"});
  EXPECT_NO_THROW(s.run());
  EXPECT_TRUE(t->failed());
}
