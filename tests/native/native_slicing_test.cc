// native_slicing_test.cc — the shared region of sliced tasklets: fixed address,
// configurable size, recursion up to the region size, parked cost = live bytes.
#include <gtest/gtest.h>

#include <cstdint>
#include <latch>
#include <thread>
#include <vector>

#include "native_test_support.h"

namespace stasis::test {
namespace {

// Runs body on a fresh thread (a thread's region is configured once, before use).
template <class F>
void on_new_thread(F body) {
  std::thread th(body);
  th.join();
}

// Where the innermost level of the last recursion kept its local.
std::uintptr_t innermost_local = 0;

// Recursion that keeps a 200-byte local per level live.
[[gnu::noinline]] long recurse(int depth, Channel<int>* ch) {
  volatile char pad[200];
  pad[0] = static_cast<char>(depth);
  if (depth == 0) {
    innermost_local = reinterpret_cast<std::uintptr_t>(&pad[0]);
    if (ch) ch->receive();
    return pad[0];
  }
  long below = recurse(depth - 1, ch);
  return below + pad[0] + 1;
}

TEST(Slicing, RegionSitsAtConfiguredFixedAddress) {
  on_new_thread([] {
#if defined(__SANITIZE_ADDRESS__)
    // AddressSanitizer reserves the low address space for its shadow on x86_64.
    const std::uintptr_t base = std::uintptr_t{0x5000} << 32;  // not its allocator at 0x600000000000
#else
    const std::uintptr_t base = std::uintptr_t{0x5000} << 24;  // 0x5000000000: below 2^39
#endif
    configure_slice_region({.size = 256 * 1024, .base = base});
    Scheduler s;
    std::uintptr_t local_at = 0;
    spawn_native(s, [&] {
      int local = 0;
      local_at = reinterpret_cast<std::uintptr_t>(&local);
    });
    s.run();
    auto [low, high] = slice_region_bounds();
    EXPECT_EQ(low, base);
    EXPECT_EQ(high, base + 256 * 1024);
    EXPECT_GE(local_at, low);
    EXPECT_LT(local_at, high);
    EXPECT_THROW(configure_slice_region({}), SchedulerError);  // too late: in use
  });
}

TEST(Slicing, RecursionUpToTheRegionSizeWorks) {
  on_new_thread([] {
    constexpr std::size_t kRegion = 4 * 1024 * 1024;
    configure_slice_region({.size = kRegion});
    Scheduler s;
    Channel<int> ch;
    // Measure the bytes per level of this build (sanitizers make frames bigger),
    // then recurse deep enough to use 90% of the region.
    std::uintptr_t at[2];
    for (int i = 0; i < 2; ++i) {
      spawn_native(s, [&, i] { recurse(i == 0 ? 10 : 110, nullptr); at[i] = innermost_local; });
      s.run();
    }
    const std::size_t per_level = (at[0] - at[1]) / 100;
    ASSERT_GE(per_level, 200u);
    const int kDepth = static_cast<int>(kRegion * 9 / 10 / per_level);
    auto deep = spawn_native(s, [&] { return recurse(kDepth, &ch); }, {.name = "deep"});
    // Another sliced tasklet runs while the deep one is parked (its slice saved).
    auto other = spawn_native(s, [&] {
      long r = recurse(100, nullptr);
      ch.send(1);
      return r;
    });
    s.run();
    long expect_deep = 0;
    for (int d = kDepth; d >= 0; --d) expect_deep += static_cast<char>(d) + (d > 0 ? 1 : 0);
    EXPECT_EQ(deep->result<long>(), expect_deep);
    EXPECT_GT(other->result<long>(), 0);
  });
}

TEST(Slicing, ParkedCostIsTheLiveStack) {
  // A sliced tasklet parked in receive() holds only its live stack bytes, far less
  // than a dedicated stack, and more when it parks deeper.
  Scheduler s;
  Channel<int> ch;
  std::vector<TaskletRef> shallow, deep;
  for (int i = 0; i < 3; ++i) shallow.push_back(spawn_native(s, [&] { ch.receive(); }));
  for (int i = 0; i < 3; ++i) deep.push_back(spawn_native(s, [&] { recurse(40, &ch); }));
  s.run_until([&] { return ch.balance() == -6; });
  auto saved_bytes = [](const TaskletRef& t) {
    for (const FieldValue& f : t->top_frame()->fields()) {
      if (f.name == "stack") return std::stoul(f.text.substr(f.text.find(", ") + 2));
    }
    return 0ul;
  };
  // Every tasklet but the last one to run has been saved out of the region.
  std::size_t shallow_bytes = saved_bytes(shallow[0]);
  std::size_t deep_bytes = saved_bytes(deep[0]);
  EXPECT_GT(shallow_bytes, 0u);
  EXPECT_LT(shallow_bytes, 2048u);
  EXPECT_GT(deep_bytes, shallow_bytes + 40 * 200);
  for (int i = 0; i < 6; ++i) ch.send(i);
  s.run();
}

TEST(Slicing, TwoThreadsHaveTwoRegions) {
  // Both threads hold their regions at the same time; each tasklet finds its locals
  // in its own thread's region.
  std::uintptr_t lows[2] = {};
  bool inside[2] = {};
  std::latch both_mapped(2);
  auto body = [&](int k) {
    Scheduler s;
    spawn_native(s, [&, k] {
      int local = 0;
      auto [low, high] = slice_region_bounds();
      lows[k] = low;
      inside[k] = reinterpret_cast<std::uintptr_t>(&local) >= low && reinterpret_cast<std::uintptr_t>(&local) < high;
    });
    s.run();
    both_mapped.arrive_and_wait();
  };
  std::thread a(body, 0), b(body, 1);
  a.join();
  b.join();
  EXPECT_NE(lows[0], 0u);
  EXPECT_NE(lows[1], 0u);
  EXPECT_NE(lows[0], lows[1]);
  EXPECT_TRUE(inside[0]);
  EXPECT_TRUE(inside[1]);
}

TEST(Slicing, DedicatedStacksArePooled) {
  // A finished tasklet's dedicated stack goes back to the thread's pool, and the
  // next tasklet asking for the same size gets it: its locals sit at the same
  // addresses.
  Scheduler s;
  std::uintptr_t at[2] = {};
  for (int i = 0; i < 2; ++i) {
    spawn_native(s, [&, i] {
      int local = 0;
      at[i] = reinterpret_cast<std::uintptr_t>(&local);
    }, {.stack = StackKind::kDedicated, .stack_size = 32 * 1024});
    s.run();
  }
  EXPECT_NE(at[0], 0u);
  EXPECT_EQ(at[0], at[1]);
}

TEST(Slicing, DedicatedStackSizeIsHonoured) {
  Scheduler s;
  Channel<int> ch;
  auto t = spawn_native(s, [&] { return recurse(2000, &ch); },
                        {.stack = StackKind::kDedicated, .stack_size = 1024 * 1024});
  spawn_native(s, [&] { ch.send(0); });
  s.run();
  EXPECT_GT(t->result<long>(), 0);
}

}  // namespace
}  // namespace stasis::test
