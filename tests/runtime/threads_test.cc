// threads_test.cc — one scheduler per thread, running at the same time.
//
// Everything per-thread (the scheduler, the frame pool, the channel registry)
// must keep threads apart: two threads run the same many-tasklet pipelines
// concurrently and each must get exactly its own result.
#include <gtest/gtest.h>

#include <memory>
#include <thread>
#include <vector>

#include "stasis/stasis.h"
#include "test_frames.h"

namespace {

// Runs `pipelines` producer->summer pairs of `n` values each; returns the total.
long long run_pipelines(int pipelines, int n) {
  stasis::Scheduler s;
  std::vector<std::unique_ptr<stasis::Channel<int>>> channels;
  std::vector<stasis::TaskletRef> summers;
  for (int p = 0; p < pipelines; ++p) {
    channels.push_back(std::make_unique<stasis::Channel<int>>());
    s.spawn(stasis_test::Producer{.out = channels.back().get(), .first = p, .n = n});
    summers.push_back(s.spawn(stasis_test::Summer{.in = channels.back().get(), .n = n}));
  }
  s.run();
  long long total = 0;
  for (auto& t : summers) total += t->result<int>();
  return s.alive_count() == 0 ? total : -1;
}

TEST(SchedulerThreads, ConcurrentSchedulersKeepTheirTaskletsApart) {
  constexpr int kPipelines = 200;
  constexpr int kN = 500;
  // sum over p of sum_{i<n} (p + i) = n * sum(p) + pipelines * n(n-1)/2
  const long long expected = 1LL * kN * (kPipelines * (kPipelines - 1) / 2) + 1LL * kPipelines * kN * (kN - 1) / 2;
  long long results[4] = {};
  std::vector<std::thread> threads;
  for (auto& r : results) threads.emplace_back([&r] { r = run_pipelines(kPipelines, kN); });
  for (auto& t : threads) t.join();
  for (long long r : results) EXPECT_EQ(r, expected);
  EXPECT_EQ(stasis::Scheduler::current_or_null(), nullptr);  // the threads' schedulers never leaked here
}

}  // namespace
