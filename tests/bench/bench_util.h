// bench_util.h — helpers shared by the stasis_bench suites.
//
// Allocation accounting: alloc_hook.cc replaces the global operator new/delete.
// While a thread has an AllocScope open, every operator new on that thread adds
// the requested size and one allocation to the scope's counters (frees are
// counted too). Other threads and code outside a scope are not counted; the
// hook then costs one thread-local load per allocation.
#ifndef STASIS_BENCH_UTIL_H_
#define STASIS_BENCH_UTIL_H_

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>

namespace bench {

struct AllocCounts {
  std::uint64_t bytes = 0;   // requested bytes, summed over operator new calls
  std::uint64_t allocs = 0;  // operator new calls
  std::uint64_t frees = 0;   // operator delete calls (non-null)
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

// Adds to the current scope (for allocations that bypass operator new, such as
// Boost.Context stacks taken with malloc). No-op without a scope.
void count_external_allocation(std::size_t bytes) noexcept;

// Resident set size of the process in bytes (/proc/self/statm).
std::uint64_t rss_bytes();

// Bytes glibc malloc has handed out and not yet got back, chunk overhead
// included (mallinfo2: uordblks + hblkhd, all arenas).
std::uint64_t malloc_in_use_bytes();

// Returns free heap memory to the kernel so that RSS deltas measure new memory.
void trim_heap();

// A counter showing nanoseconds per item: `items` done over the benchmark's
// measured time (benchmark divides rate counters by the elapsed seconds).
inline benchmark::Counter ns_per_item(double items) {
  return benchmark::Counter(items * 1e-9, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}

}  // namespace bench

#endif  // STASIS_BENCH_UTIL_H_
