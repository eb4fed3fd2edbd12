// persist/src/tasklet_table.cc — the two layouts of a snapshot's tasklets, converted
// both ways (see tasklet_table.h for the mapping).
//
// expand_tasklet_table checks every column of the table before it allocates a single
// tasklet (lengths, key order and range, flags, sleeps), so a table that claims more
// than it holds costs one pass over the columns actually present. Each list of the
// input is fetched once: every fetch is charged to Cap'n Proto's traversal limit.
#include "stasis/persist/tasklet_table.h"

#include <capnp/any.h>
#include <capnp/schema.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <unordered_map>

#include "stasis/error.h"
#include "table_writer.h"

namespace stasis::persist {
namespace {

using schema::Channel;
using schema::Frame;
using schema::FrameFields;
using schema::Snapshot;
using schema::Tasklet;
using schema::TaskletExtra;
using schema::TaskletTable;

// A field added to one of these structs must be carried by the copies below.
static_assert(Snapshot::_capnpPrivate::pointerCount == 11 && Snapshot::_capnpPrivate::dataWordSize == 2,
              "Snapshot changed: update copy_all_but_tasklets");
static_assert(Tasklet::_capnpPrivate::pointerCount == 4 && Tasklet::_capnpPrivate::dataWordSize == 3,
              "Tasklet changed: update the tasklet mapping");
static_assert(Frame::_capnpPrivate::pointerCount == 1 && Frame::_capnpPrivate::dataWordSize == 2,
              "Frame changed: update the frame columns");
static_assert(Channel::_capnpPrivate::pointerCount == 4,
              "Channel changed: update the waiter mapping (expand_waiters, pack_waiters)");
static_assert(TaskletTable::_capnpPrivate::pointerCount == 13 && TaskletExtra::_capnpPrivate::pointerCount == 3,
              "TaskletTable changed: update the mapping");

constexpr std::uint8_t kAtomic = schema::TASKLET_ATOMIC_FLAG;
constexpr std::uint8_t kBlockTrap = schema::TASKLET_BLOCK_TRAP_FLAG;
constexpr std::uint8_t kStarted = schema::TASKLET_STARTED_FLAG;
constexpr std::uint8_t kInterrupted = schema::TASKLET_INTERRUPTED_FLAG;
constexpr std::uint64_t kMaxListElements = (1u << 29) - 1;  // Cap'n Proto's limit

// TaskletTable.WaitKind and the Tasklet.wait union number their members alike
// (none 0, send 1, receive 2, sleep 3): a kind is the union's discriminant.
static_assert(static_cast<unsigned>(TaskletTable::WaitKind::SEND) == static_cast<unsigned>(Tasklet::Wait::SEND) &&
              static_cast<unsigned>(TaskletTable::WaitKind::RECEIVE) == static_cast<unsigned>(Tasklet::Wait::RECEIVE) &&
              static_cast<unsigned>(TaskletTable::WaitKind::SLEEP) == static_cast<unsigned>(Tasklet::Wait::SLEEP));

[[noreturn]] void corrupt(std::string_view source_name, const std::string& what) {
  throw SnapshotCorrupt(std::string(source_name) + ": " + what);
}

std::string at(const char* column, std::uint64_t i) { return std::string("taskletTable.") + column + "[" + std::to_string(i) + "]"; }

const char* kind_name(std::uint16_t kind) {
  static const char* names[] = {"none", "send", "receive", "sleep"};
  return kind < 4 ? names[kind] : "unknown";
}

// Writes a wait discriminant this build has no member for, so that the validator of
// the expanded message reports it as it would in the table.
void set_raw_wait_kind(Tasklet::Builder t, std::uint16_t kind) {
  static const std::uint32_t offset =
      capnp::Schema::from<Tasklet::Wait>().getProto().getStruct().getDiscriminantOffset();  // in 16-bit units
  kj::ArrayPtr<capnp::byte> data = capnp::toAny(t).getDataSection();
  data[offset * 2] = static_cast<capnp::byte>(kind & 0xff);
  data[offset * 2 + 1] = static_cast<capnp::byte>(kind >> 8);
}

// Copies every field of the message except its tasklets (the list and the table).
void copy_all_but_tasklets(Snapshot::Reader in, Snapshot::Builder out) {
  if (in.hasProducer()) out.setProducer(in.getProducer());
  out.setCreatedUnixNs(in.getCreatedUnixNs());
  out.setScope(in.getScope());
  if (in.hasScheduler()) out.setScheduler(in.getScheduler());
  if (in.hasFrameTypes()) out.setFrameTypes(in.getFrameTypes());
  if (in.hasValueTypes()) out.setValueTypes(in.getValueTypes());
  if (in.hasChannels()) out.setChannels(in.getChannels());
  if (in.hasArchive()) out.setArchive(in.getArchive());
  if (in.hasNote()) out.setNote(in.getNote());
  if (in.hasModules()) out.setModules(in.getModules());
  if (in.hasSymbols()) out.setSymbols(in.getSymbols());
}

// The table's lists, each fetched once.
struct Columns {
  capnp::List<std::uint64_t>::Reader ids;
  capnp::List<Tasklet::State>::Reader states;
  capnp::List<std::int8_t>::Reader priorities;
  capnp::List<std::uint8_t>::Reader flags;
  capnp::List<TaskletTable::WaitKind>::Reader wait_kinds;
  capnp::List<std::uint32_t>::Reader wait_channels;
  capnp::List<std::uint32_t>::Reader frame_counts;
  capnp::List<std::uint32_t>::Reader frame_types;
  capnp::List<std::uint16_t>::Reader resume_points;
  capnp::List<bool>::Reader catches_child;
  capnp::List<std::uint32_t>::Reader archive_bytes;
  capnp::List<TaskletExtra>::Reader extras;
  capnp::List<FrameFields>::Reader frame_fields;

  explicit Columns(TaskletTable::Reader t)
      : ids(t.getIds()), states(t.getStates()), priorities(t.getPriorities()), flags(t.getFlags()),
        wait_kinds(t.getWaitKinds()), wait_channels(t.getWaitChannels()), frame_counts(t.getFrameCounts()),
        frame_types(t.getFrameTypes()), resume_points(t.getResumePoints()), catches_child(t.getCatchesChild()),
        archive_bytes(t.getArchiveBytes()), extras(t.getExtras()), frame_fields(t.getFrameFields()) {}
};

// Checks everything expand relies on; returns the number of frames. Allocates nothing.
std::uint64_t check_columns(const Columns& c, std::string_view source_name) {
  const std::uint64_t n = c.ids.size();
  auto same_length = [&](const char* column, std::uint64_t size, std::uint64_t expected, const char* as) {
    if (size != expected) {
      corrupt(source_name, std::string("taskletTable.") + column + " has " + std::to_string(size) + " entries but " +
                               as + " " + std::to_string(expected));
    }
  };
  const char* per_tasklet = "taskletTable.ids has";
  same_length("states", c.states.size(), n, per_tasklet);
  same_length("priorities", c.priorities.size(), n, per_tasklet);
  same_length("flags", c.flags.size(), n, per_tasklet);
  same_length("waitKinds", c.wait_kinds.size(), n, per_tasklet);
  same_length("waitChannels", c.wait_channels.size(), n, per_tasklet);
  same_length("frameCounts", c.frame_counts.size(), n, per_tasklet);

  std::uint64_t frames = 0;  // at most 2^29 counts of < 2^32: no overflow
  for (std::uint32_t count : c.frame_counts) frames += count;
  const char* per_frame = "taskletTable.frameCounts add up to";
  same_length("frameTypes", c.frame_types.size(), frames, per_frame);
  same_length("resumePoints", c.resume_points.size(), frames, per_frame);
  same_length("catchesChild", c.catches_child.size(), frames, per_frame);
  same_length("archiveBytes", c.archive_bytes.size(), frames, per_frame);

  for (std::uint32_t i = 0; i < n; ++i) {
    const std::uint8_t flags = c.flags[i];
    if (flags & ~kKnownTaskletFlags) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02x", static_cast<unsigned>(flags));
      corrupt(source_name, at("flags", i) + " = " + hex + " has unknown bits");
    }
    const auto kind = static_cast<std::uint16_t>(c.wait_kinds[i]);
    const std::uint32_t channel = c.wait_channels[i];
    if (channel != 0 && (kind == static_cast<std::uint16_t>(TaskletTable::WaitKind::NONE) ||
                         kind == static_cast<std::uint16_t>(TaskletTable::WaitKind::SLEEP))) {
      corrupt(source_name, at("waitChannels", i) + " = " + std::to_string(channel) + " but taskletTable.waitKinds[" +
                               std::to_string(i) + "] is " + kind_name(kind) + ", which names no channel");
    }
  }

  auto check_keys = [&](const char* column, const char* key, std::uint64_t k, std::uint64_t value,
                        std::uint64_t previous, std::uint64_t limit, const char* what) {
    const std::string where = at(column, k) + "." + key + " = " + std::to_string(value);
    if (value >= limit) corrupt(source_name, where + " is out of range: " + std::to_string(limit) + " " + what);
    if (k > 0 && value <= previous) {
      corrupt(source_name, where + " does not follow " + at(column, k - 1) + "." + key + " = " +
                               std::to_string(previous) + " (keys must strictly increase)");
    }
  };
  std::uint64_t previous = 0;
  for (std::uint32_t k = 0; k < c.extras.size(); ++k) {
    auto e = c.extras[k];
    const std::uint32_t i = e.getTasklet();
    check_keys("extras", "tasklet", k, i, previous, n, "tasklets");
    previous = i;
    const bool sleeps = c.wait_kinds[i] == TaskletTable::WaitKind::SLEEP;
    if (!sleeps && e.getSleep() != 0) {
      corrupt(source_name, at("extras", k) + ".sleep = " + std::to_string(e.getSleep()) + " but taskletTable.waitKinds[" +
                               std::to_string(i) + "] is " + kind_name(static_cast<std::uint16_t>(c.wait_kinds[i])) +
                               ", not sleep");
    }
  }
  previous = 0;
  for (std::uint32_t k = 0; k < c.frame_fields.size(); ++k) {
    const std::uint32_t f = c.frame_fields[k].getFrame();
    check_keys("frameFields", "frame", k, f, previous, frames, "frames");
    previous = f;
  }
  // Sleepers without an extra, found by walking the (sorted) extras alongside.
  for (std::uint32_t i = 0, k = 0; i < n; ++i) {
    while (k < c.extras.size() && c.extras[k].getTasklet() < i) ++k;
    const bool has_extra = k < c.extras.size() && c.extras[k].getTasklet() == i;
    if (c.wait_kinds[i] == TaskletTable::WaitKind::SLEEP && !has_extra) {
      corrupt(source_name, "tasklets[" + std::to_string(i) + "] sleeps but taskletTable.extras has no entry for it");
    }
  }
  return frames;
}

// Format 3 names a channel's waiters by table index (waiterTasklets); the list
// layout by id and direction (waiters). `out`'s channels are copies of `in`'s.
void expand_waiters(const Columns& c, capnp::List<Channel>::Reader in, capnp::List<Channel>::Builder out,
                    std::string_view source_name) {
  for (std::uint32_t ch = 0; ch < in.size(); ++ch) {
    auto indexes = in[ch].getWaiterTasklets();
    if (indexes.size() == 0) continue;
    const std::string where = "channels[" + std::to_string(ch) + "]";
    if (in[ch].getWaiters().size() != 0) {
      corrupt(source_name, where + " has both waiters and waiterTasklets; a message uses one or the other");
    }
    auto waiters = out[ch].initWaiters(indexes.size());
    for (std::uint32_t k = 0; k < indexes.size(); ++k) {
      const std::uint32_t i = indexes[k];
      if (i >= c.ids.size()) {
        corrupt(source_name, where + ".waiterTasklets[" + std::to_string(k) + "] = " + std::to_string(i) +
                                 " is out of range: " + std::to_string(c.ids.size()) + " tasklets");
      }
      waiters[k].setTasklet(c.ids[i]);
      waiters[k].setSending(c.wait_kinds[i] == TaskletTable::WaitKind::SEND);
    }
    out[ch].disownWaiterTasklets();
  }
}

// The reverse: each waiter's id becomes its tasklet's index; an id no tasklet has
// becomes the index one past the end, which the validator reports as out of range.
void pack_waiters(capnp::List<Tasklet>::Reader tasklets, capnp::List<Channel>::Reader in,
                  capnp::List<Channel>::Builder out) {
  std::unordered_map<std::uint64_t, std::uint32_t> index_of;
  for (std::uint32_t ch = 0; ch < in.size(); ++ch) {
    auto waiters = in[ch].getWaiters();
    if (waiters.size() == 0) continue;
    if (index_of.empty()) {
      for (std::uint32_t i = 0; i < tasklets.size(); ++i) index_of.emplace(tasklets[i].getId(), i);
    }
    auto indexes = out[ch].initWaiterTasklets(waiters.size());
    for (std::uint32_t k = 0; k < waiters.size(); ++k) {
      auto found = index_of.find(waiters[k].getTasklet());
      indexes.set(k, found == index_of.end() ? tasklets.size() : found->second);
    }
    out[ch].disownWaiters();
  }
}

// Tasklet i of a checked table.
void expand_one(const Columns& c, std::uint32_t i, TaskletExtra::Reader* extra, std::uint64_t& frame,
                std::uint32_t& frame_fields_next, Tasklet::Builder t) {
  t.setId(c.ids[i]);
  t.setState(c.states[i]);
  t.setPriority(c.priorities[i]);
  const std::uint8_t flags = c.flags[i];
  t.setAtomic(flags & kAtomic);
  t.setBlockTrap(flags & kBlockTrap);
  t.setStarted(flags & kStarted);
  t.setInterrupted(flags & kInterrupted);
  switch (c.wait_kinds[i]) {
    case TaskletTable::WaitKind::NONE:
      t.getWait().setNone();
      break;
    case TaskletTable::WaitKind::SEND:
      t.getWait().setSend(c.wait_channels[i]);
      break;
    case TaskletTable::WaitKind::RECEIVE:
      t.getWait().setReceive(c.wait_channels[i]);
      break;
    case TaskletTable::WaitKind::SLEEP:
      t.getWait().setSleep(extra->getSleep());  // check_columns: a sleeper has an extra
      break;
    default:
      set_raw_wait_kind(t, static_cast<std::uint16_t>(c.wait_kinds[i]));
  }
  if (const std::uint32_t count = c.frame_counts[i]; count > 0) {
    auto frames = t.initFrames(count);
    for (std::uint32_t k = 0; k < count; ++k, ++frame) {
      auto f = frames[k];
      const auto g = static_cast<std::uint32_t>(frame);  // < frameTypes.size(): fits
      f.setType(c.frame_types[g]);
      f.setResumePoint(c.resume_points[g]);
      f.setCatchesChild(c.catches_child[g]);
      f.setArchiveBytes(c.archive_bytes[g]);
      if (frame_fields_next < c.frame_fields.size() && c.frame_fields[frame_fields_next].getFrame() == g) {
        f.setFields(c.frame_fields[frame_fields_next++].getFields());
      }
    }
  }
  if (extra) {
    if (extra->hasName()) t.setName(extra->getName());
    t.setHasSlot(extra->getHasSlot());
    if (extra->hasSlot()) t.setSlot(extra->getSlot());
    if (extra->hasNative()) t.setNative(extra->getNative());
  }
}

bool needs_extra(Tasklet::Reader t) {
  return (t.hasName() && t.getName().size() > 0) || t.getWait().which() == Tasklet::Wait::SLEEP || t.getHasSlot() ||
         t.hasSlot() || t.hasNative();
}

}  // namespace

bool has_tasklet_table(Snapshot::Reader s) { return s.hasTaskletTable(); }

void expand_tasklet_table(Snapshot::Reader in, Snapshot::Builder out, std::string_view source_name) {
  if (!in.hasTaskletTable()) {
    copy_all_but_tasklets(in, out);
    if (in.hasTasklets()) out.setTasklets(in.getTasklets());
    return;
  }
  if (const auto listed = in.getTasklets().size(); listed != 0) {
    corrupt(source_name, "the message has both tasklets (" + std::to_string(listed) +
                             " records) and a taskletTable; a message uses one or the other");
  }
  const Columns c(in.getTaskletTable());
  check_columns(c, source_name);
  copy_all_but_tasklets(in, out);
  if (in.hasChannels()) expand_waiters(c, in.getChannels(), out.getChannels(), source_name);
  auto tasklets = out.initTasklets(c.ids.size());
  std::uint64_t frame = 0;
  std::uint32_t extras_next = 0, frame_fields_next = 0;
  for (std::uint32_t i = 0; i < tasklets.size(); ++i) {
    TaskletExtra::Reader extra;
    const bool has_extra = extras_next < c.extras.size() && c.extras[extras_next].getTasklet() == i;
    if (has_extra) extra = c.extras[extras_next++];
    expand_one(c, i, has_extra ? &extra : nullptr, frame, frame_fields_next, tasklets[i]);
  }
}

void pack_tasklet_table(Snapshot::Reader in, Snapshot::Builder out) {
  if (in.hasTaskletTable()) throw InvalidArgument("pack_tasklet_table: the message already has a taskletTable");
  auto tasklets = in.getTasklets();
  std::uint64_t frame_total = 0;
  std::uint32_t extra_total = 0, fields_total = 0;
  for (auto t : tasklets) {
    auto frames = t.getFrames();
    frame_total += frames.size();
    if (needs_extra(t)) ++extra_total;
    for (auto f : frames) fields_total += f.getFields().size() > 0 ? 1 : 0;
  }
  if (frame_total > kMaxListElements) {
    throw InvalidArgument("pack_tasklet_table: " + std::to_string(frame_total) + " frames do not fit in a list");
  }
  copy_all_but_tasklets(in, out);
  if (in.hasChannels()) pack_waiters(tasklets, in.getChannels(), out.getChannels());
  const TableCounts counts{.frames = frame_total, .extras = extra_total, .frame_fields = fields_total};
  TableWriter table;
  table.init(out.initTaskletTable(), tasklets.size(), counts);
  for (std::uint32_t i = 0; i < tasklets.size(); ++i) {
    auto t = tasklets[i];
    const auto flags = static_cast<std::uint8_t>((t.getAtomic() ? kAtomic : 0) | (t.getBlockTrap() ? kBlockTrap : 0) |
                                                 (t.getStarted() ? kStarted : 0) | (t.getInterrupted() ? kInterrupted : 0));
    auto wait = t.getWait();
    const auto which = wait.which();
    const std::uint32_t channel =
        which == Tasklet::Wait::SEND ? wait.getSend() : which == Tasklet::Wait::RECEIVE ? wait.getReceive() : 0;
    auto frames = t.getFrames();
    table.set_tasklet(i, t.getId(), t.getState(), t.getPriority(), flags,
                      static_cast<TaskletTable::WaitKind>(static_cast<std::uint16_t>(which)), channel, frames.size());
    for (auto f : frames) {
      const unsigned k = table.next_frame(f.getType(), f.getResumePoint(), f.getCatchesChild());
      table.set_archive_bytes(k, f.getArchiveBytes());
      if (auto fields = f.getFields(); fields.size() > 0) {
        auto copy = table.next_frame_fields(k, fields.size());
        for (unsigned j = 0; j < fields.size(); ++j) copy.setWithCaveats(j, fields[j]);
      }
    }
    if (!needs_extra(t)) continue;
    auto e = table.next_extra(i);
    if (t.hasName() && t.getName().size() > 0) e.setName(t.getName());
    if (which == Tasklet::Wait::SLEEP) e.setSleep(wait.getSleep());
    e.setHasSlot(t.getHasSlot());
    if (t.hasSlot()) e.setSlot(t.getSlot());
    if (t.hasNative()) e.setNative(t.getNative());
  }
  table.check_filled(counts);
}

}  // namespace stasis::persist
