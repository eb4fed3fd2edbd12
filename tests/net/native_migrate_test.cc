// native_migrate_test.cc — native tasklets migrating between real processes.
//
// A native tasklet is machine state: it restores only in a process of the same
// build at the same layout. So this test binary is both sides: main() fixes the
// layout, and `<binary> serve ...` runs it as a node (stasis-node's command line)
// for the test process to migrate to. Migrating to another build is refused, and
// the tasklet runs on at the source.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "node_process.h"
#include "stasis/native.h"
#include "stasis/stasis.h"
#include "stasis/net.h"
#include "stasis/net/node_main.h"
#include "stasis/persist/native.h"

namespace stasis::test {
namespace {

using net::Host;
using net::SharedKey;

// Recursion `depth` deep, each level holding a std::vector in the tasklet's arena
// share; the innermost level receives one value.
[[gnu::noinline]] std::int64_t layered_sum(int depth, Channel<std::int64_t>& in) {
  std::vector<std::int64_t> level(static_cast<std::size_t>(depth % 5 + 1), depth);
  std::int64_t inner = depth == 0 ? in.receive() : layered_sum(depth - 1, in);
  std::int64_t sum = 0;
  for (std::int64_t v : level) sum += v;
  return inner * 7 % 1000003 + sum;
}

std::int64_t layered_expected(int depth, std::int64_t value) {
  std::int64_t r = value;
  for (int d = 0; d <= depth; ++d) r = r * 7 % 1000003 + static_cast<std::int64_t>(d % 5 + 1) * d;
  return r;
}

std::string self_path() { return std::filesystem::read_symlink("/proc/self/exe").string(); }

// The result the node at `address` reports for its tasklet `name`, once finished.
std::string result_at(Host& host, const std::string& address, const std::string& name) {
  for (int round = 0; round < 2000; ++round) {
    for (const net::TaskletStatus& t : host.status(address).tasklets) {
      if (t.name == name && t.state == "finished") return t.result;
    }
    host.run_until([] { return false; }, std::chrono::milliseconds(5));
  }
  ADD_FAILURE() << name << " at " << address << " never finished";
  return "";
}

TEST(NativeMigration, ATaskletBlockedInPlainCodeMovesToANodeOfTheSameBuild) {
  const std::string key = make_key_file("native-same-build");
  NodeProcess node(self_path(), key);
  Scheduler sched;
  Host host(sched, SharedKey::from_file(key), quiet());
  Channel<std::int64_t> in({.name = "in"});  // stays home here; a proxy there
  TaskletRef t = spawn_native(sched, [&in] { return layered_sum(100, in); }, {.name = "layered", .arena = true});
  host.run_until([&] { return t->blocked(); }, std::chrono::seconds(5));
  ASSERT_TRUE(t->blocked());

  host.migrate(t, node.address());
  EXPECT_EQ(t->state(), TaskletState::kKilled);  // the source copy ended without running its code

  // The value goes from here to the remote receiver through the home channel.
  TaskletRef sender = spawn_native(sched, [&in] { in.send(42); }, {.name = "sender"});
  host.run_until([&] { return !sender->alive(); }, std::chrono::seconds(10));
  EXPECT_FALSE(sender->alive());
  EXPECT_EQ(result_at(host, node.address(), "layered"), std::to_string(layered_expected(100, 42)));
}

TEST(NativeMigration, AnotherBuildRefusesItAndItRunsOnAtTheSource) {
  const std::string key = make_key_file("native-other-build");
  NodeProcess node(STASIS_NET_TEST_NODE, key);  // stasis-node's command line, another program
  Scheduler sched;
  Host host(sched, SharedKey::from_file(key), quiet());
  Channel<std::int64_t> in({.name = "in"});
  TaskletRef t = spawn_native(sched, [&in] { return layered_sum(10, in); }, {.name = "layered", .arena = true});
  host.run_until([&] { return t->blocked(); }, std::chrono::seconds(5));
  try {
    host.migrate(t, node.address());
    ADD_FAILURE() << "another build accepted a native tasklet";
  } catch (const net::MigrationRefused& e) {
    EXPECT_NE(std::string(e.what()).find("build-id"), std::string::npos) << e.what();
  }
  ASSERT_TRUE(t->blocked());
  spawn_native(sched, [&in] { in.send(5); }, {.name = "sender"});
  host.run_until([&] { return !t->alive(); }, std::chrono::seconds(5));
  EXPECT_EQ(t->result<std::int64_t>(), layered_expected(10, 5));
}

}  // namespace
}  // namespace stasis::test

int main(int argc, char** argv) {
  stasis::persist::ensure_fixed_layout(argc, argv);
  if (argc > 1 && std::string(argv[1]) == "serve") return stasis::net::node_main(argc, argv);
  testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
