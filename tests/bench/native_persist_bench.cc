// native_persist_bench.cc — freezing and restoring N parked native tasklets with
// ~4 KiB live stacks (default 10,000) vs a plain memcpy + write (read + memcpy)
// of the same stack bytes, in the same run.
//
// The world: N sliced native tasklets, each parked in Channel::receive() inside a
// function holding a 4 KiB array of small integers, all on one channel.
//
// Benchmarks (N = STASIS_NATIVE_PERSIST_TASKLETS, default 10,000):
//   native_persist/freeze_write/stasis   persist::freeze(scheduler) (no compression)
//                                        + write() of the snapshot to a file
//   native_persist/freeze_write/memcpy   the baseline: memcpy of every tasklet's live
//                                        stack into one buffer + write() of it
//   native_persist/read_thaw/stasis      read() of the file + persist::thaw into a
//                                        fresh scheduler (the world was destroyed)
//   native_persist/read_thaw/memcpy      read() of the baseline file + memcpy of each
//                                        stack into its own buffer
// Files go to $TMPDIR (page cache; no fsync on either side). Manual time: the wall
// clock around the timed calls. Counters: MB_per_s of stack bytes,
// bytes_per_tasklet (file), stack_bytes_per_tasklet.
// ratios.py: goal freeze_write/stasis throughput >= 50% of the baseline's, and the
// same for restore.
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "stasis/native.h"
#include "stasis/native_image.h"
#include "stasis/persist/snapshot.h"
#include "stasis/stasis.h"

namespace {

using Clock = std::chrono::steady_clock;

std::size_t tasklets() {
  const char* env = std::getenv("STASIS_NATIVE_PERSIST_TASKLETS");
  return env ? std::strtoull(env, nullptr, 10) : 10000;
}

[[gnu::noinline]] std::int64_t parked(stasis::Channel<std::int64_t>& in, std::uint64_t seed) {
  std::int64_t buf[512];
  for (std::uint64_t i = 0; i < 512; ++i) buf[i] = static_cast<std::int64_t>((seed * 2654435761u + i * 40503u) & 0xffff);
  benchmark::DoNotOptimize(buf);
  std::int64_t v = in.receive();
  std::int64_t sum = v;
  for (std::int64_t x : buf) sum += x;
  return sum;
}

std::string temp_file(const char* name) {
  return (std::filesystem::temp_directory_path() / (std::string(name) + "-" + std::to_string(getpid()))).string();
}

void write_file(const std::string& path, const void* data, std::size_t n) {
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0 || write(fd, data, n) != static_cast<ssize_t>(n)) std::abort();
  close(fd);
}

std::string read_file(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY);
  if (fd < 0) std::abort();
  std::string out(static_cast<std::size_t>(lseek(fd, 0, SEEK_END)), '\0');
  if (pread(fd, out.data(), out.size(), 0) != static_cast<ssize_t>(out.size())) std::abort();
  close(fd);
  return out;
}

// A world of n parked tasklets on this thread.
struct World {
  stasis::Scheduler s;
  stasis::Channel<std::int64_t> in{{.name = "in"}};
  std::vector<stasis::TaskletRef> parked;
  explicit World(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      parked.push_back(stasis::spawn_native(s, [this, i] { return ::parked(in, i); }));
    }
    try {
      s.run();
    } catch (const stasis::Deadlock&) {
    }
  }
  std::size_t stack_bytes() const {
    std::size_t n = 0;
    for (const auto& t : parked) n += stasis::detail::native_image(*t).stack.size();
    return n;
  }
};

void report(benchmark::State& state, std::size_t n, std::size_t stack_bytes, std::size_t file_bytes) {
  state.counters["MB_per_s"] = benchmark::Counter(static_cast<double>(stack_bytes) * static_cast<double>(state.iterations()) / 1e6,
                                                  benchmark::Counter::kIsRate);
  state.counters["stack_bytes_per_tasklet"] = static_cast<double>(stack_bytes) / static_cast<double>(n);
  state.counters["bytes_per_tasklet"] = static_cast<double>(file_bytes) / static_cast<double>(n);
}

void BM_FreezeWriteStasis(benchmark::State& state) {
  const std::size_t n = tasklets();
  World w(n);
  const std::string path = temp_file("stasis-native-bench");
  std::size_t file = 0;
  for (auto _ : state) {
    auto t0 = Clock::now();
    stasis::persist::Snapshot snap =
        stasis::persist::freeze(w.s, {.container = {.compression = stasis::persist::Compression::kNone}});
    write_file(path, snap.bytes().data(), snap.bytes().size());
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - t0).count());
    file = snap.bytes().size();
  }
  report(state, n, w.stack_bytes(), file);
  std::filesystem::remove(path);
}

void BM_FreezeWriteMemcpy(benchmark::State& state) {
  const std::size_t n = tasklets();
  World w(n);
  const std::string path = temp_file("stasis-native-bench-base");
  const std::size_t total = w.stack_bytes();
  for (auto _ : state) {
    auto t0 = Clock::now();
    std::unique_ptr<char[]> buf(new char[total]);
    std::size_t at = 0;
    for (const auto& t : w.parked) {
      auto im = stasis::detail::native_image(*t);
      std::memcpy(buf.get() + at, im.stack.data(), im.stack.size());
      at += im.stack.size();
    }
    write_file(path, buf.get(), total);
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  report(state, n, total, total);
  std::filesystem::remove(path);
}

void BM_ReadThawStasis(benchmark::State& state) {
  const std::size_t n = tasklets();
  const std::string path = temp_file("stasis-native-bench-thaw");
  std::size_t stack_bytes = 0;
  {
    World w(n);
    stack_bytes = w.stack_bytes();
    stasis::persist::Snapshot snap =
        stasis::persist::freeze(w.s, {.container = {.compression = stasis::persist::Compression::kNone}});
    write_file(path, snap.bytes().data(), snap.bytes().size());
  }  // the world ends: its stack region is free again for the restore
  std::size_t file = 0;
  for (auto _ : state) {
    stasis::Scheduler s;
    auto t0 = Clock::now();
    stasis::persist::Snapshot snap(read_file(path));
    stasis::persist::Thawed restored = stasis::persist::thaw(snap, s, {.allow_native = true});
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - t0).count());
    file = snap.bytes().size();
    benchmark::DoNotOptimize(restored.tasklets().size());
  }
  report(state, n, stack_bytes, file);
  std::filesystem::remove(path);
}

void BM_ReadThawMemcpy(benchmark::State& state) {
  const std::size_t n = tasklets();
  const std::string path = temp_file("stasis-native-bench-read");
  std::size_t total = 0;
  std::vector<std::size_t> sizes;
  {
    World w(n);
    for (const auto& t : w.parked) sizes.push_back(stasis::detail::native_image(*t).stack.size());
    total = w.stack_bytes();
    std::string bytes(total, '\1');
    write_file(path, bytes.data(), bytes.size());
  }
  for (auto _ : state) {
    auto t0 = Clock::now();
    std::string bytes = read_file(path);
    std::vector<std::unique_ptr<char[]>> stacks;
    stacks.reserve(n);
    std::size_t at = 0;
    for (std::size_t sz : sizes) {
      stacks.emplace_back(new char[sz]);
      std::memcpy(stacks.back().get(), bytes.data() + at, sz);
      at += sz;
    }
    state.SetIterationTime(std::chrono::duration<double>(Clock::now() - t0).count());
    benchmark::DoNotOptimize(stacks.data());
  }
  report(state, n, total, total);
  std::filesystem::remove(path);
}

}  // namespace

BENCHMARK(BM_FreezeWriteStasis)->Name("native_persist/freeze_write/stasis")->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FreezeWriteMemcpy)->Name("native_persist/freeze_write/memcpy")->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ReadThawStasis)->Name("native_persist/read_thaw/stasis")->UseManualTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ReadThawMemcpy)->Name("native_persist/read_thaw/memcpy")->UseManualTime()->Unit(benchmark::kMillisecond);
