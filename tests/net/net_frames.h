// net_frames.h — persistent frame types of the migration tests, linked into the
// test process and into the test node program (test_node.cc), so that tasklets
// migrate between them. Registered in net_frames.cc under "test.net." names.
#ifndef STASIS_TESTS_NET_FRAMES_H_
#define STASIS_TESTS_NET_FRAMES_H_

#include <cstdint>
#include <exception>
#include <stdexcept>
#include <string>

#include "stasis/net/host.h"
#include "stasis/persist/persistent_frame.h"
#include "stasis/select.h"
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

// Exception types of the remote exception tests: ListedError is registered on
// every node under "test.net.ListedError" (net_frames.cc); UnlistedError is not.
struct ListedError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct UnlistedError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Sends one exception on `out` (send_exception): `kind` is "invalid_argument",
// "out_of_range", "listed" or "unlisted", with `message` as its what().
struct SendRaise : Frame<SendRaise> {
  Channel<std::int64_t>* out = nullptr;
  std::string kind;
  std::string message;
  STASIS_FIELDS(out, kind, message)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_SEND_EXCEPTION(cx, *out, make(kind, message));
    STASIS_END(cx);
  }
  static std::exception_ptr make(const std::string& kind, const std::string& message);
};

// Selects once between sending `value` on `out` (case 0) and receiving from
// `in` (case 1), then, if `after` >= 0, sends `after` on `out`; returns "sent",
// "received N" or "closed". The select is built when the tasklet first runs.
struct SelectThenSend : Frame<SelectThenSend> {
  Channel<std::int64_t>* out = nullptr;
  Channel<std::int64_t>* in = nullptr;
  std::int64_t value = 0;
  std::int64_t after = -1;
  std::string outcome;
  STASIS_FIELDS(out, in, value, after, outcome)
  Select sel;      // not a field: the tasklet is never frozen inside the select
  int chosen = 0;
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    sel.send(*out, value).receive(*in);
    STASIS_SELECT(cx, sel, chosen);
    outcome = chosen == 0 ? "sent" : sel.closed() ? "closed" : "received " + std::to_string(sel.value<std::int64_t>());
    if (after >= 0) STASIS_SEND(cx, *out, after);
    STASIS_RETURN(cx, outcome);
    STASIS_END(cx);
  }
};

// Receives once and returns "value N", or the type of the error it raised:
// "ChannelClosed", "ChannelDestroyed", "RemoteChannelError", "other", or for
// exceptions sent with send_exception "invalid_argument: what()",
// "out_of_range: what()", "ListedError: what()" and
// "RemoteException <type name>: <message>".
// With a `gate`, it first receives one value from the gate.
struct ReceiveProbe : Frame<ReceiveProbe> {
  Channel<std::int64_t>* in = nullptr;
  Channel<std::int64_t>* gate = nullptr;
  std::int64_t v = 0;
  std::string outcome;
  STASIS_FIELDS(in, gate, v, outcome)
  std::exception_ptr err;  // set and read within one step: not a field
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    if (gate) STASIS_RECEIVE(cx, *gate, v);
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

// Goes to `away`, makes a channel there, comes back to `home` with it and sends
// 7 on it. The channel stays at `away` (its home; the node keeps it for its whole
// life) and nobody there receives, so back at `home` the send is a remote
// operation that stays in flight. `failed` tells whether a move failed.
struct Boomerang : Frame<Boomerang> {
  std::string away;
  std::string home;
  Channel<std::int64_t>* ch = nullptr;
  bool failed = false;
  STASIS_FIELDS(away, home, ch, failed)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_MIGRATE(cx, away, failed);
    if (failed) STASIS_RETURN(cx, std::string("could not go away"));
    ch = new Channel<std::int64_t>({.name = "made-away"});  // owned by the node it was made on, never freed
    STASIS_MIGRATE(cx, home, failed);
    if (failed) STASIS_RETURN(cx, std::string("could not come home"));
    STASIS_SEND(cx, *ch, 7);
    STASIS_RETURN(cx, std::string("sent"));
    STASIS_END(cx);
  }
};

}  // namespace stasis::test

#endif  // STASIS_TESTS_NET_FRAMES_H_
