// persist/src/tasklet_ids.h — what the validator hands to thaw (internal to
// stasis::persist): the tasklet id -> list position map it built, and compact
// copies of the tasklet, frame and waiter records it read, so that thaw does not
// read the message a second time (every Cap'n Proto list and struct access costs
// bounds and traversal-limit checks).
#ifndef STASIS_PERSIST_SRC_TASKLET_IDS_H_
#define STASIS_PERSIST_SRC_TASKLET_IDS_H_

#include <algorithm>
#include <cstdlib>
#include <memory>
#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "bulk_memory.h"
#include "stasis/schema/snapshot.capnp.h"

namespace stasis::persist {

// Tasklet id -> list index, filled in one pass over the tasklets. Ids are usually
// dense (a scheduler numbers its tasklets from 1): then an array indexed by
// id - base replaces a hash map, which would allocate a node per tasklet (a
// million in a large snapshot). The array is a window of 2 * span + 1 entries
// centred on the first id, span = 2n + 1024 for n tasklets: ids whose spread is
// below span all fit in it. An id outside the window moves everything to the hash
// map. The window is zero-filled memory from bulk_zeroed (bulk_memory.h): mapped
// pages, of which only those its ids touch are used.
class TaskletIds {
 public:
  void init(std::size_t n) { span_ = 2 * static_cast<std::uint64_t>(n) + 1024; }
  // Records id -> i; if id is there already, returns false and its index in *previous.
  bool add(std::uint64_t id, std::uint32_t i, std::uint32_t* previous) {
    if (!dense_ && !sparse_mode_) open_window(id);
    if (dense_ && !(id >= base_ && id - base_ < window_)) to_sparse();
    if (!dense_) {
      auto [it, inserted] = sparse_.emplace(id, i);
      *previous = it->second;
      return inserted;
    }
    std::uint32_t& slot = dense_[id - base_];
    if (slot != 0) {
      *previous = slot - 1;
      return false;
    }
    slot = i + 1;
    return true;
  }
  bool find(std::uint64_t id, std::uint32_t* i) const {
    if (!dense_) {
      auto it = sparse_.find(id);
      if (it == sparse_.end()) return false;
      *i = it->second;
      return true;
    }
    if (id < base_ || id - base_ >= window_ || dense_[id - base_] == 0) return false;
    *i = dense_[id - base_] - 1;
    return true;
  }

 private:
  struct Free {
    Free() noexcept : bytes(0) {}
    explicit Free(std::size_t b) noexcept : bytes(b) {}
    std::size_t bytes;
    void operator()(std::uint32_t* p) const noexcept { detail::bulk_free_zeroed(p, bytes); }
  };

  void open_window(std::uint64_t first) {
    base_ = first >= span_ ? first - span_ : 0;
    window_ = std::min<std::uint64_t>(2 * span_ + 1, ~std::uint64_t{0} - base_);
    if (window_ > ~std::size_t{0} / sizeof(std::uint32_t)) {
      sparse_mode_ = true;
      return;
    }
    const std::size_t bytes = static_cast<std::size_t>(window_) * sizeof(std::uint32_t);
    dense_ = std::unique_ptr<std::uint32_t[], Free>(static_cast<std::uint32_t*>(detail::bulk_zeroed(bytes)), Free(bytes));
    if (!dense_) sparse_mode_ = true;  // no room for the window: the map it is
  }
  void to_sparse() {
    for (std::uint64_t k = 0; k < window_; ++k) {
      if (dense_[k] != 0) sparse_.emplace(base_ + k, dense_[k] - 1);
    }
    dense_.reset();
    sparse_mode_ = true;
  }

  std::uint64_t span_ = 1024;
  std::uint64_t base_ = 0;
  std::uint64_t window_ = 0;
  bool sparse_mode_ = false;
  std::unique_ptr<std::uint32_t[], Free> dense_;  // index + 1; 0 = no such id
  std::unordered_map<std::uint64_t, std::uint32_t> sparse_;
};

// One frame record, as validated.
struct ValidatedFrame {
  std::uint32_t type;           // in range of frameTypes
  std::uint32_t archive_bytes;
  std::uint16_t resume_point;
  bool catches_child;
};

// One tasklet record, as validated: 16 bytes (a million tasklets are common).
// Its frames follow those of the tasklets before it in Validated::frames.
struct ValidatedTasklet {
  static constexpr std::uint8_t kAtomic = 1, kBlockTrap = 2, kStarted = 4, kInterrupted = 8, kSleeps = 16,
                                kHasSlot = 32, kExtra = 64, kNative = 128;
  std::uint64_t id;
  std::uint32_t frame_count;
  schema::Tasklet::State state;
  std::int8_t priority;
  std::uint8_t bits;  // kExtra: it has a ValidatedExtra (a name, a sleep or a slot); kNative: no frames, a native record
};

// What few tasklets have: a name (pointing into the message), a sleep, a slot.
struct ValidatedExtra {
  std::uint32_t tasklet;     // position in the tasklet list
  std::uint32_t slot_type;   // kHasSlot: in range of valueTypes
  std::uint32_t slot_bytes;
  std::int64_t sleep_ns;     // kSleeps: the time left (>= 0)
  std::string_view name;
};


// The channel wait of one tasklet, as validated: which channel (an index in
// range) and which direction. Every tasklet with a channel wait is named exactly
// once among that channel's waiters, in the same direction.
struct ValidatedWait {
  enum Kind : std::uint8_t { kNoChannel, kSend, kReceive } kind = kNoChannel;
  std::uint32_t channel = ~std::uint32_t{0};
  std::uint64_t named_by = ~std::uint64_t{0};  // (channel << 32 | waiter) that named it (validator's use)
};

// The large arrays (one entry per tasklet, frame or waiter) are BulkVectors
// (bulk_memory.h).
struct Validated {
  TaskletIds ids;
  detail::BulkVector<ValidatedTasklet> tasklets;  // one per tasklet, in list order
  detail::BulkVector<ValidatedFrame> frames;      // every tasklet's, innermost first
  std::vector<ValidatedExtra> extras;      // in tasklet order
  // Channel waiters, channel by channel in queue order: tasklet position << 1 |
  // sending (4 bytes each: there may be a million). waiter_ends[c]: the end of
  // channel c's waiters.
  detail::BulkVector<std::uint32_t> waiters;
  std::vector<std::uint32_t> waiter_ends;
  // Per tasklet, in list order: its channel wait (kNoChannel for none).
  detail::BulkVector<ValidatedWait> waits;
  // Every channel lists its waiters in increasing tasklet position: then parking
  // the tasklets on their channels in list order (from `waits`) gives each
  // channel exactly the queue order of `waiters`.
  bool waiters_in_tasklet_order = true;
};

// validate_snapshot(snapshot, source_name), handing out what it read: after it
// returns, `out` describes every tasklet, frame and channel waiter of the snapshot.
void validate_snapshot(schema::Snapshot::Reader snapshot, std::string_view source_name, Validated& out);

}  // namespace stasis::persist

#endif  // STASIS_PERSIST_SRC_TASKLET_IDS_H_
