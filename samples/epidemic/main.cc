// epidemic — the main demo: an agent-based epidemic on a torus of regions, one
// soft tasklet per region (10,000 by default), talking over channels.
//
//   epidemic run [--size N | --width W --height H] [--steps S] [--seed X]
//                [--population P] [--progress K] [--quiet] [--slice B]
//
// Prints "result: <line>" on stdout (the same line for the same options on every
// machine and for every slicing of the scheduler), progress lines and run
// statistics on stderr.
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>
#include <vector>

#include "checkpointed.h"
#ifdef EPIDEMIC_WITH_NET
#include "migrating.h"
#include "stasis/net/node_main.h"
#endif
#include "model.h"
#include "world.h"

namespace {

constexpr const char* kUsage =
    "usage: epidemic run [options]\n"
    "       epidemic checkpointed --dir D [options]\n"
    "       epidemic demo [--dir D] [options]\n"
    "       epidemic migrate [--node ADDR] [--key-file F] [--listen ADDR] [options]\n"
    "       epidemic node serve|status ... (stasis-node's command line, with the epidemic's frames)\n"
    "\n"
    "run           runs the simulation from a fresh start and prints its result line.\n"
    "checkpointed  runs it with crash-safe checkpoints in D, resuming from the newest\n"
    "              checkpoint there if any (kill it any time and run it again).\n"
    "demo          runs `checkpointed` in a child, kills it with SIGKILL halfway, resumes\n"
    "              it in another child, and compares the result with an uninterrupted run.\n"
    "migrate       runs on two nodes (this process and a node child, or --node ADDR), migrating\n"
    "              the eastern half of the regions mid-run; compares with a one-process run\n"
    "              (defaults: --size 16 --steps 60; docs/migration.md).\n"
    "\n"
    "options:\n"
    "  --size N             an N x N torus of regions (default 100: 10,000 tasklets)\n"
    "  --width W --height H a W x H torus\n"
    "  --steps S            simulation steps (default 300)\n"
    "  --seed X             random seed (default 1)\n"
    "  --population P       people per region (default 1000)\n"
    "  --progress K         a progress line on stderr every K steps (default 25; 0: none)\n"
    "  --quiet              no progress lines\n"
    "  --slice B            run the scheduler in slices of B frame steps (default 0: to the end at once;\n"
    "                       checkpointed and demo: 20000)\n"
    "\n"
    "model parameters (probabilities per step in 1/65536ths):\n"
    "  --beta Q             infections per infected contact (default 19661 = 0.30)\n"
    "  --gamma Q            recovery probability (default 6554 = 0.10)\n"
    "  --omega Q            probability that immunity wanes (default 655 = 0.01)\n"
    "  --coupling Q         weight of a neighbour's infected against a local one (default 16384 = 0.25)\n"
    "  --outbreaks N        outbreak sites, 5 infected each (default 3)\n"
    "\n"
    "schedule perturbations (the result must not change):\n"
    "  --spawn-shuffle X    spawn the regions in an order shuffled by X (default 0: index order)\n"
    "  --report-capacity C  buffer of the aggregator's channel (default 0: one per region)\n"
    "\n"
    "checkpoints (checkpointed, demo):\n"
    "  --dir D              checkpoint directory (demo default: a new temporary directory)\n"
    "  --every-steps N      a checkpoint every N frame steps (default 2000000; 0: off)\n"
    "  --every-ms T         a checkpoint every T ms of wall time (default 0: off)\n"
    "  --keep K             keep the newest K checkpoints (default 3)\n"
    "  --no-zstd            store checkpoints uncompressed\n"
    "  --kill-at P          demo: kill the first run once P% of the steps are done (default 50)\n"
    "  --die-in-write N:PHASE  test hook: SIGKILL itself when its N-th checkpoint write\n"
    "                       reaches PHASE (temp-created, writing, synced, renamed, done)\n";

using epidemic::RunOptions;

// Parses a decimal integer in lo..hi.
bool parse_int(std::string_view text, std::int64_t lo, std::int64_t hi, std::int64_t& out) {
  if (text.empty() || text.front() == '+' || std::isspace(static_cast<unsigned char>(text.front()))) return false;
  const std::string copy(text);  // NUL-terminated, alive while `end` points into it
  char* end = nullptr;
  errno = 0;
  long long v = std::strtoll(copy.c_str(), &end, 10);
  if (errno != 0 || *end != '\0' || v < lo || v > hi) return false;
  out = v;
  return true;
}

// Parses a decimal 64-bit unsigned integer.
bool parse_seed(std::string_view text, std::uint64_t& out) {
  if (text.empty() || !std::isdigit(static_cast<unsigned char>(text.front()))) return false;
  const std::string copy(text);
  char* end = nullptr;
  errno = 0;
  unsigned long long v = std::strtoull(copy.c_str(), &end, 10);
  if (errno != 0 || *end != '\0') return false;
  out = v;
  return true;
}

// Parses argv[first..argc) into `opts`. Returns an empty string, or the error.
std::string parse_run_options(int first, int argc, char** argv, RunOptions& opts) {
  epidemic::Config& c = opts.config;
  for (int i = first; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--quiet") {
      c.progress_every = 0;
      continue;
    }
    if (arg == "-h" || arg == "--help") return "help";
    auto value = [&](std::int64_t lo, std::int64_t hi, std::int64_t& out) -> std::string {
      if (i + 1 >= argc) return std::string(arg) + " needs a value";
      std::string_view text = argv[++i];
      if (!parse_int(text, lo, hi, out)) {
        return std::string(arg) + ": '" + std::string(text) + "' is not an integer in " + std::to_string(lo) +
               ".." + std::to_string(hi);
      }
      return {};
    };
    std::string e;
    std::int64_t v = 0;
    if (arg == "--size") {
      if ((e = value(1, 100000, v)).empty()) c.width = c.height = v;
    } else if (arg == "--width") {
      e = value(1, 100000, c.width);
    } else if (arg == "--height") {
      e = value(1, 100000, c.height);
    } else if (arg == "--steps") {
      e = value(1, 1000000000, c.steps);
    } else if (arg == "--seed") {
      if (i + 1 >= argc) {
        e = "--seed needs a value";
      } else {
        std::string_view text = argv[++i];
        if (!parse_seed(text, c.seed)) e = "--seed: '" + std::string(text) + "' is not an unsigned 64-bit integer";
      }
    } else if (arg == "--population") {
      e = value(1, 1000000, c.population);
    } else if (arg == "--progress") {
      e = value(0, 1000000000, c.progress_every);
    } else if (arg == "--slice") {
      if ((e = value(0, INT64_MAX, v)).empty()) opts.slice = static_cast<std::uint64_t>(v);
    } else if (arg == "--beta") {
      e = value(0, epidemic::kOne, c.beta_q16);
    } else if (arg == "--gamma") {
      e = value(0, epidemic::kOne, c.gamma_q16);
    } else if (arg == "--omega") {
      e = value(0, epidemic::kOne, c.omega_q16);
    } else if (arg == "--coupling") {
      e = value(0, epidemic::kOne, c.coupling_q16);
    } else if (arg == "--outbreaks") {
      e = value(0, INT64_MAX, c.outbreaks);
    } else if (arg == "--spawn-shuffle") {
      if ((e = value(0, INT64_MAX, v)).empty()) opts.spawn_shuffle = static_cast<std::uint64_t>(v);
    } else if (arg == "--report-capacity") {
      if ((e = value(0, INT64_MAX, v)).empty()) c.report_capacity = static_cast<std::size_t>(v);
    } else if (arg == "--dir") {
      if (i + 1 >= argc) e = "--dir needs a value"; else opts.dir = argv[++i];
    } else if (arg == "--every-steps") {
      if ((e = value(0, INT64_MAX, v)).empty()) opts.every_steps = static_cast<std::uint64_t>(v);
    } else if (arg == "--every-ms") {
      e = value(0, INT64_MAX, opts.every_ms);
    } else if (arg == "--keep") {
      e = value(1, 1000, opts.keep);
    } else if (arg == "--no-zstd") {
      opts.zstd = false;
    } else if (arg == "--kill-at") {
      e = value(1, 99, opts.kill_at_percent);
    } else if (arg == "--die-in-write") {
      // N:PHASE
      if (i + 1 >= argc) {
        e = "--die-in-write needs N:PHASE";
      } else {
        std::string_view text = argv[++i];
        std::size_t colon = text.find(':');
        if (colon == std::string_view::npos || !parse_int(text.substr(0, colon), 1, INT64_MAX, opts.die_checkpoint)) {
          e = "--die-in-write: '" + std::string(text) + "' is not N:PHASE";
        } else {
          opts.die_phase = std::string(text.substr(colon + 1));
        }
      }
    } else {
      e = "unknown option '" + std::string(arg) + "'";
    }
    if (!e.empty()) return e;
  }
  return c.validate();
}

// Counts tasklet switches: how often the scheduler switched a tasklet in.
struct SwitchCounter {
  std::uint64_t switches = 0;
  explicit SwitchCounter(stasis::Scheduler& sched) {
    sched.add_switch_hook([this](stasis::Tasklet*, stasis::Tasklet* next) { switches += next != nullptr; });
  }
};

void print_stats(const stasis::Scheduler& sched, std::int64_t tasklets, const SwitchCounter& counter,
                 double seconds) {
  std::fprintf(stderr, "%" PRId64 " tasklets, %" PRIu64 " switches, %" PRIu64 " frame steps in %.3f s\n", tasklets,
               counter.switches, sched.steps(), seconds);
}

// `epidemic run`: a fresh, uninterrupted run.
int cmd_run(const RunOptions& opts) {
  epidemic::World world(opts.config);  // outlives the scheduler: its channels are the frames' channels
  stasis::Scheduler sched;
  SwitchCounter counter(sched);

  const auto start = std::chrono::steady_clock::now();
  stasis::TaskletRef aggregator = world.spawn(sched, opts.spawn_shuffle);
  if (opts.slice > 0) {
    epidemic::run_in_slices(sched, opts.slice, nullptr);
  } else {
    sched.run();
  }
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;

  std::printf("result: %s\n", epidemic::result_of(aggregator).c_str());
  std::fflush(stdout);
  print_stats(sched, opts.config.regions() + 1, counter, elapsed.count());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string_view command = argv[1];
  if (command == "-h" || command == "--help" || command == "help") {
    std::fputs(kUsage, stdout);
    return 0;
  }
#ifdef EPIDEMIC_WITH_NET
  if (command == "node") return stasis::net::node_main(argc - 1, argv + 1);
#endif
  try {
#ifdef EPIDEMIC_WITH_NET
    if (command == "migrate") {
      RunOptions opts;
      opts.config.width = opts.config.height = 16;
      opts.config.steps = 60;
      opts.config.progress_every = 0;
      epidemic::MigrateOptions mo;
      // Its own options first (--node, --key-file, --listen), the run options after.
      std::vector<char*> rest = {argv[0], argv[1]};
      for (int i = 2; i < argc; ++i) {
        std::string_view a = argv[i];
        if ((a == "--node" || a == "--key-file" || a == "--listen") && i + 1 < argc) {
          (a == "--node" ? mo.node : a == "--key-file" ? mo.key_file : mo.listen) = argv[++i];
        } else {
          rest.push_back(argv[i]);
        }
      }
      if (std::string e = parse_run_options(2, static_cast<int>(rest.size()), rest.data(), opts); !e.empty()) {
        std::fprintf(stderr, "epidemic migrate: %s (epidemic --help lists the options)\n", e.c_str());
        return 2;
      }
      return epidemic::cmd_migrate(opts, mo);
    }
#endif
    if (command == "run" || command == "checkpointed" || command == "demo") {
      RunOptions opts;
      if (command != "run") {
        opts.slice = 20000;
        opts.config.progress_every = 0;  // the checkpointed run prints its own progress lines
      }
      if (std::string e = parse_run_options(2, argc, argv, opts); !e.empty()) {
        if (e == "help") {
          std::fputs(kUsage, stdout);
          return 0;
        }
        std::fprintf(stderr, "epidemic %s: %s (epidemic --help lists the options)\n", argv[1], e.c_str());
        return 2;
      }
      if (command == "checkpointed") {
        if (opts.dir.empty()) {
          std::fprintf(stderr, "epidemic checkpointed: --dir is required\n");
          return 2;
        }
        return epidemic::cmd_checkpointed(opts);
      }
      if (command == "demo") return epidemic::cmd_demo(opts, argc, argv);
      return cmd_run(opts);
    }
    std::fprintf(stderr, "epidemic: unknown command '%s' (epidemic --help lists the commands)\n", argv[1]);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "epidemic: %s\n", e.what());
    return 1;
  }
}
