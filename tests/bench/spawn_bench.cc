// spawn_bench.cc — spawn + run to completion of range(0) trivial tasklets vs
// Boost.Fiber fibers (launch + join or detach) with several stack allocators.
//
// Stasis spawns all tasklets first, then run()s them (a million frames alive at
// once). Boost.Fiber cannot hold a million stacks at once on an ordinary machine
// (a million 128 KiB default stacks = 128 GB of address space, one touched page
// each), so its peers either launch/join in batches of kBatch fibers (post) or run
// each fiber at once on launch and detach it (dispatch). Counter ns_per_task =
// CPU time of the benchmark thread / tasks; ratios.py compares spawn/stasis with
// the fastest Boost variant (spawn/stasis_batch1024 is shown for context only).
#include <boost/fiber/all.hpp>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "bench_util.h"
#include "stasis/stasis.h"

namespace {

constexpr std::int64_t kTasks = 1000000;
constexpr std::size_t kBatch = 1024;
constexpr std::size_t kSmallStack = 16 * 1024;

struct Add : stasis::Frame<Add> {
  std::int64_t* counter = nullptr;
  STASIS_FIELDS(counter)
  stasis::Step run([[maybe_unused]] stasis::Ctx& cx) {
    STASIS_BEGIN(cx);
    ++*counter;
    STASIS_END(cx);
  }
};

void finish(benchmark::State& state, std::int64_t n) {
  state.SetItemsProcessed(state.iterations() * n);
  state.counters["ns_per_task"] = bench::ns_per_item(static_cast<double>(state.iterations() * n));
}

void BM_Spawn_Stasis(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  stasis::Scheduler sched;
  for (auto _ : state) {
    std::int64_t counter = 0;
    for (std::int64_t i = 0; i < n; ++i) sched.spawn(Add{.counter = &counter});
    sched.run();
    if (counter != n) state.SkipWithError("stasis spawn: wrong count");
  }
  finish(state, n);
}

// For context (not a goal): the same work in batches of kBatch tasklets, so that
// the live tasklets stay in cache like the batched Boost.Fiber peers' stacks do.
void BM_Spawn_Stasis_Batched(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  stasis::Scheduler sched;
  for (auto _ : state) {
    std::int64_t counter = 0;
    for (std::int64_t done = 0; done < n;) {
      const std::int64_t k = std::min<std::int64_t>(kBatch, n - done);
      for (std::int64_t i = 0; i < k; ++i) sched.spawn(Add{.counter = &counter});
      sched.run();
      done += k;
    }
    if (counter != n) state.SkipWithError("stasis spawn: wrong count");
  }
  finish(state, n);
}

// Launch (post) kBatch fibers, join them, repeat.
template <class MakeAlloc>
void boost_batched(benchmark::State& state, MakeAlloc make_alloc) {
  const std::int64_t n = state.range(0);
  auto salloc = make_alloc();
  std::vector<boost::fibers::fiber> fibers;
  fibers.reserve(kBatch);
  for (auto _ : state) {
    std::int64_t counter = 0;
    for (std::int64_t done = 0; done < n;) {
      const std::int64_t k = std::min<std::int64_t>(kBatch, n - done);
      for (std::int64_t i = 0; i < k; ++i) {
        fibers.emplace_back(std::allocator_arg, salloc, [&counter] { ++counter; });
      }
      for (auto& f : fibers) f.join();
      fibers.clear();
      done += k;
    }
    if (counter != n) state.SkipWithError("boost.fiber spawn: wrong count");
  }
  finish(state, n);
}

// Launch with launch::dispatch (the fiber runs to completion at once) and detach.
template <class MakeAlloc>
void boost_dispatch_detach(benchmark::State& state, MakeAlloc make_alloc) {
  const std::int64_t n = state.range(0);
  auto salloc = make_alloc();
  for (auto _ : state) {
    std::int64_t counter = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      boost::fibers::fiber(boost::fibers::launch::dispatch, std::allocator_arg, salloc, [&counter] {
        ++counter;
      }).detach();
    }
    while (counter < n) boost::this_fiber::yield();  // defensive: all ran already
    if (counter != n) state.SkipWithError("boost.fiber spawn: wrong count");
  }
  finish(state, n);
}

auto default_stack = [] { return boost::fibers::default_stack(); };  // fixedsize_stack, 128 KiB
auto fixed_small = [] { return boost::fibers::fixedsize_stack(kSmallStack); };
auto pooled_small = [] { return boost::fibers::pooled_fixedsize_stack(kSmallStack); };

void BM_Spawn_Boost_Default_Batch(benchmark::State& s) { boost_batched(s, default_stack); }
void BM_Spawn_Boost_Fixed16k_Batch(benchmark::State& s) { boost_batched(s, fixed_small); }
void BM_Spawn_Boost_Pooled16k_Batch(benchmark::State& s) { boost_batched(s, pooled_small); }
void BM_Spawn_Boost_Default_Dispatch(benchmark::State& s) { boost_dispatch_detach(s, default_stack); }
void BM_Spawn_Boost_Fixed16k_Dispatch(benchmark::State& s) { boost_dispatch_detach(s, fixed_small); }
void BM_Spawn_Boost_Pooled16k_Dispatch(benchmark::State& s) { boost_dispatch_detach(s, pooled_small); }

#define SPAWN_BENCH(fn, name) \
  BENCHMARK(fn)->Name(name)->Arg(kTasks)->Unit(benchmark::kMillisecond)

SPAWN_BENCH(BM_Spawn_Stasis, "spawn/stasis");
SPAWN_BENCH(BM_Spawn_Stasis_Batched, "spawn/stasis_batch1024");
SPAWN_BENCH(BM_Spawn_Boost_Default_Batch, "spawn/boost_fiber/default_stack_128k/post_join_batch1024");
SPAWN_BENCH(BM_Spawn_Boost_Fixed16k_Batch, "spawn/boost_fiber/fixedsize_stack_16k/post_join_batch1024");
SPAWN_BENCH(BM_Spawn_Boost_Pooled16k_Batch, "spawn/boost_fiber/pooled_fixedsize_stack_16k/post_join_batch1024");
SPAWN_BENCH(BM_Spawn_Boost_Default_Dispatch, "spawn/boost_fiber/default_stack_128k/dispatch_detach");
SPAWN_BENCH(BM_Spawn_Boost_Fixed16k_Dispatch, "spawn/boost_fiber/fixedsize_stack_16k/dispatch_detach");
SPAWN_BENCH(BM_Spawn_Boost_Pooled16k_Dispatch, "spawn/boost_fiber/pooled_fixedsize_stack_16k/dispatch_detach");

}  // namespace
