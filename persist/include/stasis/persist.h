// stasis/persist.h — everything of stasis::persist: snapshots (freeze/thaw),
// persistent frame and value registration, checkpoints, the snapshot container.
#ifndef STASIS_PERSIST_H_
#define STASIS_PERSIST_H_

#include "stasis/persist/atomic_file.h"
#include "stasis/persist/checkpointer.h"
#include "stasis/persist/container.h"
#include "stasis/persist/errors.h"
#include "stasis/persist/persistent_frame.h"
#include "stasis/persist/snapshot.h"
#include "stasis/persist/value_codec.h"

#endif  // STASIS_PERSIST_H_
