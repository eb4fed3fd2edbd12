// native_switch_bench.cc — switch round trips of native tasklets vs a raw
// Boost.Context fiber (and, run by ratios.py, greenlet: peers/greenlet_switch.py).
//
// One round trip = A -> B -> A: two switches. Each benchmark iteration does
// `range(0)` round trips, including creating and ending the parties (amortized
// over the round trips, as in pingpong_bench.cc). Counter ns_per_roundtrip = CPU
// time of the benchmark thread (everything runs on it) / round trips.
//
//   switch/boost_context_fiber           the peer: main resumes a
//                                        boost::context::fiber (default
//                                        fixedsize stack) that resumes main back
//                                        (`f = std::move(f).resume()` both ways)
//   switch/boost_context_fiber_via_main  context: two raw fibers A and B that main
//                                        resumes in turn, so A -> B -> A passes
//                                        through main (4 switches), the shape of a
//                                        scheduler loop that every switch returns to
//   switch/stasis_dedicated/two_tasklets two native tasklets on dedicated stacks
//                                        alternating with this_tasklet::yield()
//                                        (the goal's Stasis side)
//   switch/stasis_dedicated/one_tasklet  one dedicated tasklet yielding through the
//                                        scheduler loop: tasklet -> loop ->
//                                        tasklet. Run with run_until(a done() that
//                                        is always false), because with run() the
//                                        runtime may let a lone yield go on without
//                                        switching (see yield_alone); a done()
//                                        makes the loop take every yield, at the
//                                        price of one std::function call per pass
//   switch/stasis_dedicated/yield_alone  context: the same under plain run(), i.e.
//                                        what a yield costs when nothing else is
//                                        runnable (it may not switch at all)
//   switch/stasis_dedicated/switch_to    two native tasklets on dedicated stacks
//                                        switching to each other with
//                                        this_tasklet::switch_to(other): the
//                                        targeted switch (Stackless'
//                                        tasklet.switch(), greenlet's switch()),
//                                        like the fiber's resume and greenlet's
//                                        switch: no scheduling decision
//   switch/stasis_sliced/switch_to/live_<X>B
//                                        the same on sliced stacks, each keeping X
//                                        live bytes as below (greenlet's peer)
//   switch/stasis_sliced/two_tasklets/live_<X>B
//                                        two sliced tasklets alternating with
//                                        yield(), each keeping a local buffer of X
//                                        bytes (filled, kept alive across every
//                                        yield with benchmark::DoNotOptimize,
//                                        checked at the end) live on its stack, so
//                                        every switch copies X bytes + the frames
//                                        below out to A's slice and B's back
//   switch/stasis_sliced/one_tasklet/live_1024B
//                                        one sliced tasklet yielding through the
//                                        loop as above (context: the region stays
//                                        its own, nothing to copy)
//
// Sliced counter live_stack_bytes: region top minus the buffer's lowest address,
// i.e. the buffer plus everything above it (the tasklet's entry frames). A lower
// bound of the slice: the frames of yield() and of the switch lie below it.
// One-tasklet counter switches_per_roundtrip: switch-hook calls per yield in an
// untimed run of 1,000 yields the same way (1 when every yield really goes
// through the scheduler loop; hooks see each tasklet the loop runs).
//
// Each benchmark checks its own work: the fiber's and tasklets' counts, that the
// two tasklets really alternated, that the buffers came back intact.
#include <boost/context/fiber.hpp>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <utility>

#include "bench_util.h"
#include "stasis/native.h"
#include "stasis/stasis.h"

namespace {

namespace bctx = boost::context;
using stasis::StackKind;

void set_roundtrip_counters(benchmark::State& state, std::int64_t n) {
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["ns_per_roundtrip"] = bench::ns_per_item(static_cast<double>(state.iterations() * n));
}

// --- Peer: a raw Boost.Context fiber resumed by main and resuming main back. ---

void BM_Switch_BoostContextFiber(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  for (auto _ : state) {
    std::int64_t count = 0;
    bctx::fiber f{[&count, n](bctx::fiber&& main) {
      for (std::int64_t i = 0; i < n; ++i) {
        ++count;
        main = std::move(main).resume();
      }
      return std::move(main);
    }};
    for (std::int64_t i = 0; i < n; ++i) f = std::move(f).resume();
    f = std::move(f).resume();  // the body leaves its loop and returns: f ends
    if (count != n || f) state.SkipWithError("boost.context fiber: wrong number of round trips");
  }
  set_roundtrip_counters(state, n);
}

// Context: a hub. Main resumes A, then B, then A...; a round trip A -> B -> A is
// A -> main -> B -> main -> A.
void BM_Switch_BoostContextFiberViaMain(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  for (auto _ : state) {
    std::int64_t count_a = 0, count_b = 0;
    bool alternated = true;
    auto body = [n](std::int64_t& mine, const std::int64_t& other, bool* check) {
      return [n, &mine, &other, check](bctx::fiber&& main) {
        for (std::int64_t i = 0; i < n; ++i) {
          ++mine;
          main = std::move(main).resume();
          if (check && other != mine) *check = false;
        }
        return std::move(main);
      };
    };
    bctx::fiber a{body(count_a, count_b, &alternated)};
    bctx::fiber b{body(count_b, count_a, nullptr)};
    for (std::int64_t i = 0; i < n; ++i) {
      a = std::move(a).resume();
      b = std::move(b).resume();
    }
    a = std::move(a).resume();
    b = std::move(b).resume();
    if (count_a != n || count_b != n || !alternated || a || b)
      state.SkipWithError("boost.context fibers via main: wrong number of round trips");
  }
  set_roundtrip_counters(state, n);
}

// --- Stasis: two native tasklets alternating with this_tasklet::yield(). ---

// The buffer a sliced tasklet keeps live across its yields.
template <std::size_t kLive>
struct LiveStack {
  alignas(16) unsigned char bytes[kLive];
  explicit LiveStack(unsigned char fill) noexcept {
    std::memset(bytes, fill, kLive);
    benchmark::DoNotOptimize(bytes);
  }
  bool intact(unsigned char fill) const noexcept {
    for (unsigned char b : bytes)
      if (b != fill) return false;
    return true;
  }
};
template <>
struct LiveStack<0> {
  explicit LiveStack(unsigned char) noexcept {}
  bool intact(unsigned char) const noexcept { return true; }
};

struct PairResult {
  std::int64_t a = 0, b = 0;
  bool alternated = true;
  bool intact = true;
  std::uintptr_t live_low = 0;  // lowest address of A's buffer
};

template <std::size_t kLive>
void run_pair(stasis::Scheduler& sched, StackKind kind, std::int64_t n, PairResult& r) {
  stasis::spawn_native(
      sched,
      [&r, n] {
        LiveStack<kLive> live(0xA5);
        if constexpr (kLive > 0) r.live_low = reinterpret_cast<std::uintptr_t>(live.bytes);
        for (std::int64_t i = 0; i < n; ++i) {
          ++r.a;
          stasis::this_tasklet::yield();
          benchmark::DoNotOptimize(live);
          if (r.b != r.a) r.alternated = false;  // B ran exactly once in between
        }
        if (!live.intact(0xA5)) r.intact = false;
      },
      {.stack = kind});
  stasis::spawn_native(
      sched,
      [&r, n] {
        LiveStack<kLive> live(0x5A);
        for (std::int64_t i = 0; i < n; ++i) {
          ++r.b;
          stasis::this_tasklet::yield();
          benchmark::DoNotOptimize(live);
        }
        if (!live.intact(0x5A)) r.intact = false;
      },
      {.stack = kind});
  sched.run();
}

template <std::size_t kLive>
void BM_Switch_Pair(benchmark::State& state, StackKind kind) {
  const std::int64_t n = state.range(0);
  stasis::Scheduler sched;
  PairResult r;
  for (auto _ : state) {
    r = PairResult{};
    run_pair<kLive>(sched, kind, n, r);
    if (r.a != n || r.b != n || !r.alternated) {
      state.SkipWithError("stasis: the two tasklets did not alternate n times");
      break;
    }
    if (!r.intact) {
      state.SkipWithError("stasis: a live stack buffer changed across yields");
      break;
    }
  }
  set_roundtrip_counters(state, n);
  if (kind == StackKind::kSliced && kLive > 0) {
    const std::uintptr_t high = stasis::slice_region_bounds().second;
    if (high > r.live_low && r.live_low != 0) state.counters["live_stack_bytes"] = static_cast<double>(high - r.live_low);
  }
}

// --- Stasis: two native tasklets switching to each other (switch_to). ---

// A runs, B is paused (only a switch starts it). A switches to B n times and B
// back to A n times; then A kills B, which waits in its switch (once per run:
// amortized like the spawns).
template <std::size_t kLive>
void run_switch_to(stasis::Scheduler& sched, StackKind kind, std::int64_t n, PairResult& r) {
  stasis::TaskletRef a, b;
  a = stasis::spawn_native(
      sched,
      [&r, &b, n] {
        LiveStack<kLive> live(0xA5);
        if constexpr (kLive > 0) r.live_low = reinterpret_cast<std::uintptr_t>(live.bytes);
        for (std::int64_t i = 0; i < n; ++i) {
          ++r.a;
          stasis::this_tasklet::switch_to(*b);
          benchmark::DoNotOptimize(live);
          if (r.b != r.a) r.alternated = false;  // B ran exactly once in between
        }
        if (!live.intact(0xA5)) r.intact = false;
        b->kill();
      },
      {.stack = kind});
  b = stasis::spawn_native(
      sched,
      [&r, &a] {
        LiveStack<kLive> live(0x5A);
        // Killed in its switch: the check runs as the kill unwinds it.
        struct Check {
          const LiveStack<kLive>& live;
          PairResult& r;
          ~Check() {
            if (!live.intact(0x5A)) r.intact = false;
          }
        } check{live, r};
        for (;;) {
          ++r.b;
          stasis::this_tasklet::switch_to(*a);
          benchmark::DoNotOptimize(live);
        }
      },
      {.stack = kind});
  b->remove();
  sched.run();
}

template <std::size_t kLive>
void BM_Switch_To(benchmark::State& state, StackKind kind) {
  const std::int64_t n = state.range(0);
  stasis::Scheduler sched;
  PairResult r;
  for (auto _ : state) {
    r = PairResult{};
    run_switch_to<kLive>(sched, kind, n, r);
    if (r.a != n || r.b != n || !r.alternated) {
      state.SkipWithError("stasis: the two tasklets did not switch to each other n times");
      break;
    }
    if (!r.intact) {
      state.SkipWithError("stasis: a live stack buffer changed across switches");
      break;
    }
  }
  set_roundtrip_counters(state, n);
  if (kind == StackKind::kSliced && kLive > 0) {
    const std::uintptr_t high = stasis::slice_region_bounds().second;
    if (high > r.live_low && r.live_low != 0) state.counters["live_stack_bytes"] = static_cast<double>(high - r.live_low);
  }
}

// --- Stasis: one native tasklet yielding to the scheduler loop. ---

// run(), or run_until(never) (via_loop): a done() predicate keeps the loop in
// charge of every switch.
void run_scheduler(stasis::Scheduler& sched, bool via_loop) {
  static const std::function<bool()> never = [] { return false; };
  if (via_loop) {
    sched.run_until(never);  // returns once nothing is runnable
  } else {
    sched.run();
  }
}

template <std::size_t kLive>
void run_single(stasis::Scheduler& sched, StackKind kind, bool via_loop, std::int64_t n, std::int64_t& count,
                bool& intact) {
  stasis::spawn_native(
      sched,
      [&count, &intact, n] {
        LiveStack<kLive> live(0xC3);
        for (std::int64_t i = 0; i < n; ++i) {
          ++count;
          stasis::this_tasklet::yield();
          benchmark::DoNotOptimize(live);
        }
        if (!live.intact(0xC3)) intact = false;
      },
      {.stack = kind});
  run_scheduler(sched, via_loop);
}

template <std::size_t kLive>
void BM_Switch_Single(benchmark::State& state, StackKind kind, bool via_loop) {
  const std::int64_t n = state.range(0);
  stasis::Scheduler sched;
  if (via_loop) {  // untimed: does every yield reach the loop?
    constexpr std::int64_t kProbe = 1000;
    std::int64_t hook_calls = 0, count = 0;
    bool intact = true;
    const stasis::HookId hook = sched.add_switch_hook([&hook_calls](stasis::Tasklet*, stasis::Tasklet*) { ++hook_calls; });
    run_single<kLive>(sched, kind, true, kProbe, count, intact);
    sched.remove_switch_hook(hook);
    // Hooks also run when run() starts and returns.
    state.counters["switches_per_roundtrip"] = static_cast<double>(hook_calls) / static_cast<double>(kProbe);
  }
  for (auto _ : state) {
    std::int64_t count = 0;
    bool intact = true;
    run_single<kLive>(sched, kind, via_loop, n, count, intact);
    if (count != n || !intact) {
      state.SkipWithError("stasis: the tasklet did not yield n times intact");
      break;
    }
  }
  set_roundtrip_counters(state, n);
}

void BM_Switch_Dedicated_Two(benchmark::State& s) { BM_Switch_Pair<0>(s, StackKind::kDedicated); }
void BM_Switch_Dedicated_One(benchmark::State& s) { BM_Switch_Single<0>(s, StackKind::kDedicated, true); }
void BM_Switch_Dedicated_Alone(benchmark::State& s) { BM_Switch_Single<0>(s, StackKind::kDedicated, false); }
void BM_Switch_Dedicated_SwitchTo(benchmark::State& s) { BM_Switch_To<0>(s, StackKind::kDedicated); }
void BM_Switch_Sliced_SwitchTo_256(benchmark::State& s) { BM_Switch_To<256>(s, StackKind::kSliced); }
void BM_Switch_Sliced_SwitchTo_1024(benchmark::State& s) { BM_Switch_To<1024>(s, StackKind::kSliced); }
void BM_Switch_Sliced_SwitchTo_8192(benchmark::State& s) { BM_Switch_To<8192>(s, StackKind::kSliced); }
void BM_Switch_Sliced_Two_256(benchmark::State& s) { BM_Switch_Pair<256>(s, StackKind::kSliced); }
void BM_Switch_Sliced_Two_1024(benchmark::State& s) { BM_Switch_Pair<1024>(s, StackKind::kSliced); }
void BM_Switch_Sliced_Two_8192(benchmark::State& s) { BM_Switch_Pair<8192>(s, StackKind::kSliced); }
void BM_Switch_Sliced_One_1024(benchmark::State& s) { BM_Switch_Single<1024>(s, StackKind::kSliced, true); }

constexpr std::int64_t kRoundTrips = 100000;

}  // namespace

BENCHMARK(BM_Switch_BoostContextFiber)->Name("switch/boost_context_fiber")->Arg(kRoundTrips)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Switch_BoostContextFiberViaMain)->Name("switch/boost_context_fiber_via_main")->Arg(kRoundTrips)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Switch_Dedicated_Two)->Name("switch/stasis_dedicated/two_tasklets")->Arg(kRoundTrips)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Switch_Dedicated_SwitchTo)->Name("switch/stasis_dedicated/switch_to")->Arg(kRoundTrips)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Switch_Dedicated_One)->Name("switch/stasis_dedicated/one_tasklet")->Arg(kRoundTrips)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Switch_Dedicated_Alone)->Name("switch/stasis_dedicated/yield_alone")->Arg(kRoundTrips)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Switch_Sliced_Two_256)->Name("switch/stasis_sliced/two_tasklets/live_256B")->Arg(kRoundTrips)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Switch_Sliced_Two_1024)->Name("switch/stasis_sliced/two_tasklets/live_1024B")->Arg(kRoundTrips)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Switch_Sliced_Two_8192)->Name("switch/stasis_sliced/two_tasklets/live_8192B")->Arg(kRoundTrips)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Switch_Sliced_One_1024)->Name("switch/stasis_sliced/one_tasklet/live_1024B")->Arg(kRoundTrips)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Switch_Sliced_SwitchTo_256)->Name("switch/stasis_sliced/switch_to/live_256B")->Arg(kRoundTrips)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Switch_Sliced_SwitchTo_1024)->Name("switch/stasis_sliced/switch_to/live_1024B")->Arg(kRoundTrips)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Switch_Sliced_SwitchTo_8192)->Name("switch/stasis_sliced/switch_to/live_8192B")->Arg(kRoundTrips)->Unit(benchmark::kMillisecond);
