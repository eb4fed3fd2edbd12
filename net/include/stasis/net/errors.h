// stasis/net/errors.h — the typed errors of nodes, connections and migration.
//
// Every failure a user can cause (a wrong key, an unreachable node, a snapshot the
// target refuses, a remote channel gone) is one of these, with a message naming
// the node or channel and what to do. Catch NetError for any of them.
#ifndef STASIS_NET_ERRORS_H_
#define STASIS_NET_ERRORS_H_

#include "stasis/error.h"

namespace stasis::net {

class NetError : public Error {
 public:
  using Error::Error;
};

// A node could not be reached or the connection broke (address, what happened).
class ConnectionError : public NetError {
 public:
  using NetError::NetError;
};

// The peer does not hold the shared key (or we do not): the connection was refused.
class AuthenticationError : public NetError {
 public:
  using NetError::NetError;
};

// A key file is missing, unreadable or too short.
class KeyError : public NetError {
 public:
  using NetError::NetError;
};

// A migration did not happen; the tasklet runs on at the source, unchanged.
class MigrationError : public NetError {
 public:
  using NetError::NetError;
};
// The target refused the snapshot (incompatible, hostile, unknown frame type...).
class MigrationRefused : public MigrationError {
 public:
  using MigrationError::MigrationError;
};

// A remote channel operation failed for a reason other than the channel's own
// semantics (ChannelClosed and ChannelDestroyed keep their types): its home node
// is unreachable, or home raised an exception that cannot cross as its own type.
class RemoteChannelError : public NetError {
 public:
  using NetError::NetError;
};

}  // namespace stasis::net

#endif  // STASIS_NET_ERRORS_H_
