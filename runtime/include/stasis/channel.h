// stasis/channel.h — synchronous channels with Stackless Python's semantics.
//
// A channel is a rendezvous: send blocks until a receiver takes the value (or,
// with a capacity, until there is buffer space). Waiting tasklets queue FIFO.
//
// Invariants (the Go chan.go kind):
//   - the wait queue holds only senders or only receivers, never both:
//     balance > 0 is the number of blocked senders, balance < 0 minus the number of
//     blocked receivers;
//   - a buffered channel has waiting senders only when its buffer is full or a
//     send_exception waits (exceptions are never buffered: they wait as senders,
//     and later sends queue behind them to keep send order), and waiting
//     receivers only when its buffer is empty;
//   - closing: close() was called; closed: closing, balance == 0 and buffer empty.
//     close() wakes nobody (Stackless): waiters remain and drain, an operation that
//     finds a partner still succeeds, one that would block raises ChannelClosed.
//     Select receive cases are the exception: like Go, close() wakes them.
//
// Who runs after a send/receive that finds a waiting partner (Stackless):
//   - schedule_all: both go to the back of their priority levels, the next
//     runnable tasklet runs;
//   - preference == -dir (the partner is preferred; dir = +1 send, -1 receive):
//     the partner runs next (front of its level), the actor goes to the back;
//   - otherwise the actor continues and the partner goes to the back.
// With the default preference -1 a send switches to the receiver at once, and a
// receive keeps running while the woken sender waits its turn.
#ifndef STASIS_CHANNEL_H_
#define STASIS_CHANNEL_H_

#include <any>
#include <cstdint>
#include <deque>
#include <exception>
#include <optional>
#include <string>
#include <typeinfo>
#include <utility>
#include <vector>

#include "stasis/scheduler.h"
#include "stasis/waiter.h"

namespace stasis {

enum class OpResult : std::uint8_t {
  kDone,     // completed; the actor continues
  kSwitch,   // completed; the actor was requeued and another tasklet runs first
  kBlocked,  // the actor is parked on the channel
};

struct ChannelOptions {
  std::string name;
  std::size_t capacity = 0;  // 0: synchronous rendezvous
  int preference = -1;       // -1 prefer receiver, +1 prefer sender, 0 neither
  bool schedule_all = false;
};

class ChannelBase;
namespace detail {
// Makes every channel created from now on get an id above `id` (restored
// channels keep their snapshot ids).
void reserve_channel_ids_through(std::uint64_t id) noexcept;
// The channels alive on the calling thread, newest first (for reports and teardown).
inline thread_local ChannelBase* tls_channels = nullptr;
// Called by ~ChannelBase with the dying channel when set: the thread's node host
// (stasis/net) forgets a channel it exported to other nodes.
inline thread_local void (*tls_on_channel_destroyed)(ChannelBase*) = nullptr;
// Called when a relay channel gets a waiter or is closed, when set: the node
// host serves only the proxies that changed.
inline thread_local void (*tls_on_relay_changed)(ChannelBase*) noexcept = nullptr;
}  // namespace detail

// Channels belong to the thread that created them: create, use and destroy a
// channel on one thread.
class ChannelBase {
 public:
  ChannelBase(const ChannelBase&) = delete;
  ChannelBase& operator=(const ChannelBase&) = delete;
  // Wakes every waiter with ChannelDestroyed.
  virtual ~ChannelBase();

  std::uint64_t id() const noexcept { return id_; }
  const std::string& name() const noexcept { return name_; }
  // "channel #3 'jobs'" — how errors name this channel.
  std::string label() const;

  // Blocked senders (> 0) or minus blocked receivers (< 0).
  long balance() const noexcept { return balance_; }
  int preference() const noexcept { return preference_; }
  // Clamped to -1, 0, +1.
  void set_preference(int p) noexcept { preference_ = p < 0 ? -1 : (p > 0 ? 1 : 0); }
  bool schedule_all() const noexcept { return schedule_all_; }
  void set_schedule_all(bool v) noexcept { schedule_all_ = v; }

  // A relay channel (a remote channel's proxy, stasis/net) never completes an
  // operation locally: every send and receive waits, and the network layer
  // carries it out at the channel's home node. Its queue may then hold senders
  // and receivers at once; balance() still counts them (senders - receivers).
  void set_relay(bool relay) noexcept { relay_ = relay; }
  bool relay() const noexcept { return relay_; }

  // Stops the channel from growing: see the invariants above.
  void close();
  // Clears closing.
  void open() noexcept { closing_ = false; }
  bool closing() const noexcept { return closing_; }
  bool closed() const noexcept { return closing_ && balance_ == 0 && buffered() == 0; }

  std::size_t capacity() const noexcept { return capacity_; }
  virtual std::size_t buffered() const noexcept = 0;
  // The element type T of the Channel<T> this is.
  virtual const std::type_info& value_type() const noexcept = 0;

  // The tasklets waiting on the channel, FIFO order (Stackless' channel.queue).
  std::vector<Tasklet*> waiting() const;
  Tasklet* queue_head() const noexcept;

  // --- Type-erased operations used by Select. ---
  bool can_send_now() const noexcept {
    return !relay_ && (balance_ < 0 || (!closing_ && balance_ == 0 && buffered() < capacity_));
  }
  bool can_receive_now() const noexcept { return !relay_ && (balance_ > 0 || buffered() > 0); }
  bool receive_would_see_closed() const noexcept { return closing_ && !can_receive_now(); }
  virtual OpResult send_any(Tasklet* actor, std::any& value, bool may_block) = 0;
  virtual OpResult receive_any(Tasklet* actor, std::any& dest, bool may_block) = 0;
  // Sends an exception the receiver raises (STASIS_SEND_EXCEPTION; the same for
  // every element type): hands it to a waiting receiver or waits as a sender.
  OpResult send_exception_op(Tasklet* actor, std::exception_ptr e, bool may_block = true);
  void park(Waiter* w, bool sending) noexcept;
  void unpark(Waiter* w) noexcept;

  // The calling thread's channels, for reports and scheduler teardown.
  static ChannelBase* first_on_thread() noexcept { return detail::tls_channels; }
  ChannelBase* next_on_thread() const noexcept { return next_on_thread_; }
  // The tasklets blocked in a plain send/receive here (not in a select), FIFO.
  std::vector<Tasklet*> plain_waiters() const;

 protected:
  explicit ChannelBase(ChannelOptions options);

  static constexpr int kSendDir = 1;
  static constexpr int kReceiveDir = -1;

  static Tasklet* tasklet_of(Waiter* w) noexcept {
    return w->in_select() ? static_cast<SelectWaiter*>(w)->tasklet : Tasklet::from_waiter(w);
  }
  static std::any* payload_of(Waiter* w) noexcept {
    return w->in_select() ? static_cast<SelectWaiter*>(w)->payload : &Tasklet::from_waiter(w)->slot_;
  }
  // Completes a rendezvous with the first waiter `partner` (its payload already
  // exchanged): dequeues it, wakes its tasklet (finishing its select) and applies
  // preference/schedule_all for `actor` (null outside tasklets). With
  // actor_continues the actor keeps running whatever the preference.
  OpResult hand_over(Tasklet* actor, Waiter* partner, int dir, bool actor_continues = false);
  // Parks the running tasklet `actor` with its embedded waiter.
  OpResult block(Tasklet* actor, bool sending, bool carries_exception);
  [[noreturn]] void throw_closed(const char* op) const;
  // Raises in `actor` (or the caller) the exception a waiting sender sent.
  OpResult take_exception_from(Tasklet* actor, Waiter* sender);
  // Checks that `actor` may block here (it exists, blocking is allowed for this
  // kind of call, its block_trap is off); returns it. Throws CannotBlock/BlockTrap.
  Tasklet* actor_for_blocking(Tasklet* actor, bool may_block, const char* op) const {
    // Fast path, taken by every block through the STASIS_* macros: the actor is the
    // running tasklet (the only kRunning one of this thread) and may block.
    if (actor && may_block && actor->state_ == TaskletState::kRunning && !actor->block_trap()) [[likely]] {
      return actor;
    }
    return check_blocking_actor(actor, may_block, op);
  }
  // The general case of actor_for_blocking, with the error messages.
  Tasklet* check_blocking_actor(Tasklet* actor, bool may_block, const char* op) const;

  friend struct detail::PersistAccess;
  friend struct detail::NetAccess;

  WaitQueue waiters_;
  ChannelBase* prev_on_thread_ = nullptr;
  ChannelBase* next_on_thread_ = nullptr;
  long balance_ = 0;
  std::size_t capacity_;
  std::uint64_t id_;
  std::string name_;
  std::int8_t preference_;
  bool schedule_all_;
  bool closing_ = false;
  bool relay_ = false;
};

template <class T>
class Channel : public ChannelBase {
 public:
  explicit Channel(ChannelOptions options = {}) : ChannelBase(std::move(options)) {}
  ~Channel() override = default;

  std::size_t buffered() const noexcept override { return buffer_.size(); }
  const std::type_info& value_type() const noexcept override { return typeid(T); }

  // Plain calls. Inside a native tasklet (stasis/native.h) they block like the
  // soft-frame macros: the tasklet waits for a partner and may raise what the
  // partner sends (send_exception), ChannelClosed, ChannelDestroyed, or a throw
  // or kill aimed at it. Elsewhere they are usable where the operation does not
  // have to block (outside tasklets, inside soft frames), and one that would block
  // raises CannotBlock: soft frames block through STASIS_SEND / STASIS_RECEIVE.
  // Outside native tasklets a plain call never switches away: a woken partner
  // waits at the back of its level.
  void send(T value) {
    Tasklet* a = current_actor();
    if (a && a->native()) [[unlikely]] {
      if (send_op(a, std::move(value), true) != OpResult::kDone) detail::native_suspend(*a);
      return;
    }
    send_op(a, std::move(value), /*may_block=*/false);
  }
  T receive() {
    T v{};
    receive_into(v, nullptr);
    return v;
  }
  // Iteration until closed: false (dest untouched) once the channel is closing
  // and no sender waits; ChannelClosed never.
  bool receive(T& dest) {
    bool ok = true;
    receive_into(dest, &ok);
    return ok;
  }
  void send_exception(std::exception_ptr e) {
    Tasklet* a = current_actor();
    if (a && a->native()) [[unlikely]] {
      if (send_exception_op(a, std::move(e), true) != OpResult::kDone) detail::native_suspend(*a);
      return;
    }
    send_exception_op(a, std::move(e), false);
  }
  // Non-blocking variants: false / nullopt instead of blocking or raising
  // ChannelClosed.
  bool try_send(T value) {
    if (!can_send_now()) return false;
    send_op(current_actor(), std::move(value), false);
    return true;
  }
  std::optional<T> try_receive() {
    if (!can_receive_now()) return std::nullopt;
    T v{};
    receive_op(current_actor(), v, nullptr, false);
    return v;
  }
  // Values waiting in the buffer, oldest first.
  const std::deque<T>& buffer() const noexcept { return buffer_; }

  // --- Operations behind the soft-frame macros. ---
  template <class U>
  OpResult send_op(Tasklet* actor, U&& value, bool may_block = true) {
    if (relay_) [[unlikely]] {  // never pairs here: the network layer serves the waiter
      if (closing_) throw_closed("send");
      Tasklet* self = actor_for_blocking(actor, may_block, "send");
      stash(self, std::forward<U>(value));
      return block(self, true, false);
    }
    if (balance_ < 0) {
      Waiter* w = waiters_.front();
      payload_of(w)->template emplace<T>(std::forward<U>(value));
      return hand_over(actor, w, kSendDir, !may_block);
    }
    if (closing_) throw_closed("send");
    // No buffering past waiting senders (a send_exception may wait with room left).
    if (capacity_ > 0 && balance_ == 0 && buffer_.size() < capacity_) {  // capacity_ first: deque::size() is not free
      buffer_.push_back(T(std::forward<U>(value)));
      return OpResult::kDone;
    }
    Tasklet* self = actor_for_blocking(actor, may_block, "send");
    stash(self, std::forward<U>(value));
    return block(self, true, false);
  }

  // ok: null to raise ChannelClosed on a closed channel; else set to false there
  // (iteration end: closing and no sender waiting) and true otherwise.
  OpResult receive_op(Tasklet* actor, T& dest, bool* ok, bool may_block = true) {
    if (ok) *ok = true;
    if (relay_) [[unlikely]] {
      if (closing_) {
        if (ok) {
          *ok = false;
          return OpResult::kDone;
        }
        throw_closed("receive");
      }
      return block(actor_for_blocking(actor, may_block, "receive"), false, false);
    }
    if (!buffer_.empty()) {
      dest = std::move(buffer_.front());
      buffer_.pop_front();
      // Refill from the first waiting sender, unless it sends an exception: that
      // one is raised in the receive that finds the buffer empty.
      if (balance_ > 0 && !(waiters_.front()->bits & Waiter::kException)) {
        Waiter* w = waiters_.front();
        std::any* p = payload_of(w);
        buffer_.push_back(std::move(*std::any_cast<T>(p)));
        p->reset();
        return hand_over(actor, w, kReceiveDir, !may_block);
      }
      return OpResult::kDone;
    }
    if (balance_ > 0) {
      Waiter* w = waiters_.front();
      if (w->bits & Waiter::kException) return take_exception_from(actor, w);
      std::any* p = payload_of(w);
      dest = std::move(*std::any_cast<T>(p));
      p->reset();
      return hand_over(actor, w, kReceiveDir, !may_block);
    }
    if (closing_) {
      if (ok) {
        *ok = false;
        return OpResult::kDone;
      }
      throw_closed("receive");
    }
    return block(actor_for_blocking(actor, may_block, "receive"), false, false);
  }

  OpResult send_any(Tasklet* actor, std::any& value, bool may_block) override {
    OpResult r = send_op(actor, std::move(*std::any_cast<T>(&value)), may_block);
    value.reset();  // delivered (or handed to the buffer): a send case sends once
    return r;
  }
  OpResult receive_any(Tasklet* actor, std::any& dest, bool may_block) override {
    T v{};
    OpResult r = receive_op(actor, v, nullptr, may_block);
    dest.emplace<T>(std::move(v));
    return r;
  }

 private:
  static Tasklet* current_actor() noexcept {
    Scheduler* s = Scheduler::current_or_null();
    return s ? s->current_tasklet() : nullptr;
  }
  void receive_into(T& dest, bool* ok) {
    Tasklet* a = current_actor();
    if (a && a->native()) [[unlikely]] {
      OpResult r = receive_op(a, dest, ok, true);
      if (r == OpResult::kDone) return;
      detail::native_suspend(*a);
      if (r == OpResult::kBlocked) {  // a sender handed the value to this tasklet's slot
        dest = std::move(*std::any_cast<T>(&a->slot_));
        a->slot_.reset();
      }
      return;
    }
    receive_op(a, dest, ok, false);
  }
  template <class U>
  static void stash(Tasklet* self, U&& value) {
    self->slot_.template emplace<T>(std::forward<U>(value));
  }

  friend struct detail::PersistAccess;

  std::deque<T> buffer_;
};

}  // namespace stasis

#endif  // STASIS_CHANNEL_H_
