// checkpointed.cc — `epidemic checkpointed` and `epidemic demo` (see checkpointed.h).
#include "checkpointed.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "stasis/persist.h"

namespace epidemic {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string megabytes(std::size_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f MB", static_cast<double>(bytes) / 1e6);
  return buf;
}

// The progress line: steps done, tasklets, the newest checkpoint, wall time.
void print_progress(const stasis::TaskletRef& aggregator, const stasis::Scheduler& sched,
                    const std::optional<stasis::persist::CheckpointInfo>& last, Clock::time_point start) {
  const Aggregator* a = aggregator_frame(aggregator);
  if (!a) return;
  std::string ckpt = "no checkpoint yet";
  if (last) {
    ckpt = "checkpoint #" + std::to_string(last->sequence) + " " + megabytes(last->stats.file_bytes) + " (" +
           std::to_string(last->freeze_time.count() / 1000) + "+" + std::to_string(last->write_time.count() / 1000) +
           " ms)";
  }
  double secs = std::chrono::duration<double>(Clock::now() - start).count();
  std::fprintf(stderr, "step %" PRId64 "/%" PRId64 " | %zu tasklets | %.1fM frame steps | %s | %.1f s\n",
               a->next_step, a->steps, sched.alive_count(), static_cast<double>(sched.steps()) / 1e6, ckpt.c_str(),
               secs);
}

stasis::persist::WritePhase parse_phase(const std::string& name) {
  using stasis::persist::WritePhase;
  for (WritePhase p : {WritePhase::kTempCreated, WritePhase::kWriting, WritePhase::kSynced, WritePhase::kRenamed,
                       WritePhase::kDone}) {
    if (name == stasis::persist::to_string(p)) return p;
  }
  throw std::invalid_argument("--die-in-write: unknown phase '" + name +
                              "' (temp-created, writing, synced, renamed, done)");
}

}  // namespace

int cmd_checkpointed(const RunOptions& opts) {
  using namespace stasis::persist;
  // Both own the channels the frames point at: declared before the scheduler, so
  // they outlive its tasklets.
  std::optional<Resumed> resumed;
  std::unique_ptr<World> world;
  stasis::Scheduler sched;
  const auto start = Clock::now();

  CheckpointOptions co;
  co.every_steps = opts.every_steps;
  co.every_time = std::chrono::milliseconds(opts.every_ms);
  co.slice_steps = opts.slice ? opts.slice : 20000;
  co.keep = static_cast<std::size_t>(opts.keep);
  co.container.compression = opts.zstd ? Compression::kAuto : Compression::kNone;
  co.on_checkpoint = [](const CheckpointInfo& i) {
    std::fprintf(stderr, "checkpoint #%" PRIu64 " written: %s, %zu tasklets, %zu channels, %s%s, frozen in %" PRId64
                         " ms, written in %" PRId64 " ms\n",
                 i.sequence, i.path.filename().c_str(), i.stats.tasklets, i.stats.channels,
                 megabytes(i.stats.file_bytes).c_str(), i.stats.compressed ? " (zstd)" : "",
                 static_cast<std::int64_t>(i.freeze_time.count() / 1000),
                 static_cast<std::int64_t>(i.write_time.count() / 1000));
  };
  if (opts.die_checkpoint > 0) {
    WritePhase die_phase = parse_phase(opts.die_phase);
    auto writes = std::make_shared<std::int64_t>(0);
    co.write_observer = [writes, die_phase, n = opts.die_checkpoint](WritePhase p, std::size_t) {
      if (p == WritePhase::kTempCreated) ++*writes;
      if (*writes == n && p == die_phase) raise(SIGKILL);
    };
  }

  stasis::TaskletRef aggregator;
  resumed = Checkpointer::resume(sched, opts.dir, co);
  if (resumed) {
    aggregator = resumed->thawed.find("aggregator");
    if (!aggregator) throw stasis::Error(resumed->info.path.string() + " holds no tasklet named 'aggregator'");
    std::fprintf(stderr, "resumed from %s: %zu tasklets, %zu channels, at step %" PRId64 "\n",
                 resumed->info.path.c_str(), resumed->thawed.tasklets().size(), resumed->thawed.channels().size(),
                 completed_steps(aggregator));
  } else {
    world = std::make_unique<World>(opts.config);
    aggregator = world->spawn(sched, opts.spawn_shuffle);
    std::fprintf(stderr, "fresh start: %" PRId64 " tasklets, checkpoints in %s\n", opts.config.regions() + 1,
                 opts.dir.c_str());
  }

  Checkpointer* ck_ptr = nullptr;
  auto last_print = Clock::now() - std::chrono::seconds(1);
  co.between_slices = [&](stasis::Scheduler& s) {
    if (Clock::now() - last_print < std::chrono::milliseconds(500)) return;
    last_print = Clock::now();
    print_progress(aggregator, s, ck_ptr->last(), start);
  };
  Checkpointer ck(sched, opts.dir, co);
  ck_ptr = &ck;
  ck.run();

  std::printf("result: %s\n", result_of(aggregator).c_str());
  std::fflush(stdout);
  std::fprintf(stderr, "finished in %.2f s with %" PRIu64 " checkpoints written by this process\n",
               std::chrono::duration<double>(Clock::now() - start).count(), ck.checkpoints_written());
  return 0;
}

namespace {

// A child process running this program, its stdout and stderr merged into a pipe.
struct Child {
  pid_t pid = -1;
  int out = -1;
};

Child start_child(const std::vector<std::string>& args) {
  int fds[2];
  if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
  pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    dup2(fds[1], STDERR_FILENO);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> argv;
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv("/proc/self/exe", argv.data());
    std::perror("exec");
    _exit(127);
  }
  close(fds[1]);
  return {pid, fds[0]};
}

// Streams the child's lines to `on_line` until it exits; returns its wait status.
int follow(const Child& c, const std::function<void(const std::string&)>& on_line) {
  FILE* in = fdopen(c.out, "r");
  char* line = nullptr;
  std::size_t cap = 0;
  ssize_t n;
  while ((n = getline(&line, &cap, in)) > 0) {
    std::string s(line, static_cast<std::size_t>(n));
    if (!s.empty() && s.back() == '\n') s.pop_back();
    on_line(s);
  }
  std::free(line);
  std::fclose(in);
  int status = 0;
  waitpid(c.pid, &status, 0);
  return status;
}

std::string describe_status(int status) {
  if (WIFSIGNALED(status)) {
    return std::string("was killed by ") + (WTERMSIG(status) == SIGKILL ? "SIGKILL" : strsignal(WTERMSIG(status)));
  }
  return "exit code " + std::to_string(WEXITSTATUS(status));
}

}  // namespace

int cmd_demo(const RunOptions& opts, int argc, char** argv) {
  std::string dir = opts.dir;
  if (dir.empty()) {
    char tmpl[] = "/tmp/stasis-demo-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    dir = tmpl;
  } else if (!stasis::persist::Checkpointer::list(dir).empty()) {
    throw std::invalid_argument("demo: " + dir + " already holds checkpoints; give an empty or new --dir");
  }
  // Forward the simulation options; the demo sets --dir and runs quietly.
  std::vector<std::string> forwarded;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--dir" || a == "--kill-at") {
      ++i;
      continue;
    }
    forwarded.push_back(a);
  }
  const Config& c = opts.config;
  std::printf("Stasis demo: an epidemic on a %" PRId64 "x%" PRId64 " torus, %" PRId64
              " soft tasklets talking over %" PRId64 " channels, %" PRId64 " steps, seed %" PRIu64 ".\n"
              "Checkpoints every %" PRIu64 " frame steps in %s.\n\n",
              c.width, c.height, c.regions() + 1, c.regions() * 4 + 1, c.steps, c.seed, opts.every_steps, dir.c_str());
  std::fflush(stdout);

  std::vector<std::string> run_args = {argv[0], "checkpointed", "--dir", dir};
  run_args.insert(run_args.end(), forwarded.begin(), forwarded.end());
  const std::int64_t kill_step = (c.steps * opts.kill_at_percent + 99) / 100;

  // 1. The run that gets killed.
  std::printf("== run 1: checkpointed; SIGKILL once step %" PRId64 " is reached\n", kill_step);
  std::fflush(stdout);
  Child first = start_child(run_args);
  bool checkpoint_seen = false, killed = false;
  std::int64_t killed_at = -1;
  int status = follow(first, [&](const std::string& line) {
    std::printf("   run 1 | %s\n", line.c_str());
    std::fflush(stdout);
    if (line.rfind("checkpoint #", 0) == 0) checkpoint_seen = true;
    std::int64_t step = 0, total = 0;
    if (!killed && checkpoint_seen && std::sscanf(line.c_str(), "step %" SCNd64 "/%" SCNd64, &step, &total) == 2 &&
        step >= kill_step) {
      kill(first.pid, SIGKILL);
      killed = true;
      killed_at = step;
    }
  });
  if (killed) {
    std::printf("== run 1 %s at step %" PRId64 "; checkpoints on disk:", describe_status(status).c_str(), killed_at);
    for (const auto& p : stasis::persist::Checkpointer::list(dir)) std::printf(" %s", p.filename().c_str());
    std::printf("\n\n");
  } else {
    std::printf("== run 1 ended (%s) before it could be killed; run 2 resumes from its last checkpoint\n\n",
                describe_status(status).c_str());
  }

  // 2. A new process resumes from the newest checkpoint and finishes.
  std::printf("== run 2: a new process resumes from the newest checkpoint\n");
  std::fflush(stdout);
  std::string resumed_result;
  status = follow(start_child(run_args), [&](const std::string& line) {
    std::printf("   run 2 | %s\n", line.c_str());
    std::fflush(stdout);
    if (line.rfind("result: ", 0) == 0) resumed_result = line.substr(8);
  });
  if (status != 0) {
    std::printf("== run 2 failed: %s\n", describe_status(status).c_str());
    return 1;
  }

  // 3. The uninterrupted reference.
  std::printf("\n== run 3: the same simulation, uninterrupted, no checkpoints\n");
  std::fflush(stdout);
  std::vector<std::string> ref_args = {argv[0], "run", "--quiet"};
  for (const std::string& a : forwarded) ref_args.push_back(a);
  std::string reference;
  status = follow(start_child(ref_args), [&](const std::string& line) {
    std::printf("   run 3 | %s\n", line.c_str());
    if (line.rfind("result: ", 0) == 0) reference = line.substr(8);
  });
  if (status != 0 || reference.empty()) {
    std::printf("== run 3 failed: %s\n", describe_status(status).c_str());
    return 1;
  }

  std::printf("\nkilled and resumed: %s\nuninterrupted:      %s\n", resumed_result.c_str(), reference.c_str());
  if (resumed_result == reference) {
    // stasis-dump sits next to the samples in a build tree; name it by its path then.
    std::error_code ec;
    fs::path dump = fs::read_symlink("/proc/self/exe", ec).parent_path() / "../../tools/stasis-dump/stasis-dump";
    std::string dump_cmd = !ec && fs::exists(dump) ? fs::weakly_canonical(dump).string() : "stasis-dump";
    std::vector<fs::path> files = stasis::persist::Checkpointer::list(dir);
    std::string newest = files.empty() ? dir : files.front().string();
    std::printf("SAME RESULT: the run killed with SIGKILL and resumed from a checkpoint in a new process\n"
                "ended exactly like the uninterrupted run. Inspect a checkpoint with:\n"
                "  %s info %s\n  %s tasklets --limit 10 %s\n",
                dump_cmd.c_str(), newest.c_str(), dump_cmd.c_str(), newest.c_str());
    return 0;
  }
  std::printf("DIFFERENT RESULTS: resume did not reproduce the uninterrupted run\n");
  return 1;
}

}  // namespace epidemic
