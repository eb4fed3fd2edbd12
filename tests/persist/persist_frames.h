// persist_frames.h — persistent frame types shared by the freeze/thaw tests.
//
// Every type here is registered with STASIS_PERSISTENT_FRAME in persist_frames.cc
// under a "test.persist." name, so snapshots written by one test process restore
// in another that links the same file.
#ifndef STASIS_TESTS_PERSIST_FRAMES_H_
#define STASIS_TESTS_PERSIST_FRAMES_H_

#include <cstdint>
#include <string>
#include <vector>

#include "stasis/persist/persistent_frame.h"
#include "stasis/soft.h"

namespace stasis::test {

// A message struct: serialized through its field list.
struct Point {
  std::int64_t x = 0;
  std::int64_t y = 0;
  std::string label;
  STASIS_FIELDS(x, y, label)
  bool operator==(const Point&) const = default;
};

// Sends first*first, (first+1)^2, ... up to n values on `out`, then returns.
struct Squares : Frame<Squares> {
  Channel<std::int64_t>* out = nullptr;
  std::int64_t i = 0;
  std::int64_t n = 0;
  STASIS_FIELDS(out, i, n)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (; i < n; ++i) STASIS_SEND(cx, *out, i * i);
    STASIS_END(cx);
  }
};

// Receives n values from `in`, and returns their weighted sum (order-sensitive).
struct WeightedSum : Frame<WeightedSum> {
  Channel<std::int64_t>* in = nullptr;
  std::int64_t n = 0;
  std::int64_t k = 0;
  std::int64_t value = 0;
  std::int64_t sum = 0;
  std::vector<std::int64_t> seen;
  STASIS_FIELDS(in, n, k, value, sum, seen)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (k = 0; k < n; ++k) {
      STASIS_RECEIVE(cx, *in, value);
      sum = static_cast<std::int64_t>(static_cast<std::uint64_t>(sum) * 31 + static_cast<std::uint64_t>(value));
      if (seen.size() < 8) seen.push_back(value);
    }
    STASIS_RETURN(cx, sum);
    STASIS_END(cx);
  }
};

// Recursive Fibonacci through soft calls: deep frame chains.
struct Fib : Frame<Fib> {
  std::int64_t n = 0;
  std::int64_t a = 0;
  std::int64_t b = 0;
  STASIS_FIELDS(n, a, b)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_POLL(cx);
    if (n < 2) STASIS_RETURN(cx, n);
    STASIS_CALL(cx, a, Fib{.n = n - 1});
    STASIS_CALL(cx, b, Fib{.n = n - 2});
    STASIS_RETURN(cx, a + b);
    STASIS_END(cx);
  }
};

// Forwards Points from `in` to `out`, shifting them, `count` times.
struct PointRelay : Frame<PointRelay> {
  Channel<Point>* in = nullptr;
  Channel<Point>* out = nullptr;
  std::int64_t count = 0;
  Point p;
  STASIS_FIELDS(in, out, count, p)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    while (count-- > 0) {
      STASIS_RECEIVE(cx, *in, p);
      p.x += 1;
      p.label += "+";
      STASIS_SEND(cx, *out, p);
    }
    STASIS_END(cx);
  }
};

// Sends strings to `out`: its value waits in its slot while it is blocked.
struct Words : Frame<Words> {
  Channel<std::string>* out = nullptr;
  std::vector<std::string> words;
  std::size_t i = 0;
  STASIS_FIELDS(out, words, i)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (; i < words.size(); ++i) STASIS_SEND(cx, *out, words[i]);
    STASIS_END(cx);
  }
};

// Joins n strings from `in`.
struct Join : Frame<Join> {
  Channel<std::string>* in = nullptr;
  std::int64_t n = 0;
  std::string word;
  std::string text;
  STASIS_FIELDS(in, n, word, text)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    while (n-- > 0) {
      STASIS_RECEIVE(cx, *in, word);
      text += word + ";";
    }
    STASIS_RETURN(cx, text);
    STASIS_END(cx);
  }
};

// Sleeps `ms` milliseconds, then returns `tag`.
struct Napper : Frame<Napper> {
  std::int64_t ms = 0;
  std::int64_t tag = 0;
  STASIS_FIELDS(ms, tag)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_SLEEP(cx, std::chrono::milliseconds(ms));
    STASIS_RETURN(cx, tag);
    STASIS_END(cx);
  }
};

// Holds a raw pointer outside its persistent fields: freezing is fine, it is not
// persisted. Registered *without* persistence, to test the refusal.
struct Unpersistable : Frame<Unpersistable> {
  std::int64_t x = 0;
  STASIS_FIELDS(x)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_SCHEDULE(cx);
    STASIS_END(cx);
  }
};

}  // namespace stasis::test

#endif  // STASIS_TESTS_PERSIST_FRAMES_H_
