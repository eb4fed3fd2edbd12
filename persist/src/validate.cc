// persist/src/validate.cc — the snapshot message checker (see validate.h for the
// invariants).
//
// One pass over types, one over tasklets, one over channels, each list fetched once
// (Cap'n Proto charges every list fetch to the traversal limit). Paths for problems
// are built only when a problem is found. Memory: per tasklet one id entry and one
// wait record, per type a field count — all proportional to elements present.
#include "stasis/persist/validate.h"

#include "raw_column.h"
#include "stasis/persist/tasklet_table.h"
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
    if (s.hasTaskletTable()) {
      check_tasklet_table(s);
    } else {
      check_tasklet_list(s);
    }
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

  // One tasklet's values, read from either layout; the checks below work on these.
  struct TaskletValues {
    std::uint64_t id;
    Tasklet::State state;
    int priority;
    bool atomic, block_trap, started, interrupted;
  };
  enum class WaitKind : std::uint8_t { kNone, kSend, kReceive, kSleep };

  void begin_tasklets(std::uint32_t count) {
    tasklet_index_.init(count);
    waits_.resize(count);
    if (record) {
      record->tasklets.reserve(count);
      record->frames.reserve(count);
    }
    first_off_queue_ = kNone32;
  }

  // The per-tasklet invariants that do not involve its wait, frames or extras.
  template <typename Path>
  [[gnu::always_inline]] void check_tasklet_values(std::uint32_t i, const TaskletValues& v, Path&& path) {
    std::uint32_t previous = 0;
    if (!tasklet_index_.add(v.id, i, &previous)) {
      report(path() + ".id = " + std::to_string(v.id) + " repeats " + item("tasklets", previous) + ".id");
    }
    if (v.priority < -16 || v.priority > 15) report(path() + ".priority = " + std::to_string(v.priority) + " is outside -16..15");
    if (static_cast<std::uint16_t>(v.state) > static_cast<std::uint16_t>(Tasklet::State::PAUSED)) {
      report(path() + ".state = " + std::to_string(static_cast<unsigned>(v.state)) + " is not a known state");
    }
    const bool queued = v.state == Tasklet::State::NEW || v.state == Tasklet::State::RUNNABLE;
    if (!queued && first_off_queue_ == kNone32) first_off_queue_ = i;
    if (queued && first_off_queue_ != kNone32) {
      report(path() + " is " + state_name(v.state) + " but follows " + item("tasklets", first_off_queue_) +
             ", which is not (run-queue tasklets come first)");
    }
    if (v.state == Tasklet::State::NEW && v.started) report(path() + ".started is set but the state is new");
    if (v.state == Tasklet::State::BLOCKED && !v.started) report(path() + " is blocked but has not started");
    if (v.interrupted && v.state != Tasklet::State::PAUSED) {
      report(path() + ".interrupted is set but the state is " + state_name(v.state) + " (interrupted tasklets are paused)");
    }
  }

  // Checks a wait (`channel` for send/receive, `sleep` for a sleep) and notes it.
  template <typename Path>
  [[gnu::always_inline]] void check_wait_values(WaitKind kind, std::uint32_t channel, std::int64_t sleep, Tasklet::State state,
                                                std::uint32_t i, Path&& path) {
    const bool blocked = state == Tasklet::State::BLOCKED;
    auto not_blocked = [&](const char* what) {
      if (!blocked) report(path() + ".wait is " + what + " but the state is " + state_name(state) + " (only blocked tasklets wait)");
    };
    switch (kind) {
      case WaitKind::kNone:
        if (blocked) report(path() + " is blocked but its wait is none");
        return;
      case WaitKind::kSend:
      case WaitKind::kReceive: {
        const bool send = kind == WaitKind::kSend;
        not_blocked(send ? "send" : "receive");
        check_channel_index(channel, [&] { return path() + ".wait." + (send ? "send" : "receive"); });
        if (channel < channel_count_) waits_[i] = {send ? ChannelWait::kSend : ChannelWait::kReceive, channel};
        return;
      }
      case WaitKind::kSleep:
        not_blocked("sleep");
        if (sleep < 0) report(path() + ".wait.sleep = " + std::to_string(sleep) + " is negative");
        return;
    }
  }

  // How many frames a soft tasklet has, against what it has done.
  template <typename Path>
  void check_frame_count(std::uint32_t count, bool started, Path&& path) {
    if (count == 0) report(path() + ".frames is empty (every tasklet has at least its root frame)");
    if (!started && count > 1) {
      report(path() + ".frames has " + plural(count, "frame") + " but the tasklet has not started (it has only its root frame)");
    }
  }

  // Frame k of a tasklet (innermost first); notes it for thaw.
  template <typename Path>
  [[gnu::always_inline]] void check_frame(std::uint32_t k, std::uint32_t type, unsigned rp, bool catches_child,
                                          std::uint32_t archive_bytes, bool started, Path&& fpath) {
    if (type >= field_counts_.size()) {
      report(fpath() + ".type = " + std::to_string(type) + " is out of range: " + plural(field_counts_.size(), "frame type"));
    }
    if (k > 0 && rp == 0) report(fpath() + ".resumePoint = 0 but an outer frame waits for its callee at a resume point >= 1");
    if (!started && rp != 0) report(fpath() + ".resumePoint = " + std::to_string(rp) + " but the tasklet has not started (expected 0)");
    if (k == 0 && catches_child) report(fpath() + ".catchesChild is set on the innermost frame, which has no callee");
    archive_sum_ += archive_bytes;
    if (record) record->frames.push_back({type, archive_bytes, static_cast<std::uint16_t>(rp), catches_child});
  }

  // A frame's field values: none (the archive describes them) or one per field.
  template <typename Path>
  void check_frame_fields(capnp::List<Field>::Reader fields, std::uint32_t type, Path&& fpath) {
    if (type < field_counts_.size() && fields.size() != 0 && fields.size() != field_counts_[type]) {
      report(fpath() + ".fields has " + plural(fields.size(), "value") + " but its frame type (frameTypes[" +
             std::to_string(type) + "]) lists " + plural(field_counts_[type], "field"));
    }
    for (std::uint32_t j = 0; j < fields.size(); ++j) check_field(fields[j], [&] { return fpath() + "." + item("fields", j); });
  }

  // A slot: `has_slot` says whether it holds a value; a slot record without it owns no bytes.
  template <typename Path>
  void check_slot(bool has_slot, bool has_record, Value::Reader slot, Path&& path) {
    if (has_slot) {
      check_value(slot, kNone32, [&] { return path() + ".slot"; });
    } else if (has_record && slot.getArchiveBytes() != 0) {
      report(path() + ".slot.archiveBytes = " + std::to_string(slot.getArchiveBytes()) + " but hasSlot is false");
    }
  }

  // Hands thaw tasklet i's record (its frames were noted by check_frame).
  [[gnu::always_inline]] void record_tasklet(std::uint32_t i, const TaskletValues& v, std::size_t first_frame, std::int64_t sleep_ns,
                                             bool has_slot, Value::Reader slot, capnp::Text::Reader name, bool native) {
    if (!record) return;
    using V = ValidatedTasklet;
    const bool extra = sleep_ns >= 0 || has_slot || name.size() > 0;
    const auto bits = static_cast<std::uint8_t>(
        (v.atomic ? V::kAtomic : 0) | (v.block_trap ? V::kBlockTrap : 0) | (v.started ? V::kStarted : 0) |
        (v.interrupted ? V::kInterrupted : 0) | (sleep_ns >= 0 ? V::kSleeps : 0) | (has_slot ? V::kHasSlot : 0) |
        (extra ? V::kExtra : 0) | (native ? V::kNative : 0));
    record->tasklets.push_back(
        {v.id, static_cast<std::uint32_t>(record->frames.size() - first_frame), v.state, static_cast<std::int8_t>(v.priority), bits});
    if (extra) {
      record->extras.push_back({i, has_slot ? slot.getType() : 0, has_slot ? slot.getArchiveBytes() : 0,
                                sleep_ns < 0 ? 0 : sleep_ns, view(name)});
    }
  }

  // Format 1 and 2: a Tasklet struct per tasklet, each with its own frame list.
  void check_tasklet_list(Snapshot::Reader s) {
    auto tasklets = s.getTasklets();
    const std::uint32_t count = tasklets.size();
    begin_tasklets(count);
    for (std::uint32_t i = 0; i < count; ++i) {
      const Tasklet::Reader t = tasklets[i];
      auto path = [&] { return item("tasklets", i); };
      const TaskletValues v{t.getId(),      t.getState(),   t.getPriority(),  t.getAtomic(),
                            t.getBlockTrap(), t.getStarted(), t.getInterrupted()};
      check_tasklet_values(i, v, path);
      capnp::Text::Reader name;  // a null pointer reads as empty: skip the fetch
      if (t.hasName()) {
        name = t.getName();
        check_text(name, kMaxNameBytes, false, [&] { return path() + ".name"; });
      }
      const auto wait = t.getWait();
      std::int64_t sleep_ns = -1;
      switch (wait.which()) {
        case Tasklet::Wait::NONE: check_wait_values(WaitKind::kNone, 0, 0, v.state, i, path); break;
        case Tasklet::Wait::SEND: check_wait_values(WaitKind::kSend, wait.getSend(), 0, v.state, i, path); break;
        case Tasklet::Wait::RECEIVE: check_wait_values(WaitKind::kReceive, wait.getReceive(), 0, v.state, i, path); break;
        case Tasklet::Wait::SLEEP:
          sleep_ns = wait.getSleep();
          check_wait_values(WaitKind::kSleep, 0, sleep_ns, v.state, i, path);
          break;
        default: report(path() + ".wait has unknown kind " + std::to_string(static_cast<unsigned>(wait.which())));
      }
      const std::size_t first_frame = record ? record->frames.size() : 0;
      const bool native = t.hasNative();
      if (native) {
        if (t.getFrames().size() != 0) report(path() + " is native but lists soft frames");
        check_native(t.getNative(), v.started, path);
      } else {
        const capnp::List<Frame>::Reader frames = t.getFrames();
        check_frame_count(frames.size(), v.started, path);
        for (std::uint32_t k = 0; k < frames.size(); ++k) {
          const Frame::Reader f = frames[k];
          auto fpath = [&] { return path() + "." + item("frames", k); };
          const std::uint32_t type = f.getType();
          check_frame(k, type, f.getResumePoint(), f.getCatchesChild(), f.getArchiveBytes(), v.started, fpath);
          if (f.hasFields()) check_frame_fields(f.getFields(), type, fpath);  // format 2 frames have none
        }
      }
      const bool has_slot = t.getHasSlot();
      check_slot(has_slot, t.hasSlot(), t.getSlot(), path);
      record_tasklet(i, v, first_frame, sleep_ns, has_slot, t.getSlot(), name, native);
    }
  }

  // Format 3: the tasklets as columns. Every value is an array read; the paths in
  // reports are those of the list layout (tasklets[i].frames[k]...), which the
  // table mirrors entry for entry.
  void check_tasklet_table(Snapshot::Reader s) {
    if (s.hasTasklets() && s.getTasklets().size() != 0) {
      report("the message has both tasklets and taskletTable (a message uses one of them)");
    }
    using Table = schema::TaskletTable;
    table_layout_ = true;
    const Table::Reader table = s.getTaskletTable();
    const auto ids = column<std::uint64_t>(table.getIds(), "ids");
    const auto states = column<Tasklet::State>(table.getStates(), "states");
    const auto priorities = column<std::int8_t>(table.getPriorities(), "priorities");
    const auto flags = column<std::uint8_t>(table.getFlags(), "flags");
    const auto wait_kinds = column<Table::WaitKind>(table.getWaitKinds(), "waitKinds");
    const auto wait_channels = column<std::uint32_t>(table.getWaitChannels(), "waitChannels");
    const auto frame_counts = column<std::uint32_t>(table.getFrameCounts(), "frameCounts");
    const auto frame_types = column<std::uint32_t>(table.getFrameTypes(), "frameTypes");
    const auto resume_points = column<std::uint16_t>(table.getResumePoints(), "resumePoints");
    const auto catches_child = column<bool>(table.getCatchesChild(), "catchesChild");
    const auto archive_bytes = column<std::uint32_t>(table.getArchiveBytes(), "archiveBytes");
    const auto extras = table.getExtras();
    const auto frame_fields = table.getFrameFields();
    const std::uint32_t count = ids.size();
    auto same_length = [&](std::uint32_t n, const char* column, std::uint32_t expected, const char* reference) {
      if (n != expected) {
        report(std::string("taskletTable.") + column + " has " + std::to_string(n) + " entries but taskletTable." +
               reference + " has " + std::to_string(expected));
        throw Stop{};  // the columns cannot be read side by side
      }
    };
    same_length(states.size(), "states", count, "ids");
    same_length(priorities.size(), "priorities", count, "ids");
    same_length(flags.size(), "flags", count, "ids");
    same_length(wait_kinds.size(), "waitKinds", count, "ids");
    same_length(wait_channels.size(), "waitChannels", count, "ids");
    same_length(frame_counts.size(), "frameCounts", count, "ids");
    const std::uint32_t frame_total = frame_types.size();
    same_length(resume_points.size(), "resumePoints", frame_total, "frameTypes");
    same_length(catches_child.size(), "catchesChild", frame_total, "frameTypes");
    same_length(archive_bytes.size(), "archiveBytes", frame_total, "frameTypes");
    std::uint64_t counted = 0;  // < 2^29 counts of < 2^32: no overflow
    for (std::uint32_t i = 0; i < count; ++i) counted += frame_counts[i];
    if (counted != frame_total) {
      report("taskletTable.frameTypes has " + std::to_string(frame_total) + " entries but taskletTable.frameCounts add up to " +
             std::to_string(counted));
      throw Stop{};  // no tasklet's frames can be told apart
    }
    begin_tasklets(count);

    // Sparse lists: the key of the next entry (kNone32 past the end), read and
    // checked (in range, after the previous key) once per entry.
    std::uint32_t next_extra = 0, next_field_set = 0;
    auto key_of_extra = [&](std::uint32_t previous) -> std::uint32_t {
      if (next_extra == extras.size()) return kNone32;
      const std::uint32_t key = extras[next_extra].getTasklet();
      if (key >= count || (next_extra > 0 && key <= previous)) report_key("extras", next_extra, key, "tasklet", count);
      return key;
    };
    auto key_of_field_set = [&](std::uint32_t previous) -> std::uint32_t {
      if (next_field_set == frame_fields.size()) return kNone32;
      const std::uint32_t key = frame_fields[next_field_set].getFrame();
      if (key >= frame_total || (next_field_set > 0 && key <= previous)) {
        report_key("frameFields", next_field_set, key, "frame", frame_total);
      }
      return key;
    };
    std::uint32_t extra_at = key_of_extra(0), field_set_at = key_of_field_set(0);
    std::uint32_t frame = 0;  // the next frame's index in the frame columns
    for (std::uint32_t i = 0; i < count; ++i) {
      auto path = [&] { return item("tasklets", i); };
      const std::uint8_t bits = flags[i];
      const TaskletValues v{ids[i],
                            states[i],
                            priorities[i],
                            (bits & schema::TASKLET_ATOMIC_FLAG) != 0,
                            (bits & schema::TASKLET_BLOCK_TRAP_FLAG) != 0,
                            (bits & schema::TASKLET_STARTED_FLAG) != 0,
                            (bits & schema::TASKLET_INTERRUPTED_FLAG) != 0};
      check_tasklet_values(i, v, path);
      if (bits & ~kKnownTaskletFlags) [[unlikely]] {
        report(path() + ": taskletTable.flags[" + std::to_string(i) + "] = " + std::to_string(bits) + " has unknown bits");
      }
      // The tasklet's extra, if it has one.
      const bool has_extra = extra_at == i;
      schema::TaskletExtra::Reader x;
      capnp::Text::Reader name;
      if (has_extra) {
        x = extras[next_extra];
        if (x.hasName()) {
          name = x.getName();
          check_text(name, kMaxNameBytes, false, [&] { return path() + ".name"; });
        }
        ++next_extra;
        extra_at = key_of_extra(i);
      }
      const Table::WaitKind wait = wait_kinds[i];
      std::int64_t sleep_ns = -1;
      switch (wait) {
        case Table::WaitKind::NONE: check_wait_values(WaitKind::kNone, 0, 0, v.state, i, path); break;
        case Table::WaitKind::SEND: check_wait_values(WaitKind::kSend, wait_channels[i], 0, v.state, i, path); break;
        case Table::WaitKind::RECEIVE: check_wait_values(WaitKind::kReceive, wait_channels[i], 0, v.state, i, path); break;
        case Table::WaitKind::SLEEP:
          if (!has_extra) report(path() + " sleeps but taskletTable.extras has no entry for it (the time left)");
          sleep_ns = has_extra ? x.getSleep() : 0;
          check_wait_values(WaitKind::kSleep, 0, sleep_ns, v.state, i, path);
          break;
        default: report(path() + ".wait has unknown kind " + std::to_string(static_cast<unsigned>(wait)));
      }
      if (wait != Table::WaitKind::SLEEP && has_extra && x.getSleep() != 0) {
        report(path() + ": its taskletTable.extras entry has sleep = " + std::to_string(x.getSleep()) + " but it does not sleep");
      }
      const std::size_t first_frame = record ? record->frames.size() : 0;
      const bool native = has_extra && x.hasNative();
      const std::uint32_t frames = frame_counts[i];  // they add up to frame_total (checked above)
      if (native) {
        if (frames != 0) report(path() + " is native but lists soft frames");
        check_native(x.getNative(), v.started, path);
      } else {
        check_frame_count(frames, v.started, path);
      }
      for (std::uint32_t k = 0; k < frames; ++k, ++frame) {
        auto fpath = [&] { return path() + "." + item("frames", k); };
        const std::uint32_t type = frame_types[frame];
        check_frame(k, type, resume_points[frame], catches_child[frame], archive_bytes[frame], v.started, fpath);
        if (field_set_at == frame) {
          check_frame_fields(frame_fields[next_field_set].getFields(), type, fpath);
          ++next_field_set;
          field_set_at = key_of_field_set(frame);
        }
      }
      const bool has_slot = has_extra && x.getHasSlot();
      if (has_extra) check_slot(has_slot, x.hasSlot(), x.getSlot(), path);
      record_tasklet(i, v, first_frame, sleep_ns, has_slot, has_slot ? x.getSlot() : Value::Reader(), name, native);
    }
    // Keys were checked in range and increasing as they were read: every entry was matched.
  }

  // A column of the table as a plain array; stops the check if it is not laid out
  // as one (a struct list Cap'n Proto would let a reader see as this list, say).
  template <typename T, typename List>
  RawColumn<T> column(List list, const char* name) {
    return column<T>(list, [&] { return std::string("taskletTable.") + name; });
  }
  template <typename T, typename List, typename Path>
  RawColumn<T> column(List list, Path&& path) {
    std::optional<RawColumn<T>> c = RawColumn<T>::of(list);
    if (!c) {
      report(path() + " is not a plain list of " +
             (std::is_same_v<T, bool> ? std::string("bits") : std::to_string(sizeof(T)) + "-byte values") +
             " (a format-3 writer stores each column as one)");
      throw Stop{};
    }
    return *c;
  }

  // A sparse list's key that is out of range or not after the previous entry's.
  // Stops the check: the rest of the list cannot be matched to the columns.
  [[gnu::noinline, gnu::cold]] void report_key(const char* list, std::uint32_t entry, std::uint32_t key, const char* what,
                                               std::uint32_t limit) {
    report("taskletTable." + item(list, entry) + "." + what + " = " + std::to_string(key) +
           (key >= limit ? " is out of range: " + plural(limit, what) : std::string(" is not after the previous entry's")));
    throw Stop{};
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
      if (table_layout_) {
        check_waiter_tasklets(ch, c, buffer.size(), path);
      } else {
        check_waiters(ch, c, buffer.size(), path);
      }
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
    if (ch.hasWaiterTasklets() && ch.getWaiterTasklets().size() != 0) {
      report(path() + ".waiterTasklets is set in a message without a tasklet table (its waiters are `waiters`)");
    }
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
      auto who = [&] { return "tasklet " + std::to_string(id) + " (" + item("tasklets", ti) + ")"; };
      if (!claim_waiter(ti, c, k, "waiters", previous_position, wpath, who)) continue;
      if (record) record->waiters.push_back(ti << 1 | (sending ? 1u : 0u));
      const ChannelWait& wait = waits_[ti];
      if (waits_on(wait, c, wpath, who) && sending != (wait.kind == ChannelWait::kSend)) {
        report(wpath() + ".sending is " + (sending ? "true" : "false") + " but " + who() + " waits to " +
               (wait.kind == ChannelWait::kSend ? "send" : "receive"));
      }
    }
    check_waiter_totals(ch, senders, receivers, buffered, path);
  }

  // Format 3: the waiters as positions in the tasklet table, each waiting in the
  // direction of its own wait.
  template <typename Path>
  void check_waiter_tasklets(Channel::Reader ch, std::uint32_t c, std::size_t buffered, Path&& path) {
    if (ch.hasWaiters() && ch.getWaiters().size() != 0) {
      report(path() + ".waiters is not empty in a message with a tasklet table (its waiters are waiterTasklets)");
    }
    const RawColumn<std::uint32_t> waiters = column<std::uint32_t>(ch.getWaiterTasklets(), [&] { return path() + ".waiterTasklets"; });
    std::int64_t senders = 0, receivers = 0;
    std::int64_t previous_position = -1;
    const std::uint32_t count = waiters.size();
    const auto tasklets = static_cast<std::uint32_t>(waits_.size());
    for (std::uint32_t k = 0; k < count; ++k) {
      const std::uint32_t ti = waiters[k];
      auto wpath = [&] { return path() + "." + item("waiterTasklets", k); };
      if (ti >= tasklets) {
        report(wpath() + " = " + std::to_string(ti) + " is out of range: " + plural(tasklets, "tasklet"));
        continue;
      }
      auto who = [&] { return item("tasklets", ti); };
      if (!claim_waiter(ti, c, k, "waiterTasklets", previous_position, wpath, who)) continue;
      const ChannelWait& wait = waits_[ti];
      const bool sending = wait.kind == ChannelWait::kSend;
      if (waits_on(wait, c, wpath, who)) {
        sending ? ++senders : ++receivers;
        if (record) record->waiters.push_back(ti << 1 | (sending ? 1u : 0u));
      }
    }
    check_waiter_totals(ch, senders, receivers, buffered, path);
  }

  // Tasklet ti as waiter k of channel c (an entry of its `list`): false, reported, if
  // an earlier waiter named it already; else marked as named, and the channel's
  // waiters noted as out of tasklet order if they are.
  template <typename WPath, typename Who>
  bool claim_waiter(std::uint32_t ti, std::uint32_t c, std::uint32_t k, const char* list, std::int64_t& previous_position,
                    WPath&& wpath, Who&& who) {
    ChannelWait& wait = waits_[ti];
    if (wait.named_by != ~std::uint64_t{0}) {
      report(wpath() + " names " + who() + " again (already " + item("channels", wait.named_by >> 32) + "." +
             item(list, wait.named_by & 0xffffffffu) + ")");
      return false;
    }
    wait.named_by = (std::uint64_t{c} << 32) | k;
    if (static_cast<std::int64_t>(ti) <= previous_position) in_tasklet_order_ = false;
    previous_position = ti;
    return true;
  }

  // Whether the tasklet waits on channel c; reported if not.
  template <typename WPath, typename Who>
  bool waits_on(const ChannelWait& wait, std::uint32_t c, WPath&& wpath, Who&& who) {
    if (wait.kind == ChannelWait::kNoChannel) {
      report(wpath() + " names " + who() + ", which does not wait on a channel");
      return false;
    }
    if (wait.channel != c) {
      report(wpath() + " names " + who() + ", which waits on " + item("channels", wait.channel));
      return false;
    }
    return true;
  }

  // What a channel's waiters add up to, against its balance and buffer.
  template <typename Path>
  void check_waiter_totals(Channel::Reader ch, std::int64_t senders, std::int64_t receivers, std::size_t buffered, Path&& path) {
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
  std::uint32_t first_off_queue_ = kNone32;  // first tasklet that is neither new nor runnable
  bool in_tasklet_order_ = true;
  bool table_layout_ = false;  // format 3: channels list waiterTasklets
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
