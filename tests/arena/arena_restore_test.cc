// arena_restore_test.cc — restore_share across a real process boundary: a forked
// child builds a std::map<std::string, std::vector<int>> in a share and writes the
// share's runs to a file; the parent maps them at the same addresses and reads
// the map (same binary: same code and vtables; std::allocator containers hold
// arena pointers only). On another node's partition and on the parent's own.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>

#include "arena_image.h"
#include "stasis/arena.h"

namespace arena = stasis::arena;
using arena_test::Image;
using arena_test::Map;

namespace {

class ArenaRestore : public ::testing::Test {
 protected:
  void TearDown() override { arena::configure(arena::ArenaOptions{}); }

  std::string path_ = ::testing::TempDir() + "stasis_arena_restore_" + std::to_string(getpid()) + ".bin";

  // A child on `node` builds the map and writes its share to path_.
  Image child_image(std::uint32_t node) {
    int status = arena_test::in_child([&] {
      arena::ArenaOptions o;
      o.node_id = node;
      arena::configure(o);
      arena::Share* s = arena::create_share();
      Map* m = arena_test::build_map(s);
      return arena_test::map_intact(*m) && arena_test::write_image(path_, arena_test::capture(s, m));
    });
    EXPECT_EQ(status, 0) << "the child failed";
    Image im;
    EXPECT_TRUE(arena_test::read_image(path_, im));
    std::remove(path_.c_str());
    return im;
  }
};

bool runs_in(const Image& im, std::pair<std::uintptr_t, std::uintptr_t> range) {
  for (const arena::Run& r : im.runs)
    if (r.address < range.first || r.address + r.mapped > range.second) return false;
  return true;
}

}  // namespace

TEST_F(ArenaRestore, AMapBuiltInAChildOnAnotherNodeIsReadInTheParent) {
  Image im = child_image(3);
  ASSERT_FALSE(im.runs.empty());
  EXPECT_TRUE(runs_in(im, arena_test::partition_of(3)));

  arena::Share* s = arena::restore_share(im.views());
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(s), im.runs[0].address);
  EXPECT_EQ(arena::bytes_in_use(s), im.in_use);
  auto* m = reinterpret_cast<Map*>(im.root);
  ASSERT_TRUE(arena_test::map_intact(*m));

  // The restored share grows in this process's partition (node 0).
  {
    arena::ScopedShare in(s);
    (*m)["made by the parent"] = std::vector<int>(5000, 1);
    m->erase("the key number 1");
  }
  const int* added = m->at("made by the parent").data();
  EXPECT_EQ(arena::share_of(added), s);
  auto home = arena_test::partition_of(0);
  EXPECT_GE(reinterpret_cast<std::uintptr_t>(added), home.first);
  EXPECT_LT(reinterpret_cast<std::uintptr_t>(added), home.second);

  delete m;  // outside any scope: every block goes back to s
  EXPECT_EQ(arena::bytes_in_use(s), 0u);
  arena::destroy_share(s);

  // Another node's runs are unmapped when freed: the image restores again.
  arena::Share* again = arena::restore_share(im.views());
  EXPECT_TRUE(arena_test::map_intact(*reinterpret_cast<Map*>(im.root)));
  arena::destroy_share(again);
}

TEST_F(ArenaRestore, AMapBuiltInAChildOnTheSameNodeIsReadInTheParent) {
  arena::ArenaOptions o;
  o.node_id = 5;
  arena::configure(o);  // nothing of node 5 is mapped here, before or after the fork
  Image im = child_image(5);
  ASSERT_FALSE(im.runs.empty());
  EXPECT_TRUE(runs_in(im, arena_test::partition_of(5)));

  arena::Share* s = arena::restore_share(im.views());
  auto* m = reinterpret_cast<Map*>(im.root);
  ASSERT_TRUE(arena_test::map_intact(*m));

  // New shares of this node skip the addresses the restored one occupies.
  arena::Share* fresh = arena::create_share();
  void* big = arena::allocate(fresh, 1 << 20);
  Image fresh_runs = arena_test::capture(fresh, nullptr);
  for (const arena::Run& a : fresh_runs.runs)
    for (const arena::Run& b : im.runs)
      EXPECT_TRUE(a.address + a.mapped <= b.address || b.address + b.mapped <= a.address)
          << "run " << a.address << " overlaps restored run " << b.address;
  arena::deallocate(big);
  arena::destroy_share(fresh);

  {
    arena::ScopedShare in(s);
    (*m)["more"] = std::vector<int>(30000, 3);
  }
  EXPECT_EQ(m->at("more")[29999], 3);
  delete m;
  EXPECT_EQ(arena::bytes_in_use(s), 0u);
  arena::destroy_share(s);
}

TEST_F(ArenaRestore, RestoringTheSameImageTwiceNamesTheTakenAddress) {
  Image im = child_image(3);
  arena::Share* s = arena::restore_share(im.views());
  try {
    arena::restore_share(im.views());
    ADD_FAILURE() << "a second restore into the same process succeeded";
  } catch (const arena::ArenaError& e) {
    char hex[32];
    std::snprintf(hex, sizeof hex, "0x%llx", static_cast<unsigned long long>(im.runs[0].address));
    EXPECT_NE(std::string(e.what()).find(hex), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("already mapped"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("restored"), std::string::npos) << e.what();
  }
  // The first restore is untouched.
  EXPECT_TRUE(arena_test::map_intact(*reinterpret_cast<Map*>(im.root)));
  arena::destroy_share(s);
}
