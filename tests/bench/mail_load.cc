// mail_load.cc — load generator for the mail server comparison
// (tests/bench/mail_throughput.py): N persistent connections, each a native
// tasklet on stasis::io, running mail transactions back to back.
//
//   stasis_mail_load --connect ADDR:PORT [--connections 1000] [--seconds 5]
//                    [--warmup 1] [--stack sliced|dedicated]
//
// Every connection: greeting, HELO, then MAIL, RCPT, DATA, message + "." (four
// request/reply round trips, one message) until the measuring window ends, then
// QUIT. No pipelining: each command waits for its reply, and each reply's code
// is checked. Counts only what completes inside the window (after the warmup) and
// prints one JSON object:
//   {"connections":..,"seconds":..,"commands":..,"messages":..,
//    "commands_per_sec":..,"messages_per_sec":..,"errors":..,"connected":..}
// The generator is the same program for every server, so its own cost is the same
// in every figure.
#include <sys/resource.h>

#include <CLI/CLI.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "stasis/io.h"
#include "stasis/native.h"
#include "stasis/scheduler.h"

namespace {

namespace io = stasis::io;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string connect;
  int connections = 1000;
  double seconds = 5;
  double warmup = 1;
  stasis::StackKind stack = stasis::StackKind::kSliced;
};

struct Load {
  bool measuring = false;
  bool stopping = false;
  long commands = 0, messages = 0, errors = 0, connected = 0;
};

// Parses the command line (CLI11). Exits 0 after --help, 2 on a bad argument.
Options parse(int argc, char** argv) {
  Options o;
  std::string stack = "sliced";
  CLI::App app{"stasis_mail_load: N client tasklets running mail transactions against a server"};
  app.add_option("--connect", o.connect, "the server's ADDR:PORT")->required();
  app.add_option("--connections", o.connections, "concurrent connections")->check(CLI::PositiveNumber);
  app.add_option("--seconds", o.seconds, "measured duration")->check(CLI::PositiveNumber);
  app.add_option("--warmup", o.warmup, "unmeasured warm-up")->check(CLI::NonNegativeNumber);
  app.add_option("--stack", stack, "client stacks")->check(CLI::IsMember({"sliced", "dedicated"}));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    std::exit(app.exit(e) == 0 ? 0 : 2);
  }
  o.stack = stack == "dedicated" ? stasis::StackKind::kDedicated : stasis::StackKind::kSliced;
  return o;
}

// One round trip: send, then the reply must start with `code`.
void round_trip(io::tcp::socket& s, std::string& in, const std::string& text, std::string_view code) {
  io::write_all(s, text);
  std::optional<std::string> reply = io::read_line(s, in);
  if (!reply) throw std::runtime_error("server closed the connection");
  if (reply->compare(0, code.size(), code) != 0) throw std::runtime_error("unexpected reply '" + *reply + "'");
}

void client(const io::tcp::endpoint& ep, int id, Load& load) {
  io::tcp::socket s = io::connect(ep);
  std::string in;
  const std::string n = std::to_string(id);
  const std::string mail = "MAIL FROM:<load" + n + "@bench>\r\n", rcpt = "RCPT TO:<box" + n + "@bench>\r\n";
  const std::string body = "Subject: load " + n + "\r\n\r\nA short message from connection " + n + ".\r\n.\r\n";
  std::optional<std::string> greeting = io::read_line(s, in);
  if (!greeting || greeting->compare(0, 4, "220 ") != 0) throw std::runtime_error("no greeting");
  round_trip(s, in, "HELO load" + n + "\r\n", "250 ");
  ++load.connected;
  while (!load.stopping) {
    round_trip(s, in, mail, "250 ");
    round_trip(s, in, rcpt, "250 ");
    round_trip(s, in, "DATA\r\n", "354 ");
    round_trip(s, in, body, "250 ");
    if (load.measuring) {
      load.commands += 4;
      ++load.messages;
    }
  }
  round_trip(s, in, "QUIT\r\n", "221 ");
}

}  // namespace

int main(int argc, char** argv) {
  Options o = parse(argc, argv);
  rlimit r{};
  if (getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    setrlimit(RLIMIT_NOFILE, &r);
  }
  stasis::Scheduler scheduler;
  io::tcp::endpoint ep = io::parse_endpoint(o.connect);
  Load load;
  for (int i = 0; i < o.connections; ++i) {
    stasis::spawn_native(
        [&, i] {
          try {
            client(ep, i, load);
          } catch (const std::exception& e) {
            if (load.errors++ == 0) std::fprintf(stderr, "stasis_mail_load: connection %d: %s\n", i, e.what());
          }
        },
        {.stack = o.stack});
  }
  double measured = 0;
  stasis::spawn_native([&] {
    auto to_duration = [](double s) { return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s)); };
    io::sleep_for(to_duration(o.warmup));
    load.measuring = true;
    Clock::time_point t0 = Clock::now();
    io::sleep_for(to_duration(o.seconds));
    load.measuring = false;
    measured = std::chrono::duration<double>(Clock::now() - t0).count();
    load.stopping = true;
  });
  scheduler.run();
  std::printf(
      "{\"connections\":%d,\"seconds\":%.3f,\"commands\":%ld,\"messages\":%ld,\"commands_per_sec\":%.1f,"
      "\"messages_per_sec\":%.1f,\"errors\":%ld,\"connected\":%ld}\n",
      o.connections, measured, load.commands, load.messages, load.commands / measured, load.messages / measured,
      load.errors, load.connected);
  return load.errors == 0 ? 0 : 1;
}
