// migrating.cc — `epidemic migrate`: two nodes, half of the regions moved mid-run.
#include "migrating.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <fstream>
#include <stdexcept>
#include <vector>

#include "stasis/net.h"

namespace epidemic {
namespace {

namespace fs = std::filesystem;

// Node B as a child process: this program's `node serve`.
struct ChildNode {
  pid_t pid = -1;
  std::string address;
  // Where node B checkpoints what it still hosts when it is stopped (nothing, once
  // the run is over): a temp file, removed with the node.
  std::string checkpoint;
  ChildNode(const std::string& key_file)
      : checkpoint((std::filesystem::temp_directory_path() / ("epidemic-node-" + std::to_string(getpid()) + ".stasis"))
                       .string()) {
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
    pid = fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      dup2(fds[1], STDOUT_FILENO);
      close(fds[0]);
      close(fds[1]);
      const char* argv[] = {"epidemic", "node", "serve", "--listen", "127.0.0.1:0", "--key-file",
                            key_file.c_str(), "--node-id", "B", "--checkpoint", checkpoint.c_str(), nullptr};
      execv("/proc/self/exe", const_cast<char**>(argv));
      _exit(127);
    }
    close(fds[1]);
    std::string line;
    char c;
    while (read(fds[0], &c, 1) == 1 && c != '\n') line += c;
    close(fds[0]);
    auto pos = line.find(" listening on ");
    if (pos == std::string::npos) throw std::runtime_error("node B did not start: " + line);
    address = line.substr(pos + 14);
  }
  ~ChildNode() {
    if (pid > 0) {
      kill(pid, SIGTERM);
      waitpid(pid, nullptr, 0);
    }
    std::error_code ignored;
    std::filesystem::remove(checkpoint, ignored);
  }
};

std::string single_process_result(const RunOptions& run) {
  World world(run.config);
  stasis::Scheduler sched;
  stasis::TaskletRef aggregator = world.spawn(sched);
  sched.run();
  return result_of(aggregator);
}

}  // namespace

int cmd_migrate(const RunOptions& run, const MigrateOptions& options) {
  std::string key_file = options.key_file;
  std::optional<fs::path> own_key;
  if (key_file.empty()) {
    own_key = fs::temp_directory_path() / ("epidemic-migrate-" + std::to_string(getpid()) + ".key");
    std::ifstream rnd("/dev/urandom", std::ios::binary);
    char buf[32];
    rnd.read(buf, sizeof buf);
    std::ofstream(*own_key, std::ios::binary).write(buf, sizeof buf);
    key_file = own_key->string();
  }
  std::fprintf(stderr, "single-process run for comparison...\n");
  const std::string expected = single_process_result(run);

  std::optional<ChildNode> child;
  std::string node_b = options.node;
  if (node_b.empty()) {
    child.emplace(key_file);
    node_b = child->address;
  }
  int code = 1;
  {
    World world(run.config);  // outlives the scheduler and the host: the channels stay home here
    stasis::Scheduler sched;
    stasis::net::HostOptions ho;
    ho.listen = options.listen;
    ho.node_id = "A";
    stasis::net::Host host(sched, stasis::net::SharedKey::from_file(key_file), ho);
    std::vector<stasis::TaskletRef> regions;
    stasis::TaskletRef aggregator = world.spawn(sched, run.spawn_shuffle, &regions);
    const std::int64_t half = run.config.steps / 2;
    run_in_slices(sched, run.slice ? run.slice : 200, [&](stasis::Scheduler&) { return completed_steps(aggregator) < half; });

    std::vector<stasis::TaskletRef> east;
    for (std::int64_t i = 0; i < run.config.regions(); ++i) {
      const stasis::TaskletRef& r = regions[static_cast<std::size_t>(i)];
      if (i % run.config.width >= run.config.width / 2 && r->alive()) east.push_back(r);
    }
    const auto start = std::chrono::steady_clock::now();
    host.migrate(std::span<const stasis::TaskletRef>(east), node_b);
    const std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - start;
    std::fprintf(stderr, "node A (%s): step %lld of %lld, migrated %zu of %lld regions to node B (%s) in %.1f ms\n",
                 host.address().c_str(), static_cast<long long>(completed_steps(aggregator)),
                 static_cast<long long>(run.config.steps), east.size(), static_cast<long long>(run.config.regions()),
                 node_b.c_str(), took.count());
    std::fprintf(stderr, "node B hosts %zu tasklets; running on two nodes...\n", host.status(node_b).tasklets.size());
    host.run_until([&] { return !aggregator->alive(); });
    const std::string result = result_of(aggregator);
    std::printf("result: %s\n", result.c_str());
    std::printf("single-process result: %s\n", expected.c_str());
    std::printf("%s\n", result == expected ? "OK: the two-node run matches the single-process run"
                                           : "MISMATCH: the two-node run differs");
    code = result == expected ? 0 : 1;
  }
  child.reset();
  if (own_key) fs::remove(*own_key);
  return code;
}

}  // namespace epidemic
