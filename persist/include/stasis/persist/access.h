// stasis/persist/access.h — stasis::persist's back door into runtime internals.
//
// The runtime befriends detail::PersistAccess (and so its nested classes): freezing
// reads tasklet headers, run queues, timers and wait queues; thawing rebuilds them.
// Nothing outside persist/ uses it.
#ifndef STASIS_PERSIST_ACCESS_H_
#define STASIS_PERSIST_ACCESS_H_

#include <deque>

#include "stasis/channel.h"

namespace stasis::detail {

struct PersistAccess {
  class Freezer;  // persist/src/freeze.cc
  class Thawer;   // persist/src/thaw.cc

  template <class T>
  static std::deque<T>& buffer(Channel<T>& ch) noexcept {
    return ch.buffer_;
  }
};

}  // namespace stasis::detail

#endif  // STASIS_PERSIST_ACCESS_H_
