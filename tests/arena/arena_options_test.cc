// arena_options_test.cc — configure(): defaults, bad values, configuring after
// use, disjoint node partitions, and an exhausted partition.
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "stasis/arena.h"

namespace arena = stasis::arena;

namespace {

class ArenaOptions : public ::testing::Test {
 protected:
  void TearDown() override { arena::configure(arena::ArenaOptions{}); }
};

std::string refusal(const arena::ArenaOptions& o) {
  try {
    arena::configure(o);
  } catch (const stasis::InvalidArgument& e) {
    return e.what();
  }
  return "accepted";
}

bool has(const std::string& text, const std::string& words) { return text.find(words) != std::string::npos; }

}  // namespace

TEST_F(ArenaOptions, DefaultsAreBelowTheSliceRegionsAndUnder2To39) {
  const arena::ArenaOptions& o = arena::options();
  EXPECT_EQ(o.base, arena::kDefaultArenaBase);
  EXPECT_EQ(o.partition_size, std::size_t{1} << 32);
  EXPECT_EQ(o.node_id, 0u);
  EXPECT_EQ(o.max_nodes, 32u);
  std::uintptr_t end = o.base + o.max_nodes * o.partition_size;
  EXPECT_TRUE(arena::contains(reinterpret_cast<void*>(o.base)));
  EXPECT_TRUE(arena::contains(reinterpret_cast<void*>(end - 1)));
  EXPECT_FALSE(arena::contains(reinterpret_cast<void*>(end)));
  EXPECT_FALSE(arena::contains(reinterpret_cast<void*>(o.base - 1)));
  EXPECT_FALSE(arena::contains(nullptr));
  std::size_t g = arena::run_granule();
  EXPECT_GE(g, 16384u);
  EXPECT_GE(g, static_cast<std::size_t>(sysconf(_SC_PAGESIZE)));
  EXPECT_EQ(g & (g - 1), 0u);
#if !defined(__SANITIZE_ADDRESS__)
  EXPECT_EQ(end, std::uintptr_t{1} << 38);
#endif
}

TEST_F(ArenaOptions, BadValuesAreNamed) {
  arena::ArenaOptions o;
  o.base = 0;
  EXPECT_TRUE(has(refusal(o), "base")) << refusal(o);
  o = {};
  o.base += 4096;
  EXPECT_TRUE(has(refusal(o), "base 0x")) << refusal(o);
  o = {};
  o.partition_size = 1000;
  EXPECT_TRUE(has(refusal(o), "partition_size 1000")) << refusal(o);
  o = {};
  o.max_nodes = 0;
  EXPECT_TRUE(has(refusal(o), "max_nodes")) << refusal(o);
  o = {};
  o.node_id = 32;
  EXPECT_TRUE(has(refusal(o), "node_id 32 must be below max_nodes (32)")) << refusal(o);
  o = {};
  o.base = std::uintptr_t{1} << 47;
  o.partition_size = std::size_t{1} << 43;  // 32 of them reach 2^48 + 2^47
  EXPECT_TRUE(has(refusal(o), "2^48")) << refusal(o);
  EXPECT_EQ(arena::options().base, arena::kDefaultArenaBase) << "a refused configure changes nothing";
}

TEST_F(ArenaOptions, ConfiguringWhileSharesExistIsAnError) {
  arena::Share* s = arena::create_share();
  arena::ArenaOptions o;
  o.node_id = 1;
  try {
    arena::configure(o);
    ADD_FAILURE() << "configure succeeded with a live share";
  } catch (const arena::ArenaError& e) {
    EXPECT_TRUE(has(e.what(), "1 share(s) exist")) << e.what();
  }
  EXPECT_EQ(arena::options().node_id, 0u);
  arena::destroy_share(s);
  arena::configure(o);  // all destroyed: allowed again
  EXPECT_EQ(arena::options().node_id, 1u);
}

TEST_F(ArenaOptions, NodesAllocateInDisjointPartitions) {
  std::vector<std::vector<arena::Run>> seen;
  for (std::uint32_t node : {1u, 2u, 31u}) {
    arena::ArenaOptions o;
    o.node_id = node;
    arena::configure(o);
    arena::Share* s = arena::create_share();
    arena::allocate(s, 64);
    arena::allocate(s, 1 << 20);
    seen.push_back(arena::runs(s));
    arena::destroy_share(s);
    std::uintptr_t low = o.base + node * o.partition_size, high = low + o.partition_size;
    for (const arena::Run& r : seen.back()) {
      EXPECT_GE(r.address, low) << "node " << node;
      EXPECT_LE(r.address + r.mapped, high) << "node " << node;
      EXPECT_TRUE(arena::contains(reinterpret_cast<void*>(r.address)));
    }
  }
}

TEST_F(ArenaOptions, AnExhaustedPartitionIsAnError) {
  arena::ArenaOptions o;
  o.partition_size = 8 * arena::run_granule();
  o.node_id = 4;
  arena::configure(o);
  std::vector<arena::Share*> shares;
  std::string message;
  try {
    for (int i = 0; i < 100; ++i) shares.push_back(arena::create_share());
  } catch (const arena::ArenaError& e) {
    message = e.what();
  }
  EXPECT_EQ(shares.size(), 8u);
  EXPECT_TRUE(has(message, "node 4's partition")) << message;
  EXPECT_TRUE(has(message, "no room")) << message;
  // A full partition refuses blocks too; a freed share's space serves again.
  EXPECT_THROW(arena::allocate(shares[0], 64), std::bad_alloc);
  arena::destroy_share(shares.back());
  shares.pop_back();
  EXPECT_NE(arena::allocate(shares[0], 64), nullptr);
  EXPECT_THROW(arena::allocate(shares[0], 2 * arena::run_granule()), std::bad_alloc);
  for (arena::Share* s : shares) arena::destroy_share(s);
}
