// migrate_test.cc — migration between real processes: the test process is the
// source node, node programs (test_node, stasis-node) run as children.
//
// The fault cases check the exactly-once rule: whatever fails (target killed
// while restoring or right after committing, connection dropped before or after
// the acknowledgement, target refusing), every tasklet ends up in exactly one
// place, running or finished, and its result is the one a single process gets.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <string>
#include <vector>

#include "net_frames.h"
#include "node_process.h"
#include "stasis/net.h"
#include "stasis/persist/snapshot.h"

#ifndef STASIS_NET_TEST_NODE
#error "STASIS_NET_TEST_NODE must name the test node program"
#endif

namespace stasis::test {
namespace {

using net::Host;
using net::MigrateOptions;
using net::SharedKey;
using net::SourceFault;

// Polls the node at `address` until every tasklet named in `names` finished;
// returns name -> result for the ones it hosts.
std::map<std::string, std::string> results_at(Host& host, const std::string& address) {
  std::map<std::string, std::string> out;
  for (int round = 0; round < 2000; ++round) {
    net::NodeStatus s = host.status(address);
    bool all_done = true;
    out.clear();
    for (const net::TaskletStatus& t : s.tasklets) {
      if (t.state != "finished") all_done = false;
      out[t.name] = t.result;
    }
    if (all_done) return out;
    host.run_until([] { return false; }, std::chrono::milliseconds(5));
  }
  ADD_FAILURE() << "tasklets at " << address << " never finished";
  return out;
}

class Fixture : public ::testing::Test {
 protected:
  void SetUp() override { key_file_ = make_key_file("k" + std::to_string(counter_++)); }
  std::string key_file_;
  static inline int counter_ = 0;
};

TEST_F(Fixture, MigratedCounterFinishesAtTheTarget) {
  NodeProcess node(STASIS_NET_TEST_NODE, key_file_);
  Scheduler sched;
  Host host(sched, SharedKey::from_file(key_file_), quiet());
  TaskletRef t = sched.spawn(Counter{.n = 200}, {.name = "counter"});
  if (TaskletRef paused = sched.run(50)) paused->insert();  // part-way, runnable
  ASSERT_TRUE(t->alive());
  host.migrate(t, node.address());
  EXPECT_EQ(t->state(), TaskletState::kKilled);  // the source copy is gone
  auto results = results_at(host, node.address());
  ASSERT_EQ(results.count("counter"), 1u);
  EXPECT_EQ(results["counter"], std::to_string(counter_result(200)));
}

TEST_F(Fixture, WrongKeyIsRejectedLoggedAndNothingRuns) {
  NodeProcess node(STASIS_NODE_BIN, key_file_);
  Scheduler sched;
  Host intruder(sched, SharedKey::from_file(make_key_file("wrong")), quiet());
  TaskletRef t = sched.spawn(Counter{.n = 10}, {.name = "intruder"});
  EXPECT_THROW(intruder.migrate(t, node.address()), net::AuthenticationError);
  EXPECT_TRUE(t->alive());  // still here, untouched
  EXPECT_THROW(intruder.status(node.address()), net::AuthenticationError);
  node.terminate();
  auto o = node.wait();
  EXPECT_NE(o.output.find("rejected connection from 127.0.0.1"), std::string::npos) << o.output;
  EXPECT_NE(o.output.find("checkpointed 0 tasklets"), std::string::npos) << o.output;
  sched.run();
  EXPECT_EQ(t->result<std::int64_t>(), counter_result(10));
}

TEST_F(Fixture, KeyFileTooShortIsATypedError) {
  EXPECT_THROW(SharedKey::from_file(make_key_file("short", "abc")), net::KeyError);
  EXPECT_THROW(SharedKey::from_file("/nonexistent/stasis.key"), net::KeyError);
}

TEST_F(Fixture, UnreachableTargetLeavesTheTaskletRunningHere) {
  Scheduler sched;
  Host host(sched, SharedKey::from_file(key_file_), quiet());
  TaskletRef t = sched.spawn(Counter{.n = 30}, {.name = "stay"});
  if (TaskletRef paused = sched.run(5)) paused->insert();
  // A port nobody listens on: take one from a node that is gone.
  std::string gone;
  {
    NodeProcess node(STASIS_NET_TEST_NODE, key_file_);
    gone = node.address();
  }
  EXPECT_THROW(host.migrate(t, gone), net::ConnectionError);
  EXPECT_TRUE(t->alive());
  sched.run();
  EXPECT_EQ(t->result<std::int64_t>(), counter_result(30));
}

TEST_F(Fixture, StatusOfAStoppedNodeTimesOutAndWorksAgainOnceItRuns) {
  NodeProcess node(STASIS_NET_TEST_NODE, key_file_);
  Scheduler sched;
  Host host(sched, SharedKey::from_file(key_file_), quiet());
  EXPECT_EQ(host.status(node.address()).tasklets.size(), 0u);  // connected
  ASSERT_EQ(::kill(node.pid(), SIGSTOP), 0);
  EXPECT_THROW(host.status(node.address(), std::chrono::milliseconds(300)), net::ConnectionError);
  EXPECT_THROW(host.echo(node.address(), "ping", std::chrono::milliseconds(300)), net::ConnectionError);
  ASSERT_EQ(::kill(node.pid(), SIGCONT), 0);
  EXPECT_EQ(host.echo(node.address(), "ping"), "ping");
  EXPECT_FALSE(host.status(node.address()).node_id.empty());
}

TEST_F(Fixture, RefusingTargetResumesAtTheSource) {
  NodeProcess node(STASIS_NET_TEST_NODE, key_file_, {"--fault", "refuse"});
  Scheduler sched;
  Host host(sched, SharedKey::from_file(key_file_), quiet());
  TaskletRef t = sched.spawn(Counter{.n = 40}, {.name = "refused"});
  if (TaskletRef paused = sched.run(7)) paused->insert();
  EXPECT_THROW(host.migrate(t, node.address()), net::MigrationRefused);
  EXPECT_TRUE(t->alive());
  EXPECT_TRUE(host.status(node.address()).tasklets.empty());
  sched.run();
  EXPECT_EQ(t->result<std::int64_t>(), counter_result(40));
}

TEST_F(Fixture, TaskletMigratesItselfAndFinishesThere) {
  NodeProcess node(STASIS_NET_TEST_NODE, key_file_);
  Scheduler sched;
  Host host(sched, SharedKey::from_file(key_file_), quiet());
  TaskletRef t = sched.spawn(Wanderer{.target = node.address(), .n = 100}, {.name = "wanderer"});
  ASSERT_TRUE(host.run_until([&] { return !t->alive(); }, std::chrono::seconds(20)));
  EXPECT_EQ(t->state(), TaskletState::kKilled);  // it left
  auto results = results_at(host, node.address());
  EXPECT_EQ(results["wanderer"], std::to_string(counter_result(100)));
}

TEST_F(Fixture, SigtermCheckpointsHostedTaskletsAndRestoreResumesThem) {
  auto file = std::filesystem::temp_directory_path() / ("stasis-net-ckpt-" + std::to_string(::getpid()) + ".stasis");
  std::int64_t expected = 0;
  {
    NodeProcess node(STASIS_NET_TEST_NODE, key_file_, {"--checkpoint", file.string()});
    Scheduler sched;
    Host host(sched, SharedKey::from_file(key_file_), quiet());
    Channel<std::int64_t> ch({.name = "never-sent"});
    // Blocked at the target on a remote channel (home here): stays alive there.
    TaskletRef t = sched.spawn(ReceiveProbe{.in = &ch}, {.name = "waiting"});
    sched.run_until([] { return true; });
    host.migrate(t, node.address());
    // Serve its remote receive until it waits there, then stop the node.
    ASSERT_TRUE(host.run_until([&] {
      auto st = host.status(node.address());
      return st.tasklets.size() == 1 && st.tasklets[0].state == "blocked";
    }, std::chrono::seconds(20)));
    node.terminate();
    auto o = node.wait();
    EXPECT_NE(o.output.find("checkpointed 1 tasklets"), std::string::npos) << o.output;
    expected = 1;
  }
  Scheduler sched;
  auto restored = persist::thaw(persist::Snapshot::read(file), sched);
  ASSERT_EQ(static_cast<std::int64_t>(restored.tasklets().size()), expected);
  EXPECT_EQ(restored.tasklets()[0]->name(), "waiting");
  std::filesystem::remove(file);
}

// --- Exactly once under injected faults: 4 shards of 30 seeded cases. ---

enum class Fault { kNone, kRefuse, kDieOnAccept, kDieAfterCommit, kDropBeforeSend, kDropAfterSend, kDropAfterAck, kCount };

const char* name_of(Fault f) {
  switch (f) {
    case Fault::kNone: return "none";
    case Fault::kRefuse: return "target refuses";
    case Fault::kDieOnAccept: return "target killed while restoring";
    case Fault::kDieAfterCommit: return "target killed after committing, before the ack";
    case Fault::kDropBeforeSend: return "connection dropped before sending";
    case Fault::kDropAfterSend: return "connection dropped before the ack";
    case Fault::kDropAfterAck: return "connection dropped after the ack";
    case Fault::kCount: break;
  }
  return "?";
}

class ExactlyOnce : public ::testing::TestWithParam<int> {};

TEST_P(ExactlyOnce, EveryTaskletEndsInExactlyOnePlaceWithItsResult) {
  const std::string key_file = make_key_file("eo" + std::to_string(GetParam()));
  constexpr int kCasesPerShard = 30;
  for (int c = 0; c < kCasesPerShard; ++c) {
    const int seed = GetParam() * kCasesPerShard + c;
    std::mt19937 rng(static_cast<unsigned>(seed) * 2654435761u + 17);
    const Fault fault = static_cast<Fault>(seed % static_cast<int>(Fault::kCount));
    SCOPED_TRACE("seed " + std::to_string(seed) + ": " + name_of(fault));
    std::vector<std::string> node_args;
    // Which of the three handoffs the fault hits. A target killed later would
    // take the tasklets it already hosts with it (a node's death, not a handoff
    // failure; checkpoints are for that): kills hit the first handoff.
    int victim = static_cast<int>(rng() % 3);
    if (fault == Fault::kDieOnAccept || fault == Fault::kDieAfterCommit) victim = 0;
    if (fault == Fault::kRefuse) node_args = {"--fault", "refuse@" + std::to_string(victim + 1)};
    if (fault == Fault::kDieOnAccept) node_args = {"--fault", "die-on-accept@" + std::to_string(victim + 1)};
    if (fault == Fault::kDieAfterCommit) node_args = {"--fault", "die-after-commit@" + std::to_string(victim + 1)};
    NodeProcess node(STASIS_NET_TEST_NODE, key_file, node_args);

    Scheduler sched;
    Host host(sched, SharedKey::from_file(key_file), quiet());
    std::vector<TaskletRef> tasklets;
    std::map<std::string, std::int64_t> expected;
    for (int k = 0; k < 3; ++k) {
      const std::int64_t n = 20 + static_cast<std::int64_t>(rng() % 40);
      std::string name = "t" + std::to_string(seed) + "-" + std::to_string(k);
      tasklets.push_back(sched.spawn(Counter{.n = n}, {.name = name}));
      expected[name] = counter_result(n);
    }
    if (TaskletRef paused = sched.run(static_cast<std::uint64_t>(5 + rng() % 30))) paused->insert();

    bool target_alive = true;
    for (int k = 0; k < 3; ++k) {
      MigrateOptions o;
      o.in_doubt_timeout = std::chrono::milliseconds(150);
      if (k == victim) {
        if (fault == Fault::kDropBeforeSend) o.fault = SourceFault::kDropBeforeSend;
        if (fault == Fault::kDropAfterSend) o.fault = SourceFault::kDropAfterSend;
        if (fault == Fault::kDropAfterAck) o.fault = SourceFault::kDropAfterAck;
        o.fault_turns = static_cast<int>(rng() % 3);
      }
      if (!target_alive) break;
      try {
        host.migrate(tasklets[k], node.address(), o);
      } catch (const net::NetError&) {
        // The tasklet must run on here: checked below.
      }
      if ((fault == Fault::kDieOnAccept || fault == Fault::kDieAfterCommit) && k == victim) target_alive = false;
    }

    // Finish what stayed here; collect what the target hosts.
    ASSERT_TRUE(host.run_until([&] {
      for (auto& t : tasklets) {
        if (t->alive()) return false;
      }
      return true;
    }, std::chrono::seconds(20)));
    std::map<std::string, int> places;
    std::map<std::string, std::string> result;
    for (auto& t : tasklets) {
      if (t->state() == TaskletState::kKilled) continue;  // migrated away
      ++places[std::string(t->name())];
      result[std::string(t->name())] = std::to_string(t->result<std::int64_t>());
    }
    if (target_alive) {
      for (auto& [name, r] : results_at(host, node.address())) {
        ++places[name];
        result[name] = r;
      }
    } else {
      auto o = node.wait();
      EXPECT_TRUE(o.killed_by(SIGKILL)) << o.output;
    }
    for (auto& [name, want] : expected) {
      EXPECT_EQ(places[name], 1) << name << " is in " << places[name] << " places";
      EXPECT_EQ(result[name], std::to_string(want)) << name;
    }
    if (fault == Fault::kNone) {
      EXPECT_EQ(places.size(), 3u);
      for (auto& t : tasklets) EXPECT_EQ(t->state(), TaskletState::kKilled) << "all three migrated";
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Seeds, ExactlyOnce, ::testing::Range(0, 4));

}  // namespace
}  // namespace stasis::test
