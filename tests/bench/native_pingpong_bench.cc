// native_pingpong_bench.cc — channel ping-pong between two native tasklets, the
// same protocol as pingpong_bench.cc (whose pingpong/boost_fiber is the
// Boost.Fiber peer; Go's peer is peers/go/pingpong, run by ratios.py).
//
// One round trip = ping sends i on `ping`, pong receives it and sends i + 1 on
// `pong`, ping receives it; both channels are unbuffered Channel<int>, and the
// tasklets block in plain `ch.send(v)` / `ch.receive()` calls. Each benchmark
// iteration spawns the two tasklets, does `range(0)` round trips and runs them to
// the end (spawning amortized over the round trips). Counter ns_per_roundtrip =
// CPU time of the benchmark thread (both parties run on it) / round trips.
//
//   pingpong/stasis_native_dedicated  both tasklets on dedicated stacks
//   pingpong/stasis_native_sliced     both on the shared sliced region (each
//                                     switch copies the outgoing one's live stack
//                                     out and the incoming one's back)
//   pingpong/stasis_native_mixed      ping dedicated, pong sliced (context)
//
// The sum ping receives is checked against n(n-1)/2 + n.
#include <cstdint>

#include "bench_util.h"
#include "stasis/native.h"
#include "stasis/stasis.h"

namespace {

using stasis::StackKind;

std::int64_t expected_sum(std::int64_t n) { return n * (n - 1) / 2 + n; }

void native_pingpong(benchmark::State& state, StackKind ping_kind, StackKind pong_kind) {
  const std::int64_t n = state.range(0);
  stasis::Scheduler sched;
  stasis::Channel<int> ping, pong;
  for (auto _ : state) {
    auto a = stasis::spawn_native(
        sched,
        [&ping, &pong, n] {
          std::int64_t sum = 0;
          for (std::int64_t i = 0; i < n; ++i) {
            ping.send(static_cast<int>(i));
            sum += pong.receive();
          }
          return sum;
        },
        {.stack = ping_kind});
    stasis::spawn_native(
        sched,
        [&ping, &pong, n] {
          for (std::int64_t i = 0; i < n; ++i) pong.send(ping.receive() + 1);
        },
        {.stack = pong_kind});
    sched.run();
    if (a->result<std::int64_t>() != expected_sum(n)) {
      state.SkipWithError("stasis native ping-pong: wrong sum");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["ns_per_roundtrip"] = bench::ns_per_item(static_cast<double>(state.iterations() * n));
}

void BM_PingPong_NativeDedicated(benchmark::State& s) { native_pingpong(s, StackKind::kDedicated, StackKind::kDedicated); }
void BM_PingPong_NativeSliced(benchmark::State& s) { native_pingpong(s, StackKind::kSliced, StackKind::kSliced); }
void BM_PingPong_NativeMixed(benchmark::State& s) { native_pingpong(s, StackKind::kDedicated, StackKind::kSliced); }

}  // namespace

BENCHMARK(BM_PingPong_NativeDedicated)->Name("pingpong/stasis_native_dedicated")->Arg(100000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PingPong_NativeSliced)->Name("pingpong/stasis_native_sliced")->Arg(100000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PingPong_NativeMixed)->Name("pingpong/stasis_native_mixed")->Arg(100000)->Unit(benchmark::kMillisecond);
