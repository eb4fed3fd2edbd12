// migrate_bench.cc — migration between two nodes over loopback, against a bare
// Cap'n Proto RPC round trip carrying the same bytes, in the same run.
//
// The target node runs on a second thread of this process (its own Scheduler,
// Host and kj event loop), the source on the benchmark thread; both talk over
// an authenticated TCP connection on 127.0.0.1.
//   migrate/parked_1KiB   Host::migrate of one paused soft tasklet whose frame
//                         holds 1 KiB of state: pause, freeze, send, restore at
//                         the target, acknowledge, drop here (the full handoff)
//   rpc/echo_same_bytes   the baseline: Node.echo of a payload as large as that
//                         tasklet's snapshot, over the same connection
//   migrate/each_10000    10,000 such tasklets, one handoff each
//   migrate/batch_10000   10,000 such tasklets in one handoff
// Manual time: the steady clock around the calls alone (spawning is outside).
// At the end it prints migrate/echo (goal: at most 2x) and the throughputs.
#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <thread>
#include <vector>

#include "stasis/net.h"
#include "stasis/persist/persistent_frame.h"
#include "stasis/persist/snapshot.h"
#include "stasis/soft.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Parked : stasis::Frame<Parked> {
  std::vector<std::uint8_t> state;
  std::int64_t step = 0;
  STASIS_FIELDS(state, step)
  stasis::Step run(stasis::Ctx& cx) {
    STASIS_BEGIN(cx);
    for (;;) {
      ++step;
      STASIS_SCHEDULE(cx);
    }
    STASIS_END(cx);
  }
};
STASIS_PERSISTENT_FRAME(Parked, "bench.net.Parked", 1);

const std::string kSecret = "stasis-bench-shared-key-0123456789";

// The target node on its own thread, until the object is destroyed.
class Target {
 public:
  Target() : thread_([this] { serve(); }) {
    while (address_.load() == nullptr) std::this_thread::yield();
  }
  ~Target() {
    stop_ = true;
    thread_.join();
    delete address_.load();
  }
  const std::string& address() const { return *address_.load(); }

 private:
  void serve() {
    stasis::Scheduler sched;
    stasis::net::Host host(sched, stasis::net::SharedKey::from_secret(kSecret));
    address_ = new std::string(host.address());
    host.run_until([&] { return stop_.load(); });
  }
  std::atomic<bool> stop_{false};
  std::atomic<std::string*> address_{nullptr};
  std::thread thread_;
};

struct Source {
  stasis::Scheduler sched;
  stasis::net::Host host{sched, stasis::net::SharedKey::from_secret(kSecret)};
  stasis::TaskletRef parked() {
    stasis::TaskletRef t = sched.spawn(Parked{.state = std::vector<std::uint8_t>(1024, 0x5a)});
    t->remove();
    return t;
  }
};

double g_migrate_ns = 0, g_echo_ns = 0, g_each_per_s = 0, g_batch_per_s = 0;

void BM_MigrateParked(benchmark::State& state) {
  Target target;
  Source src;
  for (auto _ : state) {
    stasis::TaskletRef t = src.parked();
    auto start = Clock::now();
    src.host.migrate(t, target.address());
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - start).count());
  }
  g_migrate_ns = 0;  // filled from the report below
}

void BM_EchoSameBytes(benchmark::State& state) {
  Target target;
  Source src;
  stasis::TaskletRef t = src.parked();
  const std::size_t bytes = stasis::persist::freeze(t).bytes().size();
  std::string payload(bytes, 'x');
  src.host.echo(target.address(), payload);  // connect outside the timing
  for (auto _ : state) {
    auto start = Clock::now();
    benchmark::DoNotOptimize(src.host.echo(target.address(), payload));
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - start).count());
  }
  state.counters["payload_bytes"] = static_cast<double>(bytes);
}

void BM_MigrateMany(benchmark::State& state, bool batch) {
  constexpr int kCount = 10000;
  Target target;
  Source src;
  for (auto _ : state) {
    std::vector<stasis::TaskletRef> ts;
    ts.reserve(kCount);
    for (int i = 0; i < kCount; ++i) ts.push_back(src.parked());
    auto start = Clock::now();
    if (batch) {
      src.host.migrate(std::span<const stasis::TaskletRef>(ts), target.address());
    } else {
      for (auto& t : ts) src.host.migrate(t, target.address());
    }
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - start).count());
  }
  state.counters["tasklets_per_s"] =
      benchmark::Counter(static_cast<double>(kCount) * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}

BENCHMARK(BM_MigrateParked)->Name("migrate/parked_1KiB")->UseManualTime()->Unit(benchmark::kMicrosecond)->MinTime(1.0);
BENCHMARK(BM_EchoSameBytes)->Name("rpc/echo_same_bytes")->UseManualTime()->Unit(benchmark::kMicrosecond)->MinTime(1.0);
BENCHMARK_CAPTURE(BM_MigrateMany, each, false)->Name("migrate/each_10000")->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(2);
BENCHMARK_CAPTURE(BM_MigrateMany, batch, true)->Name("migrate/batch_10000")->UseManualTime()->Unit(benchmark::kMillisecond)->Iterations(2);

// Keeps the console output and records the figures for the ratio line.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& r : runs) {
      // Single runs, or the median of repetitions (not the mean, stddev or cv).
      if (r.run_type == Run::RT_Aggregate && r.aggregate_name != "median") continue;
      const std::string name = r.benchmark_name();
      const double ns = r.GetAdjustedRealTime() * (r.time_unit == benchmark::kMicrosecond ? 1e3 : 1e6);
      if (name.starts_with("migrate/parked_1KiB")) g_migrate_ns = ns;
      if (name.starts_with("rpc/echo_same_bytes")) g_echo_ns = ns;
      auto it = r.counters.find("tasklets_per_s");
      if (name.starts_with("migrate/each_10000") && it != r.counters.end()) g_each_per_s = it->second;
      if (name.starts_with("migrate/batch_10000") && it != r.counters.end()) g_batch_per_s = it->second;
    }
    ConsoleReporter::ReportRuns(runs);
  }
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  if (g_migrate_ns > 0 && g_echo_ns > 0) {
    std::printf("\nmigration of a parked 1 KiB soft tasklet: %.1f us; bare RPC echo of the same bytes: %.1f us; "
                "ratio %.2fx (goal <= 2x)\n",
                g_migrate_ns / 1e3, g_echo_ns / 1e3, g_migrate_ns / g_echo_ns);
  }
  if (g_each_per_s > 0) std::printf("throughput, one handoff per tasklet: %.0f tasklets/s\n", g_each_per_s);
  if (g_batch_per_s > 0) std::printf("throughput, 10,000 tasklets in one handoff: %.0f tasklets/s\n", g_batch_per_s);
  return 0;
}
