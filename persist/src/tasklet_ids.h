// persist/src/tasklet_ids.h — what the validator hands to thaw (internal to
// stasis::persist): the tasklet id -> list position map it built, and compact
// copies of the tasklet, frame and waiter records it read, so that thaw does not
// read the message a second time (every Cap'n Proto list and struct access costs
// bounds and traversal-limit checks).
#ifndef STASIS_PERSIST_SRC_TASKLET_IDS_H_
#define STASIS_PERSIST_SRC_TASKLET_IDS_H_

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "stasis/schema/snapshot.capnp.h"

namespace stasis::persist {

// Tasklet id -> list index. Ids are usually dense (a scheduler numbers its
// tasklets from 1): then a vector indexed by id - min replaces a hash map, which
// would allocate a node per tasklet (a million in a large snapshot).
class TaskletIds {
 public:
  void init(schema::Snapshot::Reader s) {
    auto tasklets = s.getTasklets();
    const std::size_t n = tasklets.size();
    std::uint64_t lo = ~std::uint64_t{0}, hi = 0;
    for (std::uint32_t i = 0; i < n; ++i) {
      lo = std::min(lo, tasklets[i].getId());
      hi = std::max(hi, tasklets[i].getId());
    }
    if (n > 0 && hi - lo < 2 * n + 1024) {
      min_ = lo;
      dense_.assign(hi - lo + 1, 0);
    } else {
      sparse_.reserve(n);
    }
  }
  // Records id -> i; if id is there already, returns false and its index in *previous.
  bool add(std::uint64_t id, std::uint32_t i, std::uint32_t* previous) {
    if (dense_.empty()) {
      auto [it, inserted] = sparse_.emplace(id, i);
      *previous = it->second;
      return inserted;
    }
    std::uint32_t& slot = dense_[id - min_];  // init() saw every id: in range
    if (slot != 0) {
      *previous = slot - 1;
      return false;
    }
    slot = i + 1;
    return true;
  }
  bool find(std::uint64_t id, std::uint32_t* i) const {
    if (dense_.empty()) {
      auto it = sparse_.find(id);
      if (it == sparse_.end()) return false;
      *i = it->second;
      return true;
    }
    if (id < min_ || id - min_ >= dense_.size() || dense_[id - min_] == 0) return false;
    *i = dense_[id - min_] - 1;
    return true;
  }

 private:
  std::uint64_t min_ = 0;
  std::vector<std::uint32_t> dense_;  // index + 1; 0 = no such id
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
                                kHasSlot = 32, kExtra = 64;
  std::uint64_t id;
  std::uint32_t frame_count;
  schema::Tasklet::State state;
  std::int8_t priority;
  std::uint8_t bits;  // kExtra: it has a ValidatedExtra (a name, a sleep or a slot)
};

// What few tasklets have: a name (pointing into the message), a sleep, a slot.
struct ValidatedExtra {
  std::uint32_t tasklet;     // position in the tasklet list
  std::uint32_t slot_type;   // kHasSlot: in range of valueTypes
  std::uint32_t slot_bytes;
  std::int64_t sleep_ns;     // kSleeps: the time left (>= 0)
  std::string_view name;
};

// One channel waiter, in channel order then queue order.
struct ValidatedWaiter {
  std::uint32_t channel;
  std::uint32_t index;    // in the channel's queue
  std::uint32_t tasklet;  // position in the snapshot's tasklet list
  bool sending;
};

struct Validated {
  TaskletIds ids;
  std::vector<ValidatedTasklet> tasklets;  // one per tasklet, in list order
  std::vector<ValidatedFrame> frames;      // every tasklet's, innermost first
  std::vector<ValidatedExtra> extras;      // in tasklet order
  std::vector<ValidatedWaiter> waiters;
};

// validate_snapshot(snapshot, source_name), handing out what it read: after it
// returns, `out` describes every tasklet, frame and channel waiter of the snapshot.
void validate_snapshot(schema::Snapshot::Reader snapshot, std::string_view source_name, Validated& out);

}  // namespace stasis::persist

#endif  // STASIS_PERSIST_SRC_TASKLET_IDS_H_
