// native_channel_test.cc — native tasklets blocking in plain channel calls and
// Select::wait(), sharing channels with soft frames, and the errors they get.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "native_test_support.h"

namespace stasis::test {
namespace {

using Channels = NativeKinds;
STASIS_INSTANTIATE_NATIVE_KINDS(Channels);

TEST_P(Channels, PingPongOverUnbufferedChannels) {
  Scheduler s;
  Channel<int> ping, pong;
  constexpr int kRounds = 1000;
  auto a = spawn_native(s, [&] {
    long sum = 0;
    for (int i = 0; i < kRounds; ++i) {
      ping.send(i);
      sum += pong.receive();
    }
    return sum;
  }, opts("ping"));
  spawn_native(s, [&] {
    for (int i = 0; i < kRounds; ++i) pong.send(ping.receive() + 1);
  }, opts("pong"));
  s.run();
  EXPECT_EQ(a->result<long>(), static_cast<long>(kRounds) * (kRounds - 1) / 2 + kRounds);
}

TEST_P(Channels, LargeValuesTravelByValue) {
  Scheduler s;
  Channel<std::string> ch;
  std::string got;
  spawn_native(s, [&] { got = ch.receive(); }, opts());
  spawn_native(s, [&] { ch.send(std::string(1000, 'x')); }, opts());
  s.run();
  EXPECT_EQ(got, std::string(1000, 'x'));
}

// A soft producer and a native consumer on one channel, and the reverse.
struct SoftProducer : Frame<SoftProducer> {
  Channel<int>* out = nullptr;
  int i = 0;
  STASIS_FIELDS(out, i)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (i = 1; i <= 5; ++i) STASIS_SEND(cx, *out, i * 10);
    out->close();
    STASIS_END(cx);
  }
};

struct SoftConsumer : Frame<SoftConsumer> {
  Channel<std::string>* in = nullptr;
  std::string v;
  std::string all;
  STASIS_FIELDS(in, v, all)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (;;) {
      STASIS_RECEIVE(cx, *in, v);
      if (v == "end") break;
      all += v;
    }
    STASIS_RETURN(cx, all);
    STASIS_END(cx);
  }
};

TEST_P(Channels, SoftAndNativeShareChannels) {
  Scheduler s;
  Channel<int> numbers;
  Channel<std::string> words;
  s.spawn(SoftProducer{.out = &numbers});
  auto soft_consumer = s.spawn(SoftConsumer{.in = &words});
  auto native = spawn_native(s, [&] {
    int total = 0, v = 0;
    while (numbers.receive(v)) {  // until the soft producer closes it
      total += v;
      words.send(std::to_string(v) + ",");
    }
    words.send("end");
    return total;
  }, opts("bridge"));
  s.run();
  EXPECT_EQ(native->result<int>(), 150);
  EXPECT_EQ(soft_consumer->result<std::string>(), "10,20,30,40,50,");
}

TEST_P(Channels, BufferedChannelBlocksOnlyWhenFull) {
  Scheduler s;
  Channel<int> ch({.capacity = 3});
  std::vector<std::string> log;
  spawn_native(s, [&] {
    for (int i = 0; i < 5; ++i) {
      ch.send(i);
      log.push_back("sent " + std::to_string(i));
    }
  }, opts());
  spawn_native(s, [&] {
    for (int i = 0; i < 5; ++i) log.push_back("got " + std::to_string(ch.receive()));
  }, opts());
  s.run();
  auto at = [&](const std::string& entry) { return std::find(log.begin(), log.end(), entry) - log.begin(); };
  ASSERT_EQ(log.size(), 10u);
  // Three sends fit in the buffer before the sender blocks; the fourth completes
  // only after the receiver made room.
  EXPECT_EQ(at("sent 0"), 0);
  EXPECT_EQ(at("sent 2"), 2);
  EXPECT_GT(at("sent 3"), at("got 0"));
  for (int i = 1; i < 5; ++i) EXPECT_GT(at("got " + std::to_string(i)), at("got " + std::to_string(i - 1)));
}

TEST_P(Channels, SendExceptionRaisesInNativeReceiver) {
  Scheduler s;
  Channel<int> ch;
  std::string caught;
  spawn_native(s, [&] {
    try {
      ch.receive();
    } catch (const std::runtime_error& e) {
      caught = e.what();
    }
  }, opts());
  spawn_native(s, [&] { ch.send_exception(std::make_exception_ptr(std::runtime_error("bad input"))); }, opts());
  s.run();
  EXPECT_EQ(caught, "bad input");
}

TEST_P(Channels, ClosedChannelRaisesChannelClosed) {
  Scheduler s;
  Channel<int> ch;
  ch.close();
  auto t = spawn_native(s, [&] { return ch.receive(); }, opts());
  auto u = spawn_native(s, [&] { ch.send(1); }, opts());
  s.run();
  EXPECT_THROW(t->rethrow_if_failed(), ChannelClosed);
  EXPECT_THROW(u->rethrow_if_failed(), ChannelClosed);
}

TEST_P(Channels, DestroyedChannelWakesNativeWaiter) {
  Scheduler s;
  auto ch = std::make_unique<Channel<int>>(ChannelOptions{.name = "doomed"});
  auto t = spawn_native(s, [&] { return ch->receive(); }, opts());
  spawn_native(s, [&] { ch.reset(); }, opts());
  s.run();
  EXPECT_THROW(t->rethrow_if_failed(), ChannelDestroyed);
}

TEST_P(Channels, SelectWaitBlocksUntilACaseFires) {
  Scheduler s;
  Channel<int> a, b;
  Channel<std::string> c;
  std::vector<std::string> log;
  spawn_native(s, [&] {
    Select sel;
    sel.receive(a).receive(b).receive(c);
    for (int n = 0; n < 3; ++n) {
      int i = sel.wait();
      if (i == 2) {
        log.push_back("c:" + sel.value<std::string>());
      } else {
        log.push_back((i == 0 ? "a:" : "b:") + std::to_string(sel.value<int>()));
      }
    }
  }, opts("selector"));
  spawn_native(s, [&] {
    b.send(2);
    c.send("three");
    a.send(1);
  }, opts());
  s.run();
  EXPECT_EQ(log, (std::vector<std::string>{"b:2", "c:three", "a:1"}));
}

TEST_P(Channels, SelectWaitWithSendCaseAndDefault) {
  Scheduler s;
  Channel<int> out;
  int got = -1;
  std::vector<int> chosen;
  spawn_native(s, [&] {
    Select idle;
    idle.send(out, 7).otherwise();
    chosen.push_back(idle.wait());  // nobody receives yet: the default
    Select sel;
    sel.send(out, 7);
    chosen.push_back(sel.wait());   // blocks until the receiver comes
  }, opts());
  spawn_native(s, [&] {
    this_tasklet::yield();
    got = out.receive();
  }, opts());
  s.run();
  EXPECT_EQ(chosen, (std::vector<int>{SelectBase::kDefault, 0}));
  EXPECT_EQ(got, 7);
}

TEST_P(Channels, SelectWaitSeesCloseLikeGo) {
  Scheduler s;
  Channel<int> ch;
  bool closed = false;
  spawn_native(s, [&] {
    Select sel;
    sel.receive(ch);
    sel.wait();
    closed = sel.closed();
  }, opts());
  spawn_native(s, [&] { ch.close(); }, opts());
  s.run();
  EXPECT_TRUE(closed);
}

TEST_P(Channels, DeadlockReportNamesNativeWaiters) {
  Scheduler s;
  Channel<int> ch({.name = "never"});
  spawn_native(s, [&] { ch.receive(); }, opts("stuck"));
  try {
    s.run();
    FAIL() << "expected Deadlock";
  } catch (const Deadlock& d) {
    std::string what = d.what();
    EXPECT_NE(what.find("'stuck'"), std::string::npos) << what;
    EXPECT_NE(what.find("receive on channel"), std::string::npos) << what;
    EXPECT_NE(what.find("'never'"), std::string::npos) << what;
  }
}

TEST_P(Channels, ChannelWaitAfterSleepsAndParks) {
  // Regression: a sleep left its timer sequence in the tasklet's embedded waiter,
  // and a later channel wait kept those bits — kSelect among them — so the
  // sender took the waiter for a select's and crashed.
  Scheduler s;
  Channel<int> gate;
  constexpr int kTasklets = 8;
  int arrived = 0, passed = 0;
  for (int i = 0; i < kTasklets; ++i) {
    spawn_native(s, [&, i] {
      for (int k = 0; k <= i; ++k) this_tasklet::sleep_for(std::chrono::microseconds(10));
      if (++arrived == kTasklets) {
        for (int k = 1; k < kTasklets; ++k) gate.send(k);
      } else {
        gate.receive();
      }
      ++passed;
    }, opts());
  }
  s.run();
  EXPECT_EQ(passed, kTasklets);
}

TEST(NativeChannels, SelectWaitOutsideNativeTaskletsRaisesCannotBlock) {
  Scheduler s;
  Channel<int> ch;
  Select sel;
  sel.receive(ch);
  EXPECT_THROW(sel.wait(), CannotBlock);
}

}  // namespace
}  // namespace stasis::test
