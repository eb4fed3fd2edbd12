# schema/node.capnp — the RPC interface between Stasis nodes (docs/migration.md).
#
# Transport: Cap'n Proto two-party RPC over TCP. A connection's bootstrap
# capability is a Gate; the Node capability is only handed out by Gate.login
# after the peer proved it holds the shared key (HMAC challenge-response,
# libsodium crypto_auth). A peer that fails never sees a Node: nothing it sends
# is restored or executed.
#
# Invariants:
#   - a migration id names one handoff attempt; Node.accept is idempotent per id
#     (a retried accept of a committed id restores nothing and reports success),
#     and Node.outcome tells a source whose acknowledgement was lost whether the
#     target committed;
#   - a value on a remote channel travels as its codec name plus the field
#     archive bytes of that codec (stasis/persist/value_codec.h); the receiver
#     checks the name against the channel's element type;
#   - channel ids are those of the home node (the node that owns the channel).
@0xb6f3c2d1a4e5f7a9;

using Cxx = import "/capnp/c++.capnp";
$Cxx.namespace("stasis::schema::node");

# The bootstrap capability: authentication, then the node.
interface Gate {
  # A fresh 32-byte nonce for this connection (one login attempt per nonce).
  challenge @0 () -> (nonce :Data);
  # mac = HMAC(key, "stasis-login" | serverNonce | clientNonce | peerId);
  # proof = HMAC(key, "stasis-proof" | clientNonce | serverNonce | nodeId), which
  # the client checks to know it talks to a holder of the key too.
  login @1 (peerId :Text, clientNonce :Data, mac :Data) -> (node :Node, nodeId :Text, proof :Data);
}

# An exception crossing between nodes: a send_exception on a remote channel, or
# what a home-side operation raised. `type` is the wire name the exception's
# type was registered under (stasis/net/exceptions.h), or its demangled C++ name
# if it was not; the receiving side rebuilds a registered type with `message`,
# any other as stasis::net::RemoteException.
struct Raised {
  type @0 :Text;
  message @1 :Text;   # what() (empty if the type is not a std::exception)
}

# Why an operation failed, for typed errors on the calling side.
struct Failure {
  kind @0 :Kind;
  message @1 :Text;
  raised @2 :Raised;  # kind raised: the exception itself
  enum Kind {
    none @0;            # success
    refused @1;         # the target will not restore this snapshot (hostile, incompatible, draining)
    closed @2;          # ChannelClosed at home
    destroyed @3;       # the channel no longer exists at home
    unknownChannel @4;  # no exported channel with that id
    raised @5;          # an exception raised at home (send_exception, kill of the helper)
    badValue @6;        # the value's type or bytes do not fit the channel
  }
}

# Where a channel of a migrated snapshot lives.
struct ChannelHome {
  nodeId @0 :Text;    # the home node's id
  address @1 :Text;   # how to reach it: host:port
  homeId @2 :UInt64;  # the channel's id at home
}

struct Value {
  type @0 :Text;      # codec name (value_codec.h)
  archive @1 :Data;   # the codec's archive bytes
}

struct TaskletInfo {
  id @0 :UInt64;
  name @1 :Text;
  state @2 :Text;     # to_string(TaskletState)
  wait @3 :Text;      # describe_wait(), empty unless blocked
  result @4 :Text;    # a finished tasklet's result rendered by its codec, or its error
}

interface Node {
  # Restores the snapshot (soft tasklets) and lets it run: all or nothing.
  # homes[i] is where the snapshot's i-th channel record lives; resume lists the
  # snapshot ids of tasklets paused for the handoff, which the target inserts.
  accept @0 (migrationId :UInt64, snapshot :Data, homes :List(ChannelHome), resume :List(UInt64))
      -> (failure :Failure);
  # Whether accept(migrationId) committed on this node (this process).
  outcome @1 (migrationId :UInt64) -> (committed :Bool);

  # Remote channel operations on a channel at home here; each completes when the
  # operation completes at home (a send when a receiver took the value).
  # With `raised` set the send is a send_exception: `value` is not read, and the
  # receiver at home raises the rebuilt exception.
  channelSend @2 (channel :UInt64, value :Value, raised :Raised) -> (failure :Failure);
  channelReceive @3 (channel :UInt64) -> (value :Value, failure :Failure);
  channelClose @4 (channel :UInt64) -> (failure :Failure);

  # The hosted tasklets.
  status @5 () -> (nodeId :Text, tasklets :List(TaskletInfo));
  # Returns its payload: a bare round trip (benchmarks, liveness).
  echo @6 (payload :Data) -> (payload :Data);

  # Completes once an operation in that direction would not block at home: a
  # receiver (or buffer room) for `sending`, else a sender or a buffered value;
  # also once the channel is closing. Nothing is reserved: a remote select asks
  # this before it commits to a case on a remote channel, then performs the
  # operation with channelSend / channelReceive (docs/migration.md).
  channelReady @7 (channel :UInt64, sending :Bool) -> (failure :Failure);
}
