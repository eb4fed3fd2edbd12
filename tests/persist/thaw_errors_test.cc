// thaw_errors_test.cc — every typed error of freeze and thaw, and "nothing lost".
//
// Freeze refusals: the tasklets keep exactly their state (frames, resume points,
// fields, waits, channel queues) and then finish with the results of a run that
// was never frozen. Thaw refusals: the target scheduler keeps its tasklets, timers
// and thread channel list, and a valid thaw into it afterwards works. Bad snapshots
// are made from good ones with snapshot_mutation.h.
#include <gtest/gtest.h>

#include <map>
#include <span>
#include <string>
#include <typeinfo>
#include <vector>

#include "hostile_frames.h"
#include "persist_frames.h"
#include "snapshot_mutation.h"
#include "stasis/persist/snapshot.h"
#include "stasis/persist/value_codec.h"
#include "stasis/stasis.h"

namespace stasis::test {
namespace {

using hostile::Emit;
using hostile::Fold;
using hostile::Guard;
using hostile::Listen;
using hostile::OddValue;
using hostile::Speak;
using persist::Snapshot;

// --- Frames of this file. ---

// Waits in a select over two channels; returns value * 10 + the case index.
struct Chooser : Frame<Chooser> {
  Channel<std::uint64_t>* a = nullptr;
  Channel<std::uint64_t>* b = nullptr;
  std::int64_t chosen = -3;
  std::uint64_t got = 0;
  Select sel;  // not a persistent field: select waits cannot be frozen
  STASIS_FIELDS(a, b, chosen, got)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    sel.clear();
    sel.receive(*a).receive(*b);
    STASIS_SELECT(cx, sel, chosen);
    got = sel.value<std::uint64_t>();
    STASIS_RETURN(cx, got * 10 + static_cast<std::uint64_t>(chosen));
    STASIS_END(cx);
  }
};

// A value type nobody registers a codec for, reached through a channel that no
// frame field references (a persistent frame registers the codec of every
// Channel<T>* field's T, so this is how a codec-less value gets in flight).
struct Opaque {
  std::uint64_t v = 0;
};
Channel<Opaque>* g_opaque = nullptr;

struct OpaqueSender : Frame<OpaqueSender> {
  std::uint64_t v = 0;
  STASIS_FIELDS(v)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_SEND(cx, *g_opaque, Opaque{v});
    STASIS_RETURN(cx, v + 1);
    STASIS_END(cx);
  }
};

struct OpaqueReceiver : Frame<OpaqueReceiver> {
  std::uint64_t got = 0;
  Opaque o;  // lives in the frame, but is not persistent
  STASIS_FIELDS(got)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_RECEIVE(cx, *g_opaque, o);
    got = o.v;
    STASIS_RETURN(cx, got);
    STASIS_END(cx);
  }
};

// Sends an exception, then returns 5.
struct ExceptionSender : Frame<ExceptionSender> {
  Channel<std::uint64_t>* out = nullptr;
  STASIS_FIELDS(out)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_SEND_EXCEPTION(cx, *out, std::make_exception_ptr(OddValue("sent as an exception")));
    STASIS_RETURN(cx, std::uint64_t{5});
    STASIS_END(cx);
  }
};

// Tries to freeze and thaw from inside Scheduler::run(), and reports what happened.
const Snapshot* g_snapshot_to_thaw = nullptr;
struct SelfFreezer : Frame<SelfFreezer> {
  std::string report;
  STASIS_FIELDS(report)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    try {
      persist::freeze(cx.scheduler());
      report += "whole: froze|";
    } catch (const FreezeError& e) {
      report += std::string("whole: ") + e.what() + "|";
    }
    try {
      TaskletRef set[] = {TaskletRef(&cx.tasklet())};
      persist::freeze(std::span<const TaskletRef>(set));
      report += "set: froze|";
    } catch (const FreezeError& e) {
      report += std::string("set: ") + e.what() + "|";
    }
    {
      std::size_t alive = cx.scheduler().alive_count();
      try {
        persist::Thawed t = persist::thaw(*g_snapshot_to_thaw, cx.scheduler());
        report += "thaw: thawed|";
      } catch (const SchedulerError& e) {
        report += std::string("thaw: ") + e.what() + "|";
      }
      if (cx.scheduler().alive_count() != alive) report += "thaw changed alive_count|";
    }
    STASIS_SCHEDULE(cx);
    STASIS_RETURN(cx, report);
    STASIS_END(cx);
  }
};

// Version 3 of a frame without a serialize(ar, version): it reads version 3 only.
struct Steady : Frame<Steady> {
  std::uint64_t n = 0;
  std::uint64_t acc = 0;
  STASIS_FIELDS(n, acc)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    while (n > 0) {
      --n;
      acc = acc * 3 + n;
      STASIS_SCHEDULE(cx);
    }
    STASIS_RETURN(cx, acc);
    STASIS_END(cx);
  }
};

STASIS_PERSISTENT_FRAME(Chooser, "test.errors.Chooser", 1);
STASIS_PERSISTENT_FRAME(OpaqueSender, "test.errors.OpaqueSender", 1);
STASIS_PERSISTENT_FRAME(OpaqueReceiver, "test.errors.OpaqueReceiver", 1);
STASIS_PERSISTENT_FRAME(ExceptionSender, "test.errors.ExceptionSender", 1);
STASIS_PERSISTENT_FRAME(SelfFreezer, "test.errors.SelfFreezer", 1);
STASIS_PERSISTENT_FRAME(Steady, "test.errors.Steady", 3);

// --- Helpers. ---

// Fold's result over Emit{.n = n, .salt = salt}.
std::uint64_t fold_of(std::uint64_t n, std::uint64_t salt) {
  std::uint64_t acc = 0;
  for (std::uint64_t i = 0; i < n; ++i) acc = acc * 1099511628211ull + i * i + salt;
  return acc;
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// Everything a freeze could disturb: each tasklet's state, wait and frames (type,
// resume point, field values), and every channel of the thread.
std::string observe(const Scheduler& s, const std::vector<TaskletRef>& tasklets) {
  std::string out = "alive " + std::to_string(s.alive_count()) + " runnable " + std::to_string(s.runnable_count()) +
                    " blocked " + std::to_string(s.blocked_count()) + " timers " +
                    std::to_string(s.pending_timers()) + " steps " + std::to_string(s.steps()) + "\n";
  for (const TaskletRef& t : tasklets) {
    out += t->label() + " " + to_string(t->state()) + " wait " + t->describe_wait() + " prio " +
           std::to_string(t->priority()) + (t->atomic() ? " atomic" : "") + "\n";
    for (const FrameBase* f = t->top_frame(); f; f = f->caller()) {
      out += "  " + std::string(f->type_name()) + " @" + std::to_string(f->resume_point());
      for (const FieldValue& v : f->fields()) out += " " + std::string(v.name) + "=" + v.text;
      out += "\n";
    }
  }
  for (const ChannelBase* c = ChannelBase::first_on_thread(); c; c = c->next_on_thread()) {
    out += c->label() + " balance " + std::to_string(c->balance()) + " buffered " + std::to_string(c->buffered()) +
           (c->closing() ? " closing" : "") + "\n";
  }
  return out;
}

template <class E>
std::string freeze_error(Scheduler& s, const persist::FreezeOptions& options = {}) {
  try {
    persist::freeze(s, options);
  } catch (const E& e) {
    return e.what();
  }
  return "(freeze succeeded)";
}

// ---------------------------------------------------------------------------
// Freeze refusals: nothing changes, and the run then ends as if never frozen.
// ---------------------------------------------------------------------------

TEST(FreezeErrors, UnpersistableFrameIsNamedAndTheRunGoesOn) {
  Channel<std::uint64_t> ch({.name = "numbers", .capacity = 2});
  Scheduler s;
  TaskletRef emit = s.spawn(Emit{.out = &ch, .n = 50, .salt = 3}, {.name = "emit"});
  TaskletRef fold = s.spawn(Fold{.in = &ch, .n = 50}, {.name = "fold"});
  TaskletRef plain = s.spawn(Unpersistable{.x = 5}, {.name = "plain"});
  TaskletRef interrupted = s.run(2);
  ASSERT_TRUE(interrupted);
  ASSERT_TRUE(plain->alive());
  std::vector<TaskletRef> all = {emit, fold, plain};
  const std::string before = observe(s, all);

  std::string msg = freeze_error<FreezeError>(s, {.interrupted = interrupted.get()});
  EXPECT_TRUE(contains(msg, "'test.persist.Unpersistable'")) << msg;
  EXPECT_TRUE(contains(msg, "'plain'")) << msg;
  EXPECT_TRUE(contains(msg, "register it with STASIS_PERSISTENT_FRAME")) << msg;
  EXPECT_EQ(observe(s, all), before);

  // The refusal is about that tasklet only: the others freeze.
  TaskletRef set[] = {emit, fold};
  Snapshot part = persist::freeze(std::span<const TaskletRef>(set));
  EXPECT_EQ(part.stats().tasklets, 2u);
  EXPECT_EQ(observe(s, all), before);

  interrupted->insert();
  s.run();
  EXPECT_EQ(fold->result<std::uint64_t>(), fold_of(50, 3));
  EXPECT_EQ(plain->state(), TaskletState::kFinished);
}

// Native tasklets on dedicated stacks cannot be frozen (their stack addresses are
// not reproducible; sliced ones can: tests/native_persist/).
TEST(FreezeErrors, DedicatedNativeTaskletIsRefusedAndKeepsRunning) {
  Channel<std::uint64_t> ch({.name = "to-native"});
  Scheduler s;
  TaskletRef native = spawn_native(s, [&] { return ch.receive() * 2; },
                                   {.name = "native-worker", .stack = StackKind::kDedicated});
  TaskletRef fold = s.spawn(Fold{.in = &ch, .n = 0}, {.name = "fold"});
  EXPECT_THROW(s.run(), Deadlock);
  ASSERT_TRUE(native->blocked());
  std::vector<TaskletRef> all = {native, fold};
  const std::string before = observe(s, all);

  std::string msg = freeze_error<FreezeError>(s);
  EXPECT_TRUE(contains(msg, "'native-worker'")) << msg;
  EXPECT_TRUE(contains(msg, "dedicated stack")) << msg;
  EXPECT_EQ(observe(s, all), before);

  ch.send(21);
  s.run();
  EXPECT_EQ(native->result<std::uint64_t>(), 42u);
}

TEST(FreezeErrors, SelectWaitIsRefusedAndTheSelectStillFires) {
  Channel<std::uint64_t> a({.name = "a"}), b({.name = "b"});
  Scheduler s;
  TaskletRef chooser = s.spawn(Chooser{.a = &a, .b = &b}, {.name = "chooser"});
  EXPECT_THROW(s.run(), Deadlock);
  ASSERT_EQ(chooser->wait_kind(), WaitKind::kSelect);
  std::vector<TaskletRef> all = {chooser};
  const std::string before = observe(s, all);

  std::string msg = freeze_error<FreezeError>(s);
  EXPECT_TRUE(contains(msg, "'chooser'")) << msg;
  EXPECT_TRUE(contains(msg, "select")) << msg;
  EXPECT_TRUE(contains(msg, "'b'")) << msg;  // the wait names its channels
  TaskletRef set[] = {chooser};
  EXPECT_THROW(persist::freeze(std::span<const TaskletRef>(set)), FreezeError);
  EXPECT_EQ(observe(s, all), before);

  b.send(7);
  s.run();
  EXPECT_EQ(chooser->result<std::uint64_t>(), 71u);
}

TEST(FreezeErrors, ValueInFlightWithoutCodecIsRefusedAndDelivered) {
  Channel<Opaque> ch({.name = "opaque"});
  g_opaque = &ch;
  Scheduler s;
  TaskletRef sender = s.spawn(OpaqueSender{.v = 41}, {.name = "sender"});
  EXPECT_THROW(s.run(), Deadlock);  // blocked, holding Opaque{41} in its slot
  ASSERT_EQ(sender->wait_kind(), WaitKind::kSend);
  std::vector<TaskletRef> all = {sender};
  const std::string before = observe(s, all);

  std::string msg = freeze_error<FreezeError>(s);
  EXPECT_TRUE(contains(msg, "'sender'")) << msg;
  EXPECT_TRUE(contains(msg, "Opaque")) << msg;
  EXPECT_TRUE(contains(msg, "STASIS_PERSISTENT_VALUE")) << msg;
  EXPECT_EQ(observe(s, all), before);

  EXPECT_EQ(ch.receive().v, 41u);  // the value in flight was not lost
  s.run();
  EXPECT_EQ(sender->result<std::uint64_t>(), 42u);
  g_opaque = nullptr;
}

TEST(FreezeErrors, ChannelWithoutCodecIsRefusedAndStillDelivers) {
  Channel<Opaque> ch({.name = "opaque"});
  g_opaque = &ch;
  Scheduler s;
  TaskletRef receiver = s.spawn(OpaqueReceiver{}, {.name = "receiver"});
  EXPECT_THROW(s.run(), Deadlock);
  ASSERT_EQ(receiver->wait_kind(), WaitKind::kReceive);
  std::vector<TaskletRef> all = {receiver};
  const std::string before = observe(s, all);

  std::string msg = freeze_error<FreezeError>(s);
  EXPECT_TRUE(contains(msg, "'opaque'")) << msg;  // names the channel
  EXPECT_TRUE(contains(msg, "Opaque")) << msg;    // and its value type
  EXPECT_TRUE(contains(msg, "STASIS_PERSISTENT_VALUE")) << msg;
  EXPECT_EQ(observe(s, all), before);

  ch.send(Opaque{9});
  s.run();
  EXPECT_EQ(receiver->result<std::uint64_t>(), 9u);
  g_opaque = nullptr;
}

TEST(FreezeErrors, PendingExceptionIsRefusedAndThenCaught) {
  Channel<std::uint64_t> ch({.name = "guarded"});
  Scheduler s;
  TaskletRef guard = s.spawn(Guard{.in = &ch, .rounds = 2}, {.name = "guard"});
  EXPECT_THROW(s.run(), Deadlock);  // its Thrower waits to receive
  ASSERT_EQ(guard->frame_depth(), 2u);
  guard->raise(OddValue("thrown in"));
  ASSERT_EQ(guard->state(), TaskletState::kRunnable);
  std::vector<TaskletRef> all = {guard};
  const std::string before = observe(s, all);

  std::string msg = freeze_error<FreezeError>(s);
  EXPECT_TRUE(contains(msg, "'guard'")) << msg;
  EXPECT_TRUE(contains(msg, "pending exception")) << msg;
  TaskletRef set[] = {guard};
  EXPECT_THROW(persist::freeze(std::span<const TaskletRef>(set)), FreezeError);
  EXPECT_EQ(observe(s, all), before);

  // The exception is still pending: the Thrower raises it, the Guard catches it.
  EXPECT_THROW(s.run(), Deadlock);  // second round: a new Thrower waits
  ch.send(4);
  s.run();
  EXPECT_EQ(guard->result<std::uint64_t>(), 1u);
}

TEST(FreezeErrors, ExceptionInFlightIsRefusedAndStillRaised) {
  Channel<std::uint64_t> ch({.name = "errors"});
  Scheduler s;
  TaskletRef sender = s.spawn(ExceptionSender{.out = &ch}, {.name = "thrower"});
  EXPECT_THROW(s.run(), Deadlock);
  std::vector<TaskletRef> all = {sender};
  const std::string before = observe(s, all);

  std::string msg = freeze_error<FreezeError>(s);
  EXPECT_TRUE(contains(msg, "'thrower'")) << msg;
  EXPECT_TRUE(contains(msg, "send_exception")) << msg;
  EXPECT_TRUE(contains(msg, "'errors'")) << msg;
  EXPECT_EQ(observe(s, all), before);

  EXPECT_THROW(ch.receive(), OddValue);
  s.run();
  EXPECT_EQ(sender->result<std::uint64_t>(), 5u);
}

TEST(FreezeErrors, FreezeAndThawInsideARunningSchedulerAreRefused) {
  Snapshot any;
  {
    Scheduler s;
    s.spawn(hostile::Walk{.depth = 3});
    any = persist::freeze(s);
  }
  g_snapshot_to_thaw = &any;
  Channel<std::uint64_t> ch({.name = "numbers"});
  Scheduler s;
  TaskletRef fold = s.spawn(Fold{.in = &ch, .n = 20}, {.name = "fold"});
  TaskletRef self = s.spawn(SelfFreezer{}, {.name = "self"});
  s.spawn(Emit{.out = &ch, .n = 20, .salt = 1}, {.name = "emit"});
  s.run();
  std::string report = self->result<std::string>();
  EXPECT_TRUE(contains(report, "whole: freeze: the scheduler is running")) << report;
  EXPECT_TRUE(contains(report, "outside Scheduler::run()")) << report;
  EXPECT_TRUE(contains(report, "set: freeze: the scheduler is running")) << report;
  EXPECT_TRUE(contains(report, "thaw: thaw: the scheduler is running")) << report;
  EXPECT_FALSE(contains(report, "thaw changed alive_count")) << report;
  EXPECT_EQ(fold->result<std::uint64_t>(), fold_of(20, 1));
  g_snapshot_to_thaw = nullptr;
}

// ---------------------------------------------------------------------------
// Thaw refusals: the target scheduler is untouched; a valid thaw then works.
// ---------------------------------------------------------------------------

using Results = std::map<std::string, std::string>;

// A small world: sync and buffered numbers, strings, a version-3 frame, and a
// sender stuck with a value in flight on a channel nobody reads.
struct SmallWorld {
  Channel<std::uint64_t> sync{{.name = "sync"}};
  // Preference 0: a sender that meets a waiting receiver keeps running, so the
  // buffer fills up between the consumer's turns.
  Channel<std::uint64_t> buffered{{.name = "buffered", .capacity = 3, .preference = 0}};
  Channel<std::string> words{{.name = "words"}};
  Channel<std::uint64_t> stuck{{.name = "stuck"}};
  std::map<std::string, TaskletRef> spawn(Scheduler& s) {
    std::map<std::string, TaskletRef> t;
    t["emit-sync"] = s.spawn(Emit{.out = &sync, .n = 40, .salt = 1}, {.name = "emit-sync"});
    t["fold-sync"] = s.spawn(Fold{.in = &sync, .n = 40}, {.name = "fold-sync"});
    t["emit-buffered"] = s.spawn(Emit{.out = &buffered, .n = 40, .salt = 2}, {.name = "emit-buffered"});
    t["fold-buffered"] = s.spawn(Fold{.in = &buffered, .n = 40}, {.name = "fold-buffered"});
    std::vector<std::string> list;
    for (int i = 0; i < 40; ++i) list.push_back("w" + std::to_string(i));
    t["speak"] = s.spawn(Speak{.out = &words, .words = list}, {.name = "speak"});
    t["listen"] = s.spawn(Listen{.in = &words, .n = 40}, {.name = "listen"});
    t["steady"] = s.spawn(Steady{.n = 1000}, {.name = "steady"});
    t["stuck"] = s.spawn(Emit{.out = &stuck, .n = 1, .salt = 77}, {.name = "stuck"});
    return t;
  }
};

// Runs the small world to its end (only "stuck" is left then, blocked: its value
// in flight is taken from outside) and collects the results; find(name) gives
// the tasklet of that name.
template <class Find>
Results finish(Scheduler& s, Channel<std::uint64_t>& stuck, Find&& find) {
  Results r;
  try {
    s.run();
    r["run"] = "no deadlock";
  } catch (const Deadlock& d) {
    r["run"] = "deadlock of " + std::to_string(d.blocked().size());
  }
  r["value in flight"] = std::to_string(stuck.receive());
  s.run();
  for (const char* name : {"fold-sync", "fold-buffered", "steady", "listen", "stuck"}) {
    TaskletRef t = find(name);
    if (!t) {
      ADD_FAILURE() << "no tasklet '" << name << "' (did it end before the freeze?)";
    } else if (std::string(name) == "listen") {
      r[name] = t->template result<std::string>();
    } else if (std::string(name) == "stuck") {
      r[name] = to_string(t->state());
    } else {
      r[name] = std::to_string(t->template result<std::uint64_t>());
    }
  }
  return r;
}

struct Base {
  Snapshot snap;
  Results expected;
};

// Freezes the small world mid-run, then finishes the original run for the results.
Base make_base() {
  Base base;
  SmallWorld w;
  Scheduler s;
  std::map<std::string, TaskletRef> tasklets = w.spawn(s);
  // Freeze at the first step boundary after 30 steps where the buffered channel
  // holds values and "stuck" waits with its value in flight.
  TaskletRef t = s.run(30);
  for (int i = 0; t && i < 200 && (w.buffered.buffered() == 0 || w.stuck.balance() != 1); ++i) {
    t->insert();
    t = s.run(1);
  }
  EXPECT_TRUE(t);
  EXPECT_GT(w.buffered.buffered(), 0u);
  EXPECT_EQ(w.stuck.balance(), 1);
  base.snap = persist::freeze(s, {.container = {.compression = persist::Compression::kNone}, .interrupted = t.get()});
  t->insert();
  base.expected = finish(s, w.stuck, [&](const std::string& name) { return tasklets.at(name); });
  EXPECT_EQ(base.expected["value in flight"], "77");
  EXPECT_EQ(base.expected["fold-sync"], std::to_string(fold_of(40, 1)));
  return base;
}

// The scheduler a bad snapshot is thawed into: it already runs a pair of its own.
struct Target {
  Channel<std::uint64_t> local{{.name = "local", .capacity = 1}};
  Scheduler s;
  TaskletRef emit = s.spawn(Emit{.out = &local, .n = 25, .salt = 9}, {.name = "local-emit"});
  TaskletRef fold = s.spawn(Fold{.in = &local, .n = 25}, {.name = "local-fold"});
  Target() {  // mid-run: one blocked or runnable, the other runnable again
    if (TaskletRef t = s.run(7)) t->insert();
  }
  std::vector<TaskletRef> own() const { return {emit, fold}; }
};

class ThawErrors : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { base_ = new Base(make_base()); }
  static void TearDownTestSuite() {
    delete base_;
    base_ = nullptr;
  }

  const Snapshot& snap() const { return base_->snap; }

  // Index of the frame type / value type named `name` in the base snapshot.
  static unsigned frame_type(schema::Snapshot::Builder root, const std::string& name) {
    auto types = root.getFrameTypes();
    for (unsigned i = 0; i < types.size(); ++i) {
      if (std::string_view(types[i].getName().cStr()) == name) return i;
    }
    ADD_FAILURE() << "no frame type " << name;
    return 0;
  }
  static unsigned value_type(schema::Snapshot::Builder root, const std::string& name) {
    auto types = root.getValueTypes();
    for (unsigned i = 0; i < types.size(); ++i) {
      if (std::string_view(types[i].getName().cStr()) == name) return i;
    }
    ADD_FAILURE() << "no value type " << name;
    return 0;
  }
  static schema::Channel::Builder channel(schema::Snapshot::Builder root, const std::string& name) {
    for (auto ch : root.getChannels()) {
      if (std::string_view(ch.getName().cStr()) == name) return ch;
    }
    ADD_FAILURE() << "no channel " << name;
    return root.getChannels()[0];
  }

  // Thaws `bad` into target_ and expects exactly E, a message naming the source and
  // containing every `part`, and target_ untouched.
  template <class E>
  void expect_refused(const Snapshot& bad, const std::vector<std::string>& parts) {
    const std::string before = observe(target_.s, target_.own());
    try {
      persist::Thawed t = persist::thaw(bad, target_.s, {.source_name = "bad.snap"});
      ADD_FAILURE() << "thaw accepted the snapshot; expected " << persist::demangle(typeid(E).name());
    } catch (const E& e) {
      std::string msg = e.what();
      EXPECT_EQ(typeid(e), typeid(E)) << "got " << persist::demangle(typeid(e).name()) << ": " << msg;
      EXPECT_TRUE(contains(msg, "bad.snap: ")) << msg;
      for (const std::string& part : parts) EXPECT_TRUE(contains(msg, part)) << "missing '" << part << "' in: " << msg;
    } catch (const std::exception& e) {
      ADD_FAILURE() << "expected " << persist::demangle(typeid(E).name()) << ", got "
                    << persist::demangle(typeid(e).name()) << ": " << e.what();
    }
    EXPECT_EQ(observe(target_.s, target_.own()), before);
  }

  // After the refusals: a valid thaw into the same scheduler works and gives the
  // original results, and the target's own pair finishes too.
  void TearDown() override {
    persist::Thawed t = persist::thaw(snap(), target_.s);
    ASSERT_TRUE(t.interrupted());
    t.interrupted()->insert();
    Results got = finish(target_.s, channel_named(t), [&](const std::string& name) { return t.find(name); });
    EXPECT_EQ(got, base_->expected);
    EXPECT_EQ(target_.fold->result<std::uint64_t>(), fold_of(25, 9));
  }

  static Channel<std::uint64_t>& channel_named(const persist::Thawed& t) {
    for (const auto& ch : t.channels()) {
      if (ch->name() == "stuck") return static_cast<Channel<std::uint64_t>&>(*ch);
    }
    throw std::runtime_error("the thawed snapshot has no channel 'stuck'");
  }

  Target target_;
  static Base* base_;
};
Base* ThawErrors::base_ = nullptr;

TEST_F(ThawErrors, UnknownFrameTypeName) {
  Snapshot bad = mutate(snap(), [](schema::Snapshot::Builder root) {
    root.getFrameTypes()[frame_type(root, "test.hostile.Fold")].setName("test.nowhere.Gone");
  });
  expect_refused<UnknownFrameType>(bad, {"frame type 'test.nowhere.Gone'", "not registered in this program",
                                         "STASIS_PERSISTENT_FRAME(Type, \"test.nowhere.Gone\", 1)"});
}

TEST_F(ThawErrors, FrameTypeRegisteredWithoutPersistence) {
  Snapshot bad = mutate(snap(), [](schema::Snapshot::Builder root) {
    root.getFrameTypes()[frame_type(root, "test.hostile.Fold")].setName("test.persist.Unpersistable");
  });
  expect_refused<UnknownFrameType>(bad, {"'test.persist.Unpersistable'", "STASIS_REGISTER_FRAME only",
                                         "STASIS_PERSISTENT_FRAME"});
}

TEST_F(ThawErrors, NewerFrameVersion) {
  Snapshot bad = mutate(snap(), [](schema::Snapshot::Builder root) {
    root.getFrameTypes()[frame_type(root, "test.hostile.Fold")].setVersion(2);
  });
  expect_refused<FrameVersionError>(bad, {"frame type 'test.hostile.Fold'", "written with version 2",
                                          "newer than version 1", "restore it with the newer program"});
}

TEST_F(ThawErrors, OlderFrameVersionWithoutVersionedSerialize) {
  Snapshot bad = mutate(snap(), [](schema::Snapshot::Builder root) {
    root.getFrameTypes()[frame_type(root, "test.errors.Steady")].setVersion(2);
  });
  expect_refused<FrameVersionError>(bad, {"frame type 'test.errors.Steady'", "written with version 2",
                                          "registers version 3", "serialize(ar, version)"});
}

TEST_F(ThawErrors, UnknownValueTypeName) {
  Snapshot bad = mutate(snap(), [](schema::Snapshot::Builder root) {
    root.getValueTypes()[value_type(root, "string")].setName("test.nowhere.Value");
  });
  expect_refused<UnknownValueType>(bad, {"value type 'test.nowhere.Value'", "STASIS_PERSISTENT_VALUE"});
}

TEST_F(ThawErrors, ProducerWithOtherEndianness) {
  Snapshot bad = mutate(snap(), [](schema::Snapshot::Builder root) { root.getProducer().setLittleEndian(false); });
  expect_refused<SnapshotIncompatible>(bad, {"big-endian", "same endianness and integer sizes"});
}

TEST_F(ThawErrors, ProducerWithOtherPointerSize) {
  Snapshot bad = mutate(snap(), [](schema::Snapshot::Builder root) { root.getProducer().setPointerBits(32); });
  expect_refused<SnapshotIncompatible>(bad, {"(32-bit,", "same endianness and integer sizes"});
}

TEST_F(ThawErrors, ProducerWithOtherLongSize) {
  Snapshot bad = mutate(snap(), [](schema::Snapshot::Builder root) { root.getProducer().setLongBits(32); });
  expect_refused<SnapshotIncompatible>(bad, {"32-bit long", "same endianness and integer sizes"});
}

TEST_F(ThawErrors, ProducerWithNewerBoostArchive) {
  Snapshot bad = mutate(snap(), [](schema::Snapshot::Builder root) { root.getProducer().setBoostArchiveVersion(1000); });
  expect_refused<SnapshotIncompatible>(bad, {"archive version 1000", "Boost"});
}

TEST_F(ThawErrors, FrameFieldReferencesAChannelOfAnotherValueType) {
  // "sync" has no buffered values: its frames' Channel<u64>* fields meet a string channel.
  Snapshot bad = mutate(snap(), [](schema::Snapshot::Builder root) {
    channel(root, "sync").setValueType(value_type(root, "string"));
  });
  expect_refused<SnapshotIncompatible>(bad, {"a field of type channel<u64>", "of string",
                                             "do not match the program that wrote it"});
}

TEST_F(ThawErrors, BufferedChannelWhoseValueTypeDiffersFromItsValues) {
  Snapshot bad = mutate(snap(), [](schema::Snapshot::Builder root) {
    auto ch = channel(root, "buffered");
    ASSERT_GT(ch.getBuffer().size(), 0u);
    ch.setValueType(value_type(root, "string"));
  });
  expect_refused<SnapshotCorrupt>(bad, {"channels[", "buffer[0].type", "the channel carries value type"});
}

// The archive offset and size of tasklet `name`'s slot (archive order: per tasklet,
// its frames then its slot; then the channels' buffers).
std::pair<std::size_t, std::size_t> slot_bytes(schema::Snapshot::Reader root, const std::string& name) {
  std::size_t offset = 0;
  for (auto t : root.getTasklets()) {
    for (auto f : t.getFrames()) offset += f.getArchiveBytes();
    if (std::string_view(t.getName().cStr()) == name) return {offset, t.getSlot().getArchiveBytes()};
    if (t.getHasSlot()) offset += t.getSlot().getArchiveBytes();
  }
  ADD_FAILURE() << "no tasklet " << name;
  return {0, 0};
}

schema::Tasklet::Builder tasklet_named(schema::Snapshot::Builder root, const std::string& name) {
  for (auto t : root.getTasklets()) {
    if (std::string_view(t.getName().cStr()) == name) return t;
  }
  ADD_FAILURE() << "no tasklet " << name;
  return root.getTasklets()[0];
}

std::string archive_bytes(schema::Snapshot::Builder root) {
  auto a = root.getArchive();
  return std::string(reinterpret_cast<const char*>(a.begin()), a.size());
}

void set_archive(schema::Snapshot::Builder root, const std::string& archive) {
  root.setArchive(capnp::Data::Reader(reinterpret_cast<const capnp::byte*>(archive.data()), archive.size()));
}

// A sender queued on a channel hands its slot to the receiver: without one, the
// receiver would read a value that is not there.
TEST_F(ThawErrors, BlockedSenderWithoutAValueInFlight) {
  Snapshot bad = mutate(snap(), [](schema::Snapshot::Builder root) {
    auto [offset, size] = slot_bytes(root.asReader(), "stuck");
    ASSERT_EQ(size, 8u);  // the u64 77
    std::string archive = archive_bytes(root);
    archive.erase(offset, size);
    set_archive(root, archive);
    auto t = tasklet_named(root, "stuck");
    t.setHasSlot(false);
    t.getSlot().setArchiveBytes(0);
  });
  expect_refused<SnapshotCorrupt>(bad, {"].waiters[0]", "waits to send on a channel of 'u64'",
                                        "holds no value in flight"});
}

TEST_F(ThawErrors, BlockedSenderWithAValueOfAnotherType) {
  Snapshot bad = mutate(snap(), [](schema::Snapshot::Builder root) {
    auto [offset, size] = slot_bytes(root.asReader(), "stuck");
    std::string archive = archive_bytes(root);
    std::string text = le64(1) + "x";  // a std::string "x" in the binary archive
    archive.replace(offset, size, text);
    set_archive(root, archive);
    auto slot = tasklet_named(root, "stuck").getSlot();
    slot.setType(value_type(root, "string"));
    slot.setArchiveBytes(static_cast<std::uint32_t>(text.size()));
  });
  expect_refused<SnapshotCorrupt>(bad, {"].waiters[0]", "waits to send on a channel of 'u64'",
                                        "holds a value of another type in flight"});
}

// A valid snapshot with thousands of channels thaws: commit() once fetched the
// channel list per channel, and Cap'n Proto charges each fetch to the traversal
// limit (quadratic: 2000 channels exceeded it).
TEST(ThawScale, ThousandsOfChannelsThawIntoAFreshScheduler) {
  std::vector<std::unique_ptr<Channel<std::uint64_t>>> channels;
  Snapshot snap;
  {
    Scheduler s;
    for (int i = 0; i < 3000; ++i) {
      channels.push_back(std::make_unique<Channel<std::uint64_t>>(ChannelOptions{.name = "c" + std::to_string(i)}));
      s.spawn(Emit{.out = channels.back().get(), .n = 2, .salt = static_cast<std::uint64_t>(i)});
    }
    EXPECT_THROW(s.run(), Deadlock);  // every Emit waits with its first value in flight
    snap = persist::freeze(s);
    EXPECT_EQ(snap.stats().channels, 3000u);
  }
  Scheduler s;
  persist::Thawed t = persist::thaw(snap, s);
  ASSERT_EQ(t.channels().size(), 3000u);
  EXPECT_EQ(s.alive_count(), 3000u);
  for (const auto& ch : t.channels()) {
    if (ch->name() == "c7") {
      EXPECT_EQ(static_cast<Channel<std::uint64_t>&>(*ch).receive(), 7u);  // 0 * 0 + salt, in flight
    }
  }
}

}  // namespace
}  // namespace stasis::test
