// stasis/waiter.h — a tasklet's place in a channel's wait queue (Go's sudog).
//
// A blocked send/receive puts one Waiter into the channel's FIFO queue; a blocked
// select puts one per case. The waiter of a plain operation is embedded in the
// tasklet (no allocation per block); select waiters live in the Select object.
//
// Invariants: a Waiter is in at most one WaitQueue; `channel` is set exactly while
// it is queued; the queue's balance contribution is +1 for a sender and -1 for a
// receiver, maintained by ChannelBase.
#ifndef STASIS_WAITER_H_
#define STASIS_WAITER_H_

#include <any>
#include <cstdint>

namespace stasis {

class ChannelBase;
class Tasklet;
class SelectBase;
namespace detail {
// stasis::persist's access to runtime internals (freeze reads them, thaw rebuilds
// them). Defined in persist/; the runtime itself never uses it.
struct PersistAccess;
// The native-tasklet implementation's access to runtime internals (native.cc).
struct NativeAccess;
// stasis::net's access to runtime internals: a remote channel's proxy reads the
// value a blocked sender offers and a helper tasklet takes the value it received.
// Defined in net/src/net_access.h; the runtime itself never uses it.
struct NetAccess;
}  // namespace detail

struct Waiter {
  static constexpr std::uint32_t kSend = 1;         // a sender (else a receiver)
  static constexpr std::uint32_t kSelect = 2;       // part of a select (a SelectWaiter)
  static constexpr std::uint32_t kException = 4;    // the sender's payload is an exception
  static constexpr std::uint32_t kCaseShift = 8;    // select case index above this

  Waiter* prev = nullptr;
  Waiter* next = nullptr;
  ChannelBase* channel = nullptr;
  std::uint32_t bits = 0;

  bool sending() const noexcept { return bits & kSend; }
  bool in_select() const noexcept { return bits & kSelect; }
  unsigned case_index() const noexcept { return bits >> kCaseShift; }
};

// A waiter owned by a select case: knows its tasklet, its select and its payload.
struct SelectWaiter : Waiter {
  Tasklet* tasklet = nullptr;
  SelectBase* select = nullptr;
  std::any* payload = nullptr;  // value to send, or where a received value lands
};

// Intrusive FIFO of waiters.
class WaitQueue {
 public:
  bool empty() const noexcept { return head_ == nullptr; }
  Waiter* front() const noexcept { return head_; }
  std::size_t size() const noexcept {
    std::size_t n = 0;
    for (Waiter* w = head_; w; w = w->next) ++n;
    return n;
  }

  void push_back(Waiter* w) noexcept {
    w->next = nullptr;
    w->prev = tail_;
    if (tail_) tail_->next = w; else head_ = w;
    tail_ = w;
  }

  void remove(Waiter* w) noexcept {
    if (w->prev) w->prev->next = w->next; else head_ = w->next;
    if (w->next) w->next->prev = w->prev; else tail_ = w->prev;
    w->prev = w->next = nullptr;
  }

 private:
  Waiter* head_ = nullptr;
  Waiter* tail_ = nullptr;
};

}  // namespace stasis

#endif  // STASIS_WAITER_H_
