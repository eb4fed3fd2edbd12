// net_frames.h — persistent frame types of the migration tests, linked into the
// test process and into the test node program (test_node.cc), so that tasklets
// migrate between them. Registered in net_frames.cc under "test.net." names.
#ifndef STASIS_TESTS_NET_FRAMES_H_
#define STASIS_TESTS_NET_FRAMES_H_

#include <cstdint>
#include <exception>
#include <string>

#include "stasis/net/host.h"
#include "stasis/persist/persistent_frame.h"
#include "stasis/soft.h"

namespace stasis::test {

// The result Counter{.n = n} computes, for checking it wherever it ran.
inline std::int64_t counter_result(std::int64_t n) {
  std::uint64_t acc = 0;
  for (std::int64_t i = 0; i < n; ++i) acc = acc * 31 + static_cast<std::uint64_t>(i * i % 1000003);
  return static_cast<std::int64_t>(acc);
}

// An order-sensitive computation that yields after every step.
struct Counter : Frame<Counter> {
  std::int64_t n = 0;
  std::int64_t i = 0;
  std::uint64_t acc = 0;
  STASIS_FIELDS(n, i, acc)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (i = 0; i < n; ++i) {
      acc = acc * 31 + static_cast<std::uint64_t>(i * i % 1000003);
      STASIS_SCHEDULE(cx);
    }
    STASIS_RETURN(cx, static_cast<std::int64_t>(acc));
    STASIS_END(cx);
  }
};

// Sends 1..n on `out`.
struct Produce : Frame<Produce> {
  Channel<std::int64_t>* out = nullptr;
  std::int64_t n = 0;
  std::int64_t i = 0;
  STASIS_FIELDS(out, n, i)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (i = 1; i <= n; ++i) STASIS_SEND(cx, *out, i);
    STASIS_END(cx);
  }
};

// Receives n values from `in` and sends v * v + k on `out`.
struct Square : Frame<Square> {
  Channel<std::int64_t>* in = nullptr;
  Channel<std::int64_t>* out = nullptr;
  std::int64_t n = 0;
  std::int64_t k = 0;
  std::int64_t i = 0;
  std::int64_t v = 0;
  STASIS_FIELDS(in, out, n, k, i, v)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (i = 0; i < n; ++i) {
      STASIS_RECEIVE(cx, *in, v);
      STASIS_SEND(cx, *out, v * v + k);
    }
    STASIS_END(cx);
  }
};

// Receives n values and returns their order-sensitive sum.
struct Fold : Frame<Fold> {
  Channel<std::int64_t>* in = nullptr;
  std::int64_t n = 0;
  std::int64_t i = 0;
  std::int64_t v = 0;
  std::uint64_t sum = 0;
  STASIS_FIELDS(in, n, i, v, sum)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (i = 0; i < n; ++i) {
      STASIS_RECEIVE(cx, *in, v);
      sum = sum * 31 + static_cast<std::uint64_t>(v);
    }
    STASIS_RETURN(cx, static_cast<std::int64_t>(sum));
    STASIS_END(cx);
  }
};

// Receives one value (a call target, so that the caller can catch).
struct ReceiveOne : Frame<ReceiveOne> {
  Channel<std::int64_t>* in = nullptr;
  std::int64_t v = 0;
  STASIS_FIELDS(in, v)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_RECEIVE(cx, *in, v);
    STASIS_RETURN(cx, v);
    STASIS_END(cx);
  }
};

// Receives once and returns "value N", or the type of the error it raised:
// "ChannelClosed", "ChannelDestroyed", "RemoteChannelError", "other".
struct ReceiveProbe : Frame<ReceiveProbe> {
  Channel<std::int64_t>* in = nullptr;
  std::int64_t v = 0;
  std::string outcome;
  STASIS_FIELDS(in, v, outcome)
  std::exception_ptr err;  // set and read within one step: not a field
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_CALL_CATCH(cx, v, err, ReceiveOne{.in = in});
    outcome = classify(err, v);
    STASIS_RETURN(cx, outcome);
    STASIS_END(cx);
  }
  static std::string classify(std::exception_ptr e, std::int64_t v);
};

// Counts to n, migrating itself to `target` at step n/2, and returns what a
// Counter of n returns; `failed` tells whether the move failed.
struct Wanderer : Frame<Wanderer> {
  std::string target;
  std::int64_t n = 0;
  std::int64_t i = 0;
  std::uint64_t acc = 0;
  bool failed = false;
  STASIS_FIELDS(target, n, i, acc, failed)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (i = 0; i < n; ++i) {
      acc = acc * 31 + static_cast<std::uint64_t>(i * i % 1000003);
      if (i == n / 2) STASIS_MIGRATE(cx, target, failed);
      STASIS_SCHEDULE(cx);
    }
    STASIS_RETURN(cx, static_cast<std::int64_t>(acc));
    STASIS_END(cx);
  }
};

}  // namespace stasis::test

#endif  // STASIS_TESTS_NET_FRAMES_H_
