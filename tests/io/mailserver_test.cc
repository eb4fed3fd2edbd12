// mailserver_test.cc — the mailserver sample across real processes.
//
// The server runs as a child process (tests/support/subprocess.h); its port is
// read from its "listening on" line. The clients are native tasklets on this
// test's own scheduler, using stasis::io: 1,000 of them hold their connections
// open at the same time (a barrier after the greeting) and each runs a full
// session with its own message, every reply line checked. SIGTERM then makes the
// server print its stats, which must count exactly what the clients delivered.
// Nothing waits on time: every step waits for a reply or an end of stream.
#include <gtest/gtest.h>

#include <csignal>
#include <cstdint>
#include <functional>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "io_test_support.h"
#include "stasis/native.h"
#include "stasis/scheduler.h"
#include "support/subprocess.h"

namespace {

using namespace stasis;
using namespace stasis::io_test;
namespace asio = boost::asio;
namespace ts = stasis::test_support;

// The mailserver command line with `args` (through the emulator in a cross build).
std::vector<std::string> mailserver_command(const std::vector<std::string>& args) {
  std::vector<std::string> argv = ts::emulator_words(STASIS_MAILSERVER_EMULATOR);
  argv.push_back(STASIS_MAILSERVER_PATH);
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

// The mailserver child: started with --stats, stopped with SIGTERM.
class MailServer {
 public:
  explicit MailServer(std::vector<std::string> extra = {}) {
    extra.insert(extra.begin(), "--stats");
    child_ = ts::start_captured(mailserver_command(extra));
    std::string line;
    char c;
    while (child_.pid > 0 && read(child_.output, &c, 1) == 1) {
      early_ += c;
      if (c != '\n') continue;
      std::smatch m;
      std::string last = early_.substr(early_.rfind('\n', early_.size() - 2) + 1);
      if (std::regex_search(last, m, std::regex("^listening on 127\\.0\\.0\\.1:([0-9]+)"))) {
        port_ = static_cast<unsigned short>(std::stoi(m[1]));
        break;
      }
    }
  }
  ~MailServer() {
    if (child_.pid > 0) {
      kill(child_.pid, SIGKILL);
      ts::finish(child_);
    }
  }
  bool started() const { return port_ != 0; }
  const std::string& early_output() const { return early_; }
  io::tcp::endpoint endpoint() const { return {asio::ip::make_address("127.0.0.1"), port_}; }

  // SIGTERM, then everything it printed and its exit status.
  ts::Outcome stop() {
    kill(child_.pid, SIGTERM);
    ts::Outcome o = ts::finish(child_);
    child_.pid = -1;
    o.output = early_ + o.output;
    return o;
  }

 private:
  ts::Child child_;
  std::string early_;
  unsigned short port_ = 0;
};

// One client connection, inside a native tasklet. Failures throw with the
// conversation's context.
class Client {
 public:
  Client(const io::tcp::endpoint& ep, std::string name) : socket_(io::connect(ep)), name_(std::move(name)) {}

  std::string line() {
    std::optional<std::string> l = io::read_line(socket_, in_);
    if (!l) throw std::runtime_error(name_ + ": the server closed the connection");
    return *l;
  }
  void expect(const std::string& want) {
    std::string got = line();
    if (got.compare(0, want.size(), want) != 0) throw std::runtime_error(name_ + ": expected '" + want + "...', got '" + got + "'");
  }
  void send(const std::string& text) { io::write_all(socket_, text); }
  void command(const std::string& cmd, const std::string& want) {
    send(cmd + "\r\n");
    expect(want);
  }
  void expect_closed() {
    std::optional<std::string> l = io::read_line(socket_, in_);
    if (l) throw std::runtime_error(name_ + ": expected the server to close, got '" + *l + "'");
  }
  io::tcp::socket& socket() { return socket_; }

 private:
  io::tcp::socket socket_;
  std::string in_;
  std::string name_;
};

// The message of client i, as sent (dot-stuffed) and as stored (unstuffed).
std::vector<std::string> body_lines(int i) {
  return {"Subject: message " + std::to_string(i), "..a line that starts with a dot, client " + std::to_string(i),
          "body of message " + std::to_string(i)};
}
std::uint64_t stored_bytes(int i) {
  std::uint64_t n = 0;
  for (const std::string& l : body_lines(i)) n += (l[0] == '.' ? l.size() - 1 : l.size()) + 2;
  return n;
}

// A full session: HELO, MAIL, two RCPT, DATA, the message, QUIT.
void full_session(Client& c, int i) {
  const std::string n = std::to_string(i);
  c.command("HELO client" + n + ".test", "250 ");
  c.command("MAIL FROM:<sender" + n + "@test>", "250 ");
  c.command("RCPT TO:<to" + n + "@test>", "250 ");
  c.command("RCPT TO:<cc" + n + "@test>", "250 ");
  c.command("DATA", "354 ");
  std::string text;
  for (const std::string& l : body_lines(i)) text += l + "\r\n";
  c.send(text + ".\r\n");
  c.expect("250 2.0.0 OK queued as ");
  c.command("QUIT", "221 ");
  c.expect_closed();
}

// Opens n connections, waits until all n are open (each read its greeting), then
// runs `session` on each. Returns the failures.
std::vector<std::string> run_clients(const io::tcp::endpoint& ep, int n, StackKind stack,
                                     const std::function<void(Client&, int)>& session) {
  Scheduler s;
  std::vector<std::string> failures;
  IoBarrier barrier(n);
  auto arrive = [&] { barrier.arrive(); };
  for (int i = 0; i < n; ++i) {
    spawn_native(
        [&, i] {
          bool at_barrier = false;
          try {
            Client c(ep, "client " + std::to_string(i));
            c.expect("220 stasis-mail ready");
            at_barrier = true;
            arrive();
            session(c, i);
          } catch (const std::exception& e) {
            failures.push_back(e.what());
            if (!at_barrier) arrive();
          }
        },
        {.stack = stack});
  }
  s.run();
  return failures;
}

std::string stats_line(const std::string& output) {
  std::smatch m;
  if (std::regex_search(output, m, std::regex("stats: [^\n]*"))) return m[0];
  return "(no stats line in: " + output + ")";
}

TEST(MailServer, ThousandConcurrentSessions) {
  raise_descriptor_limit();
  MailServer server;
  ASSERT_TRUE(server.started()) << server.early_output();
  constexpr int kClients = 1000;
  std::vector<std::string> failures = run_clients(server.endpoint(), kClients, StackKind::kSliced, full_session);
  EXPECT_TRUE(failures.empty()) << failures.size() << " failures, first: " << failures.front();
  ts::Outcome o = server.stop();
  EXPECT_EQ(o.exit_code(), 0) << o.output;
  std::uint64_t bytes = 0;
  for (int i = 0; i < kClients; ++i) bytes += stored_bytes(i);
  EXPECT_EQ(stats_line(o.output), "stats: connections=1000 messages=1000 recipients=2000 bytes=" + std::to_string(bytes) +
                                      " errors=0 refused=0");
}

TEST(MailServer, DedicatedStackConnections) {
  raise_descriptor_limit();
  MailServer server({"--stack", "dedicated"});
  ASSERT_TRUE(server.started()) << server.early_output();
  std::vector<std::string> failures = run_clients(server.endpoint(), 200, StackKind::kDedicated, full_session);
  EXPECT_TRUE(failures.empty()) << failures.size() << " failures, first: " << failures.front();
  ts::Outcome o = server.stop();
  EXPECT_NE(stats_line(o.output).find("connections=200 messages=200 recipients=400 "), std::string::npos) << o.output;
}

// Misbehaving clients among good ones: each misbehaviour ends that connection
// only. Kinds by i % 7: 0-2 good, 3 closes mid-line, 4 sends a line too long,
// 5 resets the connection, 6 sends garbage and then behaves.
TEST(MailServer, MisbehavingClientsDoNotDisturbOthers) {
  raise_descriptor_limit();
  MailServer server;
  ASSERT_TRUE(server.started()) << server.early_output();
  constexpr int kClients = 140;  // 60 good, 20 of each misbehaviour
  int good_done = 0;
  auto session = [&](Client& c, int i) {
    switch (i % 7) {
      case 3:  // half a command, then end of stream: the server closes in turn
        c.command("HELO midline", "250 ");
        c.send("MAIL FROM:<half");
        c.socket().shutdown(io::tcp::socket::shutdown_send);
        c.expect_closed();
        break;
      case 4:
        c.send(std::string(5000, 'x') + "\r\n");
        c.expect("500 5.5.2 Line too long");
        c.socket().shutdown(io::tcp::socket::shutdown_send);
        c.expect_closed();
        break;
      case 5:
        c.command("HELO reset", "250 ");
        c.command("MAIL FROM:<r@test>", "250 ");
        c.socket().set_option(asio::socket_base::linger(true, 0));
        c.socket().close();  // RST
        break;
      case 6:
        c.command(std::string("\x01\x02\xff\xfe garbage \x7f"), "500 ");
        c.command("DATA", "503 ");
        c.command("QUIT", "221 ");
        c.expect_closed();
        break;
      default:
        full_session(c, i);
        ++good_done;
    }
  };
  std::vector<std::string> failures = run_clients(server.endpoint(), kClients, StackKind::kSliced, session);
  EXPECT_TRUE(failures.empty()) << failures.size() << " failures, first: " << failures.front();
  EXPECT_EQ(good_done, 60);
  ts::Outcome o = server.stop();
  std::string stats = stats_line(o.output);
  std::smatch m;
  ASSERT_TRUE(std::regex_search(stats, m, std::regex("connections=140 messages=60 recipients=120 bytes=[0-9]+ errors=([0-9]+) refused=0")))
      << o.output;
  // Mid-line closes and long lines are seen before the client sees the server
  // close; resets may still be in flight when SIGTERM arrives.
  int errors = std::stoi(m[1]);
  EXPECT_GE(errors, 40) << stats;
  EXPECT_LE(errors, 60) << stats;
}

TEST(MailServer, MaxConnectionsTurnsExtraClientsAway) {
  MailServer server({"--max-connections", "5"});
  ASSERT_TRUE(server.started()) << server.early_output();
  Scheduler s;
  const io::tcp::endpoint ep = server.endpoint();
  std::string failure, refused_reply;
  spawn_native([&] {
    try {
      std::vector<std::unique_ptr<Client>> held;
      for (int i = 0; i < 5; ++i) {
        held.push_back(std::make_unique<Client>(ep, "held " + std::to_string(i)));
        held.back()->expect("220 ");  // served and registered by the server
      }
      Client extra(ep, "extra");
      refused_reply = extra.line();
      extra.expect_closed();
      for (auto& c : held) c->command("QUIT", "221 ");
    } catch (const std::exception& e) {
      failure = e.what();
    }
  });
  s.run();
  EXPECT_EQ(failure, "");
  EXPECT_EQ(refused_reply.substr(0, 4), "421 ");
  ts::Outcome o = server.stop();
  EXPECT_NE(stats_line(o.output).find("connections=5 messages=0"), std::string::npos) << o.output;
  EXPECT_NE(stats_line(o.output).find("refused=1"), std::string::npos) << o.output;
}

TEST(MailServer, BadArgumentsAreReported) {
  ts::Outcome o = ts::run_captured(mailserver_command({"--stack", "tall"}));
  EXPECT_EQ(o.exit_code(), 2);
  EXPECT_NE(o.output.find("--stack takes sliced or dedicated"), std::string::npos) << o.output;
  o = ts::run_captured(mailserver_command({"--max-connections", "0"}));
  EXPECT_EQ(o.exit_code(), 2);
  EXPECT_NE(o.output.find("--max-connections"), std::string::npos) << o.output;
  o = ts::run_captured(mailserver_command({"--help"}));
  EXPECT_EQ(o.exit_code(), 0);
  EXPECT_NE(o.output.find("--stack"), std::string::npos) << o.output;
  o = ts::run_captured(mailserver_command({"--listen", "nowhere"}));
  EXPECT_EQ(o.exit_code(), 1);
  EXPECT_NE(o.output.find("bad endpoint 'nowhere'"), std::string::npos) << o.output;
}

}  // namespace
