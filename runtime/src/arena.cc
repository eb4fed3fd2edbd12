// arena.cc — the iso-address arena (see stasis/arena.h), in three layers:
//
//   1. The partition: this node's address space, handed out in spans that are
//      multiples of the granule, at addresses aligned to the granule (or more).
//      New spans are mapped with MAP_FIXED_NOREPLACE at increasing addresses; an
//      address that is taken (a restored share, a foreign mapping) is skipped. A
//      freed span of this partition stays mapped, emptied with MADV_DONTNEED, on
//      an intrusive list whose nodes are the spans themselves (first fit, split
//      on reuse); spans outside the partition (restored from another node) are
//      unmapped. One mutex guards the partition; shares on several threads share it.
//   2. Shares: small blocks (up to kMaxSmall bytes, 16-aligned) come from runs of
//      one granule holding one size class each, carved by a bump offset and
//      recycled through a free list per run; the runs of a class that have room
//      form the share's avail list, and a run that empties is given back unless it
//      is the last with room. Every other block has a run of its own. All runs of
//      a share form a list that starts at the Share header (its home run).
//   3. Persistence: runs() lists the runs; restore_share() checks untrusted images
//      (places, headers, every list) before it maps anything.
//
// Invariants: a run header is at the granule-aligned start of its run; a block is
// within its run's first granule, or is granule-aligned with its run's address in
// the word below it; small runs hold blocks at block_offset + k * block_size for
// k < (used - block_offset) / block_size, each either live or on the free list.
// Nothing here allocates from the normal heap except runs(), restore_share() and
// error messages, which run with no current share.
#include "stasis/arena.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <string>

#if defined(__SANITIZE_ADDRESS__) && __has_include(<sanitizer/lsan_interface.h>)
#include <sanitizer/lsan_interface.h>
#define STASIS_ARENA_LSAN 1
#endif

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000  // Linux >= 4.17; same value on x86_64 and aarch64
#endif

namespace stasis::arena {

namespace {

constexpr ArenaOptions kDefaults{};
constexpr std::uint64_t kRunMagic = 0x314e555241545353;    // "SSTARUN1"
constexpr std::uint64_t kShareMagic = 0x3152485341545353;  // "SSTASHR1"
constexpr std::uint64_t kSpanMagic = 0x314e415053545353;   // "SSTSPAN1"
constexpr std::uint32_t kShareVersion = 1;
constexpr std::size_t kMinGranule = 16 * 1024;
constexpr std::size_t kQuantum = 16;  // small block size step and alignment
constexpr std::size_t kMaxSmall = 2048;
constexpr std::uint32_t kSpareKind = 0xfffffffd;
constexpr std::uint32_t kHomeKind = 0xfffffffe;
constexpr std::uint32_t kLargeKind = 0xffffffff;
// Empty small runs a share keeps for reuse by any class, so that a pattern that
// fills and empties runs does not give them back and fault them in again.
constexpr std::uint32_t kMaxSpare = 4;

constexpr std::array<std::uint32_t, 24> kClassSize = {16,  32,  48,  64,  80,   96,   112,  128,
                                                      160, 192, 224, 256, 320,  384,  448,  512,
                                                      640, 768, 896, 1024, 1280, 1536, 1792, 2048};
constexpr std::size_t kClasses = kClassSize.size();

// kClassOf[(size + 15) / 16]: the smallest class that holds size.
constexpr auto kClassOf = [] {
  std::array<std::uint8_t, kMaxSmall / kQuantum + 1> t{};
  std::size_t c = 0;
  for (std::size_t i = 0; i < t.size(); ++i) {
    while (kClassSize[c] < i * kQuantum) ++c;
    t[i] = static_cast<std::uint8_t>(c);
  }
  return t;
}();

struct FreeBlock {
  FreeBlock* next;
};

// At the start of every run.
struct RunHeader {
  std::uint64_t magic;        // kRunMagic
  Share* share;               // owner
  RunHeader* prev;            // the share's runs: home first, null-terminated
  RunHeader* next;
  RunHeader* prev_avail;      // small: the class's runs with room
  RunHeader* next_avail;      // (spare: the share's spare runs)
  std::size_t mapped;         // bytes of address space, a multiple of the granule
  std::size_t used;           // bytes from the run start that hold anything
  FreeBlock* free;            // small: freed blocks
  std::uint32_t kind;         // class index, kSpareKind, kHomeKind or kLargeKind
  std::uint32_t live;         // small: blocks handed out
  std::size_t block_size;     // small: the class size; large: usable bytes
  std::size_t block_offset;   // the (first) block's offset from the run start
  std::uint32_t in_avail;     // small: on the avail list
  std::uint32_t reserved;
};
constexpr std::size_t kHeaderSize = (sizeof(RunHeader) + kQuantum - 1) & ~(kQuantum - 1);

// On a freed span of this partition (still mapped).
struct FreeSpan {
  std::uint64_t magic;  // kSpanMagic
  FreeSpan* next;
  std::size_t size;
};

std::string hex(std::uintptr_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string bytes_text(std::size_t n) {
  if (n >= (std::size_t{1} << 30) && n % (std::size_t{1} << 30) == 0) return std::to_string(n >> 30) + " GiB";
  if (n >= (std::size_t{1} << 20) && n % (std::size_t{1} << 20) == 0) return std::to_string(n >> 20) + " MiB";
  if (n >= 1024 && n % 1024 == 0) return std::to_string(n >> 10) + " KiB";
  return std::to_string(n) + " bytes";
}

constexpr std::uintptr_t round_up(std::uintptr_t v, std::uintptr_t a) { return (v + a - 1) & ~(a - 1); }

}  // namespace

class Share {
 public:
  RunHeader run;                 // the home run's header (kind kHomeKind)
  std::uint64_t magic;           // kShareMagic
  std::uint32_t version;         // kShareVersion
  std::uint32_t node_id;         // the partition it was made in
  std::size_t in_use;            // bytes_in_use()
  std::size_t run_count;         // runs on the list, home included
  RunHeader* spare;              // empty small runs, linked by next_avail
  std::uint32_t spare_count;     // at most kMaxSpare
  std::uint32_t reserved;
  RunHeader* avail[kClasses];    // per class: runs with room
};

namespace detail {
constinit std::atomic<std::uintptr_t> arena_low{kDefaults.base};
constinit std::atomic<std::uintptr_t> arena_span{kDefaults.partition_size * kDefaults.max_nodes};
constinit thread_local Share* current [[gnu::tls_model("initial-exec")]] = nullptr;
}  // namespace detail

namespace {

constinit ArenaOptions g_options{};
constinit std::atomic<std::size_t> g_granule{0};
constinit std::atomic<std::size_t> g_live_shares{0};

// This node's address space (layer 1). All fields under mu.
struct Partition {
  std::mutex mu;
  bool ready = false;
  std::uintptr_t low = 0, high = 0;  // [low, high)
  std::uintptr_t bump = 0;           // below: mapped at some time, or skipped
  FreeSpan* free = nullptr;
};
constinit Partition g_part;

std::size_t granule() noexcept {
  std::size_t g = g_granule.load(std::memory_order_relaxed);
  if (g == 0) {
    long page = sysconf(_SC_PAGESIZE);
    g = std::max<std::size_t>(kMinGranule, page > 0 ? static_cast<std::size_t>(page) : 4096);
    g_granule.store(g, std::memory_order_relaxed);
  }
  return g;
}

#ifdef STASIS_ARENA_LSAN
// LeakSanitizer scans registered root regions where they are mapped: the whole
// arena is one, so malloc blocks that only arena memory points to are not leaks.
void lsan_track(std::uintptr_t low, std::uintptr_t span, bool on) {
  if (on) {
    __lsan_register_root_region(reinterpret_cast<void*>(low), span);
  } else {
    __lsan_unregister_root_region(reinterpret_cast<void*>(low), span);
  }
}
struct LsanDefaultRoot {
  LsanDefaultRoot() { lsan_track(kDefaults.base, kDefaults.partition_size * kDefaults.max_nodes, true); }
};
LsanDefaultRoot lsan_default_root;
#endif

void ensure_partition_locked() {
  if (g_part.ready) return;
  g_part.low = g_options.base + std::uintptr_t{g_options.node_id} * g_options.partition_size;
  g_part.high = g_part.low + g_options.partition_size;
  g_part.bump = g_part.low;
  g_part.ready = true;
}

void* map_fixed(std::uintptr_t a, std::size_t size) {
  void* p = mmap(reinterpret_cast<void*>(a), size, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) return nullptr;
  if (p != reinterpret_cast<void*>(a)) {  // a kernel without NOREPLACE took it as a hint
    munmap(p, size);
    errno = EEXIST;
    return nullptr;
  }
  return p;
}

// A span of `size` bytes (a multiple of the granule) at an address aligned to
// `align` (a power of two, at least the granule) in this node's partition. Null
// when the partition has no room (*err = 0) or the system refuses (*err = errno).
void* take_span(std::size_t size, std::size_t align, int* err) noexcept {
  std::lock_guard<std::mutex> lock(g_part.mu);
  ensure_partition_locked();
  for (FreeSpan** link = &g_part.free; *link; link = &(*link)->next) {
    FreeSpan* f = *link;
    auto a = reinterpret_cast<std::uintptr_t>(f);
    if (a % align != 0 || f->size < size) continue;
    if (f->size > size) {  // split: the rest stays on the list
      auto* rest = reinterpret_cast<FreeSpan*>(a + size);
      *rest = FreeSpan{kSpanMagic, f->next, f->size - size};
      *link = rest;
    } else {
      *link = f->next;
    }
    return f;
  }
  std::size_t step = granule();
  std::uintptr_t a = round_up(g_part.bump, align);
  while (a >= g_part.bump && a <= g_part.high && g_part.high - a >= size) {
    if (void* p = map_fixed(a, size)) {
      g_part.bump = a + size;
      return p;
    }
    if (errno != EEXIST) {
      *err = errno;
      return nullptr;
    }
    // Taken (a restored share, most likely): skip ahead, faster the longer it lasts.
    a = round_up(a + step, align);
    step = std::min<std::size_t>(step * 2, std::size_t{1} << 30);
  }
  *err = 0;
  return nullptr;
}

// Gives a span back: to the free list if it is in this partition, else to the system.
void give_span(void* p, std::size_t size) noexcept {
  auto a = reinterpret_cast<std::uintptr_t>(p);
  std::unique_lock<std::mutex> lock(g_part.mu);
  if (!g_part.ready || a < g_part.low || a >= g_part.high) {
    lock.unlock();
    munmap(p, size);
    return;
  }
  madvise(p, size, MADV_DONTNEED);
  auto* f = static_cast<FreeSpan*>(p);
  *f = FreeSpan{kSpanMagic, g_part.free, size};
  g_part.free = f;
}

[[noreturn]] void fatal(const char* what, const void* p) noexcept {
  std::fprintf(stderr, "stasis::arena: %s (%p)\n", what, p);
  std::abort();
}

RunHeader* header_of(const void* p) noexcept {
  auto a = reinterpret_cast<std::uintptr_t>(p);
  std::uintptr_t r = a & ~(granule() - 1);
  if (r == a) std::memcpy(&r, reinterpret_cast<const void*>(a - sizeof r), sizeof r);  // an over-aligned block
  auto* h = reinterpret_cast<RunHeader*>(r);
  if (h->magic != kRunMagic || (h->kind >= kClasses && h->kind != kLargeKind)) fatal("not a block of the arena", p);
  return h;
}

void init_run(RunHeader* r, Share* s, std::uint32_t kind, std::size_t mapped) noexcept {
  *r = RunHeader{};
  r->magic = kRunMagic;
  r->share = s;
  r->mapped = mapped;
  r->kind = kind;
}

// Puts r on s's run list, right after the home run.
void link_run(Share* s, RunHeader* r) noexcept {
  r->prev = &s->run;
  r->next = s->run.next;
  if (r->next) r->next->prev = r;
  s->run.next = r;
  ++s->run_count;
}

void unlink_run(Share* s, RunHeader* r) noexcept {
  r->prev->next = r->next;
  if (r->next) r->next->prev = r->prev;
  --s->run_count;
}

void push_avail(Share* s, RunHeader* r) noexcept {
  RunHeader*& head = s->avail[r->kind];
  r->prev_avail = nullptr;
  r->next_avail = head;
  if (head) head->prev_avail = r;
  head = r;
  r->in_avail = 1;
}

void unlink_avail(Share* s, RunHeader* r) noexcept {
  if (r->prev_avail) {
    r->prev_avail->next_avail = r->next_avail;
  } else {
    s->avail[r->kind] = r->next_avail;
  }
  if (r->next_avail) r->next_avail->prev_avail = r->prev_avail;
  r->prev_avail = r->next_avail = nullptr;
  r->in_avail = 0;
}

bool has_room(const RunHeader* r) noexcept { return r->free || r->used + r->block_size <= r->mapped; }

// A run for class c (a spare one, or new), on s's avail list. Null when out of
// address space.
RunHeader* new_small_run(Share* s, std::size_t c) noexcept {
  RunHeader* r = s->spare;
  if (r) {
    s->spare = r->next_avail;
    --s->spare_count;
    r->kind = static_cast<std::uint32_t>(c);
  } else {
    std::size_t g = granule();
    int err;
    r = static_cast<RunHeader*>(take_span(g, g, &err));
    if (!r) return nullptr;
    init_run(r, s, static_cast<std::uint32_t>(c), g);
    link_run(s, r);
  }
  r->block_size = kClassSize[c];
  r->block_offset = kHeaderSize;
  r->used = kHeaderSize;
  push_avail(s, r);
  return r;
}

// An empty small run, off its avail list: kept as a spare, or given back.
void retire_small_run(Share* s, RunHeader* r) noexcept;

void* allocate_small(Share* s, std::size_t c) {
  RunHeader* r = s->avail[c];
  if (!r && !(r = new_small_run(s, c))) throw std::bad_alloc();
  void* p;
  if (FreeBlock* b = r->free) {
    r->free = b->next;
    p = b;
  } else {
    p = reinterpret_cast<char*>(r) + r->used;
    r->used += r->block_size;
  }
  ++r->live;
  s->in_use += r->block_size;
  if (!has_room(r)) unlink_avail(s, r);
  return p;
}

// A run of its own: the block at the first `align`-aligned offset after the
// header, or, for align >= granule, at offset `align` of a run aligned to it, with
// the run's address in the word below the block.
void* allocate_large(Share* s, std::size_t size, std::size_t align) {
  std::size_t g = granule();
  if (size > (std::size_t{1} << 47) || align > (std::size_t{1} << 40)) throw std::bad_alloc();
  std::size_t block = round_up(size, kQuantum);
  std::size_t offset = align < g ? round_up(kHeaderSize, align) : align;
  std::size_t mapped = round_up(offset + block, g);
  int err;
  auto* r = static_cast<RunHeader*>(take_span(mapped, std::max(align, g), &err));
  if (!r) throw std::bad_alloc();
  init_run(r, s, kLargeKind, mapped);
  r->block_size = block;
  r->block_offset = offset;
  r->used = offset + block;
  char* p = reinterpret_cast<char*>(r) + offset;
  if (offset >= g) {
    auto run = reinterpret_cast<std::uintptr_t>(r);
    std::memcpy(p - sizeof run, &run, sizeof run);
  }
  link_run(s, r);
  s->in_use += block;
  return p;
}

void release_run(Share* s, RunHeader* r) noexcept {
  unlink_run(s, r);
  r->magic = 0;
  give_span(r, r->mapped);
}

void retire_small_run(Share* s, RunHeader* r) noexcept {
  if (s->spare_count >= kMaxSpare) return release_run(s, r);
  r->kind = kSpareKind;
  r->used = kHeaderSize;  // what a snapshot keeps of it
  r->free = nullptr;
  r->block_size = 0;
  r->prev_avail = nullptr;
  r->next_avail = s->spare;
  s->spare = r;
  ++s->spare_count;
}

}  // namespace

// --- Options ---

void configure(const ArenaOptions& o) {
  ScopedShare none(nullptr);
  std::size_t g = granule();
  auto bad = [](const std::string& what) { throw InvalidArgument("arena::configure: " + what); };
  if (o.base == 0 || o.base % g != 0)
    bad("base " + hex(o.base) + " must be a nonzero multiple of the run granule (" + bytes_text(g) + ")");
  if (o.partition_size < 4 * g || o.partition_size % g != 0)
    bad("partition_size " + std::to_string(o.partition_size) + " must be a multiple of the run granule (" +
        bytes_text(g) + ") and at least 4 granules");
  if (o.max_nodes == 0) bad("max_nodes must be at least 1");
  if (o.node_id >= o.max_nodes)
    bad("node_id " + std::to_string(o.node_id) + " must be below max_nodes (" + std::to_string(o.max_nodes) + ")");
  constexpr std::uintptr_t kAddressLimit = std::uintptr_t{1} << 48;
  if (o.base >= kAddressLimit || o.partition_size > (kAddressLimit - o.base) / o.max_nodes)
    bad("the arena [" + hex(o.base) + ", + " + std::to_string(o.max_nodes) + " x " + bytes_text(o.partition_size) +
        ") reaches beyond 2^48, past any user address space");

  std::lock_guard<std::mutex> lock(g_part.mu);
  if (std::size_t n = g_live_shares.load(); n != 0)
    throw ArenaError("arena::configure: " + std::to_string(n) +
                     " share(s) exist in this process; configure the arena before the first share is made or "
                     "restored, or destroy them all first");
  while (FreeSpan* f = g_part.free) {  // everything mapped in the old partition
    g_part.free = f->next;
    munmap(f, f->size);
  }
  g_part.ready = false;
#ifdef STASIS_ARENA_LSAN
  lsan_track(g_options.base, g_options.partition_size * g_options.max_nodes, false);
  lsan_track(o.base, o.partition_size * o.max_nodes, true);
#endif
  g_options = o;
  detail::arena_low.store(o.base, std::memory_order_relaxed);
  detail::arena_span.store(o.partition_size * o.max_nodes, std::memory_order_relaxed);
}

const ArenaOptions& options() noexcept { return g_options; }

std::size_t run_granule() noexcept { return granule(); }

// --- Shares and blocks ---

Share* create_share() {
  std::size_t g = granule();
  int err;
  void* p = take_span(g, g, &err);
  if (!p) {
    ScopedShare none(nullptr);
    std::string where = "node " + std::to_string(g_options.node_id) + "'s partition [" + hex(g_part.low) + ", " +
                        hex(g_part.high) + ") (" + bytes_text(g_options.partition_size) + ")";
    if (err)
      throw ArenaError("arena::create_share: mapping " + bytes_text(g) + " in " + where + " failed: " +
                       std::strerror(err));
    throw ArenaError("arena::create_share: " + where + " has no room for a new share (" + bytes_text(g) +
                     "); destroy shares, or configure a larger partition_size");
  }
  auto* s = static_cast<Share*>(p);
  init_run(&s->run, s, kHomeKind, g);
  s->run.used = sizeof(Share);
  s->magic = kShareMagic;
  s->version = kShareVersion;
  s->node_id = g_options.node_id;
  s->in_use = 0;
  s->run_count = 1;
  s->spare = nullptr;
  s->spare_count = 0;
  s->reserved = 0;
  std::fill(std::begin(s->avail), std::end(s->avail), nullptr);
  g_live_shares.fetch_add(1);
  return s;
}

void destroy_share(Share* s) noexcept {
  if (!s) return;
  if (detail::current == s) detail::current = nullptr;
  RunHeader* r = s->run.next;
  while (r) {
    RunHeader* next = r->next;
    r->magic = 0;
    give_span(r, r->mapped);
    r = next;
  }
  s->magic = 0;
  s->run.magic = 0;
  give_span(s, s->run.mapped);
  g_live_shares.fetch_sub(1);
}

void* allocate(Share* s, std::size_t size, std::size_t align) {
  if (align & (align - 1)) throw std::bad_alloc();
  if (size <= kMaxSmall && align <= kQuantum) return allocate_small(s, kClassOf[(size + kQuantum - 1) / kQuantum]);
  return allocate_large(s, size, std::max(align, kQuantum));
}

void deallocate(void* p) noexcept {
  if (!p) return;
  RunHeader* r = header_of(p);
  Share* s = r->share;
  s->in_use -= r->block_size;
  if (r->kind == kLargeKind) return release_run(s, r);
  auto* b = static_cast<FreeBlock*>(p);
  b->next = r->free;
  r->free = b;
  --r->live;
  if (!r->in_avail) push_avail(s, r);
  // An empty run retires unless it is the class's last with room.
  if (r->live == 0 && (s->avail[r->kind] != r || r->next_avail)) {
    unlink_avail(s, r);
    retire_small_run(s, r);
  }
}

std::size_t usable_size(const void* p) noexcept { return p ? header_of(p)->block_size : 0; }

Share* share_of(const void* p) noexcept { return header_of(p)->share; }

std::size_t bytes_in_use(const Share* s) noexcept { return s->in_use; }

std::vector<Run> runs(const Share* s) {
  ScopedShare none(nullptr);
  std::vector<Run> out;
  out.reserve(s->run_count);
  for (const RunHeader* r = &s->run; r; r = r->next)
    out.push_back(Run{reinterpret_cast<std::uintptr_t>(r), r->mapped, r->used});
  return out;
}

// --- Restore: untrusted images, checked before anything is mapped ---

namespace {

// One image with what the checks learnt about it.
struct Checked {
  const RunImage* image;
  std::size_t index;  // in the caller's span
  RunHeader header;   // copied out of the bytes (they may be unaligned)
  bool visited = false;
};

[[noreturn]] void reject(std::size_t index, std::uintptr_t address, const std::string& problem) {
  throw ArenaError("arena::restore_share: run #" + std::to_string(index) + " at " + hex(address) + ": " + problem);
}

template <class T>
T load_at(std::span<const std::byte> bytes, std::size_t offset) {
  T v;
  std::memcpy(&v, bytes.data() + offset, sizeof v);
  return v;
}

// The image whose run starts exactly at address a, or null (sorted by address).
Checked* find_run(std::vector<Checked>& sorted, std::uintptr_t a) {
  auto it = std::lower_bound(sorted.begin(), sorted.end(), a,
                             [](const Checked& c, std::uintptr_t x) { return c.image->address < x; });
  return it != sorted.end() && it->image->address == a ? &*it : nullptr;
}

// Places: in the arena, granule-aligned, sizes sane, no overlap. Sorts `runs`.
void check_places(std::vector<Checked>& runs) {
  std::size_t g = granule();
  std::uintptr_t low = detail::arena_low.load(), high = low + detail::arena_span.load();
  for (const Checked& c : runs) {
    const RunImage& im = *c.image;
    std::size_t need = c.index == 0 ? sizeof(Share) : kHeaderSize;
    if (im.address % g != 0 || im.mapped % g != 0 || im.mapped == 0)
      reject(c.index, im.address, "address and size (" + std::to_string(im.mapped) +
                                      ") must be nonzero multiples of the run granule (" + bytes_text(g) + ")");
    if (im.address < low || im.address > high || im.mapped > high - im.address)
      reject(c.index, im.address, "outside the arena [" + hex(low) + ", " + hex(high) +
                                      ") (was the snapshot made with other arena options?)");
    if (im.bytes.size() > im.mapped)
      reject(c.index, im.address, "uses " + std::to_string(im.bytes.size()) + " bytes of a " +
                                      std::to_string(im.mapped) + "-byte run");
    if (im.bytes.size() < need) reject(c.index, im.address, "too short for its header");
  }
  std::sort(runs.begin(), runs.end(), [](const Checked& a, const Checked& b) { return a.image->address < b.image->address; });
  for (std::size_t i = 1; i < runs.size(); ++i) {
    const RunImage& a = *runs[i - 1].image;
    if (a.mapped > runs[i].image->address - a.address)
      reject(runs[i].index, runs[i].image->address, "overlaps run #" + std::to_string(runs[i - 1].index));
  }
}

// A small run's blocks and free list.
void check_small(const Checked& c) {
  const RunHeader& h = c.header;
  const RunImage& im = *c.image;
  std::size_t used = im.bytes.size();
  if (h.block_size != kClassSize[h.kind] || h.block_offset != kHeaderSize || used < kHeaderSize ||
      (used - kHeaderSize) % h.block_size != 0)
    reject(c.index, im.address, "a small-block run with an inconsistent size class or extent");
  std::size_t carved = (used - kHeaderSize) / h.block_size, free = 0;
  for (auto b = reinterpret_cast<std::uintptr_t>(h.free); b; ++free) {
    std::uintptr_t offset = b - im.address;
    if (b < im.address || offset < kHeaderSize || offset >= used || (offset - kHeaderSize) % h.block_size != 0 ||
        free >= carved)
      reject(c.index, im.address, "its free list is corrupt (a block outside the run, or a cycle)");
    b = load_at<std::uintptr_t>(im.bytes, offset);
  }
  if (free + h.live != carved) reject(c.index, im.address, "its block counts disagree");
}

// A large run: one block, maybe over-aligned with a back pointer.
void check_large(const Checked& c) {
  const RunHeader& h = c.header;
  const RunImage& im = *c.image;
  std::size_t g = granule(), off = h.block_offset;
  bool aligned = off >= g && (off & (off - 1)) == 0 && im.address % off == 0;
  if ((off < kHeaderSize || (off >= g && !aligned)) || h.block_size == 0 || h.block_size > im.mapped ||
      off > im.mapped - h.block_size || im.bytes.size() != off + h.block_size)
    reject(c.index, im.address, "a large-block run with an inconsistent block place or size");
  if (aligned && load_at<std::uintptr_t>(im.bytes, off - sizeof(std::uintptr_t)) != im.address)
    reject(c.index, im.address, "an over-aligned block without its run pointer");
}

// Every header, then the share's run list and avail lists against the images.
void check_headers(std::vector<Checked>& sorted, std::size_t count, const RunImage& home_image) {
  const std::uintptr_t home = home_image.address;
  std::size_t in_use = 0;
  for (Checked& c : sorted) {
    c.header = load_at<RunHeader>(c.image->bytes, 0);
    const RunHeader& h = c.header;
    const RunImage& im = *c.image;
    if (h.magic != kRunMagic) reject(c.index, im.address, "no run header (bad magic)");
    if (reinterpret_cast<std::uintptr_t>(h.share) != home)
      reject(c.index, im.address, "belongs to another share (" + hex(reinterpret_cast<std::uintptr_t>(h.share)) + ")");
    if (h.mapped != im.mapped || h.used != im.bytes.size())
      reject(c.index, im.address, "its header disagrees with the image's size");
    if ((c.index == 0) != (h.kind == kHomeKind)) reject(c.index, im.address, "the share header must be in run #0 only");
    if (h.kind == kLargeKind) {
      check_large(c);
      in_use += h.block_size;
    } else if (h.kind < kClasses) {
      check_small(c);
      in_use += std::size_t{h.live} * h.block_size;
    } else if (h.kind == kSpareKind) {
      if (im.bytes.size() != kHeaderSize) reject(c.index, im.address, "a spare run that holds bytes");
    } else if (h.kind != kHomeKind) {
      reject(c.index, im.address, "unknown run kind " + std::to_string(h.kind));
    }
  }
  auto s = load_at<Share>(home_image.bytes, 0);
  if (s.magic != kShareMagic || s.version != kShareVersion)
    reject(0, home, "no share header (bad magic or version)");
  if (s.run_count != count || s.in_use != in_use || s.run.prev)
    reject(0, home, "the share header's counts disagree with its runs");
  // The run list: every image exactly once, links consistent.
  std::uintptr_t prev = home;
  std::size_t seen = 1;
  for (auto a = reinterpret_cast<std::uintptr_t>(s.run.next); a; ++seen) {
    Checked* c = find_run(sorted, a);
    if (!c || c->visited || c->image->address == home || seen >= count ||
        reinterpret_cast<std::uintptr_t>(c->header.prev) != prev)
      reject(0, home, "the run list is corrupt at " + hex(a));
    c->visited = true;
    prev = a;
    a = reinterpret_cast<std::uintptr_t>(c->header.next);
  }
  if (seen != count) reject(0, home, "the run list holds " + std::to_string(seen) + " of " + std::to_string(count) + " runs");
  // The avail lists: runs of the class, marked, linked both ways.
  std::size_t on_avail = 0;
  for (std::size_t k = 0; k < kClasses; ++k) {
    std::uintptr_t p = 0;
    for (auto a = reinterpret_cast<std::uintptr_t>(s.avail[k]); a; ++on_avail) {
      Checked* c = find_run(sorted, a);
      if (!c || c->header.kind != k || !c->header.in_avail || on_avail >= count ||
          reinterpret_cast<std::uintptr_t>(c->header.prev_avail) != p || !has_room(&c->header))
        reject(0, home, "the free-run list of size class " + std::to_string(kClassSize[k]) + " is corrupt at " + hex(a));
      p = a;
      a = reinterpret_cast<std::uintptr_t>(c->header.next_avail);
    }
  }
  std::size_t marked = 0, spares = 0, listed = 0;
  for (const Checked& c : sorted) {
    marked += c.header.kind < kClasses && c.header.in_avail;
    spares += c.header.kind == kSpareKind;
  }
  if (marked != on_avail) reject(0, home, "runs marked as having room are missing from the free-run lists");
  // The spare runs: all of them, once each.
  for (auto a = reinterpret_cast<std::uintptr_t>(s.spare); a; ++listed) {
    Checked* c = find_run(sorted, a);
    if (!c || c->header.kind != kSpareKind || listed >= spares)
      reject(0, home, "the spare-run list is corrupt at " + hex(a));
    a = reinterpret_cast<std::uintptr_t>(c->header.next_avail);
  }
  if (listed != spares || s.spare_count != spares || spares > kMaxSpare)
    reject(0, home, "the spare-run list disagrees with the runs");
}

}  // namespace

Share* restore_share(std::span<const RunImage> images) {
  ScopedShare none(nullptr);
  if (images.empty()) throw ArenaError("arena::restore_share: no runs given");
  std::vector<Checked> sorted;
  sorted.reserve(images.size());
  for (std::size_t i = 0; i < images.size(); ++i) sorted.push_back(Checked{&images[i], i, {}});
  check_places(sorted);
  check_headers(sorted, images.size(), images[0]);

  std::size_t mapped = 0;
  for (; mapped < images.size(); ++mapped) {
    const RunImage& im = images[mapped];
    if (!map_fixed(im.address, im.mapped)) {
      int err = errno;
      for (std::size_t j = 0; j < mapped; ++j) munmap(reinterpret_cast<void*>(images[j].address), images[j].mapped);
      if (err == EEXIST)
        reject(mapped, im.address, "the address is already mapped in this process (another share lives there, "
                                   "or this snapshot was already restored into this process)");
      reject(mapped, im.address, std::string("mapping it failed: ") + std::strerror(err));
    }
  }
  for (const RunImage& im : images) std::memcpy(reinterpret_cast<void*>(im.address), im.bytes.data(), im.bytes.size());
  g_live_shares.fetch_add(1);
  return reinterpret_cast<Share*>(images[0].address);
}

}  // namespace stasis::arena
