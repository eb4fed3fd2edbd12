// main.cc — mailserver: an SMTP-like line-protocol server on Stasis native tasklets.
//
//   mailserver [--listen ADDR:PORT] [--stack sliced|dedicated] [--max-connections N]
//              [--stats] [--verbose]
//
// One native tasklet per connection (sliced stacks by default), one accept loop and
// one signal tasklet, all on the main thread's scheduler; stasis::io parks them on
// Boost.Asio's reactor while they wait. Prints "listening on ADDR:PORT" once ready
// (port 0 picks a free port: read it from that line). SIGTERM or SIGINT stop it
// cleanly; with --stats it then prints
//   stats: connections=C messages=M recipients=R bytes=B errors=E refused=F
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <boost/asio/signal_set.hpp>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>

#include "mailbox.h"
#include "server.h"
#include "stasis/io.h"
#include "stasis/native.h"
#include "stasis/scheduler.h"

namespace {

namespace io = stasis::io;

struct Options {
  std::string listen = "127.0.0.1:0";
  mailserver::ServerOptions server;
  bool stats = false;
};

// Parses the command line (CLI11). Exits 0 after --help, 2 on a bad argument.
Options parse(int argc, char** argv) {
  Options o;
  std::string stack = "sliced";
  CLI::App app{"mailserver: an SMTP-like line-protocol server, one Stasis native tasklet per connection"};
  app.add_option("--listen", o.listen, "ADDR:PORT to listen on (port 0: any free port, printed)")
      ->capture_default_str();
  app.add_option("--stack", stack, "stacks of the connection tasklets: sliced or dedicated")->capture_default_str();
  app.add_option("--max-connections", o.server.max_connections, "connections served at once (more are refused)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_flag("--stats", o.stats, "print the counts on shutdown");
  app.add_flag("--verbose", o.server.verbose, "log each connection");
  try {
    app.parse(argc, argv);
    if (stack == "sliced") {
      o.server.stack = stasis::StackKind::kSliced;
    } else if (stack == "dedicated") {
      o.server.stack = stasis::StackKind::kDedicated;
    } else {
      throw CLI::ValidationError("--stack takes sliced or dedicated, not '" + stack + "'");
    }
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) std::exit(app.exit(e));
    std::fprintf(stderr, "mailserver: %s\n(see mailserver --help)\n", e.what());
    std::exit(2);
  }
  return o;
}

// A thousand connections need a thousand descriptors: take all the hard limit allows.
void raise_descriptor_limit() {
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options options = parse(argc, argv);
  raise_descriptor_limit();

  stasis::Scheduler scheduler;
  mailserver::Mailbox mailbox;
  std::unique_ptr<mailserver::Server> server;
  try {
    server = std::make_unique<mailserver::Server>(io::parse_endpoint(options.listen), &mailbox, options.server);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mailserver: cannot listen on %s: %s\n", options.listen.c_str(), e.what());
    return 1;
  }

  // On the heap: Asio links a waiting signal_set into its queues (the sliced-stack rule).
  auto signals = std::make_unique<boost::asio::signal_set>(io::context(), SIGTERM, SIGINT);
  stasis::spawn_native(
      [&] {
        int sig = signals->async_wait(io::use_tasklet);
        std::fprintf(stderr, "mailserver: signal %d, shutting down\n", sig);
        server->stop();
      },
      {.name = "signals"});
  server->start();

  io::tcp::endpoint ep = server->local_endpoint();
  std::cout << "listening on " << ep.address().to_string() << ":" << ep.port() << std::endl;

  try {
    scheduler.run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mailserver: %s\n", e.what());
    return 1;
  }

  if (options.stats) {
    const auto& m = mailbox.counts();
    const auto& c = server->counts();
    std::cout << "stats: connections=" << c.connections << " messages=" << m.messages << " recipients=" << m.recipients
              << " bytes=" << m.bytes << " errors=" << c.errors << " refused=" << c.refused << std::endl;
  }
  return 0;
}
