// io_test.cc — stasis::io in one process: echo between native tasklets (sliced
// and dedicated), Asio timers, the typed errors, the completion token's checks,
// and the scheduler waiting on the reactor instead of reporting a deadlock.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/read_until.hpp>

#include "io_test_support.h"
#include "stasis/channel.h"
#include "stasis/native.h"
#include "stasis/scheduler.h"
#include "stasis/soft.h"

namespace {

using namespace stasis;
using namespace stasis::io_test;
namespace asio = boost::asio;

class IoStacks : public ::testing::TestWithParam<StackKind> {};

std::string upper(std::string s) {
  for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// 20 clients, each its own tasklet, against one accept loop spawning one echo
// tasklet per connection: every reply checked.
TEST_P(IoStacks, EchoServerAndClientsOverLoopback) {
  Scheduler s;
  constexpr int kClients = 20, kLines = 25;
  tcp::acceptor acceptor(io::context(), tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const tcp::endpoint ep = acceptor.local_endpoint();
  const NativeOptions opts{.stack = GetParam()};
  int served = 0, replies_ok = 0;

  spawn_native(
      [&] {
        for (int i = 0; i < kClients; ++i) {
          tcp::socket c = io::accept(acceptor);
          spawn_native(
              [&, c = std::move(c)]() mutable {
                std::string buf;
                while (auto line = io::read_line(c, buf)) io::write_all(c, upper(*line) + "\r\n");
                ++served;
              },
              opts);
        }
      },
      opts);
  for (int i = 0; i < kClients; ++i) {
    spawn_native(
        [&, i] {
          tcp::socket c = io::connect(ep);
          std::string buf;
          for (int j = 0; j < kLines; ++j) {
            std::string msg = "client " + std::to_string(i) + " line " + std::to_string(j);
            io::write_all(c, msg + "\n");
            std::optional<std::string> reply = io::read_line(c, buf);
            ASSERT_TRUE(reply.has_value());
            EXPECT_EQ(*reply, upper(msg));
            if (*reply == upper(msg)) ++replies_ok;
          }
        },
        opts);
  }
  s.run();
  EXPECT_EQ(served, kClients);
  EXPECT_EQ(replies_ok, kClients * kLines);
}

// Big writes fill the socket buffers: write_all and read_some block and resume.
TEST_P(IoStacks, LargeTransferBlocksOnFullBuffers) {
  Scheduler s;
  SocketPair p = loopback_pair();
  const std::string payload = [] {
    std::string x(8 << 20, '\0');
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<char>('a' + i % 23);
    return x;
  }();
  std::string received;
  spawn_native([&] { io::write_all(p.a, payload); p.a.shutdown(tcp::socket::shutdown_send); }, {.stack = GetParam()});
  spawn_native(
      [&] {
        std::array<char, 3000> chunk;  // on the tasklet's stack: fine for the helpers
        while (std::size_t n = io::read_some(p.b, asio::buffer(chunk))) received.append(chunk.data(), n);
      },
      {.stack = GetParam()});
  s.run();
  EXPECT_EQ(received.size(), payload.size());
  EXPECT_TRUE(received == payload);
}

INSTANTIATE_TEST_SUITE_P(Stacks, IoStacks, ::testing::Values(StackKind::kSliced, StackKind::kDedicated),
                         [](const auto& info) { return info.param == StackKind::kSliced ? "Sliced" : "Dedicated"; });

// Timers wake in deadline order, never early; the thread is not blocked meanwhile.
TEST(Io, SleepOnAsioTimer) {
  Scheduler s;
  std::vector<int> order;
  std::chrono::steady_clock::duration slept{};
  spawn_native([&] {
    auto t0 = std::chrono::steady_clock::now();
    io::sleep_for(std::chrono::milliseconds(30));
    slept = std::chrono::steady_clock::now() - t0;
    order.push_back(30);
  });
  spawn_native([&] {
    io::sleep_for(std::chrono::milliseconds(10));
    order.push_back(10);
  });
  spawn_native([&] { order.push_back(0); });  // runs while both sleep
  s.run();
  EXPECT_EQ(order, (std::vector<int>{0, 10, 30}));
  EXPECT_GE(slept, std::chrono::milliseconds(30));
}

TEST(Io, ConnectionRefusedIsAnIoErrorNamingTheEndpoint) {
  Scheduler s;
  const unsigned short port = unused_port();
  std::string what;
  boost::system::error_code code;
  spawn_native([&] {
    try {
      io::connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    } catch (const io::IoError& e) {
      what = e.what();
      code = e.code();
    }
  });
  s.run();
  EXPECT_EQ(code, asio::error::connection_refused) << what;
  EXPECT_NE(what.find("127.0.0.1:" + std::to_string(port)), std::string::npos) << what;
}

// A peer closing mid-line fails that connection only; a neighbour carries on.
TEST(Io, PeerClosingMidLineFailsOnlyThatConnection) {
  Scheduler s;
  SocketPair bad = loopback_pair(), good = loopback_pair();
  asio::write(bad.a, asio::buffer(std::string("HELO x\r\nMAIL FROM:<half")));
  bad.a.close();
  asio::write(good.a, asio::buffer(std::string("one\r\ntwo\r\n")));
  good.a.shutdown(tcp::socket::shutdown_send);

  std::vector<std::string> bad_lines, good_lines;
  std::string error;
  boost::system::error_code code;
  bool good_saw_eof = false;
  spawn_native([&] {
    std::string buf;
    try {
      while (auto line = io::read_line(bad.b, buf)) bad_lines.push_back(*line);
    } catch (const io::PeerClosed& e) {
      error = e.what();
      code = e.code();
    }
  });
  spawn_native([&] {
    std::string buf;
    while (auto line = io::read_line(good.b, buf)) good_lines.push_back(*line);
    good_saw_eof = true;
  });
  s.run();
  EXPECT_EQ(bad_lines, (std::vector<std::string>{"HELO x"}));
  EXPECT_EQ(code, asio::error::eof);
  EXPECT_NE(error.find("middle of a line"), std::string::npos) << error;
  EXPECT_NE(error.find("127.0.0.1:"), std::string::npos) << error;  // names the connection
  EXPECT_EQ(good_lines, (std::vector<std::string>{"one", "two"}));
  EXPECT_TRUE(good_saw_eof);
}

TEST(Io, LineTooLongIsATypedError) {
  Scheduler s;
  SocketPair p = loopback_pair();
  asio::write(p.a, asio::buffer("short\n" + std::string(5000, 'x') + "\n"));
  std::string first, error;
  boost::system::error_code code;
  spawn_native([&] {
    std::string buf;
    first = io::read_line(p.b, buf, 100).value();
    try {
      io::read_line(p.b, buf, 100);
    } catch (const io::LineTooLong& e) {
      error = e.what();
      code = e.code();
    }
  });
  s.run();
  EXPECT_EQ(first, "short");
  EXPECT_EQ(code, asio::error::message_size);
  EXPECT_NE(error.find("limit of 100"), std::string::npos) << error;
}

TEST(Io, LineLimitCountsTheLineWithoutItsEnd) {
  Scheduler s;
  SocketPair p = loopback_pair();
  asio::write(p.a, asio::buffer(std::string(10, 'a') + "\r\n" + std::string(11, 'b') + "\n"));
  std::string first;
  bool too_long = false;
  spawn_native([&] {
    std::string buf;
    first = io::read_line(p.b, buf, 10).value();
    try {
      io::read_line(p.b, buf, 10);
    } catch (const io::LineTooLong&) {
      too_long = true;
    }
  });
  s.run();
  EXPECT_EQ(first, std::string(10, 'a'));
  EXPECT_TRUE(too_long);
}

// The scheduler waits on the reactor while tasklets wait for I/O: no Deadlock,
// even when the only other tasklet sleeps on an Asio timer before writing.
TEST(Io, NoDeadlockReportWhileIoIsPending) {
  Scheduler s;
  SocketPair p = loopback_pair();
  std::string got;
  spawn_native([&] {
    std::string buf;
    got = io::read_line(p.b, buf).value();
  });
  spawn_native([&] {
    io::sleep_for(std::chrono::milliseconds(5));
    io::write_all(p.a, "late line\n");
  });
  EXPECT_NO_THROW(s.run());
  EXPECT_EQ(got, "late line");
}

// A genuine deadlock next to pending I/O is still reported once the I/O is done.
TEST(Io, DeadlockStillReportedAfterIoCompletes) {
  Scheduler s;
  SocketPair p = loopback_pair();
  Channel<int> never;
  spawn_native([&] {
    std::string buf;
    io::read_line(p.b, buf);
    never.receive();
  }, {.name = "stuck"});
  spawn_native([&] {
    io::sleep_for(std::chrono::milliseconds(2));
    io::write_all(p.a, "x\n");
  });
  try {
    s.run();
    ADD_FAILURE() << "expected a Deadlock";
  } catch (const Deadlock& d) {
    ASSERT_EQ(d.blocked().size(), 1u);
    EXPECT_EQ(d.blocked()[0].name, "stuck");
  }
}

// Soft frames keep running while native tasklets wait for I/O.
struct Counter : Frame<Counter> {
  int* count = nullptr;
  tcp::socket* out = nullptr;
  int i = 0;
  STASIS_FIELDS(i)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (i = 0; i < 1000; ++i) {
      ++*count;
      STASIS_SCHEDULE(cx);
    }
    // A small write on an idle socket completes at once: no blocking needed.
    asio::write(*out, asio::buffer(std::string("count " + std::to_string(*count) + "\n")));
    STASIS_END(cx);
  }
};

TEST(Io, SoftTaskletsRunWhileNativesWaitForIo) {
  Scheduler s;
  SocketPair p = loopback_pair();
  int count = 0;
  std::string got;
  int count_when_read = -1;
  spawn_native([&] {
    std::string buf;
    got = io::read_line(p.b, buf).value();
    count_when_read = count;
  });
  s.spawn(Counter{.count = &count, .out = &p.a});
  s.run();
  EXPECT_EQ(got, "count 1000");
  EXPECT_EQ(count_when_read, 1000);
}

TEST(Io, HelpersRaiseCannotBlockOutsideNativeTasklets) {
  Scheduler s;
  SocketPair p = loopback_pair();
  std::string buf;
  try {
    io::read_line(p.b, buf);
    ADD_FAILURE() << "expected CannotBlock";
  } catch (const CannotBlock& e) {
    EXPECT_NE(std::string(e.what()).find("native tasklet"), std::string::npos) << e.what();
  }
  EXPECT_THROW(io::sleep_for(std::chrono::milliseconds(1)), CannotBlock);
}

// The token on plain Asio operations: values, errors thrown or stored, and its checks.
TEST(Io, UseTaskletTokenReturnsValuesAndErrors) {
  Scheduler s;
  SocketPair p = loopback_pair();
  asio::write(p.a, asio::buffer(std::string("hello")));
  p.a.shutdown(tcp::socket::shutdown_send);
  std::size_t n = 0;
  std::string data;
  boost::system::error_code ec;
  bool threw_eof = false;
  spawn_native([&] {
    auto heap = std::make_unique<std::array<char, 64>>();
    n = p.b.async_read_some(asio::buffer(*heap), io::use_tasklet);
    data.assign(heap->data(), n);
    std::size_t m = p.b.async_read_some(asio::buffer(*heap), io::use_tasklet[ec]);
    EXPECT_EQ(m, 0u);
    try {
      p.b.async_read_some(asio::buffer(*heap), io::use_tasklet);
    } catch (const boost::system::system_error& e) {
      threw_eof = e.code() == asio::error::eof;
    }
  });
  s.run();
  EXPECT_EQ(n, 5u);
  EXPECT_EQ(data, "hello");
  EXPECT_EQ(ec, asio::error::eof);
  EXPECT_TRUE(threw_eof);
}

// Handlers with a movable value (async_accept's socket) and several connections.
TEST(Io, UseTaskletWithAcceptAndConnect) {
  Scheduler s;
  tcp::acceptor acceptor(io::context(), tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  std::string got;
  spawn_native([&] {
    tcp::socket c = acceptor.async_accept(io::use_tasklet);
    std::string buf;
    got = io::read_line(c, buf).value();
  });
  spawn_native([&] {
    tcp::socket c(io::context());
    c.async_connect(acceptor.local_endpoint(), io::use_tasklet);
    io::write_all(c, "via the token\n");
  });
  s.run();
  EXPECT_EQ(got, "via the token");
}

TEST(Io, UseTaskletRefusesBuffersOnTheSlicedStack) {
  Scheduler s;
  SocketPair p = loopback_pair();
  std::string error;
  spawn_native([&] {
    std::array<char, 64> on_stack;
    try {
      p.b.async_read_some(asio::buffer(on_stack), io::use_tasklet);
    } catch (const InvalidArgument& e) {
      error = e.what();
    }
  });
  s.run();
  EXPECT_NE(error.find("sliced-stack region"), std::string::npos) << error;
}

TEST(Io, UseTaskletRefusesObjectsOfAnotherIoContext) {
  Scheduler s;
  asio::io_context other;
  asio::steady_timer timer(other, std::chrono::milliseconds(1));
  bool refused = false;
  spawn_native([&] {
    try {
      timer.async_wait(io::use_tasklet);
    } catch (const InvalidArgument&) {
      refused = true;
    }
  });
  s.run();
  EXPECT_TRUE(refused);
}

TEST(Io, UseTaskletOutsideNativeTaskletsRaisesCannotBlock) {
  Scheduler s;
  auto timer = std::make_unique<asio::steady_timer>(io::context(), std::chrono::milliseconds(1));
  EXPECT_THROW(timer->async_wait(io::use_tasklet), CannotBlock);
}

// One io context per thread, reinstalled on each new scheduler of the thread.
TEST(Io, ContextSurvivesSchedulersOnTheThread) {
  asio::io_context* first = nullptr;
  for (int round = 0; round < 3; ++round) {
    Scheduler s;
    asio::io_context& c = io::context();
    if (!first) first = &c;
    EXPECT_EQ(&c, first);
    EXPECT_NE(s.io_driver(), nullptr);
    bool slept = false;
    spawn_native([&] {
      io::sleep_for(std::chrono::milliseconds(1));
      slept = true;
    });
    s.run();
    EXPECT_TRUE(slept);
  }
}

// Composed Asio operations through the token, on a dedicated stack (where the
// stream and the dynamic buffer may be locals).
TEST(Io, ComposedOperationsThroughTheTokenOnADedicatedStack) {
  Scheduler s;
  SocketPair p = loopback_pair();
  std::string first, second;
  std::size_t written = 0;
  spawn_native(
      [&] {
        written = asio::async_write(p.a, asio::buffer(std::string("alpha\nbeta\n")), io::use_tasklet);
      },
      {.stack = StackKind::kDedicated});
  spawn_native(
      [&] {
        std::string buf;
        std::size_t n = asio::async_read_until(p.b, asio::dynamic_buffer(buf), '\n', io::use_tasklet);
        first = buf.substr(0, n - 1);
        buf.erase(0, n);
        n = asio::async_read_until(p.b, asio::dynamic_buffer(buf), '\n', io::use_tasklet);
        second = buf.substr(0, n - 1);
      },
      {.stack = StackKind::kDedicated});
  s.run();
  EXPECT_EQ(written, 11u);
  EXPECT_EQ(first, "alpha");
  EXPECT_EQ(second, "beta");
}

// Parked in kIo with no Asio operation pending: nothing can wake the tasklet, and
// the driver says so instead of waiting forever.
TEST(Io, ParkWithNothingPendingIsADeadlock) {
  Scheduler s;
  io::context();  // installs the driver
  spawn_native([] { this_tasklet::park(WaitKind::kIo); }, {.name = "lonely"});
  try {
    s.run();
    ADD_FAILURE() << "expected a Deadlock";
  } catch (const Deadlock& d) {
    ASSERT_EQ(d.blocked().size(), 1u);
    EXPECT_EQ(d.blocked()[0].name, "lonely");
  }
}

TEST(Io, ParseEndpoint) {
  EXPECT_EQ(io::parse_endpoint("127.0.0.1:2525"), tcp::endpoint(asio::ip::make_address("127.0.0.1"), 2525));
  EXPECT_EQ(io::parse_endpoint("[::1]:25"), tcp::endpoint(asio::ip::make_address("::1"), 25));
  EXPECT_EQ(io::parse_endpoint("localhost:0").port(), 0);
  EXPECT_THROW(io::parse_endpoint("127.0.0.1"), InvalidArgument);
  EXPECT_THROW(io::parse_endpoint("127.0.0.1:99999"), InvalidArgument);
  EXPECT_THROW(io::parse_endpoint("mail.example:25"), InvalidArgument);
}

}  // namespace
