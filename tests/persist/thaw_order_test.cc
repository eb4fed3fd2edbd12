// thaw_order_test.cc — channel wait queues keep their FIFO order through a
// freeze/thaw, whichever way thaw rebuilds them.
//
// thaw parks each tasklet on its channel as it creates it when every channel lists
// its waiters in tasklet-list order (what freeze(scheduler) writes), and rebuilds
// the queues channel by channel otherwise (freeze of a set lists the tasklets in
// the set's order). Both must give the original queue order: five receivers
// blocked on one channel, in the order r0 .. r4, are thawed in another process and
// fed 0, 1, 4, 9, 16; receiver k must get the k-th value.
#include <gtest/gtest.h>

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "child_process.h"
#include "persist_frames.h"
#include "stasis/persist/container.h"
#include "stasis/persist/snapshot.h"
#include "stasis/stasis.h"

namespace stasis::test {
namespace {

using persist::Snapshot;

constexpr int kReceivers = 5;

// Whether every channel of `snap` lists its waiters in tasklet-list order.
bool waiters_in_tasklet_order(const Snapshot& snap) {
  persist::MessageView view = persist::MessageView::from_bytes(snap.bytes());
  auto root = view.listed_root();
  std::vector<std::uint64_t> ids;
  for (auto t : root.getTasklets()) ids.push_back(t.getId());
  for (auto ch : root.getChannels()) {
    std::size_t previous = 0;
    bool first = true;
    for (auto w : ch.getWaiters()) {
      std::size_t at = 0;
      while (at < ids.size() && ids[at] != w.getTasklet()) ++at;
      if (!first && at <= previous) return false;
      previous = at;
      first = false;
    }
  }
  return true;
}

// Thaws `snap` in a child process, feeds every restored channel with Squares
// (0, 1, 4, ...: one value per waiter), runs, and reports each channel's queue
// as thawed, then each receiver's result: "in: r0 r1 ... | r0=0 r1=1 ...".
std::string run_thawed(const Snapshot& snap, const std::vector<std::string>& prefixes = {"r"}) {
  return run_in_child([&] {
    Scheduler s2;
    persist::Thawed restored = persist::thaw(snap, s2);
    std::string out;
    for (const auto& ch : restored.channels()) {
      auto* c = static_cast<Channel<std::int64_t>*>(ch.get());
      out += c->name() + ":";
      std::vector<Tasklet*> queue = c->plain_waiters();
      for (Tasklet* t : queue) out += " " + std::string(t->name());
      out += " | ";
      s2.spawn(Squares{.out = c, .n = static_cast<std::int64_t>(queue.size())});
    }
    s2.run();
    for (const std::string& p : prefixes) {
      for (int k = 0; k < kReceivers; ++k) {
        TaskletRef r = restored.find(p + std::to_string(k));
        out += p + std::to_string(k) + "=" + (r ? std::to_string(r->result<std::int64_t>()) : std::string("?")) + " ";
      }
    }
    return out;
  });
}

const std::string kExpected = "in: r0 r1 r2 r3 r4 | r0=0 r1=1 r2=4 r3=9 r4=16 ";

TEST(ThawOrder, WaitersInTaskletOrderAreParkedAsCreated) {
  Channel<std::int64_t> in({.name = "in"});
  Scheduler s;
  for (int k = 0; k < kReceivers; ++k) s.spawn(WeightedSum{.in = &in, .n = 1}, {.name = "r" + std::to_string(k)});
  s.run_until([&] { return s.blocked_count() == kReceivers; });
  Snapshot snap = persist::freeze(s);
  ASSERT_TRUE(waiters_in_tasklet_order(snap));
  EXPECT_EQ(run_thawed(snap), kExpected);
}

TEST(ThawOrder, WaitersInAnotherOrderThanTheTaskletsKeepTheirQueueOrder) {
  Channel<std::int64_t> in({.name = "in"});
  Scheduler s;
  std::vector<TaskletRef> receivers;
  for (int k = 0; k < kReceivers; ++k) {
    receivers.push_back(s.spawn(WeightedSum{.in = &in, .n = 1}, {.name = "r" + std::to_string(k)}));
  }
  s.run_until([&] { return s.blocked_count() == kReceivers; });
  // The set in reverse: the tasklet list reads r4 .. r0, the queue r0 .. r4.
  std::vector<TaskletRef> reversed(receivers.rbegin(), receivers.rend());
  Snapshot snap = persist::freeze(std::span<const TaskletRef>(reversed));
  ASSERT_FALSE(waiters_in_tasklet_order(snap));
  EXPECT_EQ(run_thawed(snap), kExpected);
}

TEST(ThawOrder, ChannelsInterleavedInTheTaskletListKeepTheirOrders) {
  // Two channels whose waiters alternate in spawn order: in tasklet order per
  // channel even though the channels interleave.
  Channel<std::int64_t> in({.name = "in"});
  Channel<std::int64_t> other({.name = "other"});
  Scheduler s;
  for (int k = 0; k < kReceivers; ++k) {
    s.spawn(WeightedSum{.in = &in, .n = 1}, {.name = "r" + std::to_string(k)});
    s.spawn(WeightedSum{.in = &other, .n = 1}, {.name = "o" + std::to_string(k)});
  }
  s.run_until([&] { return s.blocked_count() == 2 * kReceivers; });
  Snapshot snap = persist::freeze(s);
  ASSERT_TRUE(waiters_in_tasklet_order(snap));
  std::string got = run_thawed(snap, {"r", "o"});
  EXPECT_NE(got.find("in: r0 r1 r2 r3 r4 | "), std::string::npos) << got;
  EXPECT_NE(got.find("other: o0 o1 o2 o3 o4 | "), std::string::npos) << got;
  EXPECT_NE(got.find("r0=0 r1=1 r2=4 r3=9 r4=16 o0=0 o1=1 o2=4 o3=9 o4=16 "), std::string::npos) << got;
}

TEST(ThawOrder, ALargeSchedulerKeepsEveryQueueAndResult) {
  // Large enough that thaw's per-tasklet arrays exceed 1 MiB (mapped memory,
  // bulk_memory.h): 100,000 receivers on 10 channels.
  constexpr int kChannels = 10, kPerChannel = 10000;
  std::vector<std::unique_ptr<Channel<std::int64_t>>> channels;
  for (int c = 0; c < kChannels; ++c) {
    channels.push_back(std::make_unique<Channel<std::int64_t>>(ChannelOptions{.name = "c" + std::to_string(c)}));
  }
  std::vector<std::vector<std::uint64_t>> queues(kChannels);  // tasklet ids, queue order
  Snapshot snap;
  {
    Scheduler s;
    for (int i = 0; i < kChannels * kPerChannel; ++i) s.spawn(WeightedSum{.in = channels[i % kChannels].get(), .n = 1});
    s.run_until([&] { return s.blocked_count() == kChannels * kPerChannel; });
    for (int c = 0; c < kChannels; ++c) {
      for (Tasklet* t : channels[c]->plain_waiters()) queues[c].push_back(t->id());
    }
    snap = persist::freeze(s);
  }
  std::string got = run_in_child([&] {
    Scheduler s2;
    persist::Thawed restored = persist::thaw(snap, s2);
    std::vector<std::vector<Tasklet*>> waiting;
    for (const auto& ch : restored.channels()) {
      auto* c = static_cast<Channel<std::int64_t>*>(ch.get());
      const int index = std::stoi(c->name().substr(1));
      std::vector<Tasklet*> queue = c->plain_waiters();
      if (queue.size() != queues[index].size()) return c->name() + ": " + std::to_string(queue.size()) + " waiters";
      for (std::size_t k = 0; k < queue.size(); ++k) {
        if (queue[k]->id() != queues[index][k]) return c->name() + ": waiter " + std::to_string(k) + " out of order";
      }
      waiting.push_back(queue);
      s2.spawn(Squares{.out = c, .n = kPerChannel});
    }
    s2.run();
    for (const std::vector<Tasklet*>& queue : waiting) {
      for (std::size_t k = 0; k < queue.size(); ++k) {
        const auto want = static_cast<std::int64_t>(k * k);
        if (queue[k]->result<std::int64_t>() != want) return "waiter " + std::to_string(k) + " got another value";
      }
    }
    return std::string("ok");
  });
  EXPECT_EQ(got, "ok");
}

}  // namespace
}  // namespace stasis::test
