// stasis/select.h — waiting on several channels at once (Limbo alt, Go select).
//
// A Select is a list of send and receive cases plus an optional default. select_op
// (STASIS_SELECT in soft frames) polls the cases in a random order drawn from the
// scheduler's seeded generator, so the choice among ready cases is fair and
// reproducible; if none is ready it takes the default, or parks the tasklet on
// every case's channel until one completes.
//
// Closed channels behave as in Go: a receive case on a closed channel (closing, no
// sender, empty buffer) is ready and reports closed(); close() also wakes a select
// blocked on it. A send case on a closing channel with no receiver raises
// ChannelClosed when chosen.
//
// Invariants: while the tasklet is parked, every case's waiter is queued on its
// channel and the Select must not be modified or destroyed (it is a frame field);
// when one case fires, all sibling waiters are dequeued before the tasklet runs.
// A channel may not appear in both a send and a receive case of one Select.
// A send case sends its value once: a Select whose send case fired raises
// TaskletStateError if run again, until clear() and the cases are added anew.
// Receive cases may be selected again and again (a Select field in a loop).
#ifndef STASIS_SELECT_H_
#define STASIS_SELECT_H_

#include <any>
#include <cstdint>
#include <string>
#include <vector>

#include "stasis/channel.h"

namespace stasis {

class SelectBase {
 public:
  static constexpr int kDefault = -1;
  static constexpr int kNone = -2;

  SelectBase() = default;
  SelectBase(const SelectBase&);
  SelectBase& operator=(const SelectBase&);
  ~SelectBase();

  std::size_t size() const noexcept { return cases_.size(); }
  bool has_default() const noexcept { return has_default_; }

  // Index of the case that completed, kDefault, or kNone before any select.
  int chosen() const noexcept { return chosen_; }
  // The chosen receive case found its channel closed (no value).
  bool closed() const noexcept { return closed_; }

  // The value the chosen receive case got. TypeMismatch for the wrong type,
  // TaskletStateError if the chosen case received nothing.
  template <class T>
  T& value() {
    return *std::any_cast<T>(checked_value(typeid(T)));
  }

  // Runs the select for `actor` (null outside tasklets, where it must not block).
  OpResult select_op(Tasklet* actor);
  // Non-blocking select usable anywhere: returns the chosen index or kDefault.
  int try_select();
  // The blocking select of native tasklets (stasis/native.h): waits until a case
  // completes, or takes the default; returns the chosen index (or kDefault).
  // Raises like the channel operations; CannotBlock outside native tasklets.
  int wait();

  // Called by a channel when one of this select's waiters is taken.
  void fired(Waiter* w, bool channel_closed) noexcept;
  // Dequeues every waiter (kill, throw, channel destruction).
  void cancel() noexcept;
  // Commits to w's case before it completes (a relay channel's network layer,
  // stasis/net, once the remote side is ready): dequeues every sibling waiter and
  // leaves w queued and the tasklet waiting in this select, so no other case can
  // fire; whoever takes w later completes the select as usual (fired).
  void choose(Waiter* w) noexcept;

  friend std::string describe_select(const SelectBase* s);

 protected:
  struct Case {
    ChannelBase* channel;
    bool send;
    std::any value;  // to send, or received
    SelectWaiter waiter;
  };
  void add_case(ChannelBase* ch, bool send, std::any value);

  std::vector<Case> cases_;
  bool has_default_ = false;
  int chosen_ = kNone;
  bool closed_ = false;
  Tasklet* parked_ = nullptr;

 private:
  std::any* checked_value(const std::type_info& want);
  OpResult run_select(Tasklet* actor, bool may_block);
};

// "channel #1 'a' (receive), channel #2 (send)" for diagnostics.
std::string describe_select(const SelectBase* s);

// The user-facing builder:  sel = Select().receive(a).send(b, 42).otherwise();
class Select : public SelectBase {
 public:
  template <class T>
  Select& receive(Channel<T>& ch) {
    add_case(&ch, false, std::any());
    return *this;
  }
  template <class T, class U>
  Select& send(Channel<T>& ch, U&& value) {
    add_case(&ch, true, std::any(T(std::forward<U>(value))));
    return *this;
  }
  // Adds the default case: select_op never blocks.
  Select& otherwise() {
    has_default_ = true;
    return *this;
  }
  // Removes every case (not while parked).
  void clear();
};

}  // namespace stasis

#endif  // STASIS_SELECT_H_
