// workloads.cc — see workloads.h.
#include "workloads.h"

#include <capnp/message.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <utility>
#include <map>
#include <numeric>
#include <string>
#include <vector>

#include "../persist/persist_frames.h"
#include "stasis/native.h"
#include "stasis/persist/native.h"
#include "stasis/persist/container.h"
#include "stasis/persist/snapshot.h"
#include "stasis/schema/snapshot.capnp.h"

namespace stasis::test {

#if defined(STASIS_OTHER_BUILD)
// Makes this binary another build (another GNU build-id) of the same program.
[[gnu::used]] volatile int other_build_marker = 1;
#endif

namespace {

std::int64_t fold(int level, const std::vector<std::int64_t>& v, const std::string& name,
                  const std::map<int, std::string>& m, std::int64_t inner) {
  std::int64_t sum = std::accumulate(v.begin(), v.end(), std::int64_t{0});
  return inner * 3 + sum + static_cast<std::int64_t>(name.size()) + static_cast<std::int64_t>(m.at(level).size()) + level;
}

[[gnu::noinline]] std::int64_t deep(int level, Channel<std::int64_t>& in) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(level % 7 + 1), level);
  std::string name = "level " + std::to_string(level) + " of the deep recursion, long enough to leave SSO";
  std::map<int, std::string> m{{level, name + "!"}};
  std::int64_t inner = level == 0 ? in.receive() : deep(level - 1, in);
  return fold(level, v, name, m, inner) % 1000000007;
}

ChannelBase* channel_named(persist::Thawed& t, std::string_view name) {
  for (const auto& ch : t.channels()) {
    if (ch->name() == name) return ch.get();
  }
  return nullptr;
}

int fail(const std::string& what) {
  std::printf("error: %s\n", what.c_str());
  return 3;
}

// Thaws the snapshot file at `path` into s (native tasklets allowed); returns the
// error message, empty on success.
std::string thaw_file(const char* path, Scheduler& s, persist::Thawed& out) {
  try {
    out = persist::thaw(persist::Snapshot::read(path), s, {.allow_native = true});
    return "";
  } catch (const std::exception& e) {
    return e.what();
  }
}

// --- roles ---

int freeze_deep(const char* path, int depth) {
  Scheduler s;
  Channel<std::int64_t> in({.name = "in"});
  TaskletRef t = spawn_native(s, [&in, depth] { return deep_tasklet(depth, in); }, {.name = "deep", .arena = true});
  try {
    s.run();
  } catch (const Deadlock&) {
  }
  persist::Snapshot snap = persist::freeze(s);
  snap.write(path);
  std::printf("frozen %zu bytes\n", snap.bytes().size());
  spawn_native(s, [&in] { in.send(42); }, {.name = "sender"});
  s.run();
  std::printf("result=%lld\n", static_cast<long long>(t->result<std::int64_t>()));
  return 0;
}

int thaw_deep(const char* path, std::int64_t value) {
  Scheduler s;
  persist::Thawed restored;
  if (std::string error = thaw_file(path, s, restored); !error.empty()) return fail(error);
  auto* in = static_cast<Channel<std::int64_t>*>(channel_named(restored, "in"));
  TaskletRef t = restored.find("deep");
  if (!in || !t) return fail("the snapshot lacks the channel 'in' or the tasklet 'deep'");
  if (!t->native()) return fail("the restored tasklet is not native");
  spawn_native(s, [in, value] { in->send(value); }, {.name = "sender"});
  s.run();
  std::printf("result=%lld\n", static_cast<long long>(t->result<std::int64_t>()));
  return 0;
}

// A soft producer (Squares) feeding a native consumer that keeps what it saw in
// an arena vector; frozen in the middle.
std::int64_t consume(Channel<std::int64_t>& in, int n) {
  std::vector<std::int64_t> seen;
  for (int k = 0; k < n; ++k) seen.push_back(in.receive());
  std::int64_t h = 0;
  for (std::int64_t v : seen) h = h * 31 + v;
  return h;
}

int freeze_mixed(const char* path) {
  Scheduler s;
  auto* squares = new Channel<std::int64_t>({.name = "squares"});
  s.spawn(Squares{.out = squares, .n = 200}, {.name = "producer"});
  TaskletRef c = spawn_native(s, [squares] { return consume(*squares, 200); }, {.name = "consumer", .arena = true});
  TaskletRef interrupted = s.run(157);
  persist::Snapshot snap = persist::freeze(s, {.interrupted = interrupted.get()});
  snap.write(path);
  if (interrupted) interrupted->insert();
  s.run();
  std::printf("result=%lld\n", static_cast<long long>(c->result<std::int64_t>()));
  return 0;
}

int thaw_mixed(const char* path) {
  Scheduler s;
  persist::Thawed restored;
  if (std::string error = thaw_file(path, s, restored); !error.empty()) return fail(error);
  if (restored.interrupted()) restored.interrupted()->insert();
  TaskletRef c = restored.find("consumer");
  if (!c) return fail("no consumer in the snapshot");
  s.run();
  std::printf("result=%lld\n", static_cast<long long>(c->result<std::int64_t>()));
  return 0;
}

// A named external: the tasklet keeps a pointer to it across the freeze; the
// restoring process re-binds the name to its own sink.
struct LogSink {
  std::int64_t total = 0;
  int entries = 0;
};
LogSink writer_sink;

[[gnu::noinline]] std::int64_t log_received(Channel<std::int64_t>& in, LogSink* sink) {
  LogSink* volatile kept = sink;
  std::int64_t v = in.receive();
  kept->total += v;
  kept->entries += 1;
  return v;
}

// Freezes a tasklet holding the external "log" and a tasklet that has not started
// yet (it will send `late` when it first runs).
int freeze_external(const char* path) {
  persist::register_external("log", writer_sink);
  Scheduler s;
  Channel<std::int64_t> in({.name = "in"});
  spawn_native(s, [&in] { return log_received(in, &writer_sink); }, {.name = "logger"});
  try {
    s.run();
  } catch (const Deadlock&) {
  }
  spawn_native(s, [&in] { in.send(31); }, {.name = "late"});  // new: not started when frozen
  persist::freeze(s).write(path);
  std::printf("frozen\n");
  return 0;
}

int thaw_external(const char* path, bool register_sink) {
  LogSink reader_sink;  // another object, elsewhere (this main's stack)
  if (register_sink) persist::register_external("log", reader_sink);
  Scheduler s;
  persist::Thawed restored;
  if (std::string error = thaw_file(path, s, restored); !error.empty()) return fail(error);
  s.run();
  std::printf("sink total=%lld entries=%d writer_sink entries=%d\n", static_cast<long long>(reader_sink.total),
              reader_sink.entries, writer_sink.entries);
  return 0;
}

// A sleeping and a runnable (yielded) native tasklet, frozen together.
std::int64_t sleeper() {
  std::vector<std::int64_t> kept{1, 2, 3};
  this_tasklet::sleep_for(std::chrono::milliseconds(150));
  return kept[0] + kept[1] + kept[2];  // 6
}

int yields_seen = 0;  // how far the writer let the yielder run

std::int64_t yielder(int rounds) {
  std::string trace;
  for (int i = 0; i < rounds; ++i) {
    trace += static_cast<char>('a' + i);
    ++yields_seen;
    this_tasklet::yield();
  }
  return static_cast<std::int64_t>(trace.size()) * 100 + (trace.back() - 'a');
}

int freeze_states(const char* path) {
  Scheduler s;
  TaskletRef sl = spawn_native(s, [] { return sleeper(); }, {.name = "sleeper", .arena = true});
  TaskletRef y = spawn_native(s, [] { return yielder(5); }, {.name = "yielder", .arena = true});
  s.run_until([&] { return sl->blocked() && yields_seen >= 2; });
  std::printf("frozen sleeper=%s yielder=%s\n", sl->blocked() ? "blocked" : "other",
              y->state() == TaskletState::kRunnable ? "runnable" : "other");
  persist::freeze(s).write(path);
  return 0;
}

int thaw_states(const char* path) {
  Scheduler s;
  persist::Thawed restored;
  if (std::string error = thaw_file(path, s, restored); !error.empty()) return fail(error);
  TaskletRef sl = restored.find("sleeper"), y = restored.find("yielder");
  if (!sl || !y) return fail("the snapshot lacks the sleeper or the yielder");
  const bool sleeping = sl->blocked() && s.pending_timers() == 1;
  s.run();
  std::printf("restored sleeping=%d result=%lld,%lld\n", sleeping ? 1 : 0,
              static_cast<long long>(sl->result<std::int64_t>()), static_cast<long long>(y->result<std::int64_t>()));
  return 0;
}

// Kills the restored deep tasklet: its 1,000 frames unwind, destructors run on the
// restored containers (arena blocks freed into the restored share).
int thaw_kill(const char* path) {
  Scheduler s;
  persist::Thawed restored;
  if (std::string error = thaw_file(path, s, restored); !error.empty()) return fail(error);
  TaskletRef t = restored.find("deep");
  if (!t) return fail("no tasklet 'deep'");
  t->kill();
  std::printf("killed state=%s\n", t->state() == TaskletState::kKilled ? "killed" : "alive");
  return 0;
}

// Hostile variants of a native snapshot: each must be refused before anything is
// restored (the scheduler stays empty, no arena run stays mapped), and the intact
// snapshot must still restore and finish afterwards.
int thaw_hostile(const char* path) {
  const persist::Snapshot intact = persist::Snapshot::read(path);
  using Edit = std::function<void(schema::NativeTasklet::Builder)>;
  const std::vector<std::pair<std::string, Edit>> cases = {
      {"a relocated word outside the stack, callable and arena",
       [](schema::NativeTasklet::Builder n) { n.getRelocations()[0].setAt(0x10); }},
      {"a relocation naming a missing tasklet",
       [](schema::NativeTasklet::Builder n) { n.getRelocations()[0].initTarget().setTasklet(999999); }},
      {"a relocation naming a missing channel",
       [](schema::NativeTasklet::Builder n) { n.getRelocations()[0].initTarget().setChannel(77); }},
      {"callable operations outside the program", [](schema::NativeTasklet::Builder n) { n.setCallableOps(0x1000); }},
      {"a stack shorter than its context says",
       [](schema::NativeTasklet::Builder n) { n.setContext(n.getContext() + 64); }},
      {"a context outside its region", [](schema::NativeTasklet::Builder n) { n.setContext(n.getRegionLow() - 4096); }},
      {"an arena run with a broken header",
       [](schema::NativeTasklet::Builder n) {
         auto bytes = n.getArenaRuns()[0].getBytes();
         for (unsigned k = 0; k < 16 && k < bytes.size(); ++k) bytes[k] = static_cast<capnp::byte>(~bytes[k]);
       }},
  };
  int refused = 0;
  for (const auto& [what, edit] : cases) {
    persist::MessageView view = persist::MessageView::from_bytes(intact.bytes());
    capnp::MallocMessageBuilder message;
    message.setRoot(view.listed_root());
    auto tasklets = message.getRoot<schema::Snapshot>().getTasklets();
    for (auto t : tasklets) {
      if (t.hasNative()) edit(t.getNative());
    }
    persist::Snapshot hostile(persist::encode_container(message));
    Scheduler s;
    try {
      persist::Thawed t = persist::thaw(hostile, s, {.allow_native = true});
      std::printf("ACCEPTED: %s\n", what.c_str());
    } catch (const SnapshotError& e) {
      ++refused;
      std::printf("refused (%s): %s\n", what.c_str(), e.what());
    }
    if (s.alive_count() != 0) std::printf("LEFT TASKLETS after %s\n", what.c_str());
  }
  std::printf("refused %d of %zu\n", refused, cases.size());
  return thaw_deep(path, 42);
}

}  // namespace

std::int64_t deep_tasklet(int depth, Channel<std::int64_t>& in) { return deep(depth, in); }

std::int64_t deep_expected(int depth, std::int64_t value) {
  std::int64_t r = value;
  for (int level = 0; level <= depth; ++level) {
    std::vector<std::int64_t> v(static_cast<std::size_t>(level % 7 + 1), level);
    std::string name = "level " + std::to_string(level) + " of the deep recursion, long enough to leave SSO";
    std::map<int, std::string> m{{level, name + "!"}};
    r = fold(level, v, name, m, r) % 1000000007;
  }
  return r;
}

int run_role(int argc, char** argv) {
  const std::string role = argc > 2 ? argv[2] : "";
  if (role == "freeze-deep" && argc == 5) return freeze_deep(argv[3], std::atoi(argv[4]));
  if (role == "thaw-deep" && argc == 5) return thaw_deep(argv[3], std::atoll(argv[4]));
  if (role == "freeze-mixed" && argc == 4) return freeze_mixed(argv[3]);
  if (role == "thaw-mixed" && argc == 4) return thaw_mixed(argv[3]);
  if (role == "freeze-states" && argc == 4) return freeze_states(argv[3]);
  if (role == "thaw-states" && argc == 4) return thaw_states(argv[3]);
  if (role == "thaw-kill" && argc == 4) return thaw_kill(argv[3]);
  if (role == "thaw-hostile" && argc == 4) return thaw_hostile(argv[3]);
  if (role == "freeze-external" && argc == 4) return freeze_external(argv[3]);
  if (role == "thaw-external" && argc == 4) return thaw_external(argv[3], true);
  if (role == "thaw-external-unregistered" && argc == 4) return thaw_external(argv[3], false);
  std::printf("unknown role or arguments: %s\n", role.c_str());
  return 2;
}

}  // namespace stasis::test
