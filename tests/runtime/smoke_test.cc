#include <gtest/gtest.h>
#include "stasis/stasis.h"

using namespace stasis;

struct Producer : Frame<Producer> {
  Channel<int>* out = nullptr;
  int n = 0;
  int i = 0;
  STASIS_FIELDS(out, n, i)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (i = 0; i < n; ++i) STASIS_SEND(cx, *out, i);
    STASIS_END(cx);
  }
};
STASIS_REGISTER_FRAME(Producer, "test.Producer", 1);

struct Summer : Frame<Summer> {
  Channel<int>* in = nullptr;
  int n = 0, i = 0, v = 0, sum = 0;
  STASIS_FIELDS(in, n, i, v, sum)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (i = 0; i < n; ++i) {
      STASIS_RECEIVE(cx, *in, v);
      sum += v;
    }
    STASIS_RETURN(cx, sum);
    STASIS_END(cx);
  }
};

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
