// channel.cc — the untyped half of channels: queueing, balance, hand-over and
// the preference rules (see channel.h for the invariants).
#include "stasis/channel.h"

#include <atomic>

#include "stasis/select.h"

namespace stasis {
namespace {
std::atomic<std::uint64_t> next_channel_id{1};
}  // namespace

void detail::reserve_channel_ids_through(std::uint64_t id) noexcept {
  std::uint64_t next = next_channel_id.load(std::memory_order_relaxed);
  while (next <= id && !next_channel_id.compare_exchange_weak(next, id + 1, std::memory_order_relaxed)) {
  }
}

ChannelBase::ChannelBase(ChannelOptions options)
    : capacity_(options.capacity),
      id_(next_channel_id.fetch_add(1, std::memory_order_relaxed)),
      name_(std::move(options.name)),
      preference_(options.preference < 0 ? -1 : (options.preference > 0 ? 1 : 0)),
      schedule_all_(options.schedule_all) {
  next_on_thread_ = detail::tls_channels;
  if (next_on_thread_) next_on_thread_->prev_on_thread_ = this;
  detail::tls_channels = this;
}

ChannelBase::~ChannelBase() {
  if (detail::tls_on_channel_destroyed) detail::tls_on_channel_destroyed(this);
  if (prev_on_thread_) prev_on_thread_->next_on_thread_ = next_on_thread_; else detail::tls_channels = next_on_thread_;
  if (next_on_thread_) next_on_thread_->prev_on_thread_ = prev_on_thread_;
  Scheduler* s = Scheduler::current_or_null();
  while (Waiter* w = waiters_.front()) {
    Tasklet* t = tasklet_of(w);
    if (w->in_select()) {
      static_cast<SelectWaiter*>(w)->select->cancel();
    } else {
      unpark(w);
    }
    if (s && t->state_ == TaskletState::kBlocked) {
      t->select_ = nullptr;
      s->unblock(t);
      t->exc_ = std::make_exception_ptr(
          ChannelDestroyed(label() + " was destroyed while " + t->label() + " waited on it"));
      s->make_runnable(t, false);
    }
  }
}

std::string ChannelBase::label() const {
  std::string l = "channel #" + std::to_string(id_);
  if (!name_.empty()) l += " '" + name_ + "'";
  return l;
}

std::vector<Tasklet*> ChannelBase::waiting() const {
  std::vector<Tasklet*> out;
  for (Waiter* w = waiters_.front(); w; w = w->next) out.push_back(tasklet_of(w));
  return out;
}

std::vector<Tasklet*> ChannelBase::plain_waiters() const {
  std::vector<Tasklet*> out;
  for (Waiter* w = waiters_.front(); w; w = w->next) {
    if (!w->in_select()) out.push_back(tasklet_of(w));
  }
  return out;
}

Tasklet* ChannelBase::queue_head() const noexcept {
  Waiter* w = waiters_.front();
  return w ? tasklet_of(w) : nullptr;
}

void ChannelBase::park(Waiter* w, bool sending) noexcept {
  w->bits = (w->bits & ~(Waiter::kSend | Waiter::kException)) | (sending ? Waiter::kSend : 0);
  w->channel = this;
  waiters_.push_back(w);
  balance_ += sending ? 1 : -1;
  if (relay_ && detail::tls_on_relay_changed) [[unlikely]] detail::tls_on_relay_changed(this);
}

void ChannelBase::unpark(Waiter* w) noexcept {
  waiters_.remove(w);
  balance_ -= w->sending() ? 1 : -1;
  w->channel = nullptr;
}

void ChannelBase::close() {
  closing_ = true;
  if (relay_ && detail::tls_on_relay_changed) detail::tls_on_relay_changed(this);
  // Go semantics for select: a select waiting to receive here wakes as "closed".
  // Plain receivers stay queued (Stackless semantics).
  if (balance_ >= 0) return;
  std::vector<Waiter*> selects;
  for (Waiter* w = waiters_.front(); w; w = w->next) {
    if (w->in_select()) selects.push_back(w);
  }
  Scheduler* s = Scheduler::current_or_null();
  for (Waiter* w : selects) {
    if (!w->channel) continue;  // a sibling case on this channel already fired its select
    Tasklet* t = tasklet_of(w);
    static_cast<SelectWaiter*>(w)->select->fired(w, /*channel_closed=*/true);
    if (s) {
      s->unblock(t);
      s->make_runnable(t, false);
    }
  }
}

void ChannelBase::throw_closed(const char* op) const {
  throw ChannelClosed(std::string(op) + " on " + label() +
                      (closed() ? ", which is closed" : ", which is closing and has no partner waiting") +
                      "; call open() to reuse it");
}

Tasklet* ChannelBase::check_blocking_actor(Tasklet* actor, bool may_block, const char* op) const {
  if (actor && !may_block) {
    throw CannotBlock(actor->label() + ": " + op + " on " + label() +
                      " would block, but it was a plain call; soft frames block with the STASIS_* macros "
                      "(or use the try_ variants)");
  }
  Scheduler* s = Scheduler::current_or_null();
  if (!s || !actor) {
    throw CannotBlock(std::string(op) + " on " + label() +
                      " would block, but the caller is not a tasklet; block only inside tasklets "
                      "(spawn one), or use the try_ variants");
  }
  // The label is built only on the error path (blocking_actor throws).
  Tasklet* running = s->current_tasklet();
  if (running && !running->block_trap()) return running;
  return s->blocking_actor(op, label());
}

OpResult ChannelBase::block(Tasklet* actor, bool sending, bool carries_exception) {
  // The embedded waiter's bits may still hold the sequence number of a past sleep
  // or park (any bit pattern, kSelect included): start from none.
  actor->waiter_.bits = 0;
  park(&actor->waiter_, sending);
  if (carries_exception) actor->waiter_.bits |= Waiter::kException;
  Scheduler::current().block_current(sending ? WaitKind::kSend : WaitKind::kReceive);
  return OpResult::kBlocked;
}

OpResult ChannelBase::hand_over(Tasklet* actor, Waiter* partner, int dir, bool actor_continues) {
  Tasklet* p = tasklet_of(partner);
  Scheduler& s = Scheduler::current();
  if (partner->in_select()) {
    static_cast<SelectWaiter*>(partner)->select->fired(partner, false);
  } else {
    unpark(partner);
  }
  s.unblock(p);
  if (!actor || actor_continues) {
    s.make_runnable(p, false);
    return OpResult::kDone;
  }
  if (schedule_all_) {
    s.make_runnable(p, false);
    s.make_runnable(actor, false);
    return OpResult::kSwitch;
  }
  if (preference_ == -dir) {
    s.make_runnable(p, true);
    s.make_runnable(actor, false);
    return OpResult::kSwitch;
  }
  s.make_runnable(p, false);
  return OpResult::kDone;
}

OpResult ChannelBase::send_exception_op(Tasklet* actor, std::exception_ptr e, bool may_block) {
  if (balance_ < 0 && !relay_) {
    Waiter* w = waiters_.front();
    tasklet_of(w)->exc_ = std::move(e);
    payload_of(w)->reset();
    return hand_over(actor, w, kSendDir, !may_block);
  }
  if (closing_) throw_closed("send_exception");
  Tasklet* self = actor_for_blocking(actor, may_block, "send_exception");
  self->slot_ = std::move(e);
  return block(self, true, true);
}

OpResult ChannelBase::take_exception_from(Tasklet* actor, Waiter* sender) {
  std::any* payload = payload_of(sender);
  std::exception_ptr e = std::any_cast<std::exception_ptr>(*payload);
  payload->reset();
  hand_over(actor, sender, kReceiveDir, /*actor_continues=*/true);
  std::rethrow_exception(e);
}

}  // namespace stasis
