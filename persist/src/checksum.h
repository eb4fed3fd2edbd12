// persist/src/checksum.h — the snapshot container's checksum function (internal
// to stasis::persist).
//
// xxh3_64(parts) is XXH3-64 (libxxhash's definition) of the concatenation of
// `parts`. On x86-64 it runs the widest vector code the CPU has (AVX-512, AVX2,
// else libxxhash's own SSE2 build): a snapshot is hashed once when written and
// once when read, about 180 bytes per tasklet, and the value never depends on
// which code computed it.
#ifndef STASIS_PERSIST_SRC_CHECKSUM_H_
#define STASIS_PERSIST_SRC_CHECKSUM_H_

#include <cstdint>
#include <initializer_list>
#include <string_view>

namespace stasis::persist::detail {

// XXH3-64 of the parts one after the other (at most 8 parts).
std::uint64_t xxh3_64(std::initializer_list<std::string_view> parts);

}  // namespace stasis::persist::detail

#endif  // STASIS_PERSIST_SRC_CHECKSUM_H_
