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
//   requested_bytes  bytes asked of operator new (alloc_hook.cc) while spawning
//                    and parking: the tasklet, its native frame and callable
//   allocs           operator new calls
//   malloc_bytes     growth of glibc's in-use heap (mallinfo2), exact: the above
//                    plus the stack slices (taken with malloc, which the hook does
//                    not see) plus malloc's chunk headers and rounding
//   slice_bytes      estimated stack slice per tasklet: malloc_bytes minus
//                    requested_bytes minus 16 B of chunk overhead for each of the
//                    operator new calls and the one slice (glibc: 8-byte header,
//                    sizes rounded to 16: 8 to 23 B per chunk, so this is good to
//                    about +-8 B per allocation)
//   counted_bytes    requested_bytes + slice_bytes
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

constexpr double kMallocChunkOverhead = 16;  // glibc x86_64/aarch64: 8-byte header + rounding to 16, on average

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
  const double requested = static_cast<double>(m.counts.bytes) / dn;
  const double allocs = static_cast<double>(m.counts.allocs) / dn;
  const double malloc_bytes = static_cast<double>(m.malloc_delta) / dn;
  state.counters["requested_bytes"] = requested;
  state.counters["allocs"] = allocs;
  state.counters["malloc_bytes"] = malloc_bytes;
  state.counters["rss_bytes"] = static_cast<double>(m.rss_delta) / dn;
  state.counters["ns_per_task"] = bench::ns_per_item(dn * static_cast<double>(state.iterations()));
  if (kind == StackKind::kSliced) {
    const double slice = malloc_bytes - requested - kMallocChunkOverhead * (allocs + 1);
    state.counters["slice_bytes"] = slice;
    state.counters["counted_bytes"] = requested + slice;
  } else {
    state.counters["counted_bytes"] = requested;
    state.counters["stack_reserved_bytes"] = static_cast<double>(stasis::kDefaultDedicatedStackSize);
  }
}

void BM_Memory_NativeSliced(benchmark::State& s) { BM_Memory_Native(s, StackKind::kSliced); }
void BM_Memory_NativeDedicated(benchmark::State& s) { BM_Memory_Native(s, StackKind::kDedicated); }

}  // namespace

BENCHMARK(BM_Memory_NativeSliced)
    ->Name("memory/stasis_native_sliced")->Arg(100000)->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Memory_NativeDedicated)
    ->Name("memory/stasis_native_dedicated")->Arg(10000)->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);
