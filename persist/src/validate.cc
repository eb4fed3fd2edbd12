// persist/src/validate.cc — the snapshot message checker (see validate.h for the
// invariants).
//
// One pass over types, one over tasklets, one over channels, each list fetched once
// (Cap'n Proto charges every list fetch to the traversal limit). Paths for problems
// are built only when a problem is found. Memory: per tasklet one id entry and one
// wait record, per type a field count — all proportional to elements present.
#include "stasis/persist/validate.h"

#include "tasklet_ids.h"

#include <kj/exception.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace stasis::persist {
namespace {

using schema::Channel;
using schema::Field;
using schema::Frame;
using schema::Snapshot;
using schema::Tasklet;
using schema::Value;

struct Stop {};  // thrown inside the checker when max_problems is reached

constexpr std::uint32_t kNone32 = ~std::uint32_t{0};

std::string item(std::string_view list, std::size_t i) {
  return std::string(list) + "[" + std::to_string(i) + "]";
}

std::string plural(std::size_t n, std::string_view word) {
  return std::to_string(n) + " " + std::string(word) + (n == 1 ? "" : "s");
}

std::string_view view(capnp::Text::Reader t) { return {t.begin(), t.size()}; }

const char* state_name(Tasklet::State s) {
  switch (s) {
    case Tasklet::State::NEW: return "new";
    case Tasklet::State::RUNNABLE: return "runnable";
    case Tasklet::State::BLOCKED: return "blocked";
    case Tasklet::State::PAUSED: return "paused";
  }
  return "unknown";
}

// The channel wait of one tasklet, for matching against channel waiter lists.
using ChannelWait = ValidatedWait;

class Checker {
 public:
  explicit Checker(std::size_t max_problems) : max_(max_problems == 0 ? 1 : max_problems) {}

  std::vector<std::string> problems;
  bool hit_limit = false;
  TaskletIds& tasklet_ids() noexcept { return tasklet_index_; }
  detail::BulkVector<ChannelWait>& waits() noexcept { return waits_; }
  // Whether every channel's waiters are listed in increasing tasklet position.
  bool waiters_in_tasklet_order() const noexcept { return in_tasklet_order_; }
  // Where to copy the records read (thaw), or null.
  Validated* record = nullptr;

  void run(Snapshot::Reader s) {
    channel_count_ = s.getChannels().size();
    check_native_tables(s);
    check_producer(s);
    check_frame_types(s);
    check_value_types(s);
    check_tasklets(s);
    check_channels(s);
    std::uint64_t archive = s.getArchive().size();
    if (archive_sum_ != archive) {
      report("archive has " + plural(archive, "byte") + " but frames, slots and buffered values account for " +
             plural(archive_sum_, "byte"));
    }
  }

 private:
  void report(std::string problem) {
    problems.push_back(std::move(problem));
    if (problems.size() >= max_) {
      hit_limit = true;
      throw Stop{};
    }
  }

  template <typename Path>
  void check_text(capnp::Text::Reader t, std::size_t max, bool required, Path&& path) {
    if (required && t.size() == 0) report(path() + " is empty");
    if (t.size() > max) report(path() + " has " + plural(t.size(), "byte") + ", more than the limit of " + std::to_string(max));
  }

  void check_producer(Snapshot::Reader s) {
    auto p = s.getProducer();
    unsigned pointer_bits = p.getPointerBits(), long_bits = p.getLongBits();
    if (pointer_bits != 32 && pointer_bits != 64) report("producer.pointerBits = " + std::to_string(pointer_bits) + " is not 32 or 64");
    if (long_bits != 32 && long_bits != 64) report("producer.longBits = " + std::to_string(long_bits) + " is not 32 or 64");
    check_text(p.getArch(), kMaxNameBytes, false, [] { return std::string("producer.arch"); });
    check_text(p.getLibraryVersion(), kMaxNameBytes, false, [] { return std::string("producer.libraryVersion"); });
    check_text(p.getCompiler(), kMaxNameBytes, false, [] { return std::string("producer.compiler"); });
    check_text(p.getHostname(), kMaxNameBytes, false, [] { return std::string("producer.hostname"); });
    check_text(p.getProgram(), kMaxNameBytes, false, [] { return std::string("producer.program"); });
    auto scope = static_cast<std::uint16_t>(s.getScope());
    if (scope > static_cast<std::uint16_t>(Snapshot::Scope::TASKLETS)) {
      report("scope = " + std::to_string(scope) + " is not a known scope");
    }
    check_text(s.getNote(), kMaxTextBytes, false, [] { return std::string("note"); });
  }

  void check_frame_types(Snapshot::Reader s) {
    auto types = s.getFrameTypes();
    field_counts_.reserve(types.size());
    std::unordered_set<std::string_view> names, field_names;
    names.reserve(types.size());
    for (std::uint32_t i = 0; i < types.size(); ++i) {
      auto t = types[i];
      auto path = [&] { return item("frameTypes", i); };
      check_text(t.getName(), kMaxNameBytes, true, [&] { return path() + ".name"; });
      if (!names.insert(view(t.getName())).second) report(path() + ".name '" + std::string(view(t.getName())) + "' repeats an earlier frame type");
      check_text(t.getCxxName(), kMaxTextBytes, false, [&] { return path() + ".cxxName"; });
      auto fields = t.getFields();
      field_counts_.push_back(fields.size());
      field_names.clear();
      for (std::uint32_t k = 0; k < fields.size(); ++k) {
        auto f = fields[k];
        auto fpath = [&] { return path() + "." + item("fields", k); };
        check_text(f.getName(), kMaxNameBytes, true, [&] { return fpath() + ".name"; });
        check_text(f.getType(), kMaxTextBytes, false, [&] { return fpath() + ".type"; });
        if (!field_names.insert(view(f.getName())).second) {
          report(fpath() + ".name '" + std::string(view(f.getName())) + "' repeats an earlier field of the type");
        }
      }
    }
  }

  void check_value_types(Snapshot::Reader s) {
    auto types = s.getValueTypes();
    value_type_count_ = types.size();
    std::unordered_set<std::string_view> names;
    names.reserve(types.size());
    for (std::uint32_t i = 0; i < types.size(); ++i) {
      auto name = types[i].getName();
      check_text(name, kMaxNameBytes, true, [&] { return item("valueTypes", i) + ".name"; });
      if (!names.insert(view(name)).second) report(item("valueTypes", i) + ".name '" + std::string(view(name)) + "' repeats an earlier value type");
    }
  }

  // Small enough to inline into the per-tasklet loop: the message is built out of line.
  template <typename Path>
  void check_channel_index(std::uint32_t index, Path&& path) {
    if (index >= channel_count_) [[unlikely]] report_channel_index(index, path());
  }
  [[gnu::noinline, gnu::cold]] void report_channel_index(std::uint32_t index, const std::string& path) {
    report(path + " = " + std::to_string(index) + " is out of range: " + plural(channel_count_, "channel"));
  }

  // `expected_type` is the channel's value type for buffered values, kNone32 for slots.
  template <typename Path>
  void check_value(Value::Reader v, std::uint32_t expected_type, Path&& path) {
    std::uint32_t type = v.getType();
    if (type >= value_type_count_) {
      report(path() + ".type = " + std::to_string(type) + " is out of range: " + plural(value_type_count_, "value type"));
    } else if (expected_type != kNone32 && type != expected_type) {
      report(path() + ".type = " + std::to_string(type) + " but the channel carries value type " + std::to_string(expected_type));
    }
    check_text(v.getText(), kMaxTextBytes, false, [&] { return path() + ".text"; });
    archive_sum_ += v.getArchiveBytes();
  }

  template <typename Path>
  void check_field(Field::Reader f, Path&& path) {
    switch (f.which()) {
      case Field::INT: case Field::UINT: case Field::FLOAT: case Field::BOOL: case Field::NULL_:
        return;
      case Field::TEXT:
        return check_text(f.getText(), kMaxTextBytes, false, [&] { return path() + ".text"; });
      case Field::OTHER:
        return check_text(f.getOther(), kMaxTextBytes, false, [&] { return path() + ".other"; });
      case Field::CHANNEL:
        return check_channel_index(f.getChannel(), [&] { return path() + ".channel"; });
    }
    report(path() + " has unknown kind " + std::to_string(static_cast<unsigned>(f.which())));
  }

  // The hot loop of a thaw (a million tasklets are common): each record's fields
  // are read once into locals (every accessor bounds-checks), its frame list is
  // fetched once, and the checks and the copy for thaw work from the locals.
  void check_tasklets(Snapshot::Reader s) {
    auto tasklets = s.getTasklets();
    const std::uint32_t count = tasklets.size();
    tasklet_index_.init(count);
    waits_.resize(count);
    if (record) {
      record->tasklets.reserve(count);
      record->frames.reserve(count);
    }
    std::uint32_t first_off_queue = kNone32;  // first tasklet that is neither new nor runnable
    for (std::uint32_t i = 0; i < count; ++i) {
      const Tasklet::Reader t = tasklets[i];
      auto path = [&] { return item("tasklets", i); };
      const std::uint64_t id = t.getId();
      const auto state = t.getState();
      const int priority = t.getPriority();
      const bool started = t.getStarted(), interrupted = t.getInterrupted();
      std::uint32_t previous = 0;
      if (!tasklet_index_.add(id, i, &previous)) {
        report(path() + ".id = " + std::to_string(id) + " repeats " + item("tasklets", previous) + ".id");
      }
      capnp::Text::Reader name;  // a null pointer reads as empty: skip the fetch
      if (t.hasName()) {
        name = t.getName();
        check_text(name, kMaxNameBytes, false, [&] { return path() + ".name"; });
      }
      if (priority < -16 || priority > 15) report(path() + ".priority = " + std::to_string(priority) + " is outside -16..15");

      if (static_cast<std::uint16_t>(state) > static_cast<std::uint16_t>(Tasklet::State::PAUSED)) {
        report(path() + ".state = " + std::to_string(static_cast<unsigned>(state)) + " is not a known state");
      }
      const bool queued = state == Tasklet::State::NEW || state == Tasklet::State::RUNNABLE;
      if (!queued && first_off_queue == kNone32) first_off_queue = i;
      if (queued && first_off_queue != kNone32) {
        report(path() + " is " + state_name(state) + " but follows " + item("tasklets", first_off_queue) +
               ", which is not (run-queue tasklets come first)");
      }
      const bool blocked = state == Tasklet::State::BLOCKED;
      if (state == Tasklet::State::NEW && started) report(path() + ".started is set but the state is new");
      if (blocked && !started) report(path() + " is blocked but has not started");
      if (interrupted && state != Tasklet::State::PAUSED) {
        report(path() + ".interrupted is set but the state is " + state_name(state) + " (interrupted tasklets are paused)");
      }
      std::int64_t sleep_ns = -1;
      check_wait(t.getWait(), state, i, path, &sleep_ns);
      const std::size_t first_frame = record ? record->frames.size() : 0;
      const bool native = t.hasNative();
      if (native) {
        if (t.getFrames().size() != 0) report(path() + " is native but lists soft frames");
        check_native(t.getNative(), started, path);
      } else {
        check_frames(t.getFrames(), started, path);
      }
      std::uint32_t slot_type = 0, slot_bytes = 0;
      const bool has_slot = t.getHasSlot();
      if (has_slot) {
        auto slot = t.getSlot();
        check_value(slot, kNone32, [&] { return path() + ".slot"; });
        slot_type = slot.getType();
        slot_bytes = slot.getArchiveBytes();
      } else if (t.hasSlot() && t.getSlot().getArchiveBytes() != 0) {
        report(path() + ".slot.archiveBytes = " + std::to_string(t.getSlot().getArchiveBytes()) + " but hasSlot is false");
      }
      if (record) {
        using V = ValidatedTasklet;
        const bool extra = sleep_ns >= 0 || has_slot || name.size() > 0;
        const auto bits = static_cast<std::uint8_t>(
            (t.getAtomic() ? V::kAtomic : 0) | (t.getBlockTrap() ? V::kBlockTrap : 0) | (started ? V::kStarted : 0) |
            (interrupted ? V::kInterrupted : 0) | (sleep_ns >= 0 ? V::kSleeps : 0) | (has_slot ? V::kHasSlot : 0) |
            (extra ? V::kExtra : 0) | (native ? V::kNative : 0));
        record->tasklets.push_back(
            {id, static_cast<std::uint32_t>(record->frames.size() - first_frame), state, static_cast<std::int8_t>(priority), bits});
        if (extra) record->extras.push_back({i, slot_type, slot_bytes, sleep_ns < 0 ? 0 : sleep_ns, view(name)});
      }
    }
  }

  // Sets *sleep_ns to the time left of a sleep wait. Inlined: it runs per tasklet.
  template <typename Path>
  [[gnu::always_inline]] void check_wait(Tasklet::Wait::Reader wait, Tasklet::State state, std::uint32_t i, Path&& path, std::int64_t* sleep_ns) {
    const bool blocked = state == Tasklet::State::BLOCKED;
    auto not_blocked = [&](const char* kind) {
      if (!blocked) report(path() + ".wait is " + kind + " but the state is " + state_name(state) + " (only blocked tasklets wait)");
    };
    const auto which = wait.which();
    switch (which) {
      case Tasklet::Wait::NONE:
        if (blocked) report(path() + " is blocked but its wait is none");
        return;
      case Tasklet::Wait::SEND:
      case Tasklet::Wait::RECEIVE: {
        const bool send = which == Tasklet::Wait::SEND;
        const std::uint32_t channel = send ? wait.getSend() : wait.getReceive();
        not_blocked(send ? "send" : "receive");
        check_channel_index(channel, [&] { return path() + ".wait." + (send ? "send" : "receive"); });
        if (channel < channel_count_) waits_[i] = {send ? ChannelWait::kSend : ChannelWait::kReceive, channel};
        return;
      }
      case Tasklet::Wait::SLEEP: {
        const std::int64_t sleep = wait.getSleep();
        not_blocked("sleep");
        if (sleep < 0) report(path() + ".wait.sleep = " + std::to_string(sleep) + " is negative");
        *sleep_ns = sleep;
        return;
      }
    }
    report(path() + ".wait has unknown kind " + std::to_string(static_cast<unsigned>(which)));
  }

  // The symbol and module tables of native snapshots (texts bounded).
  void check_native_tables(Snapshot::Reader s) {
    if (!s.hasSymbols() && !s.hasModules()) return;  // soft snapshots: nothing to fetch
    auto symbols = s.getSymbols();
    symbol_count_ = symbols.size();
    for (std::uint32_t k = 0; k < symbols.size(); ++k) {
      auto sym = symbols[k];
      auto path = [&] { return item("symbols", k); };
      check_text(sym.getFunction(), kMaxTextBytes, false, [&] { return path() + ".function"; });
      check_text(sym.getFile(), kMaxTextBytes, false, [&] { return path() + ".file"; });
      check_text(sym.getModule(), kMaxTextBytes, false, [&] { return path() + ".module"; });
    }
    auto modules = s.getModules();
    for (std::uint32_t k = 0; k < modules.size(); ++k) {
      check_text(modules[k].getPath(), kMaxTextBytes, false, [&] { return item("modules", k) + ".path"; });
      check_text(modules[k].getBuildId(), kMaxNameBytes, false, [&] { return item("modules", k) + ".buildId"; });
    }
  }

  // The structure of a native record (what it means for this process — layout,
  // externals, relocation targets — is checked by the native thawer).
  template <typename Path>
  void check_native(schema::NativeTasklet::Reader n, bool started, Path&& path) {
    if (n.getStarted() != started) report(path() + ".native.started disagrees with the tasklet's started flag");
    if (n.getRegionLow() >= n.getRegionHigh() && started) report(path() + ".native has an empty stack region");
    for (auto f : n.getFrames()) {
      if (f.getSymbol() > symbol_count_) {
        report(path() + ".native.frames[].symbol = " + std::to_string(f.getSymbol()) + " is out of range (" +
               plural(symbol_count_, "symbol") + ")");
      }
    }
    for (auto r : n.getRelocations()) {
      if (r.getTarget().which() == schema::Relocation::Target::CHANNEL) {
        check_channel_index(r.getTarget().getChannel(), [&] { return path() + ".native.relocations[].channel"; });
      } else if (r.getTarget().which() == schema::Relocation::Target::EXTERNAL) {
        check_text(r.getTarget().getExternal(), kMaxNameBytes, true, [&] { return path() + ".native.relocations[].external"; });
      }
    }
  }

  // `frames`: the tasklet's frame list, fetched once by the caller.
  template <typename Path>
  void check_frames(capnp::List<Frame>::Reader frames, bool started, Path&& path) {
    const std::uint32_t count = frames.size();
    if (count == 0) report(path() + ".frames is empty (every tasklet has at least its root frame)");
    if (!started && count > 1) {
      report(path() + ".frames has " + plural(count, "frame") + " but the tasklet has not started (it has only its root frame)");
    }
    for (std::uint32_t k = 0; k < count; ++k) {
      const Frame::Reader f = frames[k];
      auto fpath = [&] { return path() + "." + item("frames", k); };
      const std::uint32_t type = f.getType();
      const unsigned rp = f.getResumePoint();
      const bool catches_child = f.getCatchesChild();
      const std::uint32_t archive_bytes = f.getArchiveBytes();
      if (type >= field_counts_.size()) {
        report(fpath() + ".type = " + std::to_string(type) + " is out of range: " + plural(field_counts_.size(), "frame type"));
      }
      if (k > 0 && rp == 0) report(fpath() + ".resumePoint = 0 but an outer frame waits for its callee at a resume point >= 1");
      if (!started && rp != 0) report(fpath() + ".resumePoint = " + std::to_string(rp) + " but the tasklet has not started (expected 0)");
      if (k == 0 && catches_child) report(fpath() + ".catchesChild is set on the innermost frame, which has no callee");
      archive_sum_ += archive_bytes;
      if (record) record->frames.push_back({type, archive_bytes, static_cast<std::uint16_t>(rp), catches_child});
      // No values (the archive describes the fields: format 2) or one per field.
      if (!f.hasFields()) continue;  // the usual case in format 2: no list to fetch
      auto fields = f.getFields();
      if (type < field_counts_.size() && fields.size() != 0 && fields.size() != field_counts_[type]) {
        report(fpath() + ".fields has " + plural(fields.size(), "value") + " but its frame type (frameTypes[" +
               std::to_string(type) + "]) lists " + plural(field_counts_[type], "field"));
      }
      for (std::uint32_t j = 0; j < fields.size(); ++j) check_field(fields[j], [&] { return fpath() + "." + item("fields", j); });
    }
  }

  void check_channels(Snapshot::Reader s) {
    auto channels = s.getChannels();
    if (record) {
      record->waiters.reserve(waits_.size());
      record->waiter_ends.reserve(channels.size());
    }
    std::unordered_map<std::uint64_t, std::uint32_t> by_id;
    by_id.reserve(channels.size());
    for (std::uint32_t c = 0; c < channels.size(); ++c) {
      auto ch = channels[c];
      auto path = [&] { return item("channels", c); };
      auto [it, inserted] = by_id.emplace(ch.getId(), c);
      if (!inserted) report(path() + ".id = " + std::to_string(ch.getId()) + " repeats " + item("channels", it->second) + ".id");
      check_text(ch.getName(), kMaxNameBytes, false, [&] { return path() + ".name"; });
      std::uint32_t value_type = ch.getValueType();
      if (value_type >= value_type_count_) {
        report(path() + ".valueType = " + std::to_string(value_type) + " is out of range: " + plural(value_type_count_, "value type"));
        value_type = kNone32;
      }
      int preference = ch.getPreference();
      if (preference < -1 || preference > 1) report(path() + ".preference = " + std::to_string(preference) + " is not -1, 0 or 1");
      auto buffer = ch.getBuffer();
      if (buffer.size() > ch.getCapacity()) {
        report(path() + ".buffer holds " + plural(buffer.size(), "value") + " but the capacity is " + std::to_string(ch.getCapacity()));
      }
      for (std::uint32_t b = 0; b < buffer.size(); ++b) check_value(buffer[b], value_type, [&] { return path() + "." + item("buffer", b); });
      check_waiters(ch, c, buffer.size(), path);
      if (record) record->waiter_ends.push_back(static_cast<std::uint32_t>(record->waiters.size()));
    }
    for (std::uint32_t i = 0; i < waits_.size(); ++i) {
      const ChannelWait& w = waits_[i];
      if (w.kind != ChannelWait::kNoChannel && w.named_by == ~std::uint64_t{0}) {
        report(item("tasklets", i) + " waits to " + (w.kind == ChannelWait::kSend ? "send on " : "receive on ") +
               item("channels", w.channel) + " but is not among its waiters");
      }
    }
  }

  template <typename Path>
  void check_waiters(Channel::Reader ch, std::uint32_t c, std::size_t buffered, Path&& path) {
    auto waiters = ch.getWaiters();
    std::int64_t senders = 0, receivers = 0;
    std::int64_t previous_position = -1;
    const std::uint32_t count = waiters.size();
    for (std::uint32_t k = 0; k < count; ++k) {
      const auto w = waiters[k];
      auto wpath = [&] { return path() + "." + item("waiters", k); };
      const bool sending = w.getSending();
      const std::uint64_t id = w.getTasklet();
      sending ? ++senders : ++receivers;
      std::uint32_t ti = 0;
      if (!tasklet_index_.find(id, &ti)) {
        report(wpath() + ".tasklet = " + std::to_string(id) + " names no tasklet of this snapshot");
        continue;
      }
      ChannelWait& wait = waits_[ti];
      auto who = [&] { return "tasklet " + std::to_string(id) + " (" + item("tasklets", ti) + ")"; };
      if (wait.named_by != ~std::uint64_t{0}) {
        report(wpath() + " names " + who() + " again (already " + item("channels", wait.named_by >> 32) + "." +
               item("waiters", wait.named_by & 0xffffffffu) + ")");
        continue;
      }
      wait.named_by = (std::uint64_t{c} << 32) | k;
      if (static_cast<std::int64_t>(ti) <= previous_position) in_tasklet_order_ = false;
      previous_position = ti;
      if (record) record->waiters.push_back(ti << 1 | (sending ? 1u : 0u));
      if (wait.kind == ChannelWait::kNoChannel) {
        report(wpath() + " names " + who() + ", which does not wait on a channel");
      } else if (wait.channel != c) {
        report(wpath() + " names " + who() + ", which waits on " + item("channels", wait.channel));
      } else if (sending != (wait.kind == ChannelWait::kSend)) {
        report(wpath() + ".sending is " + (sending ? "true" : "false") + " but " + who() + " waits to " +
               (wait.kind == ChannelWait::kSend ? "send" : "receive"));
      }
    }
    if (senders > 0 && receivers > 0) {
      report(path() + ".waiters mixes " + plural(senders, "sender") + " and " + plural(receivers, "receiver") +
             " (a channel queues one direction at a time)");
    }
    if (ch.getBalance() != senders - receivers) {
      report(path() + ".balance = " + std::to_string(ch.getBalance()) + " but its waiters are " + plural(senders, "sender") +
             " and " + plural(receivers, "receiver") + " (balance = senders - receivers = " + std::to_string(senders - receivers) + ")");
    }
    if (receivers > 0 && buffered > 0) report(path() + ".buffer holds values while receivers wait");
  }

  std::size_t max_;
  std::uint32_t channel_count_ = 0;
  std::uint32_t symbol_count_ = 0;
  std::uint32_t value_type_count_ = 0;
  std::vector<std::uint32_t> field_counts_;  // per frame type
  TaskletIds tasklet_index_;  // id -> list index
  detail::BulkVector<ChannelWait> waits_;                           // per tasklet
  std::uint64_t archive_sum_ = 0;
  bool in_tasklet_order_ = true;
};

// Runs the checker; a Cap'n Proto failure on the way becomes one more problem.
Checker run_checker(Snapshot::Reader s, std::size_t max_problems) {
  Checker checker(max_problems);
  try {
    checker.run(s);
  } catch (const Stop&) {
  } catch (const kj::Exception& e) {
    checker.problems.push_back(std::string("malformed Cap'n Proto message: ") + e.getDescription().cStr());
  }
  return checker;
}

}  // namespace

void validate_snapshot(Snapshot::Reader snapshot, std::string_view source_name) {
  Checker checker = run_checker(snapshot, 1);
  if (!checker.problems.empty()) throw SnapshotCorrupt(std::string(source_name) + ": " + checker.problems.front());
}

void validate_snapshot(Snapshot::Reader snapshot, std::string_view source_name, Validated& out) {
  Checker checker(1);
  checker.record = &out;
  try {
    checker.run(snapshot);
  } catch (const Stop&) {
  } catch (const kj::Exception& e) {
    checker.problems.push_back(std::string("malformed Cap'n Proto message: ") + e.getDescription().cStr());
  }
  if (!checker.problems.empty()) throw SnapshotCorrupt(std::string(source_name) + ": " + checker.problems.front());
  out.ids = std::move(checker.tasklet_ids());
  out.waits = std::move(checker.waits());
  out.waiters_in_tasklet_order = checker.waiters_in_tasklet_order();
}

std::vector<std::string> check_snapshot(Snapshot::Reader snapshot, std::size_t max_problems) {
  Checker checker = run_checker(snapshot, max_problems);
  if (checker.hit_limit && max_problems > 1) {
    checker.problems.push_back("(stopped after " + plural(checker.problems.size(), "problem") + ")");
  }
  return std::move(checker.problems);
}

}  // namespace stasis::persist
