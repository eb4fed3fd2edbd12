// arena_hostile_test.cc — restore_share() on untrusted run images: misplaced,
// overlapping, inconsistent or corrupted runs, and addresses already taken, are
// refused with an ArenaError naming the run and the problem, and nothing stays
// mapped (checked by restoring the intact image afterwards).
#include <gtest/gtest.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "arena_image.h"
#include "stasis/arena.h"

namespace arena = stasis::arena;
using arena_test::Image;

namespace {

class ArenaHostile : public ::testing::Test {
 protected:
  static constexpr std::size_t kBig = 8000;  // ints: a large block of a few granules

  // An image of a share made here on `node`, whose runs are then unmapped again
  // (destroyed, and the partition given back by configure()).
  static Image make_image(std::uint32_t node) {
    arena::ArenaOptions o;
    o.node_id = node;
    arena::configure(o);
    arena::Share* s = arena::create_share();
    arena_test::Map* m = arena_test::build_map(s, kBig);
    void* over_aligned = arena::allocate(s, 100, std::size_t{1} << 16);
    std::memset(over_aligned, 7, 100);
    Image im = arena_test::capture(s, m);
    arena::destroy_share(s);
    arena::configure(arena::ArenaOptions{});
    return im;
  }

  void SetUp() override { image_ = make_image(7); }

  // Restores views, expecting an ArenaError whose message contains `words`.
  static void expect_refused(const std::vector<arena::RunImage>& views, const std::string& words) {
    try {
      arena::Share* s = arena::restore_share(views);
      arena::destroy_share(s);
      ADD_FAILURE() << "restored; expected an error with \"" << words << "\"";
    } catch (const arena::ArenaError& e) {
      EXPECT_NE(std::string(e.what()).find(words), std::string::npos) << e.what();
    }
  }

  // The intact image still restores: nothing was left mapped.
  void TearDown() override {
    arena::Share* s = arena::restore_share(image_.views());
    EXPECT_TRUE(arena_test::map_intact(*reinterpret_cast<arena_test::Map*>(image_.root), kBig));
    arena::destroy_share(s);
  }

  // The index of a run bigger than one granule (the large block's).
  std::size_t large_run() const {
    for (std::size_t i = 0; i < image_.runs.size(); ++i)
      if (image_.runs[i].used > arena::run_granule()) return i;
    return 0;
  }

  Image image_;
};

}  // namespace

TEST_F(ArenaHostile, TheIntactImageRestores) {
  ASSERT_GE(image_.runs.size(), 4u);
  arena::Share* s = arena::restore_share(image_.views());
  EXPECT_EQ(arena::bytes_in_use(s), image_.in_use);
  arena::destroy_share(s);
}

TEST_F(ArenaHostile, NoRuns) { expect_refused({}, "no runs"); }

TEST_F(ArenaHostile, ARunOutsideTheArena) {
  auto v = image_.views();
  v[1].address = std::uintptr_t{1} << 30;
  expect_refused(v, "run #1 at 0x40000000: outside the arena");
}

TEST_F(ArenaHostile, AMisalignedRun) {
  auto v = image_.views();
  v[1].address += 4096;
  expect_refused(v, "run #1");
  v = image_.views();
  v[2].mapped -= 4096;
  expect_refused(v, "multiples of the run granule");
}

TEST_F(ArenaHostile, OverlappingRuns) {
  auto v = image_.views();
  v.push_back(v[1]);
  expect_refused(v, "overlaps run #1");
  v = image_.views();
  std::size_t big = large_run(), other = big == 1 ? 2 : 1;
  ASSERT_NE(big, 0u);
  v[other].address = v[big].address + arena::run_granule();  // inside the large run
  expect_refused(v, "overlaps");
}

TEST_F(ArenaHostile, MoreBytesThanTheRunMaps) {
  auto v = image_.views();
  std::size_t big = large_run();
  ASSERT_NE(big, 0u);
  v[big].mapped = arena::run_granule();
  expect_refused(v, "run #" + std::to_string(big));
  v = image_.views();
  v[1].bytes = v[1].bytes.first(8);
  expect_refused(v, "too short");
}

TEST_F(ArenaHostile, BadMagic) {
  Image bad = image_;
  bad.bytes[1][0] ^= std::byte{0xff};
  expect_refused(bad.views(), "run #1");
  bad = image_;
  bad.bytes[0][3] ^= std::byte{0xff};
  expect_refused(bad.views(), "run #0");
  // The share header's own magic ("SSTASHR1"), after the run header.
  bad = image_;
  auto& home = bad.bytes[0];
  const char tag[] = "SSTASHR1";
  for (std::size_t i = 0; i + 8 <= home.size(); ++i) {
    if (std::memcmp(home.data() + i, tag, 8) == 0) {
      home[i] ^= std::byte{1};
      break;
    }
  }
  expect_refused(bad.views(), "no share header");
}

TEST_F(ArenaHostile, ARunOfAnotherShare) {
  Image other = make_image(8);
  auto v = image_.views();
  v.push_back(other.views()[1]);
  expect_refused(v, "belongs to another share");
}

TEST_F(ArenaHostile, AMissingRun) {
  auto v = image_.views();
  v.pop_back();
  expect_refused(v, "run #0");
  v = image_.views();
  std::swap(v[0], v[1]);  // the share header must come first
  expect_refused(v, "run #");
}

TEST_F(ArenaHostile, AnAddressAlreadyTaken) {
  auto v = image_.views();
  std::uintptr_t taken = v.back().address;
  void* p = mmap(reinterpret_cast<void*>(taken), 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
  ASSERT_EQ(p, reinterpret_cast<void*>(taken));
  char hex[32];
  std::snprintf(hex, sizeof hex, "0x%llx", static_cast<unsigned long long>(taken));
  expect_refused(v, std::string(hex) + ": the address is already mapped");
  munmap(p, 4096);  // the runs before it were unmapped again: TearDown restores them all
}

// Every word of every run header and of the share header, and of the first 2 KiB
// of the oldest runs (the first classes used: map nodes, keys, short vectors, with
// the free-list links of the erased entries), corrupted in turn: the restore
// either refuses or yields a share that works and is freed cleanly. Never a crash.
TEST_F(ArenaHostile, CorruptedWordsAreRefusedOrHarmless) {
  std::size_t refused = 0, accepted = 0, n = image_.runs.size();
  for (std::size_t r = 0; r < n; ++r) {
    std::size_t limit = std::min<std::size_t>(image_.bytes[r].size(), r == 0 || r + 3 >= n ? 2048 : 128);
    for (std::size_t off = 0; off < limit; off += 8) {
      for (std::byte flip : {std::byte{0x5a}, std::byte{0x10}}) {
        if (flip == std::byte{0x10} && off >= 128) continue;  // two kinds of flip in headers only
        image_.bytes[r][off] ^= flip;  // flipped back below: TearDown restores the intact image
        try {
          arena::Share* s = arena::restore_share(image_.views());
          ++accepted;
          void* p = arena::allocate(s, 40);  // the allocator still works on it
          arena::deallocate(p);
          arena::destroy_share(s);
        } catch (const arena::ArenaError&) {
          ++refused;
        }
        image_.bytes[r][off] ^= flip;
      }
    }
  }
  EXPECT_GT(refused, 50u);
  EXPECT_GT(accepted, 0u) << "block contents are the program's business";
}
