// pingpong_bench.cc — channel ping-pong round trips: two Stasis soft tasklets over
// two unbuffered Channel<int> vs two Boost.Fiber fibers (same thread) over two
// boost::fibers::unbuffered_channel<int>.
//
// One round trip = ping sends i, pong receives it and sends i + 1 back, ping
// receives it. Each benchmark iteration does `range(0)` round trips, including
// spawning/joining the two parties (amortized over the round trips).
// Counter ns_per_roundtrip = CPU time of the benchmark thread (both parties run
// on it) / round trips.
#include <boost/fiber/all.hpp>

#include <cstdint>
#include <stdexcept>

#include "bench_util.h"
#include "stasis/stasis.h"

namespace {

struct Ping : stasis::Frame<Ping> {
  stasis::Channel<int>* out = nullptr;
  stasis::Channel<int>* in = nullptr;
  std::int64_t n = 0;
  std::int64_t i = 0;
  int v = 0;
  std::int64_t sum = 0;
  STASIS_FIELDS(out, in, n, i, v, sum)
  stasis::Step run(stasis::Ctx& cx) {
    STASIS_BEGIN(cx);
    for (i = 0; i < n; ++i) {
      STASIS_SEND(cx, *out, static_cast<int>(i));
      STASIS_RECEIVE(cx, *in, v);
      sum += v;
    }
    STASIS_RETURN(cx, sum);
    STASIS_END(cx);
  }
};

struct Pong : stasis::Frame<Pong> {
  stasis::Channel<int>* in = nullptr;
  stasis::Channel<int>* out = nullptr;
  std::int64_t n = 0;
  std::int64_t i = 0;
  int v = 0;
  STASIS_FIELDS(in, out, n, i, v)
  stasis::Step run(stasis::Ctx& cx) {
    STASIS_BEGIN(cx);
    for (i = 0; i < n; ++i) {
      STASIS_RECEIVE(cx, *in, v);
      STASIS_SEND(cx, *out, v + 1);
    }
    STASIS_END(cx);
  }
};

std::int64_t expected_sum(std::int64_t n) { return n * (n - 1) / 2 + n; }

void BM_PingPong_Stasis(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  stasis::Scheduler sched;
  stasis::Channel<int> ping, pong;
  for (auto _ : state) {
    auto a = sched.spawn(Ping{.out = &ping, .in = &pong, .n = n});
    sched.spawn(Pong{.in = &ping, .out = &pong, .n = n});
    sched.run();
    if (a->result<std::int64_t>() != expected_sum(n)) state.SkipWithError("stasis ping-pong: wrong sum");
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["ns_per_roundtrip"] = bench::ns_per_item(static_cast<double>(state.iterations() * n));
}

void BM_PingPong_BoostFiber(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  for (auto _ : state) {
    boost::fibers::unbuffered_channel<int> ping, pong;
    std::int64_t sum = 0;
    boost::fibers::fiber a([&] {
      for (std::int64_t i = 0; i < n; ++i) {
        ping.push(static_cast<int>(i));
        int v = 0;
        pong.pop(v);
        sum += v;
      }
    });
    boost::fibers::fiber b([&] {
      for (std::int64_t i = 0; i < n; ++i) {
        int v = 0;
        ping.pop(v);
        pong.push(v + 1);
      }
    });
    a.join();
    b.join();
    if (sum != expected_sum(n)) state.SkipWithError("boost.fiber ping-pong: wrong sum");
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["ns_per_roundtrip"] = bench::ns_per_item(static_cast<double>(state.iterations() * n));
}

}  // namespace

BENCHMARK(BM_PingPong_Stasis)->Name("pingpong/stasis")->Arg(100000)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_PingPong_BoostFiber)->Name("pingpong/boost_fiber")->Arg(100000)->Unit(benchmark::kMillisecond);
