// arena_blocks_test.cc — one share's blocks: size classes and their reuse, many
// runs, large and over-aligned blocks, accounting, and runs() covering them all.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <new>
#include <vector>

#include "share_guard.h"
#include "stasis/arena.h"

namespace arena = stasis::arena;

namespace {

using arena_test::ShareGuard;

struct Block {
  unsigned char* p;
  std::size_t size;
};

unsigned char pattern(std::size_t size, std::size_t i) { return static_cast<unsigned char>(size * 7 + i * 31); }

void fill(const Block& b) {
  for (std::size_t i = 0; i < b.size; ++i) b.p[i] = pattern(b.size, i);
}

bool intact(const Block& b) {
  for (std::size_t i = 0; i < b.size; ++i)
    if (b.p[i] != pattern(b.size, i)) return false;
  return true;
}

bool inside_runs(const std::vector<arena::Run>& runs, const void* p, std::size_t n) {
  auto a = reinterpret_cast<std::uintptr_t>(p);
  for (const arena::Run& r : runs)
    if (a >= r.address && a + n <= r.address + r.used) return true;
  return false;
}

}  // namespace

TEST(ArenaBlocks, SmallBlocksKeepTheirBytesAndAccounting) {
  ShareGuard g;
  std::vector<Block> blocks;
  std::size_t expected = 0;
  for (std::size_t size = 1; size <= 2048; size += 7) {
    for (int k = 0; k < 3; ++k) {
      Block b{static_cast<unsigned char*>(arena::allocate(g.s, size)), size};
      ASSERT_TRUE(arena::contains(b.p));
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b.p) % alignof(std::max_align_t), 0u);
      EXPECT_GE(arena::usable_size(b.p), size);
      EXPECT_EQ(arena::share_of(b.p), g.s);
      expected += arena::usable_size(b.p);
      fill(b);
      blocks.push_back(b);
    }
  }
  EXPECT_EQ(arena::bytes_in_use(g.s), expected);
  for (const Block& b : blocks) ASSERT_TRUE(intact(b)) << "block of " << b.size << " bytes overwritten";
  for (const Block& b : blocks) arena::deallocate(b.p);
  EXPECT_EQ(arena::bytes_in_use(g.s), 0u);
}

TEST(ArenaBlocks, AFreedBlockIsReusedByItsSizeClass) {
  ShareGuard g;
  void* keep = arena::allocate(g.s, 100);
  void* p = arena::allocate(g.s, 100);
  arena::deallocate(p);
  EXPECT_EQ(arena::allocate(g.s, 97), p);
  arena::deallocate(p);
  arena::deallocate(keep);
  arena::deallocate(nullptr);  // ignored
}

TEST(ArenaBlocks, ManyBlocksSpanRunsAndEmptyRunsGoBack) {
  ShareGuard g;
  std::vector<void*> blocks;
  for (int i = 0; i < 20000; ++i) blocks.push_back(arena::allocate(g.s, 64));
  std::size_t grown = arena::runs(g.s).size();
  EXPECT_GT(grown, 10u);
  for (void* p : blocks) arena::deallocate(p);
  // The home run, the run kept for the class, and at most 4 spare runs.
  EXPECT_LE(arena::runs(g.s).size(), 6u);
  EXPECT_EQ(arena::bytes_in_use(g.s), 0u);
}

TEST(ArenaBlocks, LargeBlocksGetRunsOfTheirOwn) {
  ShareGuard g;
  std::vector<Block> blocks;
  for (std::size_t size : {std::size_t{2049}, std::size_t{4096}, std::size_t{100000}, std::size_t{16} << 20}) {
    std::size_t before = arena::runs(g.s).size();
    Block b{static_cast<unsigned char*>(arena::allocate(g.s, size)), size};
    EXPECT_EQ(arena::runs(g.s).size(), before + 1);
    EXPECT_GE(arena::usable_size(b.p), size);
    fill(b);
    blocks.push_back(b);
  }
  for (const Block& b : blocks) EXPECT_TRUE(intact(b));
  for (const Block& b : blocks) arena::deallocate(b.p);
  EXPECT_EQ(arena::runs(g.s).size(), 1u);
  EXPECT_EQ(arena::bytes_in_use(g.s), 0u);
}

TEST(ArenaBlocks, AlignmentIsHonouredUpToMegabytes) {
  ShareGuard g;
  std::vector<Block> blocks;
  for (std::size_t align = 1; align <= (std::size_t{1} << 21); align <<= 1) {
    for (std::size_t size : {std::size_t{1}, std::size_t{24}, std::size_t{3000}, std::size_t{70000}}) {
      Block b{static_cast<unsigned char*>(arena::allocate(g.s, size, align)), size};
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(b.p) % align, 0u) << "align " << align << " size " << size;
      EXPECT_GE(arena::usable_size(b.p), size);
      EXPECT_EQ(arena::share_of(b.p), g.s);
      fill(b);
      blocks.push_back(b);
    }
  }
  for (const Block& b : blocks) EXPECT_TRUE(intact(b));
  for (const Block& b : blocks) arena::deallocate(b.p);
  EXPECT_EQ(arena::bytes_in_use(g.s), 0u);
  EXPECT_LE(arena::runs(g.s).size(), 3u) << "the home run and one kept run per small class used (16, 32)";
}

TEST(ArenaBlocks, RunsCoverTheShareHeaderAndEveryBlock) {
  ShareGuard g;
  std::vector<Block> blocks;
  for (std::size_t i = 1; i < 300; ++i) {
    std::size_t size = (i * 97) % 5000 + 1;
    blocks.push_back(Block{static_cast<unsigned char*>(arena::allocate(g.s, size, i % 5 == 0 ? 64 : 16)), size});
  }
  for (std::size_t i = 0; i < blocks.size(); i += 3) arena::deallocate(blocks[i].p);
  std::vector<arena::Run> runs = arena::runs(g.s);
  ASSERT_FALSE(runs.empty());
  EXPECT_EQ(runs[0].address, reinterpret_cast<std::uintptr_t>(g.s));
  for (const arena::Run& r : runs) {
    EXPECT_EQ(r.address % arena::run_granule(), 0u);
    EXPECT_EQ(r.mapped % arena::run_granule(), 0u);
    EXPECT_LE(r.used, r.mapped);
    EXPECT_TRUE(arena::contains(reinterpret_cast<void*>(r.address)));
  }
  for (std::size_t i = 0; i < blocks.size(); ++i) {
    if (i % 3 != 0) {
      EXPECT_TRUE(inside_runs(runs, blocks[i].p, blocks[i].size)) << "block " << i;
    }
  }
}

TEST(ArenaBlocks, ImpossibleRequestsThrowBadAlloc) {
  ShareGuard g;
  EXPECT_THROW(arena::allocate(g.s, 10, 3), std::bad_alloc);
  EXPECT_THROW(arena::allocate(g.s, std::size_t{1} << 50), std::bad_alloc);
  EXPECT_THROW(arena::allocate(g.s, std::size_t{1} << 33), std::bad_alloc) << "larger than the partition";
  EXPECT_EQ(arena::bytes_in_use(g.s), 0u);
}

TEST(ArenaBlocks, AddressSpaceOfADestroyedShareIsReused) {
  arena::Share* s = arena::create_share();
  for (int i = 0; i < 1000; ++i) arena::allocate(s, 48);
  arena::allocate(s, 1 << 20);
  auto first = reinterpret_cast<std::uintptr_t>(s);
  arena::destroy_share(s);
  arena::Share* again = arena::create_share();
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(again), first);
  void* p = arena::allocate(again, 1 << 20);
  std::memset(p, 0xab, 1 << 20);
  EXPECT_EQ(arena::bytes_in_use(again), std::size_t{1} << 20);
  arena::destroy_share(again);
}
