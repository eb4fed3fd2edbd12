// remote_channel_test.cc — channels that stay home while their tasklets move:
// a pipeline spread over three node processes gives the single-process result,
// a closed home channel raises ChannelClosed in a remote receiver, and a tasklet
// whose operation is crossing to another node is not migrated.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <string>

#include "net_frames.h"
#include "node_process.h"
#include "stasis/net.h"

#ifndef STASIS_NET_TEST_NODE
#error "STASIS_NET_TEST_NODE must name the test node program"
#endif

namespace stasis::test {
namespace {

using net::Host;
using net::SharedKey;

constexpr std::int64_t kValues = 200;

// Produce -> ch1 -> Square(k=1) -> ch2 -> Square(k=3) -> ch3 -> Fold.
std::int64_t pipeline_in_one_process() {
  Scheduler sched;
  Channel<std::int64_t> ch1, ch2, ch3;
  sched.spawn(Produce{.out = &ch1, .n = kValues});
  sched.spawn(Square{.in = &ch1, .out = &ch2, .n = kValues, .k = 1});
  sched.spawn(Square{.in = &ch2, .out = &ch3, .n = kValues, .k = 3});
  TaskletRef fold = sched.spawn(Fold{.in = &ch3, .n = kValues});
  sched.run();
  return fold->result<std::int64_t>();
}

TEST(RemoteChannels, PipelineOverThreeNodeProcessesMatchesOneProcess) {
  const std::int64_t expected = pipeline_in_one_process();
  const std::string key = make_key_file("pipeline");
  NodeProcess b(STASIS_NET_TEST_NODE, key);
  NodeProcess c(STASIS_NET_TEST_NODE, key);
  Scheduler sched;
  Host a(sched, SharedKey::from_file(key), quiet());
  // The channels live here (node A); the stages move out before any value flows.
  Channel<std::int64_t> ch1({.name = "ch1"}), ch2({.name = "ch2"}), ch3({.name = "ch3"});
  TaskletRef produce = sched.spawn(Produce{.out = &ch1, .n = kValues}, {.name = "produce"});
  TaskletRef sq1 = sched.spawn(Square{.in = &ch1, .out = &ch2, .n = kValues, .k = 1}, {.name = "sq1"});
  TaskletRef sq2 = sched.spawn(Square{.in = &ch2, .out = &ch3, .n = kValues, .k = 3}, {.name = "sq2"});
  TaskletRef fold = sched.spawn(Fold{.in = &ch3, .n = kValues}, {.name = "fold"});
  a.migrate(sq1, b.address());
  a.migrate(sq2, c.address());
  a.migrate(fold, b.address());
  EXPECT_EQ(finished_result(a, b.address(), "fold"), std::to_string(expected));
  EXPECT_EQ(produce->state(), TaskletState::kFinished);
}

TEST(RemoteChannels, StagesMigratedMidStreamKeepTheResult) {
  const std::int64_t expected = pipeline_in_one_process();
  const std::string key = make_key_file("midstream");
  NodeProcess b(STASIS_NET_TEST_NODE, key);
  NodeProcess c(STASIS_NET_TEST_NODE, key);
  Scheduler sched;
  Host a(sched, SharedKey::from_file(key), quiet());
  Channel<std::int64_t> ch1, ch2, ch3;
  sched.spawn(Produce{.out = &ch1, .n = kValues}, {.name = "produce"});
  TaskletRef sq1 = sched.spawn(Square{.in = &ch1, .out = &ch2, .n = kValues, .k = 1}, {.name = "sq1"});
  TaskletRef sq2 = sched.spawn(Square{.in = &ch2, .out = &ch3, .n = kValues, .k = 3}, {.name = "sq2"});
  TaskletRef fold = sched.spawn(Fold{.in = &ch3, .n = kValues}, {.name = "fold"});
  // A third of the stream flows in one process; then the stages move while
  // blocked in send or receive on their channels.
  if (TaskletRef paused = sched.run(150)) paused->insert();
  std::vector<TaskletRef> to_c = {sq2, fold};
  a.migrate(sq1, b.address());
  a.migrate(std::span<const TaskletRef>(to_c), c.address());
  EXPECT_EQ(finished_result(a, c.address(), "fold"), std::to_string(expected));
}

TEST(RemoteChannels, ClosedHomeChannelRaisesChannelClosedRemotely) {
  TwoNodes nodes(STASIS_NET_TEST_NODE, "closed");
  auto& [key, b, sched, a] = nodes;
  Channel<std::int64_t> ch({.name = "closing"});
  TaskletRef probe = sched.spawn(ReceiveProbe{.in = &ch}, {.name = "probe"});
  ch.close();
  a.migrate(probe, b.address());
  EXPECT_EQ(finished_result(a, b.address(), "probe"), "\"ChannelClosed\"");  // a string, rendered quoted
}

TEST(RemoteChannels, AChannelDestroyedAtHomeRaisesChannelDestroyedInALaterRemoteOperation) {
  TwoNodes nodes(STASIS_NET_TEST_NODE, "destroyed");
  auto& [key, b, sched, a] = nodes;
  Channel<std::int64_t> gate({.name = "gate"});
  auto doomed = std::make_unique<Channel<std::int64_t>>(ChannelOptions{.name = "doomed"});
  // The probe waits on the gate at B, then receives from `doomed`, which is
  // gone by then: home must answer ChannelDestroyed, not read freed memory.
  TaskletRef probe = sched.spawn(ReceiveProbe{.in = doomed.get(), .gate = &gate}, {.name = "probe"});
  a.migrate(probe, b.address());
  doomed.reset();
  sched.spawn(Produce{.out = &gate, .n = 1}, {.name = "open the gate"});
  EXPECT_EQ(finished_result(a, b.address(), "probe"), "\"ChannelDestroyed\"");
}

TEST(RemoteChannels, RemoteSendBlocksUntilAReceiverAtHomeTakesIt) {
  TwoNodes nodes(STASIS_NET_TEST_NODE, "blocking");
  auto& [key, b, sched, a] = nodes;
  Channel<std::int64_t> ch({.name = "rendezvous"});
  TaskletRef producer = sched.spawn(Produce{.out = &ch, .n = 3}, {.name = "producer"});
  a.migrate(producer, b.address());
  // Nobody receives at home: the remote producer waits in its first send.
  ASSERT_TRUE(a.run_until([&] {
    auto st = a.status(b.address());
    return ch.balance() == 1 && st.tasklets.size() == 1 && st.tasklets[0].state == "blocked";
  }, std::chrono::seconds(20)));
  TaskletRef fold = sched.spawn(Fold{.in = &ch, .n = 3}, {.name = "fold"});
  ASSERT_TRUE(a.run_until([&] { return !fold->alive(); }, std::chrono::seconds(20)));
  EXPECT_EQ(fold->result<std::int64_t>(), ((1 * 31) + 2) * 31 + 3);
  EXPECT_EQ(finished_result(a, b.address(), "producer"), "");
}

TEST(RemoteChannels, ValueReceivedRemotelyFromALocalSender) {
  TwoNodes nodes(STASIS_NET_TEST_NODE, "tohere");
  auto& [key, b, sched, a] = nodes;
  Channel<std::int64_t> ch({.name = "to-b"});
  TaskletRef probe = sched.spawn(ReceiveProbe{.in = &ch}, {.name = "probe"});
  a.migrate(probe, b.address());
  sched.spawn(Produce{.out = &ch, .n = 1}, {.name = "one"});
  EXPECT_EQ(finished_result(a, b.address(), "probe"), "\"value 1\"");
}

TEST(RemoteChannels, SenderAndReceiverOnOneNodeShareAProxyWithoutDuplicates) {
  TwoNodes nodes(STASIS_NET_TEST_NODE, "shared");
  auto& [key, b, sched, a] = nodes;
  for (std::size_t capacity : {0u, 1u, 3u}) {
    SCOPED_TRACE("capacity " + std::to_string(capacity));
    Channel<std::int64_t> ch({.name = "shared", .capacity = capacity});
    const std::string suffix = std::to_string(capacity);
    std::vector<TaskletRef> both = {sched.spawn(Produce{.out = &ch, .n = 50}, {.name = "produce" + suffix}),
                                    sched.spawn(Fold{.in = &ch, .n = 50}, {.name = "fold" + suffix})};
    // Both ends move in one handoff: the proxy on B is used in both directions,
    // while values also travel through home (A).
    a.migrate(std::span<const TaskletRef>(both), b.address());
    std::uint64_t want = 0;
    for (std::int64_t v = 1; v <= 50; ++v) want = want * 31 + static_cast<std::uint64_t>(v);
    EXPECT_EQ(finished_result(a, b.address(), "fold" + suffix), std::to_string(static_cast<std::int64_t>(want)));
  }
}

TEST(RemoteChannels, MigrateRefusesATaskletWhoseRemoteSendIsInFlightAndItGoesOnWaiting) {
  TwoNodes nodes(STASIS_NET_TEST_NODE, "inflight");
  auto& [key, b, sched, a] = nodes;
  sched.spawn(Boomerang{.away = b.address(), .home = a.address()}, {.name = "boomerang"});
  // It comes back as a new tasklet hosted here, and blocks sending on its proxy
  // of the channel it made at B.
  TaskletRef back;
  ASSERT_TRUE(a.run_until([&] {
    for (const TaskletRef& t : a.hosted()) {
      if (t->name() == "boomerang" && t->state() == TaskletState::kBlocked) back = t;
    }
    return back.get() != nullptr;
  }, std::chrono::seconds(20))) << "the tasklet did not come back and block in its send";
  // Two more turns of the host: the first one's pump starts the send at B, where
  // nobody receives, so it stays in flight.
  int turns = 0;
  a.run_until([&] { return ++turns > 2; });
  try {
    a.migrate(back, b.address());
    FAIL() << "migrate moved a tasklet whose send was crossing to another node";
  } catch (const net::MigrationError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("'boomerang'"), std::string::npos) << what;
    EXPECT_NE(what.find("crossing to another node"), std::string::npos) << what;
  }
  // Nothing changed: it is still here, hosted, blocked in the same send.
  EXPECT_TRUE(back->alive());
  EXPECT_EQ(back->state(), TaskletState::kBlocked);
  const auto hosted = a.hosted();
  EXPECT_NE(std::find(hosted.begin(), hosted.end(), back), hosted.end());
  turns = 0;
  a.run_until([&] { return ++turns > 2; });
  EXPECT_EQ(back->state(), TaskletState::kBlocked);
}

}  // namespace
}  // namespace stasis::test
