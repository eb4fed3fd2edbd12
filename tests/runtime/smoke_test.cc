#include <gtest/gtest.h>
#include "stasis/stasis.h"
#include "test_frames.h"

using namespace stasis;

// The shared Producer and Summer (test_frames.h). Producer is registered here, and
// only here, under its stable name.
using stasis_test::Producer;
using stasis_test::Summer;
STASIS_REGISTER_FRAME(Producer, "test.Producer", 1);

struct Fib : Frame<Fib> {
  int n = 0, a = 0, b = 0;
  STASIS_FIELDS(n, a, b)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    if (n < 2) STASIS_RETURN(cx, n);
    STASIS_CALL(cx, a, Fib{.n = n - 1});
    STASIS_CALL(cx, b, Fib{.n = n - 2});
    STASIS_RETURN(cx, a + b);
    STASIS_END(cx);
  }
};

TEST(Smoke, ProducerConsumer) {
  Scheduler s;
  Channel<int> ch;
  s.spawn(Producer{.out = &ch, .n = 10});
  auto c = s.spawn(Summer{.in = &ch, .n = 10});
  s.run();
  EXPECT_EQ(c->result<int>(), 45);
}

TEST(Smoke, Fib) {
  Scheduler s;
  auto t = s.spawn(Fib{.n = 20});
  s.run();
  EXPECT_EQ(t->result<int>(), 6765);
}
