// checkpointer.cc — the slice loop, checkpoint files and resume (see checkpointer.h).
#include "stasis/persist/checkpointer.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <system_error>

namespace stasis::persist {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

constexpr const char* kSuffix = ".stasis";

// The sequence number of a checkpoint file name, or 0 if it is not one.
std::uint64_t sequence_of(const std::string& name, const std::string& prefix) {
  std::string head = prefix + "-";
  if (name.size() <= head.size() + std::strlen(kSuffix) || name.compare(0, head.size(), head) != 0) return 0;
  if (name.compare(name.size() - std::strlen(kSuffix), std::strlen(kSuffix), kSuffix) != 0) return 0;
  std::string digits = name.substr(head.size(), name.size() - head.size() - std::strlen(kSuffix));
  if (digits.empty() || digits.size() > 18 || !std::all_of(digits.begin(), digits.end(), ::isdigit)) return 0;
  return std::stoull(digits);
}

fs::path path_for(const fs::path& dir, const std::string& prefix, std::uint64_t seq) {
  char digits[32];
  std::snprintf(digits, sizeof digits, "%08llu", static_cast<unsigned long long>(seq));
  return dir / (prefix + "-" + digits + kSuffix);
}

void default_warning(const std::string& message) { std::fprintf(stderr, "stasis checkpoint: warning: %s\n", message.c_str()); }

// Removes ".PREFIX-*.stasis.tmp" leftovers of a crash mid-write.
void remove_stale_temporaries(const fs::path& dir, const std::string& prefix,
                              const std::function<void(const std::string&)>& warn) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (name.size() > 5 && name[0] == '.' && name.compare(name.size() - 4, 4, ".tmp") == 0 &&
        sequence_of(name.substr(1, name.size() - 5), prefix) != 0) {
      fs::remove(entry.path(), ec);
      warn("removed " + entry.path().string() + ", an unfinished checkpoint left by a crash");
    }
  }
}

}  // namespace

Checkpointer::Checkpointer(Scheduler& scheduler, std::filesystem::path dir, CheckpointOptions options)
    : scheduler_(scheduler), dir_(std::move(dir)), options_(std::move(options)) {
  if (options_.keep == 0) throw InvalidArgument("Checkpointer: keep must be at least 1");
  if (options_.slice_steps == 0) throw InvalidArgument("Checkpointer: slice_steps must be at least 1");
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) throw CheckpointError("cannot create checkpoint directory " + dir_.string() + ": " + ec.message());
  remove_stale_temporaries(dir_, options_.prefix, [this](const std::string& m) { warn(m); });
  std::vector<fs::path> existing = list(dir_, options_.prefix);
  if (!existing.empty()) next_sequence_ = sequence_of(existing.front().filename().string(), options_.prefix) + 1;
  next_step_mark_ = options_.every_steps ? scheduler_.steps() + options_.every_steps : UINT64_MAX;
  next_time_mark_ = Clock::now() + options_.every_time;
}

void Checkpointer::warn(const std::string& message) const {
  if (options_.on_warning) options_.on_warning(message); else default_warning(message);
}

bool Checkpointer::due() const noexcept {
  if (requested_.load(std::memory_order_relaxed)) return true;
  if (options_.every_steps && scheduler_.steps() >= next_step_mark_) return true;
  return options_.every_time.count() > 0 && Clock::now() >= next_time_mark_;
}

void Checkpointer::run() {
  for (;;) {
    TaskletRef interrupted = scheduler_.run(options_.slice_steps);
    if (!interrupted) return;  // idle: done
    if (due()) checkpoint(interrupted.get());
    if (options_.between_slices) options_.between_slices(scheduler_);
    interrupted->insert();
  }
}

CheckpointInfo Checkpointer::checkpoint(Tasklet* interrupted) {
  requested_.store(false, std::memory_order_relaxed);
  CheckpointInfo info;
  info.sequence = next_sequence_;
  info.path = path_for(dir_, options_.prefix, info.sequence);
  info.steps = scheduler_.steps();
  auto t0 = Clock::now();
  Snapshot snap = freeze(scheduler_, {.container = options_.container,
                                      .note = "checkpoint " + std::to_string(info.sequence),
                                      .interrupted = interrupted});
  auto t1 = Clock::now();
  write_file_atomically(info.path, snap.bytes(), options_.write_observer);
  auto t2 = Clock::now();
  info.stats = snap.stats();
  info.freeze_time = std::chrono::duration_cast<std::chrono::microseconds>(t1 - t0);
  info.write_time = std::chrono::duration_cast<std::chrono::microseconds>(t2 - t1);
  ++next_sequence_;
  ++written_;
  if (options_.every_steps) {
    while (next_step_mark_ <= info.steps) next_step_mark_ += options_.every_steps;
  }
  next_time_mark_ = Clock::now() + options_.every_time;
  // Drop the oldest beyond `keep`: the new file is durable, so they are not needed.
  std::vector<fs::path> files = list(dir_, options_.prefix);
  std::error_code ec;
  for (std::size_t i = options_.keep; i < files.size(); ++i) fs::remove(files[i], ec);
  last_ = info;
  if (options_.on_checkpoint) options_.on_checkpoint(info);
  return info;
}

std::vector<std::filesystem::path> Checkpointer::list(const std::filesystem::path& dir, const std::string& prefix) {
  std::vector<std::pair<std::uint64_t, fs::path>> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    if (std::uint64_t seq = sequence_of(entry.path().filename().string(), prefix)) found.emplace_back(seq, entry.path());
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<fs::path> out;
  out.reserve(found.size());
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

std::optional<Resumed> Checkpointer::resume(Scheduler& scheduler, const std::filesystem::path& dir,
                                            const CheckpointOptions& options, const ThawOptions& thaw_options) {
  auto warn = [&](const std::string& m) {
    if (options.on_warning) options.on_warning(m); else default_warning(m);
  };
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return std::nullopt;
  remove_stale_temporaries(dir, options.prefix, warn);
  std::vector<fs::path> files = list(dir, options.prefix);
  if (files.empty()) return std::nullopt;
  std::vector<std::string> skipped;
  for (const fs::path& file : files) {
    try {
      ThawOptions o = thaw_options;
      o.source_name = file.string();
      Snapshot snap = Snapshot::read(file, o.limits);
      Resumed r{thaw(snap, scheduler, o), {}, std::move(skipped)};
      r.info.path = file;
      r.info.sequence = sequence_of(file.filename().string(), options.prefix);
      r.info.steps = scheduler.steps();
      if (r.thawed.interrupted()) r.thawed.interrupted()->insert();
      return r;
    } catch (const SnapshotError& e) {
      skipped.push_back(file.string() + ": " + e.what());
    } catch (const CheckpointError& e) {
      skipped.push_back(file.string() + ": " + e.what());
    }
    warn("skipping checkpoint " + skipped.back());
  }
  std::string msg = "no checkpoint in " + dir.string() + " could be restored:";
  for (const std::string& s : skipped) msg += "\n  " + s;
  throw CheckpointError(msg);
}

}  // namespace stasis::persist
