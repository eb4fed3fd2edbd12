// remote_exception_test.cc — exceptions sent over a remote channel
// (send_exception) cross between node processes as their own types: the
// <stdexcept> family and a type both programs registered arrive as themselves,
// any other as net::RemoteException with its original name and message.
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

struct Case {
  std::string kind;
  std::string message;
  std::string expected;  // ReceiveProbe's outcome
};

const Case kCases[] = {
    {"invalid_argument", "bad input 7", "invalid_argument: bad input 7"},
    {"out_of_range", "index 12 of 3", "out_of_range: index 12 of 3"},
    {"listed", "a registered type", "ListedError: a registered type"},
    {"unlisted", "nobody registered me", "RemoteException stasis::test::UnlistedError: nobody registered me"},
};

TEST(RemoteExceptions, SentFromAnotherNodeRaiseTheirTypeAtHome) {
  TwoNodes nodes(STASIS_NET_TEST_NODE, "raise-home");
  auto& [key, b, sched, a] = nodes;
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.kind);
    Channel<std::int64_t> ch({.name = "errors"});
    // The sender moves to B before it runs: its send_exception crosses to A.
    TaskletRef raise = sched.spawn(SendRaise{.out = &ch, .kind = c.kind, .message = c.message}, {.name = "raise-" + c.kind});
    a.migrate(raise, b.address());
    TaskletRef probe = sched.spawn(ReceiveProbe{.in = &ch}, {.name = "probe"});
    ASSERT_TRUE(a.run_until([&] { return !probe->alive(); }, std::chrono::seconds(30)));
    EXPECT_EQ(probe->result<std::string>(), c.expected);
    // The remote sender was released once home delivered the exception.
    EXPECT_EQ(finished_result(a, b.address(), "raise-" + c.kind), "");
  }
}

TEST(RemoteExceptions, SentAtHomeRaiseTheirTypeInARemoteReceiver) {
  TwoNodes nodes(STASIS_NET_TEST_NODE, "raise-remote");
  auto& [key, b, sched, a] = nodes;
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.kind);
    Channel<std::int64_t> ch({.name = "errors"});
    TaskletRef probe = sched.spawn(ReceiveProbe{.in = &ch}, {.name = "probe-" + c.kind});
    a.migrate(probe, b.address());
    TaskletRef raise = sched.spawn(SendRaise{.out = &ch, .kind = c.kind, .message = c.message}, {.name = "raise"});
    // ReceiveProbe returns a string: status renders it quoted.
    EXPECT_EQ(finished_result(a, b.address(), "probe-" + c.kind), "\"" + c.expected + "\"");
    ASSERT_TRUE(a.run_until([&] { return !raise->alive(); }, std::chrono::seconds(30)));
    EXPECT_FALSE(raise->failed());
  }
}

TEST(RemoteExceptions, RegistryRefusesANameOrTypeTakenTwice) {
  // Same pair again: accepted (both programs may run the same registration).
  EXPECT_NO_THROW(net::register_exception<ListedError>("test.net.ListedError"));
  EXPECT_THROW(net::register_exception<ListedError>("another name"), InvalidArgument);
  EXPECT_THROW(net::register_exception<UnlistedError>("test.net.ListedError"), InvalidArgument);
  // What crosses: the registered name, or the demangled type name.
  auto listed = net::describe_exception(std::make_exception_ptr(ListedError("x")));
  EXPECT_EQ(listed.type, "test.net.ListedError");
  EXPECT_EQ(listed.message, "x");
  auto other = net::describe_exception(std::make_exception_ptr(42));
  EXPECT_EQ(other.type, "int");
  EXPECT_EQ(other.message, "");
  auto rebuilt = net::rebuild_exception(other, "on node n1");
  try {
    std::rethrow_exception(rebuilt);
  } catch (const net::RemoteException& e) {
    EXPECT_EQ(e.type_name(), "int");
    EXPECT_NE(std::string(e.what()).find("on node n1"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("register_exception"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace stasis::test
