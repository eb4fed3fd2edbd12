// freeze_thaw_test.cc — soft tasklets frozen in one process, thawed in another.
//
// Each test freezes live tasklets mid-run, finishes the original run to get the
// expected result, and checks that a forked child process that thaws the snapshot
// finishes with exactly that result.
#include <gtest/gtest.h>

#include <capnp/message.h>

#include <chrono>
#include <string>
#include <vector>

#include "child_process.h"
#include "persist_frames.h"
#include "stasis/persist/container.h"
#include "stasis/persist/snapshot.h"
#include "stasis/stasis.h"

namespace stasis::test {
namespace {

using persist::Compression;
using persist::FreezeOptions;
using persist::Snapshot;
using persist::thaw;

template <class T>
std::string text(const T& v) {
  if constexpr (std::is_same_v<T, std::string>) return v; else return std::to_string(v);
}

TEST(FreezeThaw, PipelineResumesInAnotherProcessMidRun) {
  Channel<std::int64_t> ch({.name = "squares"});
  Scheduler s;
  s.spawn(Squares{.out = &ch, .n = 1000}, {.name = "producer"});
  TaskletRef sum = s.spawn(WeightedSum{.in = &ch, .n = 1000}, {.name = "sum"});
  TaskletRef interrupted = s.run(337);
  ASSERT_TRUE(interrupted);
  Snapshot snap = persist::freeze(s, {.interrupted = interrupted.get()});
  EXPECT_EQ(snap.stats().tasklets, 2u);
  EXPECT_EQ(snap.stats().channels, 1u);
  interrupted->insert();
  s.run();
  std::string expected = text(sum->result<std::int64_t>());

  std::string got = run_in_child([&] {
    Scheduler s2;
    persist::Thawed restored = thaw(snap, s2);
    EXPECT_TRUE(restored.interrupted());
    restored.interrupted()->insert();
    TaskletRef t = restored.find("sum");
    s2.run();
    return text(t->result<std::int64_t>());
  });
  EXPECT_EQ(got, expected);
}

TEST(FreezeThaw, FreezingDoesNotDisturbTheRun) {
  Channel<std::int64_t> ch;
  Scheduler s;
  s.spawn(Squares{.out = &ch, .n = 500});
  TaskletRef sum = s.spawn(WeightedSum{.in = &ch, .n = 500});
  // Freeze after every slice: the result must equal an unfrozen run's.
  while (TaskletRef t = s.run(50)) {
    persist::freeze(s, {.interrupted = t.get()});
    t->insert();
  }
  std::uint64_t expected = 0;
  for (std::uint64_t k = 0; k < 500; ++k) expected = expected * 31 + k * k;
  EXPECT_EQ(sum->result<std::int64_t>(), static_cast<std::int64_t>(expected));
}

TEST(FreezeThaw, SharedChannelsAndCyclesKeepTheirIdentity) {
  // A ring of three relays over three channels: a cycle of references.
  Channel<Point> a({.name = "a", .capacity = 1}), b({.name = "b", .capacity = 1}), c({.name = "c"});
  Scheduler s;
  s.spawn(PointRelay{.in = &a, .out = &b, .count = 10}, {.name = "r1"});
  s.spawn(PointRelay{.in = &b, .out = &c, .count = 9}, {.name = "r2"});
  s.spawn(PointRelay{.in = &c, .out = &a, .count = 9}, {.name = "r3"});
  a.send(Point{.x = 1, .y = 2, .label = "p"});  // one point travels round the ring
  TaskletRef t = s.run(7);
  ASSERT_TRUE(t);
  Snapshot snap = persist::freeze(s, {.interrupted = t.get()});
  EXPECT_EQ(snap.stats().channels, 3u);

  std::string got = run_in_child([&] {
    Scheduler s2;
    persist::Thawed restored = thaw(snap, s2);
    if (restored.channels().size() != 3) return std::string("channels: ") + std::to_string(restored.channels().size());
    restored.interrupted()->insert();
    s2.run();
    // 28 relays: r1 relays it last, into b's buffer.
    auto* b2 = static_cast<Channel<Point>*>(restored.channels()[0].get());
    for (auto& ch : restored.channels()) {
      if (ch->name() == "b") b2 = static_cast<Channel<Point>*>(ch.get());
    }
    Point p = b2->receive();
    return std::to_string(p.x) + " " + p.label;
  });
  EXPECT_EQ(got, "29 p" + std::string(28, '+'));
}

TEST(FreezeThaw, ValuesInFlightAndBufferedValuesTravel) {
  Channel<std::string> words({.name = "words", .capacity = 3});
  Scheduler s;
  s.spawn(Words{.out = &words, .words = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta"}}, {.name = "words"});
  // Fill the buffer and leave the sender blocked with "delta" in its slot.
  EXPECT_THROW(s.run(), Deadlock);
  ASSERT_EQ(words.buffered(), 3u);
  ASSERT_EQ(words.balance(), 1);
  words.set_preference(0);
  TaskletRef join = s.spawn(Join{.in = &words, .n = 6}, {.name = "join"});
  Snapshot snap = persist::freeze(s, {.container = {.compression = Compression::kNone}});
  s.run();
  std::string expected = join->result<std::string>();
  EXPECT_EQ(expected, "alpha;beta;gamma;delta;epsilon;zeta;");

  std::string got = run_in_child([&] {
    Scheduler s2;
    persist::Thawed restored = thaw(snap, s2);
    ChannelBase* w = restored.channels().at(0).get();
    if (w->buffered() != 3 || w->balance() != 1 || w->preference() != 0) return std::string("channel state differs");
    TaskletRef j = restored.find("join");
    s2.run();
    return j->result<std::string>();
  });
  EXPECT_EQ(got, expected);
}

TEST(FreezeThaw, DeepFrameChainsAndBothCompressionPaths) {
  for (Compression c : {Compression::kNone, Compression::kZstd}) {
    Scheduler s;
    TaskletRef fib = s.spawn(Fib{.n = 22}, {.name = "fib"});
    TaskletRef t = s.run(5000);
    ASSERT_TRUE(t);
    ASSERT_GE(fib->frame_depth(), 2u);
    Snapshot snap = persist::freeze(s, {.container = {.compression = c}, .interrupted = t.get()});
    EXPECT_EQ(snap.stats().compressed, c == Compression::kZstd);
    t->insert();
    s.run();
    EXPECT_EQ(fib->result<std::int64_t>(), 17711);
    std::string got = run_in_child([&] {
      Scheduler s2;
      persist::Thawed restored = thaw(snap, s2);
      restored.interrupted()->insert();
      TaskletRef f = restored.find("fib");
      s2.run();
      return text(f->result<std::int64_t>());
    });
    EXPECT_EQ(got, "17711");
  }
}

// Freeze writes the field archive into room it estimates from the field count
// (and builds the file around it in place); an archive far larger than that
// estimate takes the slower path through a separate buffer and must round-trip
// the same, with either compression.
TEST(FreezeThaw, ArchiveLargerThanItsEstimateRoundTrips) {
  for (Compression c : {Compression::kNone, Compression::kZstd}) {
    Channel<std::int64_t> in({.name = "in"});
    Scheduler s;
    std::vector<std::int64_t> seen(200000);
    for (std::size_t i = 0; i < seen.size(); ++i) seen[i] = static_cast<std::int64_t>(i * 7);
    s.spawn(WeightedSum{.in = &in, .n = 1, .seen = seen}, {.name = "big"});
    s.spawn(WeightedSum{.in = &in, .n = 1}, {.name = "small"});
    s.run_until([&] { return s.blocked_count() == 2; });
    Snapshot snap = persist::freeze(s, {.container = {.compression = c}});
    EXPECT_GT(snap.stats().archive_bytes, seen.size() * sizeof(std::int64_t));
    EXPECT_EQ(snap.stats().compressed, c == Compression::kZstd);
    std::string got = run_in_child([&] {
      Scheduler s2;
      persist::Thawed restored = thaw(snap, s2);
      auto* big = static_cast<const WeightedSum*>(restored.find("big")->top_frame());
      auto* small = static_cast<const WeightedSum*>(restored.find("small")->top_frame());
      return big->seen == seen && small->seen.empty() && big->in == small->in ? std::string("same") : std::string("differs");
    });
    EXPECT_EQ(got, "same");
  }
}

// by_snapshot_id finds a restored tasklet by the id it had in the snapshot, whether
// the thaw kept the ids (a fresh scheduler) or gave new ones (a second thaw).
TEST(FreezeThaw, BySnapshotIdWithKeptAndNewIds) {
  Channel<std::int64_t> in({.name = "in"});
  Scheduler s;
  TaskletRef a = s.spawn(WeightedSum{.in = &in, .n = 1}, {.name = "a"});
  TaskletRef b = s.spawn(WeightedSum{.in = &in, .n = 1}, {.name = "b"});
  s.run_until([&] { return s.blocked_count() == 2; });
  Snapshot snap = persist::freeze(s, {});
  const std::uint64_t id_a = a->id(), id_b = b->id();
  std::string got = run_in_child([&] {
    Scheduler s2;
    persist::Thawed kept = thaw(snap, s2);
    persist::Thawed renumbered = thaw(snap, s2);  // the scheduler has tasklets now: new ids
    std::string out;
    for (const persist::Thawed* t : {&kept, &renumbered}) {
      TaskletRef ra = t->by_snapshot_id(id_a), rb = t->by_snapshot_id(id_b);
      out += (ra && rb ? std::string(ra->name()) + std::string(rb->name()) : std::string("missing")) +
             (ra && ra->id() == id_a ? "=" : "+") + (t->by_snapshot_id(id_a + id_b + 100) ? "?" : "") + " ";
    }
    return out;
  });
  EXPECT_EQ(got, "ab= ab+ ");
}

TEST(FreezeThaw, SleepingTaskletKeepsItsRemainingTime) {
  Scheduler s;
  TaskletRef napper = s.spawn(Napper{.ms = 200, .tag = 7}, {.name = "napper"});
  s.run_until([&] { return napper->state() == TaskletState::kBlocked; });
  ASSERT_EQ(napper->wait_kind(), WaitKind::kSleep);
  Snapshot snap = persist::freeze(s);
  // The snapshot holds the time left on the timer: more than nothing, at most 200 ms.
  auto view = persist::MessageView::from_bytes(snap.bytes());
  auto wait = view.listed_root().getTasklets()[0].getWait();
  ASSERT_TRUE(wait.isSleep());
  EXPECT_GT(wait.getSleep(), 0);
  EXPECT_LE(wait.getSleep(), 200'000'000);
  std::string got = run_in_child([&] {
    Scheduler s2;
    persist::Thawed restored = thaw(snap, s2);
    TaskletRef n = restored.find("napper");
    if (n->state() != TaskletState::kBlocked || n->wait_kind() != WaitKind::kSleep) return std::string("not asleep");
    if (s2.pending_timers() != 1) return std::string("no timer");
    s2.run();
    return text(n->result<std::int64_t>());
  });
  EXPECT_EQ(got, "7");
  s.run();
}

TEST(FreezeThaw, SubsetOfTaskletsCarriesTheirChannels) {
  Channel<std::int64_t> ch({.name = "c"});
  Scheduler s;
  TaskletRef producer = s.spawn(Squares{.out = &ch, .n = 10}, {.name = "producer"});
  TaskletRef other = s.spawn(Fib{.n = 5}, {.name = "other"});
  s.run(3);
  Snapshot snap = persist::freeze(producer);  // one tasklet
  EXPECT_EQ(snap.stats().tasklets, 1u);
  std::string got = run_in_child([&] {
    Scheduler s2;
    persist::Thawed restored = thaw(snap, s2);
    if (restored.tasklets().size() != 1 || restored.find("other")) return std::string("wrong set");
    auto* c = static_cast<Channel<std::int64_t>*>(restored.channels().at(0).get());
    s2.spawn(WeightedSum{.in = c, .n = 10}, {.name = "sum"});
    TaskletRef sum = restored.find("producer");
    s2.run();
    return std::string(sum->state() == TaskletState::kFinished ? "finished" : "alive");
  });
  EXPECT_EQ(got, "finished");
  producer->kill();
  other->kill();
}

TEST(FreezeThaw, KeepsIdsNamesPrioritiesAndFlags) {
  Scheduler s;
  TaskletRef a = s.spawn(Fib{.n = 3}, {.name = "a", .priority = 5});
  TaskletRef b = s.spawn(Fib{.n = 4}, {.name = "b", .priority = -3});
  b->set_atomic(true);
  b->remove();
  Snapshot snap = persist::freeze(s);
  std::string got = run_in_child([&] {
    Scheduler s2;
    persist::Thawed restored = thaw(snap, s2);
    TaskletRef a2 = restored.find("a"), b2 = restored.find("b");
    std::string out = std::to_string(a2->id()) + "," + std::to_string(a2->priority()) + "," +
                      to_string(a2->state()) + ";" + std::to_string(b2->id()) + "," + std::to_string(b2->priority()) +
                      "," + to_string(b2->state()) + "," + (b2->atomic() ? "atomic" : "-");
    return out;
  });
  EXPECT_EQ(got, std::to_string(a->id()) + ",5,new;" + std::to_string(b->id()) + ",-3,paused,atomic");
  s.run();
  b->insert();
  s.run();
}

}  // namespace
}  // namespace stasis::test
