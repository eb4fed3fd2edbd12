// stasis/persist/validate.h — checks a snapshot message against every invariant of
// schema/snapshot.capnp before anything trusts it.
//
// What a valid message keeps (docs/snapshot-format.md lists them with reasons):
//   - producer: pointerBits and longBits are 32 or 64; enums (scope, state, wait,
//     field kinds) hold known values;
//   - frame type names, value type names and the field names of one frame type are
//     non-empty and unique; names and texts stay within kMaxNameBytes/kMaxTextBytes;
//   - every index (frame type, value type, channel) is in range of its list;
//   - tasklet ids and channel ids are unique; priorities are in [-16, 15];
//   - run-queue tasklets (new, runnable) come first; a tasklet has a wait other than
//     none exactly when it is blocked; sleep times are >= 0; interrupted tasklets are
//     paused; new tasklets have not started; blocked ones have;
//   - every tasklet has at least one frame; outer frames (all but the innermost) sit
//     at a resume point >= 1 (a call is a suspension point), the innermost frame does
//     not catch a child's exception, a tasklet that has not started has exactly its
//     root frame at resume point 0; a frame has no field values (format 2: the
//     archive describes them) or as many as its frame type lists fields;
//   - a channel's waiters name tasklets of this snapshot, each tasklet at most once
//     across all channels, with the direction and channel of that tasklet's wait, and
//     every tasklet waiting on a channel is among its waiters; waiters are all senders
//     or all receivers and balance == senders - receivers; a buffered channel holds at
//     most `capacity` values of its value type, and none while receivers wait;
//   - the archive byte counts of frames, slots and buffered values add up to the
//     archive's size (a slot without hasSlot owns no bytes).
//
// Cost: linear in the message; memory proportional to the number of tasklets,
// channels and types actually present (never to a size the message merely claims).
#ifndef STASIS_PERSIST_VALIDATE_H_
#define STASIS_PERSIST_VALIDATE_H_

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "stasis/persist/errors.h"
#include "stasis/schema/snapshot.capnp.h"

namespace stasis::persist {

// Longest accepted name: frame/value type names, field names and types, tasklet and
// channel names, producer strings.
inline constexpr std::size_t kMaxNameBytes = 4096;
// Longest accepted text: field values, value renderings, C++ type names, the note.
inline constexpr std::size_t kMaxTextBytes = 1 << 20;
inline constexpr std::size_t kDefaultMaxProblems = 100;

// Throws SnapshotCorrupt for the first broken invariant, with `source_name` and the
// record path: "x.snap: tasklets[3].frames[1].type = 9 is out of range: 4 frame
// types". A malformed Cap'n Proto message found on the way is SnapshotCorrupt too.
void validate_snapshot(schema::Snapshot::Reader snapshot, std::string_view source_name = "snapshot");

// Collects up to `max_problems` broken invariants (paths as above, without a source
// name); empty means valid. When the limit is hit the last entry says so. Never
// throws for bad input (only std::bad_alloc).
std::vector<std::string> check_snapshot(schema::Snapshot::Reader snapshot,
                                        std::size_t max_problems = kDefaultMaxProblems);

}  // namespace stasis::persist

#endif  // STASIS_PERSIST_VALIDATE_H_
