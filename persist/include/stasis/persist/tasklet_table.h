// stasis/persist/tasklet_table.h — converting a snapshot message between the two
// layouts of its tasklets: the `tasklets` list of records (formats 1 and 2) and the
// columnar `taskletTable` (format 3; schema/snapshot.capnp, TaskletTable).
//
// The mapping is exact both ways. Tasklet i is table entry i: ids, states and
// priorities are copied; flags bit 0 atomic, 1 blockTrap, 2 started, 3 interrupted;
// a wait is its waitKind plus, for send/receive, its channel in waitChannels (else
// 0), and for sleep the time left in the tasklet's extra. frameCounts[i] frames per
// tasklet sit in the per-frame columns, tasklet after tasklet, innermost first; a
// frame with field values has a FrameFields entry (its global frame index). A
// tasklet has one TaskletExtra exactly when it has a non-empty name, a sleep wait, a
// slot (hasSlot or slot bytes) or a native record. Enum values this build does not know (states,
// wait kinds) are carried through as their numbers, so validating the converted
// message still reports them.
//
// A channel's waiters follow the layout: format 3 lists them in waiterTasklets as
// table indexes (each waits in the direction of its tasklet's wait kind), the list
// layout in waiters as ids with a direction.
//
// A message uses `tasklets` or `taskletTable`, never both. Both conversions copy
// every other field of the message (deep copies) and do work and allocate memory in
// proportion to the message: a size the table merely claims (a hostile frameCounts)
// is checked against the columns actually present before anything is allocated.
#ifndef STASIS_PERSIST_TASKLET_TABLE_H_
#define STASIS_PERSIST_TASKLET_TABLE_H_

#include <cstdint>
#include <string_view>

#include "stasis/persist/errors.h"
#include "stasis/schema/snapshot.capnp.h"

namespace stasis::persist {

// Every bit TaskletTable.flags may hold (schema/snapshot.capnp, tasklet*Flag).
inline constexpr std::uint8_t kKnownTaskletFlags = schema::TASKLET_ATOMIC_FLAG | schema::TASKLET_BLOCK_TRAP_FLAG |
                                                   schema::TASKLET_STARTED_FLAG | schema::TASKLET_INTERRUPTED_FLAG;

// True if the message keeps its tasklets in the format-3 columnar table.
bool has_tasklet_table(schema::Snapshot::Reader s);

// Copies every field of `in` into `out` (a fresh, empty root) with the tasklets as
// the `tasklets` list (the format-2 layout) and the table left unset. A message
// already in list form is copied as is.
// Throws SnapshotCorrupt ("<source_name>: taskletTable.<column> ...") when the table's
// columns disagree: per-tasklet columns of different lengths, per-frame columns whose
// length is not the sum of frameCounts, extras or frameFields whose keys are out of
// range or not strictly increasing, flags with unknown bits, a sleep wait without an
// extra, a sleep time or wait channel on a tasklet whose wait kind has none, a
// channel's waiterTasklets index out of range or next to a non-empty waiters list, or
// a message with both a non-empty `tasklets` list and a table. Cap'n Proto errors
// (kj::Exception) from a malformed message propagate: wrap the call in
// with_capnp_errors() (container.h), or use MessageView::listed_root().
void expand_tasklet_table(schema::Snapshot::Reader in, schema::Snapshot::Builder out,
                          std::string_view source_name = "snapshot");

// The reverse: `out` (a fresh, empty root) gets `in` with its `tasklets` list packed
// into a table (the format-3 layout). `in` must be in list form (else InvalidArgument)
// and is packed as it is, broken or not (validate the result): an empty name and an
// empty field list are not kept, and a waiter whose id no tasklet has gets the index
// one past the last tasklet. Used by tests and tools to build
// format-3 messages from edited format-2 ones.
void pack_tasklet_table(schema::Snapshot::Reader in, schema::Snapshot::Builder out);

}  // namespace stasis::persist

#endif  // STASIS_PERSIST_TASKLET_TABLE_H_
