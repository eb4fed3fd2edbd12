// node_process.h — a node program running as a child process of a test.
//
// Starts `serve` on 127.0.0.1:0 with the given key file and extra arguments,
// reads the output until the node says where it listens, and owns the process:
// kill() sends SIGKILL, terminate() SIGTERM; the destructor kills and reaps it.
// Without a --checkpoint among the extra arguments, the node checkpoints (on
// SIGTERM) into a file of the temp dir that the destructor removes, not into the
// working directory.
// Built on the shared subprocess helpers (tests/support/subprocess.h).
#ifndef STASIS_TESTS_NET_NODE_PROCESS_H_
#define STASIS_TESTS_NET_NODE_PROCESS_H_

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "../support/subprocess.h"
#include "stasis/net/host.h"

namespace stasis::test {

class NodeProcess {
 public:
  NodeProcess(const std::string& program, const std::string& key_file, std::vector<std::string> extra = {}) {
    std::vector<std::string> argv = {program, "serve", "--listen", "127.0.0.1:0", "--key-file", key_file};
    argv.insert(argv.end(), extra.begin(), extra.end());
    if (std::find(extra.begin(), extra.end(), "--checkpoint") == extra.end()) {
      static int started = 0;
      own_checkpoint_ = (std::filesystem::temp_directory_path() /
                         ("stasis-net-" + std::to_string(::getpid()) + "-node-" + std::to_string(++started) + ".stasis"))
                            .string();
      argv.insert(argv.end(), {"--checkpoint", own_checkpoint_});
    }
    child_ = test_support::start_captured(argv);
    if (child_.pid < 0) throw std::runtime_error("cannot start " + program);
    // "stasis-node ID listening on ADDR\n"
    const std::string marker = " listening on ";
    char c;
    while (read(child_.output, &c, 1) == 1) {
      early_ += c;
      if (c != '\n') continue;
      auto pos = early_.find(marker);
      if (pos != std::string::npos) {
        address_ = early_.substr(pos + marker.size());
        address_ = address_.substr(0, address_.find('\n'));
        return;
      }
    }
    auto o = test_support::finish(child_);
    child_.pid = -1;
    throw std::runtime_error("node " + program + " did not start: " + early_ + o.output);
  }
  ~NodeProcess() {
    if (child_.pid > 0) {
      kill();
      wait();
    }
    if (!own_checkpoint_.empty()) {
      std::error_code ignored;
      std::filesystem::remove(own_checkpoint_, ignored);
    }
  }
  NodeProcess(const NodeProcess&) = delete;
  NodeProcess& operator=(const NodeProcess&) = delete;

  const std::string& address() const { return address_; }
  pid_t pid() const { return child_.pid; }
  void kill() const { ::kill(child_.pid, SIGKILL); }
  void terminate() const { ::kill(child_.pid, SIGTERM); }
  // Reaps the process; its whole output.
  test_support::Outcome wait() {
    auto o = test_support::finish(child_);
    child_.pid = -1;
    o.output = early_ + o.output;
    return o;
  }

 private:
  test_support::Child child_;
  std::string own_checkpoint_;  // the --checkpoint file this object chose, if it chose one
  std::string address_;
  std::string early_;
};

// Host options that keep the expected refusals out of the test log.
inline net::HostOptions quiet() {
  net::HostOptions o;
  o.log = [](const std::string&) {};
  return o;
}

// Runs `host` until the node at `address` reports the tasklet `name` finished
// (30 s at most); its rendered result, or "" with a test failure.
inline std::string finished_result(net::Host& host, const std::string& address, const std::string& name) {
  std::string result;
  bool done = host.run_until([&] {
    for (const auto& t : host.status(address).tasklets) {
      if (t.name == name && t.state == "finished") {
        result = t.result;
        return true;
      }
    }
    return false;
  }, std::chrono::seconds(30));
  EXPECT_TRUE(done) << name << " never finished at " << address;
  return result;
}

std::string make_key_file(const std::string& name, const std::string& content = "");

// The common set-up of a two-node test: a key file, node B as a child process
// running `program`, and node A in this process (a Host on `sched`).
struct TwoNodes {
  TwoNodes(const char* program, const std::string& key_name)
      : key(make_key_file(key_name)), b(program, key), a(sched, net::SharedKey::from_file(key), quiet()) {}
  std::string key;
  NodeProcess b;
  Scheduler sched;
  net::Host a;
};

// Files a test process made in the temp dir, removed when it exits (by the
// process that made them, not by a forked child that exits).
struct TempFiles {
  pid_t owner = ::getpid();
  std::vector<std::filesystem::path> paths;
  ~TempFiles() {
    if (::getpid() != owner) return;
    std::error_code ignored;
    for (const auto& p : paths) std::filesystem::remove(p, ignored);
  }
};
inline TempFiles& temp_files() {
  static TempFiles files;
  return files;
}

// A key file of 32 random bytes (or of `content`), under the test's temp dir,
// removed when the test process exits.
inline std::string make_key_file(const std::string& name, const std::string& content) {
  auto path = std::filesystem::temp_directory_path() / ("stasis-net-" + std::to_string(::getpid()) + "-" + name);
  temp_files().paths.push_back(path);
  std::ofstream out(path, std::ios::binary);
  if (content.empty()) {
    std::ifstream rnd("/dev/urandom", std::ios::binary);
    char buf[32];
    rnd.read(buf, sizeof buf);
    out.write(buf, sizeof buf);
  } else {
    out << content;
  }
  return path.string();
}

}  // namespace stasis::test

#endif  // STASIS_TESTS_NET_NODE_PROCESS_H_
