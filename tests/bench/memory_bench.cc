// memory_bench.cc — memory per parked tasklet: range(0) soft tasklets each blocked
// receiving on one channel, vs Boost.Fiber fibers blocked in pop() on one
// unbuffered_channel (for context).
//
// Each measurement runs in a fresh thread so that Stasis' per-thread frame pool
// holds no free block (every frame and tasklet header then comes from malloc) and
// Boost.Fiber's per-thread scheduler is set up outside the counted region.
// Counters (per tasklet / fiber):
//   requested_bytes   bytes asked of malloc and its relatives (alloc_hook.cc:
//                     operator new, the frame pool, fiber stacks) while spawning
//                     and parking
//   allocs            those calls
//   overhead_bytes    requested_bytes minus the frame's own fields, i.e. what the
//                     runtime adds: frame header (FrameBase), tasklet, rounding
//   sizeof_header     sizeof(stasis::FrameBase) + sizeof(stasis::Tasklet)
//   malloc_bytes      growth of glibc's in-use heap (mallinfo2: uordblks + hblkhd):
//                     requested bytes plus malloc's per-chunk header and rounding
//   rss_bytes         resident-set growth (/proc/self/statm), for context: pages
//                     actually touched. Meaningful on a fresh heap only (the first
//                     thread arena), hence one iteration per benchmark
//   ns_per_task       time to spawn and park one
#include <boost/fiber/all.hpp>

#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "bench_util.h"
#include "stasis/stasis.h"

namespace {

int g_sink = 0;  // parked tasklets receive here: the frame has no field but its channel

struct Park : stasis::Frame<Park> {
  stasis::Channel<int>* ch = nullptr;
  STASIS_FIELDS(ch)
  stasis::Step run(stasis::Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_RECEIVE(cx, *ch, g_sink);
    STASIS_END(cx);
  }
};

// Ends at once. The warm-up spawns one: the first use of the thread's frame pool
// registers its thread-exit destructor (a 32-byte calloc inside glibc), a cost
// of the thread, not of a tasklet. It is left runnable so that its blocks come
// back to the pool only after every counted spawn has asked malloc for its own.
struct Done : stasis::Frame<Done> {
  int* ran = nullptr;
  STASIS_FIELDS(ran)
  stasis::Step run([[maybe_unused]] stasis::Ctx& cx) {
    STASIS_BEGIN(cx);
    ++*ran;
    STASIS_END(cx);
  }
};

constexpr std::size_t kParkFieldBytes = sizeof(Park) - sizeof(stasis::FrameBase);

using Measurement = bench::ParkedCost;

using SteadyClock = std::chrono::steady_clock;

Measurement measure_stasis(std::int64_t n) {
  return bench::measure_parked(
      n, [](stasis::Scheduler& sched) { sched.spawn(Done{.ran = &g_sink}); },
      [](stasis::Scheduler& sched, stasis::Channel<int>& ch) { sched.spawn(Park{.ch = &ch}); });
}

template <class Inner>
Measurement measure_boost(std::int64_t n, Inner inner) {
  Measurement m;
  std::thread([&] {
    boost::fibers::fiber([] {}).join();  // sets up this thread's fiber scheduler outside the count
    boost::fibers::unbuffered_channel<int> ch;
    std::vector<boost::fibers::fiber> fibers;
    fibers.reserve(static_cast<std::size_t>(n));
    std::int64_t parked = 0;
    bench::trim_heap();
    const std::uint64_t rss0 = bench::rss_bytes();
    const std::uint64_t heap0 = bench::malloc_in_use_bytes();
    const auto t0 = SteadyClock::now();
    {
      bench::AllocScope scope(&m.counts);
      for (std::int64_t i = 0; i < n; ++i) {
        fibers.emplace_back(std::allocator_arg, inner, [&] {
          ++parked;
          int v = 0;
          ch.pop(v);  // returns `closed` at teardown
        });
      }
      while (parked < n) boost::this_fiber::yield();
    }
    m.seconds = std::chrono::duration<double>(SteadyClock::now() - t0).count();
    m.rss_delta = static_cast<std::int64_t>(bench::rss_bytes()) - static_cast<std::int64_t>(rss0);
    m.malloc_delta = static_cast<std::int64_t>(bench::malloc_in_use_bytes()) - static_cast<std::int64_t>(heap0);
    m.ok = parked == n;
    ch.close();
    for (auto& f : fibers) f.join();
  }).join();
  return m;
}

void report(benchmark::State& state, const Measurement& m, std::int64_t n, double field_bytes) {
  const double dn = static_cast<double>(n);
  state.counters["requested_bytes"] = static_cast<double>(m.counts.bytes) / dn;
  state.counters["allocs"] = static_cast<double>(m.counts.allocs) / dn;
  state.counters["overhead_bytes"] = static_cast<double>(m.counts.bytes) / dn - field_bytes;
  state.counters["malloc_bytes"] = static_cast<double>(m.malloc_delta) / dn;
  state.counters["rss_bytes"] = static_cast<double>(m.rss_delta) / dn;
  state.counters["ns_per_task"] = bench::ns_per_item(dn * static_cast<double>(state.iterations()));
}

void BM_Memory_Stasis(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  Measurement m;
  for (auto _ : state) {
    m = measure_stasis(n);
    state.SetIterationTime(m.seconds);
    if (!m.ok) state.SkipWithError("stasis: not every tasklet parked on the channel");
  }
  report(state, m, n, static_cast<double>(kParkFieldBytes));
  state.counters["sizeof_header"] = static_cast<double>(sizeof(stasis::FrameBase) + sizeof(stasis::Tasklet));
  state.counters["field_bytes"] = static_cast<double>(kParkFieldBytes);
}

template <class Inner>
void boost_memory(benchmark::State& state, Inner inner) {
  const std::int64_t n = state.range(0);
  Measurement m;
  for (auto _ : state) {
    m = measure_boost(n, inner);
    state.SetIterationTime(m.seconds);
    if (!m.ok) state.SkipWithError("boost.fiber: not every fiber parked on the channel");
  }
  report(state, m, n, 0);  // the fiber's "fields" (its lambda captures) live on its stack
}

void BM_Memory_Boost_Default(benchmark::State& s) { boost_memory(s, boost::fibers::default_stack()); }
void BM_Memory_Boost_Fixed16k(benchmark::State& s) { boost_memory(s, boost::fibers::fixedsize_stack(16 * 1024)); }

}  // namespace

BENCHMARK(BM_Memory_Stasis)->Name("memory/stasis")->Arg(100000)->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Memory_Boost_Default)
    ->Name("memory/boost_fiber/default_stack_128k")->Arg(10000)->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Memory_Boost_Fixed16k)
    ->Name("memory/boost_fiber/fixedsize_stack_16k")->Arg(10000)->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);
