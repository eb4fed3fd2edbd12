// select.cc — polling, parking and firing of multi-channel waits (see select.h).
#include "stasis/select.h"

#include <memory>
#include <numeric>

namespace stasis {

SelectBase::SelectBase(const SelectBase& o) : has_default_(o.has_default_), chosen_(o.chosen_), closed_(o.closed_) {
  for (const Case& c : o.cases_) cases_.push_back(Case{c.channel, c.send, c.value, SelectWaiter{}});
}

SelectBase& SelectBase::operator=(const SelectBase& o) {
  if (this == &o) return *this;
  if (parked_) throw TaskletStateError("a select cannot be reassigned while a tasklet waits in it");
  cases_.clear();
  for (const Case& c : o.cases_) cases_.push_back(Case{c.channel, c.send, c.value, SelectWaiter{}});
  has_default_ = o.has_default_;
  chosen_ = o.chosen_;
  closed_ = o.closed_;
  return *this;
}

SelectBase::~SelectBase() { cancel(); }

void SelectBase::add_case(ChannelBase* ch, bool send, std::any value) {
  if (parked_) throw TaskletStateError("cases cannot be added while a tasklet waits in the select");
  for (const Case& c : cases_) {
    if (c.channel == ch && c.send != send) {
      throw InvalidArgument("select: " + ch->label() +
                            " appears in both a send and a receive case; use two selects or two channels");
    }
  }
  cases_.push_back(Case{ch, send, std::move(value), SelectWaiter{}});
}

void Select::clear() {
  if (parked_) throw TaskletStateError("a select cannot be cleared while a tasklet waits in it");
  cases_.clear();
  has_default_ = false;
  chosen_ = kNone;
  closed_ = false;
}

std::string describe_select(const SelectBase* s) {
  if (!s) return "no select";
  std::string d;
  for (const auto& c : s->cases_) {
    if (!d.empty()) d += ", ";
    d += (c.send ? "send on " : "receive on ") + c.channel->label();
  }
  return d.empty() ? "no cases" : d;
}

OpResult SelectBase::select_op(Tasklet* actor) { return run_select(actor, true); }

int SelectBase::try_select() {
  Scheduler* s = Scheduler::current_or_null();
  Tasklet* actor = s ? s->current_tasklet() : nullptr;
  bool had_default = has_default_;
  has_default_ = true;
  try {
    run_select(actor, false);
  } catch (...) {
    has_default_ = had_default;
    throw;
  }
  has_default_ = had_default;
  return chosen_;
}

int SelectBase::wait() {
  Scheduler* s = Scheduler::current_or_null();
  Tasklet* self = s ? s->current_tasklet() : nullptr;
  if (!self || !self->native()) {
    throw CannotBlock("Select::wait() over " + describe_select(this) +
                      " needs a native tasklet; soft frames use STASIS_SELECT, other code try_select()");
  }
  // Parked waiters point at their select, and a native tasklet's select may live
  // on a sliced stack that is elsewhere while it waits: park a heap twin holding
  // the same cases (the vector's elements do not move), and take them back after.
  auto twin = std::make_unique<SelectBase>();
  twin->cases_ = std::move(cases_);
  twin->has_default_ = has_default_;
  struct TakeBack {
    SelectBase& self;
    SelectBase& twin;
    ~TakeBack() {
      self.cases_ = std::move(twin.cases_);
      self.chosen_ = twin.chosen_;
      self.closed_ = twin.closed_;
    }
  } take_back{*this, *twin};
  if (twin->run_select(self, true) != OpResult::kDone) detail::native_suspend(*self);
  return twin->chosen_;
}

OpResult SelectBase::run_select(Tasklet* actor, bool may_block) {
  if (parked_) throw TaskletStateError("this select already has a tasklet waiting in it");
  for (std::size_t i = 0; i < cases_.size(); ++i) {
    if (cases_[i].send && !cases_[i].value.has_value()) {
      throw TaskletStateError("select: send case " + std::to_string(i) + " on " + cases_[i].channel->label() +
                              " already sent its value; clear() the select and add the case again to send another");
    }
  }
  chosen_ = kNone;
  closed_ = false;
  const std::size_t n = cases_.size();
  if (n == 0 && !has_default_) throw InvalidArgument("select with no cases and no default would wait forever");
  Scheduler& s = Scheduler::current();

  // Poll in a random order (Go's pollorder): fair among ready cases.
  std::vector<unsigned> order(n);
  std::iota(order.begin(), order.end(), 0u);
  for (std::size_t i = n; i > 1; --i) std::swap(order[i - 1], order[s.next_random() % i]);
  for (unsigned i : order) {
    Case& c = cases_[i];
    if (c.send) {
      if (c.channel->can_send_now() || c.channel->closing()) {
        chosen_ = static_cast<int>(i);
        return c.channel->send_any(actor, c.value, may_block);
      }
    } else if (c.channel->can_receive_now()) {
      chosen_ = static_cast<int>(i);
      return c.channel->receive_any(actor, c.value, may_block);
    } else if (c.channel->receive_would_see_closed()) {
      chosen_ = static_cast<int>(i);
      closed_ = true;
      c.value.reset();
      return OpResult::kDone;
    }
  }
  if (has_default_) {
    chosen_ = kDefault;
    return OpResult::kDone;
  }
  if (!actor || !may_block) {
    throw CannotBlock("select over " + describe_select(this) +
                      " would block, but the caller is not a tasklet that can block here; "
                      "block only inside tasklets (STASIS_SELECT in soft frames), or add a default case");
  }
  // The description is built only on the error path (blocking_actor throws).
  Tasklet* self = s.current_tasklet();
  if (!self || self->block_trap()) self = s.blocking_actor("select", describe_select(this));
  for (std::size_t i = 0; i < n; ++i) {
    Case& c = cases_[i];
    c.waiter.tasklet = self;
    c.waiter.select = this;
    c.waiter.payload = &c.value;
    c.waiter.bits = Waiter::kSelect | (static_cast<std::uint32_t>(i) << Waiter::kCaseShift);
    if (!c.send) c.value.reset();
    c.channel->park(&c.waiter, c.send);
  }
  parked_ = self;
  self->select_ = this;
  s.block_current(WaitKind::kSelect);
  return OpResult::kBlocked;
}

void SelectBase::fired(Waiter* w, bool channel_closed) noexcept {
  chosen_ = static_cast<int>(w->case_index());
  closed_ = channel_closed;
  cancel();
  if (channel_closed) cases_[chosen_].value.reset();
}

void SelectBase::cancel() noexcept {
  for (Case& c : cases_) {
    if (c.waiter.channel) c.channel->unpark(&c.waiter);
  }
  if (parked_) {
    parked_->select_ = nullptr;
    parked_ = nullptr;
  }
}

void SelectBase::choose(Waiter* w) noexcept {
  for (Case& c : cases_) {
    if (&c.waiter != w && c.waiter.channel) c.channel->unpark(&c.waiter);
  }
}

std::any* SelectBase::checked_value(const std::type_info& want) {
  if (chosen_ < 0) throw TaskletStateError("select: no case was chosen, so there is no received value");
  Case& c = cases_[chosen_];
  if (c.send) throw TaskletStateError("select: the chosen case " + std::to_string(chosen_) + " was a send");
  if (!c.value.has_value()) {  // documented in select.h: "received nothing"
    throw TaskletStateError("select: the chosen case " + std::to_string(chosen_) + " found " + c.channel->label() +
                            " closed and received nothing; check closed() first");
  }
  if (c.value.type() != want) {
    throw TypeMismatch(std::string("select: case value has type ") + c.value.type().name() + ", not " + want.name());
  }
  return &c.value;
}

}  // namespace stasis
