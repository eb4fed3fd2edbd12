// hostile_frames.h — frame types, a realistic scheduler and a bounded runner for the
// hostile-snapshot corpus (hostile_snapshot_test.cc) and the thaw fuzzer
// (tests/fuzz/thaw_fuzz.cc).
//
// A hostile snapshot may set every field to any value its type allows, so these
// frames are written to survive that, as any frame that restores untrusted
// snapshots must be: arithmetic is unsigned (it wraps, never overflows), a null
// channel reference raises BadField instead of being dereferenced, every loop
// iteration polls or calls (a step budget stops it whatever its bound, even when
// its channel operations never block: a restored channel may have any capacity),
// an index is checked after every resume point before it is used (a frame may be
// resumed at any of its points with any field values), texts and vectors grow by
// a bounded amount per step, and sleeps last at most kMaxNapMs. Every type is registered under a "test.hostile." name in
// hostile_frames.cc.
#ifndef STASIS_TESTS_PERSIST_HOSTILE_FRAMES_H_
#define STASIS_TESTS_PERSIST_HOSTILE_FRAMES_H_

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "stasis/persist/persistent_frame.h"
#include "stasis/persist/snapshot.h"
#include "stasis/stasis.h"

namespace stasis::test::hostile {

// What these frames raise for a field value they cannot work with.
class BadField : public Error {
 public:
  using Error::Error;
};
// What Thrower raises for an odd value (Guard catches it).
class OddValue : public Error {
 public:
  using Error::Error;
};

template <class T>
Channel<T>& need(Channel<T>* ch, const char* field) {
  if (!ch) throw BadField(std::string(field) + " is a null channel reference");
  return *ch;
}

// A message struct: serialized through its field list (Boost class info included).
struct Msg {
  std::uint64_t seq = 0;
  std::string tag;
  std::vector<std::uint32_t> hops;
  bool urgent = false;
  STASIS_FIELDS(seq, tag, hops, urgent)
};

using Pair = std::pair<std::int64_t, std::string>;

// Sends i*i + salt for i in [i, n).
struct Emit : Frame<Emit> {
  Channel<std::uint64_t>* out = nullptr;
  std::uint64_t i = 0;
  std::uint64_t n = 0;
  std::uint64_t salt = 0;
  STASIS_FIELDS(out, i, n, salt)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (; i < n; ++i) {
      STASIS_POLL(cx);
      STASIS_SEND(cx, need(out, "Emit.out"), i * i + salt);
    }
    STASIS_END(cx);
  }
};

// Receives n values and returns an order-sensitive hash of them.
struct Fold : Frame<Fold> {
  Channel<std::uint64_t>* in = nullptr;
  std::uint64_t n = 0;
  std::uint64_t k = 0;
  std::uint64_t v = 0;
  std::uint64_t acc = 0;
  std::vector<std::uint64_t> firsts;
  STASIS_FIELDS(in, n, k, v, acc, firsts)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (k = 0; k < n; ++k) {
      STASIS_POLL(cx);
      STASIS_RECEIVE(cx, need(in, "Fold.in"), v);
      acc = acc * 1099511628211ull + v;
      if (firsts.size() < 4) firsts.push_back(v);
    }
    STASIS_RETURN(cx, acc);
    STASIS_END(cx);
  }
};

// Sends i to outs[i % outs.size()] for i in [i, n): a vector of channel references.
struct Fan : Frame<Fan> {
  std::vector<Channel<std::uint64_t>*> outs;
  std::uint64_t i = 0;
  std::uint64_t n = 0;
  STASIS_FIELDS(outs, i, n)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (; i < n; ++i) {
      STASIS_POLL(cx);
      if (outs.empty()) throw BadField("Fan.outs is empty");
      STASIS_SEND(cx, need(outs[i % outs.size()], "Fan.outs[]"), i);
    }
    STASIS_END(cx);
  }
};

// Forwards `count` messages from `in` to `out`, stamping each.
struct Relay : Frame<Relay> {
  Channel<Msg>* in = nullptr;
  Channel<Msg>* out = nullptr;
  std::uint64_t count = 0;
  std::uint32_t hop = 0;
  Msg m;
  STASIS_FIELDS(in, out, count, hop, m)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    while (count > 0) {
      --count;
      STASIS_POLL(cx);
      STASIS_RECEIVE(cx, need(in, "Relay.in"), m);
      ++m.seq;
      if (m.tag.size() < 64) m.tag += ".";
      if (m.hops.size() < 16) m.hops.push_back(hop);
      m.urgent = !m.urgent;
      STASIS_SEND(cx, need(out, "Relay.out"), m);
    }
    STASIS_RETURN(cx, m.seq);
    STASIS_END(cx);
  }
};

// Binary recursion through soft calls (deep frame chains), yielding at each call.
struct Walk : Frame<Walk> {
  std::int64_t depth = 0;
  std::uint64_t a = 0;
  std::uint64_t b = 0;
  STASIS_FIELDS(depth, a, b)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_SCHEDULE(cx);
    if (depth <= 0) STASIS_RETURN(cx, std::uint64_t{1});
    STASIS_CALL(cx, a, Walk{.depth = depth - 1});
    STASIS_CALL(cx, b, Walk{.depth = depth - 2});
    STASIS_RETURN(cx, a + b + 1);
    STASIS_END(cx);
  }
};

// Receives one value and returns it; raises OddValue for an odd one.
struct Thrower : Frame<Thrower> {
  Channel<std::uint64_t>* in = nullptr;
  std::uint64_t v = 0;
  STASIS_FIELDS(in, v)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    STASIS_RECEIVE(cx, need(in, "Thrower.in"), v);
    if (v % 2 == 1) throw OddValue("odd value " + std::to_string(v));
    STASIS_RETURN(cx, v);
    STASIS_END(cx);
  }
};

// Calls Thrower `rounds` times, catching its errors; returns how many it caught.
struct Guard : Frame<Guard> {
  Channel<std::uint64_t>* in = nullptr;
  std::uint64_t rounds = 0;
  std::uint64_t got = 0;
  std::uint64_t caught = 0;
  bool last_failed = false;
  std::exception_ptr err;  // set and read within one step: not persisted
  STASIS_FIELDS(in, rounds, got, caught, last_failed)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    while (rounds > 0) {
      --rounds;
      STASIS_CALL_CATCH(cx, got, err, Thrower{.in = in});
      last_failed = err != nullptr;
      if (err) ++caught;
    }
    STASIS_RETURN(cx, caught);
    STASIS_END(cx);
  }
};

// Sends its words in order.
struct Speak : Frame<Speak> {
  Channel<std::string>* out = nullptr;
  std::vector<std::string> words;
  std::uint64_t i = 0;
  STASIS_FIELDS(out, words, i)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (; i < words.size(); ++i) {
      STASIS_POLL(cx);
      // Resumed here, i is whatever the snapshot says: check it before indexing.
      if (i >= words.size()) throw BadField("Speak.i is past the end of Speak.words");
      STASIS_SEND(cx, need(out, "Speak.out"), words[i]);
    }
    STASIS_END(cx);
  }
};

// Joins n words.
struct Listen : Frame<Listen> {
  Channel<std::string>* in = nullptr;
  std::uint64_t n = 0;
  std::string word;
  std::string text;
  STASIS_FIELDS(in, n, word, text)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    while (n > 0) {
      --n;
      STASIS_POLL(cx);
      STASIS_RECEIVE(cx, need(in, "Listen.in"), word);
      if (text.size() < 4096) text += word + ";";
    }
    STASIS_RETURN(cx, text);
    STASIS_END(cx);
  }
};

// Sends (i, "even"/"odd") pairs: a composite value type.
struct EmitPair : Frame<EmitPair> {
  Channel<Pair>* out = nullptr;
  std::uint64_t i = 0;
  std::uint64_t n = 0;
  STASIS_FIELDS(out, i, n)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    for (; i < n; ++i) {
      STASIS_POLL(cx);
      STASIS_SEND(cx, need(out, "EmitPair.out"), Pair(static_cast<std::int64_t>(i), i % 2 ? "odd" : "even"));
    }
    STASIS_END(cx);
  }
};

// Sums pair values per key in a map.
struct Tally : Frame<Tally> {
  Channel<Pair>* in = nullptr;
  std::uint64_t n = 0;
  Pair p;
  std::map<std::string, std::uint64_t> counts;
  STASIS_FIELDS(in, n, p, counts)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    while (n > 0) {
      --n;
      STASIS_POLL(cx);
      STASIS_RECEIVE(cx, need(in, "Tally.in"), p);
      if (counts.size() < 64 || counts.count(p.second)) counts[p.second] += static_cast<std::uint64_t>(p.first);
    }
    STASIS_RETURN(cx, static_cast<std::uint64_t>(counts.size()));
    STASIS_END(cx);
  }
};

// Sleeps min(rounds, 3) times for (ms mod kMaxNapMs+1) milliseconds, then returns
// tag: a restored Nap never keeps a run waiting for more than 3 * kMaxNapMs.
inline constexpr std::int64_t kMaxNapMs = 20;
struct Nap : Frame<Nap> {
  std::int64_t ms = 0;
  std::uint64_t rounds = 0;
  std::uint64_t tag = 0;
  STASIS_FIELDS(ms, rounds, tag)
  Step run(Ctx& cx) {
    STASIS_BEGIN(cx);
    while (rounds > 0) {
      if (rounds > 3) rounds = 3;
      --rounds;
      STASIS_SLEEP(cx, std::chrono::milliseconds(static_cast<std::uint64_t>(ms) % (kMaxNapMs + 1)));
    }
    STASIS_RETURN(cx, tag);
    STASIS_END(cx);
  }
};

// The channels of a realistic scheduler (they must outlive its tasklets).
struct World {
  std::vector<std::unique_ptr<Channel<std::uint64_t>>> numbers;
  std::vector<std::unique_ptr<Channel<Msg>>> ring;
  std::unique_ptr<Channel<std::uint64_t>> guarded;
  std::unique_ptr<Channel<std::string>> words;
  std::unique_ptr<Channel<Pair>> pairs;
};

// Spawns about 50 tasklets of every frame type above on `s` over sync and buffered
// channels of five value types, runs them for `budget` steps and returns the
// interrupted tasklet (paused): afterwards there are buffered values, blocked
// senders holding values in flight, blocked receivers, deep frame chains, sleepers,
// a paused and an atomic tasklet.
TaskletRef build_realistic(Scheduler& s, World& w, std::uint64_t budget = 900);

// A snapshot of build_realistic's scheduler, made deterministic (producer pid,
// host, program, creation time, channel ids and sleep times are fixed), so that
// corpus statistics are reproducible.
persist::Snapshot realistic_snapshot(persist::Compression compression);

// What thaw_and_run found.
struct RunReport {
  bool loaded = false;
  std::string error_type;  // the typed error that rejected the snapshot (when !loaded)
  std::string failure;     // non-empty: an invariant of the harness was broken
};

// Thaws `snap` into a fresh scheduler of the calling thread (which must have none).
// A refusal must be a stasis::SnapshotError with a non-empty message, leaving the
// scheduler empty. A loaded snapshot is run for at most rounds * budget steps
// (atomic flags cleared and sleepers killed first: both opt out of a watchdog by
// design); run() may throw only stasis::Error, and tasklets may end only with
// stasis::Error exceptions. Then everything is destroyed.
RunReport thaw_and_run(const persist::Snapshot& snap, std::uint64_t budget = 400, int rounds = 6);

}  // namespace stasis::test::hostile

#endif  // STASIS_TESTS_PERSIST_HOSTILE_FRAMES_H_
