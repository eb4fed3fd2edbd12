// io_cancel_test.cc — kill and throw while a native tasklet waits for I/O.
//
// The tasklet is unwound at its park while Asio still holds the wait. These tests
// check that destructors run, that the late completion wakes nothing (the ticket)
// and touches no freed memory (heap state; run them under ASan too), that the
// socket stays usable by others, and that other connections are unaffected.
#include <gtest/gtest.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "io_test_support.h"
#include "stasis/native.h"
#include "stasis/scheduler.h"

namespace {

using namespace stasis;
using namespace stasis::io_test;
namespace asio = boost::asio;

class IoCancel : public ::testing::TestWithParam<StackKind> {};

struct Flag {
  bool* set;
  ~Flag() { *set = true; }
};

TEST_P(IoCancel, KillWhileParkedInReadRunsDestructorsAndWakesNothingLater) {
  Scheduler s;
  SocketPair victim = loopback_pair(), other = loopback_pair();
  bool destroyed = false, returned = false;
  std::string other_line, later_line;

  TaskletRef reader = spawn_native(
      [&] {
        Flag f{&destroyed};
        std::string buf;
        io::read_line(victim.b, buf);  // the peer is silent: parks in kIo
        returned = true;
      },
      {.name = "victim", .stack = GetParam()});
  spawn_native([&] {  // an unrelated connection, waiting at the same time
    std::string buf;
    other_line = io::read_line(other.b, buf).value();
  });
  spawn_native([&] {  // runs once both readers are parked
    EXPECT_EQ(reader->state(), TaskletState::kBlocked);
    EXPECT_EQ(reader->wait_kind(), WaitKind::kIo);
    reader->kill();
    // Now the data arrives on the killed tasklet's socket, and on the other one.
    io::write_all(victim.a, "too late\n");
    io::write_all(other.a, "still served\n");
    io::sleep_for(std::chrono::milliseconds(2));  // let the reactor see both
    // The socket outlived the tasklet and is still usable by someone else.
    std::string buf;
    later_line = io::read_line(victim.b, buf).value();
  });
  s.run();
  EXPECT_EQ(reader->state(), TaskletState::kKilled);
  EXPECT_TRUE(destroyed);
  EXPECT_FALSE(returned);
  EXPECT_EQ(other_line, "still served");
  EXPECT_EQ(later_line, "too late");
}

TEST_P(IoCancel, ThrowIntoParkedReaderThenReadAgain) {
  Scheduler s;
  SocketPair p = loopback_pair();
  std::string caught, line;
  TaskletRef reader = spawn_native(
      [&] {
        std::string buf;
        try {
          io::read_line(p.b, buf);
        } catch (const std::runtime_error& e) {
          caught = e.what();
        }
        line = io::read_line(p.b, buf).value();  // the stale wait must not wake this one
      },
      {.stack = GetParam()});
  spawn_native([&] {
    reader->raise(std::runtime_error("interrupted"));
    io::sleep_for(std::chrono::milliseconds(2));  // the reader waits again meanwhile
    io::write_all(p.a, "after the throw\n");
  });
  s.run();
  EXPECT_EQ(caught, "interrupted");
  EXPECT_EQ(line, "after the throw");
}

// Killing a tasklet blocked on a socket another tasklet also waits on: the other
// one sees the cancellation as spurious and keeps waiting.
TEST_P(IoCancel, KillingOneWaiterLeavesTheOtherWaiting) {
  Scheduler s;
  SocketPair p = loopback_pair();
  std::string writer_result;
  bool reader_killed_cleanly = false;
  TaskletRef reader = spawn_native(
      [&] {
        Flag f{&reader_killed_cleanly};
        std::string buf;
        io::read_line(p.b, buf);
      },
      {.stack = GetParam()});
  // The writer fills the socket until it blocks in write_all on the same socket.
  TaskletRef writer = spawn_native(
      [&] {
        std::string big(16 << 20, 'w');
        io::write_all(p.b, big);
        writer_result = "wrote all";
      },
      {.stack = GetParam()});
  spawn_native([&] {
    EXPECT_EQ(writer->state(), TaskletState::kBlocked);
    reader->kill();  // cancels p.b's waits, the writer's included
    // Drain what the writer sends, so it can finish.
    std::size_t total = 0;
    std::vector<char> chunk(1 << 16);
    while (total < (16u << 20)) total += io::read_some(p.a, asio::buffer(chunk));
  });
  s.run();
  EXPECT_TRUE(reader_killed_cleanly);
  EXPECT_EQ(writer_result, "wrote all");
}

// Tasklets killed with their scheduler (destroyed while parked in I/O) leave late
// completions behind in the thread's io context; the next scheduler runs them
// harmlessly.
TEST_P(IoCancel, SchedulerDestroyedWhileTaskletsWaitForIo) {
  SocketPair p = loopback_pair();
  bool destroyed = false;
  {
    Scheduler s;
    spawn_native(
        [&] {
          Flag f{&destroyed};
          std::string buf;
          io::read_line(p.b, buf);
        },
        {.stack = GetParam()});
    spawn_native([&] { io::sleep_for(std::chrono::hours(1)); });
    // Runs until both wait, then stops (the done predicate).
    s.run_until([&] { return s.io_waiting() == 2; });
  }  // kills both: destructors run, waits cancelled
  EXPECT_TRUE(destroyed);
  Scheduler s2;
  asio::write(p.a, asio::buffer(std::string("for the next scheduler\n")));
  std::string line;
  spawn_native([&] {
    std::string buf;
    line = io::read_line(p.b, buf).value();
  });
  s2.run();
  EXPECT_EQ(line, "for the next scheduler");
}

// A thread whose thread-owned scheduler (created before the io context) still
// has a tasklet waiting for I/O when the thread exits: the context is destroyed
// first in thread-exit order, so it must stay valid for the scheduler's teardown,
// which unwinds the tasklet and closes its socket.
TEST(IoThreadExit, ThreadOwnedSchedulerOutlivesTheIoContext) {
  bool destroyed = false, parked = false;
  std::thread th([&] {
    Scheduler& s = Scheduler::current();
    spawn_native([&] {
      Flag f{&destroyed};
      SocketPair p = loopback_pair();
      std::string buf;
      parked = true;
      io::read_line(p.b, buf);
    });
    s.run_until([&] { return s.io_waiting() == 1; });
  });
  th.join();
  EXPECT_TRUE(parked);
  EXPECT_TRUE(destroyed);
}

TEST(IoThreadExit, BlockTrapRefusesIoBeforeStartingIt) {
  Scheduler s;
  SocketPair p = loopback_pair();
  bool trapped = false;
  std::string line;
  spawn_native([&] {
    std::string buf;
    this_tasklet::get()->set_block_trap(true);
    try {
      io::read_line(p.b, buf);
    } catch (const BlockTrap&) {
      trapped = true;
    }
    this_tasklet::get()->set_block_trap(false);
    line = io::read_line(p.b, buf).value();
  });
  spawn_native([&] { io::write_all(p.a, "after the trap\n"); });
  s.run();
  EXPECT_TRUE(trapped);
  EXPECT_EQ(line, "after the trap");
}

INSTANTIATE_TEST_SUITE_P(Stacks, IoCancel, ::testing::Values(StackKind::kSliced, StackKind::kDedicated),
                         [](const auto& info) { return info.param == StackKind::kSliced ? "Sliced" : "Dedicated"; });

}  // namespace
