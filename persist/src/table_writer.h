// table_writer.h — filling a snapshot's columnar TaskletTable (format 3) one
// tasklet and one frame at a time.
//
// The freezer and pack_tasklet_table count first (TableCounts: frames, extras,
// field sets), then the table's lists are allocated at exactly those sizes and
// filled in order. Invariants: frames, extras and field sets are handed out in increasing
// index, never more than counted (a write past a Cap'n Proto list is not checked
// in release builds, so every next_* checks its count and check_filled() checks
// that every counted entry was written).
#ifndef STASIS_PERSIST_SRC_TABLE_WRITER_H_
#define STASIS_PERSIST_SRC_TABLE_WRITER_H_

#include <cstddef>
#include <cstdint>

#include <string>

#include "stasis/persist/errors.h"
#include "stasis/schema/snapshot.capnp.h"

namespace stasis::persist {

struct TableCounts {
  std::size_t frames = 0;        // soft frames of all tasklets
  std::size_t extras = 0;        // tasklets with a name, slot, sleep or native record
  std::size_t frame_fields = 0;  // frames that carry field values
};

class TableWriter {
 public:
  // The bits of TaskletTable.flags.
  static constexpr std::uint8_t kAtomic = schema::TASKLET_ATOMIC_FLAG, kBlockTrap = schema::TASKLET_BLOCK_TRAP_FLAG,
                                kStarted = schema::TASKLET_STARTED_FLAG, kInterrupted = schema::TASKLET_INTERRUPTED_FLAG;

  // Message words the table takes for `tasklets` tasklets and `counts` (the
  // columns and list tags; extras' and field sets' contents are the caller's).
  static std::size_t words(std::size_t tasklets, const TableCounts& counts) {
    auto bytes = [](std::size_t n) { return (n + 7) / 8; };
    return 13 /* list tags */ + bytes(tasklets * (8 + 2 + 1 + 1 + 2 + 4 + 4)) + bytes(counts.frames * (4 + 2 + 4)) +
           bytes((counts.frames + 7) / 8);
  }

  void init(schema::TaskletTable::Builder table, std::size_t tasklets, const TableCounts& counts) {
    const auto n = static_cast<unsigned>(tasklets), f = static_cast<unsigned>(counts.frames);
    ids_ = table.initIds(n);
    states_ = table.initStates(n);
    priorities_ = table.initPriorities(n);
    flags_ = table.initFlags(n);
    wait_kinds_ = table.initWaitKinds(n);
    wait_channels_ = table.initWaitChannels(n);
    frame_counts_ = table.initFrameCounts(n);
    frame_types_ = table.initFrameTypes(f);
    resume_points_ = table.initResumePoints(f);
    catches_child_ = table.initCatchesChild(f);
    archive_bytes_ = table.initArchiveBytes(f);
    extras_ = table.initExtras(static_cast<unsigned>(counts.extras));
    frame_fields_ = table.initFrameFields(static_cast<unsigned>(counts.frame_fields));
  }

  void set_tasklet(unsigned i, std::uint64_t id, schema::Tasklet::State state, std::int8_t priority, std::uint8_t flags,
                   schema::TaskletTable::WaitKind wait, std::uint32_t wait_channel, unsigned frames) {
    ids_.set(i, id);
    states_.set(i, state);
    priorities_.set(i, priority);
    flags_.set(i, flags);
    wait_kinds_.set(i, wait);
    wait_channels_.set(i, wait_channel);
    frame_counts_.set(i, frames);
  }

  // The next frame's index; its archive size is set when its fields are written.
  unsigned next_frame(std::uint32_t type, std::uint16_t resume_point, bool catches_child) {
    if (frame_ == frame_types_.size()) overflow("frames");
    frame_types_.set(frame_, type);
    resume_points_.set(frame_, resume_point);
    if (catches_child) catches_child_.set(frame_, true);
    return frame_++;
  }
  void set_archive_bytes(unsigned frame, std::uint32_t bytes) { archive_bytes_.set(frame, bytes); }

  // The field values of frame `frame` (`count` of them).
  capnp::List<schema::Field>::Builder next_frame_fields(unsigned frame, unsigned count) {
    if (field_set_ == frame_fields_.size()) overflow("frame field sets");
    auto b = frame_fields_[field_set_++];
    b.setFrame(frame);
    return b.initFields(count);
  }

  schema::TaskletExtra::Builder next_extra(unsigned tasklet) {
    if (extra_ == extras_.size()) overflow("extras");
    auto b = extras_[extra_++];
    b.setTasklet(tasklet);
    return b;
  }

  // Throws unless every counted entry was written.
  void check_filled(const TableCounts& counts) const {
    if (frame_ != counts.frames || extra_ != counts.extras || field_set_ != counts.frame_fields) overflow("entries");
  }

 private:
  // The runtime state changed between counting and writing: a bug, not bad input.
  [[noreturn]] static void overflow(const char* what) {
    throw FreezeError(std::string("freeze: internal error: the tasklet table's ") + what +
                      " differ from what was counted; please report this");
  }

  capnp::List<std::uint64_t>::Builder ids_;
  capnp::List<schema::Tasklet::State>::Builder states_;
  capnp::List<std::int8_t>::Builder priorities_;
  capnp::List<std::uint8_t>::Builder flags_;
  capnp::List<schema::TaskletTable::WaitKind>::Builder wait_kinds_;
  capnp::List<std::uint32_t>::Builder wait_channels_;
  capnp::List<std::uint32_t>::Builder frame_counts_;
  capnp::List<std::uint32_t>::Builder frame_types_;
  capnp::List<std::uint16_t>::Builder resume_points_;
  capnp::List<bool>::Builder catches_child_;
  capnp::List<std::uint32_t>::Builder archive_bytes_;
  capnp::List<schema::TaskletExtra>::Builder extras_;
  capnp::List<schema::FrameFields>::Builder frame_fields_;
  unsigned frame_ = 0, extra_ = 0, field_set_ = 0;
};

}  // namespace stasis::persist

#endif  // STASIS_PERSIST_SRC_TABLE_WRITER_H_
