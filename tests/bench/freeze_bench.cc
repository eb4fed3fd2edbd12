// freeze_bench.cc — freeze and thaw of N parked soft tasklets (default 1,000,000)
// vs a bare Boost.Serialization binary archive writing / reading the same frame
// fields, in the same run.
//
// The world: kChannels Channel<std::int64_t>, and N tasklets whose single frame
// (Worker: id, step, value, rng, a 12-character label, 4 history entries and its
// input channel) is blocked receiving; tasklet i waits on channel i % kChannels, so
// a snapshot also carries 1,000 channels and their wait queues.
//
// Benchmarks (N = STASIS_FREEZE_TASKLETS from the environment, default 1,000,000):
//   freeze/stasis/{none,zstd}   persist::freeze(scheduler) of the whole world
//   freeze/boost_archive        the baseline: a boost::archive::binary_oarchive over
//                               a streambuf appending to a std::string writes each
//                               frame's fields, the channel pointer as a uint32
//                               index found through a pointer->index hash map (so
//                               the baseline also pays for identity). Frames are
//                               visited in the order freeze visits them (channel by
//                               channel, each wait queue in order).
//   thaw/stasis/{none,zstd}     persist::thaw of that snapshot into a fresh scheduler
//   thaw/boost_archive          the baseline: a boost::archive::binary_iarchive reads
//                               the baseline archive back into N `new Worker{}`
//                               (fields, then the channel from its index).
// Both archives use the flags of stasis' own (no header, no codecvt, no tracking).
// Setup (building the world, making the snapshot) and teardown (ending the thawed
// tasklets, freeing frames) are outside the timed region: every benchmark uses
// manual time, measured as the CPU time of the benchmark thread
// (CLOCK_THREAD_CPUTIME_ID, kernel time for page faults included) around the
// call alone. The heap a thaw starts from is what the previous teardown left: by
// default glibc's fast bins full of the chunks just freed, which glibc merges at
// the next large request (inside thaw/stasis, which makes some; never inside
// thaw/boost_archive, which then allocates from the scattered chunks). With
// STASIS_FREEZE_SETTLE_HEAP=1 both thaw benchmarks let glibc merge them after
// setup and after every teardown, untimed (settle_heap()).
//
// Counters: ns_per_tasklet (timed CPU time / (iterations * N)), wall_ns_per_tasklet
// (the same with the steady clock, for context), page_faults_per_tasklet (minor
// page faults of the thread during the timed call, getrusage RUSAGE_THREAD, per
// tasklet: the cost of touching fresh memory), bytes_per_tasklet (snapshot file or
// baseline archive bytes / N); on the stasis side also message_bytes_per_tasklet
// (the uncompressed Cap'n Proto message) and archive_bytes_per_tasklet (its
// Boost archive part); on the baseline side zstd_bytes_per_tasklet (the baseline
// archive compressed with zstd level 3, untimed, for comparison).
// ratios.py compares stasis/none with boost_archive (goal: within 1.5x).
#include <sys/resource.h>
#include <time.h>
#include <zstd.h>

#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/vector.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <streambuf>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "bench_util.h"
#include "stasis/persist/archive.h"
#include "stasis/persist/persistent_frame.h"
#include "stasis/persist/snapshot.h"
#include "stasis/stasis.h"

namespace {

constexpr std::int64_t kDefaultTasklets = 1000000;
constexpr std::size_t kChannels = 1000;
constexpr unsigned kArchiveFlags =
    boost::archive::no_header | boost::archive::no_codecvt | boost::archive::no_tracking;

// A parked worker of a simulation: its state, a short history, and the channel it
// takes work from (it is blocked receiving on it).
struct Worker : stasis::Frame<Worker> {
  std::uint64_t id = 0;
  std::int64_t step = 0;
  double value = 0;
  std::uint64_t rng = 0;
  std::string label;
  std::vector<std::int32_t> history;
  stasis::Channel<std::int64_t>* in = nullptr;
  STASIS_FIELDS(id, step, value, rng, label, history, in)
  stasis::Step run(stasis::Ctx& cx) {
    STASIS_BEGIN(cx);
    for (;;) {
      STASIS_RECEIVE(cx, *in, step);
      value += static_cast<double>(step);
      rng = rng * 6364136223846793005ull + 1442695040888963407ull;
    }
    STASIS_END(cx);
  }
};
STASIS_PERSISTENT_FRAME(Worker, "bench.freeze.Worker", 1);

std::int64_t tasklet_count() {
  if (const char* s = std::getenv("STASIS_FREEZE_TASKLETS")) {
    long long n = std::atoll(s);
    if (n > 0) return n;
  }
  return kDefaultTasklets;
}

Worker make_worker(std::uint64_t i, stasis::Channel<std::int64_t>* in) {
  Worker w;
  w.id = i;
  w.step = static_cast<std::int64_t>(i % 977);
  w.value = static_cast<double>(i) * 0.5;
  w.rng = i * 0x9E3779B97F4A7C15ull + 1;
  char label[16];
  std::snprintf(label, sizeof label, "wk-%09llu", static_cast<unsigned long long>(i % 1000000000));  // 12 characters
  w.label = label;
  const auto h = static_cast<std::int32_t>(i % 1000);
  w.history = {h, h + 1, h + 2, h + 3};
  w.in = in;
  return w;
}

// Channels first, so that they outlive the scheduler (whose destructor ends the
// tasklets parked on them).
struct World {
  std::vector<std::unique_ptr<stasis::Channel<std::int64_t>>> channels;
  std::optional<stasis::Scheduler> sched;
  std::vector<const Worker*> order;  // the frames in the order freeze visits them

  explicit World(std::int64_t n) {
    channels.reserve(kChannels);
    for (std::size_t c = 0; c < kChannels; ++c) channels.push_back(std::make_unique<stasis::Channel<std::int64_t>>());
    sched.emplace();
    for (std::int64_t i = 0; i < n; ++i) {
      sched->spawn(make_worker(static_cast<std::uint64_t>(i), channels[static_cast<std::size_t>(i) % kChannels].get()));
    }
    sched->run_until([&] { return sched->blocked_count() == static_cast<std::size_t>(n); });
    // freeze takes channel-blocked tasklets channel by channel (the thread's channel
    // list), each wait queue in order: visit the frames the same way.
    order.reserve(static_cast<std::size_t>(n));
    for (stasis::ChannelBase* ch = stasis::ChannelBase::first_on_thread(); ch; ch = ch->next_on_thread()) {
      for (stasis::Tasklet* t : ch->plain_waiters()) order.push_back(static_cast<const Worker*>(t->top_frame()));
    }
  }
  ~World() { sched.reset(); }
  bool ok(std::int64_t n) const { return order.size() == static_cast<std::size_t>(n); }
};

// The baseline's streams are stasis' own plain streambufs (persist/archive.h):
// appending to a std::string, reading a byte range.
using AppendSink = stasis::persist::StringSink;
class ViewSource : public stasis::persist::SpanSource {
 public:
  explicit ViewSource(const std::string& bytes) : SpanSource(bytes) {}
};

// Times one call: CPU time of this thread and wall time, in nanoseconds, and
// counts the page faults the thread took meanwhile (minor faults: first touches
// of fresh memory; their kernel time is part of the CPU time).
class Timer {
 public:
  Timer() : faults0_(minor_faults()), cpu0_(cpu_ns()), wall0_(std::chrono::steady_clock::now()) {}
  void stop() {
    cpu_ = cpu_ns() - cpu0_;
    wall_ = std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - wall0_).count();
    faults_ = minor_faults() - faults0_;
  }
  double cpu() const { return cpu_; }
  double wall() const { return wall_; }
  double faults() const { return faults_; }

 private:
  static double minor_faults() {
    rusage u{};
    getrusage(RUSAGE_THREAD, &u);
    return static_cast<double>(u.ru_minflt);
  }
  double faults0_;
  double faults_ = 0;
  static double cpu_ns() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
  }
  double cpu0_;
  std::chrono::steady_clock::time_point wall0_;
  double cpu_ = 0, wall_ = 0;
};

// With STASIS_FREEZE_SETTLE_HEAP=1, makes glibc merge the chunks in its fast bins
// now (a 64 KiB request, below the mmap threshold and above the small bins, runs
// malloc_consolidate), not at the next timed call's first large allocation.
// Called after the setup and the teardowns of thaw/stasis and thaw/boost_archive
// alike; does nothing by default.
void settle_heap() {
  static const bool enabled = [] {
    const char* s = std::getenv("STASIS_FREEZE_SETTLE_HEAP");
    return s && std::string_view(s) == "1";
  }();
  if (!enabled) return;
  void* p = std::malloc(64 * 1024);
  benchmark::DoNotOptimize(p);
  std::free(p);
}

// Accumulates timed calls and reports the per-tasklet counters.
struct Totals {
  double cpu_ns = 0, wall_ns = 0, faults = 0;
  void add(benchmark::State& state, const Timer& t) {
    cpu_ns += t.cpu();
    wall_ns += t.wall();
    faults += t.faults();
    state.SetIterationTime(t.cpu() * 1e-9);
  }
  void report(benchmark::State& state, std::int64_t n, double bytes) const {
    const double items = static_cast<double>(n) * static_cast<double>(state.iterations());
    state.counters["ns_per_tasklet"] = cpu_ns / items;
    state.counters["wall_ns_per_tasklet"] = wall_ns / items;
    state.counters["page_faults_per_tasklet"] = faults / items;
    state.counters["bytes_per_tasklet"] = bytes / static_cast<double>(n);
    state.SetItemsProcessed(static_cast<std::int64_t>(items));
  }
};

stasis::persist::FreezeOptions freeze_options(stasis::persist::Compression c) {
  stasis::persist::FreezeOptions o;
  o.container.compression = c;
  return o;
}

void report_snapshot(benchmark::State& state, std::int64_t n, const stasis::persist::FreezeStats& st) {
  const double dn = static_cast<double>(n);
  state.counters["message_bytes_per_tasklet"] = static_cast<double>(st.message_bytes) / dn;
  state.counters["archive_bytes_per_tasklet"] = static_cast<double>(st.archive_bytes) / dn;
}

// --- stasis ---

void BM_Freeze_Stasis(benchmark::State& state, stasis::persist::Compression c) {
  const std::int64_t n = state.range(0);
  World world(n);
  if (!world.ok(n)) return state.SkipWithError("not every tasklet parked");
  const auto options = freeze_options(c);
  Totals totals;
  stasis::persist::FreezeStats stats;
  for (auto _ : state) {
    Timer t;
    stasis::persist::Snapshot snap = stasis::persist::freeze(*world.sched, options);
    t.stop();
    totals.add(state, t);
    stats = snap.stats();
    if (stats.tasklets != static_cast<std::size_t>(n) || stats.channels != kChannels) {
      return state.SkipWithError("freeze: wrong tasklet or channel count");
    }
  }  // the snapshot is freed here, untimed
  totals.report(state, n, static_cast<double>(stats.file_bytes));
  report_snapshot(state, n, stats);
}

void BM_Thaw_Stasis(benchmark::State& state, stasis::persist::Compression c) {
  const std::int64_t n = state.range(0);
  stasis::persist::Snapshot snap;
  {
    World world(n);
    if (!world.ok(n)) return state.SkipWithError("not every tasklet parked");
    snap = stasis::persist::freeze(*world.sched, freeze_options(c));
  }  // one scheduler per thread: the source goes before the target comes
  settle_heap();
  Totals totals;
  for (auto _ : state) {
    std::optional<stasis::persist::Thawed> thawed;
    std::optional<stasis::Scheduler> sched;
    sched.emplace();
    Timer t;
    thawed.emplace(stasis::persist::thaw(snap, *sched));
    t.stop();
    totals.add(state, t);
    const bool ok = thawed->tasklets().size() == static_cast<std::size_t>(n) &&
                    sched->blocked_count() == static_cast<std::size_t>(n) && thawed->channels().size() == kChannels;
    sched.reset();  // untimed: ends the tasklets, then the channels go
    thawed.reset();
    settle_heap();
    if (!ok) return state.SkipWithError("thaw: wrong tasklet or channel count");
  }
  totals.report(state, n, static_cast<double>(snap.bytes().size()));
  report_snapshot(state, n, snap.stats());
}

// --- the Boost.Serialization baseline ---

void save_baseline(const std::vector<const Worker*>& frames, std::string& out) {
  AppendSink sink(out);
  boost::archive::binary_oarchive oa(sink, kArchiveFlags);
  std::unordered_map<const stasis::ChannelBase*, std::uint32_t> index;
  for (const Worker* f : frames) {
    oa << f->id << f->step << f->value << f->rng << f->label << f->history;
    auto [it, inserted] = index.try_emplace(f->in, static_cast<std::uint32_t>(index.size()));
    oa << it->second;
  }
}

// Reads n frames; false if a channel index is out of range.
bool load_baseline(const std::string& bytes, std::int64_t n,
                   const std::vector<std::unique_ptr<stasis::Channel<std::int64_t>>>& channels,
                   std::vector<Worker*>& frames) {
  ViewSource source(bytes);
  boost::archive::binary_iarchive ia(source, kArchiveFlags);
  for (std::int64_t i = 0; i < n; ++i) {
    auto* f = new Worker{};
    frames.push_back(f);
    ia >> f->id >> f->step >> f->value >> f->rng >> f->label >> f->history;
    std::uint32_t index = 0;
    ia >> index;
    if (index >= channels.size()) return false;
    f->in = channels[index].get();
  }
  return true;
}

double zstd_size(const std::string& bytes) {
  std::string out(ZSTD_compressBound(bytes.size()), '\0');
  std::size_t r = ZSTD_compress(out.data(), out.size(), bytes.data(), bytes.size(), 3);
  return ZSTD_isError(r) ? 0.0 : static_cast<double>(r);
}

void BM_Freeze_Baseline(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  World world(n);
  if (!world.ok(n)) return state.SkipWithError("not every tasklet parked");
  Totals totals;
  std::string last;
  for (auto _ : state) {
    std::string out;
    Timer t;
    save_baseline(world.order, out);
    t.stop();
    totals.add(state, t);
    last.swap(out);  // the old one is freed untimed
  }
  totals.report(state, n, static_cast<double>(last.size()));
  state.counters["zstd_bytes_per_tasklet"] = zstd_size(last) / static_cast<double>(n);
}

void BM_Thaw_Baseline(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  std::string bytes;
  {
    World world(n);
    if (!world.ok(n)) return state.SkipWithError("not every tasklet parked");
    save_baseline(world.order, bytes);
  }
  std::vector<std::unique_ptr<stasis::Channel<std::int64_t>>> channels;
  for (std::size_t c = 0; c < kChannels; ++c) channels.push_back(std::make_unique<stasis::Channel<std::int64_t>>());
  std::vector<Worker*> frames;
  frames.reserve(static_cast<std::size_t>(n));
  settle_heap();
  Totals totals;
  for (auto _ : state) {
    Timer t;
    const bool ok = load_baseline(bytes, n, channels, frames);
    t.stop();
    totals.add(state, t);
    const bool complete = ok && frames.size() == static_cast<std::size_t>(n) && frames.back()->history.size() == 4;
    for (Worker* f : frames) delete f;  // untimed
    frames.clear();
    settle_heap();
    if (!complete) return state.SkipWithError("baseline load: bad archive");
  }
  totals.report(state, n, static_cast<double>(bytes.size()));
}

using stasis::persist::Compression;

[[maybe_unused]] const bool registered = [] {
  const std::int64_t n = tasklet_count();
  auto reg = [&](const char* name, auto fn) {
    benchmark::RegisterBenchmark(name, fn)->Arg(n)->UseManualTime()->Unit(benchmark::kMillisecond);
  };
  reg("freeze/stasis/none", [](benchmark::State& s) { BM_Freeze_Stasis(s, Compression::kNone); });
  reg("freeze/stasis/zstd", [](benchmark::State& s) { BM_Freeze_Stasis(s, Compression::kZstd); });
  reg("freeze/boost_archive", BM_Freeze_Baseline);
  reg("thaw/stasis/none", [](benchmark::State& s) { BM_Thaw_Stasis(s, Compression::kNone); });
  reg("thaw/stasis/zstd", [](benchmark::State& s) { BM_Thaw_Stasis(s, Compression::kZstd); });
  reg("thaw/boost_archive", BM_Thaw_Baseline);
  return true;
}();

}  // namespace
