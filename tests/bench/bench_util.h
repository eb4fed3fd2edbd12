// bench_util.h — helpers shared by the stasis_bench suites.
//
// Allocation accounting: alloc_hook.cc replaces malloc and its relatives (and so
// sees operator new, Boost.Context's malloc'd stacks, Stasis' pool and stack
// slices alike). While a thread has an AllocScope open, every allocation on that
// thread adds the requested size and one allocation to the scope's counters
// (frees are counted too). Other threads and code outside a scope are not
// counted; the hook then costs one thread-local load per allocation.
#ifndef STASIS_BENCH_UTIL_H_
#define STASIS_BENCH_UTIL_H_

#include <benchmark/benchmark.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <thread>

#include "stasis/stasis.h"

namespace bench {

struct AllocCounts {
  std::uint64_t bytes = 0;   // requested bytes, summed over malloc-family calls
  std::uint64_t allocs = 0;  // malloc-family calls (operator new included)
  std::uint64_t frees = 0;   // free calls (non-null)
};

// Counts this thread's allocations into *out for the scope's lifetime. Scopes do
// not nest.
class AllocScope {
 public:
  explicit AllocScope(AllocCounts* out) noexcept;
  ~AllocScope();
  AllocScope(const AllocScope&) = delete;
  AllocScope& operator=(const AllocScope&) = delete;
};

// Resident set size of the process in bytes (/proc/self/statm).
std::uint64_t rss_bytes();

// Bytes glibc malloc has handed out and not yet got back, chunk overhead
// included (mallinfo2: uordblks + hblkhd, all arenas).
std::uint64_t malloc_in_use_bytes();

// Returns free heap memory to the kernel so that RSS deltas measure new memory.
void trim_heap();

// What n tasklets parked on one channel cost.
struct ParkedCost {
  AllocCounts counts;
  std::int64_t rss_delta = 0;
  std::int64_t malloc_delta = 0;
  double seconds = 0;
  bool ok = false;  // all n parked on the channel
};

// On a fresh thread (so that the runtime's per-thread pools start empty): makes
// a scheduler and a Channel<int>, calls warm_up(sched) once, then spawn_one(sched,
// ch) n times inside an AllocScope, runs until all n are parked, and measures.
// ~Scheduler kills the parked tasklets (they leave the channel) before ~Channel.
template <class WarmUp, class SpawnOne>
ParkedCost measure_parked(std::int64_t n, WarmUp warm_up, SpawnOne spawn_one) {
  ParkedCost m;
  std::thread([&] {
    stasis::Channel<int> ch;
    stasis::Scheduler sched;
    warm_up(sched);
    const std::function<bool()> all_parked = [&] { return sched.blocked_count() == static_cast<std::size_t>(n); };
    trim_heap();
    const std::uint64_t rss0 = rss_bytes();
    const std::uint64_t heap0 = malloc_in_use_bytes();
    const auto t0 = std::chrono::steady_clock::now();
    {
      AllocScope scope(&m.counts);
      for (std::int64_t i = 0; i < n; ++i) spawn_one(sched, ch);
      sched.run_until(all_parked);
    }
    m.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    m.rss_delta = static_cast<std::int64_t>(rss_bytes()) - static_cast<std::int64_t>(rss0);
    m.malloc_delta = static_cast<std::int64_t>(malloc_in_use_bytes()) - static_cast<std::int64_t>(heap0);
    m.ok = sched.blocked_count() == static_cast<std::size_t>(n) && ch.balance() == -n;
  }).join();
  return m;
}

// A counter showing nanoseconds per item: `items` done over the benchmark's
// measured time (benchmark divides rate counters by the elapsed seconds).
inline benchmark::Counter ns_per_item(double items) {
  return benchmark::Counter(items * 1e-9, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

}  // namespace bench

#endif  // STASIS_BENCH_UTIL_H_
