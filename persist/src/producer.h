// producer.h — who wrote a snapshot, and whether this process can read its archive.
//
// The field archive stores integers natively (Boost binary archive), so a snapshot
// restores only where endianness and the sizes of long and pointers match the
// producer's; everything else about the producer (architecture, compiler, host) is
// informational. Soft snapshots therefore move freely between x86_64 and aarch64.
#ifndef STASIS_PERSIST_SRC_PRODUCER_H_
#define STASIS_PERSIST_SRC_PRODUCER_H_

#include <string_view>

#include "stasis/schema/snapshot.capnp.h"

namespace stasis::persist {

// The calling process as a producer.
void fill_producer(schema::Producer::Builder p);
// Throws SnapshotIncompatible naming the mismatch and what to do.
void check_producer(schema::Producer::Reader p, std::string_view source_name);
// "x86_64", "aarch64", ...
const char* this_architecture() noexcept;

}  // namespace stasis::persist

#endif  // STASIS_PERSIST_SRC_PRODUCER_H_
