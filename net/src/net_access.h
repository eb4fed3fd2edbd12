// net_access.h — stasis::net's back door into runtime internals (waiter.h).
//
// A proxy channel hands the value its blocked sender offers to the home node, and
// a home-side helper tasklet takes the value its blocked receive got; both need
// a tasklet's slot and a channel's head waiter, which the runtime keeps private.
#ifndef STASIS_NET_SRC_NET_ACCESS_H_
#define STASIS_NET_SRC_NET_ACCESS_H_

#include <any>
#include <utility>

#include "stasis/channel.h"

namespace stasis::detail {

struct NetAccess {
  // Moves the value delivered to t's slot out (empty if none).
  static std::any take_slot(Tasklet& t) {
    std::any v = std::move(t.slot_);
    t.slot_.reset();
    return v;
  }
  // The value a finished tasklet returned (empty if none).
  static const std::any& slot(const Tasklet& t) noexcept { return t.slot_; }
  // The first waiter of ch's queue, or null.
  static Waiter* head(const ChannelBase& ch) noexcept { return ch.waiters_.front(); }
  // The value a waiting sender offers (its slot, or its select case's payload).
  static std::any* payload(Waiter* w) noexcept { return ChannelBase::payload_of(w); }
  static Tasklet* tasklet(Waiter* w) noexcept { return ChannelBase::tasklet_of(w); }
};

}  // namespace stasis::detail

#endif  // STASIS_NET_SRC_NET_ACCESS_H_
