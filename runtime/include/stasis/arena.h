// stasis/arena.h — the iso-address arena: tasklet-owned memory at fixed addresses.
//
// The arena is a range of virtual addresses, [base, base + max_nodes * partition_size),
// at the same place in every process of a program. Node n (a process hosting a
// scheduler) makes memory only in its partition [base + n * partition_size, + partition_size),
// so memory made on node A can be mapped again, at the same addresses, on node B
// (Charm++ isomalloc, PM2). Native persistence keeps a native tasklet's heap data in
// one Share of the arena: pointers into it stay valid after a restore.
//
// A Share is one tasklet's memory: a list of runs, each a mapping of address space
// whose first bytes are a run header. Everything a share holds — its blocks, its
// free lists and the Share header itself (inside its first run) — lies inside
// [address, address + used) of its runs, so copying those bytes and mapping them
// again at the same addresses (restore_share) restores the allocator with the data.
//
// Invariants:
//   - every run starts at a multiple of run_granule() and spans a multiple of it;
//     every block lies within the first run_granule() bytes of its run, or is
//     itself granule-aligned with a pointer to its run just below it, so
//     deallocate() finds the run (and so the share) from the address alone;
//   - a share is used by one thread at a time: allocate() and deallocate() of its
//     blocks are not synchronized. Creating, destroying and restoring shares, and
//     the partition's address space, are thread-safe;
//   - the allocator never allocates from the normal heap (or any share) while
//     allocating or freeing a block.
//
// Tasklet scope: while current_share() is set on a thread, the replacement global
// operator new of the stasis::arena_new library (link it to opt in) allocates from
// that share; operator delete frees arena blocks to their share whatever the
// current share is, and everything else to malloc's heap. So std::vector and
// std::string locals of a native tasklet live in its share and persist with it.
// Objects made in scope that must outlive the share (a static, something handed to
// another thread) must be made under ScopedShare(nullptr).
#ifndef STASIS_ARENA_H_
#define STASIS_ARENA_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "stasis/error.h"

namespace stasis::arena {

// Arena misuse or bad persistent input: configure() while shares exist, an
// exhausted partition, a RunImage that cannot be restored. The message names the
// node, run or address and what to do.
class ArenaError : public Error {
 public:
  using Error::Error;
};

// The default arena base: 2^37 (128 GiB), below the runtime's slice regions (2^38)
// and below 2^39 for aarch64 kernels with 39-bit address spaces. AddressSanitizer
// keeps its shadow gap there on x86_64, so sanitized builds default to 2^46.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr std::uintptr_t kDefaultArenaBase = std::uintptr_t{1} << 46;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
inline constexpr std::uintptr_t kDefaultArenaBase = std::uintptr_t{1} << 46;
#else
inline constexpr std::uintptr_t kDefaultArenaBase = std::uintptr_t{1} << 37;
#endif
#else
inline constexpr std::uintptr_t kDefaultArenaBase = std::uintptr_t{1} << 37;
#endif

struct ArenaOptions {
  // First byte of the arena; a multiple of run_granule().
  std::uintptr_t base = kDefaultArenaBase;
  // Address space per node; a multiple of run_granule(), at least 4 granules.
  std::size_t partition_size = std::size_t{1} << 32;
  // This process allocates in [base + node_id * partition_size, + partition_size).
  std::uint32_t node_id = 0;
  // The arena is [base, base + max_nodes * partition_size); the default ends at
  // 2^38, where the runtime's slice regions begin. node_id < max_nodes.
  std::uint32_t max_nodes = 32;
};

// Sets the process-wide options. InvalidArgument naming the bad value; ArenaError
// if shares exist (made or restored, and not destroyed). Freed address space of
// the previous partition is given back to the system. Not concurrent with any
// other arena call.
void configure(const ArenaOptions& options);
// The options in force (the defaults until configure()).
const ArenaOptions& options() noexcept;

// The unit of arena address space: max(16 KiB, the page size). Runs start at
// multiples of it and span multiples of it.
std::size_t run_granule() noexcept;

// One tasklet's memory. Opaque; the header lives at the start of its first run.
class Share;

namespace detail {
// The arena range as [arena_low, arena_low + arena_span), for contains().
extern std::atomic<std::uintptr_t> arena_low;
extern std::atomic<std::uintptr_t> arena_span;
// The calling thread's current share (initial-exec TLS: no guard, no call).
extern constinit thread_local Share* current [[gnu::tls_model("initial-exec")]];
}  // namespace detail

// True if p lies in the arena's address range (any partition). Two loads and a
// compare: operator delete runs it for every pointer.
inline bool contains(const void* p) noexcept {
  return reinterpret_cast<std::uintptr_t>(p) - detail::arena_low.load(std::memory_order_relaxed) <
         detail::arena_span.load(std::memory_order_relaxed);
}

// A new, empty share in this node's partition. ArenaError (naming the node and
// the partition's size) when the partition has no address space left.
Share* create_share();
// Frees every block of s and gives its runs back. s must not be current on any
// thread (it is cleared if current on the calling one). Null is ignored.
void destroy_share(Share* s) noexcept;

// A block of at least `size` bytes aligned to `align` (a power of two), owned by
// s. std::bad_alloc when the partition is exhausted or the system refuses memory.
void* allocate(Share* s, std::size_t size, std::size_t align = alignof(std::max_align_t));
// Frees a block of any share (null is ignored). On the share's thread only.
void deallocate(void* p) noexcept;
// The bytes usable in block p (at least the size asked for).
std::size_t usable_size(const void* p) noexcept;
// The share that owns block p.
Share* share_of(const void* p) noexcept;
// Bytes of the blocks s has handed out and not taken back (usable sizes).
std::size_t bytes_in_use(const Share* s) noexcept;

// Persistence: a share's memory as runs of address space. Everything the share
// holds lies in [address, address + used) of its runs; the rest of each mapping
// is untouched (zero).
struct Run {
  std::uintptr_t address;
  std::size_t mapped;
  std::size_t used;
};
// s's runs; the first is the one holding the Share header (its address is s).
// The vector comes from the normal heap whatever share is current.
std::vector<Run> runs(const Share* s);

// A run to restore: its place and its first `used` bytes (bytes.size() == used).
struct RunImage {
  std::uintptr_t address;
  std::size_t mapped;
  std::span<const std::byte> bytes;
};
// Maps each run at its address and copies its bytes; returns the share, at
// runs[0].address. The images are untrusted: everything is checked first (in the
// arena, granule-aligned, no overlap, used <= mapped, run headers and the
// share's lists consistent with the images) and a bad image gives ArenaError
// naming the run and the problem. An address that is already mapped gives
// ArenaError naming it. All or nothing: on error nothing stays mapped. A share
// from another node is restored in that node's partition, but grows in this one.
Share* restore_share(std::span<const RunImage> runs);

// The share the calling thread's operator new allocates from (null: malloc's heap).
inline Share* current_share() noexcept { return detail::current; }
// Sets it. The runtime calls this on every native switch: one TLS store.
inline void set_current_share(Share* s) noexcept { detail::current = s; }

// Makes s current for its lifetime, then restores the previous current share.
class ScopedShare {
 public:
  explicit ScopedShare(Share* s) noexcept : previous_(current_share()) { set_current_share(s); }
  ~ScopedShare() { set_current_share(previous_); }
  ScopedShare(const ScopedShare&) = delete;
  ScopedShare& operator=(const ScopedShare&) = delete;

 private:
  Share* previous_;
};

}  // namespace stasis::arena

#endif  // STASIS_ARENA_H_
