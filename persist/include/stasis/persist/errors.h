// stasis/persist/errors.h — the typed errors of freezing, thawing and snapshot files.
//
// A snapshot is untrusted input: every way it can be wrong maps to one of these
// types, with a message naming the object (file, tasklet, frame type, field, record
// path such as "tasklets[3].frames[0]") and what to do. Catch SnapshotError for any
// load failure, FreezeError for any failure to take a snapshot.
#ifndef STASIS_PERSIST_ERRORS_H_
#define STASIS_PERSIST_ERRORS_H_

#include "stasis/error.h"

namespace stasis {

// Base of every failure to read or restore a snapshot.
class SnapshotError : public Error {
 public:
  using Error::Error;
};

// The bytes are not a well-formed snapshot: wrong magic, truncated, checksum
// mismatch, bad compression, a record that breaks the format's invariants.
class SnapshotFormatError : public SnapshotError {
 public:
  using SnapshotError::SnapshotError;
};
class SnapshotTruncated : public SnapshotFormatError {
 public:
  using SnapshotFormatError::SnapshotFormatError;
};
class SnapshotChecksumMismatch : public SnapshotFormatError {
 public:
  using SnapshotFormatError::SnapshotFormatError;
};
// Decoded fine, but a record breaks an invariant of schema/snapshot.capnp (an index
// out of range, a waiter naming a missing tasklet, archive sizes that disagree...).
class SnapshotCorrupt : public SnapshotFormatError {
 public:
  using SnapshotFormatError::SnapshotFormatError;
};
// Written by a newer format version than this library reads.
class SnapshotVersionError : public SnapshotFormatError {
 public:
  using SnapshotFormatError::SnapshotFormatError;
};
// A size in the file exceeds the reader's limits (ReadLimits).
class SnapshotTooLarge : public SnapshotFormatError {
 public:
  using SnapshotFormatError::SnapshotFormatError;
};

// A well-formed snapshot this process cannot restore.
class SnapshotIncompatible : public SnapshotError {
 public:
  using SnapshotError::SnapshotError;
};
// A frame type name that no STASIS_PERSISTENT_FRAME registered here.
class UnknownFrameType : public SnapshotIncompatible {
 public:
  using SnapshotIncompatible::SnapshotIncompatible;
};
// A frame written with a newer version than the registered one.
class FrameVersionError : public SnapshotIncompatible {
 public:
  using SnapshotIncompatible::SnapshotIncompatible;
};
// A channel or slot value type name with no registered codec here.
class UnknownValueType : public SnapshotIncompatible {
 public:
  using SnapshotIncompatible::SnapshotIncompatible;
};

// The chosen tasklets cannot be frozen as they are (a value type without a codec,
// an unregistered frame type, a channel outside the snapshot's reach...). Nothing
// was changed: the tasklets go on running.
class FreezeError : public Error {
 public:
  using Error::Error;
};

// Writing, listing or loading checkpoint files failed (I/O error, no valid
// checkpoint in the directory).
class CheckpointError : public Error {
 public:
  using Error::Error;
};

}  // namespace stasis

#endif  // STASIS_PERSIST_ERRORS_H_
