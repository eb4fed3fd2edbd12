// slice_test.cc — stack slices (stasis/arch/slice.h) on a region of plain memory:
// every byte comes back, large slices are co-aligned with the region (the fast
// copy), small ones keep exact buffers (the parked cost), and a reused buffer
// stays close to the live bytes.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <memory>

#include "stasis/arch/slice.h"

namespace stasis::test {
namespace {

using arch::Slice;

constexpr std::size_t kRegionBytes = 64 * 1024;

// A page-aligned stand-in for the shared region; `high` is its top.
struct Region {
  std::unique_ptr<char, decltype(&std::free)> mem{static_cast<char*>(std::aligned_alloc(4096, kRegionBytes)),
                                                   &std::free};
  char* high() const { return mem.get() + kRegionBytes; }
  // Fills the n live bytes below high with a pattern that depends on n and seed.
  void fill(std::size_t n, unsigned seed) {
    for (std::size_t i = 0; i < n; ++i) high()[-1 - static_cast<std::ptrdiff_t>(i)] = static_cast<char>(i * 31 + seed);
  }
  bool holds(std::size_t n, unsigned seed) const {
    for (std::size_t i = 0; i < n; ++i) {
      if (high()[-1 - static_cast<std::ptrdiff_t>(i)] != static_cast<char>(i * 31 + seed)) return false;
    }
    return true;
  }
  void scribble() { std::memset(mem.get(), 0xEE, kRegionBytes); }
};

std::uintptr_t line_offset(const void* p) { return reinterpret_cast<std::uintptr_t>(p) & 63; }

TEST(Slice, EveryDepthComesBackByteForByte) {
  Region region;
  Slice slice;  // one slice through all depths: its buffer is reused, regrown and shrunk
  for (std::size_t n = 16; n <= 12 * 1024; n += 16 * 7) {
    region.fill(n, static_cast<unsigned>(n));
    arch::save_slice(slice, region.high() - n, region.high());
    ASSERT_EQ(slice.size, n);
    region.scribble();
    arch::restore_slice(slice, region.high());
    ASSERT_TRUE(region.holds(n, static_cast<unsigned>(n))) << n << " live bytes";
  }
}

TEST(Slice, LargeSlicesAreCoAlignedWithTheRegionSmallOnesExact) {
  Region region;
  for (std::size_t n : {16u, 304u, 1008u, 1024u, 1072u, 4096u, 8240u, 8256u}) {
    Slice slice;
    region.fill(n, 7);
    arch::save_slice(slice, region.high() - n, region.high());
    if (n >= 1024) {
      EXPECT_EQ(line_offset(slice.bytes), line_offset(region.high() - n)) << n << " live bytes";
      EXPECT_LE(slice.room(), n + 48 + 15) << n << " live bytes";
    } else {
      EXPECT_EQ(slice.lead(), 0u) << n << " live bytes";
      EXPECT_EQ(slice.room(), n) << n << " live bytes: a small stack's parked cost is its live bytes";
    }
  }
}

TEST(Slice, ReusedBufferIsReAlignedAndStaysCloseToTheLiveBytes) {
  Region region;
  Slice slice;
  // Depths that differ by 16 change the lead a reused buffer needs.
  for (std::size_t n : {8192u, 8176u, 8160u, 8144u, 8208u, 6000u & ~15u, 2048u, 1024u, 512u, 9000u & ~15u}) {
    region.fill(n, 3);
    arch::save_slice(slice, region.high() - n, region.high());
    if (n >= 1024) {
      EXPECT_EQ(line_offset(slice.bytes), line_offset(region.high() - n)) << n;
    }
    EXPECT_LE(slice.lead() + slice.size, slice.room()) << n;
    EXPECT_LE(slice.room(), n + n / 4 + 64 + 48) << n << ": the buffer is too big for the live bytes";
    region.scribble();
    arch::restore_slice(slice, region.high());
    ASSERT_TRUE(region.holds(n, 3)) << n;
  }
}

TEST(Slice, CopyIntoSliceAlignsForWhereTheBytesWillGo) {
  Region region;
  const std::size_t n = 4096 + 16;
  std::unique_ptr<char[]> source(new char[n + 8]);
  for (std::size_t i = 0; i < n; ++i) source[i + 8] = static_cast<char>(i * 13);
  Slice slice;
  arch::copy_into_slice(slice, source.get() + 8, n, region.high());  // a source misaligned on purpose
  EXPECT_EQ(line_offset(slice.bytes), line_offset(region.high() - n));
  arch::restore_slice(slice, region.high());
  for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(region.high()[static_cast<std::ptrdiff_t>(i - n)], static_cast<char>(i * 13)) << i;
  slice.release();
  EXPECT_EQ(slice.bytes, nullptr);
  EXPECT_EQ(slice.room(), 0u);
}

}  // namespace
}  // namespace stasis::test
