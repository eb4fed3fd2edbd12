// node_main.cc — the stasis-node command line (serve, status) over Host.
#include "stasis/net/node_main.h"

#include <CLI/CLI.hpp>

#include <csignal>
#include <iostream>
#include <string>

#include "stasis/net/host.h"
#include "stasis/persist/snapshot.h"

namespace stasis::net {
namespace {

// --fault KIND[@N] (tests): refuse | die-on-accept | die-after-commit, at the N-th
// incoming migration (every one without @N).
std::function<void(std::string_view)> fault_hook_of(const std::string& spec) {
  if (spec.empty()) return {};
  std::string kind = spec;
  int at = 0;
  if (auto pos = spec.find('@'); pos != std::string::npos) {
    kind = spec.substr(0, pos);
    at = std::stoi(spec.substr(pos + 1));
  }
  if (kind != "refuse" && kind != "die-on-accept" && kind != "die-after-commit") {
    throw CLI::ValidationError("--fault", "unknown fault '" + kind + "' (refuse, die-on-accept, die-after-commit)");
  }
  auto count = std::make_shared<int>(0);
  return [kind, at, count](std::string_view phase) {
    if (phase == "accept") ++*count;
    if (at != 0 && *count != at) return;
    if (phase == "accept" && kind == "refuse") throw MigrationRefused("this node refuses migrations (--fault refuse)");
    if ((phase == "accept" && kind == "die-on-accept") || (phase == "committed" && kind == "die-after-commit")) {
      std::raise(SIGKILL);
    }
  };
}

int serve(const std::string& listen, const std::string& key_file, const std::string& node_id,
          const std::string& checkpoint, const std::string& restore, const std::string& fault,
          std::size_t max_message_bytes) {
  Scheduler sched;
  HostOptions options;
  options.listen = listen;
  options.node_id = node_id;
  options.fault_hook = fault_hook_of(fault);
  options.max_message_bytes = max_message_bytes;
  Host host(sched, SharedKey::from_file(key_file), options);
  const std::string file = checkpoint.empty() ? "stasis-node-" + std::to_string(::getpid()) + ".stasis" : checkpoint;
  bool terminated = false;
  for (int sig : {SIGTERM, SIGINT}) {
    host.on_signal(sig, [&] {
      terminated = true;
      host.stop();
    });
  }
  persist::Thawed restored;
  if (!restore.empty()) {
    // The node's own checkpoint (or one the operator hands it): native tasklets in
    // it restore only in this very build, which thaw checks.
    persist::ThawOptions o;
    o.allow_native = true;
    restored = persist::thaw(persist::Snapshot::read(restore), sched, o);
    for (const TaskletRef& t : restored.tasklets()) host.adopt(t);
    std::cout << "stasis-node " << host.node_id() << " restored " << restored.tasklets().size() << " tasklets from "
              << restore << std::endl;
  }
  std::cout << "stasis-node " << host.node_id() << " listening on " << host.address() << std::endl;
  while (!terminated) {
    try {
      host.run();
    } catch (const Error& e) {
      // A hosted tasklet's failure nobody waits for, a deadlock report: the node
      // goes on serving the others.
      std::cerr << "stasis-node " << host.node_id() << ": " << e.what() << std::endl;
    }
  }
  std::size_t n = host.checkpoint(file);
  std::cout << "stasis-node " << host.node_id() << ": checkpointed " << n << " tasklets to " << file
            << "; shutting down" << std::endl;
  return 0;
}

int status(const std::string& connect, const std::string& key_file) {
  Scheduler sched;
  HostOptions options;
  options.listen = "127.0.0.1:0";
  Host host(sched, SharedKey::from_file(key_file), options);
  NodeStatus s = host.status(connect);
  std::cout << "node " << s.node_id << " hosts " << s.tasklets.size() << " tasklets\n";
  for (const TaskletStatus& t : s.tasklets) {
    std::cout << "  #" << t.id << " '" << t.name << "' " << t.state;
    if (!t.wait.empty()) std::cout << " (" << t.wait << ")";
    if (!t.result.empty()) std::cout << " result " << t.result;
    std::cout << "\n";
  }
  return 0;
}

}  // namespace

int node_main(int argc, char** argv) {
  CLI::App app{"stasis-node: hosts Stasis tasklets that migrate between processes and hosts"};
  app.require_subcommand(1);
  std::string listen = "127.0.0.1:7470", key_file, node_id, checkpoint, restore, fault, connect;
  std::size_t max_message_bytes = HostOptions{}.max_message_bytes;
  auto* serve_cmd = app.add_subcommand("serve", "host tasklets until SIGTERM, then checkpoint them");
  serve_cmd->add_option("--listen", listen, "ADDR:PORT to listen on (port 0: any free port)")->capture_default_str();
  serve_cmd->add_option("--key-file", key_file, "the shared key file (same on every node)")
      ->required()
      ->check(CLI::ExistingFile);
  serve_cmd->add_option("--node-id", node_id, "this node's id (default: its address)");
  serve_cmd->add_option("--checkpoint", checkpoint, "where SIGTERM checkpoints the hosted tasklets");
  serve_cmd->add_option("--restore", restore, "a checkpoint to restore and host at start")->check(CLI::ExistingFile);
  serve_cmd->add_option("--max-message-bytes", max_message_bytes, "largest message accepted from a peer")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{4096}, std::size_t{1} << 32));
  serve_cmd->add_option("--fault", fault, "fault injection for tests: refuse|die-on-accept|die-after-commit[@N]")
      ->group("");
  auto* status_cmd = app.add_subcommand("status", "list the tasklets a node hosts");
  status_cmd->add_option("--connect", connect, "the node's ADDR:PORT")->required();
  status_cmd->add_option("--key-file", key_file, "the shared key file")->required()->check(CLI::ExistingFile);
  CLI11_PARSE(app, argc, argv);
  try {
    if (serve_cmd->parsed()) return serve(listen, key_file, node_id, checkpoint, restore, fault, max_message_bytes);
    return status(connect, key_file);
  } catch (const CLI::Error& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::cerr << "stasis-node: " << e.what() << std::endl;
    return 1;
  }
}

}  // namespace stasis::net
