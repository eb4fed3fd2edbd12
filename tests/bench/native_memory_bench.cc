// native_memory_bench.cc — memory per parked native tasklet: range(0) native
// tasklets each blocked in `ch.receive()` on one unbuffered Channel<int>. The
// peers are memory_bench.cc's Boost.Fiber fibers (memory/boost_fiber/*) and, run
// by ratios.py, Go goroutines blocked in `<-ch` (peers/go/memory).
//
//   memory/stasis_native_sliced     100,000 sliced tasklets (the goal's side)
//   memory/stasis_native_dedicated  10,000 tasklets on dedicated stacks (context)
//
// Each measurement runs in a fresh thread. Before the counted region one sliced
// (or dedicated) tasklet is run to completion there, so the thread's native state,
// its slice region and the stack pool exist already: what is counted is the cost
// of each further parked tasklet. Counters (per tasklet):
//   requested_bytes  bytes asked of malloc and its relatives (alloc_hook.cc)
//                    while spawning and parking: the tasklet, its native frame,
//                    the callable and the stack slice
//   allocs           those calls
//   malloc_bytes     growth of glibc's in-use heap (mallinfo2): the above plus
//                    malloc's chunk headers and rounding (the goal's measure)
//   rss_bytes        resident-set growth (/proc/self/statm)
//   stack_reserved_bytes  dedicated: the stack each one reserves (address space;
//                    only touched pages are resident, see rss_bytes)
//   ns_per_task      time to spawn and park one
// The last sliced tasklet to park keeps its stack in the region (slices are saved
// only when another sliced tasklet needs the region), so n-1 slices exist; with
// n = 100,000 that is noise.
#include <chrono>
#include <cstdint>
#include <functional>
#include <thread>

#include "bench_util.h"
#include "stasis/native.h"
#include "stasis/stasis.h"

namespace {

using stasis::StackKind;
using SteadyClock = std::chrono::steady_clock;

int g_native_sink = 0;  // parked tasklets receive here

using NativeMeasurement = bench::ParkedCost;

NativeMeasurement measure_native(std::int64_t n, StackKind kind) {
  return bench::measure_parked(
      n,
      [kind](stasis::Scheduler& sched) {  // warm-up: this thread's native state, slice region / stack pool
        stasis::spawn_native(sched, [] {}, {.stack = kind});
        sched.run();
      },
      [kind](stasis::Scheduler& sched, stasis::Channel<int>& ch) {
        stasis::spawn_native(sched, [&ch] { g_native_sink = ch.receive(); }, {.stack = kind});
      });
}

void BM_Memory_Native(benchmark::State& state, StackKind kind) {
  const std::int64_t n = state.range(0);
  NativeMeasurement m;
  for (auto _ : state) {
    m = measure_native(n, kind);
    state.SetIterationTime(m.seconds);
    if (!m.ok) state.SkipWithError("stasis native: not every tasklet parked on the channel");
  }
  const double dn = static_cast<double>(n);
  state.counters["requested_bytes"] = static_cast<double>(m.counts.bytes) / dn;
  state.counters["allocs"] = static_cast<double>(m.counts.allocs) / dn;
  state.counters["malloc_bytes"] = static_cast<double>(m.malloc_delta) / dn;
  state.counters["rss_bytes"] = static_cast<double>(m.rss_delta) / dn;
  state.counters["ns_per_task"] = bench::ns_per_item(dn * static_cast<double>(state.iterations()));
  if (kind == StackKind::kDedicated)
    state.counters["stack_reserved_bytes"] = static_cast<double>(stasis::kDefaultDedicatedStackSize);
}

void BM_Memory_NativeSliced(benchmark::State& s) { BM_Memory_Native(s, StackKind::kSliced); }
void BM_Memory_NativeDedicated(benchmark::State& s) { BM_Memory_Native(s, StackKind::kDedicated); }

}  // namespace

BENCHMARK(BM_Memory_NativeSliced)
    ->Name("memory/stasis_native_sliced")->Arg(100000)->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Memory_NativeDedicated)
    ->Name("memory/stasis_native_dedicated")->Arg(10000)->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);
