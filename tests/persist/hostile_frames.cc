// hostile_frames.cc — registrations of the hostile-corpus frame types, the
// realistic scheduler and the bounded runner (see hostile_frames.h).
#include "hostile_frames.h"

#include <typeinfo>

#include "snapshot_mutation.h"
#include "stasis/persist/value_codec.h"

namespace stasis::test::hostile {

STASIS_PERSISTENT_VALUE(Msg, "test.hostile.Msg");
STASIS_PERSISTENT_FRAME(Emit, "test.hostile.Emit", 1);
STASIS_PERSISTENT_FRAME(Fold, "test.hostile.Fold", 1);
STASIS_PERSISTENT_FRAME(Fan, "test.hostile.Fan", 1);
STASIS_PERSISTENT_FRAME(Relay, "test.hostile.Relay", 1);
STASIS_PERSISTENT_FRAME(Walk, "test.hostile.Walk", 1);
STASIS_PERSISTENT_FRAME(Thrower, "test.hostile.Thrower", 1);
STASIS_PERSISTENT_FRAME(Guard, "test.hostile.Guard", 1);
STASIS_PERSISTENT_FRAME(Speak, "test.hostile.Speak", 1);
STASIS_PERSISTENT_FRAME(Listen, "test.hostile.Listen", 1);
STASIS_PERSISTENT_FRAME(EmitPair, "test.hostile.EmitPair", 1);
STASIS_PERSISTENT_FRAME(Tally, "test.hostile.Tally", 1);
STASIS_PERSISTENT_FRAME(Nap, "test.hostile.Nap", 1);

namespace {

template <class T>
std::unique_ptr<Channel<T>> channel(std::string name, std::size_t capacity = 0) {
  return std::make_unique<Channel<T>>(ChannelOptions{.name = std::move(name), .capacity = capacity});
}

std::string type_name(const std::exception& e) { return persist::demangle(typeid(e).name()); }

}  // namespace

TaskletRef build_realistic(Scheduler& s, World& w, std::uint64_t budget) {
  // Sleepers first, at a high priority: they are asleep when the budget runs out.
  for (int k = 0; k < 2; ++k) s.spawn(Nap{.ms = kMaxNapMs, .rounds = 3, .tag = 100u + k}, {.name = "nap", .priority = 5});

  // Producer/consumer pairs over sync (even) and buffered (odd) channels.
  for (std::uint64_t j = 0; j < 10; ++j) {
    w.numbers.push_back(channel<std::uint64_t>("n" + std::to_string(j), j % 2 ? 4 : 0));
    Channel<std::uint64_t>* ch = w.numbers.back().get();
    s.spawn(Emit{.out = ch, .n = 90 + j, .salt = j}, {.name = "emit-" + std::to_string(j)});
    TaskletRef fold = s.spawn(Fold{.in = ch, .n = 90 + j}, {.name = "fold-" + std::to_string(j)});
    if (j == 1) fold->set_atomic(true);
    if (j == 2) fold->set_priority(-3);
  }
  // A fan-out over two channels (a vector of channel references), with consumers.
  w.numbers.push_back(channel<std::uint64_t>("fan-a"));
  w.numbers.push_back(channel<std::uint64_t>("fan-b", 2));
  Channel<std::uint64_t>* fa = w.numbers[10].get();
  Channel<std::uint64_t>* fb = w.numbers[11].get();
  s.spawn(Fan{.outs = {fa, fb}, .n = 60}, {.name = "fan"});
  s.spawn(Fold{.in = fa, .n = 30}, {.name = "fold-fan-a"});
  s.spawn(Fold{.in = fb, .n = 30}, {.name = "fold-fan-b"});

  // A ring of three relays with two messages travelling round it.
  w.ring.push_back(channel<Msg>("r0", 2));
  w.ring.push_back(channel<Msg>("r1"));
  w.ring.push_back(channel<Msg>("r2"));
  for (std::uint32_t k = 0; k < 3; ++k) {
    s.spawn(Relay{.in = w.ring[k].get(), .out = w.ring[(k + 1) % 3].get(), .count = 36, .hop = k + 1},
            {.name = "relay-" + std::to_string(k)});
  }
  w.ring[0]->send(Msg{.seq = 1, .tag = "m", .hops = {0}, .urgent = true});
  w.ring[0]->send(Msg{.seq = 1000, .tag = "q"});

  // Binary recursion: deep frame chains; one paused before it ever ran.
  for (std::int64_t d = 6; d < 22; ++d) {
    TaskletRef t = s.spawn(Walk{.depth = d}, {.name = "walk-" + std::to_string(d), .priority = d == 6 ? 2 : 0});
    if (d == 7) t->remove();
  }

  // Calls that catch errors: Guards call Throwers, which fail on odd values.
  w.guarded = channel<std::uint64_t>("guarded", 3);
  s.spawn(Emit{.out = w.guarded.get(), .n = 36}, {.name = "emit-guarded"});
  for (int k = 0; k < 3; ++k) s.spawn(Guard{.in = w.guarded.get(), .rounds = 12}, {.name = "guard"});

  // Strings over a buffered channel.
  w.words = channel<std::string>("words", 3);
  std::vector<std::string> greek, numbers;
  for (const char* g : {"alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa"}) {
    greek.push_back(g);
    greek.push_back(std::string(g) + "-2");
  }
  for (int k = 0; k < 20; ++k) numbers.push_back(std::to_string(k * 7919));
  s.spawn(Speak{.out = w.words.get(), .words = greek}, {.name = "speak-1"});
  s.spawn(Speak{.out = w.words.get(), .words = numbers}, {.name = "speak-2"});
  s.spawn(Listen{.in = w.words.get(), .n = 40}, {.name = "listen"});

  // A composite value type over a sync channel.
  w.pairs = channel<Pair>("pairs");
  s.spawn(EmitPair{.out = w.pairs.get(), .n = 20}, {.name = "pairs-1"});
  s.spawn(EmitPair{.out = w.pairs.get(), .n = 20}, {.name = "pairs-2"});
  s.spawn(Tally{.in = w.pairs.get(), .n = 40}, {.name = "tally"});

  return s.run(budget);
}

persist::Snapshot realistic_snapshot(persist::Compression compression) {
  World w;
  Scheduler s;
  TaskletRef interrupted = build_realistic(s, w);
  persist::Snapshot snap = persist::freeze(s, {.container = {.compression = persist::Compression::kNone},
                                               .interrupted = interrupted.get()});
  return mutate(
      snap,
      [](schema::Snapshot::Builder root) {
        root.setCreatedUnixNs(0);
        auto p = root.getProducer();
        p.setPid(0);
        p.setHostname("stasis-test");
        p.setProgram("stasis-test");
        auto channels = root.getChannels();
        for (unsigned i = 0; i < channels.size(); ++i) channels[i].setId(1000 + i);
        for (auto t : root.getTasklets()) {
          if (t.getWait().isSleep()) t.getWait().setSleep(kMaxNapMs * 1000000);
        }
      },
      compression);
}

RunReport thaw_and_run(const persist::Snapshot& snap, std::uint64_t budget, int rounds) {
  RunReport r;
  persist::Thawed thawed;  // destroyed after the scheduler: tasklets end before their channels
  Scheduler s;
  try {
    thawed = persist::thaw(snap, s);
  } catch (const SnapshotError& e) {
    r.error_type = type_name(e);
    if (std::string_view(e.what()).empty()) {
      r.failure = r.error_type + " with an empty message";
    } else if (s.alive_count() != 0 || s.runnable_count() != 0 || s.blocked_count() != 0 || s.pending_timers() != 0) {
      r.failure = "a refused thaw (" + r.error_type + ": " + e.what() + ") left tasklets or timers in the scheduler";
    }
    return r;
  } catch (const std::exception& e) {
    r.failure = "thaw threw " + type_name(e) + ", not a stasis::SnapshotError: " + e.what();
    return r;
  } catch (...) {
    r.failure = "thaw threw something that is not a std::exception";
    return r;
  }
  r.loaded = true;

  // Atomic tasklets opt out of the step budget and restored timers may be set for
  // any time: neither is the watchdog's business, so take them out of the run.
  auto settle = [&] {
    for (const TaskletRef& t : thawed.tasklets()) {
      if (!t->alive()) continue;
      t->set_atomic(false);
      if (t->blocked() && t->wait_kind() == WaitKind::kSleep) t->kill();
    }
  };
  try {
    settle();
    if (const TaskletRef& t = thawed.interrupted(); t && t->state() == TaskletState::kPaused) t->insert();
    for (int round = 0; round < rounds; ++round) {
      settle();
      TaskletRef t = s.run(budget);
      if (!t) break;
      t->insert();
    }
  } catch (const Error&) {
    // Deadlock, or a state error of the restored tasklets: typed, as it must be.
  } catch (const std::exception& e) {
    r.failure = "running the restored scheduler threw " + type_name(e) + ": " + e.what();
  } catch (...) {
    r.failure = "running the restored scheduler threw something that is not a std::exception";
  }
  for (const TaskletRef& t : thawed.tasklets()) {
    if (!t->failed() || !r.failure.empty()) continue;
    try {
      t->rethrow_if_failed();
    } catch (const Error&) {
    } catch (const std::exception& e) {
      r.failure = t->label() + " ended with " + type_name(e) + ", not a stasis::Error: " + e.what();
    } catch (...) {
      r.failure = t->label() + " ended with something that is not a std::exception";
    }
  }
  return r;
}

}  // namespace stasis::test::hostile
