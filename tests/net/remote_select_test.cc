// remote_select_test.cc — a select whose cases are remote channels (proxies on
// another node process) runs exactly one case, as in one process: the case it
// did not choose never happens at home, and a receive case on a closed home
// channel reports closed().
#include <gtest/gtest.h>

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

TEST(RemoteSelect, AnUnchosenSendCaseNeverDeliversItsValue) {
  TwoNodes nodes(STASIS_NET_TEST_NODE, "select-send");
  auto& [key, b, sched, a] = nodes;
  Channel<std::int64_t> out({.name = "out"}), in({.name = "in"});
  // On B: select { send 5 on out | receive from in }, then send 9 on out.
  TaskletRef sel = sched.spawn(SelectThenSend{.out = &out, .in = &in, .value = 5, .after = 9}, {.name = "select"});
  a.migrate(sel, b.address());
  ASSERT_TRUE(a.run_until([&] {
    auto st = a.status(b.address());
    return st.tasklets.size() == 1 && st.tasklets[0].state == "blocked";
  }, std::chrono::seconds(20)));
  // Only the receive case can complete: a value arrives on `in`.
  TaskletRef produce = sched.spawn(Produce{.out = &in, .n = 1}, {.name = "produce"});
  ASSERT_TRUE(a.run_until([&] { return !produce->alive(); }, std::chrono::seconds(20)));
  // Now a receiver at home on `out` must get the plain send's 9, never the
  // unchosen case's 5.
  TaskletRef fold = sched.spawn(Fold{.in = &out, .n = 1}, {.name = "fold"});
  ASSERT_TRUE(a.run_until([&] { return !fold->alive(); }, std::chrono::seconds(20)));
  EXPECT_EQ(fold->result<std::int64_t>(), 9);
  EXPECT_EQ(finished_result(a, b.address(), "select"), "\"received 1\"");
  EXPECT_EQ(out.balance(), 0);
}

TEST(RemoteSelect, AnUnchosenReceiveCaseNeverTakesAValue) {
  TwoNodes nodes(STASIS_NET_TEST_NODE, "select-receive");
  auto& [key, b, sched, a] = nodes;
  Channel<std::int64_t> out({.name = "out"}), in({.name = "in"});
  // A receiver waits at home on `out`: the select's send case is ready.
  TaskletRef first = sched.spawn(Fold{.in = &out, .n = 1}, {.name = "first"});
  TaskletRef sel = sched.spawn(SelectThenSend{.out = &out, .in = &in, .value = 5}, {.name = "select"});
  a.migrate(sel, b.address());
  EXPECT_EQ(finished_result(a, b.address(), "select"), "\"sent\"");
  ASSERT_TRUE(a.run_until([&] { return !first->alive(); }, std::chrono::seconds(20)));
  EXPECT_EQ(first->result<std::int64_t>(), 5);
  // Both values sent on `in` later reach a receiver at home: the select's
  // receive case took none of them.
  sched.spawn(Produce{.out = &in, .n = 2}, {.name = "produce"});
  TaskletRef fold = sched.spawn(Fold{.in = &in, .n = 2}, {.name = "fold"});
  ASSERT_TRUE(a.run_until([&] { return !fold->alive(); }, std::chrono::seconds(20)));
  EXPECT_EQ(fold->result<std::int64_t>(), 1 * 31 + 2);
}

TEST(RemoteSelect, BothCasesReadyAtHomeStillRunsExactlyOne) {
  TwoNodes nodes(STASIS_NET_TEST_NODE, "select-both");
  auto& [key, b, sched, a] = nodes;
  for (int round = 0; round < 8; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    Channel<std::int64_t> out({.name = "out"}), in({.name = "in"});
    // A receiver on `out` and a sender on `in` wait at home before the select
    // starts, so both of its cases are ready there at once.
    TaskletRef receiver = sched.spawn(Fold{.in = &out, .n = 1}, {.name = "receiver"});
    TaskletRef sender = sched.spawn(Produce{.out = &in, .n = 1}, {.name = "sender"});
    sched.run_until([] { return false; });  // both block at home
    const std::string name = "select" + std::to_string(round);
    TaskletRef sel = sched.spawn(SelectThenSend{.out = &out, .in = &in, .value = 5}, {.name = name});
    a.migrate(sel, b.address());
    const std::string outcome = finished_result(a, b.address(), name);
    ASSERT_TRUE(outcome == "\"sent\"" || outcome == "\"received 1\"") << outcome;
    // Let every answer in flight arrive, then check what happened at home.
    a.run_until([] { return false; }, std::chrono::milliseconds(200));
    if (outcome == "\"sent\"") {
      EXPECT_FALSE(receiver->alive());
      EXPECT_EQ(receiver->result<std::int64_t>(), 5);
      EXPECT_TRUE(sender->alive()) << "the unchosen receive case took the value";
      EXPECT_EQ(in.balance(), 1);
      receiver = sched.spawn(Fold{.in = &in, .n = 1});  // drain `in`
    } else {
      EXPECT_FALSE(sender->alive());
      EXPECT_TRUE(receiver->alive()) << "the unchosen send case delivered its value";
      EXPECT_EQ(out.balance(), -1);
      sender = sched.spawn(Produce{.out = &out, .n = 1});  // release the receiver
    }
    ASSERT_TRUE(a.run_until([&] { return !receiver->alive() && !sender->alive(); }, std::chrono::seconds(20)));
  }
}

TEST(RemoteSelect, AReceiveCaseOnAClosedHomeChannelReportsClosed) {
  TwoNodes nodes(STASIS_NET_TEST_NODE, "select-closed");
  auto& [key, b, sched, a] = nodes;
  Channel<std::int64_t> out({.name = "nobody receives"}), in({.name = "closed"});
  in.close();
  TaskletRef sel = sched.spawn(SelectThenSend{.out = &out, .in = &in, .value = 5}, {.name = "select"});
  a.migrate(sel, b.address());
  EXPECT_EQ(finished_result(a, b.address(), "select"), "\"closed\"");
  EXPECT_EQ(out.balance(), 0);  // the send case never reached home
}

}  // namespace
}  // namespace stasis::test
